/*
 * json_write.c: an envelope as canonical JSON (sg/json.h,
 * protocol/vectors/README.md "Canonical decoded JSON").
 *
 * Written by hand rather than through a cJSON tree: cJSON keeps numbers as
 * doubles, which would round integers above 2^53 (SG-MP-012 carries them
 * unchanged), and a tree would cost an allocation per value through
 * cJSON's global hooks instead of the caller's allocator.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg/json.h"
#include "base64.h"
#include "error_internal.h"
#include "mp_reader.h"
#include "utf8.h"

/* Nesting of *any* values written; deeper input is refused (the decoder
   never produces more than 64). */
#define JSON_DEPTH_MAX 64

typedef struct jw {
    sg_buf *out;
    sg_error *err;
    int rc;                     /* first failure, 0 while all is well */
    bool first;                 /* no member written yet in this object */
} jw;

static void
raw(jw *w, const char *s, size_t n)
{
    if (w->rc == 0 && sg_buf_append(w->out, s, n) != 0)
        w->rc = sg__error_set(w->err, SG_ENOMEM, SG_REASON_NONE, NULL,
                              "out of memory while writing JSON");
}

static void
lit(jw *w, const char *s)
{
    raw(w, s, strlen(s));
}

static void
fail(jw *w, const char *what)
{
    if (w->rc == 0)
        w->rc = sg__error_set(w->err, SG_EINVALID, SG_REASON_INVALID_VALUE,
                              NULL, "cannot write JSON: %s", what);
}

static void
str(jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    if (n == 0) {
        raw(w, "\"\"", 2);
        return;
    }
    if (s == NULL) {
        fail(w, "NULL string");
        return;
    }
    if (!sg__utf8_valid((const uint8_t *)s, n)) {
        fail(w, "string is not valid UTF-8");
        return;
    }
    raw(w, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        raw(w, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; raw(w, esc, 2); break;
        case '\\': esc[1] = '\\'; raw(w, esc, 2); break;
        case '\n': esc[1] = 'n'; raw(w, esc, 2); break;
        case '\r': esc[1] = 'r'; raw(w, esc, 2); break;
        case '\t': esc[1] = 't'; raw(w, esc, 2); break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            raw(w, esc, 6);
            break;
        }
    }
    raw(w, s + run, n - run);
    raw(w, "\"", 1);
}

static void
sstr(jw *w, sg_str s)
{
    str(w, s.ptr, s.len);
}

static void
member(jw *w, const char *name)
{
    if (!w->first)
        raw(w, ",", 1);
    w->first = false;
    str(w, name, strlen(name));
    raw(w, ":", 1);
}

static void
open_obj(jw *w)
{
    raw(w, "{", 1);
    w->first = true;
}

static void
close_obj(jw *w)
{
    raw(w, "}", 1);
    w->first = false;
}

static void
num_i(jw *w, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof(b), "%lld", v);

    if (n > 0 && (size_t)n < sizeof(b))
        raw(w, b, (size_t)n);
}

static void
num_u(jw *w, unsigned long long v)
{
    char b[32];
    int n = snprintf(b, sizeof(b), "%llu", v);

    if (n > 0 && (size_t)n < sizeof(b))
        raw(w, b, (size_t)n);
}

/*
 * A float: the shortest of 15 to 17 significant digits that reads back
 * the same, always with a fraction or an exponent ("2.0"), with '.' as the
 * decimal point whatever the locale. Non-finite values become null.
 */
static void
num_f(jw *w, double v)
{
    char b[40];
    int prec, n = 0, i;
    bool has_mark = false;

    if (!isfinite(v)) {
        lit(w, "null");
        return;
    }
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(b, sizeof(b), "%.*g", prec, v);
        if (n <= 0 || (size_t)n >= sizeof(b))
            return;
        if (strtod(b, NULL) == v)
            break;
    }
    for (i = 0; i < n; i++) {
        if (b[i] == 'e' || b[i] == 'E') {
            has_mark = true;
        } else if (!(b[i] >= '0' && b[i] <= '9') && b[i] != '-'
                   && b[i] != '+') {
            b[i] = '.';         /* a locale's decimal comma */
            has_mark = true;
        }
    }
    raw(w, b, (size_t)n);
    if (!has_mark)
        raw(w, ".0", 2);
}

