/*
 * resp.c: see resp.h.
 */
#include "resp.h"

#include <string.h>

#include "sg/error.h"

size_t sg__dec_u64(char *out, uint64_t v)
{
    char tmp[SG__DEC_MAX];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* "<lead><v>\r\n" at p; returns the end. */
static uint8_t *head(uint8_t *p, char lead, uint64_t v)
{
    *p++ = (uint8_t)lead;
    p += sg__dec_u64((char *)p, v);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

int sg__resp_command(sg_buf *b, int argc, const char *const *argv,
                     const size_t *lens)
{
    /* A header: the lead byte, the digits, CRLF. */
    const size_t hmax = 1 + SG__DEC_MAX + 2;
    size_t need = hmax + 1, n;   /* and the NUL */
    uint8_t *p;
    int i;

    b->len = 0;
    if (argc < 0)
        return SG_EINVAL;
    for (i = 0; i < argc; i++) {
        n = lens != NULL ? lens[i] : strlen(argv[i]);
        if (n > SIZE_MAX - need - hmax - 2)
            return SG_ENOMEM;
        need += hmax + n + 2;
    }
    if (sg_buf_reserve(b, need) != 0)
        return SG_ENOMEM;
    p = head(b->data, '*', (uint64_t)argc);
    for (i = 0; i < argc; i++) {
        n = lens != NULL ? lens[i] : strlen(argv[i]);
        p = head(p, '$', (uint64_t)n);
        if (n > 0)
            memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    b->len = (size_t)(p - b->data);
    return 0;
}
