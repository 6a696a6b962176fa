/*
 * prompt.c: see prompt.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "prompt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../libsg/json_text.h"
#include "../libsg/utf8.h"
#include "json_scan.h"

static int put_raw(sg_buf *b, const char *s)
{
    return sg__json_put_raw(b, s);
}

/* A string literal as it is: its length known, no strlen(). */
#define put_lit(b, lit) \
    (sg_buf_append((b), (lit), sizeof(lit) - 1) != 0 ? SG_ENOMEM : 0)

/*
 * s[0..n) as a JSON string, as sg__json_put_str() writes it (the same
 * bytes: `"` `\` and \n \r \t escaped with a backslash, other control
 * characters as \u00XX, the rest as it is; SG_EINVAL when s is not
 * UTF-8), but copied by runs of bytes that need no escape rather than
 * byte by byte: the message's text is written twice per message (the
 * request, its record) and the reply once.
 */
static int put_json_str(sg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len, i = 0, run;

    if (n > 0 && !sg__utf8_valid((const uint8_t *)s, n))
        return SG_EINVAL;
    /* The quotes and, for most text, all of it at once. */
    if (sg_buf_reserve(b, n + 2) != 0)
        return SG_ENOMEM;
    b->data[b->len++] = '"';
    while (i < n) {
        char esc[6];
        size_t elen = 2;
        unsigned char c;

        for (run = i; run < n; run++) {
            c = (unsigned char)s[run];
            if (c < 0x20 || c == '"' || c == '\\')
                break;
        }
        if (run > i && sg_buf_append(b, s + i, run - i) != 0)
            goto oom;
        if (run >= n)
            break;
        c = (unsigned char)s[run];
        esc[0] = '\\';
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (sg_buf_append(b, esc, elen) != 0)
            goto oom;
        i = run + 1;
    }
    if (sg_buf_append(b, "\"", 1) != 0)
        goto oom;
    return 0;
oom:
    b->len = start;
    return SG_ENOMEM;
}

static int put_str(sg_buf *b, sg_str s)
{
    return put_json_str(b, s.ptr != NULL ? s.ptr : "", s.len);
}

static int put_cstr(sg_buf *b, const char *s)
{
    return put_json_str(b, s, strlen(s));
}

int sgi_message_prompt_text(const sgi_message *msg, sg_buf *out)
{
    char line[128];
    size_t i;
    int n;

    if (msg->text.len > 0 &&
        sg_buf_append(out, msg->text.ptr, msg->text.len) != 0)
        return SG_ENOMEM;
    for (i = 0; i < msg->nattachments; i++) {
        const sg_attachment *a = &msg->attachments[i];
        const char *nl = out->len > 0 ? "\n" : "";

        if (sg_buf_append(out, nl, strlen(nl)) != 0 ||
            sg_buf_append(out, "[attachment: ", 13) != 0 ||
            (a->filename.len > 0 &&
             sg_buf_append(out, a->filename.ptr,
                           a->filename.len > 200 ? 200 : a->filename.len)
                 != 0))
            return SG_ENOMEM;
        n = snprintf(line, sizeof line, " (%.*s, %zu bytes)]",
                     (int)(a->mimetype.len > 64 ? 64 : a->mimetype.len),
                     a->mimetype.len > 0 ? a->mimetype.ptr : "",
                     a->data.len);
        if (n < 0 || (size_t)n >= sizeof line)
            return SG_EINVAL;
        if (sg_buf_append(out, line, (size_t)n) != 0)
            return SG_ENOMEM;
    }
    return 0;
}

/*
 * A record's "ts": seconds, finite and >= 0. Written in the fewest
 * decimals (up to 9) that read back as exactly v, the digits made from
 * integers: printf's formatting of a double, tried at 15, 16 and then 17
 * digits as libsg's sg__json_put_number() does, was the largest cost of
 * a record. Anything else (a fraction that needs more decimals, a time
 * of 2^52 s or more) goes through sg__json_put_number().
 */