static void
boolean(jw *w, bool v)
{
    lit(w, v ? "true" : "false");
}

static void
b64(jw *w, const uint8_t *p, size_t n)
{
    size_t m = sg__base64_encoded_size(n);

    if (n > 0 && p == NULL) {
        fail(w, "NULL bytes");
        return;
    }
    if (w->rc != 0)
        return;
    if (m == SIZE_MAX || sg_buf_reserve(w->out, m + 2) != 0) {
        w->rc = sg__error_set(w->err, SG_ENOMEM, SG_REASON_NONE, NULL,
                              "out of memory while writing JSON");
        return;
    }
    w->out->data[w->out->len++] = '"';
    sg__base64_encode(p, n, (char *)w->out->data + w->out->len);
    w->out->len += m;
    w->out->data[w->out->len++] = '"';
}

/* One msgpack value at *pp as JSON; false when it cannot be read. */
static bool
any(jw *w, const uint8_t **pp, const uint8_t *end, int depth)
{
    sg__mp_obj o;
    uint32_t i;

    if (depth > JSON_DEPTH_MAX || sg__mp_head(pp, end, &o) != 0)
        return false;
    switch (o.type) {
    case SG__MP_NIL:
        lit(w, "null");
        return true;
    case SG__MP_BOOL:
        boolean(w, o.v.b);
        return true;
    case SG__MP_INT:
        num_i(w, (long long)o.v.i);
        return true;
    case SG__MP_UINT:
        num_u(w, (unsigned long long)o.v.u);
        return true;
    case SG__MP_FLOAT:
        num_f(w, o.v.f);
        return true;
    case SG__MP_STR:
        str(w, (const char *)o.v.body, o.len);
        return true;
    case SG__MP_BIN:
        lit(w, "{\"$bin\":");
        b64(w, o.v.body, o.len);
        lit(w, "}");
        return true;
    case SG__MP_ARRAY:
        raw(w, "[", 1);
        for (i = 0; i < o.len; i++) {
            if (i > 0)
                raw(w, ",", 1);
            if (!any(w, pp, end, depth + 1))
                return false;
        }
        raw(w, "]", 1);
        return true;
    case SG__MP_MAP:
        raw(w, "{", 1);
        for (i = 0; i < o.len; i++) {
            sg__mp_obj k;

            if (sg__mp_head(pp, end, &k) != 0 || k.type != SG__MP_STR)
                return false;
            if (i > 0)
                raw(w, ",", 1);
            str(w, (const char *)k.v.body, k.len);
            raw(w, ":", 1);
            if (!any(w, pp, end, depth + 1))
                return false;
        }
        raw(w, "}", 1);
        return true;
    default:
        return false;
    }
}

static void
any_value(jw *w, sg_any v, const char *if_absent)
{
    const uint8_t *p = v.mp;

    if (v.len == 0) {
        lit(w, if_absent);
        return;
    }
    if (p == NULL || !any(w, &p, v.mp + v.len, 0) || p != v.mp + v.len)
        fail(w, "an any value is not msgpack of the subset");
}

static void
attachments(jw *w, const sg_attachment *a, size_t n)
{
    size_t i;

    if (n > 0 && a == NULL) {
        fail(w, "NULL attachment array");
        return;
    }
    raw(w, "[", 1);
    for (i = 0; i < n; i++) {
        if (i > 0)
            raw(w, ",", 1);
        open_obj(w);
        member(w, "data");
        b64(w, a[i].data.ptr, a[i].data.len);
        member(w, "mimetype");
        sstr(w, a[i].mimetype);
        member(w, "filename");
        sstr(w, a[i].filename);
        member(w, "source_url");
        sstr(w, a[i].source_url);
        close_obj(w);
    }
    raw(w, "]", 1);
}

