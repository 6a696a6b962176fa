/*
 * decode_outbound.c: step C for the outbound envelopes (SPEC sections 9
 * and 10).
 *
 * Which keys an outbound map may hold, and how `text` is bounded, depend
 * on its `type`, which may stand anywhere in the map: step B noted every
 * pair, so `type` is read first (after `schema_version`), then the other
 * pairs with the table of that type.
 */
#include <string.h>

#include "decode_internal.h"
#include "fast_read.h"

enum {
    F_SCHEMA_VERSION, F_TYPE, F_CHANNEL_ID, F_MESSAGE_KEY, F_TRACE_ID,
    F_TEXT, F_REPLY_TO, F_FILE_DATA, F_FILENAME, F_MIMETYPE, F_BUTTONS,
    F_MESSAGE_ID, F_EMOJI, F_RPC_METHOD, F_ACTION, F_RPC_ARGS, F_KWARGS,
    F_REPLY_KEY, F_UNKNOWN = -1
};

#define BIT(f) (1u << (f))
#define COMMON (BIT(F_SCHEMA_VERSION) | BIT(F_TYPE) | BIT(F_MESSAGE_KEY) \
                | BIT(F_TRACE_ID))
#define CHANNEL (COMMON | BIT(F_CHANNEL_ID))

/* The fields each type's table lists, by sg_out_type. */
static const uint32_t known_fields[] = {
    CHANNEL | BIT(F_TEXT) | BIT(F_REPLY_TO),
    CHANNEL | BIT(F_FILE_DATA) | BIT(F_FILENAME) | BIT(F_MIMETYPE)
        | BIT(F_TEXT),
    CHANNEL | BIT(F_TEXT) | BIT(F_BUTTONS),
    CHANNEL,
    CHANNEL,
    CHANNEL,
    CHANNEL | BIT(F_MESSAGE_ID) | BIT(F_EMOJI),
    COMMON | BIT(F_TEXT) | BIT(F_EMOJI),
    CHANNEL | BIT(F_RPC_METHOD) | BIT(F_RPC_ARGS) | BIT(F_REPLY_KEY)
};

#define IS(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)

int
sg__outbound_field(const char *k, size_t n)
{
    switch (n) {
    case 4:
        if (IS("type"))
            return F_TYPE;
        return IS("text") ? F_TEXT : F_UNKNOWN;
    case 5:
        return IS("emoji") ? F_EMOJI : F_UNKNOWN;
    case 6:
        if (IS("action"))
            return F_ACTION;
        return IS("kwargs") ? F_KWARGS : F_UNKNOWN;
    case 7:
        return IS("buttons") ? F_BUTTONS : F_UNKNOWN;
    case 8:
        switch (k[0]) {
        case 't': return IS("trace_id") ? F_TRACE_ID : F_UNKNOWN;
        case 'f': return IS("filename") ? F_FILENAME : F_UNKNOWN;
        case 'm': return IS("mimetype") ? F_MIMETYPE : F_UNKNOWN;
        case 'r':
            if (IS("reply_to"))
                return F_REPLY_TO;
            return IS("rpc_args") ? F_RPC_ARGS : F_UNKNOWN;
        default: return F_UNKNOWN;
        }
    case 9:
        if (IS("file_data"))
            return F_FILE_DATA;
        return IS("reply_key") ? F_REPLY_KEY : F_UNKNOWN;
    case 10:
        if (IS("channel_id"))
            return F_CHANNEL_ID;
        if (IS("message_id"))
            return F_MESSAGE_ID;
        return IS("rpc_method") ? F_RPC_METHOD : F_UNKNOWN;
    case 11:
        return IS("message_key") ? F_MESSAGE_KEY : F_UNKNOWN;
    case 14:
        return IS("schema_version") ? F_SCHEMA_VERSION : F_UNKNOWN;
    default:
        return F_UNKNOWN;
    }
}

#undef IS

/* The value of a non-nil pair of field f, or NULL. */
static const uint8_t *
find(const sg__pair *pairs, uint32_t n, int f)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (pairs[i].field == f)
            return *pairs[i].val == 0xc0 ? NULL : pairs[i].val;
    }
    return NULL;
}

