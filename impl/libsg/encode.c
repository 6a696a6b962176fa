/*
 * encode.c: checking a typed envelope against its field table and writing
 * its msgpack `data` bytes (SG-FRAME-012, SG-ENV-005).
 *
 * Fields are checked and written in one pass, in table order, so that the
 * first bad field reported is the one a decoder of the output would meet
 * first, with the decoder's paths. The output buffer is rolled back on
 * failure. Values are written by mp_writer.h into room reserved once per
 * field, not through msgpack-c's packer: its callback per item cost more
 * than the whole budget of an encode (impl/README.md, "Codec").
 */
#include <math.h>
#include <string.h>

#include "compiler.h"
#include "decode_internal.h"
#include "mp_writer.h"
#include "utf8.h"

#define TRACE_ID_MAX 128

typedef struct enc {
    sg_buf *out;
    sg__dec check;              /* reports rejections; checks sg_any */
    const sg_limits *lim;
    sg_error *err;
    uint32_t pairs;             /* pairs written so far */
} enc;

/* A field name and its length, for the functions below. */
#define F(lit) lit, (sizeof(lit) - 1)

/* Room for n more bytes at the end of the output, or NULL (ENOMEM). */
SG__HOT_INLINE uint8_t *
room(enc *e, size_t n)
{
    sg_buf *b = e->out;

    if (b->cap - b->len < n && sg_buf_reserve(b, n) != 0) {
        sg__error_set(e->err, SG_ENOMEM, SG_REASON_NONE, NULL,
                      "out of memory while encoding");
        return NULL;
    }
    return b->data + b->len;
}

SG__HOT_INLINE void
done(enc *e, uint8_t *p)
{
    e->out->len = (size_t)(p - e->out->data);
}

static int
reject(enc *e, int reason, const char *field, size_t flen, const char *msg)
{
    return sg__dec_fail(&e->check, reason, &sg__path_data, field, flen, "%s",
                        msg);
}

static int
null_arg(enc *e, const char *field)
{
    return sg__error_set(e->err, SG_EINVAL, SG_REASON_NONE, NULL,
                         "%s: NULL pointer with a non-zero length", field);
}

/* Writes the key of a pair whose value takes at most `value` bytes. */
SG__HOT_INLINE uint8_t *
key(enc *e, const char *field, size_t flen, size_t value)
{
    uint8_t *p = room(e, 1 + flen + value);

    if (p == NULL)
        return NULL;
    e->pairs++;
    *p++ = (uint8_t)(0xa0 | flen);  /* every field name is a fixstr */
    memcpy(p, field, flen);
    return p + flen;
}

/*
 * Checks a string; `required` means that a NULL ptr is a missing field,
 * `nonempty` that an empty string is invalid.
 */
SG__HOT_INLINE int
check_str(enc *e, const char *field, size_t flen, sg_str s, size_t max,
          bool required, bool nonempty)
{
    if (s.ptr == NULL && s.len > 0)
        return null_arg(e, field);
    if (required && s.ptr == NULL)
        return reject(e, SG_REASON_MISSING_FIELD, field, flen,
                      "required field is absent");
    if (s.len > max)
        return sg__dec_fail(&e->check, SG_REASON_STRING_TOO_LONG,
                            &sg__path_data, field, flen,
                            "string of %zu bytes exceeds %zu", s.len, max);
    if (!sg__utf8_valid((const uint8_t *)s.ptr, s.len))
        return reject(e, SG_REASON_INVALID_UTF8, field, flen,
                      "string is not valid UTF-8");
    if (nonempty && s.len == 0)
        return reject(e, SG_REASON_INVALID_VALUE, field, flen,
                      "must not be empty");
    return 0;
}

SG__HOT_INLINE int
put_str(enc *e, const char *field, size_t flen, sg_str s)
{
    uint8_t *p = key(e, field, flen, SG__MP_HEAD_MAX + s.len);

    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_str(p, s.ptr, s.len));
    return 0;
}

/* A required string: checked and always written. */
SG__HOT_INLINE int
req_str(enc *e, const char *field, size_t flen, sg_str s, size_t max,
        bool nonempty)
{
    int rc = check_str(e, field, flen, s, max, true, nonempty);

    return rc != 0 ? rc : put_str(e, field, flen, s);
}

/* An optional string defaulting to "": written when non-empty. */
SG__HOT_INLINE int
opt_str(enc *e, const char *field, size_t flen, sg_str s, size_t max)
{
    int rc = check_str(e, field, flen, s, max, false, false);

    if (rc != 0 || s.len == 0)
        return rc;
    return put_str(e, field, flen, s);
}

