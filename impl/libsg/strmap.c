/* The string-keyed hash map of strmap.h. */
#include "strmap.h"

#include <string.h>

#include "sg/error.h"

static size_t hash_bytes(const char *p, size_t len)
{
    /* FNV-1a, 64-bit. */
    unsigned long long h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

void sg__strmap_init(sg__strmap *m, const sg_mem *mem)
{
    memset(m, 0, sizeof *m);
    m->mem = mem != NULL ? mem : sg_mem_default();
}

void sg__strmap_destroy(sg__strmap *m)
{
    if (m->slots != NULL)
        m->mem->free(m->slots, m->mem->ud);
    m->slots = NULL;
    m->cap = m->count = m->used = 0;
}

static sg__strmap_slot *find(const sg__strmap *m, const char *key,
                             size_t len, size_t h)
{
    size_t i;

    if (m->cap == 0)
        return NULL;
    for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        sg__strmap_slot *s = &m->slots[i];

        if (s->key == NULL)
            return NULL;
        if (s->value != NULL && s->hash == h && s->len == len &&
            memcmp(s->key, key, len) == 0)
            return s;
    }
}

void *sg__strmap_get(const sg__strmap *m, const char *key, size_t len)
{
    sg__strmap_slot *s = find(m, key, len, hash_bytes(key, len));

    return s != NULL ? s->value : NULL;
}

static void insert(sg__strmap_slot *slots, size_t cap, const char *key,
                   size_t len, size_t h, void *value)
{
    size_t i;

    for (i = h & (cap - 1); slots[i].key != NULL; i = (i + 1) & (cap - 1))
        ;
    slots[i].key = key;
    slots[i].len = len;
    slots[i].hash = h;
    slots[i].value = value;
}

static int grow(sg__strmap *m)
{
    size_t cap = m->cap ? m->cap : 16, i;
    sg__strmap_slot *slots;

    /* Double only when live entries fill it; else just drop tombstones. */
    if (m->count * 2 >= m->cap && m->cap != 0)
        cap = m->cap * 2;
    slots = m->mem->malloc(cap * sizeof *slots, m->mem->ud);
    if (slots == NULL)
        return SG_ENOMEM;
    memset(slots, 0, cap * sizeof *slots);
    for (i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].value != NULL)
            insert(slots, cap, m->slots[i].key, m->slots[i].len,
                   m->slots[i].hash, m->slots[i].value);
    if (m->slots != NULL)
        m->mem->free(m->slots, m->mem->ud);
    m->slots = slots;
    m->cap = cap;
    m->used = m->count;
    return 0;
}

int sg__strmap_put(sg__strmap *m, const char *key, size_t len, void *value)
{
    /* Keep the load, tombstones included, under three quarters. */
    if ((m->used + 1) * 4 > m->cap * 3) {
        int rc = grow(m);

        if (rc != 0)
            return rc;
    }
    insert(m->slots, m->cap, key, len, hash_bytes(key, len), value);
    m->count++;
    m->used++;
    return 0;
}

void *sg__strmap_del(sg__strmap *m, const char *key, size_t len)
{
    sg__strmap_slot *s = find(m, key, len, hash_bytes(key, len));
    void *v;

    if (s == NULL)
        return NULL;
    v = s->value;
    /* A tombstone: the key pointer stays only as a "not empty" marker. */
    s->value = NULL;
    s->key = "";
    m->count--;
    return v;
}