static int
read_type(sg__dec *d, const uint8_t *val, const uint8_t *end,
          sg_out_type *type)
{
    sg__path path = { &sg__path_data, "type", 4, 0 };
    sg_str s = { NULL, 0 };
    bool present = false;
    int rc;

    *type = SG_OUT_MESSAGE;
    if (val == NULL)
        return 0;
    rc = sg__get_str(d, &val, end, &path, d->lim->max_string_bytes, 0, &s,
                     &present);
    if (rc != 0)
        return rc;
    if (sg_out_type_from_name(s.ptr, s.len, type) != 0)
        return sg__dec_fail(d, SG_REASON_UNKNOWN_TYPE, &path, NULL, 0,
                            "\"%.*s\" is not an outbound type",
                            s.len > 64 ? 64 : (int)s.len, s.ptr);
    return 0;
}

static int
missing(sg__dec *d, const char *field)
{
    return sg__dec_fail(d, SG_REASON_MISSING_FIELD, &sg__path_data, field,
                        strlen(field), "required field is absent");
}

int
sg__decode_outbound(sg__dec *d, const sg__pair *pairs, uint32_t n,
                    const uint8_t *end, sg_envelope *env)
{
    const size_t smax = d->lim->max_string_bytes;
    const size_t tmax = d->lim->max_text_bytes;
    sg_outbound *out = &env->u.out;
    uint32_t known, have = 0, i;
    sg_out_type type;
    int action_as = F_UNKNOWN, kwargs_as = F_UNKNOWN;
    sg__path child;
    int rc;

    rc = read_type(d, find(pairs, n, F_TYPE), end, &type);
    if (rc != 0)
        return rc;
    out->type = type;
    known = known_fields[type];
    /* Legacy names stand in when the newer ones are absent or nil
       (SG-RPC-001); otherwise they are unknown keys. */
    if (type == SG_OUT_RPC_REQUEST) {
        if (find(pairs, n, F_RPC_METHOD) == NULL
            && find(pairs, n, F_ACTION) != NULL)
            action_as = F_RPC_METHOD;
        if (find(pairs, n, F_RPC_ARGS) == NULL
            && find(pairs, n, F_KWARGS) != NULL)
            kwargs_as = F_RPC_ARGS;
    }

    child.up = &sg__path_data;
    child.index = 0;
    for (i = 0; i < n; i++) {
        const uint8_t *p = pairs[i].val;
        bool present = false;
        int f = pairs[i].field;

        if (f == F_SCHEMA_VERSION || f == F_TYPE)
            continue;
        if (f == F_ACTION)
            f = action_as;
        else if (f == F_KWARGS)
            f = kwargs_as;
        else if (f != F_UNKNOWN && !(known & BIT(f)))
            f = F_UNKNOWN;
        child.key = pairs[i].key;
        child.keylen = pairs[i].keylen;
        switch (f) {
        case F_CHANNEL_ID:
            rc = sg__get_str(d, &p, end, &child, smax,
                             type == SG_OUT_RPC_REQUEST ? 0 : SG__NONEMPTY,
                             &out->channel_id, &present);
            out->has_channel_id = present;
            break;
        case F_MESSAGE_KEY:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &out->message_key,
                             &out->has_message_key);
            break;
        case F_TRACE_ID:
            rc = sg__get_str(d, &p, end, &child, 128, 0, &out->trace_id,
                             &present);
            break;
        case F_TEXT:
            rc = sg__get_str(d, &p, end, &child,
                             type == SG_OUT_PRESENCE ? smax : tmax, 0,
                             &out->text, &present);
            break;
        case F_REPLY_TO:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &out->reply_to,
                             &out->has_reply_to);
            break;
        case F_FILE_DATA:
            rc = sg__get_bytes(d, &p, end, &child, &out->file_data,
                               &present);
            break;
        case F_FILENAME:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &out->filename,
                             &present);
            break;
        case F_MIMETYPE:
            rc = sg__get_str(d, &p, end, &child, smax, 0, &out->mimetype,
                             &present);
            break;
        case F_BUTTONS:
            rc = sg__get_buttons(d, &p, end, &child, &out->buttons,
                                 &out->nbuttons);
            present = out->buttons.len > 0;
            break;
        case F_MESSAGE_ID:
            rc = sg__get_str(d, &p, end, &child, smax, SG__NONEMPTY,
                             &out->message_id, &present);
            break;
        case F_EMOJI:
            rc = sg__get_str(d, &p, end, &child, smax,
                             type == SG_OUT_REACTION ? SG__NONEMPTY : 0,
                             &out->emoji, &out->has_emoji);
            present = out->has_emoji;
            break;
        case F_RPC_METHOD:
            rc = sg__get_str(d, &p, end, &child, smax, SG__NONEMPTY,
                             &out->rpc_method, &present);
            break;
        case F_RPC_ARGS:
            rc = sg__get_any(d, &p, end, &child, true, smax,
                             &out->rpc_args);
            break;
        case F_REPLY_KEY:
            rc = sg__get_str(d, &p, end, &child, smax, SG__NONEMPTY,
                             &out->reply_key, &present);
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
        if (rc != 0)
            return rc;
        if (present)
            have |= BIT(f);
    }

    /* Required fields, in table order (common table first). */
    if (type != SG_OUT_PRESENCE && type != SG_OUT_RPC_REQUEST
        && !(have & BIT(F_CHANNEL_ID)))
        return missing(d, "channel_id");
    switch (type) {
    case SG_OUT_MESSAGE:
        if (!(have & BIT(F_TEXT)))
            return missing(d, "text");
        break;
    case SG_OUT_FILE:
        if (!(have & BIT(F_FILE_DATA)))
            return missing(d, "file_data");
        break;
    case SG_OUT_BUTTONS:
        if (!(have & BIT(F_TEXT)))
            return missing(d, "text");
        if (!(have & BIT(F_BUTTONS)))
            return missing(d, "buttons");
        break;
    case SG_OUT_REACTION:
        if (!(have & BIT(F_MESSAGE_ID)))
            return missing(d, "message_id");
        if (!(have & BIT(F_EMOJI)))
            return missing(d, "emoji");
        break;
    case SG_OUT_RPC_REQUEST:
        if (!(have & BIT(F_RPC_METHOD)))
            return missing(d, "rpc_method");
        if (!(have & BIT(F_REPLY_KEY)))
            return missing(d, "reply_key");
        break;
    default:
        break;
    }
    return 0;
}

