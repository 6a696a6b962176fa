/*
 * sg/codec.h: the envelope codec of SPEC sections 3 to 11.
 *
 * Decoding turns a stream entry (or just its `data` bytes) into a typed
 * envelope, checking the framing, the msgpack subset, the limits and the
 * envelope's field table; a rejection carries the spec's reason code and
 * field path in an sg_error. Encoding checks a typed envelope against the
 * same table and writes the msgpack `data` bytes.
 *
 * Strings and msgpack bin values of a decoded envelope point into the
 * caller's input: the caller keeps the input bytes alive and unchanged until
 * sg_envelope_free(). Everything the decoder has to build (arrays of
 * attachments and ids, bytes decoded from base64) lives in the envelope's
 * own arena and goes with it.
 */
#ifndef SG_CODEC_H
#define SG_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sg/error.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Text: UTF-8 bytes, not NUL-terminated. ptr may be NULL when len is 0. */
typedef struct sg_str {
    const char *ptr;
    size_t len;
} sg_str;

/*
 * Raw bytes. ptr may be NULL when len is 0; for a required field (a
 * file's file_data) NULL with length 0 means absent, so the decoder gives
 * a present empty value a non-NULL ptr.
 */
typedef struct sg_bytes {
    const uint8_t *ptr;
    size_t len;
} sg_bytes;

/*
 * A value typed *any* or *map*: the msgpack bytes of the value exactly as
 * they were read (already checked against the msgpack subset and the
 * limits). len 0 means absent. An encoder writes the bytes verbatim after
 * checking them, so a producer may put any msgpack value of the subset here.
 */
typedef struct sg_any {
    const uint8_t *mp;
    size_t len;
} sg_any;

/* A list of strings (the spec's *array of id*). */
typedef struct sg_strv {
    const sg_str *items;
    size_t n;
} sg_strv;

/* An sg_str of a string literal. */
#define SG_STR(lit) ((sg_str){ (lit), sizeof(lit) - 1 })

/*
 * The limits of SPEC section 5. Decoding rejects input beyond them before
 * allocating for it. sg_limits_default() gives the spec's defaults, which a
 * consumer may raise; encoding always checks the defaults (SG-LIMIT-008).
 * max_depth must be 1 .. 64, or decoding fails with SG_EINVAL.
 */
typedef struct sg_limits {
    size_t max_entry_bytes;     /* 4194304 */
    size_t max_text_bytes;      /* 262144 */
    size_t max_string_bytes;    /* 4096 */
    size_t max_binary_bytes;    /* 4194304 */
    uint32_t max_array_items;   /* 1024 */
    uint32_t max_map_pairs;     /* 256 */
    uint32_t max_depth;         /* 16; the envelope map is depth 1 */
    uint32_t max_attachments;   /* 32 */
    uint32_t max_buttons;       /* 25 */
} sg_limits;

sg_limits sg_limits_default(void);

/* Options of a decode. A NULL sg_decode_opts means these defaults. */
typedef struct sg_decode_opts {
    sg_limits limits;
    const sg_mem *mem;          /* NULL: sg_mem_default() */
} sg_decode_opts;

/* Sets opts to the default limits and the default allocator. */
void sg_decode_opts_init(sg_decode_opts *opts);

/* One field of a stream entry, as read from Redis (binary-safe). */
typedef struct sg_entry_field {
    sg_str name;
    sg_str value;
} sg_entry_field;

/* A stream entry: its fields in order. The ID is not part of it. */
typedef struct sg_entry {
    const sg_entry_field *fields;
    size_t nfields;
} sg_entry;

/* Which table an envelope follows; it is given by the stream it is on. */
typedef enum sg_kind {
    SG_KIND_INBOUND,
    SG_KIND_OUTBOUND,
    SG_KIND_TOOLS_REQUEST,
    SG_KIND_TOOLS_REPLY
} sg_kind;

/* "inbound", "outbound", "tools_request", "tools_reply"; NULL otherwise. */
const char *sg_kind_name(sg_kind kind);

