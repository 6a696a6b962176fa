/*
 * gw_record.h: a platform's bounded record of recent messages per channel,
 * inbound and sent alike. It answers fetch_channel_history (SPEC section
 * 10, SG-RPC-005) and replays a channel to a web chat client that
 * connects late.
 *
 * Bounds: at most max_messages per channel (oldest dropped first), at
 * most max_channel_bytes of text per channel, texts cut at max_text_bytes
 * (on a UTF-8 boundary), at most max_channels channels (the least
 * recently used one dropped), at most GW_REC_MAX_REACTIONS reactions per
 * message. So the whole record stays below max_channels *
 * max_channel_bytes plus small per-message overhead.
 */
#ifndef GW_RECORD_H
#define GW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_REC_MAX_REACTIONS 16

typedef enum gw_rec_kind {
    GW_REC_MESSAGE,
    GW_REC_FILE,
    GW_REC_BUTTONS
} gw_rec_kind;

/*
 * One recorded message. Strings are NUL-terminated copies, kept in the
 * message's own allocation (reactions apart).
 */
typedef struct gw_rec_msg {
    uint64_t seq;                 /* from 1, increasing across the whole
                                     record (not reused by a channel made
                                     again) */
    gw_rec_kind kind;
    bool is_bot;
    double timestamp;             /* seconds since the epoch */
    char *user_id;
    char *user_name;
    char *text;                   /* cut at max_text_bytes */
    char *message_id;
    char *reply_to;               /* "" when none */
    char *extra;                  /* JSON: file {filename,mimetype,size} or
                                     the buttons array; "" when none */
    char *reactions[GW_REC_MAX_REACTIONS];
    int nreactions;
    size_t bytes;                 /* counted against the channel budget */
} gw_rec_msg;

/* What gw_record_add() copies. Strings may be NULL (""), not NUL-ended. */
typedef struct gw_rec_in {
    gw_rec_kind kind;
    bool is_bot;
    double timestamp;
    const char *user_id; size_t user_id_len;
    const char *user_name; size_t user_name_len;
    const char *text; size_t text_len;
    const char *message_id; size_t message_id_len;
    const char *reply_to; size_t reply_to_len;
    const char *extra;            /* NUL-terminated JSON or NULL */
} gw_rec_in;

typedef struct gw_record_limits {
    size_t max_channels;          /* 0: 256 */
    size_t max_messages;          /* 0: 100 */
    size_t max_channel_bytes;     /* 0: 262144 */
    size_t max_text_bytes;        /* 0: 65536 */
} gw_record_limits;

typedef struct gw_record gw_record;

/* NULL limits: the defaults. NULL on out of memory. */
gw_record *gw_record_new(const gw_record_limits *lim);
void gw_record_free(gw_record *r);

/*
 * Appends a message to channel[0..len); returns the stored message (valid
 * until the next change of the record), or NULL on out of memory.
 */
const gw_rec_msg *gw_record_add(gw_record *r, const char *channel,
                                size_t len, const gw_rec_in *in);

/*
 * Adds emoji to the message `message_id` of the channel. 1 when found
 * (the emoji is kept unless the message has GW_REC_MAX_REACTIONS), 0 when
 * there is no such message, -1 on out of memory.
 */
int gw_record_react(gw_record *r, const char *channel, size_t len,
                    const char *message_id, size_t id_len,
                    const char *emoji, size_t emoji_len);

/*
 * The channel's last messages, oldest first, at most cap, whose seq is
 * above after_seq (0: all): out[0..n). Pointers are valid until the next
 * change of the record. Returns n.
 */
size_t gw_record_list(gw_record *r, const char *channel, size_t len,
                      uint64_t after_seq, const gw_rec_msg **out,
                      size_t cap);

/* Channels held now, and messages in one channel. */
size_t gw_record_channels(const gw_record *r);
size_t gw_record_count(gw_record *r, const char *channel, size_t len);

/* Length of s[0..len) cut to at most max bytes on a UTF-8 boundary. */
size_t gw_utf8_cut(const char *s, size_t len, size_t max);

#endif /* GW_RECORD_H */