/* An optional string defaulting to "absent": written when `has`. */
SG__HOT_INLINE int
has_str(enc *e, const char *field, size_t flen, bool has, sg_str s,
        size_t max)
{
    int rc;

    if (!has)
        return 0;
    rc = check_str(e, field, flen, s, max, false, false);
    return rc != 0 ? rc : put_str(e, field, flen, s);
}

SG__HOT_INLINE int
put_bool(enc *e, const char *field, size_t flen, bool v)
{
    uint8_t *p = key(e, field, flen, 1);

    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_bool(p, v));
    return 0;
}

SG__HOT_INLINE int
put_int(enc *e, const char *field, size_t flen, int64_t v)
{
    uint8_t *p = key(e, field, flen, SG__MP_HEAD_MAX);

    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_int(p, v));
    return 0;
}

static int
put_bytes(enc *e, const char *field, size_t flen, sg_bytes b)
{
    uint8_t *p;

    if (b.ptr == NULL && b.len > 0)
        return null_arg(e, field);
    if (b.len > e->lim->max_binary_bytes)
        return sg__dec_fail(&e->check, SG_REASON_BINARY_TOO_LARGE,
                            &sg__path_data, field, flen,
                            "%zu bytes exceed max_binary_bytes %zu", b.len,
                            e->lim->max_binary_bytes);
    p = key(e, field, flen, SG__MP_HEAD_MAX + b.len);
    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_bin(p, b.ptr, b.len));
    return 0;
}

/* Appends checked msgpack bytes as the value of a pair. */
static int
put_raw(enc *e, const char *field, size_t flen, sg_any v)
{
    uint8_t *p = key(e, field, flen, v.len);

    if (p == NULL)
        return SG_ENOMEM;
    memcpy(p, v.mp, v.len);
    done(e, p + v.len);
    return 0;
}

/* An sg_any (maps_only: a *map*) field; nil and absent are not written. */
static int
any_field(enc *e, const char *field, size_t flen, sg_any v, bool maps_only,
          size_t strmax)
{
    sg__path path = { &sg__path_data, field, flen, 0 };
    const uint8_t *p;
    bool is_nil = false;
    int rc;

    if (v.len == 0)
        return 0;
    if (v.mp == NULL)
        return null_arg(e, field);
    p = v.mp;
    if (v.mp[0] == 0xc0 && v.len == 1)
        return 0;
    /* The quick check passes nearly always; the exact one finds out what
       is wrong when it does not. */
    if (!(sg__fast_any(e->lim, &p, v.mp + v.len, 2, strmax)
          && p == v.mp + v.len
          && (!maps_only || (v.mp[0] & 0xf0) == 0x80 || v.mp[0] == 0xde
              || v.mp[0] == 0xdf))) {
        rc = sg__check_span(&e->check, v, &path, maps_only, strmax,
                            &is_nil);
        if (rc != 0 || is_nil)
            return rc;
    }
    /* A *map* field's default is {}: an empty map is left out too, so
       that absent and {} encode alike (sg_envelope_equal holds them
       equal). */
    if (maps_only && v.len == 1 && v.mp[0] == 0x80)
        return 0;
    return put_raw(e, field, flen, v);
}

static int
check_attachment(enc *e, const sg__path *item, const sg_attachment *a)
{
    const sg_str *s[3] = { &a->mimetype, &a->filename, &a->source_url };
    static const char *const names[3] = {
        "mimetype", "filename", "source_url"
    };
    size_t smax = e->lim->max_string_bytes;
    int i;

    if (a->data.ptr == NULL && a->data.len > 0)
        return null_arg(e, "attachment data");
    if (a->data.len > e->lim->max_binary_bytes)
        return sg__dec_fail(&e->check, SG_REASON_BINARY_TOO_LARGE, item,
                            "data", 4, "%zu bytes exceed max_binary_bytes "
                            "%zu", a->data.len, e->lim->max_binary_bytes);
    for (i = 0; i < 3; i++) {
        if (s[i]->ptr == NULL && s[i]->len > 0)
            return null_arg(e, names[i]);
        if (s[i]->len > smax)
            return sg__dec_fail(&e->check, SG_REASON_STRING_TOO_LONG, item,
                                names[i], strlen(names[i]),
                                "string of %zu bytes exceeds "
                                "max_string_bytes %zu", s[i]->len, smax);
        if (!sg__utf8_valid((const uint8_t *)s[i]->ptr, s[i]->len))
            return sg__dec_fail(&e->check, SG_REASON_INVALID_UTF8, item,
                                names[i], strlen(names[i]),
                                "string is not valid UTF-8");
    }
    return 0;
}

