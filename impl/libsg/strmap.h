/*
 * A hash map from byte-string keys to pointers, for the consumer's
 * channels and in-flight entry IDs. Open addressing with linear probing;
 * keys are not copied: the caller keeps each key alive and unchanged while
 * it is in the map (in practice the key lives in the value it maps to).
 */
#ifndef SG_STRMAP_H
#define SG_STRMAP_H

#include <stddef.h>

#include "sg/mem.h"

typedef struct sg__strmap_slot {
    const char *key;    /* NULL: empty */
    size_t len;
    size_t hash;
    void *value;        /* NULL with a key: a deleted slot */
} sg__strmap_slot;

typedef struct sg__strmap {
    sg__strmap_slot *slots;
    size_t cap;         /* a power of two, or 0 */
    size_t count;       /* live entries */
    size_t used;        /* live and deleted slots */
    const sg_mem *mem;
} sg__strmap;

void sg__strmap_init(sg__strmap *m, const sg_mem *mem);
void sg__strmap_destroy(sg__strmap *m);

/* The value of key, or NULL. */
void *sg__strmap_get(const sg__strmap *m, const char *key, size_t len);

/* Maps key (absent so far) to value (not NULL). 0 or SG_ENOMEM. */
int sg__strmap_put(sg__strmap *m, const char *key, size_t len, void *value);

/* Removes key; returns its value, or NULL when it was absent. */
void *sg__strmap_del(sg__strmap *m, const char *key, size_t len);

#endif /* SG_STRMAP_H */
