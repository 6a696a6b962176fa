/*
 * The consumer engine of sg/consumer.h.
 *
 * Life of a job (an entry read or claimed):
 *
 *   read/claimed -> decode --rejected--> settle D (dead letter)
 *                     |
 *                   plan --lock key--> channel queue (FIFO per key)
 *                     |                    | head of its channel
 *                     +--no lock--------> begin (B, in the step script)
 *                                          |  BUSY: wait 10..500 ms, again;
 *                                          |        past SG_LOCK_WAIT_MS:
 *                                          |        settle Q (requeue)
 *                                          v
 *                                        running (ops.handle)
 *                                          | sg_job_finish()
 *                                          v
 *                                        settle A / F / P (in the step
 *                                        script) -> freed
 *
 * Round trips. Nothing is sent from where a job changes state: begin and
 * settle operations are queued, and one "flush" event, run once per loop
 * iteration, sends everything queued as one sg__step script call: the
 * settle operations first, then the begins. A channel whose next entry is
 * already queued thus finishes one entry and begins the next in one round
 * trip and one command, keeping its lock (the begin finds the lock holding
 * its token and only refreshes the TTL).
 *
 * Ownership. The engine owns every job except a running one, which the
 * role holds until sg_job_finish(). Requests in flight on the shared
 * command connection are listed in the engine; freeing the engine detaches
 * them (their callbacks then only free the request) and detaches running
 * jobs (their finish then only frees them).
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/consumer.h"

#include "clock.h"
#include "resp.h"
#include "scripts.h"
#include "sg/random.h"
#include "strmap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define BATCH_MAX 128          /* operations per script call */
#define READ_MARGIN_MS 5000    /* beyond BLOCK before a read times out */
#define READS_MAX 12           /* XREADGROUPs in the reader's pipeline */
#define RETRY_MS 100           /* after a send failed at once */
#define READ_GATE_MS 2         /* the longest an ordered read waits to batch */
#define HAND_WINDOWS 4         /* hand list bound, in SG_MAX_IN_FLIGHTs */
#define HAND_TICK_MS 1000      /* the longest between hand-over renewals */
#define HAND_PAUSE_MS 5        /* no read for that long after a full peer */
#define HAND_PAUSE_MAX_MS 20   /* then read past it (SG-IN-008) */
#define LOCK_DELAY_MIN_MS 10   /* SG-LOCK-005 */
#define LOCK_DELAY_MAX_MS 500
#define TOKEN_BYTES 16         /* 128 bits, SG-LOCK-001 */
#define DLQ_ERROR_MAX 1024

enum job_state {
    J_QUEUED,          /* in its channel's queue */
    J_WAIT,            /* channel head, waiting to retry the lock */
    J_BEGIN_PENDING,   /* in the begin list */
    J_BEGINNING,       /* its B operation in flight */
    J_RUNNING,         /* with the role */
    J_SETTLE           /* settle operation queued or in flight */
};

typedef struct sg__chan sg__chan;

struct sg_job {
    sg_consumer *eng;              /* NULL: detached */
    const sg_mem *mem;
    void (*free_payload)(void *ud, void *payload);
    void *ops_ud;
    sg_job *next;                  /* channel queue or begin list */
    sg_job *all_prev;
    sg_job *all_next;
    sg__chan *chan;                /* NULL: no lock */
    enum job_state state;
    int fenced;
    int claimed;
    int begin_flags;
    long long deliveries;
    uint64_t admitted_ms;          /* read or claimed: lock wait counts */
    uint64_t touched_ms;           /* read, claimed, or idle reset */
    void *payload;
    char *id;
    size_t id_len;
    sg_entry_field *fields;
    size_t nfields;
    char *guard;                   /* one allocation: message_key, claim_key */
    const char *message_key;
    size_t message_key_len;
    const char *claim_key;
    size_t claim_key_len;
    char *sent_id;
    size_t sent_id_len;
    char *order_key;               /* its channel's order queue, or NULL */
    size_t order_key_len;
    char flagbuf[8];
};

struct sg__chan {
    char *key;                     /* in this allocation */
    size_t key_len;
    sg_job *head;                  /* waiting, in read order */
    sg_job *tail;
    sg_job *active;                /* beginning, running, or waiting */
    int holds;                     /* the lock holds our token */
    char token[2 * TOKEN_BYTES + 1];
    uint64_t lock_ok_ms;           /* taken or renewed */
    int delay_ms;                  /* next retry delay */
    struct event *retry_ev;
    sg_consumer *eng;
};

/* A queued sg__step operation, or an sg__renew item. */
typedef struct sg__op {
    struct sg__op *next;
    char code;                     /* A F D Q R T P, or W (renew) */
    int flags;
    int cancel;                    /* A: a cancellation */
    sg_job *job;                   /* A F D Q P */
    char token[2 * TOKEN_BYTES + 1];
    char *own;                     /* owned strings below */
    const char *key;               /* lock key (flag 1) */
    size_t key_len;
    const char *key2;              /* flag 2 */
    size_t key2_len;
    const char *id;
    size_t id_len;
    const char *v[4];              /* values before the fields */
    size_t vlen[4];
    int nv;
    int with_fields;               /* F D: the job's fields follow */
    const char *wkey;              /* A: the stream written to (flag 64) */
    size_t wkey_len;
    const char *lkey;              /* A: the list appended to (flag 128) */
    size_t lkey_len;
    const char **xv;               /* A: the writes' values, after v */
    size_t *xvlen;
    size_t nxv;
    void (*done)(void *ud, int outcome); /* A with writes */
    void *done_ud;
    int requeue;                   /* Q: the copy's fields */
    long long count;               /* Q: the new requeue_count */
    char num[24];
    char flagbuf[8];
    char nvbuf[16];
} sg__op;

enum req_kind { REQ_STEP, REQ_RENEW, REQ_CLAIM, REQ_GROUP };

typedef struct sg__req {
    struct sg__req *prev;
    struct sg__req *next;
    sg_consumer *eng;              /* NULL: detached */
    const sg_mem *mem;
    enum req_kind kind;
    size_t n;                      /* REQ_RENEW: items */
    size_t nops;                   /* REQ_STEP: settle operations, then */
    size_t njobs;                  /* jobs to begin */
    void **items;
    uint64_t sent_ms;
} sg__req;

struct sg_consumer {
    sg_conn *conn;
    sg_conn *reader;
    const sg_log *log;
    const sg_mem *mem;
    char *stream;
    char *group;
    char *name;
    char *dlq;
    char *hash;
    int lock_ttl_ms;
    sg_knobs k;
    sg_consumer_ops ops;
    void *ud;
    const char *fail_reason;
    char *order;                   /* order-queue prefix; NULL: none */
    char *waiters;                 /* lock waiters hash; NULL: no wake-ups */
    char *wake_list;               /* this consumer's wake list */
    sg_conn *waker;                /* BLPOP on wake_list, nothing else */
    int wake_pending;              /* that BLPOP is in flight */
    char *hand;                    /* hand-over prefix; NULL: no hand-over */
    char *hand_key;                /* the group's hand-over hash */
    char *hand_list;               /* and its hand list */
    char hand_ttl_s[16];           /* their TTL, ms */
    char hand_cap_s[24];           /* the hand list's bound */
    sg__scripts scripts;

    int started;
    int stopping;
    int done;
    int freeing;
    int reads;                     /* XREADGROUPs in flight */
    int read_counts[READS_MAX];    /* their COUNTs, oldest at read_head */
    int read_head;
    int last_full;                 /* the last read got all it asked */
    long long reserved;            /* sum of read_counts in flight */
    int need_wait;                 /* ordered: the group ran dry */
    uint64_t gate_since;           /* ordered: a read waits since (ms) */
    uint64_t pause_until;          /* ordered: no read before (ms) */
    uint64_t pause_since;          /* ordered: reads wait for a full peer
                                      since (ms) */
    int hand_forced;               /* ordered: read past full peers */
    int waiting;                   /* ordered: XREAD BLOCK in flight */
    char newest[48];               /* ordered: the stream's newest ID */
    int creating_group;
    int claiming;
    int flush_scheduled;
    sg_consumer_done_fn *done_fn;
    void *done_ud;

    struct event *flush_ev;
    struct event *retry_ev;
    struct event *read_ev;
    struct event *renew_ev;
    struct event *touch_ev;
    struct event *claim_ev;
    struct event *drain_ev;
    struct event *done_ev;
    struct event *wake_ev;         /* re-issues the BLPOP after a failure */

    sg__strmap chans;
    sg__strmap jobs;               /* id -> job */
    sg_job *all;                   /* every live job */
    sg_job *begin_head;
    sg_job *begin_tail;
    sg__op *settle_head;
    sg__op *settle_tail;
    sg__req *reqs;
    char cursor[48];
    char lock_ttl_s[16];
    char claim_ttl_s[16];
    char maxdel_s[16];
    char maxlen_s[24];
    uint64_t rng;

    const char **av;               /* scratch for building a call */
    size_t *avlen;
    size_t avcap;

    sg_consumer_stats st;
    uint64_t reader_sent;          /* of reader and waker connections
                                      closed */
};

static void schedule_flush(sg_consumer *e);
static void chan_advance(sg_consumer *e, sg__chan *ch);
static void read_more(sg_consumer *e);
static void check_drained(sg_consumer *e);

/* ---- small helpers ------------------------------------------------------ */

static void *xalloc(const sg_mem *mem, size_t n)
{
    return mem->malloc(n, mem->ud);
}

static void xfree(const sg_mem *mem, void *p)
{
    if (p != NULL)
        mem->free(p, mem->ud);
}

