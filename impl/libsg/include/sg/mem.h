/*
 * sg/mem.h: the allocator every libsg object allocates through, and a
 * growable byte buffer.
 *
 * An sg_mem is passed (or defaulted) wherever libsg allocates, so that a
 * program can account memory, cap it, or fail chosen allocations in tests.
 * libsg never calls malloc/free directly outside sg_mem_default().
 */
#ifndef SG_MEM_H
#define SG_MEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An allocator. The three functions behave like malloc, realloc and free,
 * with `ud` passed back unchanged. realloc(NULL, n) must behave as
 * malloc(n); free(NULL) must do nothing. libsg never asks for 0 bytes.
 * The struct must outlive every object allocated through it.
 */
typedef struct sg_mem {
    void *(*malloc)(size_t size, void *ud);
    void *(*realloc)(void *ptr, size_t size, void *ud);
    void (*free)(void *ptr, void *ud);
    void *ud;
} sg_mem;

/* The C library's malloc/realloc/free. Static storage; never freed. */
const sg_mem *sg_mem_default(void);

/*
 * A growable byte buffer. data[0..len) holds the bytes; cap is the size of
 * the allocation. The buffer owns `data`, allocated through `mem`.
 * Functions that append to a buffer keep what was there and, on failure,
 * leave len as it was before the call.
 */
typedef struct sg_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    const sg_mem *mem;
} sg_buf;

/* Empty buffer allocating through mem (NULL: sg_mem_default()). */
void sg_buf_init(sg_buf *buf, const sg_mem *mem);

/* Sets len to 0 and keeps the allocation for reuse. */
void sg_buf_reset(sg_buf *buf);

/* Frees the allocation; the buffer is empty and may be reused. */
void sg_buf_destroy(sg_buf *buf);

/* Ensures room for `extra` more bytes. 0 or SG_ENOMEM. */
int sg_buf_reserve(sg_buf *buf, size_t extra);

/* Appends n bytes. 0 or SG_ENOMEM. */
int sg_buf_append(sg_buf *buf, const void *bytes, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SG_MEM_H */