static int
attachments(enc *e, const char *field, size_t flen, const sg_attachment *a,
            size_t n, size_t max)
{
    sg__path top = { &sg__path_data, field, flen, 0 };
    size_t i;
    uint8_t *p;
    int rc;

    if (n == 0)
        return 0;
    if (a == NULL)
        return null_arg(e, field);
    if (n > max || n > e->lim->max_array_items)
        return sg__dec_fail(&e->check, SG_REASON_ARRAY_TOO_LONG,
                            &sg__path_data, field, flen,
                            "%zu items exceed the bound", n);
    p = key(e, field, flen, SG__MP_HEAD_MAX);
    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_array_head(p, n));
    /* Checked and written in one go: a failure rolls the output back. */
    for (i = 0; i < n; i++) {
        sg__path item = { &top, NULL, 0, i };
        size_t need = 1 + 4 * (11 + SG__MP_HEAD_MAX) + a[i].data.len
            + a[i].mimetype.len + a[i].filename.len + a[i].source_url.len;
        size_t pairs = (a[i].data.len > 0) + (a[i].mimetype.len > 0)
            + (a[i].filename.len > 0) + (a[i].source_url.len > 0);

        rc = check_attachment(e, &item, &a[i]);
        if (rc != 0)
            return rc;
        p = room(e, need);
        if (p == NULL)
            return SG_ENOMEM;
        p = sg__mp_put_map_head(p, pairs);
        if (a[i].data.len > 0) {
            p = sg__mp_put_str(p, "data", 4);
            p = sg__mp_put_bin(p, a[i].data.ptr, a[i].data.len);
        }
        if (a[i].mimetype.len > 0) {
            p = sg__mp_put_str(p, "mimetype", 8);
            p = sg__mp_put_str(p, a[i].mimetype.ptr, a[i].mimetype.len);
        }
        if (a[i].filename.len > 0) {
            p = sg__mp_put_str(p, "filename", 8);
            p = sg__mp_put_str(p, a[i].filename.ptr, a[i].filename.len);
        }
        if (a[i].source_url.len > 0) {
            p = sg__mp_put_str(p, "source_url", 10);
            p = sg__mp_put_str(p, a[i].source_url.ptr,
                               a[i].source_url.len);
        }
        done(e, p);
    }
    return 0;
}

static int
strv(enc *e, const char *field, size_t flen, sg_strv v)
{
    sg__path top = { &sg__path_data, field, flen, 0 };
    size_t i;
    uint8_t *p;

    if (v.n == 0)
        return 0;
    if (v.items == NULL)
        return null_arg(e, field);
    if (v.n > e->lim->max_array_items)
        return sg__dec_fail(&e->check, SG_REASON_ARRAY_TOO_LONG,
                            &sg__path_data, field, flen,
                            "array of %zu items exceeds max_array_items %u",
                            v.n, e->lim->max_array_items);
    p = key(e, field, flen, SG__MP_HEAD_MAX);
    if (p == NULL)
        return SG_ENOMEM;
    done(e, sg__mp_put_array_head(p, v.n));
    /* Checked and written in one go: a failure rolls the output back. */
    for (i = 0; i < v.n; i++) {
        sg_str s = v.items[i];
        sg__path item = { &top, NULL, 0, i };

        if (s.ptr == NULL && s.len > 0)
            return null_arg(e, field);
        if (s.len > e->lim->max_string_bytes)
            return sg__dec_fail(&e->check, SG_REASON_STRING_TOO_LONG, &item,
                                NULL, 0, "string of %zu bytes exceeds "
                                "max_string_bytes %zu", s.len,
                                e->lim->max_string_bytes);
        if (!sg__utf8_valid((const uint8_t *)s.ptr, s.len))
            return sg__dec_fail(&e->check, SG_REASON_INVALID_UTF8, &item,
                                NULL, 0, "string is not valid UTF-8");
        p = room(e, SG__MP_HEAD_MAX + s.len);
        if (p == NULL)
            return SG_ENOMEM;
        done(e, sg__mp_put_str(p, s.ptr, s.len));
    }
    return 0;
}

#define TRY(x) do { if ((rc = (x)) != 0) return rc; } while (0)