static int put_seconds(sg_buf *out, double v)
{
    char num[48];
    double frac, ulp, next, scaled, off;
    unsigned long long w, f, scale = 1;
    uint64_t bits;
    size_t n = 0, i;
    int d;

    if (!(v >= 0 && v < 4503599627370496.0))
        return sg__json_put_number(out, v);
    /* Without libm (fuzz/fuzz_history.c links none): the whole seconds
       by conversion (v >= 0), the next double up by its bits. */
    w = (unsigned long long)v;
    frac = v - (double)w;       /* exact */
    memcpy(&bits, &v, sizeof bits);
    bits++;
    memcpy(&next, &bits, sizeof next);
    ulp = next - v;
    do {
        num[n++] = (char)('0' + w % 10);
        w /= 10;
    } while (w > 0);
    for (i = 0; i < n / 2; i++) {
        char c = num[i];

        num[i] = num[n - 1 - i];
        num[n - 1 - i] = c;
    }
    if (frac == 0)
        return sg_buf_append(out, num, n) != 0 ? SG_ENOMEM : 0;
    for (d = 1; d <= 9; d++) {
        scale *= 10;
        scaled = frac * (double)scale;
        f = (unsigned long long)(scaled + 0.5);
        off = scaled - (double)f;
        /* d decimals can only do when they are within half an ulp of v
           (a little more here, as scaled is rounded); strtod() decides. */
        if (f >= scale || off > 0.6 * ulp * (double)scale ||
            -off > 0.6 * ulp * (double)scale)
            continue;
        num[n] = '.';
        for (i = (size_t)d; i > 0; i--) {
            num[n + i] = (char)('0' + f % 10);
            f /= 10;
        }
        num[n + 1 + (size_t)d] = '\0';
        if (strtod(num, NULL) == v)
            return sg_buf_append(out, num, n + 1 + (size_t)d) != 0
                       ? SG_ENOMEM : 0;
    }
    return sg__json_put_number(out, v);
}

int sgi_history_record(sg_buf *out, const char *role, sg_str user_id,
                       sg_str user_name, sg_str content, sg_str message_id,
                       double ts)
{
    size_t start = out->len;
    int rc;

    if (!isfinite(ts) || ts < 0)
        ts = 0;
    rc = put_lit(out, "{\"role\":");
    if (rc == 0) rc = put_cstr(out, role);
    if (rc == 0) rc = put_lit(out, ",\"content\":");
    if (rc == 0) rc = put_str(out, content);
    if (rc == 0) rc = put_lit(out, ",\"user_id\":");
    if (rc == 0) rc = put_str(out, user_id);
    if (rc == 0) rc = put_lit(out, ",\"user_name\":");
    if (rc == 0) rc = put_str(out, user_name);
    if (rc == 0) rc = put_lit(out, ",\"message_id\":");
    if (rc == 0) rc = put_str(out, message_id);
    if (rc == 0) rc = put_lit(out, ",\"ts\":");
    if (rc == 0) rc = put_seconds(out, ts);
    if (rc == 0) rc = put_lit(out, "}");
    if (rc == 0) rc = sg__json_terminate(out);
    if (rc != 0)
        out->len = start;
    return rc;
}

static sg_str json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    sg_str s = {"", 0};

    if (cJSON_IsString(v)) {
        s.ptr = v->valuestring;
        s.len = strlen(v->valuestring);
    }
    return s;
}

int sgi_history_record_from_rpc(sg_buf *out, const cJSON *m)
{
    const cJSON *ts, *bot;

    if (!cJSON_IsObject(m) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "text")))
        return SG_EINVAL;
    ts = cJSON_GetObjectItemCaseSensitive(m, "timestamp");
    bot = cJSON_GetObjectItemCaseSensitive(m, "is_bot");
    return sgi_history_record(out, cJSON_IsTrue(bot) ? "assistant" : "user",
                              json_str(m, "user_id"),
                              json_str(m, "user_name"), json_str(m, "text"),
                              json_str(m, "message_id"),
                              cJSON_IsNumber(ts) ? ts->valuedouble : 0);
}