static char *xstrdup(const sg_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xalloc(mem, n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void put_num(char *buf, size_t cap, long long v)
{
    char digits[SG__DEC_MAX];
    size_t n;
    int w;

    if (v >= 0) {
        n = sg__dec_u64(digits, (uint64_t)v);
        if (n < cap) {
            memcpy(buf, digits, n);
            buf[n] = '\0';
        } else if (cap > 0) {
            buf[0] = '\0';
        }
        return;
    }
    w = snprintf(buf, cap, "%lld", v);
    if (w < 0 || (size_t)w >= cap)
        buf[0] = '\0';
}

/* xorshift64*: jitter only, so a fast generator seeded once is enough. */
static uint64_t rnd(sg_consumer *e)
{
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return e->rng * 2685821657736338717ull;
}

static int arm(struct event *ev, uint64_t ms)
{
    struct timeval tv;

    sg__ms_to_tv(ms, &tv);

    return event_add(ev, &tv);
}

static const char *field_of(const sg_job *job, const char *name, size_t *len)
{
    size_t n = strlen(name), i;

    for (i = 0; i < job->nfields; i++)
        if (job->fields[i].name.len == n &&
            memcmp(job->fields[i].name.ptr, name, n) == 0) {
            if (len != NULL)
                *len = job->fields[i].value.len;
            return job->fields[i].value.ptr;
        }
    return NULL;
}

/* The trace id of a job for log lines (SG-TRACE-003); "-" when none. */
static const char *trace_of(const sg_job *job)
{
    size_t len;
    const char *t = field_of(job, "trace_id", &len);

    return t != NULL && len > 0 && len <= 128 ? t : "-";
}

/* Grows the scratch argument arrays to n. 0 or SG_ENOMEM. */
static int scratch(sg_consumer *e, size_t n)
{
    const char **av;
    size_t *len;

    if (n <= e->avcap)
        return 0;
    av = e->mem->realloc(e->av, n * sizeof *av, e->mem->ud);
    if (av == NULL)
        return SG_ENOMEM;
    e->av = av;
    len = e->mem->realloc(e->avlen, n * sizeof *len, e->mem->ud);
    if (len == NULL)
        return SG_ENOMEM;
    e->avlen = len;
    e->avcap = n;
    return 0;
}

/* ---- requests ----------------------------------------------------------- */

static sg__req *req_new(sg_consumer *e, enum req_kind kind, size_t n)
{
    sg__req *r = xalloc(e->mem, sizeof *r + n * sizeof(void *));

    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->eng = e;
    r->mem = e->mem;
    r->kind = kind;
    r->items = (void **)(r + 1);
    r->sent_ms = sg__mono_ms();
    return r;
}

static void req_link(sg_consumer *e, sg__req *r)
{
    r->prev = NULL;
    r->next = e->reqs;
    if (e->reqs != NULL)
        e->reqs->prev = r;
    e->reqs = r;
}

static void req_unlink(sg_consumer *e, sg__req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        e->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void op_free(const sg_mem *mem, sg__op *op)
{
    xfree(mem, op->own);
    xfree(mem, op->xv);
    xfree(mem, op);
}

/* Tells a finish with writes its outcome (sg_job_writes.done), once. */
static void op_done(sg__op *op, int outcome)
{
    void (*done)(void *, int) = op->done;

    op->done = NULL;
    if (done != NULL)
        done(op->done_ud, outcome);
}

/*
 * Frees a request whose engine is gone: its operations are its own, its
 * jobs are not (the engine freed them).
 */
static void req_free_detached(sg__req *r)
{
    size_t i;

    if (r->kind == REQ_RENEW)
        for (i = 0; i < r->n; i++)
            op_free(r->mem, r->items[i]);
    if (r->kind == REQ_STEP)
        for (i = 0; i < r->nops; i++)
            op_free(r->mem, r->items[i]);
    xfree(r->mem, r);
}

/* ---- jobs --------------------------------------------------------------- */

static void job_free_mem(sg_job *job)
{
    const sg_mem *mem = job->mem;

    if (job->payload != NULL && job->free_payload != NULL)
        job->free_payload(job->ops_ud, job->payload);
    xfree(mem, job->guard);
    xfree(mem, job->sent_id);
    xfree(mem, job->order_key);
    xfree(mem, job);
}

/*
 * A job from an entry reply: {id, {name, value, ...}} (the field list may
 * be nil for an entry deleted from the stream). NULL on a malformed entry
 * or out of memory.
 */
static sg_job *job_new(sg_consumer *e, const sg_reply *entry, int claimed)
{
    const sg_reply *rid = sg_reply_at(entry, 0);
    const sg_reply *rf = sg_reply_at(entry, 1);
    size_t idlen, nf = sg_reply_len(rf) / 2, bytes, i;
    const char *id = sg_reply_str(rid, &idlen);
    sg_job *job;
    char *p;

    if (id == NULL || idlen == 0 || idlen > 64)
        return NULL;
    bytes = sizeof *job + nf * sizeof(sg_entry_field) + idlen + 1;
    for (i = 0; i < 2 * nf; i++) {
        size_t n;

        if (sg_reply_str(sg_reply_at(rf, i), &n) == NULL)
            return NULL;
        bytes += n + 1;
    }
    job = xalloc(e->mem, bytes);
    if (job == NULL)
        return NULL;
    memset(job, 0, sizeof *job);
    job->eng = e;
    job->mem = e->mem;
    job->free_payload = e->ops.free_payload;
    job->ops_ud = e->ud;
    job->claimed = claimed;
    job->fields = (sg_entry_field *)(void *)(job + 1);
    job->nfields = nf;
    p = (char *)(job->fields + nf);
    for (i = 0; i < nf; i++) {
        size_t nl, vl;
        const char *n = sg_reply_str(sg_reply_at(rf, 2 * i), &nl);
        const char *v = sg_reply_str(sg_reply_at(rf, 2 * i + 1), &vl);

        memcpy(p, n, nl);
        p[nl] = '\0';
        job->fields[i].name.ptr = p;
        job->fields[i].name.len = nl;
        p += nl + 1;
        memcpy(p, v, vl);
        p[vl] = '\0';
        job->fields[i].value.ptr = p;
        job->fields[i].value.len = vl;
        p += vl + 1;
    }
    memcpy(p, id, idlen);
    p[idlen] = '\0';
    job->id = p;
    job->id_len = idlen;
    job->admitted_ms = job->touched_ms = sg__mono_ms();
    if (sg__strmap_put(&e->jobs, job->id, job->id_len, job) != 0) {
        xfree(e->mem, job);
        return NULL;
    }
    job->all_next = e->all;
    if (e->all != NULL)
        e->all->all_prev = job;
    e->all = job;
    e->st.in_flight++;
    if (e->st.in_flight > e->st.max_in_flight_seen)
        e->st.max_in_flight_seen = e->st.in_flight;
    return job;
}

/* Gives a job its order queue, "<prefix>:<channel>" or a whole key. */
static int job_set_order(sg_consumer *e, sg_job *job, const char *prefix,
                         const char *part, size_t len)
{
    size_t plen = prefix != NULL ? strlen(prefix) + 1 : 0;
    char *k = xalloc(e->mem, plen + len + 1);

    if (k == NULL)
        return SG_ENOMEM;
    if (plen > 0) {
        memcpy(k, prefix, plen - 1);
        k[plen - 1] = ':';
    }
    memcpy(k + plen, part, len);
    k[plen + len] = '\0';
    xfree(e->mem, job->order_key);
    job->order_key = k;
    job->order_key_len = plen + len;
    return 0;
}

/*
 * Compares two stream IDs "<ms>-<seq>" as the numbers they are: negative,
 * 0 or positive. An ID that does not parse sorts last.
 */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    char *end;

    errno = 0;
    am = strtoull(a, &end, 10);
    as = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    bm = strtoull(b, &end, 10);
    bs = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    if (errno != 0)
        return 0;
    if (am != bm)
        return am < bm ? -1 : 1;
    if (as != bs)
        return as < bs ? -1 : 1;
    return 0;
}

/* Takes a job out of the engine's books (not out of a channel). */
static void job_unlist(sg_consumer *e, sg_job *job)
{
    sg__strmap_del(&e->jobs, job->id, job->id_len);
    if (job->all_prev != NULL)
        job->all_prev->all_next = job->all_next;
    else
        e->all = job->all_next;
    if (job->all_next != NULL)
        job->all_next->all_prev = job->all_prev;
    job->all_prev = job->all_next = NULL;
    e->st.in_flight--;
}

/* A job has ended: free it, then read more if that made room. */
static void job_end(sg_consumer *e, sg_job *job)
{
    job_unlist(e, job);
    job_free_mem(job);
    read_more(e);
    check_drained(e);
}

/*
 * Ends a job without any Redis effect (not ours, fenced, stopping): the
 * entry stays wherever Redis has it. Its channel moves on.
 */
static void job_drop(sg_consumer *e, sg_job *job)
{
    sg__chan *ch = job->chan;

    job->chan = NULL;
    if (ch != NULL && ch->active == job)
        chan_advance(e, ch);
    job_end(e, job);
}

/* ---- operations --------------------------------------------------------- */

/*
 * A new operation. `strs` strings of total length `own_len` are copied into
 * op->own by the caller through own_put().
 */
static sg__op *op_new(sg_consumer *e, char code, size_t own_len)
{
    sg__op *op = xalloc(e->mem, sizeof *op);

    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof *op);
    op->code = code;
    if (own_len > 0) {
        op->own = xalloc(e->mem, own_len);
        if (op->own == NULL) {
            xfree(e->mem, op);
            return NULL;
        }
    }
    return op;
}

/* Copies s[0..n) to *at (inside op->own) and returns where it went. */
static const char *own_put(char **at, const char *s, size_t n)
{
    char *p = *at;

    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    *at += n + 1;
    return p;
}

static void settle_push(sg_consumer *e, sg__op *op)
{
    op->next = NULL;
    if (e->settle_tail != NULL)
        e->settle_tail->next = op;
    else
        e->settle_head = op;
    e->settle_tail = op;
    schedule_flush(e);
}

/* A release of a channel's lock (compare-and-delete). */
static void queue_release(sg_consumer *e, sg__chan *ch)
{
    sg__op *op = op_new(e, 'R', ch->key_len + 1);
    char *at;

    ch->holds = 0;
    if (op == NULL) {
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: out of memory releasing "
                "lock %s; it will expire", e->name, ch->key);
        return;
    }
    at = op->own;
    op->key = own_put(&at, ch->key, ch->key_len);
    op->key_len = ch->key_len;
    op->flags = SG__F_LOCK;
    memcpy(op->token, ch->token, sizeof op->token);
    op->id = "0-0";
    op->id_len = 3;
    settle_push(e, op);
}

/* ---- channels ----------------------------------------------------------- */

static void chan_retry_cb(evutil_socket_t fd, short what, void *arg);

static sg__chan *chan_get(sg_consumer *e, const char *key, size_t len)
{
    sg__chan *ch = sg__strmap_get(&e->chans, key, len);

    if (ch != NULL)
        return ch;
    ch = xalloc(e->mem, sizeof *ch + len + 1);
    if (ch == NULL)
        return NULL;
    memset(ch, 0, sizeof *ch);
    ch->key = (char *)(ch + 1);
    memcpy(ch->key, key, len);
    ch->key[len] = '\0';
    ch->key_len = len;
    ch->delay_ms = LOCK_DELAY_MIN_MS;
    ch->eng = e;
    ch->retry_ev = evtimer_new(sg_conn_base(e->conn), chan_retry_cb, ch);
    if (ch->retry_ev == NULL ||
        sg__strmap_put(&e->chans, ch->key, ch->key_len, ch) != 0) {
        if (ch->retry_ev != NULL)
            event_free(ch->retry_ev);
        xfree(e->mem, ch);
        return NULL;
    }
    return ch;
}

static void chan_free(sg_consumer *e, sg__chan *ch)
{
    event_free(ch->retry_ev);
    xfree(e->mem, ch);
}

static void chan_maybe_free(sg_consumer *e, sg__chan *ch)
{
    if (ch->active != NULL || ch->head != NULL || ch->holds ||
        evtimer_pending(ch->retry_ev, NULL))
        return;
    sg__strmap_del(&e->chans, ch->key, ch->key_len);
    chan_free(e, ch);
}

static void begin_push(sg_consumer *e, sg_job *job)
{
    job->state = J_BEGIN_PENDING;
    job->next = NULL;
    if (e->begin_tail != NULL)
        e->begin_tail->next = job;
    else
        e->begin_head = job;
    e->begin_tail = job;
    schedule_flush(e);
}

/*
 * The channel's active job is done with it: start the next queued job, or
 * release the lock when nothing is queued.
 */
static void chan_advance(sg_consumer *e, sg__chan *ch)
{
    sg_job *job = ch->head;

    ch->active = NULL;
    if (job != NULL) {
        ch->head = job->next;
        if (ch->head == NULL)
            ch->tail = NULL;
        job->next = NULL;
        ch->active = job;
        if (!ch->holds && sg_random_hex(ch->token, TOKEN_BYTES) != 0) {
            sg_logf(e->log, SG_LOG_ERROR, "consumer %s: no random source "
                    "for a lock token; leaving %s pending", e->name,
                    job->id);
            job_drop(e, job);
            return;
        }
        begin_push(e, job);
        return;
    }
    if (ch->holds)
        queue_release(e, ch);
    chan_maybe_free(e, ch);
}

/* A dead letter for a job that waited too long, or a requeued copy. */
static void queue_requeue(sg_consumer *e, sg_job *job, uint64_t waited)
{
    size_t len;
    const char *rc = field_of(job, "requeue_count", &len);
    long long count = 0;
    sg__op *op;

    if (rc != NULL && len > 0 && len < 20) {
        char buf[24];
        char *end;

        memcpy(buf, rc, len);
        buf[len] = '\0';
        errno = 0;
        count = strtoll(buf, &end, 10);
        if (errno != 0 || *end != '\0' || count < 0)
            count = 0;
    }
    job->chan = NULL;
    job->state = J_SETTLE;
    if (count >= e->k.max_requeues) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "waited %llu ms for its channel "
                         "lock after %lld requeues",
                         (unsigned long long)waited, count);

        if (n < 0)
            msg[0] = '\0';
        op = op_new(e, 'D', strlen(msg) + 1);
        if (op != NULL) {
            char *at = op->own;

            op->v[0] = "lock_timeout";
            op->vlen[0] = 12;
            op->v[1] = "";
            op->vlen[1] = 0;
            op->vlen[2] = strlen(msg);
            op->v[2] = own_put(&at, msg, op->vlen[2]);
            op->v[3] = "";
            op->vlen[3] = 0;
            op->nv = 4;
            op->with_fields = 1;
        }
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s) "
                "waited %llu ms for its lock after %lld requeues; "
                "dead-lettering as lock_timeout", e->name, job->id,
                trace_of(job), (unsigned long long)waited, count);
    } else {
        op = op_new(e, 'Q', 0);
        if (op != NULL) {
            op->requeue = 1;
            op->count = count + 1;
        }
        sg_logf(e->log, SG_LOG_INFO, "consumer %s: entry %s (trace %s) "
                "waited %llu ms for its lock; requeueing (requeue %lld)",
                e->name, job->id, trace_of(job), (unsigned long long)waited,
                count + 1);
    }
    if (op == NULL) {
        job_end(e, job);
        return;
    }
    op->job = job;
    settle_push(e, op);
}

