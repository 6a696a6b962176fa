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

/*
 * The envelope map's header at *pp: a fixmap or map 16 whose pair count
 * fits the bytes left, max_map_pairs and 256. Bigger maps go to the exact
 * reading, which sorts their keys to find duplicates.
 */
SG__HOT_INLINE bool
fast_map_header(const uint8_t **pp, const uint8_t *end,
                const sg_limits *lim, uint32_t *count)
{
    const uint8_t *p = *pp;
    uint32_t n;

    if (p == end)
        return false;
    if ((*p & 0xf0) == 0x80) {
        n = *p & 0x0f;
        p++;
    } else if (*p == 0xde && end - p >= 3) {
        n = sg__mp_be16(p + 1);
        p += 3;
    } else {
        return false;
    }
    if (n > lim->max_map_pairs || n > (size_t)(end - p) / 2 || n > 256)
        return false;
    *pp = p;
    *count = n;
    return true;
}

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
