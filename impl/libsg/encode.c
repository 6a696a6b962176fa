/*
 * encode.c: checking a typed envelope against its field table and writing
 * its msgpack `data` bytes (SG-FRAME-012, SG-ENV-005).
 *
 * Fields are checked and written in one pass, in table order, so that the
 * first bad field reported is the one a decoder of the output would meet
 * first; the paths are the decoder's. The output buffer is rolled back on
 * failure. msgpack-c's packer writes the values through a callback that
 * appends to the sg_buf.
 */
#include <math.h>
#include <string.h>

#include <msgpack.h>

#include "decode_internal.h"
#include "utf8.h"

#define TRACE_ID_MAX 128

typedef struct enc {
    msgpack_packer pk;
    sg_buf *out;
    sg__dec check;              /* validator of sg_any values */
    const sg_limits *lim;
    sg_error *err;
    uint32_t pairs;             /* pairs written so far */
    int oom;                    /* a write failed */
} enc;

static int
buf_write(void *data, const char *bytes, size_t n)
{
    return sg_buf_append(data, bytes, n) == 0 ? 0 : -1;
}

static int
reject(enc *e, int reason, const char *field, const char *fmt, const char *a)
{
    return sg__dec_fail(&e->check, reason, &sg__path_data, field,
                        strlen(field), fmt, a);
}

static void
key(enc *e, const char *name)
{
    size_t n = strlen(name);

    e->oom |= msgpack_pack_str_with_body(&e->pk, name, n);
    e->pairs++;
}

/*
 * Checks a string; `required` means that a NULL ptr is a missing field,
 * `nonempty` that an empty string is invalid.
 */
static int
check_str(enc *e, const char *field, sg_str s, size_t max, bool required,
          bool nonempty)
{
    if (s.ptr == NULL && s.len > 0)
        return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "%s: NULL string of non-zero length", field);
    if (required && s.ptr == NULL)
        return reject(e, SG_REASON_MISSING_FIELD, field, "%s",
                      "required field is absent");
    if (s.len > max)
        return sg__dec_fail(&e->check, SG_REASON_STRING_TOO_LONG,
                            &sg__path_data, field, strlen(field),
                            "string of %zu bytes exceeds %zu", s.len, max);
    if (!sg__utf8_valid((const uint8_t *)s.ptr, s.len))
        return reject(e, SG_REASON_INVALID_UTF8, field, "%s",
                      "string is not valid UTF-8");
    if (nonempty && s.len == 0)
        return reject(e, SG_REASON_INVALID_VALUE, field, "%s",
                      "must not be empty");
    return 0;
}

static void
put_str(enc *e, sg_str s)
{
    e->oom |= msgpack_pack_str_with_body(&e->pk, s.ptr, s.len);
}

/* A required string: checked and always written. */
static int
req_str(enc *e, const char *field, sg_str s, size_t max, bool nonempty)
{
    int rc = check_str(e, field, s, max, true, nonempty);

    if (rc != 0)
        return rc;
    key(e, field);
    put_str(e, s);
    return 0;
}

/* An optional string defaulting to "": written when non-empty. */
static int
opt_str(enc *e, const char *field, sg_str s, size_t max)
{
    int rc = check_str(e, field, s, max, false, false);

    if (rc != 0 || s.len == 0)
        return rc;
    key(e, field);
    put_str(e, s);
    return 0;
}

/* An optional string defaulting to "absent": written when `has`. */
static int
has_str(enc *e, const char *field, bool has, sg_str s, size_t max,
        bool nonempty)
{
    int rc;

    if (!has)
        return 0;
    rc = check_str(e, field, s, max, false, nonempty);
    if (rc != 0)
        return rc;
    key(e, field);
    put_str(e, s);
    return 0;
}

static void
put_bool(enc *e, const char *field, bool v)
{
    key(e, field);
    e->oom |= v ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk);
}

static void
put_int(enc *e, const char *field, int64_t v)
{
    key(e, field);
    /* msgpack-c picks the shortest encoding (SG-MP-007). */
    e->oom |= msgpack_pack_int64(&e->pk, v);
}