/* The lock of the channel's active job is busy: wait, or give up. */
static void chan_wait(sg_consumer *e, sg__chan *ch)
{
    sg_job *job = ch->active, *prev = NULL, *q;
    uint64_t now = sg__mono_ms(), wait = (uint64_t)e->k.lock_wait_ms;
    int delay;

    if (now - job->admitted_ms >= wait) {
        /*
         * The active job, and every queued one that has waited as long,
         * go to the end of the stream (SG-IN-014); the rest keep waiting.
         */
        ch->active = NULL;
        queue_requeue(e, job, now - job->admitted_ms);
        q = ch->head;
        while (q != NULL) {
            sg_job *next = q->next;

            if (now - q->admitted_ms >= wait) {
                if (prev != NULL)
                    prev->next = next;
                else
                    ch->head = next;
                if (ch->tail == q)
                    ch->tail = prev;
                q->next = NULL;
                queue_requeue(e, q, now - q->admitted_ms);
            } else {
                prev = q;
            }
            q = next;
        }
        chan_advance(e, ch);
        return;
    }
    job->state = J_WAIT;
    /* Jitter: uniform in [delay/2, delay]. */
    delay = ch->delay_ms / 2 + (int)(rnd(e) % (uint64_t)(ch->delay_ms / 2 + 1));
    ch->delay_ms = ch->delay_ms * 2 > LOCK_DELAY_MAX_MS ? LOCK_DELAY_MAX_MS
                                                       : ch->delay_ms * 2;
    arm(ch->retry_ev, (uint64_t)delay);
}

/*
 * Queues a job in its channel: at the end, or, with order queues, in ID
 * order, so that an older entry (claimed after newer ones were read) goes
 * before them and this consumer's own entries of a channel begin in
 * stream order, as the order check expects of them (SG-IN-024).
 */
static void chan_insert(sg_consumer *e, sg__chan *ch, sg_job *job)
{
    sg_job **at = &ch->head;

    job->state = J_QUEUED;
    job->next = NULL;
    if (ch->tail == NULL) {
        ch->head = ch->tail = job;
        return;
    }
    if (e->order == NULL || id_cmp(ch->tail->id, job->id) < 0) {
        ch->tail->next = job;
        ch->tail = job;
        return;
    }
    while (*at != NULL && id_cmp((*at)->id, job->id) < 0)
        at = &(*at)->next;
    job->next = *at;
    *at = job;
    if (job->next == NULL)
        ch->tail = job;
}

/*
 * An older entry arrived (claimed) while the channel's active job had not
 * begun: the older one becomes active, the other goes back into the
 * queue (SG-IN-024 lets this consumer's own older entry pass, so it must
 * not be left behind a newer one). Returns the older job, now active,
 * whose state the caller sets; NULL when nothing changed.
 */
static sg_job *chan_prefer_older(sg_consumer *e, sg__chan *ch)
{
    sg_job *older = ch->head, *job = ch->active;

    if (e->order == NULL || job == NULL || older == NULL ||
        id_cmp(older->id, job->id) >= 0)
        return NULL;
    ch->head = older->next;
    if (ch->head == NULL)
        ch->tail = NULL;
    chan_insert(e, ch, job);
    older->next = NULL;
    ch->active = older;
    return older;
}

static void chan_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    sg__chan *ch = arg;
    sg_consumer *e = ch->eng;
    sg_job *older;

    (void)fd;
    (void)what;
    if (ch->active != NULL && ch->active->state == J_WAIT &&
        (older = chan_prefer_older(e, ch)) != NULL)
        older->state = J_WAIT;
    if (ch->active != NULL && ch->active->state == J_WAIT)
        begin_push(e, ch->active);
    else
        chan_maybe_free(e, ch);
}

/* ---- admission ---------------------------------------------------------- */

static void reject(sg_consumer *e, sg_job *job, int rc, const sg_error *err)
{
    const char *reason = NULL;
    sg__op *op;
    size_t plen, mlen;
    char *at;

    if ((rc == SG_EDECODE || rc == SG_EINVALID) &&
        err->reason != SG_REASON_NONE)
        reason = sg_reason_name(err->reason);
    if (reason == NULL)
        reason = "invalid_value";
    plen = strnlen(err->path, sizeof err->path);
    mlen = strnlen(err->msg, sizeof err->msg);
    sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s) "
            "rejected: %s at %s (%s); dead-lettering", e->name, job->id,
            trace_of(job), reason, plen ? err->path : "-", err->msg);
    job->state = J_SETTLE;
    op = op_new(e, 'D', strlen(reason) + plen + mlen + 3);
    if (op == NULL) {
        job_end(e, job);
        return;
    }
    at = op->own;
    op->vlen[0] = strlen(reason);
    op->v[0] = own_put(&at, reason, op->vlen[0]);
    op->vlen[1] = plen;
    op->v[1] = own_put(&at, err->path, plen);
    op->vlen[2] = mlen;
    op->v[2] = own_put(&at, err->msg, mlen);
    op->v[3] = "";
    op->vlen[3] = 0;
    op->nv = 4;
    op->with_fields = 1;
    op->job = job;
    settle_push(e, op);
}

static void admit(sg_consumer *e, sg_job *job)
{
    sg_job_plan plan;
    sg_error err;
    void *payload = NULL;
    int rc = 0;

    sg_error_clear(&err);
    if (e->ops.decode != NULL)
        rc = e->ops.decode(e->ud, job, &payload, &err);
    if (rc == SG_ENOMEM) {
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: out of memory decoding "
                "entry %s; leaving it pending", e->name, job->id);
        job_end(e, job);
        return;
    }
    if (rc != 0) {
        reject(e, job, rc, &err);
        return;
    }
    job->payload = payload;
    memset(&plan, 0, sizeof plan);
    if (e->ops.plan != NULL)
        e->ops.plan(e->ud, job, &plan);
    if (plan.message_key != NULL && plan.claim_key != NULL) {
        size_t n = plan.message_key_len + plan.claim_key_len + 2;
        char *at;

        job->guard = xalloc(e->mem, n);
        if (job->guard == NULL) {
            job_end(e, job);
            return;
        }
        at = job->guard;
        job->message_key = own_put(&at, plan.message_key,
                                   plan.message_key_len);
        job->message_key_len = plan.message_key_len;
        job->claim_key = own_put(&at, plan.claim_key, plan.claim_key_len);
        job->claim_key_len = plan.claim_key_len;
    }
    if (e->order != NULL && job->order_key == NULL &&
        plan.order_key != NULL && plan.lock_key != NULL &&
        job_set_order(e, job, NULL, plan.order_key, plan.order_key_len) !=
            0) {
        job_end(e, job);
        return;
    }
    if (plan.lock_key != NULL) {
        sg__chan *ch = chan_get(e, plan.lock_key, plan.lock_key_len);

        if (ch == NULL) {
            job_end(e, job);
            return;
        }
        job->chan = ch;
        chan_insert(e, ch, job);
        if (ch->active == NULL)
            chan_advance(e, ch);
        return;
    }
    begin_push(e, job);
}

/*
 * Admits every entry of a list ({id, fields} pairs). chans, from the read
 * script, names per entry the channel whose order queue got its ID ("":
 * none); NULL: none known.
 */
static void admit_entries(sg_consumer *e, const sg_reply *entries,
                          const sg_reply *chans, int claimed)
{
    size_t i, n = sg_reply_len(entries);

    for (i = 0; i < n; i++) {
        const sg_reply *entry = sg_reply_at(entries, i);
        size_t idlen;
        const char *id = sg_reply_str(sg_reply_at(entry, 0), &idlen);
        sg_job *job;

        if (id == NULL)
            continue;
        if (sg__strmap_get(&e->jobs, id, idlen) != NULL)
            continue; /* already here: claimed back from ourselves */
        job = job_new(e, entry, claimed);
        if (job == NULL) {
            sg_logf(e->log, SG_LOG_ERROR, "consumer %s: cannot take entry "
                    "%.*s (malformed or out of memory); leaving it pending",
                    e->name, (int)idlen, id);
            continue;
        }
        if (claimed)
            e->st.claimed++;
        else
            e->st.read++;
        if (chans != NULL && e->order != NULL) {
            size_t clen;
            const char *c = sg_reply_str(sg_reply_at(chans, i), &clen);

            if (c != NULL && clen > 0 &&
                job_set_order(e, job, e->order, c, clen) != 0) {
                job_end(e, job);
                continue;
            }
        }
        admit(e, job);
    }
}

/* ---- the group ---------------------------------------------------------- */

static void on_group(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    sg__req *r = ud;
    sg_consumer *e = r->eng;

    (void)conn;
    if (e == NULL) {
        req_free_detached(r);
        return;
    }
    req_unlink(e, r);
    xfree(e->mem, r);
    e->creating_group = 0;
    if (status == 0 || (status == SG_EREDIS && sg_reply_is(reply,
                                                          "BUSYGROUP"))) {
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: group %s on %s was "
                "missing; created it again (SG-TOPO-008)", e->name,
                e->group, e->stream);
        memcpy(e->cursor, "0-0", 4);
        read_more(e);
    } else {
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: cannot create group %s "
                "on %s: %s; trying again", e->name, e->group, e->stream,
                status == SG_EREDIS ? sg_reply_str(reply, NULL)
                                    : sg_strerror(status));
        arm(e->read_ev, 1000);
    }
    check_drained(e);
}

/* NOGROUP: recreate the group as at start (SG-TOPO-003, SG-TOPO-008). */
static void recreate_group(sg_consumer *e)
{
    const char *av[6] = {"XGROUP", "CREATE", e->stream, e->group, "$",
                         "MKSTREAM"};
    sg__req *r;

    if (e->creating_group || e->stopping)
        return;
    r = req_new(e, REQ_GROUP, 0);
    if (r == NULL) {
        arm(e->read_ev, 1000);
        return;
    }
    if (sg_conn_command(e->conn, on_group, r, 6, av, NULL) != 0) {
        xfree(e->mem, r);
        arm(e->read_ev, RETRY_MS);
        return;
    }
    e->st.commands++;
    e->creating_group = 1;
    req_link(e, r);
}

/* ---- reading ------------------------------------------------------------ */

/*
 * Reads. One XREADGROUP per round trip caps the rate at COUNT entries per
 * round trip, so while the stream has entries waiting (the last read came
 * back full) up to READS_MAX reads are kept in the reader's pipeline. Each
 * read's COUNT is reserved from the free capacity until its reply is in,
 * so the entries read and not finished never exceed SG_MAX_IN_FLIGHT
 * (SG-IN-002). Replies come in order, so the COUNTs wait in a FIFO.
 *
 * With order queues (e->order), each read is the read script instead
 * (sg__read: XREADGROUP without BLOCK, and the queue appends, SG-IN-023),
 * pipelined the same way. A script cannot block, so when a read comes
 * back short (the group has nothing more to deliver) and no other read is
 * in flight, the reader sends XREAD BLOCK <block_ms> COUNT 1 STREAMS
 * <stream> <newest>, newest being the stream's last ID as the script saw
 * it ("0-0" for an empty stream): it returns as soon as anything newer is
 * added (or at the timeout), and then the script runs again. Nothing else
 * is sent on the reader while that XREAD blocks (SG-IN-001).
 */