/* 0 and *kind set, or SG_EINVAL for a name that is no kind. */
int sg_kind_from_name(const char *name, size_t len, sg_kind *kind);

/* The outbound `type` values of SPEC sections 9 and 10. */
typedef enum sg_out_type {
    SG_OUT_MESSAGE,
    SG_OUT_FILE,
    SG_OUT_BUTTONS,
    SG_OUT_TYPING,          /* synonym of start_typing, kept as written */
    SG_OUT_START_TYPING,
    SG_OUT_STOP_TYPING,
    SG_OUT_REACTION,
    SG_OUT_PRESENCE,
    SG_OUT_RPC_REQUEST
} sg_out_type;

/* The spec's name of a type ("message", ...); NULL when out of range. */
const char *sg_out_type_name(sg_out_type type);

/* 0 and *type set, or SG_EINVAL for a name that is no type. */
int sg_out_type_from_name(const char *name, size_t len, sg_out_type *type);

/* An attachment map (SPEC section 8); also a tools reply's media. */
typedef struct sg_attachment {
    sg_bytes data;              /* decoded content; empty by default */
    sg_str mimetype;
    sg_str filename;
    sg_str source_url;
} sg_attachment;

/*
 * The inbound envelope (SPEC section 8). Fields whose default is "absent"
 * have a has_ flag; the others hold their default when absent.
 */
typedef struct sg_inbound {
    sg_str platform;            /* required, non-empty */
    sg_str channel_id;          /* required, non-empty */
    sg_str user_id;
    sg_str username;
    sg_str content;             /* text: up to max_text_bytes */
    bool is_addressed;          /* default true */
    const sg_attachment *attachments;
    size_t nattachments;
    sg_str room_name;
    double timestamp;           /* >= 0; 0 means unknown */
    sg_str message_id;
    sg_str reply_to;
    bool has_guild_id;
    sg_str guild_id;
    sg_str guild_name;
    bool is_dm;
    sg_strv member_roles;
    sg_any embeds;              /* len 0: absent */
    int64_t member_count;       /* 0 .. 2^31-1 */
    sg_any reactions;           /* len 0: absent */
    bool has_unified_user_id;
    sg_str unified_user_id;
    sg_strv user_aliases;
    sg_str trace_id;            /* at most 128 bytes */
} sg_inbound;

/*
 * An outbound envelope (SPEC sections 9 and 10): the common fields, then
 * the fields of every type side by side; only those of `type` are read or
 * written. Defaults are those of the type's table (sg_envelope_init sets
 * the file defaults "file" and "application/octet-stream").
 */
typedef struct sg_outbound {
    sg_out_type type;           /* default message */
    bool has_channel_id;        /* channel_id given (always, when decoded
                                   for a channel-bound type) */
    sg_str channel_id;          /* required for channel-bound types;
                                   ignored for presence */
    bool has_message_key;
    sg_str message_key;
    sg_str trace_id;            /* at most 128 bytes */

    sg_str text;                /* message, buttons: required text; file:
                                   caption; presence: status (a str) */
    bool has_reply_to;          /* message */
    sg_str reply_to;
    sg_bytes file_data;         /* file: required */
    sg_str filename;            /* file: default "file" */
    sg_str mimetype;            /* file: default application/octet-stream */
    sg_any buttons;             /* buttons: the msgpack array of buttons */
    size_t nbuttons;            /* set by decoding; encoding ignores it */
    sg_str message_id;          /* reaction: required */
    bool has_emoji;             /* presence: emoji is optional */
    sg_str emoji;               /* reaction: required, non-empty */
    sg_str rpc_method;          /* rpc_request: required (alias action) */
    sg_any rpc_args;            /* rpc_request: a map; len 0 means {} */
    sg_str reply_key;           /* rpc_request: required */
} sg_outbound;

/* A tools request (SPEC section 11). */
typedef struct sg_tools_request {
    sg_str request_id;          /* required */
    sg_str tool_name;           /* required */
    sg_any tool_args;           /* a map; len 0 means {} */
    sg_any tool_ctx;            /* a map; len 0 means {} */
    sg_str reply_stream;        /* required */
    int64_t deadline_ms;        /* 0: none */
} sg_tools_request;

