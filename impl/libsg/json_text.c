/* Bounded JSON parsing and a small JSON writer (json_text.h). */
#include "json_text.h"

#include "error_internal.h"
#include "utf8.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/*
 * Deepest nesting of arrays and objects in text, outside strings; stops
 * counting at limit + 1. Text that is not JSON gives some number, and
 * cJSON rejects the text later.
 */
static int nesting(const char *s, size_t n, int limit)
{
    int depth = 0, deepest = 0, in_str = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit)
                    break;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

int sg__json_parse(const char *text, size_t len, size_t max_bytes,
                   int max_depth, const char *path, struct cJSON **out,
                   sg_error *err)
{
    cJSON *j;

    *out = NULL;
    if (len > max_bytes)
        return sg__error_set(err, SG_EDECODE, SG_REASON_ENTRY_TOO_LARGE,
                             path, "%zu bytes of JSON exceed %zu", len,
                             max_bytes);
    if (memchr(text, '\0', len) != NULL)
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_JSON, path,
                             "NUL byte in JSON text");
    if (nesting(text, len, max_depth) > max_depth)
        return sg__error_set(err, SG_EDECODE, SG_REASON_TOO_DEEP, path,
                             "JSON nested deeper than %d", max_depth);
    /*
     * With the length, cJSON wants the terminating NUL inside the buffer
     * to accept the end of the text, and rejects anything after the value.
     */
    j = cJSON_ParseWithLengthOpts(text, len + 1, NULL, 1);
    if (j == NULL)
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_JSON, path,
                             "not JSON");
    *out = j;
    return 0;
}

int sg__json_put_str(sg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len, i;

    if (n > 0 && !sg__utf8_valid((const uint8_t *)s, n))
        return SG_EINVAL;
    if (sg_buf_append(b, "\"", 1) != 0)
        goto oom;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t elen = 0;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            elen = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (elen > 0 ? sg_buf_append(b, esc, elen) != 0
                     : sg_buf_append(b, &s[i], 1) != 0)
            goto oom;
    }
    if (sg_buf_append(b, "\"", 1) != 0)
        goto oom;
    return 0;
oom:
    b->len = start;
    return SG_ENOMEM;
}

int sg__json_put_raw(sg_buf *b, const char *s)
{
    return sg_buf_append(b, s, strlen(s));
}

int sg__json_put_number(sg_buf *b, double v)
{
    char num[32];
    int n, prec;

    if (!isfinite(v))
        return SG_EINVAL;
    /* The shortest of 15, 16, 17 digits that reads back as v. */
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(num, sizeof num, "%.*g", prec, v);
        if (n < 0 || (size_t)n >= sizeof num)
            return SG_EINVAL;
        if (strtod(num, NULL) == v)
            break;
    }
    return sg_buf_append(b, num, (size_t)n);
}

int sg__json_terminate(sg_buf *b)
{
    if (sg_buf_reserve(b, 1) != 0)
        return SG_ENOMEM;
    b->data[b->len] = '\0';
    return 0;
}
