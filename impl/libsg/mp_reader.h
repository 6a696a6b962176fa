/*
 * mp_reader.h: a bounded msgpack reader for untrusted bytes.
 *
 * It reads one value header at a time from a byte range, checks that what
 * the header declares fits in the bytes that are left, and never
 * allocates or does I/O. The validators (decode_value.c) and the typed
 * decoders build on it. It is inline because it is the hot path of every
 * decode.
 */
#ifndef SG_MP_READER_H
#define SG_MP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sg/error.h"

typedef enum sg__mp_type {
    SG__MP_NIL,
    SG__MP_BOOL,
    SG__MP_INT,         /* negative: v.i */
    SG__MP_UINT,        /* non-negative: v.u */
    SG__MP_FLOAT,       /* float 32 or 64, widened: v.f */
    SG__MP_STR,         /* v.body[0..len) */
    SG__MP_BIN,         /* v.body[0..len) */
    SG__MP_ARRAY,       /* len elements follow */
    SG__MP_MAP,         /* len key/value pairs follow */
    SG__MP_EXT          /* any ext or fixext; not read further */
} sg__mp_type;

typedef struct sg__mp_obj {
    sg__mp_type type;
    uint32_t len;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        const uint8_t *body;
    } v;
} sg__mp_obj;

static inline uint16_t
sg__mp_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
sg__mp_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16
        | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t
sg__mp_be64(const uint8_t *p)
{
    return (uint64_t)sg__mp_be32(p) << 32 | sg__mp_be32(p + 4);
}

/*
 * Reads the value header at *pp (before end) into *o and advances *pp past
 * it, and past the body of a str or bin. Returns 0, or a reason:
 * SG_REASON_TRUNCATED when the header or a str/bin body does not fit, or
 * when an array's count exceeds the bytes left (each element takes at
 * least one byte; a map's pair at least two), so that no count read here
 * can drive an allocation larger than the input (SG-LIMIT-006);
 * SG_REASON_INVALID_MSGPACK for the byte 0xc1. Ext types give SG__MP_EXT
 * with *pp just past the type byte: the caller rejects them.
 */
