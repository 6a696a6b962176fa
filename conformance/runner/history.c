/*
 * history.c: the history of a case and the checks over it.
 */
#define _POSIX_C_SOURCE 200809L

#include "history.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy(char *dst, size_t cap, const char *src)
{
    if (src == NULL)
        src = "";
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void sgc_history_init(sgc_history *h)
{
    memset(h, 0, sizeof *h);
}

void sgc_history_free(sgc_history *h)
{
    free(h->v);
    free(h->t);
    memset(h, 0, sizeof *h);
}

size_t sgc_history_add(sgc_history *h, int kind, long long t_ms,
                       const char *channel, const char *token,
                       const char *entry_id, const char *key,
                       const char *detail, int n)
{
    /* Build the event first: the strings may point into h->v, which the
     * growth below may move. */
    sgc_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.t_ms = t_ms;
    copy(e.channel, sizeof e.channel, channel);
    copy(e.token, sizeof e.token, token);
    copy(e.entry_id, sizeof e.entry_id, entry_id);
    copy(e.key, sizeof e.key, key);
    copy(e.detail, sizeof e.detail, detail);
    e.n = n;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        sgc_event *v = realloc(h->v, cap * sizeof *v);
        if (v == NULL)
            return (size_t)-1;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n] = e;
    return h->n++;
}

int sgc_parse_id(const char *id, unsigned long long *ms,
                 unsigned long long *seq)
{
    char *end;
    errno = 0;
    unsigned long long a = strtoull(id, &end, 10);
    if (errno != 0 || end == id || *end != '-')
        return -1;
    const char *s = end + 1;
    unsigned long long b = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *ms = a;
    *seq = b;
    return 0;
}

static int id_cmp(unsigned long long am, unsigned long long as,
                  unsigned long long bm, unsigned long long bs)
{
    if (am != bm)
        return am < bm ? -1 : 1;
    if (as != bs)
        return as < bs ? -1 : 1;
    return 0;
}

int sgc_history_track(sgc_history *h, const char *entry_id, size_t pub)
{
    unsigned long long ms, seq;
    if (sgc_parse_id(entry_id, &ms, &seq) != 0)
        return -1;
    if (h->nt == h->tcap) {
        size_t cap = h->tcap ? h->tcap * 2 : 256;
        sgc_tracked *t = realloc(h->t, cap * sizeof *t);
        if (t == NULL)
            return -1;
        h->t = t;
        h->tcap = cap;
    }
    /* IDs come in increasing order almost always; insert in place. */
    size_t i = h->nt;
    while (i > 0 && id_cmp(h->t[i - 1].ms, h->t[i - 1].seq, ms, seq) > 0)
        i--;
    memmove(&h->t[i + 1], &h->t[i], (h->nt - i) * sizeof *h->t);
    memset(&h->t[i], 0, sizeof h->t[i]);
    h->t[i].ms = ms;
    h->t[i].seq = seq;
    h->t[i].pub = pub;
    h->nt++;
    return 0;
}

sgc_tracked *sgc_history_find(sgc_history *h, const char *entry_id)
{
    unsigned long long ms, seq;
    if (sgc_parse_id(entry_id, &ms, &seq) != 0)
        return NULL;
    size_t lo = 0, hi = h->nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = id_cmp(h->t[mid].ms, h->t[mid].seq, ms, seq);
        if (c == 0)
            return &h->t[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int sgc_token_of(const char *text, char *token, size_t cap)
{
    const char *p = text ? strstr(text, "tok=") : NULL;
    if (p == NULL)
        return -1;
    p += 4;
    size_t n = 0;
    while (p[n] != '\0' && p[n] != ' ' && p[n] != '"' && p[n] != '\n' &&
           p[n] != '\\')
        n++;
    if (n == 0 || n >= cap)
        return -1;
    memcpy(token, p, n);
    token[n] = '\0';
    return 0;
}

const char *sgc_history_channel_of(const sgc_history *h, const char *token)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].kind == SGC_EV_PUBLISH &&
            strcmp(h->v[i].token, token) == 0)
            return h->v[i].channel;
    return NULL;
}

