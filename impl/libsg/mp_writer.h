/*
 * mp_writer.h: msgpack writing into memory the caller has reserved.
 *
 * Each function writes one item at p and returns the position after it;
 * the caller reserves room first (at most 9 bytes of header per item plus
 * the body). Integers take their shortest encoding (SG-MP-007), floats
 * are float 64 (SG-MP-008).
 */
#ifndef SG_MP_WRITER_H
#define SG_MP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"

/* Largest header of any item. */
#define SG__MP_HEAD_MAX 9

SG__HOT_INLINE uint8_t *
sg__mp_be(uint8_t *p, uint64_t v, int bytes)
{
    int i;

    for (i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + bytes;
}

/*
 * memcpy for the short strings that most fields hold: overlapping loads
 * and stores of fixed size, which compile to a few moves instead of a
 * call.
 */
SG__HOT_INLINE void
sg__mp_copy(uint8_t *p, const void *src, size_t n)
{
    const uint8_t *s = src;

    if (n > 16) {
        memcpy(p, s, n);
    } else if (n >= 8) {
        uint64_t a, b;

        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &b, 4);
    } else if (n > 0) {
        uint8_t a = s[0], b = s[n / 2], c = s[n - 1];

        p[0] = a;
        p[n / 2] = b;
        p[n - 1] = c;
    }
}

SG__HOT_INLINE uint8_t *
sg__mp_put_str_head(uint8_t *p, size_t n)
{
    if (n < 32) {
        *p++ = (uint8_t)(0xa0 | n);
    } else if (n <= 0xff) {
        *p++ = 0xd9;
        *p++ = (uint8_t)n;
    } else if (n <= 0xffff) {
        *p++ = 0xda;
        p = sg__mp_be(p, n, 2);
    } else {
        *p++ = 0xdb;
        p = sg__mp_be(p, n, 4);
    }
    return p;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_str(uint8_t *p, const void *s, size_t n)
{
    p = sg__mp_put_str_head(p, n);
    sg__mp_copy(p, s, n);
    return p + n;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_bin(uint8_t *p, const void *s, size_t n)
{
    if (n <= 0xff) {
        *p++ = 0xc4;
        *p++ = (uint8_t)n;
    } else if (n <= 0xffff) {
        *p++ = 0xc5;
        p = sg__mp_be(p, n, 2);
    } else {
        *p++ = 0xc6;
        p = sg__mp_be(p, n, 4);
    }
    if (n > 0)
        memcpy(p, s, n);
    return p + n;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_int(uint8_t *p, int64_t v)
{
    if (v >= 0) {
        uint64_t u = (uint64_t)v;

        if (u < 128) {
            *p++ = (uint8_t)u;
        } else if (u <= 0xff) {
            *p++ = 0xcc;
            *p++ = (uint8_t)u;
        } else if (u <= 0xffff) {
            *p++ = 0xcd;
            p = sg__mp_be(p, u, 2);
        } else if (u <= 0xffffffffu) {
            *p++ = 0xce;
            p = sg__mp_be(p, u, 4);
        } else {
            *p++ = 0xcf;
            p = sg__mp_be(p, u, 8);
        }
    } else if (v >= -32) {
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT8_MIN) {
        *p++ = 0xd0;
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        *p++ = 0xd1;
        p = sg__mp_be(p, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        *p++ = 0xd2;
        p = sg__mp_be(p, (uint64_t)v, 4);
    } else {
        *p++ = 0xd3;
        p = sg__mp_be(p, (uint64_t)v, 8);
    }
    return p;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_double(uint8_t *p, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, 8);
    *p++ = 0xcb;
    return sg__mp_be(p, bits, 8);
}

SG__HOT_INLINE uint8_t *
sg__mp_put_bool(uint8_t *p, bool v)
{
    *p++ = v ? 0xc3 : 0xc2;
    return p;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_array_head(uint8_t *p, size_t n)
{
    if (n < 16) {
        *p++ = (uint8_t)(0x90 | n);
    } else if (n <= 0xffff) {
        *p++ = 0xdc;
        p = sg__mp_be(p, n, 2);
    } else {
        *p++ = 0xdd;
        p = sg__mp_be(p, n, 4);
    }
    return p;
}

SG__HOT_INLINE uint8_t *
sg__mp_put_map_head(uint8_t *p, size_t n)
{
    if (n < 16) {
        *p++ = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        *p++ = 0xde;
        p = sg__mp_be(p, n, 2);
    } else {
        *p++ = 0xdf;
        p = sg__mp_be(p, n, 4);
    }
    return p;
}

#endif /* SG_MP_WRITER_H */