/*
 * The fast path of outbound envelopes, as the inbound one (see
 * decode_inbound.c): a valid map read once, anything else left to the
 * exact reading. The type is taken from a leading `type` key, which is
 * where producers put it, or else assumed to be message; a `type` further
 * on that says otherwise hands over to the exact reading. Legacy names,
 * buttons and base64 file data are left to it as well.
 */
int
sg__decode_outbound_fast(sg__dec *d, const uint8_t *p, const uint8_t *end,
                         sg_envelope *env)
{
    const sg_limits *lim = d->lim;
    const size_t smax = lim->max_string_bytes;
    sg_outbound *out = &env->u.out;
    sg_out_type type = SG_OUT_MESSAGE;
    uint32_t seen = 0, have = 0, known, n, i;
    sg__keyset ks;
    bool ok = true;
    int rc = 0;

    if (!fast_map_header(&p, end, lim, &n))
        return FAST_GIVE_UP;
    /* {"type": "<fixstr>", ...}: the type before anything else. */
    if (n > 0 && end - p >= 6 && memcmp(p, "\xa4type", 5) == 0
        && (p[5] & 0xe0) == 0xa0
        && (size_t)(p[5] & 0x1f) < (size_t)(end - p) - 5
        && sg_out_type_from_name((const char *)p + 6, p[5] & 0x1f,
                                 &type) != 0)
        return FAST_GIVE_UP;
    known = known_fields[type];
    sg__keyset_init(&ks, n);
    for (i = 0; i < n && ok && rc == 0; i++) {
        const uint8_t *k = p;
        size_t klen;
        bool present = false;
        int f;

        if (end - p < 2 || (*k & 0xe0) != 0xa0) {
            ok = false;
            break;
        }
        klen = *k & 0x1f;
        if (klen > (size_t)(end - p) - 2) {
            ok = false;
            break;
        }
        p += 1 + klen;
        f = sg__outbound_field((const char *)k + 1, klen);
        if (f >= 0) {
            if (seen & BIT(f)) {
                ok = false;
                break;
            }
            seen |= BIT(f);
            if (f != F_TYPE && f != F_SCHEMA_VERSION && !(known & BIT(f))) {
                if (type == SG_OUT_RPC_REQUEST
                    && (f == F_ACTION || f == F_KWARGS)) {
                    ok = false;
                    break;
                }
                f = F_UNKNOWN;
            }
        } else {
            bool dup;

            if (!sg__utf8_valid(k + 1, klen) || klen > smax) {
                ok = false;
                break;
            }
            rc = sg__keyset_add(d, &ks, k + 1, klen, &dup);
            if (rc != 0 || dup) {
                ok = false;
                break;
            }
        }
        switch (f) {
        case F_SCHEMA_VERSION:
            ok = *p == 0xc0 || *p == 0x01;
            p++;
            break;
        case F_TYPE: {
            sg_str t = { NULL, 0 };
            sg_out_type named;

            ok = fast_str(&p, end, smax, &t, &present)
                && (!present
                    || (sg_out_type_from_name(t.ptr, t.len, &named) == 0
                        && named == type));
            present = false;
            break;
        }
        case F_CHANNEL_ID:
            ok = fast_str(&p, end, smax, &out->channel_id, &present)
                && (!present || out->channel_id.len > 0
                    || type == SG_OUT_RPC_REQUEST);
            out->has_channel_id = present;
            break;
        case F_MESSAGE_KEY:
            ok = fast_str(&p, end, smax, &out->message_key,
                          &out->has_message_key);
            break;
        case F_TRACE_ID:
            ok = fast_str(&p, end, 128, &out->trace_id, &present);
            break;
        case F_TEXT:
            ok = fast_str(&p, end,
                          type == SG_OUT_PRESENCE ? smax
                                                  : lim->max_text_bytes,
                          &out->text, &present);
            break;
        case F_REPLY_TO:
            ok = fast_str(&p, end, smax, &out->reply_to, &out->has_reply_to);
            break;
        case F_FILENAME:
            ok = fast_str(&p, end, smax, &out->filename, &present);
            break;
        case F_MIMETYPE:
            ok = fast_str(&p, end, smax, &out->mimetype, &present);
            break;
        case F_MESSAGE_ID:
            ok = fast_str(&p, end, smax, &out->message_id, &present)
                && (!present || out->message_id.len > 0);
            break;
        case F_EMOJI:
            ok = fast_str(&p, end, smax, &out->emoji, &out->has_emoji)
                && (type != SG_OUT_REACTION || !out->has_emoji
                    || out->emoji.len > 0);
            present = out->has_emoji;
            break;
        case F_RPC_METHOD:
            ok = fast_str(&p, end, smax, &out->rpc_method, &present)
                && (!present || out->rpc_method.len > 0);
            break;
        case F_REPLY_KEY:
            ok = fast_str(&p, end, smax, &out->reply_key, &present)
                && (!present || out->reply_key.len > 0);
            break;
        case F_FILE_DATA: {
            const uint8_t *b = p;
            sg__mp_obj o;

            if (*p == 0xc0) {
                p++;
                break;
            }
            if (sg__mp_head(&b, end, &o) != 0 || o.type != SG__MP_BIN
                || o.len > lim->max_binary_bytes) {
                ok = false;
                break;
            }
            out->file_data.ptr = o.v.body;   /* empty is present */
            out->file_data.len = o.len;
            present = true;
            p = b;
            break;
        }
        case F_RPC_ARGS: {
            const uint8_t *start = p;

            if (*p == 0xc0) {
                p++;
            } else if (((*p & 0xf0) == 0x80 || *p == 0xde || *p == 0xdf)
                       && sg__fast_any(lim, &p, end, 2, smax)) {
                out->rpc_args.mp = start;
                out->rpc_args.len = (size_t)(p - start);
            } else {
                ok = false;
            }
            break;
        }
        case F_UNKNOWN:
            ok = sg__fast_any(lim, &p, end, 2, smax);
            break;
        default:                /* buttons */
            ok = false;
            break;
        }
        if (present)
            have |= BIT(f);
    }
    sg__keyset_release(d, &ks);
    if (rc != 0)
        return rc;              /* out of memory */
    if (!ok || p != end)
        return FAST_GIVE_UP;
    out->type = type;
    if (type != SG_OUT_PRESENCE && type != SG_OUT_RPC_REQUEST
        && !(have & BIT(F_CHANNEL_ID)))
        return FAST_GIVE_UP;
    switch (type) {
    case SG_OUT_MESSAGE:
        ok = (have & BIT(F_TEXT)) != 0;
        break;
    case SG_OUT_FILE:
        ok = (have & BIT(F_FILE_DATA)) != 0;
        break;
    case SG_OUT_REACTION:
        ok = (have & BIT(F_MESSAGE_ID)) && (have & BIT(F_EMOJI));
        break;
    case SG_OUT_RPC_REQUEST:
        ok = (have & BIT(F_RPC_METHOD)) && (have & BIT(F_REPLY_KEY));
        break;
    case SG_OUT_BUTTONS:
        ok = false;
        break;
    default:
        break;
    }
    if (type == SG_OUT_PRESENCE) {
        out->has_channel_id = false;
        out->channel_id.ptr = NULL;
        out->channel_id.len = 0;
    }
    return ok ? 0 : FAST_GIVE_UP;
}
