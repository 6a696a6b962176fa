/*
 * decode_inbound.c: the inbound envelope's field table (SPEC section 8).
 */
#include <string.h>

#include "decode_internal.h"

enum {
    F_SCHEMA_VERSION, F_PLATFORM, F_CHANNEL_ID, F_USER_ID, F_USERNAME,
    F_CONTENT, F_IS_ADDRESSED, F_ATTACHMENTS, F_ROOM_NAME, F_TIMESTAMP,
    F_MESSAGE_ID, F_REPLY_TO, F_GUILD_ID, F_GUILD_NAME, F_IS_DM,
    F_MEMBER_ROLES, F_EMBEDS, F_MEMBER_COUNT, F_REACTIONS,
    F_UNIFIED_USER_ID, F_USER_ALIASES, F_TRACE_ID, F_UNKNOWN = -1
};

#define IS(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)

/* The field a key names: by length first, so most keys cost one memcmp. */
int
sg__inbound_field(const char *k, size_t n)
{
    switch (n) {
    case 5:
        return IS("is_dm") ? F_IS_DM : F_UNKNOWN;
    case 6:
        return IS("embeds") ? F_EMBEDS : F_UNKNOWN;
    case 7:
        if (IS("content"))
            return F_CONTENT;
        return IS("user_id") ? F_USER_ID : F_UNKNOWN;
    case 8:
        switch (k[0]) {
        case 'p': return IS("platform") ? F_PLATFORM : F_UNKNOWN;
        case 'u': return IS("username") ? F_USERNAME : F_UNKNOWN;
        case 'r': return IS("reply_to") ? F_REPLY_TO : F_UNKNOWN;
        case 'g': return IS("guild_id") ? F_GUILD_ID : F_UNKNOWN;
        case 't': return IS("trace_id") ? F_TRACE_ID : F_UNKNOWN;
        default: return F_UNKNOWN;
        }
    case 9:
        if (IS("timestamp"))
            return F_TIMESTAMP;
        if (IS("room_name"))
            return F_ROOM_NAME;
        return IS("reactions") ? F_REACTIONS : F_UNKNOWN;
    case 10:
        if (IS("channel_id"))
            return F_CHANNEL_ID;
        if (IS("message_id"))
            return F_MESSAGE_ID;
        return IS("guild_name") ? F_GUILD_NAME : F_UNKNOWN;
    case 11:
        return IS("attachments") ? F_ATTACHMENTS : F_UNKNOWN;
    case 12:
        switch (k[0]) {
        case 'i': return IS("is_addressed") ? F_IS_ADDRESSED : F_UNKNOWN;
        case 'm':
            if (IS("member_roles"))
                return F_MEMBER_ROLES;
            return IS("member_count") ? F_MEMBER_COUNT : F_UNKNOWN;
        case 'u': return IS("user_aliases") ? F_USER_ALIASES : F_UNKNOWN;
        default: return F_UNKNOWN;
        }
    case 14:
        return IS("schema_version") ? F_SCHEMA_VERSION : F_UNKNOWN;
    case 15:
        return IS("unified_user_id") ? F_UNIFIED_USER_ID : F_UNKNOWN;
    default:
        return F_UNKNOWN;
    }
}

#undef IS

int
sg__decode_inbound(sg__dec *d, const sg__pair *pairs, uint32_t n,
                   const uint8_t *end, sg_envelope *env)
{
    const size_t smax = d->lim->max_string_bytes;
    sg_inbound *in = &env->u.in;
    bool have_platform = false, have_channel = false;
    sg__path child;
    uint32_t i;
    int rc = 0;

    child.up = &sg__path_data;
    child.index = 0;
    for (i = 0; i < n && rc == 0; i++) {
        const uint8_t *p = pairs[i].val;
        bool present;

        if (pairs[i].field == F_SCHEMA_VERSION)
            continue;
        child.key = pairs[i].key;
        child.keylen = pairs[i].keylen;
        switch (pairs[i].field) {
        case F_PLATFORM:
            rc = sg__get_str(d, &p, end, &child, smax, SG__NONEMPTY,
                             &in->platform, &have_platform);
            break;
        case F_CHANNEL_ID:
            rc = sg__get_str(d, &p, end, &child, smax, SG__NONEMPTY,
                             &in->channel_id, &have_channel);
            break;
        case F_USER_ID:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->user_id,
                             &present);
            break;
        case F_USERNAME:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->username,
                             &present);
            break;
        case F_CONTENT:
            rc = sg__get_str(d, &p, end, &child, d->lim->max_text_bytes, 0,
                             &in->content, &present);
            break;
        case F_IS_ADDRESSED:
            rc = sg__get_bool(d, &p, end, &child, &in->is_addressed,
                              &present);
            break;
        case F_ATTACHMENTS:
            rc = sg__get_attachments(d, &p, end, &child,
                                     d->lim->max_attachments,
                                     &in->attachments, &in->nattachments);
            break;
        case F_ROOM_NAME:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->room_name,
                             &present);
            break;
        case F_TIMESTAMP:
            rc = sg__get_float(d, &p, end, &child, &in->timestamp,
                               &present);
            break;
        case F_MESSAGE_ID:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->message_id,
                             &present);
            break;
        case F_REPLY_TO:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->reply_to,
                             &present);
            break;
        case F_GUILD_ID:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->guild_id,
                             &in->has_guild_id);
            break;
        case F_GUILD_NAME:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &in->guild_name,
                             &present);
            break;
        case F_IS_DM:
            rc = sg__get_bool(d, &p, end, &child, &in->is_dm, &present);
            break;
        case F_MEMBER_ROLES:
            rc = sg__get_strv(d, &p, end, &child, &in->member_roles);
            break;
        case F_EMBEDS:
            rc = sg__get_any(d, &p, end, &child, false, smax, &in->embeds);
            break;
        case F_MEMBER_COUNT:
            rc = sg__get_int(d, &p, end, &child, 0, INT32_MAX,
                             &in->member_count, &present);
            break;
        case F_REACTIONS:
            rc = sg__get_any(d, &p, end, &child, false, smax,
                             &in->reactions);
            break;
        case F_UNIFIED_USER_ID:
            rc = sg__get_str(d, &p, end, &child, smax, 0,
                             &in->unified_user_id,
                             &in->has_unified_user_id);
            break;
        case F_USER_ALIASES:
            rc = sg__get_strv(d, &p, end, &child, &in->user_aliases);
            break;
        case F_TRACE_ID:
            rc = sg__get_str(d, &p, end, &child, 128, 0, &in->trace_id,
                             &present);
            break;
        default:
            /* Unknown keys: the key's length, then the generic checks. */
            if (pairs[i].keylen > smax)
                return sg__dec_fail(d, SG_REASON_STRING_TOO_LONG,
                                    &sg__path_data, NULL, 0,
                                    "map key of %u bytes exceeds "
                                    "max_string_bytes %zu",
                                    pairs[i].keylen, smax);
            rc = sg__check_any(d, &p, end, &child, smax);
            break;
        }
    }
    if (rc != 0)
        return rc;
    /* Required fields, in table order, once the whole map was read. */
    if (!have_platform)
        return sg__dec_fail(d, SG_REASON_MISSING_FIELD, &sg__path_data,
                            "platform", 8, "required field is absent");
    if (!have_channel)
        return sg__dec_fail(d, SG_REASON_MISSING_FIELD, &sg__path_data,
                            "channel_id", 10, "required field is absent");
    return 0;
}
