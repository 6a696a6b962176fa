/*
 * arena.h: the memory a decoded envelope owns, freed in one call.
 *
 * A bump allocator over a list of blocks from an sg_mem. The first block
 * is usually part of the same allocation as the envelope itself, so a
 * typical decode costs one malloc and one free.
 */
#ifndef SG_ARENA_H
#define SG_ARENA_H

#include <stddef.h>

#include "sg/mem.h"

struct sg__arena_block;

typedef struct sg__arena {
    const sg_mem *mem;
    struct sg__arena_block *blocks;     /* blocks allocated on their own */
    unsigned char *cur;                 /* free space of the current block */
    size_t left;
    unsigned char *first;               /* the first block, kept on reset */
    size_t first_size;
} sg__arena;

/* An arena whose first block is buf[0..size) (which it does not free). */
void sg__arena_init(sg__arena *a, const sg_mem *mem, void *buf, size_t size);

/* size bytes aligned for any object, or NULL when out of memory. */
void *sg__arena_alloc(sg__arena *a, size_t size);

/* Frees what was allocated and starts again in the first block. */
void sg__arena_reset(sg__arena *a);

/* Frees every block the arena allocated. */
void sg__arena_destroy(sg__arena *a);

#endif /* SG_ARENA_H */
