/*
 * json_read.c: an envelope from JSON (sg/json.h).
 *
 * cJSON parses and so checks the syntax; the tree is then written out as
 * the msgpack map it stands for (through msgpack-c's packer) and that map
 * goes through the ordinary decoder, so JSON input is checked with exactly
 * the reasons, paths and limits of msgpack input. cJSON keeps numbers as
 * doubles and strings NUL-terminated, which would round integers above
 * 2^53 and cut strings at an escaped NUL; so scalars are taken from the
 * text itself, by a scanner that walks the tokens in step with the tree
 * (cJSON keeps members in document order).
 */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <msgpack.h>

#include "sg/json.h"
#include "base64.h"
#include "decode_internal.h"

/* The JSON text and the scanner's position in it. */
typedef struct jr {
    const char *s;
    size_t len;
    size_t pos;
    msgpack_packer pk;
    sg_buf *out;
    int oom;
    bool bad;                   /* the text did not scan as cJSON read it */
} jr;

static int
buf_write(void *data, const char *bytes, size_t n)
{
    return sg_buf_append(data, bytes, n) == 0 ? 0 : -1;
}

/* Skips whitespace and the punctuation between values. */
static void
skip_glue(jr *r)
{
    while (r->pos < r->len) {
        char c = r->s[r->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ','
            && c != ':' && c != '[' && c != ']' && c != '{' && c != '}')
            break;
        r->pos++;
    }
}

/* The span of the next number token. */
static void
number_token(jr *r, size_t *start, size_t *end)
{
    skip_glue(r);
    *start = r->pos;
    while (r->pos < r->len) {
        char c = r->s[r->pos];

        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.'
              || c == 'e' || c == 'E'))
            break;
        r->pos++;
    }
    *end = r->pos;
    if (*end == *start)
        r->bad = true;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p as a code unit, or -1. */