size_t sgi_prompt_name(sg_str display, char *out, size_t cap)
{
    size_t i, n = 0, good = 0;

    if (cap == 0)
        return 0;
    for (i = 0; i < display.len && n < 64 && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)display.ptr[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-';

        if (c >= 0x80 && (c & 0xc0) == 0x80)
            continue;           /* one '_' per UTF-8 character */
        out[n++] = ok ? (char)c : '_';
        good += ok;
    }
    if (good == 0)
        n = 0;
    out[n] = '\0';
    return n;
}

/* Writes ,"name":"<name>" for a display name that gives one. */
static int put_name(sg_buf *b, sg_str display)
{
    char name[72];
    size_t n = sgi_prompt_name(display, name, sizeof name);
    int rc;

    if (n == 0)
        return 0;
    rc = put_lit(b, ",\"name\":");
    if (rc == 0)
        rc = put_json_str(b, name, n);
    return rc;
}

/*
 * History records are read without building a tree: each is scanned once,
 * and the content's JSON string goes into the request as it is (it is
 * already JSON), after it was checked. A record is usable when it is a
 * JSON object whose "role" is "user" or "assistant" and whose "content"
 * is a string (the first of each name counts, as with a parser).
 */

/* A JSON string as it is written, between its quotes. */
typedef struct lit {
    const char *p;
    size_t n;
} lit;

/*
 * The JSON string at p (on its opening quote): checks its escapes (a
 * surrogate only in a pair), that no control character is raw, and that
 * its bytes are UTF-8; *out its inside, *dlen its decoded length. The
 * end of the string, or NULL when it is not one.
 */
static const char *scan_str(const char *p, const char *e, lit *out,
                            size_t *dlen)
{
    const char *start;
    size_t d = 0;
    int high = 0;

    if (p >= e || *p != '"')
        return NULL;
    start = ++p;
    while (p < e && *p != '"') {
        unsigned char c = (unsigned char)*p;
        const char *q;

        if (c < 0x20)
            return NULL;
        if (c != '\\') {
            if (high)
                return NULL;
            /* The run of bytes up to the next quote, backslash or
               control character at once (a string is mostly that). */
            for (q = p + 1; q < e; q++) {
                c = (unsigned char)*q;
                if (c < 0x20 || c == '"' || c == '\\')
                    break;
            }
            d += (size_t)(q - p);
            p = q;
            continue;
        }
        if (++p >= e)
            return NULL;
        if (*p == 'u') {
            unsigned v;

            if (sgi_json_hex4(p + 1, e, &v) != 0)
                return NULL;
            p += 5;
            if (v >= 0xDC00 && v <= 0xDFFF) {
                if (!high)
                    return NULL;
                high = 0;
                d += 1;         /* 3 + 1: a pair makes 4 bytes */
                continue;
            }
            if (high)
                return NULL;
            if (v >= 0xD800 && v <= 0xDBFF) {
                high = 1;
                d += 3;
            } else {
                d += v < 0x80 ? 1 : v < 0x800 ? 2 : 3;
            }
            continue;
        }
        /* strchr() finds the terminator too: a NUL is no escape. */
        if (high || *p == '\0' || strchr("\"\\/bfnrt", *p) == NULL)
            return NULL;
        p++;
        d++;
    }
    if (p >= e || high)
        return NULL;
    out->p = start;
    out->n = (size_t)(p - start);
    if (!sg__utf8_valid((const uint8_t *)out->p, out->n))
        return NULL;
    *dlen = d;
    return p + 1;
}

/* Skips one JSON value of any type; NULL when there is none. */
static const char *skip_value(const char *p, const char *e, int depth)
{
    lit l;
    size_t d;

    p = sgi_json_ws(p, e);
    if (p >= e)
        return NULL;
    if (*p == '"')
        return scan_str(p, e, &l, &d);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';

        if (depth <= 0)
            return NULL;
        p = sgi_json_ws(p + 1, e);
        if (p < e && *p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = scan_str(sgi_json_ws(p, e), e, &l, &d);
                if (p == NULL)
                    return NULL;
                p = sgi_json_ws(p, e);
                if (p >= e || *p != ':')
                    return NULL;
                p++;
            }
            p = skip_value(p, e, depth - 1);
            if (p == NULL)
                return NULL;
            p = sgi_json_ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            if (p < e && *p == close)
                return p + 1;
            return NULL;
        }
    }
    if ((size_t)(e - p) >= 4 && (memcmp(p, "true", 4) == 0 ||
                                 memcmp(p, "null", 4) == 0))
        return p + 4;
    if ((size_t)(e - p) >= 5 && memcmp(p, "false", 5) == 0)
        return p + 5;
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        const char *q = p;

        while (q < e && ((*q >= '0' && *q <= '9') || *q == '.' ||
                         *q == 'e' || *q == 'E' || *q == '+' || *q == '-'))
            q++;
        return q;
    }
    return NULL;
}