int sgc_history_count(const sgc_history *h, int kind, const char *token)
{
    int n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].kind == kind && strcmp(h->v[i].token, token) == 0)
            n++;
    return n;
}

const char *sgc_anomaly_name(int kind)
{
    switch (kind) {
    case SGC_AN_LOST: return "lost";
    case SGC_AN_DUPLICATE: return "duplicated";
    case SGC_AN_UNEXPECTED: return "unexpected delivery";
    case SGC_AN_ORDER: return "out of per-channel order";
    case SGC_AN_OVERLAP: return "overlapping executions on one channel";
    case SGC_AN_KEY: return "several sends for one message_key";
    case SGC_AN_AFTER_ACK: return "executed or delivered after its ack";
    case SGC_AN_DLQ: return "healthy entry dead-lettered";
    case SGC_AN_RECLAIM: return "healthy entry redelivered";
    default: return "?";
    }
}

typedef struct sink {
    sgc_anomaly *out;
    size_t max, n;
} sink;

static void report(sink *s, int kind, const char *token, const char *channel,
                   const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void report(sink *s, int kind, const char *token, const char *channel,
                   const char *expected, const char *fmt, ...)
{
    if (s->n < s->max) {
        sgc_anomaly *a = &s->out[s->n];
        memset(a, 0, sizeof *a);
        a->kind = kind;
        copy(a->token, sizeof a->token, token);
        copy(a->channel, sizeof a->channel, channel);
        copy(a->expected, sizeof a->expected, expected);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->actual, sizeof a->actual, fmt, ap);
        va_end(ap);
    }
    s->n++;
}

/* Per published token: counts and times gathered in one pass. */
typedef struct tokstate {
    const sgc_event *pub;
    size_t pub_index;
    int delivered;
    int effects;
    int dlq;
    int max_deliveries;
    long long ack_ms;           /* 0: not seen acked */
    size_t first_delivery;      /* event index */
} tokstate;

static int cmp_str(const void *a, const void *b)
{
    const tokstate *x = a, *y = b;
    return strcmp(x->pub->token, y->pub->token);
}

static tokstate *find_tok(tokstate *v, size_t n, const char *token)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].pub->token, token);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static tokstate *find_entry(tokstate *v, size_t n, const char *entry_id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].pub->entry_id, entry_id) == 0)
            return &v[i];
    return NULL;
}

