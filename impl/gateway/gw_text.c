/*
 * gw_text.c: JSON strings and SSE frames.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gw_text.h"

int gw_buf_puts(sg_buf *b, const char *s)
{
    return sg_buf_append(b, s, strlen(s)) == 0 ? 0 : -1;
}

int gw_buf_printf(sg_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof tmp)
        n = (int)sizeof tmp - 1;
    return sg_buf_append(b, tmp, (size_t)n) == 0 ? 0 : -1;
}

int gw_buf_nul(sg_buf *b)
{
    if (sg_buf_reserve(b, 1) != 0)
        return -1;
    b->data[b->len] = '\0';
    return 0;
}

int gw_json_str(sg_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0, before = b->len;
    char esc[7];

    if (sg_buf_append(b, "\"", 1) != 0)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t elen = 2;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        esc[0] = '\\';
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            elen = 6;
        }
        if (sg_buf_append(b, s + start, i - start) != 0 ||
            sg_buf_append(b, esc, elen) != 0)
            goto oom;
        start = i + 1;
    }
    if (sg_buf_append(b, s + start, len - start) != 0 ||
        sg_buf_append(b, "\"", 1) != 0)
        goto oom;
    return 0;
oom:
    b->len = before;
    return -1;
}

int gw_json_cstr(sg_buf *b, const char *s)
{
    if (s == NULL)
        return gw_buf_puts(b, "null");
    return gw_json_str(b, s, strlen(s));
}

int gw_sse_frame(sg_buf *b, const char *event, uint64_t id,
                 const char *data, size_t len)
{
    size_t before = b->len, i = 0;

    if (id > 0 && gw_buf_printf(b, "id: %llu\n", (unsigned long long)id) != 0)
        goto oom;
    if (gw_buf_puts(b, "event: ") != 0 || gw_buf_puts(b, event) != 0 ||
        gw_buf_puts(b, "\n") != 0)
        goto oom;
    do {
        size_t start = i;

        while (i < len && data[i] != '\n' && data[i] != '\r')
            i++;
        if (gw_buf_puts(b, "data: ") != 0 ||
            sg_buf_append(b, data + start, i - start) != 0 ||
            gw_buf_puts(b, "\n") != 0)
            goto oom;
        if (i < len) {
            if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
                i++;
            i++;
            if (i == len && gw_buf_puts(b, "data: \n") != 0)
                goto oom;    /* a trailing line break: one empty line */
        }
    } while (i < len);
    if (gw_buf_puts(b, "\n") != 0)
        goto oom;
    return 0;
oom:
    b->len = before;
    return -1;
}
