/*
 * message.c: see message.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "message.h"

#include <math.h>
#include <string.h>

static struct timespec from_seconds(double s)
{
    struct timespec ts;
    double whole = floor(s);

    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((s - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void sgi_message_from_inbound(const sg_inbound *in, struct timespec now,
                              sgi_message *msg)
{
    memset(msg, 0, sizeof *msg);
    msg->platform = in->platform;
    msg->channel_id = in->channel_id;
    msg->user_id = in->user_id;
    msg->user_name = in->username;
    msg->text = in->content;
    msg->is_addressed = in->is_addressed;
    /* The codec already turned base64 text into bytes (SG-INENV-005). */
    msg->attachments = in->attachments;
    msg->nattachments = in->nattachments;
    msg->channel_name = in->room_name;
    /* The codec guarantees a finite timestamp >= 0; 0 means unknown. */
    msg->timestamp = in->timestamp > 0 ? from_seconds(in->timestamp) : now;
    msg->message_id = in->message_id;
    msg->reply_to_id = in->reply_to;
    msg->extra.identity_resolved = false;
    msg->extra.has_guild_id = in->has_guild_id;
    msg->extra.guild_id = in->guild_id;
    msg->extra.guild_name = in->guild_name;
    msg->extra.channel_id_raw = in->channel_id;
    msg->extra.is_dm = in->is_dm;
    msg->extra.member_roles = in->member_roles;
    msg->extra.embeds = in->embeds;
    msg->extra.member_count = in->member_count;
    msg->reactions = in->reactions;
    msg->has_unified_user_id = in->has_unified_user_id;
    msg->unified_user_id = in->unified_user_id;
    msg->user_aliases = in->user_aliases;
    msg->trace_id = in->trace_id;
}

double sgi_message_time(const sgi_message *msg)
{
    return (double)msg->timestamp.tv_sec +
           (double)msg->timestamp.tv_nsec / 1e9;
}