static int
check_bytes(enc *e, const char *field, sg_bytes b)
{
    if (b.ptr == NULL && b.len > 0)
        return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "%s: NULL bytes of non-zero length", field);
    if (b.len > e->lim->max_binary_bytes)
        return sg__dec_fail(&e->check, SG_REASON_BINARY_TOO_LARGE,
                            &sg__path_data, field, strlen(field),
                            "%zu bytes exceed max_binary_bytes %zu", b.len,
                            e->lim->max_binary_bytes);
    return 0;
}

static void
put_bytes(enc *e, sg_bytes b)
{
    e->oom |= msgpack_pack_bin_with_body(&e->pk, b.ptr, b.len);
}

/* An sg_any (maps_only: a *map*) field; nil and absent are not written. */
static int
any_field(enc *e, const char *field, sg_any v, bool maps_only,
          size_t strmax)
{
    sg__path path = { &sg__path_data, field, strlen(field), 0 };
    bool is_nil = false;
    int rc;

    if (v.len == 0)
        return 0;
    if (v.mp == NULL)
        return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "%s: NULL value of non-zero length", field);
    rc = sg__check_span(&e->check, v, &path, maps_only, strmax, &is_nil);
    if (rc != 0 || is_nil)
        return rc;
    key(e, field);
    e->oom |= sg_buf_append(e->out, v.mp, v.len) != 0;
    return 0;
}

static int
attachments(enc *e, const char *field, const sg_attachment *a, size_t n,
            size_t max)
{
    size_t smax = e->lim->max_string_bytes, i;

    if (n == 0)
        return 0;
    if (a == NULL)
        return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "%s: NULL array", field);
    if (n > max || n > e->lim->max_array_items)
        return sg__dec_fail(&e->check, SG_REASON_ARRAY_TOO_LONG,
                            &sg__path_data, field, strlen(field),
                            "%zu items exceed %zu", n, max);
    key(e, field);
    e->oom |= msgpack_pack_array(&e->pk, n);
    for (i = 0; i < n; i++) {
        sg__path item = { NULL, NULL, 0, i };
        sg__path top = { &sg__path_data, field, strlen(field), 0 };
        const char *bad = NULL;
        uint32_t pairs = 0;
        int reason = 0;

        item.up = &top;
        if (a[i].data.ptr == NULL && a[i].data.len > 0)
            return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                                 "%s[%zu].data: NULL bytes", field, i);
        if (a[i].data.len > e->lim->max_binary_bytes) {
            bad = "data";
            reason = SG_REASON_BINARY_TOO_LARGE;
        }
#define CHECK_ATT_STR(m)                                                    \
        if (bad == NULL) {                                                  \
            sg_str s = a[i].m;                                              \
            if (s.ptr == NULL && s.len > 0)                                 \
                return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE,     \
                                     NULL, "%s[%zu]." #m ": NULL string",   \
                                     field, i);                             \
            if (s.len > smax) {                                             \
                bad = #m;                                                   \
                reason = SG_REASON_STRING_TOO_LONG;                         \
            } else if (!sg__utf8_valid((const uint8_t *)s.ptr, s.len)) {    \
                bad = #m;                                                   \
                reason = SG_REASON_INVALID_UTF8;                            \
            }                                                               \
        }
        CHECK_ATT_STR(mimetype)
        CHECK_ATT_STR(filename)
        CHECK_ATT_STR(source_url)
#undef CHECK_ATT_STR
        if (bad != NULL)
            return sg__dec_fail(&e->check, reason, &item, bad, strlen(bad),
                                "%s", sg_reason_name(reason));
        pairs = (a[i].data.len > 0) + (a[i].mimetype.len > 0)
            + (a[i].filename.len > 0) + (a[i].source_url.len > 0);
        e->oom |= msgpack_pack_map(&e->pk, pairs);
        if (a[i].data.len > 0) {
            e->oom |= msgpack_pack_str_with_body(&e->pk, "data", 4);
            put_bytes(e, a[i].data);
        }
        if (a[i].mimetype.len > 0) {
            e->oom |= msgpack_pack_str_with_body(&e->pk, "mimetype", 8);
            put_str(e, a[i].mimetype);
        }
        if (a[i].filename.len > 0) {
            e->oom |= msgpack_pack_str_with_body(&e->pk, "filename", 8);
            put_str(e, a[i].filename);
        }
        if (a[i].source_url.len > 0) {
            e->oom |= msgpack_pack_str_with_body(&e->pk, "source_url", 10);
            put_str(e, a[i].source_url);
        }
    }
    return 0;
}

