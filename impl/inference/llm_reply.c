/*
 * llm_reply.c: see llm_reply.h. Self-contained apart from libsg's bounded
 * JSON front end and UTF-8 check, so that fuzz/fuzz_llm_reply.c can
 * include it directly.
 */
#include "llm_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../libsg/json_text.h"
#include "../libsg/utf8.h"
#include "json_scan.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errcap > 0) {
        va_start(ap, fmt);
        if (vsnprintf(err, errcap, fmt, ap) < 0)
            err[0] = '\0';
        va_end(ap);
    }
    return -1;
}

static const char *json_type_name(const cJSON *j)
{
    if (j == NULL)
        return "missing";
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a bool";
    if (cJSON_IsNull(j))
        return "null";
    return "invalid";
}

/* An error object's message, for a clearer failure; NULL when none. */
static const char *error_message(const cJSON *root)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m;

    if (cJSON_IsString(e))
        return e->valuestring;
    m = cJSON_GetObjectItemCaseSensitive(e, "message");
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

static int set_content(sgi_llm_reply *out, const char *s, size_t n,
                       char *err, size_t errcap)
{
    out->content = malloc(n + 1);
    if (out->content == NULL)
        return fail(err, errcap, "out of memory reading the reply");
    memcpy(out->content, s, n);
    out->content[n] = '\0';
    out->content_len = n;
    return 0;
}

/* ---- the usual answer, read without a tree ----------------------------- */

/*
 * The common answer (choices[0].message.content a string, no tool
 * calls) is read in one strict pass over the body that notes where the
 * few members used are, with no tree built: cJSON makes one allocation
 * per value and key, most of a reply's cost. The pass takes only what
 * cJSON reads the same way (strict JSON: cJSON also takes other bytes as
 * white space, a leading BOM, a lone surrogate never; no escaped key,
 * which cJSON compares decoded; numbers short enough for its buffer) and
 * answers only a usable reply; anything else, errors included, goes to
 * the tree reading below, which names the field. As there, a member
 * counts at its first occurrence. fuzz/fuzz_llm_reply.c checks that both
 * readings give the same.
 */

enum { AT_NONE, AT_ROOT, AT_CHOICES, AT_C0, AT_MESSAGE };

typedef struct fast {
    const char *e;              /* the body's end */
    const char *choices, *c0, *message, *content, *finish, *tools;
    int root_object;
} fast;

/* The string at p (its opening quote): its end, or NULL when it is not
   one strict JSON reads (a surrogate only in a pair, as cJSON wants);
   *esc: it holds an escape. */
static const char *fast_str(const char *p, const char *e, int *esc)
{
    *esc = 0;
    if (p >= e || *p != '"')
        return NULL;
    for (p++; p < e && *p != '"'; p++) {
        unsigned v, lo;

        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p != '\\')
            continue;
        *esc = 1;
        if (++p >= e)
            return NULL;
        if (*p != 'u') {
            if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0')
                return NULL;
            continue;
        }
        if (sgi_json_hex4(p + 1, e, &v) != 0)
            return NULL;
        p += 4;
        if (v >= 0xDC00 && v <= 0xDFFF)
            return NULL;
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (e - p < 7 || p[1] != '\\' || p[2] != 'u' ||
                sgi_json_hex4(p + 3, e, &lo) != 0 || lo < 0xDC00 ||
                lo > 0xDFFF)
                return NULL;
            p += 6;
        }
    }
    return p < e ? p + 1 : NULL;
}

/* A strict JSON number of at most 32 bytes (cJSON copies at most 63 into
   its buffer). */