static void on_read(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sg_consumer *e = ud;
    size_t got = 0;
    int asked, paused;

    (void)conn;
    if (e->freeing || e->stopping || e->reads == 0)
        return;
    asked = e->read_counts[e->read_head];
    e->read_head = (e->read_head + 1) % READS_MAX;
    e->reads--;
    e->reserved -= asked;
    if (status == 0 && e->order != NULL) {
        /* {entries or nil, newest ID, channels, taken, handed, popped} */
        const sg_reply *xr = sg_reply_at(reply, 0);
        const sg_reply *chans = sg_reply_at(reply, 2);
        long long taken = sg_reply_integer(sg_reply_at(reply, 3));
        size_t i, len;
        const char *newest = sg_reply_str(sg_reply_at(reply, 1), &len);

        e->st.handed_over +=
            (uint64_t)sg_reply_integer(sg_reply_at(reply, 4));
        e->st.handed_in += (uint64_t)sg_reply_integer(sg_reply_at(reply, 5));
        paused = (int)sg_reply_integer(sg_reply_at(reply, 6));

        if (newest != NULL && len > 0 && len < sizeof e->newest) {
            memcpy(e->newest, newest, len);
            e->newest[len] = '\0';
        }
        for (i = 0; i < sg_reply_len(xr); i++) {
            const sg_reply *entries = sg_reply_at(sg_reply_at(xr, i), 1);

            admit_entries(e, entries, i == 0 ? chans : NULL, 0);
        }
        /* Entries handed over count as taken: the stream had them. */
        e->last_full = taken >= asked;
        /* The latest reply decides: a full one may have left more. */
        e->need_wait = !e->last_full;
        if (paused == 1) {
            /* A peer's hand list is full: the stream keeps what it has. */
            uint64_t now = sg__mono_ms();

            e->st.read_pauses++;
            e->last_full = 0;
            e->need_wait = 0;
            if (e->pause_since == 0)
                e->pause_since = now;
            e->pause_until = now + HAND_PAUSE_MS;
            arm(e->read_ev, HAND_PAUSE_MS);
            return;
        }
        /* Read past a full peer: keep doing so while it stays full. */
        e->hand_forced = paused == 2;
        if (!e->hand_forced)
            e->pause_since = 0;
        read_more(e);
        return;
    }
    if (status == 0) {
        size_t i;

        for (i = 0; i < sg_reply_len(reply); i++) {
            const sg_reply *entries = sg_reply_at(sg_reply_at(reply, i), 1);

            got += sg_reply_len(entries);
            admit_entries(e, entries, NULL, 0);
        }
        e->last_full = got >= (size_t)asked;
        read_more(e);
        return;
    }
    e->last_full = 0;
    e->need_wait = 0;
    if (status == SG_EREDIS && sg_reply_is(reply, "NOGROUP")) {
        recreate_group(e);
        return;
    }
    if (status == SG_EREDIS)
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: %s on %s: %s",
                e->name, e->order != NULL ? "read script" : "XREADGROUP",
                e->stream, sg_reply_str(reply, NULL));
    /* The reader reconnects by itself; try again shortly. */
    if (e->reads == 0)
        arm(e->read_ev, status == SG_EREDIS ? 1000 : RETRY_MS);
}

/* The XREAD BLOCK of an ordered reader is back: read again. */
static void on_wait(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sg_consumer *e = ud;

    (void)conn;
    if (e->freeing || e->stopping || !e->waiting)
        return;
    e->waiting = 0;
    e->need_wait = 0;
    if (status == 0) {
        read_more(e);
        return;
    }
    if (status == SG_EREDIS)
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: XREAD on %s: %s",
                e->name, e->stream, sg_reply_str(reply, NULL));
    arm(e->read_ev, status == SG_EREDIS ? 1000 : RETRY_MS);
}

/* Ordered: waits in XREAD BLOCK for an entry newer than e->newest. */
static void wait_newer(sg_consumer *e)
{
    char block[16];
    const char *av[8];

    put_num(block, sizeof block, e->k.block_ms);
    av[0] = "XREAD";
    av[1] = "BLOCK";
    av[2] = block;
    av[3] = "COUNT";
    av[4] = "1";
    av[5] = "STREAMS";
    av[6] = e->stream;
    av[7] = e->newest[0] != '\0' ? e->newest : "0-0";
    if (sg_conn_command_timeout(e->reader, e->k.block_ms + READ_MARGIN_MS,
                                on_wait, e, 8, av, NULL) != 0) {
        arm(e->read_ev, RETRY_MS);
        return;
    }
    e->waiting = 1;
    event_del(e->read_ev);
}

/*
 * Ordered reads are scripts, each a dozen Redis commands however few
 * entries it takes; while entries are in flight, a read waits until a
 * quarter of the window (at most COUNT) is free, or READ_GATE_MS have
 * passed since it first waited, whichever is first. The bound keeps
 * SG-IN-008: capacity that stays free is read within READ_GATE_MS.
 * Nonzero: not yet (the read event is armed for the rest of the wait).
 */
static int read_gated(sg_consumer *e, long long room)
{
    long long low = e->k.max_in_flight / 4;
    uint64_t now;

    if (low > e->k.read_count)
        low = e->k.read_count;
    if (room >= low || e->st.in_flight + (uint64_t)e->reserved == 0) {
        e->gate_since = 0;
        return 0;
    }
    now = sg__mono_ms();
    if (e->gate_since == 0) {
        e->gate_since = now;
        arm(e->read_ev, READ_GATE_MS);
        return 1;
    }
    if (now - e->gate_since < READ_GATE_MS)
        return 1;
    e->gate_since = 0;
    return 0;
}

static void read_more(sg_consumer *e)
{
    char count[16], block[16];
    const char *av[11];
    long long room;
    int n, rc;

    if (!e->started || e->stopping || e->freeing || e->creating_group ||
        e->reader == NULL || e->waiting)
        return;
    if (e->order != NULL && e->need_wait) {
        /* Only once every read is back, and only with room to read. */
        if (e->reads > 0 || (long long)e->k.max_in_flight -
                                    (long long)e->st.in_flight <= 0)
            return;
        wait_newer(e);
        return;
    }
    put_num(block, sizeof block, e->k.block_ms);
    /* Another read only behind a full one: the stream has more waiting. */
    while (e->reads == 0 || (e->last_full && e->reads < READS_MAX)) {
        /* SG-IN-002: never ask for more than the free capacity. */
        room = (long long)e->k.max_in_flight - (long long)e->st.in_flight -
               e->reserved;
        if (room <= 0)
            return;
        if (e->order != NULL && e->pause_until != 0) {
            uint64_t now = sg__mono_ms();

            if (now < e->pause_until) {
                arm(e->read_ev, e->pause_until - now);
                return;
            }
            e->pause_until = 0;
        }
        if (e->order != NULL && read_gated(e, room))
            return;
        n = room < e->k.read_count ? (int)room : e->k.read_count;
        put_num(count, sizeof count, n);
        if (e->order != NULL) {
            av[0] = e->stream;
            av[1] = e->group;
            av[2] = e->name;
            av[3] = count;
            av[4] = e->order;
            av[5] = e->hand != NULL ? e->hand : "";
            av[6] = e->hand_ttl_s;
            if (!e->hand_forced && e->pause_since != 0 &&
                sg__mono_ms() - e->pause_since >= HAND_PAUSE_MAX_MS)
                e->hand_forced = 1;
            av[7] = e->hand_forced ? "1" : "0";
            rc = sg_conn_eval(e->reader, &e->scripts.read, on_read, e, 1, 8,
                              av, NULL);
            if (rc != 0) {
                if (e->reads == 0)
                    arm(e->read_ev, RETRY_MS);
                return;
            }
            e->read_counts[(e->read_head + e->reads) % READS_MAX] = n;
            e->reads++;
            e->reserved += n;
            event_del(e->read_ev);
            continue;
        }
        av[0] = "XREADGROUP";
        av[1] = "GROUP";
        av[2] = e->group;
        av[3] = e->name;
        av[4] = "COUNT";
        av[5] = count;
        av[6] = "BLOCK";
        av[7] = block;
        av[8] = "STREAMS";
        av[9] = e->stream;
        av[10] = ">";
        /* A read queued behind others may block after they did. */
        rc = sg_conn_command_timeout(e->reader,
                                     e->k.block_ms * (e->reads + 1) +
                                         READ_MARGIN_MS,
                                     on_read, e, 11, av, NULL);
        if (rc != 0) {
            if (e->reads == 0)
                arm(e->read_ev, RETRY_MS);
            return;
        }
        e->read_counts[(e->read_head + e->reads) % READS_MAX] = n;
        e->reads++;
        e->reserved += n;
        event_del(e->read_ev);
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;

    (void)fd;
    (void)what;
    read_more(e);
}

/* ---- begin -------------------------------------------------------------- */

static void begin_done(sg_consumer *e, sg_job *job, long long code,
                       long long n)
{
    sg__chan *ch = job->chan;
    int released = (job->begin_flags & SG__F_RELEASE) != 0;

    job->deliveries = n;
    switch (code) {
    case SG__R_OK:
        if (ch != NULL) {
            /* A lock kept from the previous entry may not have had its
               TTL refreshed: only a new lock restarts the clock. */
            if (!ch->holds)
                ch->lock_ok_ms = sg__mono_ms();
            ch->holds = 1;
            ch->delay_ms = LOCK_DELAY_MIN_MS;
        }
        if (e->stopping) {
            /* Not started: leave it pending for another consumer. */
            job_drop(e, job);
            return;
        }
        job->state = J_RUNNING;
        e->ops.handle(e->ud, job);
        return;
    case SG__R_BUSY:
        e->st.lock_busy++;
        ch->holds = 0;
        if (e->stopping) {
            job_drop(e, job);
            return;
        }
        chan_wait(e, ch);
        return;
    case SG__R_NOT_OWNER:
        sg_logf(e->log, SG_LOG_INFO, "consumer %s: entry %s (trace %s) is "
                "no longer pending here (acknowledged or reclaimed "
                "elsewhere); not handling it", e->name, job->id,
                trace_of(job));
        e->st.lost++;
        break;
    case SG__R_ALREADY_SENT:
    case SG__R_DUPLICATE:
        sg_logf(e->log, SG_LOG_INFO, "consumer %s: entry %s (trace %s): %s; "
                "acknowledged without sending", e->name, job->id,
                trace_of(job), code == SG__R_ALREADY_SENT
                ? "completion marker already set"
                : "claim key held by another entry");
        e->st.skipped++;
        break;
    case SG__R_UNKNOWN_SEND:
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s): an "
                "earlier send's outcome is unknown; dead-lettered as "
                "send_state_unknown", e->name, job->id, trace_of(job));
        e->st.dead_lettered++;
        break;
    default:
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: entry %s: unexpected "
                "begin result %lld", e->name, job->id, code);
        e->st.lost++;
        break;
    }
    if (ch != NULL && job->chan != NULL)
        ch->holds = !released;
    job_drop(e, job);
}

/* A begin failed with its whole call: the entries stay pending. */
static void begin_failed(sg_consumer *e, sg_job **jobs, size_t n,
                         int status)
{
    size_t i;

    if (status == SG_ECLOSED || status == SG_ETIMEOUT) {
        /*
         * The script may have run. Begin again: a lock that holds our
         * token is simply kept, an entry acknowledged meanwhile is "not
         * ours", so running it twice is harmless (but see the outbound
         * claim key in impl/README.md).
         */
        for (i = n; i-- > 0;) {
            sg_job *job = jobs[i];

            job->state = J_BEGIN_PENDING;
            job->next = e->begin_head;
            e->begin_head = job;
            if (e->begin_tail == NULL)
                e->begin_tail = job;
        }
        arm(e->retry_ev, RETRY_MS);
        return;
    }
    for (i = 0; i < n; i++) {
        sg_job *job = jobs[i];

        e->st.lost++;
        if (job->chan != NULL)
            job->chan->holds = 0;
        job_drop(e, job);
    }
}

static void settle_done(sg_consumer *e, sg__op *op, long long code)
{
    sg_job *job = op->job;
    const char *id = job != NULL ? job->id : op->id;
    const char *what = NULL;

    switch (op->code) {
    case 'R':
        op_free(e->mem, op);
        return;
    case 'T':
        if (code == SG__R_OK)
            e->st.idle_resets++;
        op_free(e->mem, op);
        return;
    default:
        break;
    }
    if (op->done != NULL)
        op_done(op, code == SG__R_OK || code == SG__R_BEFORE ? 1
                    : code == SG__R_LOST || code == SG__R_NOT_OWNER ? 0
                                                                    : -1);
    if (code == SG__R_LOST || code == SG__R_NOT_OWNER) {
        e->st.lost++;
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s) not "
                "settled: %s (SG-IN-011); it stays where Redis has it",
                e->name, id, trace_of(job),
                code == SG__R_LOST ? "the channel lock no longer holds our "
                                     "token"
                                   : "it is no longer pending at this "
                                     "consumer");
    } else if (op->code == 'A' || op->code == 'P') {
        if (op->cancel)
            e->st.cancelled++;
        else
            e->st.handled++;
    } else if (op->code == 'F') {
        e->st.failed++;
        if (code == SG__R_DEAD) {
            e->st.dead_lettered++;
            what = "failed on its last delivery; dead-lettered";
        } else {
            what = "failed; left pending for a retry";
        }
    } else if (op->code == 'D') {
        e->st.dead_lettered++;
    } else if (op->code == 'Q') {
        e->st.requeued++;
    }
    if (what != NULL)
        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s) %s "
                "(delivery %lld)", e->name, id, trace_of(job), what,
                job->deliveries);
    op_free(e->mem, op);
    if (job != NULL)
        job_end(e, job);
}