static int
encode_inbound(enc *e, const sg_inbound *in)
{
    const size_t smax = e->lim->max_string_bytes;
    int rc;

    TRY(req_str(e, F("platform"), in->platform, smax, true));
    TRY(req_str(e, F("channel_id"), in->channel_id, smax, true));
    TRY(opt_str(e, F("user_id"), in->user_id, smax));
    TRY(opt_str(e, F("username"), in->username, smax));
    TRY(opt_str(e, F("content"), in->content, e->lim->max_text_bytes));
    if (!in->is_addressed)
        TRY(put_bool(e, F("is_addressed"), false));
    TRY(attachments(e, F("attachments"), in->attachments, in->nattachments,
                    e->lim->max_attachments));
    TRY(opt_str(e, F("room_name"), in->room_name, smax));
    if (!isfinite(in->timestamp) || in->timestamp < 0)
        return reject(e, SG_REASON_OUT_OF_RANGE, F("timestamp"),
                      "must be finite and >= 0");
    if (in->timestamp != 0) {
        uint8_t *p = key(e, F("timestamp"), SG__MP_HEAD_MAX);

        if (p == NULL)
            return SG_ENOMEM;
        done(e, sg__mp_put_double(p, in->timestamp));
    }
    TRY(opt_str(e, F("message_id"), in->message_id, smax));
    TRY(opt_str(e, F("reply_to"), in->reply_to, smax));
    TRY(has_str(e, F("guild_id"), in->has_guild_id, in->guild_id, smax));
    TRY(opt_str(e, F("guild_name"), in->guild_name, smax));
    if (in->is_dm)
        TRY(put_bool(e, F("is_dm"), true));
    TRY(strv(e, F("member_roles"), in->member_roles));
    TRY(any_field(e, F("embeds"), in->embeds, false, smax));
    if (in->member_count < 0 || in->member_count > INT32_MAX)
        return reject(e, SG_REASON_OUT_OF_RANGE, F("member_count"),
                      "must be 0 .. 2^31-1");
    if (in->member_count != 0)
        TRY(put_int(e, F("member_count"), in->member_count));
    TRY(any_field(e, F("reactions"), in->reactions, false, smax));
    TRY(has_str(e, F("unified_user_id"), in->has_unified_user_id,
                in->unified_user_id, smax));
    TRY(strv(e, F("user_aliases"), in->user_aliases));
    TRY(opt_str(e, F("trace_id"), in->trace_id, TRACE_ID_MAX));
    return 0;
}