static int
strv(enc *e, const char *field, sg_strv v)
{
    size_t i;

    if (v.n == 0)
        return 0;
    if (v.items == NULL)
        return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "%s: NULL array", field);
    if (v.n > e->lim->max_array_items)
        return sg__dec_fail(&e->check, SG_REASON_ARRAY_TOO_LONG,
                            &sg__path_data, field, strlen(field),
                            "array of %zu items exceeds max_array_items %u",
                            v.n, e->lim->max_array_items);
    for (i = 0; i < v.n; i++) {
        sg_str s = v.items[i];
        sg__path top = { &sg__path_data, field, strlen(field), 0 };
        sg__path item = { &top, NULL, 0, i };

        if (s.ptr == NULL && s.len > 0)
            return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                                 "%s[%zu]: NULL string", field, i);
        if (s.len > e->lim->max_string_bytes)
            return sg__dec_fail(&e->check, SG_REASON_STRING_TOO_LONG, &item,
                                NULL, 0, "string of %zu bytes exceeds "
                                "max_string_bytes %zu", s.len,
                                e->lim->max_string_bytes);
        if (!sg__utf8_valid((const uint8_t *)s.ptr, s.len))
            return sg__dec_fail(&e->check, SG_REASON_INVALID_UTF8, &item,
                                NULL, 0, "string is not valid UTF-8");
    }
    key(e, field);
    e->oom |= msgpack_pack_array(&e->pk, v.n);
    for (i = 0; i < v.n; i++)
        put_str(e, v.items[i]);
    return 0;
}

static int
encode_inbound(enc *e, const sg_inbound *in)
{
    const size_t smax = e->lim->max_string_bytes;
    int rc;

#define TRY(x) do { if ((rc = (x)) != 0) return rc; } while (0)
    TRY(req_str(e, "platform", in->platform, smax, true));
    TRY(req_str(e, "channel_id", in->channel_id, smax, true));
    TRY(opt_str(e, "user_id", in->user_id, smax));
    TRY(opt_str(e, "username", in->username, smax));
    TRY(opt_str(e, "content", in->content, e->lim->max_text_bytes));
    if (!in->is_addressed)
        put_bool(e, "is_addressed", false);
    TRY(attachments(e, "attachments", in->attachments, in->nattachments,
                    e->lim->max_attachments));
    TRY(opt_str(e, "room_name", in->room_name, smax));
    if (!isfinite(in->timestamp) || in->timestamp < 0)
        return reject(e, SG_REASON_OUT_OF_RANGE, "timestamp", "%s",
                      "must be finite and >= 0");
    if (in->timestamp != 0) {
        key(e, "timestamp");
        e->oom |= msgpack_pack_double(&e->pk, in->timestamp);
    }
    TRY(opt_str(e, "message_id", in->message_id, smax));
    TRY(opt_str(e, "reply_to", in->reply_to, smax));
    TRY(has_str(e, "guild_id", in->has_guild_id, in->guild_id, smax,
                false));
    TRY(opt_str(e, "guild_name", in->guild_name, smax));
    if (in->is_dm)
        put_bool(e, "is_dm", true);
    TRY(strv(e, "member_roles", in->member_roles));
    TRY(any_field(e, "embeds", in->embeds, false, smax));
    if (in->member_count < 0 || in->member_count > INT32_MAX)
        return reject(e, SG_REASON_OUT_OF_RANGE, "member_count", "%s",
                      "must be 0 .. 2^31-1");
    if (in->member_count != 0)
        put_int(e, "member_count", in->member_count);
    TRY(any_field(e, "reactions", in->reactions, false, smax));
    TRY(has_str(e, "unified_user_id", in->has_unified_user_id,
                in->unified_user_id, smax, false));
    TRY(strv(e, "user_aliases", in->user_aliases));
    TRY(opt_str(e, "trace_id", in->trace_id, TRACE_ID_MAX));
    return 0;
}

