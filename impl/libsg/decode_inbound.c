/*
 * decode_inbound.c: the inbound envelope's field table (SPEC section 8).
 */
#include <math.h>
#include <string.h>

#include "compiler.h"
#include "decode_internal.h"
#include "fast_read.h"
#include "utf8.h"

enum {
    F_SCHEMA_VERSION, F_PLATFORM, F_CHANNEL_ID, F_USER_ID, F_USERNAME,
    F_CONTENT, F_IS_ADDRESSED, F_ATTACHMENTS, F_ROOM_NAME, F_TIMESTAMP,
    F_MESSAGE_ID, F_REPLY_TO, F_GUILD_ID, F_GUILD_NAME, F_IS_DM,
    F_MEMBER_ROLES, F_EMBEDS, F_MEMBER_COUNT, F_REACTIONS,
    F_UNIFIED_USER_ID, F_USER_ALIASES, F_TRACE_ID, F_UNKNOWN = -1
};

#define IS(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)

/* The field a key names: by length first, so most keys cost one memcmp. */
SG__HOT_INLINE int
field_of(const char *k, size_t n)
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
sg__inbound_field(const char *k, size_t n)
{
    return field_of(k, n);
}

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

/*
 * The fast path. A decode that succeeds does not need to know which of
 * several problems came first, so for the common case the inbound map is
 * read once, with the checks of steps B and C together and each value
 * stored as soon as it is read. The first problem of any kind (or anything
 * this path does not handle inline) makes it give up, and the caller then
 * runs the exact three-step reading, which finds the problem the spec
 * says to report. Its verdict on valid input is therefore the only thing
 * this path must get right; test_codec_inbound checks it against the exact
 * path.
 */

/* An array of ids (or nil). */
static inline int
fast_strv(sg__dec *d, const uint8_t **pp, const uint8_t *end, sg_strv *out)
{
    sg_str *items;
    sg__mp_obj o;
    uint32_t i;

    if (**pp == 0xc0 || (**pp == 0x90 && d->lim->max_depth >= 2)) {
        (*pp)++;
        return 0;
    }
    if (d->lim->max_depth < 2)
        return FAST_GIVE_UP;
    if ((**pp & 0xf0) == 0x90) {
        o.len = **pp & 0x0f;
        (*pp)++;
        if (o.len > (size_t)(end - *pp))
            return FAST_GIVE_UP;
    } else if (sg__mp_head(pp, end, &o) != 0 || o.type != SG__MP_ARRAY) {
        return FAST_GIVE_UP;
    }
    if (o.len > d->lim->max_array_items)
        return FAST_GIVE_UP;
    if (o.len == 0)
        return 0;
    items = sg__arena_alloc(d->arena, o.len * sizeof(*items));
    if (items == NULL)
        return sg__dec_nomem(d);
    for (i = 0; i < o.len; i++) {
        bool present;

        if (*pp >= end
            || !fast_str(pp, end, d->lim->max_string_bytes, &items[i],
                         &present)
            || !present)
            return FAST_GIVE_UP;
    }
    out->items = items;
    out->n = o.len;
    return 0;
}

/* An *any* field (or nil): its bytes, when the quick check passes. */
SG__HOT_INLINE bool
fast_any(const sg_limits *lim, const uint8_t **pp, const uint8_t *end,
         sg_any *out)
{
    const uint8_t *start = *pp;

    if (*start == 0xc0) {
        (*pp)++;
        return true;
    }
    if (!sg__fast_any(lim, pp, end, 2, lim->max_string_bytes))
        return false;
    out->mp = start;
    out->len = (size_t)(*pp - start);
    return true;
}

/*
 * Attachments (or nil): maps of the four known keys only, data as bin;
 * anything else (base64 data, other keys) is left to the exact reading.
 */