/* Settle operations failed with their whole call. */
static void settle_failed(sg_consumer *e, sg__op **ops, size_t n,
                          int status)
{
    size_t i;

    if (status == SG_ECLOSED || status == SG_ETIMEOUT) {
        /* Send again, flagged, so that work done by the lost send is
           recognised rather than repeated. */
        for (i = n; i-- > 0;) {
            sg__op *op = ops[i];

            op->flags |= SG__F_RESEND;
            op->next = e->settle_head;
            e->settle_head = op;
            if (e->settle_tail == NULL)
                e->settle_tail = op;
        }
        arm(e->retry_ev, RETRY_MS);
        return;
    }
    for (i = 0; i < n; i++) {
        sg__op *op = ops[i];
        sg_job *job = op->job;

        op_done(op, -1);
        if (job != NULL)
            e->st.lost++;
        op_free(e->mem, op);
        if (job != NULL)
            job_end(e, job);
    }
}

static void on_step(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sg__req *r = ud;
    sg_consumer *e = r->eng;
    sg__op **ops;
    sg_job **jobs;
    size_t i;

    (void)conn;
    if (e == NULL) {
        req_free_detached(r);
        return;
    }
    req_unlink(e, r);
    ops = (sg__op **)r->items;
    jobs = (sg_job **)(r->items + r->nops);
    if (status == 0 && sg_reply_len(reply) != r->nops + 2 * r->njobs) {
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: step script: "
                "unexpected reply", e->name);
        status = SG_EREDIS;
        reply = NULL;
    }
    if (status != 0) {
        if (status == SG_EREDIS && sg_reply_is(reply, "NOGROUP"))
            recreate_group(e);
        else if (status == SG_EREDIS && reply != NULL)
            sg_logf(e->log, SG_LOG_ERROR, "consumer %s: step script: %s",
                    e->name, sg_reply_str(reply, NULL));
        settle_failed(e, ops, r->nops, status);
        begin_failed(e, jobs, r->njobs, status);
    } else {
        for (i = 0; i < r->nops; i++)
            settle_done(e, ops[i], sg_reply_integer(sg_reply_at(reply, i)));
        for (i = 0; i < r->njobs; i++)
            begin_done(e, jobs[i],
                       sg_reply_integer(sg_reply_at(reply,
                                                    r->nops + 2 * i)),
                       sg_reply_integer(sg_reply_at(reply,
                                                    r->nops + 2 * i + 1)));
    }
    xfree(e->mem, r);
    check_drained(e);
}

/* Number of values an operation sends after its 5 fixed arguments. */
static size_t op_values(const sg__op *op)
{
    size_t n = (size_t)op->nv + op->nxv, i, skip = 0;
    const sg_job *job = op->job;

    if (op->with_fields)
        n += 2 * job->nfields;
    if (op->requeue) {
        for (i = 0; i < job->nfields; i++)
            if ((job->fields[i].name.len == 13 &&
                 memcmp(job->fields[i].name.ptr, "requeued_from", 13) ==
                     0) ||
                (job->fields[i].name.len == 13 &&
                 memcmp(job->fields[i].name.ptr, "requeue_count", 13) == 0))
                skip++;
        n += 2 * (job->nfields - skip) + 4;
    }
    return n;
}

/*
 * Sends one sg__step call: up to BATCH_MAX queued settle operations, then,
 * when that took every queued one, up to BATCH_MAX queued begins. A begin
 * never goes ahead of a settle queued before it, so a channel's next entry
 * starts only after its previous one was settled.
 */
/*
 * With order queues, begins wait while a sweep is in flight: the sweep
 * may hand this consumer an older entry of a channel whose newer entry
 * is about to begin, and a begin executed after the claim but sent before
 * its reply was read would find that older entry pending here and go
 * ahead of it (SG-IN-024). Held for one round trip per sweep.
 */
static int begins_held(const sg_consumer *e)
{
    return e->claiming && e->order != NULL;
}

static int send_step(sg_consumer *e)
{
    size_t nops = 0, njobs = 0, nkeys = 3, nargs = 8, i, ki, ai, j;
    sg__op *op;
    sg_job *job;
    sg__req *r;
    int rc;

    for (op = e->settle_head; op != NULL && nops < BATCH_MAX; op = op->next) {
        /* SG-IN-025: what ends an entry takes it out of its queue. */
        if (op->job != NULL && op->job->order_key != NULL &&
            op->code != 'T')
            op->flags |= SG__F_ORDER;
        nops++;
        nargs += 5 + op_values(op);
        nkeys += ((op->flags & SG__F_LOCK) != 0) +
                 ((op->flags & SG__F_KEY2) != 0) +
                 ((op->flags & SG__F_ORDER) != 0) +
                 ((op->flags & SG__F_WRITE) != 0) +
                 ((op->flags & SG__F_LIST) != 0);
    }
    if (op == NULL && !begins_held(e))
        for (job = e->begin_head; job != NULL && njobs < BATCH_MAX;
             job = job->next) {
            njobs++;
            nargs += 5;
            nkeys += (job->chan != NULL) + 2 * (job->message_key != NULL) +
                     (job->chan != NULL && job->order_key != NULL);
        }
    if (scratch(e, nkeys + nargs) != 0 ||
        (r = req_new(e, REQ_STEP, nops + njobs)) == NULL)
        return SG_ENOMEM;
    r->nops = nops;
    r->njobs = njobs;
    e->av[0] = e->stream;
    e->av[1] = e->hash;
    e->av[2] = e->dlq;
    ki = 3;
    ai = nkeys;
    e->av[ai++] = e->group;
    e->av[ai++] = e->name;
    e->av[ai++] = e->maxdel_s;
    e->av[ai++] = e->maxlen_s;
    e->av[ai++] = e->lock_ttl_s;
    e->av[ai++] = e->claim_ttl_s;
    e->av[ai++] = e->waiters != NULL ? e->waiters : "";
    e->av[ai++] = e->wake_list != NULL ? e->wake_list : "";
    for (i = 0; i < 3; i++)
        e->avlen[i] = strlen(e->av[i]);
    for (i = nkeys; i < ai; i++)
        e->avlen[i] = strlen(e->av[i]);
    for (i = 0, op = e->settle_head; i < nops; i++, op = op->next) {
        const sg_job *oj = op->job;

        if (op->flags & SG__F_LOCK) {
            e->av[ki] = op->key;
            e->avlen[ki++] = op->key_len;
        }
        if (op->flags & SG__F_KEY2) {
            e->av[ki] = op->key2;
            e->avlen[ki++] = op->key2_len;
        }
        if (op->flags & SG__F_ORDER) {
            e->av[ki] = oj->order_key;
            e->avlen[ki++] = oj->order_key_len;
        }
        if (op->flags & SG__F_WRITE) {
            e->av[ki] = op->wkey;
            e->avlen[ki++] = op->wkey_len;
        }
        if (op->flags & SG__F_LIST) {
            e->av[ki] = op->lkey;
            e->avlen[ki++] = op->lkey_len;
        }
        put_num(op->flagbuf, sizeof op->flagbuf, op->flags);
        put_num(op->nvbuf, sizeof op->nvbuf, (long long)op_values(op));
        e->av[ai] = &op->code;
        e->avlen[ai++] = 1;
        e->av[ai] = oj != NULL ? oj->id : op->id;
        e->avlen[ai++] = oj != NULL ? oj->id_len : op->id_len;
        e->av[ai] = op->flagbuf;
        e->avlen[ai++] = strlen(op->flagbuf);
        e->av[ai] = op->token;
        e->avlen[ai++] = strlen(op->token);
        e->av[ai] = op->nvbuf;
        e->avlen[ai++] = strlen(op->nvbuf);
        for (j = 0; j < (size_t)op->nv; j++) {
            e->av[ai] = op->v[j];
            e->avlen[ai++] = op->vlen[j];
        }
        for (j = 0; j < op->nxv; j++) {
            e->av[ai] = op->xv[j];
            e->avlen[ai++] = op->xvlen[j];
        }
        if (op->with_fields || op->requeue) {
            for (j = 0; j < oj->nfields; j++) {
                const sg_entry_field *f = &oj->fields[j];

                if (op->requeue &&
                    f->name.len == 13 &&
                    (memcmp(f->name.ptr, "requeued_from", 13) == 0 ||
                     memcmp(f->name.ptr, "requeue_count", 13) == 0))
                    continue;
                e->av[ai] = f->name.ptr;
                e->avlen[ai++] = f->name.len;
                e->av[ai] = f->value.ptr;
                e->avlen[ai++] = f->value.len;
            }
        }
        if (op->requeue) {
            put_num(op->num, sizeof op->num, op->count);
            e->av[ai] = "requeued_from";
            e->avlen[ai++] = 13;
            e->av[ai] = oj->id;
            e->avlen[ai++] = oj->id_len;
            e->av[ai] = "requeue_count";
            e->avlen[ai++] = 13;
            e->av[ai] = op->num;
            e->avlen[ai++] = strlen(op->num);
        }
        r->items[i] = op;
    }
    for (i = 0, job = e->begin_head; i < njobs; i++, job = job->next) {
        int flags = 0;

        if (job->chan != NULL) {
            flags |= SG__F_LOCK;
            /* Nothing queued behind it: let the script release on a
               terminal result, saving a call. */
            if (job->chan->head == NULL)
                flags |= SG__F_RELEASE;
            e->av[ki] = job->chan->key;
            e->avlen[ki++] = job->chan->key_len;
        }
        if (job->message_key != NULL) {
            flags |= SG__F_KEY2 | SG__F_KEY3;
            e->av[ki] = job->message_key;
            e->avlen[ki++] = job->message_key_len;
            e->av[ki] = job->claim_key;
            e->avlen[ki++] = job->claim_key_len;
        }
        /* SG-IN-024: only an entry that takes a lock waits its turn (a
           busy result needs a channel to wait in). */
        if (job->chan != NULL && job->order_key != NULL) {
            flags |= SG__F_ORDER;
            e->av[ki] = job->order_key;
            e->avlen[ki++] = job->order_key_len;
        }
        job->begin_flags = flags;
        put_num(job->flagbuf, sizeof job->flagbuf, flags);
        e->av[ai] = "B";
        e->avlen[ai++] = 1;
        e->av[ai] = job->id;
        e->avlen[ai++] = job->id_len;
        e->av[ai] = job->flagbuf;
        e->avlen[ai++] = strlen(job->flagbuf);
        e->av[ai] = job->chan != NULL ? job->chan->token : "";
        e->avlen[ai] = strlen(e->av[ai]);
        ai++;
        e->av[ai] = "0";
        e->avlen[ai++] = 1;
        r->items[nops + i] = job;
    }
    rc = sg_conn_eval(e->conn, &e->scripts.step, on_step, r, (int)nkeys,
                      (int)(nkeys + nargs), e->av, e->avlen);
    if (rc != 0) {
        xfree(e->mem, r);
        return rc;
    }
    e->st.commands++;
    req_link(e, r);
    for (i = 0; i < nops; i++) {
        op = e->settle_head;
        e->settle_head = op->next;
        op->next = NULL;
    }
    if (e->settle_head == NULL)
        e->settle_tail = NULL;
    for (i = 0; i < njobs; i++) {
        job = e->begin_head;
        e->begin_head = job->next;
        job->next = NULL;
        job->state = J_BEGINNING;
    }
    if (e->begin_head == NULL)
        e->begin_tail = NULL;
    return 0;
}

/* ---- flushing ----------------------------------------------------------- */

static void flush(sg_consumer *e)
{
    int rc = 0;

    e->flush_scheduled = 0;
    while (rc == 0 && (e->settle_head != NULL ||
                       (e->begin_head != NULL && !begins_held(e))))
        rc = send_step(e);
    if (rc != 0)
        arm(e->retry_ev, RETRY_MS);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

static void schedule_flush(sg_consumer *e)
{
    if (e->flush_scheduled || e->freeing)
        return;
    e->flush_scheduled = 1;
    event_active(e->flush_ev, 0, 0);
}

/* ---- finishing ---------------------------------------------------------- */

/* Common start of the finish calls: 0 and the op, or a code. */
static int finish_begin(sg_job *job, int *done)
{
    *done = 0;
    if (job == NULL)
        return SG_EINVAL;
    if (job->eng == NULL) {
        job_free_mem(job);
        *done = 1;
        return 0;
    }
    if (job->state != J_RUNNING)
        return SG_EINVAL;
    if (job->fenced) {
        sg_consumer *e = job->eng;

        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %s (trace %s) "
                "finished after its lock was lost; no effect (SG-LOCK-004)",
                e->name, job->id, trace_of(job));
        e->st.lost++;
        if (job->chan != NULL)
            job->chan->holds = 0;
        job_drop(e, job);
        *done = 1;
    }
    return 0;
}

