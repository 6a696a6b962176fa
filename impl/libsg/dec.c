/*
 * dec.c: the decoding context, field paths and rejections, and the sets
 * of keys that find duplicates.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decode_internal.h"

const sg__path sg__path_data = { NULL, "data", 4, 0 };

/* Deeper chains are cut at the root end; paths this long do not fit. */
#define PATH_FRAMES_MAX 96

void
sg__dec_init(sg__dec *d, const sg_limits *lim, const sg_mem *mem,
             sg__arena *arena, int reject, sg_error *err)
{
    d->lim = lim;
    d->err = err;
    d->mem = mem;
    d->arena = arena;
    d->reject = reject;
    d->scratch = NULL;
    d->scratch_cap = 0;
    d->scratch_top = 0;
}

void
sg__dec_destroy(sg__dec *d)
{
    if (d->scratch != NULL)
        d->mem->free(d->scratch, d->mem->ud);
    d->scratch = NULL;
    d->scratch_cap = 0;
    d->scratch_top = 0;
}

static size_t
put(char *buf, size_t size, size_t at, const char *s, size_t n)
{
    if (at >= size - 1)
        return at;
    if (n > size - 1 - at)
        n = size - 1 - at;
    memcpy(buf + at, s, n);
    return at + n;
}

void
sg__path_render(const sg__path *path, const char *key, size_t keylen,
                char *buf, size_t size)
{
    const sg__path *frames[PATH_FRAMES_MAX];
    size_t nframes = 0, at = 0, i;

    if (size == 0)
        return;
    for (; path != NULL && nframes < PATH_FRAMES_MAX; path = path->up)
        frames[nframes++] = path;
    for (i = nframes; i-- > 0;) {
        const sg__path *f = frames[i];

        if (f->key != NULL) {
            if (at > 0)
                at = put(buf, size, at, ".", 1);
            at = put(buf, size, at, f->key, f->keylen);
        } else {
            char idx[24];
            int n = snprintf(idx, sizeof(idx), "[%zu]", f->index);

            if (n > 0 && (size_t)n < sizeof(idx))
                at = put(buf, size, at, idx, (size_t)n);
        }
    }
    if (key != NULL) {
        if (at > 0)
            at = put(buf, size, at, ".", 1);
        at = put(buf, size, at, key, keylen);
    }
    buf[at] = '\0';
}

int
sg__dec_fail(sg__dec *d, int reason, const sg__path *path, const char *key,
             size_t keylen, const char *fmt, ...)
{
    sg_error *err = d->err;
    va_list ap;
    int n;

    if (err == NULL)
        return d->reject;
    err->code = d->reject;
    err->reason = reason;
    sg__path_render(path, key, keylen, err->path, sizeof(err->path));
    n = snprintf(err->msg, sizeof(err->msg), "%s: ", err->path);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        return d->reject;
    va_start(ap, fmt);
    /* A cut-short message is acceptable: it is for humans. */
    (void)vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return d->reject;
}

int
sg__dec_nomem(sg__dec *d)
{
    return sg__error_set(d->err, SG_ENOMEM, SG_REASON_NONE, NULL,
                         "out of memory while decoding");
}

void
sg__keyset_init(sg__keyset *ks, uint32_t pairs)
{
    ks->n = 0;
    ks->pairs = pairs;
    ks->mask = 0;
    ks->base = 0;
}

static uint32_t
key_hash(const uint8_t *k, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

/* Inserts into the hash table; true when the key was there already. */
static bool
table_insert(sg_str *table, uint32_t mask, const uint8_t *key, size_t len)
{
    uint32_t i = key_hash(key, len) & mask;

    for (;;) {
        sg_str *s = &table[i];

        if (s->ptr == NULL) {
            s->ptr = (const char *)key;
            s->len = len;
            return false;
        }
        if (s->len == len && memcmp(s->ptr, key, len) == 0)
            return true;
        i = (i + 1) & mask;
    }
}

static int
keyset_grow(sg__dec *d, sg__keyset *ks)
{
    size_t size = 16, need, i;
    sg_str *table;

    /*
     * At most half full, so that probing stays short. pairs was checked
     * against the bytes left (2 per pair), so the table is bounded by the
     * input's size.
     */
    while (size < (size_t)ks->pairs * 2)
        size *= 2;
    need = d->scratch_top + size;
    if (need > d->scratch_cap) {
        size_t cap = d->scratch_cap ? d->scratch_cap : 256;
        sg_str *p;

        while (cap < need)
            cap *= 2;
        p = d->mem->realloc(d->scratch, cap * sizeof(*p), d->mem->ud);
        if (p == NULL)
            return SG_ENOMEM;
        d->scratch = p;
        d->scratch_cap = cap;
    }
    ks->base = d->scratch_top;
    ks->mask = (uint32_t)(size - 1);
    d->scratch_top = need;
    table = d->scratch + ks->base;
    memset(table, 0, size * sizeof(*table));
    for (i = 0; i < ks->n; i++)
        (void)table_insert(table, ks->mask, (const uint8_t *)ks->small[i].ptr,
                           ks->small[i].len);
    return 0;
}

int
sg__keyset_add(sg__dec *d, sg__keyset *ks, const uint8_t *key, size_t len,
               bool *dup)
{
    uint32_t i;

    if (ks->mask == 0) {
        for (i = 0; i < ks->n; i++) {
            if (ks->small[i].len == len
                && memcmp(ks->small[i].ptr, key, len) == 0) {
                *dup = true;
                return 0;
            }
        }
        if (ks->n < 8) {
            ks->small[ks->n].ptr = (const char *)key;
            ks->small[ks->n].len = len;
            ks->n++;
            *dup = false;
            return 0;
        }
        if (keyset_grow(d, ks) != 0)
            return sg__dec_nomem(d);
    }
    *dup = table_insert(d->scratch + ks->base, ks->mask, key, len);
    ks->n += !*dup;
    return 0;
}

void
sg__keyset_release(sg__dec *d, sg__keyset *ks)
{
    if (ks->mask != 0)
        d->scratch_top = ks->base;
}