static inline int
sg__mp_head(const uint8_t **pp, const uint8_t *end, sg__mp_obj *o)
{
    const uint8_t *p = *pp;
    size_t left = (size_t)(end - p);
    size_t n, hl;
    uint8_t c;

    if (left == 0)
        return SG_REASON_TRUNCATED;
    c = *p;
    if (c <= 0x7f) {
        o->type = SG__MP_UINT;
        o->v.u = c;
        *pp = p + 1;
        return 0;
    }
    if (c >= 0xe0) {
        o->type = SG__MP_INT;
        o->v.i = (int8_t)c;
        *pp = p + 1;
        return 0;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        n = c & 0x1f;
        hl = 1;
        o->type = SG__MP_STR;
        goto body;
    }
    if (c >= 0x80 && c <= 0x8f) {
        n = c & 0x0f;
        hl = 1;
        o->type = SG__MP_MAP;
        goto container;
    }
    if (c >= 0x90 && c <= 0x9f) {
        n = c & 0x0f;
        hl = 1;
        o->type = SG__MP_ARRAY;
        goto container;
    }
    switch (c) {
    case 0xc0:
        o->type = SG__MP_NIL;
        *pp = p + 1;
        return 0;
    case 0xc2:
    case 0xc3:
        o->type = SG__MP_BOOL;
        o->v.b = c == 0xc3;
        *pp = p + 1;
        return 0;
    case 0xc4: case 0xd9:
        if (left < 2)
            return SG_REASON_TRUNCATED;
        n = p[1];
        hl = 2;
        o->type = c == 0xc4 ? SG__MP_BIN : SG__MP_STR;
        goto body;
    case 0xc5: case 0xda:
        if (left < 3)
            return SG_REASON_TRUNCATED;
        n = sg__mp_be16(p + 1);
        hl = 3;
        o->type = c == 0xc5 ? SG__MP_BIN : SG__MP_STR;
        goto body;
    case 0xc6: case 0xdb:
        if (left < 5)
            return SG_REASON_TRUNCATED;
        n = sg__mp_be32(p + 1);
        hl = 5;
        o->type = c == 0xc6 ? SG__MP_BIN : SG__MP_STR;
        goto body;
    case 0xca: {
        uint32_t bits;
        float f;

        if (left < 5)
            return SG_REASON_TRUNCATED;
        bits = sg__mp_be32(p + 1);
        memcpy(&f, &bits, 4);
        o->type = SG__MP_FLOAT;
        o->v.f = f;
        *pp = p + 5;
        return 0;
    }
    case 0xcb: {
        uint64_t bits;

        if (left < 9)
            return SG_REASON_TRUNCATED;
        bits = sg__mp_be64(p + 1);
        memcpy(&o->v.f, &bits, 8);
        o->type = SG__MP_FLOAT;
        *pp = p + 9;
        return 0;
    }
    case 0xcc:
        if (left < 2)
            return SG_REASON_TRUNCATED;
        o->type = SG__MP_UINT;
        o->v.u = p[1];
        *pp = p + 2;
        return 0;
    case 0xcd:
        if (left < 3)
            return SG_REASON_TRUNCATED;
        o->type = SG__MP_UINT;
        o->v.u = sg__mp_be16(p + 1);
        *pp = p + 3;
        return 0;
    case 0xce:
        if (left < 5)
            return SG_REASON_TRUNCATED;
        o->type = SG__MP_UINT;
        o->v.u = sg__mp_be32(p + 1);
        *pp = p + 5;
        return 0;
    case 0xcf:
        if (left < 9)
            return SG_REASON_TRUNCATED;
        o->type = SG__MP_UINT;
        o->v.u = sg__mp_be64(p + 1);
        *pp = p + 9;
        return 0;
    case 0xd0:
        if (left < 2)
            return SG_REASON_TRUNCATED;
        o->v.i = (int8_t)p[1];
        *pp = p + 2;
        goto sint;
    case 0xd1:
        if (left < 3)
            return SG_REASON_TRUNCATED;
        o->v.i = (int16_t)sg__mp_be16(p + 1);
        *pp = p + 3;
        goto sint;
    case 0xd2:
        if (left < 5)
            return SG_REASON_TRUNCATED;
        o->v.i = (int32_t)sg__mp_be32(p + 1);
        *pp = p + 5;
        goto sint;
    case 0xd3:
        if (left < 9)
            return SG_REASON_TRUNCATED;
        o->v.i = (int64_t)sg__mp_be64(p + 1);
        *pp = p + 9;
        goto sint;
    case 0xdc: case 0xde:
        if (left < 3)
            return SG_REASON_TRUNCATED;
        n = sg__mp_be16(p + 1);
        hl = 3;
        o->type = c == 0xdc ? SG__MP_ARRAY : SG__MP_MAP;
        goto container;
    case 0xdd: case 0xdf:
        if (left < 5)
            return SG_REASON_TRUNCATED;
        n = sg__mp_be32(p + 1);
        hl = 5;
        o->type = c == 0xdd ? SG__MP_ARRAY : SG__MP_MAP;
        goto container;
    case 0xc1:
        return SG_REASON_INVALID_MSGPACK;
    default:
        /* c7..c9 (ext 8/16/32) and d4..d8 (fixext). */
        o->type = SG__MP_EXT;
        *pp = p + 1;
        return 0;
    }

sint:
    /* A signed encoding of a non-negative value is still an integer. */
    if (o->v.i >= 0) {
        o->type = SG__MP_UINT;
        o->v.u = (uint64_t)o->v.i;
    } else {
        o->type = SG__MP_INT;
    }
    return 0;

body:
    if (n > left - hl)
        return SG_REASON_TRUNCATED;
    o->len = (uint32_t)n;
    o->v.body = p + hl;
    *pp = p + hl + n;
    return 0;

container:
    left -= hl;
    if (o->type == SG__MP_MAP ? n > left / 2 : n > left)
        return SG_REASON_TRUNCATED;
    o->len = (uint32_t)n;
    *pp = p + hl;
    return 0;
}

#endif /* SG_MP_READER_H */