/* Hands op (for job) to the settle queue and lets the channel move on. */
static void finish_queue(sg_consumer *e, sg_job *job, sg__op *op,
                         char **at)
{
    sg__chan *ch = job->chan;

    op->job = job;
    if (ch != NULL) {
        /* A copy: the channel may be freed before the flush. */
        op->flags |= SG__F_LOCK;
        op->key = own_put(at, ch->key, ch->key_len);
        op->key_len = ch->key_len;
        memcpy(op->token, ch->token, sizeof op->token);
        if (ch->head == NULL) {
            op->flags |= SG__F_RELEASE;
            ch->holds = 0;
        }
    }
    job->state = J_SETTLE;
    settle_push(e, op);
    job->chan = NULL;
    if (ch != NULL && ch->active == job)
        chan_advance(e, ch);
}

int sg_job_finish(sg_job *job, sg_job_result result)
{
    sg_consumer *e;
    sg__op *op;
    char *at = NULL;
    size_t chan_len;
    int done, rc = finish_begin(job, &done);

    if (rc != 0 || done)
        return rc;
    e = job->eng;
    chan_len = job->chan != NULL ? job->chan->key_len + 1 : 0;
    if (result.status == SG_JOB_STATUS_FAILED) {
        const char *msg = result.error != NULL ? result.error : "failed";
        const char *reason = e->fail_reason;
        size_t mlen = strlen(msg);

        if (mlen > DLQ_ERROR_MAX)
            mlen = DLQ_ERROR_MAX;
        op = op_new(e, 'F', mlen + 1 + chan_len);
        if (op == NULL)
            goto oom;
        at = op->own;
        op->v[0] = reason;
        op->vlen[0] = strlen(reason);
        op->vlen[1] = mlen;
        op->v[1] = own_put(&at, msg, mlen);
        op->nv = 2;
        /* Fields only when the script will dead-letter (SG-IN-013). */
        op->with_fields = job->deliveries >= e->k.max_deliveries;
        if (job->claim_key != NULL) {
            op->flags |= SG__F_KEY2;
            op->key2 = job->claim_key;
            op->key2_len = job->claim_key_len;
        }
        sg_logf(e->log, SG_LOG_INFO, "consumer %s: entry %s (trace %s) "
                "failed: %s", e->name, job->id, trace_of(job), msg);
    } else {
        op = op_new(e, 'A', chan_len);
        if (op == NULL)
            goto oom;
        at = op->own;
        op->cancel = result.status == SG_JOB_STATUS_CANCELLED;
        if (!op->cancel && job->message_key != NULL &&
            job->sent_id != NULL) {
            op->flags |= SG__F_KEY2;
            op->key2 = job->message_key;
            op->key2_len = job->message_key_len;
            op->v[0] = job->sent_id;
            op->vlen[0] = job->sent_id_len;
            op->nv = 1;
        }
    }
    finish_queue(e, job, op, &at);
    return 0;
oom:
    sg_logf(e->log, SG_LOG_ERROR, "consumer %s: out of memory finishing "
            "entry %s; leaving it pending", e->name, job->id);
    job_drop(e, job);
    return SG_ENOMEM;
}

int sg_job_finish_reply(sg_job *job, const char *reply_key, size_t key_len,
                        const char *json, size_t json_len)
{
    sg_consumer *e;
    sg__op *op;
    char *at;
    int done, rc = finish_begin(job, &done);

    if (rc != 0 || done)
        return rc;
    e = job->eng;
    op = op_new(e, 'P', key_len + json_len + 2 +
                        (job->chan != NULL ? job->chan->key_len + 1 : 0));
    if (op == NULL) {
        job_drop(e, job);
        return SG_ENOMEM;
    }
    at = op->own;
    op->flags |= SG__F_KEY2;
    op->key2 = own_put(&at, reply_key, key_len);
    op->key2_len = key_len;
    op->v[0] = own_put(&at, json, json_len);
    op->vlen[0] = json_len;
    op->nv = 1;
    finish_queue(e, job, op, &at);
    return 0;
}

int sg_job_finish_writes(sg_job *job, const sg_job_writes *w)
{
    sg_consumer *e;
    sg__op *op;
    char *at, keep[24], ttl[24];
    size_t own, i, k, nx, slen, llen = 0, tslen, trlen;
    int done, rc;

    if (job == NULL || w == NULL || w->stream == NULL || w->data == NULL ||
        w->ndata == 0 || w->ts == NULL || w->trace_id == NULL ||
        (w->list != NULL && (w->list_keep <= 0 || w->list_ttl_ms <= 0 ||
                             (w->nitems > 0 && w->items == NULL))))
        return SG_EINVAL;
    rc = finish_begin(job, &done);
    if (rc != 0)
        return rc;
    if (done) {
        /* Fenced (or detached): nothing is written. */
        if (w->done != NULL)
            w->done(w->ud, 0);
        return 0;
    }
    e = job->eng;
    slen = strlen(w->stream);
    tslen = strlen(w->ts);
    trlen = strlen(w->trace_id);
    keep[0] = '-';
    put_num(keep + 1, sizeof keep - 1, w->list_keep);
    put_num(ttl, sizeof ttl, w->list_ttl_ms);
    nx = 3 + w->ndata + (w->list != NULL ? 2 + w->nitems : 0);
    own = (job->chan != NULL ? job->chan->key_len + 1 : 0) + slen + 1 +
          tslen + 1 + trlen + 1 + 24;
    for (i = 0; i < w->ndata; i++)
        own += w->data[i].len + 1;
    if (w->list != NULL) {
        llen = strlen(w->list);
        own += llen + 1 + strlen(keep) + 1 + strlen(ttl) + 1;
        for (i = 0; i < w->nitems; i++)
            own += w->items[i].len + 1;
    }
    op = op_new(e, 'A', own);
    if (op != NULL)
        op->xv = xalloc(e->mem, nx * (sizeof *op->xv + sizeof *op->xvlen));
    if (op == NULL || op->xv == NULL) {
        if (op != NULL)
            op_free(e->mem, op);
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: out of memory finishing "
                "entry %s; leaving it pending", e->name, job->id);
        job_drop(e, job);
        if (w->done != NULL)
            w->done(w->ud, -1);
        return SG_ENOMEM;
    }
    op->xvlen = (size_t *)(void *)(op->xv + nx);
    at = op->own;
    op->flags |= SG__F_WRITE;
    op->wkey = own_put(&at, w->stream, slen);
    op->wkey_len = slen;
    k = 0;
    op->xvlen[k] = tslen;
    op->xv[k++] = own_put(&at, w->ts, tslen);
    op->xvlen[k] = trlen;
    op->xv[k++] = own_put(&at, w->trace_id, trlen);
    put_num(op->num, sizeof op->num, (long long)w->ndata);
    op->xvlen[k] = strlen(op->num);
    op->xv[k++] = op->num;
    for (i = 0; i < w->ndata; i++) {
        op->xvlen[k] = w->data[i].len;
        op->xv[k++] = own_put(&at, w->data[i].ptr, w->data[i].len);
    }
    if (w->list != NULL) {
        op->flags |= SG__F_LIST;
        op->lkey = own_put(&at, w->list, llen);
        op->lkey_len = llen;
        op->xvlen[k] = strlen(keep);
        op->xv[k++] = own_put(&at, keep, strlen(keep));
        op->xvlen[k] = strlen(ttl);
        op->xv[k++] = own_put(&at, ttl, strlen(ttl));
        for (i = 0; i < w->nitems; i++) {
            op->xvlen[k] = w->items[i].len;
            op->xv[k++] = own_put(&at, w->items[i].ptr, w->items[i].len);
        }
    }
    op->nxv = k;
    op->done = w->done;
    op->done_ud = w->ud;
    finish_queue(e, job, op, &at);
    return 0;
}

int sg_job_set_message_id(sg_job *job, const char *id, size_t len)
{
    char *copy = xalloc(job->mem, len + 1);

    if (copy == NULL)
        return SG_ENOMEM;
    memcpy(copy, id, len);
    copy[len] = '\0';
    xfree(job->mem, job->sent_id);
    job->sent_id = copy;
    job->sent_id_len = len;
    return 0;
}

/* ---- periodic work ------------------------------------------------------ */

/* Lock lost (renewal found another token or none, or Redis was away). */
static void chan_lost(sg_consumer *e, sg__chan *ch, const char *why)
{
    ch->holds = 0;
    sg_logf(e->log, SG_LOG_WARN, "consumer %s: lock %s lost (%s); its "
            "handling is fenced (SG-LOCK-004)", e->name, ch->key, why);
    if (ch->active != NULL && ch->active->state == J_RUNNING)
        ch->active->fenced = 1;
}

static void on_renew(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    sg__req *r = ud;
    sg_consumer *e = r->eng;
    size_t i;

    (void)conn;
    if (e == NULL) {
        req_free_detached(r);
        return;
    }
    req_unlink(e, r);
    for (i = 0; i < r->n; i++) {
        sg__op *op = r->items[i];
        sg__chan *ch = sg__strmap_get(&e->chans, op->key, op->key_len);

        if (status == 0 && ch != NULL && ch->holds &&
            strcmp(ch->token, op->token) == 0) {
            if (sg_reply_integer(sg_reply_at(reply, i)) == 1)
                ch->lock_ok_ms = r->sent_ms;
            else
                chan_lost(e, ch, "renewal found another token or none");
        }
        op_free(e->mem, op);
    }
    if (status == SG_EREDIS)
        sg_logf(e->log, SG_LOG_ERROR, "consumer %s: renew script: %s",
                e->name, sg_reply_str(reply, NULL));
    xfree(e->mem, r);
    check_drained(e);
}

static void renew_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;
    uint64_t now = sg__mono_ms();
    size_t n = 0, i, k;
    sg__req *r;

    (void)fd;
    (void)what;
    for (i = 0; i < e->chans.cap; i++) {
        sg__chan *ch = e->chans.slots[i].value;

        if (ch == NULL || !ch->holds)
            continue;
        /* Unconfirmed for a whole TTL: it may have expired (SG-LOCK-004). */
        if (now - ch->lock_ok_ms > (uint64_t)e->lock_ttl_ms)
            chan_lost(e, ch, "not renewed within its TTL");
        else
            n++;
    }
    if (n == 0)
        return;
    if (scratch(e, 2 * n + 1) != 0 ||
        (r = req_new(e, REQ_RENEW, n)) == NULL)
        return;
    for (i = 0, k = 0; i < e->chans.cap && k < n; i++) {
        sg__chan *ch = e->chans.slots[i].value;
        sg__op *op;
        char *at;

        if (ch == NULL || !ch->holds)
            continue;
        op = op_new(e, 'W', ch->key_len + 1);
        if (op == NULL)
            break;
        at = op->own;
        op->key = own_put(&at, ch->key, ch->key_len);
        op->key_len = ch->key_len;
        memcpy(op->token, ch->token, sizeof op->token);
        r->items[k++] = op;
    }
    r->n = k;
    for (i = 0; i < k; i++) {
        sg__op *op = r->items[i];

        e->av[i] = op->key;
        e->avlen[i] = op->key_len;
        e->av[k + 1 + i] = op->token;
        e->avlen[k + 1 + i] = strlen(op->token);
    }
    e->av[k] = e->lock_ttl_s;
    e->avlen[k] = strlen(e->lock_ttl_s);
    if (k == 0 || sg_conn_eval(e->conn, &e->scripts.renew, on_renew, r,
                               (int)k, (int)(2 * k + 1), e->av,
                               e->avlen) != 0) {
        req_free_detached(r);
        return;
    }
    e->st.commands++;
    req_link(e, r);
}

/*
 * Sets (on) or deletes this consumer's field of the hand-over hash, and
 * resets the idle time of the entries in the hand list (SG-IN-027,
 * SG-IN-028). Its answer is not waited for: a failure leaves the next
 * tick to try again, and the field's expiry bounds what a consumer that
 * stopped answering is handed.
 */
static void hand_keep(sg_consumer *e, int on)
{
    const char *av[7];

    if (e->hand == NULL)
        return;
    av[0] = e->stream;
    av[1] = e->hand_key;
    av[2] = e->hand_list;
    av[3] = e->group;
    av[4] = e->name;
    av[5] = on ? e->hand_cap_s : "";
    av[6] = e->hand_ttl_s;
    if (sg_conn_eval(e->conn, &e->scripts.hand_keep, NULL, NULL, 3, 7, av,
                     NULL) == 0)
        e->st.commands++;
}