/* Decodes a checked JSON string into out (cap bytes, cut there); the
   number of bytes written. */
static size_t lit_decode(lit l, char *out, size_t cap)
{
    const char *p = l.p, *e = l.p + l.n;
    size_t n = 0;

    while (p < e && n + 4 <= cap) {
        unsigned v = 0;

        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        p++;
        if (*p != 'u') {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";

            out[n++] = to[strchr(from, *p) - from];
            p++;
            continue;
        }
        (void)sgi_json_hex4(p + 1, e, &v);
        p += 5;
        if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned lo = 0;

            (void)sgi_json_hex4(p + 2, e, &lo);
            p += 6;
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (v < 0x80) {
            out[n++] = (char)v;
        } else if (v < 0x800) {
            out[n++] = (char)(0xC0 | (v >> 6));
            out[n++] = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            out[n++] = (char)(0xE0 | (v >> 12));
            out[n++] = (char)(0x80 | ((v >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (v & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | (v >> 18));
            out[n++] = (char)(0x80 | ((v >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((v >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (v & 0x3F));
        }
    }
    return n;
}

typedef struct record {
    int usable;
    int user;                   /* role user, else assistant */
    lit content;
    size_t content_len;         /* decoded */
    int has_name;
    lit name;                   /* user_name, when a string */
} record;

/* The bytes lit at p, else NULL; after them otherwise. */
#define EXPECT(p, e, lit)                                                  \
    ((p) != NULL && (size_t)((e) - (p)) >= sizeof(lit) - 1 &&             \
             memcmp((p), (lit), sizeof(lit) - 1) == 0                      \
         ? (p) + sizeof(lit) - 1                                           \
         : NULL)

/*
 * A record as sgi_history_record() writes it: the keys in its order,
 * no white space. Read with its fixed parts compared whole; 1 when it
 * is one (*r filled as read_record() fills it), 0 when it is not (*r
 * then means nothing): almost every record of a list is ours, and its
 * keys need no scanning then.
 */
static int read_own_record(const char *p, const char *e, record *r)
{
    lit l;
    size_t d;
    const char *q;

    if ((q = EXPECT(p, e, "{\"role\":\"user\",\"content\":")) != NULL)
        r->user = 1;
    else if ((q = EXPECT(p, e, "{\"role\":\"assistant\",\"content\":")) ==
             NULL)
        return 0;
    p = scan_str(q, e, &r->content, &r->content_len);
    p = EXPECT(p, e, ",\"user_id\":");
    if (p == NULL || (p = scan_str(p, e, &l, &d)) == NULL)
        return 0;
    p = EXPECT(p, e, ",\"user_name\":");
    if (p == NULL || (p = scan_str(p, e, &r->name, &d)) == NULL)
        return 0;
    r->has_name = 1;
    p = EXPECT(p, e, ",\"message_id\":");
    if (p == NULL || (p = scan_str(p, e, &l, &d)) == NULL)
        return 0;
    p = EXPECT(p, e, ",\"ts\":");
    /* Any value, as the general reading takes one. */
    if (p == NULL || (p = skip_value(p, e, 4)) == NULL)
        return 0;
    p = EXPECT(p, e, "}");
    if (p == NULL || p != e)
        return 0;
    r->usable = 1;
    return 1;
}

/* Reads one history record; r->usable says whether it can be used. */
static void read_record(const char *rec, size_t len, record *r)
{
    const char *p, *e;
    int have_role = 0, have_content = 0, have_name = 0;

    memset(r, 0, sizeof *r);
    if (rec == NULL || len == 0 || len > SGI_HISTORY_RECORD_MAX)
        return;
    e = rec + len;
    if (read_own_record(rec, e, r))
        return;
    memset(r, 0, sizeof *r);
    p = sgi_json_ws(rec, e);
    if (p >= e || *p != '{')
        return;
    p = sgi_json_ws(p + 1, e);
    if (p < e && *p == '}') {
        p++;
    } else {
        for (;;) {
            lit key, v;
            size_t d;

            p = scan_str(sgi_json_ws(p, e), e, &key, &d);
            if (p == NULL)
                return;
            p = sgi_json_ws(p, e);
            if (p >= e || *p != ':')
                return;
            p = sgi_json_ws(p + 1, e);
#define KEY_IS(k) (key.n == sizeof k - 1 && memcmp(key.p, k, key.n) == 0)
            if (KEY_IS("role") && !have_role) {
                char buf[16];
                size_t n;

                have_role = 1;
                if (p >= e || *p != '"')
                    return;     /* not a string: unusable */
                if ((p = scan_str(p, e, &v, &d)) == NULL)
                    return;
                n = lit_decode(v, buf, sizeof buf);
                if (n == 4 && d == 4 && memcmp(buf, "user", 4) == 0)
                    r->user = 1;
                else if (!(n == 9 && d == 9 &&
                           memcmp(buf, "assistant", 9) == 0))
                    return;
            } else if (KEY_IS("content") && !have_content) {
                have_content = 1;
                if (p >= e || *p != '"')
                    return;
                if ((p = scan_str(p, e, &r->content, &r->content_len)) ==
                    NULL)
                    return;
            } else if (KEY_IS("user_name") && !have_name) {
                have_name = 1;
                if (p < e && *p == '"') {
                    if ((p = scan_str(p, e, &r->name, &d)) == NULL)
                        return;
                    r->has_name = 1;
                } else if ((p = skip_value(p, e, 4)) == NULL) {
                    return;
                }
            } else if ((p = skip_value(p, e, 4)) == NULL) {
                return;
            }
#undef KEY_IS
            p = sgi_json_ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            if (p < e && *p == '}') {
                p++;
                break;
            }
            return;
        }
    }
    if (sgi_json_ws(p, e) != e || !have_role || !have_content)
        return;
    r->usable = 1;
}

/*
 * The body's end, "}],\"temperature\":...}": the numbers are formatted
 * once per configuration, not per request (the formatting of doubles is
 * a good part of a body's cost). One cache per process; the worker is
 * single-threaded.
 */
static int put_sampling(sg_buf *out, const sgi_config *cfg)
{
    static struct {
        int set;
        double temperature, top_p;
        long long max_tokens;
        sg_buf text;
    } cache;
    int rc;

    if (!cache.set || cache.temperature != cfg->temperature ||
        cache.top_p != cfg->top_p ||
        cache.max_tokens != (long long)cfg->max_tokens) {
        if (!cache.set)
            sg_buf_init(&cache.text, NULL);
        cache.set = 0;
        sg_buf_reset(&cache.text);
        rc = put_raw(&cache.text, "}],\"temperature\":");
        if (rc == 0) rc = sg__json_put_number(&cache.text, cfg->temperature);
        if (rc == 0) rc = put_raw(&cache.text, ",\"top_p\":");
        if (rc == 0) rc = sg__json_put_number(&cache.text, cfg->top_p);
        if (rc == 0) rc = put_raw(&cache.text, ",\"max_tokens\":");
        if (rc == 0)
            rc = sg__json_put_number(&cache.text, (double)cfg->max_tokens);
        if (rc == 0) rc = put_raw(&cache.text, "}");
        if (rc != 0) {
            sg_buf_destroy(&cache.text);
            return rc;
        }
        cache.set = 1;
        cache.temperature = cfg->temperature;
        cache.top_p = cfg->top_p;
        cache.max_tokens = (long long)cfg->max_tokens;
    }
    return sg_buf_append(out, cache.text.data, cache.text.len) != 0
               ? SG_ENOMEM : 0;
}

/* A copy of s (malloc), or NULL. (No strdup(): fuzz/fuzz_history.c
   includes this file after its own includes, without POSIX.) */
static char *dup_cstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/*
 * The body's start, "{\"model\":...,\"messages\":[{\"role\":\"system\",...}":
 * the same for every request of a configuration, so escaped once and
 * copied after (the system prompt may be 64 KiB). The cache holds the
 * model and prompt it was made from and is remade when they change. One
 * cache per process, as put_sampling()'s.
 */
static int put_head(sg_buf *out, const sgi_config *cfg)
{
    static struct {
        int set;
        char *model, *prompt;
        sg_buf text;
    } cache;
    const char *prompt = cfg->system_prompt != NULL ? cfg->system_prompt
                                                    : "";
    int rc;

    if (!cache.set || strcmp(cache.model, cfg->model) != 0 ||
        strcmp(cache.prompt, prompt) != 0) {
        if (!cache.set)
            sg_buf_init(&cache.text, NULL);
        cache.set = 0;
        free(cache.model);
        free(cache.prompt);
        cache.model = dup_cstr(cfg->model);
        cache.prompt = dup_cstr(prompt);
        sg_buf_reset(&cache.text);
        rc = cache.model != NULL && cache.prompt != NULL ? 0 : SG_ENOMEM;
        if (rc == 0) rc = put_lit(&cache.text, "{\"model\":");
        if (rc == 0) rc = put_cstr(&cache.text, cfg->model);
        if (rc == 0) rc = put_lit(&cache.text, ",\"messages\":[{\"role\":"
                                               "\"system\",\"content\":");
        if (rc == 0) rc = put_cstr(&cache.text, prompt);
        if (rc == 0) rc = put_lit(&cache.text, "}");
        if (rc != 0) {
            free(cache.model);
            free(cache.prompt);
            cache.model = cache.prompt = NULL;
            sg_buf_destroy(&cache.text);
            return rc;
        }
        cache.set = 1;
    }
    return sg_buf_append(out, cache.text.data, cache.text.len) != 0
               ? SG_ENOMEM : 0;
}

int sgi_prompt_body(sg_buf *out, const sgi_config *cfg,
                    const char *const *recs, const size_t *lens, size_t n,
                    sg_str current, sg_str current_name)
{
    size_t start = out->len, first, used, i;
    record small[32], *rs = small;
    int rc;

    /* Each record read once: rs[i]. */
    if (n > 32 && (rs = malloc(n * sizeof *rs)) == NULL)
        return SG_ENOMEM;
    /* Keep the newest records whose content fits the budget. */
    first = n;
    used = 0;
    while (first > 0) {
        record *r = &rs[first - 1];

        read_record(recs[first - 1], lens[first - 1], r);
        if (r->usable) {
            if (used + r->content_len > SGI_HISTORY_BUDGET)
                break;
            used += r->content_len;
        }
        first--;
    }

    rc = put_head(out, cfg);
    for (i = first; rc == 0 && i < n; i++) {
        const record *r = &rs[i];

        if (!r->usable)
            continue;
        rc = r->user ? put_lit(out, ",{\"role\":\"user\",\"content\":\"")
                     : put_lit(out, ",{\"role\":\"assistant\",\"content\":"
                                    "\"");
        /* Checked JSON: in as it is. */
        if (rc == 0 && sg_buf_append(out, r->content.p, r->content.n) != 0)
            rc = SG_ENOMEM;
        if (rc == 0) rc = put_lit(out, "\"");
        if (rc == 0 && r->user && r->has_name) {
            char name[320];
            sg_str display;

            display.ptr = name;
            display.len = lit_decode(r->name, name, sizeof name);
            rc = put_name(out, display);
        }
        if (rc == 0) rc = put_lit(out, "}");
    }
    if (rs != small)
        free(rs);
    if (rc == 0) rc = put_lit(out, ",{\"role\":\"user\",\"content\":");
    if (rc == 0) rc = put_str(out, current);
    if (rc == 0) rc = put_name(out, current_name);
    if (rc == 0) rc = put_sampling(out, cfg);
    if (rc == 0) rc = sg__json_terminate(out);
    if (rc != 0)
        out->len = start;
    return rc;
}
