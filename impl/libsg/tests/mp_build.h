/*
 * mp_build.h: writing msgpack by hand in tests, odd encodings included,
 * and checking a decoder's verdict on it.
 */
#ifndef SG_TEST_MP_BUILD_H
#define SG_TEST_MP_BUILD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "sg.h"

typedef struct mb {
    uint8_t *b;
    size_t len;
    size_t cap;
} mb;

static inline void
mb_init(mb *m)
{
    m->cap = 1024;
    m->len = 0;
    m->b = malloc(m->cap);
    assert_non_null(m->b);
}

static inline void
mb_free(mb *m)
{
    free(m->b);
    m->b = NULL;
}

static inline void
mb_raw(mb *m, const void *p, size_t n)
{
    while (m->len + n > m->cap) {
        m->cap *= 2;
        m->b = realloc(m->b, m->cap);
        assert_non_null(m->b);
    }
    if (n > 0)
        memcpy(m->b + m->len, p, n);
    m->len += n;
}

static inline void
mb_byte(mb *m, unsigned v)
{
    uint8_t c = (uint8_t)v;

    mb_raw(m, &c, 1);
}

static inline void
mb_be(mb *m, uint64_t v, int bytes)
{
    while (bytes-- > 0)
        mb_byte(m, (unsigned)(v >> (8 * bytes)) & 0xff);
}

static inline void
mb_map(mb *m, uint32_t n)
{
    if (n < 16) {
        mb_byte(m, 0x80 | n);
    } else if (n <= 0xffff) {
        mb_byte(m, 0xde);
        mb_be(m, n, 2);
    } else {
        mb_byte(m, 0xdf);
        mb_be(m, n, 4);
    }
}

static inline void
mb_arr(mb *m, uint32_t n)
{
    if (n < 16) {
        mb_byte(m, 0x90 | n);
    } else if (n <= 0xffff) {
        mb_byte(m, 0xdc);
        mb_be(m, n, 2);
    } else {
        mb_byte(m, 0xdd);
        mb_be(m, n, 4);
    }
}

static inline void
mb_strn(mb *m, const void *s, size_t n)
{
    if (n < 32) {
        mb_byte(m, 0xa0 | (unsigned)n);
    } else if (n <= 0xff) {
        mb_byte(m, 0xd9);
        mb_byte(m, (unsigned)n);
    } else if (n <= 0xffff) {
        mb_byte(m, 0xda);
        mb_be(m, n, 2);
    } else {
        mb_byte(m, 0xdb);
        mb_be(m, n, 4);
    }
    mb_raw(m, s, n);
}

static inline void
mb_str(mb *m, const char *s)
{
    mb_strn(m, s, strlen(s));
}

/* A str of n copies of c. */
static inline void
mb_strfill(mb *m, size_t n, char c)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    mb_strn(m, s, n);
    free(s);
}

static inline void
mb_bin(mb *m, const void *s, size_t n)
{
    if (n <= 0xff) {
        mb_byte(m, 0xc4);
        mb_byte(m, (unsigned)n);
    } else if (n <= 0xffff) {
        mb_byte(m, 0xc5);
        mb_be(m, n, 2);
    } else {
        mb_byte(m, 0xc6);
        mb_be(m, n, 4);
    }
    mb_raw(m, s, n);
}

static inline void
mb_int(mb *m, int64_t v)
{
    if (v >= 0 && v < 128) {
        mb_byte(m, (unsigned)v);
    } else if (v < 0 && v >= -32) {
        mb_byte(m, (unsigned)(v & 0xff));
    } else {
        mb_byte(m, 0xd3);
        mb_be(m, (uint64_t)v, 8);
    }
}

static inline void
mb_f64(mb *m, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, 8);
    mb_byte(m, 0xcb);
    mb_be(m, bits, 8);
}

static inline void
mb_nil(mb *m)
{
    mb_byte(m, 0xc0);
}

static inline void
mb_bool(mb *m, int v)
{
    mb_byte(m, v ? 0xc3 : 0xc2);
}

/* A key and a str value. */
static inline void
mb_kv(mb *m, const char *k, const char *v)
{
    mb_str(m, k);
    mb_str(m, v);
}

/* Decodes m as kind and expects success; the caller frees. */
static inline sg_envelope *
mb_decode_ok(sg_kind kind, const mb *m)
{
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    sg_error_clear(&err);
    rc = sg_envelope_decode_data(kind, m->b, m->len, NULL, &env, &err);
    if (rc != 0)
        fail_msg("decode failed: %s %s at %s: %s", sg_err_name(rc),
                 sg_reason_name(err.reason), err.path, err.msg);
    assert_non_null(env);
    return env;
}

/* Decodes m as kind with opts and expects the rejection reason at path. */
static inline void
mb_expect_opts(sg_kind kind, const mb *m, const sg_decode_opts *opts,
               int reason, const char *path)
{
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    sg_error_clear(&err);
    rc = sg_envelope_decode_data(kind, m->b, m->len, opts, &env, &err);
    if (rc != SG_EDECODE || err.reason != reason
        || strcmp(err.path, path) != 0)
        fail_msg("expected %s at %s, got %s %s at %s (%s)",
                 sg_reason_name(reason), path, sg_err_name(rc),
                 sg_reason_name(err.reason), err.path, err.msg);
    assert_null(env);
    assert_int_equal(err.code, SG_EDECODE);
    /* Every message names the path it is about (SG-ENV-001). */
    assert_true(strncmp(err.msg, path, strlen(path)) == 0);
}

static inline void
mb_expect(sg_kind kind, const mb *m, int reason, const char *path)
{
    mb_expect_opts(kind, m, NULL, reason, path);
}

static inline int
str_eq(sg_str s, const char *lit)
{
    return s.len == strlen(lit)
        && (s.len == 0 || memcmp(s.ptr, lit, s.len) == 0);
}

/* Whether needle[0..n) occurs in hay[0..len) (memmem is not C11). */
static inline int
bytes_contain(const uint8_t *hay, size_t len, const char *needle, size_t n)
{
    size_t i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    }
    return 0;
}

#endif /* SG_TEST_MP_BUILD_H */