static long
hex4(const char *p)
{
    long v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        int h = hexval(p[i]);

        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/*
 * Decodes the next string token into tmp (room for its length: decoding
 * never makes a string longer) and returns its decoded length. cJSON has
 * accepted the text, but its checks of escapes are not to be relied on
 * (1.7.15 lets "\u00>" through), so every escape is checked here and a
 * bad one sets r->bad.
 */
static size_t
string_token(jr *r, char *tmp)
{
    size_t n = 0;

    skip_glue(r);
    if (r->pos >= r->len || r->s[r->pos] != '"') {
        r->bad = true;
        return 0;
    }
    r->pos++;
    while (r->pos < r->len && r->s[r->pos] != '"') {
        unsigned char c = (unsigned char)r->s[r->pos++];
        long cp, lo;

        if (c < 0x20) {
            r->bad = true;
            return 0;
        }
        if (c != '\\') {
            tmp[n++] = (char)c;
            continue;
        }
        if (r->pos >= r->len) {
            r->bad = true;
            return 0;
        }
        c = (unsigned char)r->s[r->pos++];
        switch (c) {
        case 'b': tmp[n++] = '\b'; break;
        case 'f': tmp[n++] = '\f'; break;
        case 'n': tmp[n++] = '\n'; break;
        case 'r': tmp[n++] = '\r'; break;
        case 't': tmp[n++] = '\t'; break;
        case '"': case '\\': case '/': tmp[n++] = (char)c; break;
        case 'u':
            cp = r->len - r->pos >= 4 ? hex4(r->s + r->pos) : -1;
            if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff)) {
                r->bad = true;
                return 0;
            }
            r->pos += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate must be followed by a low one. */
                lo = r->len - r->pos >= 6 && r->s[r->pos] == '\\'
                    && r->s[r->pos + 1] == 'u'
                    ? hex4(r->s + r->pos + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    r->bad = true;
                    return 0;
                }
                r->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) {
                tmp[n++] = (char)cp;
            } else if (cp < 0x800) {
                tmp[n++] = (char)(0xc0 | cp >> 6);
                tmp[n++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                tmp[n++] = (char)(0xe0 | cp >> 12);
                tmp[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
                tmp[n++] = (char)(0x80 | (cp & 0x3f));
            } else {
                tmp[n++] = (char)(0xf0 | cp >> 18);
                tmp[n++] = (char)(0x80 | (cp >> 12 & 0x3f));
                tmp[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
                tmp[n++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        default:
            r->bad = true;
            return 0;
        }
    }
    if (r->pos >= r->len) {
        r->bad = true;
        return 0;
    }
    r->pos++;                           /* the closing quote */
    return n;
}

/* Skips a literal token (true, false, null). */
static void
literal_token(jr *r)
{
    skip_glue(r);
    while (r->pos < r->len && r->s[r->pos] >= 'a' && r->s[r->pos] <= 'z')
        r->pos++;
}

/*
 * A number: an integer (no fraction or exponent) that fits int64 or
 * uint64 becomes a msgpack int, anything else float 64 (cJSON's value,
 * which it read with the locale's decimal point in mind).
 */
static void
pack_number(jr *r, const cJSON *node)
{
    size_t start, end, i;
    bool neg, integral = true;
    uint64_t v = 0;

    number_token(r, &start, &end);
    for (i = start; i < end; i++) {
        char c = r->s[i];

        if (c == '.' || c == 'e' || c == 'E')
            integral = false;
    }
    neg = start < end && r->s[start] == '-';
    if (integral) {
        for (i = start + neg; i < end; i++) {
            unsigned d = (unsigned)(r->s[i] - '0');

            if (v > (UINT64_MAX - d) / 10) {
                integral = false;
                break;
            }
            v = v * 10 + d;
        }
    }
    if (integral && !neg) {
        r->oom |= msgpack_pack_uint64(&r->pk, v);
    } else if (integral && v <= (uint64_t)INT64_MAX + 1) {
        r->oom |= msgpack_pack_int64(&r->pk,
                                     v == (uint64_t)INT64_MAX + 1
                                         ? INT64_MIN : -(int64_t)v);
    } else {
        r->oom |= msgpack_pack_double(&r->pk, node->valuedouble);
    }
}

static int pack_value(jr *r, const cJSON *node, char *tmp);

/* {"$bin": "<base64>"} with strict base64: packed as bin. */
static bool
pack_bin(jr *r, const cJSON *node, char *tmp)
{
    const cJSON *v = node->child;
    size_t save = r->pos, n;
    uint8_t *bytes;
    const char *text;
    size_t tl;

    if (v == NULL || v->next != NULL || strcmp(v->string, "$bin") != 0
        || !cJSON_IsString(v))
        return false;
    (void)string_token(r, tmp);         /* the key */
    tl = string_token(r, tmp);
    text = tmp;
    if (!sg__base64_decode(text, tl, NULL)) {
        r->pos = save;
        return false;
    }
    n = sg__base64_decoded_size(text, tl);
    /* Decoding in place is safe: the bytes never outrun the text. */
    bytes = (uint8_t *)tmp;
    (void)sg__base64_decode(text, tl, bytes);
    r->oom |= msgpack_pack_bin_with_body(&r->pk, bytes, n);
    return true;
}

static int
pack_value(jr *r, const cJSON *node, char *tmp)
{
    const cJSON *c;
    size_t n;

    if (cJSON_IsNull(node)) {
        literal_token(r);
        r->oom |= msgpack_pack_nil(&r->pk);
    } else if (cJSON_IsTrue(node)) {
        literal_token(r);
        r->oom |= msgpack_pack_true(&r->pk);
    } else if (cJSON_IsFalse(node)) {
        literal_token(r);
        r->oom |= msgpack_pack_false(&r->pk);
    } else if (cJSON_IsNumber(node)) {
        pack_number(r, node);
    } else if (cJSON_IsString(node)) {
        n = string_token(r, tmp);
        r->oom |= msgpack_pack_str_with_body(&r->pk, tmp, n);
    } else if (cJSON_IsArray(node)) {
        n = 0;
        for (c = node->child; c != NULL; c = c->next)
            n++;
        r->oom |= msgpack_pack_array(&r->pk, n);
        for (c = node->child; c != NULL; c = c->next)
            pack_value(r, c, tmp);
    } else if (cJSON_IsObject(node)) {
        if (pack_bin(r, node, tmp))
            return 0;
        n = 0;
        for (c = node->child; c != NULL; c = c->next)
            n++;
        r->oom |= msgpack_pack_map(&r->pk, n);
        for (c = node->child; c != NULL; c = c->next) {
            size_t kn = string_token(r, tmp);

            r->oom |= msgpack_pack_str_with_body(&r->pk, tmp, kn);
            pack_value(r, c, tmp);
        }
    }
    return 0;
}

/*
 * The deepest nesting of arrays and objects in the text (the top level is
 * 1), counted without parsing, so that no parser recurses deeper than the
 * limits allow; stops counting past `stop`.
 */
static size_t
json_depth(const char *s, size_t len, size_t stop)
{
    size_t depth = 0, max = 0, i;
    bool in_str = false;

    for (i = 0; i < len && max <= stop; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int
sg_envelope_from_json(sg_kind kind, const char *json, size_t len,
                      const sg_decode_opts *opts, sg_envelope **out,
                      sg_error *err)
{
    sg_decode_opts defaults;
    const sg_mem *mem;
    const char *rest = NULL;
    cJSON *root = NULL;
    char *tmp = NULL;
    sg_buf mp;
    jr r;
    int rc;

    if (out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "out is NULL");
    *out = NULL;
    if (json == NULL && len > 0)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "json is NULL");
    if (opts == NULL) {
        sg_decode_opts_init(&defaults);
        opts = &defaults;
    }
    rc = sg__limits_check(&opts->limits, err);
    if (rc != 0)
        return rc;
    if (len > opts->limits.max_entry_bytes)
        return sg__error_set(err, SG_EDECODE, SG_REASON_ENTRY_TOO_LARGE,
                             "data", "%zu bytes of JSON exceed "
                             "max_entry_bytes %zu", len,
                             opts->limits.max_entry_bytes);
    if (json_depth(json, len, opts->limits.max_depth + 1)
        > opts->limits.max_depth + 1)
        return sg__error_set(err, SG_EDECODE, SG_REASON_TOO_DEEP, "data",
                             "JSON nested deeper than max_depth %u allows",
                             opts->limits.max_depth);
    /*
     * Not cJSON's require_null_terminated, which wants a NUL inside len:
     * the text after the value is checked here to be only whitespace.
     */
    root = cJSON_ParseWithLengthOpts(json, len, &rest, 0);
    if (root != NULL) {
        size_t i = (size_t)(rest - json);

        while (i < len && (json[i] == ' ' || json[i] == '\t'
                           || json[i] == '\n' || json[i] == '\r'))
            i++;
        if (i != len) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (root == NULL)
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_JSON, "data",
                             "text is not JSON");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sg__error_set(err, SG_EDECODE, SG_REASON_NOT_MAP, "data",
                             "the JSON value is not an object");
    }
    mem = opts->mem != NULL ? opts->mem : sg_mem_default();
    sg_buf_init(&mp, mem);
    /* One scratch string as long as the text holds any token decoded. */
    tmp = len > 0 ? mem->malloc(len, mem->ud) : NULL;
    if (len > 0 && tmp == NULL) {
        cJSON_Delete(root);
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    }
    r.s = json;
    r.len = len;
    r.pos = 0;
    r.out = &mp;
    r.oom = 0;
    r.bad = false;
    msgpack_packer_init(&r.pk, &mp, buf_write);
    pack_value(&r, root, tmp);
    cJSON_Delete(root);
    mem->free(tmp, mem->ud);
    if (r.bad) {
        sg_buf_destroy(&mp);
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_JSON, "data",
                             "text is not JSON (a bad escape or token)");
    }
    if (r.oom) {
        sg_buf_destroy(&mp);
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    }
    rc = sg__decode_data(kind, mp.data, mp.len, opts, SG__DECODE_COPY, out,
                         err);
    sg_buf_destroy(&mp);
    return rc;
}
