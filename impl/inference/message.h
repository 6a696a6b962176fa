/*
 * message.h: the incoming message a worker handles, rebuilt field by field
 * from a decoded inbound envelope, as the Python worker's
 * _incoming_message_from_envelope does (SPEC section 8, SG-INENV-003).
 *
 * The message borrows the envelope's strings and bytes: it lives as long
 * as the envelope (the job).
 */
#ifndef SGI_MESSAGE_H
#define SGI_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "sg/codec.h"

/* The envelope fields the Python adapters keep in the message's extra. */
typedef struct sgi_message_extra {
    bool identity_resolved;     /* always false here */
    bool has_guild_id;          /* guild_id absent: None */
    sg_str guild_id;
    sg_str guild_name;
    sg_str channel_id_raw;      /* = channel_id */
    bool is_dm;
    sg_strv member_roles;
    sg_any embeds;              /* msgpack bytes; len 0: absent */
    int64_t member_count;
} sgi_message_extra;

typedef struct sgi_message {
    sg_str platform;
    sg_str channel_id;
    sg_str user_id;
    sg_str user_name;           /* envelope `username` */
    sg_str text;                /* envelope `content` */
    bool is_addressed;
    const sg_attachment *attachments; /* decoded bytes, never base64 */
    size_t nattachments;
    sg_str channel_name;        /* envelope `room_name` */
    struct timespec timestamp;  /* UTC; envelope 0 -> now */
    sg_str message_id;
    sg_str reply_to_id;         /* envelope `reply_to` */
    sgi_message_extra extra;
    sg_any reactions;
    bool has_unified_user_id;
    sg_str unified_user_id;
    sg_strv user_aliases;
    sg_str trace_id;
} sgi_message;

/*
 * Fills *msg from the inbound envelope in. now is the receiver's clock,
 * used when the envelope's timestamp is 0 ("unknown", SPEC section 8).
 */
void sgi_message_from_inbound(const sg_inbound *in, struct timespec now,
                              sgi_message *msg);

/* The message's timestamp as seconds since the epoch. */
double sgi_message_time(const sgi_message *msg);

#endif /* SGI_MESSAGE_H */