/* A tools reply (SPEC section 11). */
typedef struct sg_tools_reply {
    sg_str request_id;          /* required */
    bool ok;                    /* required */
    sg_any result;              /* len 0: absent */
    sg_str error;               /* text */
    const sg_attachment *media;
    size_t nmedia;
} sg_tools_reply;

struct sg__arena;

/*
 * An envelope of any kind. entry_ts and entry_trace_id are the entry's
 * framing fields `ts` and `trace_id` (empty when absent or when only
 * `data` was decoded); ts is entry_ts as a number (0 when empty). They are
 * not part of the envelope's `data` and are never encoded.
 */
typedef struct sg_envelope {
    sg_kind kind;
    int64_t schema_version;     /* 1 */
    sg_str entry_ts;
    double ts;
    sg_str entry_trace_id;
    union {
        sg_inbound in;
        sg_outbound out;
        sg_tools_request treq;
        sg_tools_reply trep;
    } u;
    /* Private: owned memory of a decoded envelope; NULL after init. */
    struct sg__arena *arena_;
} sg_envelope;

/*
 * Decodes a stream entry: the framing checks of SPEC section 3 (the `data`
 * field present and within max_entry_bytes, `ts` and `trace_id` valid),
 * then the envelope in `data` against the table of `kind`. Fields other
 * than data, ts and trace_id are ignored; of a repeated field name the first
 * is used.
 *
 * On success returns 0 and sets *out to a new envelope that the caller
 * frees with sg_envelope_free(); it points into the entry's bytes, which
 * must stay alive and unchanged until then. On failure returns SG_EDECODE
 * (input rejected: err->reason and err->path say why), SG_ENOMEM or
 * SG_EINVAL, and leaves *out NULL. err may be NULL.
 */
int sg_envelope_decode(sg_kind kind, const sg_entry *entry,
                       const sg_decode_opts *opts, sg_envelope **out,
                       sg_error *err);

/*
 * Decodes just the msgpack bytes of a `data` field (including the
 * max_entry_bytes check). Same results and ownership as
 * sg_envelope_decode(); the envelope points into data[0..len).
 */
int sg_envelope_decode_data(sg_kind kind, const void *data, size_t len,
                            const sg_decode_opts *opts, sg_envelope **out,
                            sg_error *err);

/* Frees a decoded envelope and everything it owns. NULL is ignored. */
void sg_envelope_free(sg_envelope *env);

/*
 * Prepares caller storage for an envelope to be filled and encoded: kind
 * set, every field at its default (is_addressed true, schema_version 1,
 * outbound type message, file name "file" and mimetype
 * "application/octet-stream"), no arena. Such an envelope owns nothing and
 * needs no free; the caller keeps every string it points to alive while
 * it is used. Never pass it to sg_envelope_free().
 */
void sg_envelope_init(sg_envelope *env, sg_kind kind);

/*
 * Checks env against its field table and the default limits and appends
 * the msgpack bytes of its `data` field to out (fields in table order, the
 * ones equal to their default left out, schema_version always written,
 * the shortest int encodings, floats as float 64, bytes as bin). Returns 0,
 * SG_EINVALID (err->reason and err->path name the first bad field, with
 * the paths a decoder would give), SG_ENOMEM or SG_EINVAL. On failure
 * out->len is unchanged. The framing fields are not written: the
 * publisher adds `ts` and `trace_id` to the entry itself.
 */
int sg_envelope_encode(const sg_envelope *env, sg_buf *out, sg_error *err);

/*
 * 1 when a and b hold the same envelope: same kind, and every field of
 * the kind's table equal (strings and bytes by content, sg_any by their
 * msgpack bytes exactly, has_ flags, fields of other outbound types and
 * nbuttons not compared), else 0. The framing fields are not compared.
 */
int sg_envelope_equal(const sg_envelope *a, const sg_envelope *b);

#ifdef __cplusplus
}
#endif

#endif /* SG_CODEC_H */
