/*
 * arena.c: bump allocation over blocks, for decoded envelopes.
 */
#include <stdalign.h>
#include <stdint.h>

#include "arena.h"

struct sg__arena_block {
    struct sg__arena_block *next;
    /* Keeps the block's payload aligned like max_align_t. */
    alignas(max_align_t) unsigned char data[];
};

#define ALIGN ((size_t)alignof(max_align_t))
#define BLOCK_MIN 4096

static unsigned char *
align_up(unsigned char *p, size_t *left)
{
    size_t pad = (ALIGN - (uintptr_t)p % ALIGN) % ALIGN;

    if (pad > *left) {
        *left = 0;
        return p;
    }
    *left -= pad;
    return p + pad;
}

void
sg__arena_init(sg__arena *a, const sg_mem *mem, void *buf, size_t size)
{
    a->mem = mem;
    a->blocks = NULL;
    a->left = size;
    a->cur = buf != NULL ? align_up(buf, &a->left) : NULL;
    if (buf == NULL)
        a->left = 0;
    a->first = a->cur;
    a->first_size = a->left;
}

void
sg__arena_reset(sg__arena *a)
{
    sg__arena_destroy(a);
    a->cur = a->first;
    a->left = a->first_size;
}

void *
sg__arena_alloc(sg__arena *a, size_t size)
{
    struct sg__arena_block *b;
    size_t bsize;
    void *p;

    /* Round up so that the next allocation stays aligned. */
    if (size > SIZE_MAX - ALIGN)
        return NULL;
    size = (size + ALIGN - 1) / ALIGN * ALIGN;
    if (size == 0)
        size = ALIGN;
    if (size <= a->left) {
        p = a->cur;
        a->cur += size;
        a->left -= size;
        return p;
    }
    bsize = size > BLOCK_MIN ? size : BLOCK_MIN;
    if (bsize > SIZE_MAX - sizeof(*b))
        return NULL;
    b = a->mem->malloc(sizeof(*b) + bsize, a->mem->ud);
    if (b == NULL)
        return NULL;
    b->next = a->blocks;
    a->blocks = b;
    /* A block made for one big allocation leaves the current one in use. */
    if (bsize - size < a->left)
        return b->data;
    a->cur = b->data + size;
    a->left = bsize - size;
    return b->data;
}

void
sg__arena_destroy(sg__arena *a)
{
    struct sg__arena_block *b, *next;

    for (b = a->blocks; b != NULL; b = next) {
        next = b->next;
        a->mem->free(b, a->mem->ud);
    }
    a->blocks = NULL;
    a->cur = NULL;
    a->left = 0;
}