static const char *fast_num(const char *p, const char *e)
{
    const char *start = p;

    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (p < e && *p == '.') {
        if (++p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    return p - start <= 32 ? p : NULL;
}

#define FAST_KEY(k, n, lit) \
    ((n) == sizeof(lit) - 1 && memcmp((k), (lit), (n)) == 0)

/* One value at p (after white space); `at` says where it is. Its end,
   or NULL: not read here. */
static const char *fast_value(fast *f, const char *p, int at, int depth)
{
    const char *e = f->e;
    int esc;

    if (p >= e)
        return NULL;
    if (*p == '"')
        return fast_str(p, e, &esc);
    if (*p == '{') {
        if (depth >= SGI_LLM_REPLY_MAX_DEPTH)
            return NULL;
        if (at == AT_ROOT)
            f->root_object = 1;
        p = sgi_json_ws(p + 1, e);
        if (p < e && *p == '}')
            return p + 1;
        for (;;) {
            const char *k = p + 1, *v;
            size_t n;
            int sub = AT_NONE;

            if ((p = fast_str(p, e, &esc)) == NULL || esc)
                return NULL;
            n = (size_t)(p - 1 - k);
            p = sgi_json_ws(p, e);
            if (p >= e || *p != ':')
                return NULL;
            v = sgi_json_ws(p + 1, e);
            if (at == AT_ROOT && FAST_KEY(k, n, "choices") &&
                f->choices == NULL) {
                f->choices = v;
                sub = AT_CHOICES;
            } else if (at == AT_C0 && FAST_KEY(k, n, "message") &&
                       f->message == NULL) {
                f->message = v;
                sub = AT_MESSAGE;
            } else if (at == AT_C0 && FAST_KEY(k, n, "finish_reason") &&
                       f->finish == NULL) {
                f->finish = v;
            } else if (at == AT_MESSAGE && FAST_KEY(k, n, "content") &&
                       f->content == NULL) {
                f->content = v;
            } else if (at == AT_MESSAGE && FAST_KEY(k, n, "tool_calls") &&
                       f->tools == NULL) {
                f->tools = v;
            }
            if ((p = fast_value(f, v, sub, depth + 1)) == NULL)
                return NULL;
            p = sgi_json_ws(p, e);
            if (p < e && *p == ',') {
                p = sgi_json_ws(p + 1, e);
                continue;
            }
            return p < e && *p == '}' ? p + 1 : NULL;
        }
    }
    if (*p == '[') {
        int first = 1;

        if (depth >= SGI_LLM_REPLY_MAX_DEPTH)
            return NULL;
        p = sgi_json_ws(p + 1, e);
        if (p < e && *p == ']')
            return p + 1;
        for (;;) {
            int sub = AT_NONE;

            if (at == AT_CHOICES && first) {
                f->c0 = p;
                sub = AT_C0;
            }
            first = 0;
            if ((p = fast_value(f, p, sub, depth + 1)) == NULL)
                return NULL;
            p = sgi_json_ws(p, e);
            if (p < e && *p == ',') {
                p = sgi_json_ws(p + 1, e);
                continue;
            }
            return p < e && *p == ']' ? p + 1 : NULL;
        }
    }
    if ((size_t)(e - p) >= 4 && (memcmp(p, "true", 4) == 0 ||
                                 memcmp(p, "null", 4) == 0))
        return p + 4;
    if ((size_t)(e - p) >= 5 && memcmp(p, "false", 5) == 0)
        return p + 5;
    return fast_num(p, e);
}

/* Decodes the checked string at p (its opening quote) into a new
   NUL-terminated buffer; *n its length. NULL: no memory. */
static char *fast_decode(const char *p, size_t *n)
{
    const char *q = p + 1;
    size_t len = 0, k;
    char *out;

    while (q[len] != '"')
        len += q[len] == '\\' ? 2 : 1;
    if ((out = malloc(len + 1)) == NULL)
        return NULL;
    for (k = 0; *q != '"';) {
        unsigned v = 0, lo = 0xDC00;

        if (*q != '\\') {
            out[k++] = *q++;
            continue;
        }
        q++;
        if (*q != 'u') {
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";

            out[k++] = to[strchr(from, *q) - from];
            q++;
            continue;
        }
        (void)sgi_json_hex4(q + 1, q + 5, &v);
        q += 5;
        if (v >= 0xD800 && v <= 0xDBFF) {
            (void)sgi_json_hex4(q + 2, q + 6, &lo);
            q += 6;
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (v < 0x80) {
            out[k++] = (char)v;
        } else if (v < 0x800) {
            out[k++] = (char)(0xC0 | (v >> 6));
            out[k++] = (char)(0x80 | (v & 0x3F));
        } else if (v < 0x10000) {
            out[k++] = (char)(0xE0 | (v >> 12));
            out[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (v & 0x3F));
        } else {
            out[k++] = (char)(0xF0 | (v >> 18));
            out[k++] = (char)(0x80 | ((v >> 12) & 0x3F));
            out[k++] = (char)(0x80 | ((v >> 6) & 0x3F));
            out[k++] = (char)(0x80 | (v & 0x3F));
        }
    }
    out[k] = '\0';
    *n = k;
    return out;
}

/* 1 and *out filled (as the tree reading would), or 0: not read here. */
static int reply_fast(const char *body, size_t len, sgi_llm_reply *out)
{
    fast f;
    const char *p;
    char *content;
    size_t n;
    int esc;

    memset(&f, 0, sizeof f);
    f.e = body + len;
    p = fast_value(&f, sgi_json_ws(body, f.e), AT_ROOT, 0);
    if (p == NULL || sgi_json_ws(p, f.e) != f.e || !f.root_object ||
        f.choices == NULL || *f.choices != '[' || f.c0 == NULL ||
        *f.c0 != '{' || f.message == NULL || *f.message != '{' ||
        f.content == NULL || *f.content != '"' || f.content[1] == '"' ||
        (f.tools != NULL && *f.tools != 'n'))
        return 0;
    if ((content = fast_decode(f.content, &n)) == NULL)
        return 0;
    if (strlen(content) != n || n > SGI_LLM_REPLY_MAX_TEXT ||
        !sg__utf8_valid((const uint8_t *)content, n)) {
        free(content);
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->content = content;
    out->content_len = n;
    if (f.finish != NULL && *f.finish == '"' &&
        (p = fast_str(f.finish, f.e, &esc)) != NULL && !esc &&
        (size_t)(p - f.finish - 2) < sizeof out->finish_reason) {
        memcpy(out->finish_reason, f.finish + 1, (size_t)(p - f.finish - 2));
        out->finish_reason[p - f.finish - 2] = '\0';
    } else if (f.finish != NULL && *f.finish == '"' && esc) {
        free(content);
        memset(out, 0, sizeof *out);
        return 0;
    }
    return 1;
}

/* ---- the tree reading --------------------------------------------------- */

static int reply_tree(const char *body, size_t len, size_t max_bytes,
                      sgi_llm_reply *out, char *err, size_t errcap);

int sgi_llm_reply_parse(const char *body, size_t len, size_t max_bytes,
                        sgi_llm_reply *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (max_bytes == 0)
        max_bytes = SGI_LLM_REPLY_MAX_BYTES;
    if (body != NULL && len <= max_bytes && memchr(body, '\0', len) == NULL &&
        reply_fast(body, len, out))
        return 0;
    return reply_tree(body, len, max_bytes, out, err, errcap);
}

static int reply_tree(const char *body, size_t len, size_t max_bytes,
                      sgi_llm_reply *out, char *err, size_t errcap)
{
    const cJSON *choices, *c0, *msg, *content, *tools, *fin;
    cJSON *root = NULL;
    sg_error jerr;
    size_t n;
    int rc;

    memset(out, 0, sizeof *out);
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (max_bytes == 0)
        max_bytes = SGI_LLM_REPLY_MAX_BYTES;
    if (body == NULL)
        return fail(err, errcap, "response: no body");
    if (len > max_bytes)
        return fail(err, errcap, "response: %zu bytes, over the limit of %zu",
                    len, max_bytes);
    if (sg__json_parse(body, len, max_bytes, SGI_LLM_REPLY_MAX_DEPTH,
                       "response", &root, &jerr) != 0)
        return fail(err, errcap, "response: not usable JSON (%s: %s)",
                    sg_reason_name(jerr.reason), jerr.msg);
    rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(err, errcap, "response: %s, not an object",
             json_type_name(root));
        goto out;
    }
    choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    if (choices == NULL && error_message(root) != NULL) {
        fail(err, errcap, "response: error object: %.200s",
             error_message(root));
        goto out;
    }
    if (!cJSON_IsArray(choices)) {
        fail(err, errcap, "choices: %s, not an array",
             json_type_name(choices));
        goto out;
    }
    c0 = cJSON_GetArrayItem(choices, 0);
    if (c0 == NULL) {
        fail(err, errcap, "choices: empty array");
        goto out;
    }
    if (!cJSON_IsObject(c0)) {
        fail(err, errcap, "choices[0]: %s, not an object",
             json_type_name(c0));
        goto out;
    }
    fin = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (cJSON_IsString(fin) && strlen(fin->valuestring) <
                                   sizeof out->finish_reason)
        memcpy(out->finish_reason, fin->valuestring,
               strlen(fin->valuestring) + 1);
    msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!cJSON_IsObject(msg)) {
        fail(err, errcap, "choices[0].message: %s, not an object",
             json_type_name(msg));
        goto out;
    }
    tools = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (cJSON_IsArray(tools))
        out->tool_calls = cJSON_GetArraySize(tools);
    else if (tools != NULL && !cJSON_IsNull(tools)) {
        fail(err, errcap, "choices[0].message.tool_calls: %s, not an array",
             json_type_name(tools));
        goto out;
    }
    content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content) && content->valuestring[0] != '\0') {
        n = strlen(content->valuestring);
        if (n > SGI_LLM_REPLY_MAX_TEXT) {
            fail(err, errcap,
                 "choices[0].message.content: %zu bytes, over the limit "
                 "of %zu", n, SGI_LLM_REPLY_MAX_TEXT);
            goto out;
        }
        if (!sg__utf8_valid((const uint8_t *)content->valuestring, n)) {
            fail(err, errcap, "choices[0].message.content: not UTF-8");
            goto out;
        }
        rc = set_content(out, content->valuestring, n, err, errcap);
        goto out;
    }
    if (out->tool_calls > 0 && (content == NULL || cJSON_IsNull(content) ||
                                cJSON_IsString(content))) {
        rc = set_content(out, SGI_LLM_TOOLS_UNAVAILABLE,
                         strlen(SGI_LLM_TOOLS_UNAVAILABLE), err, errcap);
        if (rc == 0)
            out->tools_fallback = 1;
        goto out;
    }
    if (cJSON_IsString(content))
        fail(err, errcap, "choices[0].message.content: empty string");
    else
        fail(err, errcap, "choices[0].message.content: %s, not a string",
             json_type_name(content));
out:
    cJSON_Delete(root);
    if (rc != 0) {
        free(out->content);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void sgi_llm_reply_clear(sgi_llm_reply *r)
{
    if (r == NULL)
        return;
    free(r->content);
    memset(r, 0, sizeof *r);
}