static int
encode_outbound(enc *e, const sg_outbound *o)
{
    const size_t smax = e->lim->max_string_bytes;
    const size_t tmax = e->lim->max_text_bytes;
    const char *tname = sg_out_type_name(o->type);
    bool channel_bound = o->type != SG_OUT_PRESENCE
        && o->type != SG_OUT_RPC_REQUEST;
    int rc;

    if (tname == NULL)
        return reject(e, SG_REASON_UNKNOWN_TYPE, "type", "%s",
                      "not an outbound type");
    if (o->type != SG_OUT_MESSAGE) {
        key(e, "type");
        e->oom |= msgpack_pack_str_with_body(&e->pk, tname, strlen(tname));
    }
    if (channel_bound)
        TRY(req_str(e, "channel_id", o->channel_id, smax, true));
    else if (o->type == SG_OUT_RPC_REQUEST)
        TRY(has_str(e, "channel_id", o->has_channel_id, o->channel_id, smax,
                    false));
    TRY(has_str(e, "message_key", o->has_message_key, o->message_key, smax,
                false));
    TRY(opt_str(e, "trace_id", o->trace_id, TRACE_ID_MAX));
    switch (o->type) {
    case SG_OUT_MESSAGE:
        TRY(req_str(e, "text", o->text, tmax, false));
        TRY(has_str(e, "reply_to", o->has_reply_to, o->reply_to, smax,
                    false));
        break;
    case SG_OUT_FILE:
        if (o->file_data.ptr == NULL && o->file_data.len == 0)
            return reject(e, SG_REASON_MISSING_FIELD, "file_data", "%s",
                          "required field is absent");
        TRY(check_bytes(e, "file_data", o->file_data));
        key(e, "file_data");
        put_bytes(e, o->file_data);
        TRY(check_str(e, "filename", o->filename, smax, false, false));
        if (!(o->filename.len == 4 && memcmp(o->filename.ptr, "file", 4) == 0))
        {
            key(e, "filename");
            put_str(e, o->filename);
        }
        TRY(check_str(e, "mimetype", o->mimetype, smax, false, false));
        if (!(o->mimetype.len == 24
              && memcmp(o->mimetype.ptr, "application/octet-stream", 24)
                  == 0)) {
            key(e, "mimetype");
            put_str(e, o->mimetype);
        }
        TRY(opt_str(e, "text", o->text, tmax));
        break;
    case SG_OUT_BUTTONS: {
        const uint8_t *p = o->buttons.mp, *end = p + o->buttons.len;
        sg__path path = { &sg__path_data, "buttons", 7, 0 };
        sg_any seen = { NULL, 0 };
        size_t n = 0;

        TRY(req_str(e, "text", o->text, tmax, false));
        if (o->buttons.len == 0 || o->buttons.mp == NULL)
            return reject(e, SG_REASON_MISSING_FIELD, "buttons", "%s",
                          "required field is absent");
        TRY(sg__mp_check_value(&e->check, &p, end, 2, &path));
        if (p != end)
            return reject(e, SG_REASON_TRAILING_BYTES, "buttons", "%s",
                          "bytes follow the value");
        p = o->buttons.mp;
        TRY(sg__get_buttons(&e->check, &p, end, &path, &seen, &n));
        if (seen.len == 0)
            return reject(e, SG_REASON_MISSING_FIELD, "buttons", "%s",
                          "required field is absent");
        key(e, "buttons");
        e->oom |= sg_buf_append(e->out, o->buttons.mp, o->buttons.len) != 0;
        break;
    }
    case SG_OUT_REACTION:
        TRY(req_str(e, "message_id", o->message_id, smax, true));
        TRY(req_str(e, "emoji", o->emoji, smax, true));
        break;
    case SG_OUT_PRESENCE:
        TRY(opt_str(e, "text", o->text, smax));
        TRY(has_str(e, "emoji", o->has_emoji, o->emoji, smax, false));
        break;
    case SG_OUT_RPC_REQUEST:
        TRY(req_str(e, "rpc_method", o->rpc_method, smax, true));
        TRY(any_field(e, "rpc_args", o->rpc_args, true, smax));
        TRY(req_str(e, "reply_key", o->reply_key, smax, true));
        break;
    default:
        break;
    }
    return 0;
}