static int
fast_attachments(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                 sg_inbound *in)
{
    const sg_limits *lim = d->lim;
    const size_t smax = lim->max_string_bytes;
    sg_attachment *items;
    const uint8_t *p = *pp;
    size_t n, i, j;

    if (*p == 0xc0 || (*p == 0x90 && lim->max_depth >= 2)) {
        *pp = p + 1;
        return 0;
    }
    if ((*p & 0xf0) != 0x90 || lim->max_depth < 3)
        return FAST_GIVE_UP;
    n = *p++ & 0x0f;
    if (n > lim->max_attachments || n > lim->max_array_items
        || n > (size_t)(end - p))
        return FAST_GIVE_UP;
    items = sg__arena_alloc(d->arena, n * sizeof(*items));
    if (items == NULL)
        return sg__dec_nomem(d);
    memset(items, 0, n * sizeof(*items));
    for (i = 0; i < n; i++) {
        unsigned seen = 0;
        size_t pairs;

        if (p >= end || (*p & 0xf0) != 0x80)
            return FAST_GIVE_UP;
        pairs = *p++ & 0x0f;
        for (j = 0; j < pairs; j++) {
            const uint8_t *k = p;
            size_t klen;
            unsigned bit;
            bool present = false, ok;

            if (end - p < 2 || (*k & 0xe0) != 0xa0)
                return FAST_GIVE_UP;
            klen = *k & 0x1f;
            if (klen > (size_t)(end - p) - 2)
                return FAST_GIVE_UP;
            p += 1 + klen;
            k++;
            if (klen == 4 && memcmp(k, "data", 4) == 0) {
                size_t len;

                bit = 1;
                if (*p == 0xc0) {
                    p++;
                    ok = true;
                } else if (*p == 0xc4 && end - p >= 2) {
                    len = p[1];
                    ok = len <= (size_t)(end - p) - 2
                        && len <= lim->max_binary_bytes;
                    items[i].data.ptr = len ? p + 2 : NULL;
                    items[i].data.len = len;
                    p += 2 + len;
                } else if (*p == 0xc5 && end - p >= 3) {
                    len = sg__mp_be16(p + 1);
                    ok = len <= (size_t)(end - p) - 3
                        && len <= lim->max_binary_bytes;
                    items[i].data.ptr = p + 3;
                    items[i].data.len = len;
                    p += 3 + len;
                } else {
                    ok = false;
                }
            } else if (klen == 8 && memcmp(k, "mimetype", 8) == 0) {
                bit = 2;
                ok = fast_str(&p, end, smax, &items[i].mimetype, &present);
            } else if (klen == 8 && memcmp(k, "filename", 8) == 0) {
                bit = 4;
                ok = fast_str(&p, end, smax, &items[i].filename, &present);
            } else if (klen == 10 && memcmp(k, "source_url", 10) == 0) {
                bit = 8;
                ok = fast_str(&p, end, smax, &items[i].source_url,
                              &present);
            } else {
                return FAST_GIVE_UP;
            }
            if (!ok || (seen & bit) || p > end)
                return FAST_GIVE_UP;
            seen |= bit;
        }
    }
    in->attachments = items;
    in->nattachments = n;
    *pp = p;
    return 0;
}