static int cmp_effect(const void *a, const void *b)
{
    const sgc_event *x = *(const sgc_event *const *)a;
    const sgc_event *y = *(const sgc_event *const *)b;
    int c = strcmp(x->channel, y->channel);
    if (c != 0)
        return c;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static int cmp_key(const void *a, const void *b)
{
    const sgc_event *x = *(const sgc_event *const *)a;
    const sgc_event *y = *(const sgc_event *const *)b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x < y ? -1 : (x > y);
}

size_t sgc_history_check(const sgc_history *h, const sgc_hcheck_opts *o,
                         sgc_anomaly *out, size_t max)
{
    sink s = { out, max, 0 };
    size_t ntok = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].kind == SGC_EV_PUBLISH)
            ntok++;
    tokstate *ts = calloc(ntok ? ntok : 1, sizeof *ts);
    const sgc_event **ev = calloc(h->n ? h->n : 1, sizeof *ev);
    if (ts == NULL || ev == NULL) {
        free(ts);
        free(ev);
        report(&s, SGC_AN_LOST, "", "", "memory", "out of memory");
        return s.n;
    }
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].kind == SGC_EV_PUBLISH) {
            ts[k].pub = &h->v[i];
            ts[k].pub_index = k;
            ts[k].first_delivery = (size_t)-1;
            k++;
        }
    /* pub_index keeps publish order; sort a copy by token for lookup. */
    qsort(ts, ntok, sizeof *ts, cmp_str);

    for (size_t i = 0; i < h->n; i++) {
        const sgc_event *e = &h->v[i];
        tokstate *t = NULL;
        switch (e->kind) {
        case SGC_EV_EFFECT:
            if ((t = find_tok(ts, ntok, e->token)) != NULL)
                t->effects++;
            break;
        case SGC_EV_DELIVER:
            if ((t = find_tok(ts, ntok, e->token)) != NULL) {
                if (t->delivered == 0)
                    t->first_delivery = i;
                t->delivered++;
            }
            break;
        case SGC_EV_DLQ:
            if ((t = find_entry(ts, ntok, e->entry_id)) != NULL)
                t->dlq++;
            break;
        case SGC_EV_ACK:
            if ((t = find_entry(ts, ntok, e->entry_id)) != NULL &&
                t->ack_ms == 0)
                t->ack_ms = e->t_ms;
            break;
        case SGC_EV_PENDING:
            if ((t = find_entry(ts, ntok, e->entry_id)) != NULL &&
                e->n > t->max_deliveries)
                t->max_deliveries = e->n;
            break;
        default:
            break;
        }
    }

    /* Lost, duplicated, unexpected, dead-lettered, redelivered. */
    for (size_t i = 0; i < ntok; i++) {
        tokstate *t = &ts[i];
        const char *tok = t->pub->token, *ch = t->pub->channel;
        int want = t->pub->n;
        if (want == SGC_EXPECT_ONCE) {
            if (t->delivered == 0 && t->dlq == 0)
                report(&s, SGC_AN_LOST, tok, ch, "delivered exactly once",
                       "entry %s (channel %s) never delivered and not "
                       "dead-lettered", t->pub->entry_id, ch);
            if (t->dlq > 0 && !o->dlq_ok)
                report(&s, SGC_AN_DLQ, tok, ch,
                       "delivered once, not dead-lettered",
                       "entry %s dead-lettered %d time(s), delivered %d "
                       "time(s)", t->pub->entry_id, t->dlq, t->delivered);
        }
        if (want != SGC_EXPECT_NONE && t->delivered > 1) {
            /* Redelivered with one message_key is at-least-once, which
             * the completion marker and claim key make exactly-once. */
            const char *key0 = NULL;
            int same = o->dup_same_key_ok;
            for (size_t i2 = 0; same && i2 < h->n; i2++) {
                const sgc_event *d = &h->v[i2];
                if (d->kind != SGC_EV_DELIVER || strcmp(d->token, tok) != 0)
                    continue;
                if (key0 == NULL)
                    key0 = d->key;
                if (d->key[0] == '\0' || strcmp(d->key, key0) != 0)
                    same = 0;
            }
            if (!same)
                report(&s, SGC_AN_DUPLICATE, tok, ch,
                       o->dup_same_key_ok
                           ? "redeliveries carry one message_key"
                           : "at most one delivery",
                       "entry %s delivered %d times%s", t->pub->entry_id,
                       t->delivered, o->dup_same_key_ok
                           ? " with different or missing message_keys" : "");
        }
        if (want == SGC_EXPECT_NONE && t->delivered > 0)
            report(&s, SGC_AN_UNEXPECTED, tok, ch, "no delivery",
                   "entry %s delivered %d time(s)", t->pub->entry_id,
                   t->delivered);
        if (o->reclaim && want == SGC_EXPECT_ONCE && t->max_deliveries > 1)
            report(&s, SGC_AN_RECLAIM, tok, ch,
                   "delivery count 1 (never reclaimed)",
                   "entry %s seen pending with delivery count %d",
                   t->pub->entry_id, t->max_deliveries);
    }

    /* Executed or delivered after the ack was seen. */
    for (size_t i = 0; i < h->n; i++) {
        const sgc_event *e = &h->v[i];
        if (e->kind != SGC_EV_EFFECT && e->kind != SGC_EV_DELIVER)
            continue;
        if (o->dup_same_key_ok)
            break;  /* a crashed handler's late effects are expected */
        tokstate *t = find_tok(ts, ntok, e->token);
        if (t == NULL || t->ack_ms == 0)
            continue;
        if (e->t_ms > t->ack_ms + o->slack_ms)
            report(&s, SGC_AN_AFTER_ACK, e->token, e->channel,
                   "acknowledged only after its handling finished",
                   "entry %s acknowledged by %lld ms, %s at %lld ms "
                   "(%lld ms later)", t->pub->entry_id, t->ack_ms,
                   e->kind == SGC_EV_EFFECT ? "execution started"
                                            : "result delivered",
                   e->t_ms, e->t_ms - t->ack_ms);
    }

    /* Per-channel order of first deliveries: the first inversion of each
     * channel is reported (later ones add nothing but noise). */
    if (o->order) {
        const char *done[64];
        size_t ndone = 0;
        for (size_t i = 0; i < h->n; i++) {
            const sgc_event *e = &h->v[i];
            if (e->kind != SGC_EV_DELIVER)
                continue;
            tokstate *t = find_tok(ts, ntok, e->token);
            if (t == NULL || t->first_delivery != i)
                continue;
            int seen_ch = 0;
            for (size_t d = 0; d < ndone; d++)
                seen_ch |= strcmp(done[d], t->pub->channel) == 0;
            if (seen_ch)
                continue;
            /* Any token of this channel published later but delivered
             * earlier? */
            for (size_t j = 0; j < ntok; j++) {
                tokstate *u = &ts[j];
                if (u == t || strcmp(u->pub->channel, t->pub->channel) != 0)
                    continue;
                if (u->pub_index > t->pub_index &&
                    u->first_delivery != (size_t)-1 &&
                    u->first_delivery < i) {
                    report(&s, SGC_AN_ORDER, t->pub->token,
                           t->pub->channel,
                           "deliveries of one channel in publish order",
                           "channel %s: %s (published as #%zu) delivered "
                           "after %s (published later, as #%zu)",
                           t->pub->channel, t->pub->token, t->pub_index,
                           u->pub->token, u->pub_index);
                    if (ndone < 64)
                        done[ndone++] = t->pub->channel;
                    break;
                }
            }
        }
    }

    /* Overlapping executions per channel. */
    if (o->overlap) {
        size_t m = 0;
        for (size_t i = 0; i < h->n; i++)
            if (h->v[i].kind == SGC_EV_EFFECT && h->v[i].channel[0])
                ev[m++] = &h->v[i];
        qsort(ev, m, sizeof *ev, cmp_effect);
        for (size_t i = 1; i < m; i++) {
            const sgc_event *a = ev[i - 1], *b = ev[i];
            if (strcmp(a->channel, b->channel) != 0 || a->t_end_ms == 0)
                continue;
            if (b->t_ms + o->slack_ms < a->t_end_ms)
                report(&s, SGC_AN_OVERLAP, b->token, b->channel,
                       "one execution at a time per channel",
                       "channel %s: %s ran %lld..%lld ms, %s started at "
                       "%lld ms", a->channel, a->token, a->t_ms,
                       a->t_end_ms, b->token, b->t_ms);
        }
    }

    /* Deliveries per message_key. */
    if (o->keys) {
        size_t m = 0;
        for (size_t i = 0; i < h->n; i++)
            if (h->v[i].kind == SGC_EV_DELIVER && h->v[i].key[0])
                ev[m++] = &h->v[i];
        qsort(ev, m, sizeof *ev, cmp_key);
        for (size_t i = 0; i < m;) {
            size_t j = i;
            while (j < m && strcmp(ev[j]->key, ev[i]->key) == 0)
                j++;
            /* Different messages under one key (a repeat of one message
             * is a duplicate, reported above). */
            size_t other = j;
            for (size_t k = i + 1; k < j && other == j; k++)
                if (strcmp(ev[k]->token, ev[i]->token) != 0)
                    other = k;
            if (other != j)
                report(&s, SGC_AN_KEY, ev[i]->token, ev[i]->channel,
                       "at most one send per message_key",
                       "message_key %s sent %zu times (tokens %s, %s)",
                       ev[i]->key, j - i, ev[i]->token, ev[other]->token);
            i = j;
        }
    }

    free(ts);
    free(ev);
    return s.n;
}
