/*
 * gw_record.c: the bounded per-channel message record.
 *
 * Channels sit in one array searched linearly by hash then bytes: a few
 * hundred channels cost less to scan than a hash table costs to keep,
 * and the least recently used one is found by the same scan when a new
 * channel needs room. Each channel keeps its messages in a ring.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "gw_record.h"

typedef struct chan {
    char *id;
    size_t id_len;
    uint32_t hash;
    uint64_t used;                /* tick of the last use, for LRU */
    gw_rec_msg **ring;            /* cap (max_messages) slots */
    size_t cap;
    size_t head;                  /* index of the oldest */
    size_t n;
    size_t bytes;
} chan;

struct gw_record {
    gw_record_limits lim;
    chan **chans;
    size_t nchans;
    uint64_t tick;
    /*
     * Sequence numbers are record-wide, so that a channel dropped and
     * made again never reuses one a browser may still hold as its
     * Last-Event-ID.
     */
    uint64_t next_seq;
};

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

size_t gw_utf8_cut(const char *s, size_t len, size_t max)
{
    size_t n;

    if (len <= max)
        return len;
    n = max;
    /* Back off continuation bytes so no code point is split. */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static char *dup_n(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* A message and its strings are one allocation (gw_record_add()). */
static void msg_free(gw_rec_msg *m)
{
    int i;

    if (m == NULL)
        return;
    for (i = 0; i < m->nreactions; i++)
        free(m->reactions[i]);
    free(m);
}

static void chan_free(chan *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->cap; i++)
        msg_free(c->ring[i]);      /* empty slots are NULL */
    free(c->ring);
    free(c->id);
    free(c);
}

gw_record *gw_record_new(const gw_record_limits *lim)
{
    gw_record *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    if (lim != NULL)
        r->lim = *lim;
    if (r->lim.max_channels == 0)
        r->lim.max_channels = 256;
    if (r->lim.max_messages == 0)
        r->lim.max_messages = 100;
    if (r->lim.max_channel_bytes == 0)
        r->lim.max_channel_bytes = 262144;
    if (r->lim.max_text_bytes == 0)
        r->lim.max_text_bytes = 65536;
    r->chans = calloc(r->lim.max_channels, sizeof *r->chans);
    if (r->chans == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void gw_record_free(gw_record *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nchans; i++)
        chan_free(r->chans[i]);
    free(r->chans);
    free(r);
}

static chan *find(gw_record *r, const char *id, size_t len, size_t *at)
{
    uint32_t h = fnv1a(id, len);
    size_t i;

    for (i = 0; i < r->nchans; i++) {
        chan *c = r->chans[i];

        if (c->hash == h && c->id_len == len && memcmp(c->id, id, len) == 0) {
            c->used = ++r->tick;
            if (at != NULL)
                *at = i;
            return c;
        }
    }
    return NULL;
}

static chan *find_or_add(gw_record *r, const char *id, size_t len)
{
    chan *c = find(r, id, len, NULL);
    size_t i, lru = 0;

    if (c != NULL)
        return c;
    if (r->nchans == r->lim.max_channels) {
        for (i = 1; i < r->nchans; i++)
            if (r->chans[i]->used < r->chans[lru]->used)
                lru = i;
        chan_free(r->chans[lru]);
        r->chans[lru] = r->chans[--r->nchans];
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->id = dup_n(id, len);
    c->ring = calloc(r->lim.max_messages, sizeof *c->ring);
    if (c->id == NULL || c->ring == NULL) {
        free(c->id);
        free(c->ring);
        free(c);
        return NULL;
    }
    c->cap = r->lim.max_messages;
    c->id_len = len;
    c->hash = fnv1a(id, len);
    c->used = ++r->tick;
    r->chans[r->nchans++] = c;
    return c;
}

static void drop_oldest(chan *c, size_t max)
{
    gw_rec_msg *m = c->ring[c->head];

    c->bytes -= m->bytes;
    msg_free(m);
    c->ring[c->head] = NULL;
    c->head = (c->head + 1) % max;
    c->n--;
}

/* The strings of a message, in the order they follow its struct. */
enum { F_USER_ID, F_USER_NAME, F_TEXT, F_MESSAGE_ID, F_REPLY_TO, F_EXTRA,
       F_N };

const gw_rec_msg *gw_record_add(gw_record *r, const char *channel,
                                size_t len, const gw_rec_in *in)
{
    size_t max = r->lim.max_messages, total, n[F_N];
    const char *src[F_N];
    char **dst[F_N], *p;
    gw_rec_msg *m;
    chan *c;
    int i;

    c = find_or_add(r, channel, len);
    if (c == NULL)
        return NULL;
    src[F_USER_ID] = in->user_id;
    n[F_USER_ID] = in->user_id_len;
    src[F_USER_NAME] = in->user_name;
    n[F_USER_NAME] = in->user_name_len;
    src[F_TEXT] = in->text;
    n[F_TEXT] = in->text != NULL ? gw_utf8_cut(in->text, in->text_len,
                                               r->lim.max_text_bytes) : 0;
    src[F_MESSAGE_ID] = in->message_id;
    n[F_MESSAGE_ID] = in->message_id_len;
    src[F_REPLY_TO] = in->reply_to;
    n[F_REPLY_TO] = in->reply_to_len;
    src[F_EXTRA] = in->extra;
    n[F_EXTRA] = in->extra != NULL ? strlen(in->extra) : 0;
    /*
     * One allocation for the message and its strings: a message is added
     * per webhook call, and seven allocations (and seven frees when it
     * is dropped) were a visible part of the gateway's work per call.
     */
    total = sizeof *m;
    for (i = 0; i < F_N; i++) {
        if (src[i] == NULL)
            n[i] = 0;
        total += n[i] + 1;
    }
    m = malloc(total);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    m->kind = in->kind;
    m->is_bot = in->is_bot;
    m->timestamp = in->timestamp;
    m->bytes = 128;               /* the struct and its overhead */
    dst[F_USER_ID] = &m->user_id;
    dst[F_USER_NAME] = &m->user_name;
    dst[F_TEXT] = &m->text;
    dst[F_MESSAGE_ID] = &m->message_id;
    dst[F_REPLY_TO] = &m->reply_to;
    dst[F_EXTRA] = &m->extra;
    p = (char *)(m + 1);
    for (i = 0; i < F_N; i++) {
        if (n[i] > 0)
            memcpy(p, src[i], n[i]);
        p[n[i]] = '\0';
        *dst[i] = p;
        p += n[i] + 1;
        m->bytes += n[i];
    }
    while (c->n > 0 && (c->n == max ||
                        c->bytes + m->bytes > r->lim.max_channel_bytes))
        drop_oldest(c, max);
    m->seq = ++r->next_seq;
    c->ring[(c->head + c->n) % max] = m;
    c->n++;
    c->bytes += m->bytes;
    return m;
}

int gw_record_react(gw_record *r, const char *channel, size_t len,
                    const char *message_id, size_t id_len,
                    const char *emoji, size_t emoji_len)
{
    size_t max = r->lim.max_messages, i;
    chan *c = find(r, channel, len, NULL);

    if (c == NULL || id_len == 0)
        return 0;
    for (i = c->n; i-- > 0;) {
        gw_rec_msg *m = c->ring[(c->head + i) % max];

        if (strlen(m->message_id) != id_len ||
            memcmp(m->message_id, message_id, id_len) != 0)
            continue;
        if (m->nreactions < GW_REC_MAX_REACTIONS) {
            char *e = dup_n(emoji, gw_utf8_cut(emoji, emoji_len, 64));

            if (e == NULL)
                return -1;
            m->reactions[m->nreactions++] = e;
        }
        return 1;
    }
    return 0;
}

size_t gw_record_list(gw_record *r, const char *channel, size_t len,
                      uint64_t after_seq, const gw_rec_msg **out,
                      size_t cap)
{
    size_t max = r->lim.max_messages, i, first, n = 0;
    chan *c = find(r, channel, len, NULL);

    if (c == NULL || cap == 0)
        return 0;
    first = c->n > cap ? c->n - cap : 0;
    for (i = first; i < c->n; i++) {
        const gw_rec_msg *m = c->ring[(c->head + i) % max];

        if (m->seq > after_seq)
            out[n++] = m;
    }
    return n;
}

size_t gw_record_channels(const gw_record *r)
{
    return r->nchans;
}

size_t gw_record_count(gw_record *r, const char *channel, size_t len)
{
    chan *c = find(r, channel, len, NULL);

    return c != NULL ? c->n : 0;
}
