/*
 * envelope.c: envelopes in caller storage, and deep equality.
 */
#include <string.h>

#include "sg/codec.h"

void
sg_envelope_init(sg_envelope *env, sg_kind kind)
{
    memset(env, 0, sizeof(*env));
    env->kind = kind;
    env->schema_version = 1;
    switch (kind) {
    case SG_KIND_INBOUND:
        env->u.in.is_addressed = true;
        break;
    case SG_KIND_OUTBOUND:
        env->u.out.type = SG_OUT_MESSAGE;
        env->u.out.filename = SG_STR("file");
        env->u.out.mimetype = SG_STR("application/octet-stream");
        break;
    default:
        break;
    }
}

static bool
str_eq(sg_str a, sg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool
bytes_eq(sg_bytes a, sg_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool
any_eq(sg_any a, sg_any b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.mp, b.mp, a.len) == 0);
}

/* A *map* field: absent and the empty map 0x80 both mean {}. */
static bool
map_eq(sg_any a, sg_any b)
{
    static const uint8_t empty_map = 0x80;

    if (a.len == 0) {
        a.mp = &empty_map;
        a.len = 1;
    }
    if (b.len == 0) {
        b.mp = &empty_map;
        b.len = 1;
    }
    return any_eq(a, b);
}

static bool
strv_eq(sg_strv a, sg_strv b)
{
    size_t i;

    if (a.n != b.n)
        return false;
    for (i = 0; i < a.n; i++) {
        if (!str_eq(a.items[i], b.items[i]))
            return false;
    }
    return true;
}

static bool
attachments_eq(const sg_attachment *a, size_t na, const sg_attachment *b,
               size_t nb)
{
    size_t i;

    if (na != nb)
        return false;
    for (i = 0; i < na; i++) {
        if (!bytes_eq(a[i].data, b[i].data)
            || !str_eq(a[i].mimetype, b[i].mimetype)
            || !str_eq(a[i].filename, b[i].filename)
            || !str_eq(a[i].source_url, b[i].source_url))
            return false;
    }
    return true;
}

static bool
inbound_eq(const sg_inbound *a, const sg_inbound *b)
{
    return str_eq(a->platform, b->platform)
        && str_eq(a->channel_id, b->channel_id)
        && str_eq(a->user_id, b->user_id)
        && str_eq(a->username, b->username)
        && str_eq(a->content, b->content)
        && a->is_addressed == b->is_addressed
        && attachments_eq(a->attachments, a->nattachments, b->attachments,
                          b->nattachments)
        && str_eq(a->room_name, b->room_name)
        && a->timestamp == b->timestamp
        && str_eq(a->message_id, b->message_id)
        && str_eq(a->reply_to, b->reply_to)
        && a->has_guild_id == b->has_guild_id
        && (!a->has_guild_id || str_eq(a->guild_id, b->guild_id))
        && str_eq(a->guild_name, b->guild_name)
        && a->is_dm == b->is_dm
        && strv_eq(a->member_roles, b->member_roles)
        && any_eq(a->embeds, b->embeds)
        && a->member_count == b->member_count
        && any_eq(a->reactions, b->reactions)
        && a->has_unified_user_id == b->has_unified_user_id
        && (!a->has_unified_user_id
            || str_eq(a->unified_user_id, b->unified_user_id))
        && strv_eq(a->user_aliases, b->user_aliases)
        && str_eq(a->trace_id, b->trace_id);
}

static bool
outbound_eq(const sg_outbound *a, const sg_outbound *b)
{
    if (a->type != b->type
        || a->has_message_key != b->has_message_key
        || (a->has_message_key && !str_eq(a->message_key, b->message_key))
        || !str_eq(a->trace_id, b->trace_id))
        return false;
    switch (a->type) {
    case SG_OUT_PRESENCE:
        return str_eq(a->text, b->text) && a->has_emoji == b->has_emoji
            && (!a->has_emoji || str_eq(a->emoji, b->emoji));
    case SG_OUT_RPC_REQUEST:
        return a->has_channel_id == b->has_channel_id
            && (!a->has_channel_id || str_eq(a->channel_id, b->channel_id))
            && str_eq(a->rpc_method, b->rpc_method)
            && map_eq(a->rpc_args, b->rpc_args)
            && str_eq(a->reply_key, b->reply_key);
    default:
        break;
    }
    if (!str_eq(a->channel_id, b->channel_id))
        return false;
    switch (a->type) {
    case SG_OUT_MESSAGE:
        return str_eq(a->text, b->text) && a->has_reply_to == b->has_reply_to
            && (!a->has_reply_to || str_eq(a->reply_to, b->reply_to));
    case SG_OUT_FILE:
        return bytes_eq(a->file_data, b->file_data)
            && str_eq(a->filename, b->filename)
            && str_eq(a->mimetype, b->mimetype) && str_eq(a->text, b->text);
    case SG_OUT_BUTTONS:
        return str_eq(a->text, b->text) && any_eq(a->buttons, b->buttons);
    case SG_OUT_REACTION:
        return str_eq(a->message_id, b->message_id)
            && str_eq(a->emoji, b->emoji);
    default:
        return true;
    }
}

int
sg_envelope_equal(const sg_envelope *a, const sg_envelope *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->kind != b->kind || a->schema_version != b->schema_version)
        return 0;
    switch (a->kind) {
    case SG_KIND_INBOUND:
        return inbound_eq(&a->u.in, &b->u.in);
    case SG_KIND_OUTBOUND:
        return outbound_eq(&a->u.out, &b->u.out);
    case SG_KIND_TOOLS_REQUEST:
        return str_eq(a->u.treq.request_id, b->u.treq.request_id)
            && str_eq(a->u.treq.tool_name, b->u.treq.tool_name)
            && map_eq(a->u.treq.tool_args, b->u.treq.tool_args)
            && map_eq(a->u.treq.tool_ctx, b->u.treq.tool_ctx)
            && str_eq(a->u.treq.reply_stream, b->u.treq.reply_stream)
            && a->u.treq.deadline_ms == b->u.treq.deadline_ms;
    case SG_KIND_TOOLS_REPLY:
        return str_eq(a->u.trep.request_id, b->u.trep.request_id)
            && a->u.trep.ok == b->u.trep.ok
            && any_eq(a->u.trep.result, b->u.trep.result)
            && str_eq(a->u.trep.error, b->u.trep.error)
            && attachments_eq(a->u.trep.media, a->u.trep.nmedia,
                              b->u.trep.media, b->u.trep.nmedia);
    default:
        return 0;
    }
}