static bool
str_is(sg_str s, const char *lit, size_t n)
{
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int
encode_buttons(enc *e, sg_any v)
{
    const uint8_t *p = v.mp, *end = v.mp + v.len;
    sg__path path = { &sg__path_data, "buttons", 7, 0 };
    sg_any seen = { NULL, 0 };
    size_t n = 0;
    int rc;

    if (v.len == 0 || v.mp == NULL)
        return reject(e, SG_REASON_MISSING_FIELD, F("buttons"),
                      "required field is absent");
    TRY(sg__mp_check_value(&e->check, &p, end, 2, &path));
    if (p != end)
        return reject(e, SG_REASON_TRAILING_BYTES, F("buttons"),
                      "bytes follow the value");
    p = v.mp;
    TRY(sg__get_buttons(&e->check, &p, end, &path, &seen, &n));
    if (seen.len == 0)
        return reject(e, SG_REASON_MISSING_FIELD, F("buttons"),
                      "required field is absent");
    return put_raw(e, F("buttons"), v);
}

static int
encode_outbound(enc *e, const sg_outbound *o)
{
    const size_t smax = e->lim->max_string_bytes;
    const size_t tmax = e->lim->max_text_bytes;
    const char *tname = sg_out_type_name(o->type);
    int rc;

    if (tname == NULL)
        return reject(e, SG_REASON_UNKNOWN_TYPE, F("type"),
                      "not an outbound type");
    if (o->type != SG_OUT_MESSAGE) {
        sg_str t = { tname, strlen(tname) };

        TRY(put_str(e, F("type"), t));
    }
    if (o->type == SG_OUT_RPC_REQUEST)
        TRY(has_str(e, F("channel_id"), o->has_channel_id, o->channel_id,
                    smax));
    else if (o->type != SG_OUT_PRESENCE)
        TRY(req_str(e, F("channel_id"), o->channel_id, smax, true));
    TRY(has_str(e, F("message_key"), o->has_message_key, o->message_key,
                smax));
    TRY(opt_str(e, F("trace_id"), o->trace_id, TRACE_ID_MAX));
    switch (o->type) {
    case SG_OUT_MESSAGE:
        TRY(req_str(e, F("text"), o->text, tmax, false));
        TRY(has_str(e, F("reply_to"), o->has_reply_to, o->reply_to, smax));
        break;
    case SG_OUT_FILE:
        if (o->file_data.ptr == NULL && o->file_data.len == 0)
            return reject(e, SG_REASON_MISSING_FIELD, F("file_data"),
                          "required field is absent");
        TRY(put_bytes(e, F("file_data"), o->file_data));
        TRY(check_str(e, F("filename"), o->filename, smax, false, false));
        if (!str_is(o->filename, F("file")))
            TRY(put_str(e, F("filename"), o->filename));
        TRY(check_str(e, F("mimetype"), o->mimetype, smax, false, false));
        if (!str_is(o->mimetype, F("application/octet-stream")))
            TRY(put_str(e, F("mimetype"), o->mimetype));
        TRY(opt_str(e, F("text"), o->text, tmax));
        break;
    case SG_OUT_BUTTONS:
        TRY(req_str(e, F("text"), o->text, tmax, false));
        TRY(encode_buttons(e, o->buttons));
        break;
    case SG_OUT_REACTION:
        TRY(req_str(e, F("message_id"), o->message_id, smax, true));
        TRY(req_str(e, F("emoji"), o->emoji, smax, true));
        break;
    case SG_OUT_PRESENCE:
        TRY(opt_str(e, F("text"), o->text, smax));
        TRY(has_str(e, F("emoji"), o->has_emoji, o->emoji, smax));
        break;
    case SG_OUT_RPC_REQUEST:
        TRY(req_str(e, F("rpc_method"), o->rpc_method, smax, true));
        TRY(any_field(e, F("rpc_args"), o->rpc_args, true, smax));
        TRY(req_str(e, F("reply_key"), o->reply_key, smax, true));
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

    TRY(req_str(e, F("request_id"), r->request_id, smax, true));
    TRY(req_str(e, F("tool_name"), r->tool_name, smax, true));
    TRY(any_field(e, F("tool_args"), r->tool_args, true, smax));
    TRY(any_field(e, F("tool_ctx"), r->tool_ctx, true, smax));
    TRY(req_str(e, F("reply_stream"), r->reply_stream, smax, true));
    if (r->deadline_ms != 0)
        TRY(put_int(e, F("deadline_ms"), r->deadline_ms));
    return 0;
}

static int
encode_tools_reply(enc *e, const sg_tools_reply *r)
{
    const size_t smax = e->lim->max_string_bytes;
    int rc;

    TRY(req_str(e, F("request_id"), r->request_id, smax, true));
    TRY(put_bool(e, F("ok"), r->ok));
    TRY(any_field(e, F("result"), r->result, false,
                  e->lim->max_text_bytes));
    TRY(opt_str(e, F("error"), r->error, e->lim->max_text_bytes));
    TRY(attachments(e, F("media"), r->media, r->nmedia,
                    e->lim->max_array_items));
    return 0;
}

#undef TRY

int
sg_envelope_encode(const sg_envelope *env, sg_buf *out, sg_error *err)
{
    const sg_limits *lim = &sg__limits_default;
    size_t start, body;
    uint8_t *p;
    enc e;
    int rc;

    if (env == NULL || out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "env or out is NULL");
    start = out->len;
    e.out = out;
    e.lim = lim;
    e.err = err;
    e.pairs = 0;
    sg__dec_init(&e.check, lim, out->mem, NULL, SG_EINVALID, err);

    if (env->schema_version != 1) {
        rc = reject(&e, SG_REASON_UNKNOWN_VERSION, F("schema_version"),
                    "only schema version 1 is known");
        goto done;
    }
    /*
     * A map 16 header, patched at the end, or shrunk to a fixmap when the
     * pairs are few (the body moves back two bytes).
     */
    p = room(&e, 3 + 16 + 1);
    if (p == NULL) {
        rc = SG_ENOMEM;
        goto done;
    }
    p[0] = 0xde;
    p[1] = 0;
    p[2] = 0;
    done(&e, p + 3);
    rc = put_int(&e, F("schema_version"), 1);
    if (rc != 0)
        goto done;
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
    if (out->len - start > lim->max_entry_bytes)
        rc = sg__error_set(err, SG_EINVALID, SG_REASON_ENTRY_TOO_LARGE,
                           "data", "%zu bytes exceed max_entry_bytes %zu",
                           out->len - start, lim->max_entry_bytes);
done:
    sg__dec_destroy(&e.check);
    if (rc != 0)
        out->len = start;
    return rc;
}
