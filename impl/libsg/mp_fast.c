/*
 * mp_fast.c: the one-pass check of *any* values used by the fast paths
 * (see decode_inbound.c): steps B and C of decoding together, with an
 * answer of yes or "let the exact reading decide".
 */
#include <math.h>
#include <string.h>

#include "compiler.h"
#include "decode_internal.h"
#include "utf8.h"

/* Maps of more pairs are left to the exact reading's keysets. */
#define FAST_MAP_PAIRS 16

/* The length of a str key or value at *pp: false when it is not a str. */
static inline bool
str_head(const uint8_t **pp, const uint8_t *end, size_t *n)
{
    const uint8_t *p = *pp;
    size_t left = (size_t)(end - p);

    if (left == 0)
        return false;
    if ((*p & 0xe0) == 0xa0) {
        *n = *p & 0x1f;
        *pp = p + 1;
    } else if (*p == 0xd9 && left >= 2) {
        *n = p[1];
        *pp = p + 2;
    } else if (*p == 0xda && left >= 3) {
        *n = sg__mp_be16(p + 1);
        *pp = p + 3;
    } else if (*p == 0xdb && left >= 5) {
        *n = sg__mp_be32(p + 1);
        *pp = p + 5;
    } else {
        return false;
    }
    return *n <= (size_t)(end - *pp);
}

/*
 * The commonest scalars inline (fixint, nil, bool, short ASCII str): 1
 * when one was read, 0 when it is invalid, -1 for anything else.
 */
SG__HOT_INLINE int
quick_scalar(const uint8_t **pp, const uint8_t *end, size_t strmax)
{
    const uint8_t *p = *pp;
    uint8_t c;

    if (p >= end)
        return 0;
    c = *p;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        *pp = p + 1;
        return 1;
    }
    if ((c & 0xe0) == 0xa0) {
        size_t n = c & 0x1f;

        if (n >= (size_t)(end - p) || n > strmax
            || !sg__utf8_valid(p + 1, n))
            return 0;
        *pp = p + 1 + n;
        return 1;
    }
    return -1;
}

bool
sg__fast_any(const sg_limits *lim, const uint8_t **pp, const uint8_t *end,
             uint32_t depth, size_t strmax)
{
    const uint8_t *p = *pp;
    size_t left, n, i, j;
    sg_str keys[FAST_MAP_PAIRS];
    bool is_map;
    uint8_t c;

    if (p >= end)
        return false;
    c = *p;
    left = (size_t)(end - p) - 1;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        *pp = p + 1;
        return true;
    }
    if ((c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb)) {
        if (!str_head(&p, end, &n) || n > strmax || !sg__utf8_valid(p, n))
            return false;
        *pp = p + n;
        return true;
    }
    switch (c) {
    case 0xc4: case 0xc5: case 0xc6: {
        size_t hl = (size_t)1 << (c - 0xc4);

        if (left < hl)
            return false;
        n = hl == 1 ? p[1] : hl == 2 ? sg__mp_be16(p + 1)
                                     : sg__mp_be32(p + 1);
        if (n > left - hl || n > lim->max_binary_bytes)
            return false;
        *pp = p + 1 + hl + n;
        return true;
    }
    case 0xcc: case 0xd0:
        n = 1;
        break;
    case 0xcd: case 0xd1:
        n = 2;
        break;
    case 0xce: case 0xd2:
        n = 4;
        break;
    case 0xd3:
        n = 8;
        break;
    case 0xcf:
        /* uint 64 above 2^63-1 is out of range (SG-ENV-009). */
        if (left < 8 || (p[1] & 0x80))
            return false;
        *pp = p + 9;
        return true;
    case 0xca: {
        uint32_t bits;
        float f;

        if (left < 4)
            return false;
        bits = sg__mp_be32(p + 1);
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            return false;
        *pp = p + 5;
        return true;
    }
    case 0xcb: {
        uint64_t bits;
        double f;

        if (left < 8)
            return false;
        bits = sg__mp_be64(p + 1);
        memcpy(&f, &bits, 8);
        if (!isfinite(f))
            return false;
        *pp = p + 9;
        return true;
    }
    default:
        goto container;
    }
    if (left < n)
        return false;
    *pp = p + 1 + n;
    return true;

container:
    is_map = (c & 0xf0) == 0x80 || c == 0xde || c == 0xdf;
    if ((c & 0xf0) == 0x80 || (c & 0xf0) == 0x90) {
        n = c & 0x0f;
        p += 1;
    } else if ((c == 0xdc || c == 0xde) && left >= 2) {
        n = sg__mp_be16(p + 1);
        p += 3;
    } else if ((c == 0xdd || c == 0xdf) && left >= 4) {
        n = sg__mp_be32(p + 1);
        p += 5;
    } else {
        return false;           /* 0xc1, ext, or a header cut short */
    }
    if (depth > lim->max_depth)
        return false;
    left = (size_t)(end - p);
    if (!is_map) {
        if (n > left || n > lim->max_array_items)
            return false;
        for (i = 0; i < n; i++) {
            int q = quick_scalar(&p, end, strmax);

            if (q == 0 || (q < 0
                           && !sg__fast_any(lim, &p, end, depth + 1,
                                            strmax)))
                return false;
        }
        *pp = p;
        return true;
    }
    if (n > left / 2 || n > lim->max_map_pairs || n > FAST_MAP_PAIRS)
        return false;
    for (i = 0; i < n; i++) {
        size_t kn;
        int q;

        if (!str_head(&p, end, &kn) || kn > lim->max_string_bytes
            || !sg__utf8_valid(p, kn))
            return false;
        for (j = 0; j < i; j++) {
            if (keys[j].len == kn && memcmp(keys[j].ptr, p, kn) == 0)
                return false;
        }
        keys[i].ptr = (const char *)p;
        keys[i].len = kn;
        p += kn;
        q = quick_scalar(&p, end, strmax);
        if (q == 0 || (q < 0
                       && !sg__fast_any(lim, &p, end, depth + 1, strmax)))
            return false;
    }
    *pp = p;
    return true;
}