/*
 * The tick of touch_cb, ms: an eighth of the min-idle, and with hand-over
 * at most HAND_TICK_MS.
 */
static uint64_t touch_interval(const sg_consumer *e)
{
    uint64_t t = (uint64_t)e->k.autoclaim_min_idle_ms / 8;

    if (e->hand != NULL && t > HAND_TICK_MS)
        t = HAND_TICK_MS;
    return t;
}

/* Idle reset of entries held here for half the min-idle (SG-IN-019). */
static void touch_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;
    uint64_t now = sg__mono_ms(), half = (uint64_t)e->k.autoclaim_min_idle_ms / 2;
    sg_job *job;

    (void)fd;
    (void)what;
    hand_keep(e, 1);
    for (job = e->all; job != NULL; job = job->all_next) {
        sg__op *op;
        char *at;

        if (job->state == J_BEGINNING || job->state == J_SETTLE ||
            now - job->touched_ms < half)
            continue;
        op = op_new(e, 'T', job->id_len + 1);
        if (op == NULL)
            return;
        at = op->own;
        op->id = own_put(&at, job->id, job->id_len);
        op->id_len = job->id_len;
        job->touched_ms = now;
        settle_push(e, op);
    }
}

/*
 * After a sweep admitted what it claimed: a begin still in the begin list
 * (held while the sweep was out, or pushed by a retry just before) whose
 * channel now has an older entry queued gives its turn to that entry,
 * which takes its place in the list (chan_prefer_older(), as for a begin
 * that waits on its timer).
 */
static void begins_prefer_older(sg_consumer *e)
{
    sg_job **pp, *job;

    for (pp = &e->begin_head; (job = *pp) != NULL; pp = &(*pp)->next) {
        sg_job *next = job->next, *older;

        if (job->chan == NULL || job->chan->active != job ||
            (older = chan_prefer_older(e, job->chan)) == NULL)
            continue;
        older->next = next;
        older->state = J_BEGIN_PENDING;
        *pp = older;
        if (e->begin_tail == job)
            e->begin_tail = older;
    }
}

static void on_claim(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    sg__req *r = ud;
    sg_consumer *e = r->eng;
    const sg_reply *deleted, *quarantined;
    size_t len, i;
    const char *cursor;

    (void)conn;
    if (e == NULL) {
        req_free_detached(r);
        return;
    }
    req_unlink(e, r);
    xfree(e->mem, r);
    e->claiming = 0;
    /* Begins held during the sweep go now, after what it admits below. */
    if (e->begin_head != NULL)
        schedule_flush(e);
    if (status != 0 || sg_reply_len(reply) != 4) {
        if (status == SG_EREDIS && sg_reply_is(reply, "NOGROUP"))
            recreate_group(e);
        else if (status == SG_EREDIS)
            sg_logf(e->log, SG_LOG_ERROR, "consumer %s: autoclaim: %s",
                    e->name, sg_reply_str(reply, NULL));
        check_drained(e);
        return;
    }
    cursor = sg_reply_str(sg_reply_at(reply, 0), &len);
    if (cursor != NULL && len < sizeof e->cursor) {
        memcpy(e->cursor, cursor, len);
        e->cursor[len] = '\0';
    }
    deleted = sg_reply_at(reply, 2);
    quarantined = sg_reply_at(reply, 3);
    for (i = 0; i < sg_reply_len(deleted); i++) {
        size_t n;
        const char *id = sg_reply_str(sg_reply_at(deleted, i), &n);

        sg_logf(e->log, SG_LOG_WARN, "consumer %s: pending entry %.*s was "
                "deleted from %s before it was handled (SG-CLAIM-003)",
                e->name, (int)n, id != NULL ? id : "", e->stream);
        e->st.deleted++;
    }
    for (i = 0; i < sg_reply_len(quarantined); i++) {
        size_t n;
        const char *id = sg_reply_str(sg_reply_at(quarantined, i), &n);

        sg_logf(e->log, SG_LOG_WARN, "consumer %s: entry %.*s claimed more "
                "than %d times; quarantined as max_claims_exceeded",
                e->name, (int)n, id != NULL ? id : "", e->k.max_claims);
        e->st.quarantined++;
        e->st.dead_lettered++;
    }
    if (!e->stopping) {
        admit_entries(e, sg_reply_at(reply, 1), NULL, 1);
        if (e->order != NULL)
            begins_prefer_older(e);
    }
    check_drained(e);
}

static void claim_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;
    char idle[16], count[16], maxc[16];
    const char *av[10];
    long long room;
    sg__req *r;

    (void)fd;
    (void)what;
    if (e->stopping || e->claiming || e->creating_group)
        return;
    room = (long long)e->k.max_in_flight - (long long)e->st.in_flight;
    if (room <= 0)
        return;
    put_num(idle, sizeof idle, e->k.autoclaim_min_idle_ms);
    put_num(count, sizeof count,
            room < e->k.autoclaim_count ? room : e->k.autoclaim_count);
    put_num(maxc, sizeof maxc, e->k.max_claims);
    av[0] = e->stream;
    av[1] = e->hash;
    av[2] = e->dlq;
    av[3] = e->group;
    av[4] = e->name;
    av[5] = idle;
    av[6] = e->cursor;
    av[7] = count;
    av[8] = maxc;
    av[9] = e->order != NULL ? e->order : "";
    r = req_new(e, REQ_CLAIM, 0);
    if (r == NULL)
        return;
    if (sg_conn_eval(e->conn, &e->scripts.autoclaim, on_claim, r, 3, 10, av,
                     NULL) != 0) {
        xfree(e->mem, r);
        return;
    }
    e->st.commands++;
    e->claiming = 1;
    req_link(e, r);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* ---- wake-ups (SG-LOCK-008/009) ----------------------------------------- */

/*
 * One BLPOP on this consumer's wake list is kept outstanding on the waker
 * connection. A popped lock key names a channel another consumer just
 * freed (released its lock, or took an entry out of its order queue):
 * when that channel's active job waits for its retry, it retries now.
 * Nothing else changes: a busy retry waits on its delay again, and
 * registers again.
 */
static void wake_listen(sg_consumer *e);

static void on_wake(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sg_consumer *e = ud;
    const char *key;
    size_t len;

    (void)conn;
    if (e->freeing || !e->wake_pending)
        return;
    e->wake_pending = 0;
    if (e->stopping)
        return;
    if (status != 0) {
        if (status == SG_EREDIS)
            sg_logf(e->log, SG_LOG_ERROR, "consumer %s: BLPOP on %s: %s",
                    e->name, e->wake_list, sg_reply_str(reply, NULL));
        arm(e->wake_ev, status == SG_EREDIS ? 1000 : RETRY_MS);
        return;
    }
    /* {list, lock key}, or nil at the timeout. */
    key = sg_reply_str(sg_reply_at(reply, 1), &len);
    if (key != NULL) {
        sg__chan *ch = sg__strmap_get(&e->chans, key, len);

        if (ch != NULL && ch->active != NULL &&
            ch->active->state == J_WAIT &&
            evtimer_pending(ch->retry_ev, NULL)) {
            e->st.woken++;
            event_del(ch->retry_ev);
            chan_retry_cb(-1, 0, ch);
        }
    }
    wake_listen(e);
}

static void wake_listen(sg_consumer *e)
{
    char timeout[32];
    const char *av[3];

    if (e->waker == NULL || e->wake_pending || e->stopping || e->freeing)
        return;
    snprintf(timeout, sizeof timeout, "%d.%03d", e->k.block_ms / 1000,
             e->k.block_ms % 1000);
    av[0] = "BLPOP";
    av[1] = e->wake_list;
    av[2] = timeout;
    if (sg_conn_command_timeout(e->waker, e->k.block_ms + READ_MARGIN_MS,
                                on_wake, e, 3, av, NULL) != 0) {
        arm(e->wake_ev, RETRY_MS);
        return;
    }
    e->wake_pending = 1;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wake_listen(arg);
}

/* The NULL-terminated parts joined into a new string. */
static char *joined(const sg_mem *mem, const char *const *parts)
{
    size_t n = 0, i;
    char *p, *at;

    for (i = 0; parts[i] != NULL; i++)
        n += strlen(parts[i]);
    p = xalloc(mem, n + 1);
    if (p == NULL)
        return NULL;
    for (at = p, i = 0; parts[i] != NULL; i++) {
        size_t len = strlen(parts[i]);

        memcpy(at, parts[i], len);
        at += len;
    }
    *at = '\0';
    return p;
}

void sg_consumer_opts_init(sg_consumer_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    sg_knobs_init(&opts->knobs);
}

static int knobs_ok(const sg_knobs *k)
{
    return k->block_ms > 0 && k->read_count > 0 && k->max_in_flight > 0 &&
           k->lock_ttl_ms > 0 && k->lock_wait_ms > 0 &&
           k->autoclaim_interval_ms > 0 && k->autoclaim_min_idle_ms > 0 &&
           k->autoclaim_count > 0 && k->max_deliveries > 0 &&
           k->max_claims > 0 && k->max_requeues > 0 &&
           k->outbound_claim_ttl_ms > 0 && k->stream_maxlen > 0 &&
           k->drain_ms > 0 && k->block_ms <= INT_MAX - READ_MARGIN_MS;
}

void sg_consumer_free(sg_consumer *e);

int sg_consumer_new(const sg_consumer_opts *o, sg_consumer **out)
{
    const sg_mem *mem;
    struct event_base *base;
    sg_consumer *e;

    *out = NULL;
    if (o->conn == NULL || o->stream == NULL || o->group == NULL ||
        o->consumer == NULL || o->dlq_stream == NULL ||
        o->claim_attempts_key == NULL || o->ops.handle == NULL ||
        o->lock_ttl_ms < 0 || !knobs_ok(&o->knobs))
        return SG_EINVAL;
    mem = o->mem != NULL ? o->mem : sg_conn_mem(o->conn);
    base = sg_conn_base(o->conn);
    e = xalloc(mem, sizeof *e);
    if (e == NULL)
        return SG_ENOMEM;
    memset(e, 0, sizeof *e);
    e->conn = o->conn;
    e->mem = mem;
    e->log = o->log != NULL ? o->log : sg_conn_log(o->conn);
    e->k = o->knobs;
    if (e->k.stream_maxlen < SG_STREAM_MAXLEN_MIN)
        e->k.stream_maxlen = SG_STREAM_MAXLEN_MIN;
    e->lock_ttl_ms = o->lock_ttl_ms > 0 ? o->lock_ttl_ms : e->k.lock_ttl_ms;
    e->ops = o->ops;
    e->ud = o->ud;
    e->fail_reason = o->fail_reason != NULL ? o->fail_reason
                                            : "handler_error";
    sg__scripts_init(&e->scripts);
    sg__strmap_init(&e->chans, mem);
    sg__strmap_init(&e->jobs, mem);
    memcpy(e->cursor, "0-0", 4);
    put_num(e->lock_ttl_s, sizeof e->lock_ttl_s, e->lock_ttl_ms);
    put_num(e->claim_ttl_s, sizeof e->claim_ttl_s,
            e->k.outbound_claim_ttl_ms);
    put_num(e->maxdel_s, sizeof e->maxdel_s, e->k.max_deliveries);
    put_num(e->maxlen_s, sizeof e->maxlen_s, e->k.stream_maxlen);
    if (sg_random_bytes(&e->rng, sizeof e->rng) != 0 || e->rng == 0)
        e->rng = 0x9e3779b97f4a7c15ull ^ sg__mono_ms();
    e->stream = xstrdup(mem, o->stream);
    e->group = xstrdup(mem, o->group);
    e->name = xstrdup(mem, o->consumer);
    e->dlq = xstrdup(mem, o->dlq_stream);
    e->hash = xstrdup(mem, o->claim_attempts_key);
    if (o->order_prefix != NULL &&
        (e->order = xstrdup(mem, o->order_prefix)) == NULL) {
        sg_consumer_free(e);
        return SG_ENOMEM;
    }
    if (o->wake_prefix != NULL && o->knobs.lock_wake &&
        e->group != NULL && e->name != NULL) {
        const char *const hash[] = {o->wake_prefix, ":waiters", NULL};
        const char *const list[] = {o->wake_prefix, ":list:", e->group, ":",
                                    e->name, NULL};

        e->waiters = joined(mem, hash);
        e->wake_list = joined(mem, list);
        e->wake_ev = evtimer_new(base, wake_cb, e);
        if (e->waiters == NULL || e->wake_list == NULL ||
            e->wake_ev == NULL) {
            sg_consumer_free(e);
            return SG_ENOMEM;
        }
    }
    if (o->wake_prefix != NULL && o->order_prefix != NULL &&
        o->knobs.hand_over && e->group != NULL && e->name != NULL) {
        const char *const key[] = {o->wake_prefix, ":handers:", e->group,
                                   NULL};
        const char *const list[] = {o->wake_prefix, ":hand:", e->group, ":",
                                    e->name, NULL};
        long long ttl;

        e->hand = xstrdup(mem, o->wake_prefix);
        e->hand_key = joined(mem, key);
        e->hand_list = joined(mem, list);
        if (e->hand == NULL || e->hand_key == NULL || e->hand_list == NULL) {
            sg_consumer_free(e);
            return SG_ENOMEM;
        }
        /* Three ticks: touch_interval() counts e->hand, now set. */
        ttl = 3 * (long long)touch_interval(e);
        put_num(e->hand_ttl_s, sizeof e->hand_ttl_s, ttl > 0 ? ttl : 1);
        /*
         * The list bounds what others read ahead for this consumer. Four
         * windows: a bound low enough to matter, high enough that a busy
         * channel seldom spills back to the busy path under a burst.
         */
        put_num(e->hand_cap_s, sizeof e->hand_cap_s,
                HAND_WINDOWS * (long long)e->k.max_in_flight);
    }
    e->flush_ev = event_new(base, -1, 0, flush_cb, e);
    e->retry_ev = evtimer_new(base, retry_cb, e);
    e->read_ev = evtimer_new(base, read_cb, e);
    e->renew_ev = event_new(base, -1, EV_PERSIST, renew_cb, e);
    e->touch_ev = event_new(base, -1, EV_PERSIST, touch_cb, e);
    e->claim_ev = event_new(base, -1, EV_PERSIST, claim_cb, e);
    e->drain_ev = NULL;
    e->done_ev = NULL;
    if (e->stream == NULL || e->group == NULL || e->name == NULL ||
        e->dlq == NULL || e->hash == NULL || e->flush_ev == NULL ||
        e->retry_ev == NULL || e->read_ev == NULL || e->renew_ev == NULL ||
        e->touch_ev == NULL || e->claim_ev == NULL) {
        sg_consumer_free(e);
        return SG_ENOMEM;
    }
    *out = e;
    return 0;
}