int
sg__decode_inbound_fast(sg__dec *d, const uint8_t *p, const uint8_t *end,
                        sg_envelope *env)
{
    const sg_limits *lim = d->lim;
    const size_t smax = lim->max_string_bytes;
    sg_inbound *in = &env->u.in;
    uint32_t seen = 0, n, i;
    bool have_platform = false, have_channel = false, ok = true, present;
    sg__keyset ks;
    int rc = 0;

    if (!fast_map_header(&p, end, lim, &n))
        return FAST_GIVE_UP;
    sg__keyset_init(&ks, n);
    for (i = 0; i < n; i++) {
        const uint8_t *k = p;
        size_t klen;
        int f;

        /* Keys are fixstrs, values follow: at least two bytes left. */
        if (end - p < 2 || (*k & 0xe0) != 0xa0)
            goto give_up;
        klen = *k & 0x1f;
        if (klen > (size_t)(end - p) - 2)
            goto give_up;
        p += 1 + klen;
        f = field_of((const char *)k + 1, klen);
        if (f >= 0) {
            if (seen & (1u << f))
                goto give_up;
            seen |= 1u << f;
        } else {
            bool dup;

            if (!sg__utf8_valid(k + 1, klen))
                goto give_up;
            rc = sg__keyset_add(d, &ks, k + 1, klen, &dup);
            if (rc == 0 && dup)
                rc = FAST_GIVE_UP;
            if (rc != 0)
                break;
        }
        switch (f) {
        case F_SCHEMA_VERSION:
            ok = *p == 0xc0 || *p == 0x01;
            p++;
            break;
        case F_PLATFORM:
            ok = fast_str(&p, end, smax, &in->platform, &have_platform)
                && (!have_platform || in->platform.len > 0);
            break;
        case F_CHANNEL_ID:
            ok = fast_str(&p, end, smax, &in->channel_id, &have_channel)
                && (!have_channel || in->channel_id.len > 0);
            break;
        case F_USER_ID:
            ok = fast_str(&p, end, smax, &in->user_id, &present);
            break;
        case F_USERNAME:
            ok = fast_str(&p, end, smax, &in->username, &present);
            break;
        case F_CONTENT:
            ok = fast_str(&p, end, lim->max_text_bytes, &in->content,
                          &present);
            break;
        case F_IS_ADDRESSED:
            ok = fast_bool(&p, &in->is_addressed);
            break;
        case F_ROOM_NAME:
            ok = fast_str(&p, end, smax, &in->room_name, &present);
            break;
        case F_MESSAGE_ID:
            ok = fast_str(&p, end, smax, &in->message_id, &present);
            break;
        case F_REPLY_TO:
            ok = fast_str(&p, end, smax, &in->reply_to, &present);
            break;
        case F_GUILD_ID:
            ok = fast_str(&p, end, smax, &in->guild_id, &in->has_guild_id);
            break;
        case F_GUILD_NAME:
            ok = fast_str(&p, end, smax, &in->guild_name, &present);
            break;
        case F_IS_DM:
            ok = fast_bool(&p, &in->is_dm);
            break;
        case F_UNIFIED_USER_ID:
            ok = fast_str(&p, end, smax, &in->unified_user_id,
                          &in->has_unified_user_id);
            break;
        case F_TRACE_ID:
            ok = fast_str(&p, end, 128, &in->trace_id, &present);
            break;
        case F_MEMBER_ROLES:
            rc = fast_strv(d, &p, end, &in->member_roles);
            break;
        case F_USER_ALIASES:
            rc = fast_strv(d, &p, end, &in->user_aliases);
            break;
        case F_TIMESTAMP: {
            sg__path tp = { &sg__path_data, "timestamp", 9, 0 };

            /* Float 64 inline; the rest through the checked readers. */
            if (*p == 0xcb && end - p >= 9) {
                uint64_t bits = sg__mp_be64(p + 1);
                double v;

                memcpy(&v, &bits, 8);
                ok = isfinite(v) && v >= 0;
                in->timestamp = v;
                p += 9;
            } else {
                rc = sg__mp_check_value(d, &p, end, 2, &tp);
                if (rc == 0) {
                    p = k + 1 + klen;
                    rc = sg__get_float(d, &p, end, &tp, &in->timestamp,
                                       &present);
                }
                if (rc != 0 && rc != SG_ENOMEM)
                    rc = FAST_GIVE_UP;
            }
            break;
        }
        case F_MEMBER_COUNT:
            /* Non-negative ints up to uint 32 inline. */
            if (*p <= 0x7f) {
                in->member_count = *p++;
            } else if (*p == 0xcc && end - p >= 2) {
                in->member_count = p[1];
                p += 2;
            } else if (*p == 0xcd && end - p >= 3) {
                in->member_count = sg__mp_be16(p + 1);
                p += 3;
            } else if (*p == 0xce && end - p >= 5) {
                in->member_count = sg__mp_be32(p + 1);
                ok = in->member_count <= INT32_MAX;
                p += 5;
            } else if (*p == 0xc0) {
                p++;
            } else {
                sg__path mp = { &sg__path_data, "member_count", 12, 0 };

                rc = sg__mp_check_value(d, &p, end, 2, &mp);
                if (rc == 0) {
                    p = k + 1 + klen;
                    rc = sg__get_int(d, &p, end, &mp, 0, INT32_MAX,
                                     &in->member_count, &present);
                }
                if (rc != 0 && rc != SG_ENOMEM)
                    rc = FAST_GIVE_UP;
            }
            break;
        case F_ATTACHMENTS:
            rc = fast_attachments(d, &p, end, in);
            break;
        case F_EMBEDS:
            ok = fast_any(lim, &p, end, &in->embeds);
            break;
        case F_REACTIONS:
            ok = fast_any(lim, &p, end, &in->reactions);
            break;
        default:
            /* An unknown key: the generic checks of an *any* value. */
            ok = klen <= smax
                && sg__fast_any(lim, &p, end, 2, smax);
            break;
        }
        if (!ok || rc != 0)
            break;
    }
    sg__keyset_release(d, &ks);
    if (!ok)
        return FAST_GIVE_UP;
    if (rc != 0)
        return rc;
    if (p != end || !have_platform || !have_channel)
        return FAST_GIVE_UP;
    return 0;

give_up:
    sg__keyset_release(d, &ks);
    return FAST_GIVE_UP;
}