static void
strv(jw *w, sg_strv v)
{
    size_t i;

    if (v.n > 0 && v.items == NULL) {
        fail(w, "NULL string array");
        return;
    }
    raw(w, "[", 1);
    for (i = 0; i < v.n; i++) {
        if (i > 0)
            raw(w, ",", 1);
        sstr(w, v.items[i]);
    }
    raw(w, "]", 1);
}

static void
inbound(jw *w, const sg_inbound *in)
{
    member(w, "platform");
    sstr(w, in->platform);
    member(w, "channel_id");
    sstr(w, in->channel_id);
    member(w, "user_id");
    sstr(w, in->user_id);
    member(w, "username");
    sstr(w, in->username);
    member(w, "content");
    sstr(w, in->content);
    member(w, "is_addressed");
    boolean(w, in->is_addressed);
    member(w, "attachments");
    attachments(w, in->attachments, in->nattachments);
    member(w, "room_name");
    sstr(w, in->room_name);
    member(w, "timestamp");
    num_f(w, in->timestamp);
    member(w, "message_id");
    sstr(w, in->message_id);
    member(w, "reply_to");
    sstr(w, in->reply_to);
    if (in->has_guild_id) {
        member(w, "guild_id");
        sstr(w, in->guild_id);
    }
    member(w, "guild_name");
    sstr(w, in->guild_name);
    member(w, "is_dm");
    boolean(w, in->is_dm);
    member(w, "member_roles");
    strv(w, in->member_roles);
    if (in->embeds.len > 0) {
        member(w, "embeds");
        any_value(w, in->embeds, "null");
    }
    member(w, "member_count");
    num_i(w, (long long)in->member_count);
    if (in->reactions.len > 0) {
        member(w, "reactions");
        any_value(w, in->reactions, "null");
    }
    if (in->has_unified_user_id) {
        member(w, "unified_user_id");
        sstr(w, in->unified_user_id);
    }
    member(w, "user_aliases");
    strv(w, in->user_aliases);
    member(w, "trace_id");
    sstr(w, in->trace_id);
}

/*
 * A button: label, id and url when present and not nil, then every other
 * key as written.
 */
static bool
button(jw *w, const uint8_t **pp, const uint8_t *end)
{
    sg__mp_obj m;
    uint32_t i;

    if (sg__mp_head(pp, end, &m) != 0 || m.type != SG__MP_MAP)
        return false;
    open_obj(w);
    for (i = 0; i < m.len; i++) {
        sg__mp_obj k;

        if (sg__mp_head(pp, end, &k) != 0 || k.type != SG__MP_STR)
            return false;
        if (*pp < end && **pp == 0xc0
            && ((k.len == 2 && memcmp(k.v.body, "id", 2) == 0)
                || (k.len == 3 && memcmp(k.v.body, "url", 3) == 0))) {
            (*pp)++;
            continue;
        }
        if (!w->first)
            raw(w, ",", 1);
        w->first = false;
        str(w, (const char *)k.v.body, k.len);
        raw(w, ":", 1);
        if (!any(w, pp, end, 1))
            return false;
    }
    close_obj(w);
    return true;
}

static void
buttons(jw *w, sg_any v)
{
    const uint8_t *p = v.mp, *end = v.mp + v.len;
    sg__mp_obj a;
    uint32_t i;

    if (v.len == 0) {
        lit(w, "[]");
        return;
    }
    if (p == NULL || sg__mp_head(&p, end, &a) != 0 || a.type != SG__MP_ARRAY)
    {
        fail(w, "buttons are not a msgpack array");
        return;
    }
    raw(w, "[", 1);
    for (i = 0; i < a.len; i++) {
        if (i > 0)
            raw(w, ",", 1);
        if (!button(w, &p, end)) {
            fail(w, "a button is not a msgpack map");
            return;
        }
    }
    raw(w, "]", 1);
}