int sg_consumer_start(sg_consumer *e)
{
    char name[96];
    uint64_t touch;
    int n, rc;

    if (e->started)
        return SG_EINVAL;
    n = snprintf(name, sizeof name, "reader %s", e->stream);
    if (n < 0 || (size_t)n >= sizeof name)
        memcpy(name, "reader", 7);
    rc = sg_conn_new_like(e->conn, name, NULL, NULL, &e->reader);
    if (rc != 0)
        return rc;
    if (e->waiters != NULL) {
        n = snprintf(name, sizeof name, "waker %s", e->stream);
        if (n < 0 || (size_t)n >= sizeof name)
            memcpy(name, "waker", 6);
        rc = sg_conn_new_like(e->conn, name, NULL, NULL, &e->waker);
        if (rc != 0) {
            sg_conn_free(e->reader);
            e->reader = NULL;
            return rc;
        }
    }
    e->started = 1;
    arm(e->renew_ev, (uint64_t)(e->lock_ttl_ms / 3 > 0 ? e->lock_ttl_ms / 3
                                                        : 1));
    /*
     * Held for half the min-idle, reset within another eighth: a sweep
     * elsewhere then has three eighths of the min-idle of slack for a
     * late loop or a slow round trip. With hand-over, at least once a
     * second: the tick also renews this consumer's field of the hand-over
     * hash, which dies three ticks after the last.
     */
    touch = touch_interval(e);
    arm(e->touch_ev, touch > 0 ? touch : 1);
    arm(e->claim_ev, (uint64_t)e->k.autoclaim_interval_ms);
    sg_logf(e->log, SG_LOG_INFO, "consumer %s: reading %s through group %s",
            e->name, e->stream, e->group);
    hand_keep(e, 1);
    read_more(e);
    wake_listen(e);
    return 0;
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;

    (void)fd;
    (void)what;
    if (e->done_fn != NULL)
        e->done_fn(e, e->done_ud);
}

/* Forgets everything in flight: see the top of this file. */
static void abandon_all(sg_consumer *e)
{
    sg__op *op;
    sg_job *job;
    size_t i;

    while (e->reqs != NULL) {
        sg__req *r = e->reqs;

        req_unlink(e, r);
        r->eng = NULL;
    }
    while ((op = e->settle_head) != NULL) {
        e->settle_head = op->next;
        op_free(e->mem, op);
    }
    e->settle_tail = NULL;
    e->begin_head = e->begin_tail = NULL;
    while ((job = e->all) != NULL) {
        job_unlist(e, job);
        job->chan = NULL;
        job->next = NULL;
        if (job->state == J_RUNNING) {
            job->fenced = 1;
            job->eng = NULL;   /* the role frees it with sg_job_finish() */
        } else {
            job_free_mem(job);
        }
    }
    for (i = 0; i < e->chans.cap; i++) {
        sg__chan *ch = e->chans.slots[i].value;

        if (ch != NULL)
            chan_free(e, ch);
    }
    sg__strmap_destroy(&e->chans);
    sg__strmap_init(&e->chans, e->mem);
}

static void finish_stop(sg_consumer *e)
{
    e->done = 1;
    event_del(e->renew_ev);
    event_del(e->retry_ev);
    if (e->drain_ev != NULL)
        event_del(e->drain_ev);
    sg_logf(e->log, SG_LOG_INFO, "consumer %s: stopped", e->name);
    event_active(e->done_ev, 0, 0);
}

static void check_drained(sg_consumer *e)
{
    if (!e->stopping || e->done || e->freeing)
        return;
    if (e->st.in_flight == 0 && e->reqs == NULL && e->settle_head == NULL &&
        e->begin_head == NULL)
        finish_stop(e);
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    sg_consumer *e = arg;

    (void)fd;
    (void)what;
    if (e->done)
        return;
    sg_logf(e->log, SG_LOG_WARN, "consumer %s: %llu entries still in "
            "flight after %d ms of draining; leaving them pending", e->name,
            (unsigned long long)e->st.in_flight, e->k.drain_ms);
    abandon_all(e);
    finish_stop(e);
}

int sg_consumer_stop(sg_consumer *e, sg_consumer_done_fn *done, void *ud)
{
    struct event_base *base = sg_conn_base(e->conn);
    sg_job *job, *next;
    size_t i;

    if (!e->started || e->stopping)
        return SG_EINVAL;
    e->drain_ev = evtimer_new(base, drain_cb, e);
    e->done_ev = event_new(base, -1, 0, done_cb, e);
    if (e->drain_ev == NULL || e->done_ev == NULL)
        return SG_ENOMEM;
    e->stopping = 1;
    e->done_fn = done;
    e->done_ud = ud;
    /* Nothing more is handed to a consumer that no longer reads. */
    hand_keep(e, 0);
    sg_logf(e->log, SG_LOG_INFO, "consumer %s: stopping; draining %llu "
            "entries in flight", e->name,
            (unsigned long long)e->st.in_flight);
    /* Cut the blocking read: an answer it had not delivered stays pending. */
    if (e->reader != NULL) {
        e->reader_sent += sg_conn_commands_sent(e->reader);
        sg_conn_free(e->reader);
        e->reader = NULL;
    }
    /* Nothing waits for a channel any more: no wake-ups either. */
    if (e->waker != NULL) {
        e->reader_sent += sg_conn_commands_sent(e->waker);
        sg_conn_free(e->waker);
        e->waker = NULL;
        e->wake_pending = 0;
    }
    if (e->wake_ev != NULL)
        event_del(e->wake_ev);
    event_del(e->read_ev);
    event_del(e->touch_ev);
    event_del(e->claim_ev);
    /* Entries read but not started stay pending (SG-IN-017). */
    for (job = e->begin_head; job != NULL; job = next) {
        next = job->next;
        job->next = NULL;
        if (job->chan != NULL && job->chan->active == job)
            job->chan->active = NULL;
        job->chan = NULL;
        job_unlist(e, job);
        job_free_mem(job);
    }
    e->begin_head = e->begin_tail = NULL;
    for (i = 0; i < e->chans.cap; i++) {
        sg__chan *ch = e->chans.slots[i].value;

        if (ch == NULL)
            continue;
        for (job = ch->head; job != NULL; job = next) {
            next = job->next;
            job_unlist(e, job);
            job_free_mem(job);
        }
        ch->head = ch->tail = NULL;
        if (ch->active != NULL && ch->active->state == J_WAIT) {
            job = ch->active;
            ch->active = NULL;
            job_unlist(e, job);
            job_free_mem(job);
        }
        event_del(ch->retry_ev);
        if (ch->active == NULL && ch->holds)
            queue_release(e, ch);
    }
    for (i = 0; i < e->chans.cap; i++) {
        sg__chan *ch = e->chans.slots[i].value;

        if (ch != NULL)
            chan_maybe_free(e, ch);
    }
    arm(e->drain_ev, (uint64_t)e->k.drain_ms);
    check_drained(e);
    return 0;
}

void sg_consumer_free(sg_consumer *e)
{
    if (e == NULL)
        return;
    e->freeing = 1;
    if (e->reader != NULL) {
        sg_conn_free(e->reader);
        e->reader = NULL;
    }
    if (e->waker != NULL) {
        sg_conn_free(e->waker);
        e->waker = NULL;
    }
    if (e->wake_ev != NULL)
        event_free(e->wake_ev);
    abandon_all(e);
    sg__strmap_destroy(&e->chans);
    sg__strmap_destroy(&e->jobs);
    if (e->flush_ev != NULL)
        event_free(e->flush_ev);
    if (e->retry_ev != NULL)
        event_free(e->retry_ev);
    if (e->read_ev != NULL)
        event_free(e->read_ev);
    if (e->renew_ev != NULL)
        event_free(e->renew_ev);
    if (e->touch_ev != NULL)
        event_free(e->touch_ev);
    if (e->claim_ev != NULL)
        event_free(e->claim_ev);
    if (e->drain_ev != NULL)
        event_free(e->drain_ev);
    if (e->done_ev != NULL)
        event_free(e->done_ev);
    xfree(e->mem, e->av);
    xfree(e->mem, e->avlen);
    xfree(e->mem, e->stream);
    xfree(e->mem, e->group);
    xfree(e->mem, e->name);
    xfree(e->mem, e->dlq);
    xfree(e->mem, e->hash);
    xfree(e->mem, e->order);
    xfree(e->mem, e->waiters);
    xfree(e->mem, e->wake_list);
    xfree(e->mem, e->hand);
    xfree(e->mem, e->hand_key);
    xfree(e->mem, e->hand_list);
    xfree(e->mem, e);
}

void sg_consumer_get_stats(const sg_consumer *e, sg_consumer_stats *out)
{
    *out = e->st;
    out->commands = e->st.commands + e->reader_sent +
                    (e->reader != NULL ? sg_conn_commands_sent(e->reader)
                                       : 0) +
                    (e->waker != NULL ? sg_conn_commands_sent(e->waker)
                                      : 0);
}

int sg_consumer_name_make(char *out, size_t cap, const char *role)
{
    size_t n = strlen(role);
    int rc;

    if (n + 1 + 16 + 1 > cap)
        return SG_EINVAL;
    memcpy(out, role, n);
    out[n] = '-';
    rc = sg_random_hex(out + n + 1, 8);
    if (rc != 0)
        out[0] = '\0';
    return rc;
}

const char *sg_consumer_name(const sg_consumer *e)
{
    return e->name;
}

const char *sg_consumer_stream(const sg_consumer *e)
{
    return e->stream;
}

const char *sg_consumer_group(const sg_consumer *e)
{
    return e->group;
}

/* ---- job accessors ------------------------------------------------------ */

const char *sg_job_id(const sg_job *job)
{
    return job->id;
}

sg_entry sg_job_entry(const sg_job *job)
{
    sg_entry entry;

    entry.fields = job->fields;
    entry.nfields = job->nfields;
    return entry;
}

const char *sg_job_field(const sg_job *job, const char *name, size_t *len)
{
    return field_of(job, name, len);
}

void *sg_job_payload(const sg_job *job)
{
    return job->payload;
}

long long sg_job_deliveries(const sg_job *job)
{
    return job->deliveries;
}

int sg_job_claimed(const sg_job *job)
{
    return job->claimed;
}

int sg_job_fenced(const sg_job *job)
{
    return job->fenced;
}

sg_consumer *sg_job_consumer(const sg_job *job)
{
    return job->eng;
}