static int
encode_tools_request(enc *e, const sg_tools_request *r)
{
    const size_t smax = e->lim->max_string_bytes;
    int rc;

    TRY(req_str(e, "request_id", r->request_id, smax, true));
    TRY(req_str(e, "tool_name", r->tool_name, smax, true));
    TRY(any_field(e, "tool_args", r->tool_args, true, smax));
    TRY(any_field(e, "tool_ctx", r->tool_ctx, true, smax));
    TRY(req_str(e, "reply_stream", r->reply_stream, smax, true));
    if (r->deadline_ms != 0)
        put_int(e, "deadline_ms", r->deadline_ms);
    return 0;
}

static int
encode_tools_reply(enc *e, const sg_tools_reply *r)
{
    const size_t smax = e->lim->max_string_bytes;
    int rc;

    TRY(req_str(e, "request_id", r->request_id, smax, true));
    put_bool(e, "ok", r->ok);
    TRY(any_field(e, "result", r->result, false, e->lim->max_text_bytes));
    TRY(opt_str(e, "error", r->error, e->lim->max_text_bytes));
    TRY(attachments(e, "media", r->media, r->nmedia,
                    e->lim->max_array_items));
    return 0;
#undef TRY
}

int
sg_envelope_encode(const sg_envelope *env, sg_buf *out, sg_error *err)
{
    sg_limits lim = sg_limits_default();
    size_t start, body;
    enc e;
    int rc;

    if (env == NULL || out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "env or out is NULL");
    start = out->len;
    e.out = out;
    e.lim = &lim;
    e.err = err;
    e.pairs = 0;
    e.oom = 0;
    msgpack_packer_init(&e.pk, out, buf_write);
    sg__dec_init(&e.check, &lim, out->mem, NULL, SG_EINVALID, err);

    if (env->schema_version != 1) {
        rc = reject(&e, SG_REASON_UNKNOWN_VERSION, "schema_version", "%s",
                    "only schema version 1 is known");
        goto done;
    }
    /* A map 16 header, patched (or shrunk to a fixmap) at the end. */
    e.oom |= sg_buf_append(out, "\xde\0\0", 3) != 0;
    put_int(&e, "schema_version", 1);
    switch (env->kind) {
    case SG_KIND_INBOUND:
        rc = encode_inbound(&e, &env->u.in);
        break;
    case SG_KIND_OUTBOUND:
        rc = encode_outbound(&e, &env->u.out);
        break;
    case SG_KIND_TOOLS_REQUEST:
        rc = encode_tools_request(&e, &env->u.treq);
        break;
    case SG_KIND_TOOLS_REPLY:
        rc = encode_tools_reply(&e, &env->u.trep);
        break;
    default:
        rc = sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                           "unknown envelope kind %d", (int)env->kind);
        break;
    }
    if (rc == 0 && e.oom)
        rc = sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                           "out of memory while encoding");
    if (rc != 0)
        goto done;
    body = out->len - start - 3;
    if (e.pairs <= 15) {
        memmove(out->data + start + 1, out->data + start + 3, body);
        out->data[start] = (uint8_t)(0x80 | e.pairs);
        out->len -= 2;
    } else {
        out->data[start + 1] = (uint8_t)(e.pairs >> 8);
        out->data[start + 2] = (uint8_t)e.pairs;
    }
    if (out->len - start > lim.max_entry_bytes)
        rc = sg__error_set(err, SG_EINVALID, SG_REASON_ENTRY_TOO_LARGE,
                           "data", "%zu bytes exceed max_entry_bytes %zu",
                           out->len - start, lim.max_entry_bytes);
done:
    sg__dec_destroy(&e.check);
    if (rc != 0)
        out->len = start;
    return rc;
}
