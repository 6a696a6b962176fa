/*
 * fast_read.h: inline readers of the fast paths (decode_inbound.c,
 * decode_outbound.c), which check steps B and C of a value at once and
 * answer only "valid" or "let the exact reading decide".
 */
#ifndef SG_FAST_READ_H
#define SG_FAST_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "decode_internal.h"
#include "utf8.h"

/* What a fast path returns when the exact reading must decide. */
#define FAST_GIVE_UP 1

/* A str value (or nil) at *pp of at most max bytes, valid UTF-8. */
SG__HOT_INLINE bool
fast_str(const uint8_t **pp, const uint8_t *end, size_t max, sg_str *out,
         bool *present)
{
    const uint8_t *p = *pp;
    size_t n, left = (size_t)(end - p) - 1;     /* p < end is known */
    uint8_t c = *p++;

    if ((c & 0xe0) == 0xa0) {
        n = c & 0x1f;
    } else if (c == 0xd9 && left >= 1) {
        n = *p++;
        left -= 1;
    } else if (c == 0xda && left >= 2) {
        n = sg__mp_be16(p);
        p += 2;
        left -= 2;
    } else if (c == 0xdb && left >= 4) {
        n = sg__mp_be32(p);
        p += 4;
        left -= 4;
    } else if (c == 0xc0) {
        *present = false;
        *pp = p;
        return true;
    } else {
        return false;
    }
    if (n > left || n > max || !sg__utf8_valid(p, n))
        return false;
    out->ptr = (const char *)p;
    out->len = n;
    *present = true;
    *pp = p + n;
    return true;
}

SG__HOT_INLINE bool
fast_bool(const uint8_t **pp, bool *out)
{
    uint8_t c = **pp;

    if (c == 0xc2 || c == 0xc3)
        *out = c == 0xc3;
    else if (c != 0xc0)
        return false;
    (*pp)++;
    return true;
}

#endif /* SG_FAST_READ_H */
