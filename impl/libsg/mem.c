/*
 * mem.c: the default allocator and the growable byte buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "sg/error.h"
#include "sg/mem.h"

static void *
default_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *
default_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return realloc(ptr, size);
}

static void
default_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}

static const sg_mem default_mem = {
    default_malloc, default_realloc, default_free, NULL
};

const sg_mem *
sg_mem_default(void)
{
    return &default_mem;
}

void
sg_buf_init(sg_buf *buf, const sg_mem *mem)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->mem = mem != NULL ? mem : &default_mem;
}

void
sg_buf_reset(sg_buf *buf)
{
    buf->len = 0;
}

void
sg_buf_destroy(sg_buf *buf)
{
    if (buf->data != NULL)
        buf->mem->free(buf->data, buf->mem->ud);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

int
sg_buf_reserve(sg_buf *buf, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > SIZE_MAX - buf->len)
        return SG_ENOMEM;
    need = buf->len + extra;
    if (need <= buf->cap)
        return 0;
    /* Doubling keeps appends amortised O(1); 256 avoids tiny first steps. */
    cap = buf->cap < 256 ? 256 : buf->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = buf->mem->realloc(buf->data, cap, buf->mem->ud);
    if (p == NULL)
        return SG_ENOMEM;
    buf->data = p;
    buf->cap = cap;
    return 0;
}

int
sg_buf_append(sg_buf *buf, const void *bytes, size_t n)
{
    if (n == 0)
        return 0;
    if (buf->cap - buf->len < n && sg_buf_reserve(buf, n) != 0)
        return SG_ENOMEM;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return 0;
}