static void
outbound(jw *w, const sg_outbound *o)
{
    const char *type = sg_out_type_name(o->type);

    if (type == NULL) {
        fail(w, "unknown outbound type");
        return;
    }
    member(w, "type");
    lit(w, "\"");
    lit(w, type);
    lit(w, "\"");
    if (o->type == SG_OUT_RPC_REQUEST ? o->has_channel_id
                                      : o->type != SG_OUT_PRESENCE) {
        member(w, "channel_id");
        sstr(w, o->channel_id);
    }
    if (o->has_message_key) {
        member(w, "message_key");
        sstr(w, o->message_key);
    }
    member(w, "trace_id");
    sstr(w, o->trace_id);
    switch (o->type) {
    case SG_OUT_MESSAGE:
        member(w, "text");
        sstr(w, o->text);
        if (o->has_reply_to) {
            member(w, "reply_to");
            sstr(w, o->reply_to);
        }
        break;
    case SG_OUT_FILE:
        member(w, "file_data");
        b64(w, o->file_data.ptr, o->file_data.len);
        member(w, "filename");
        sstr(w, o->filename);
        member(w, "mimetype");
        sstr(w, o->mimetype);
        member(w, "text");
        sstr(w, o->text);
        break;
    case SG_OUT_BUTTONS:
        member(w, "text");
        sstr(w, o->text);
        member(w, "buttons");
        buttons(w, o->buttons);
        break;
    case SG_OUT_REACTION:
        member(w, "message_id");
        sstr(w, o->message_id);
        member(w, "emoji");
        sstr(w, o->emoji);
        break;
    case SG_OUT_PRESENCE:
        member(w, "text");
        sstr(w, o->text);
        if (o->has_emoji) {
            member(w, "emoji");
            sstr(w, o->emoji);
        }
        break;
    case SG_OUT_RPC_REQUEST:
        member(w, "rpc_method");
        sstr(w, o->rpc_method);
        member(w, "rpc_args");
        any_value(w, o->rpc_args, "{}");
        member(w, "reply_key");
        sstr(w, o->reply_key);
        break;
    default:
        break;
    }
}

static void
tools_request(jw *w, const sg_tools_request *r)
{
    member(w, "request_id");
    sstr(w, r->request_id);
    member(w, "tool_name");
    sstr(w, r->tool_name);
    member(w, "tool_args");
    any_value(w, r->tool_args, "{}");
    member(w, "tool_ctx");
    any_value(w, r->tool_ctx, "{}");
    member(w, "reply_stream");
    sstr(w, r->reply_stream);
    member(w, "deadline_ms");
    num_i(w, (long long)r->deadline_ms);
}

static void
tools_reply(jw *w, const sg_tools_reply *r)
{
    member(w, "request_id");
    sstr(w, r->request_id);
    member(w, "ok");
    boolean(w, r->ok);
    if (r->result.len > 0) {
        member(w, "result");
        any_value(w, r->result, "null");
    }
    member(w, "error");
    sstr(w, r->error);
    member(w, "media");
    attachments(w, r->media, r->nmedia);
}

int
sg_envelope_to_json(const sg_envelope *env, sg_buf *out, sg_error *err)
{
    size_t start;
    jw w;

    if (env == NULL || out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "env or out is NULL");
    start = out->len;
    w.out = out;
    w.err = err;
    w.rc = 0;
    open_obj(&w);
    member(&w, "schema_version");
    num_i(&w, (long long)env->schema_version);
    switch (env->kind) {
    case SG_KIND_INBOUND:
        inbound(&w, &env->u.in);
        break;
    case SG_KIND_OUTBOUND:
        outbound(&w, &env->u.out);
        break;
    case SG_KIND_TOOLS_REQUEST:
        tools_request(&w, &env->u.treq);
        break;
    case SG_KIND_TOOLS_REPLY:
        tools_reply(&w, &env->u.trep);
        break;
    default:
        w.rc = sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "unknown envelope kind %d", (int)env->kind);
        break;
    }
    close_obj(&w);
    raw(&w, "", 1);                     /* the NUL terminator */
    if (w.rc != 0) {
        out->len = start;
        return w.rc;
    }
    out->len--;
    return 0;
}
