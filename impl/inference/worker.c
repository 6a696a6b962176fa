/*
 * worker.c: see worker.h.
 *
 * One handling ("task") per job, a chain of callbacks on the loop:
 *
 *   passive:    record the message in the channel's history -> finish
 *   addressed:  read the history (LRANGE) -> none yet, and this process
 *               has not asked for this channel yet: ask the gateway
 *               (fetch_channel_history; a timeout or an error reply means
 *               no history) -> the LLM -> finish OK with writes, in
 *               libsg's acknowledging script (SG-IN-029): the reply
 *               `message`, stop_typing when start_typing went out, and
 *               the records (the gateway's, the message's, the reply's)
 *               appended to the history; an LLM failure ->
 *               stop_typing (when shown) and the records but the reply
 *               -> finish FAILED with the error, which libsg retries or
 *               dead-letters (SG-IN-012/013).
 *
 * Typing. start_typing goes out only once the LLM has taken
 * typing_delay_ms (SG_LLM_TYPING_DELAY_MS; 0: as the call starts), so a
 * quick reply goes out alone, as one outbound entry instead of three, and
 * a slow one shows the indicator while it is worked on. start_typing and
 * the acknowledging script (the reply, then stop_typing) go over the one
 * connection, so they reach the stream in that order.
 *
 * So an answered message costs one Redis command of its own, LRANGE,
 * plus the start_typing XADD when the reply is slow (and its share of
 * libsg's reads, begins and acknowledgements, which now carry the reply).
 *
 * A task counts the callbacks it still waits for (busy) and is freed when
 * its job is finished and nothing is outstanding, so that a callback never
 * meets a freed task. A fenced job (its lock lost, SG-LOCK-004) produces
 * no further effects.
 */
#define _POSIX_C_SOURCE 200809L

#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "sg/bus.h"
#include "sg/codec.h"
#include "sg/config_events.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sg/lease.h"
#include "sg/random.h"
#include "sg/rpc.h"

#include "config.h"
#include "http.h"
#include "llm.h"
#include "message.h"
#include "prompt.h"

#define MAX_STATUS_SERIES 32
#define RPC_HISTORY_LIMIT 100
/* Channels remembered as already asked for their history (a power of 2). */
#define ASKED_MAX 4096

typedef struct status_count {
    long status;
    uint64_t count;
} status_count;

typedef struct task task;

struct sgi_worker {
    sgi_worker_opts opts;
    char prog[64];
    sg_log log;
    const sg_log *logp;
    struct event_base *base;

    /* configuration */
    sg_topology topo;
    sg_knobs knobs;
    sgi_config cfg;
    char redis_host[256];
    int redis_port;
    char instance[256];
    char metrics_listen[300];
    char ns[SG_NAME_MAX + 1];
    char history_prefix[SG_NAME_MAX + 1];
    int status_interval_ms;

    /* parts */
    sg_conn *conn;
    sg_bus *bus;
    sg_rpc *rpc;
    sgi_llm *llm;
    sg_inbound_consumer *in;
    sg_lease *lease;
    sg_config_events *events;
    sgi_http *http;
    int metrics_port;
    struct event *provision_retry;

    /* state */
    int conn_up;
    int started;
    int ready;
    int stopping;
    int closing;                /* after the drain: abort what is left */
    int lease_held;
    sgi_worker_done_fn *done;
    void *done_ud;
    task *tasks;

    /* metrics */
    sgi_hist llm_latency;
    uint64_t llm_requests, llm_connections, replies, passive;
    uint64_t history_fetches;
    uint64_t history_fetch_none, config_reloads, config_errors;
    uint64_t publish_errors, history_errors;
    uint64_t fenced;            /* replies not published: entry taken over */
    /* Commands written by the command connection and every connection
       made like it (the consumer's reader, the RPC client's waiting
       connections; the lease shares the command connection), and by
       config listeners already freed. */
    uint64_t redis_sent;
    uint64_t events_sent;
    status_count llm_errors[MAX_STATUS_SERIES];
    size_t nllm_errors;

    /*
     * Channels this process already asked the gateway for their history
     * (fetch_channel_history once per channel): 64-bit hashes of the
     * history keys, open addressing, and the order they came in, so that
     * the oldest is forgotten first once ASKED_MAX are held. 0 is free.
     */
    uint64_t *asked;
    uint64_t *asked_order;
    size_t nasked, asked_next;
    /* Random bytes for fresh trace ids (trace_fresh()); `rand_left` of
       them, at the end, not used yet. */
    unsigned char rand[512];
    size_t rand_left;
    /* The LLM request's body while it is built (the LLM client copies
       it): its allocation is kept from one message to the next, up to
       64 KiB. */
    sg_buf body;
};

struct task {
    sgi_worker *w;
    task *prev, *next;
    sg_job *job;                /* NULL once finished */
    sgi_message msg;
    char entry_id[64];
    char *platform;             /* NUL-terminated copies */
    char *channel;
    char *trace;
    char *key;                  /* the channel's history list */
    int history_max;
    sg_buf text;                /* what the model sees of the message */
    char **recs;                /* history records, oldest first */
    size_t *lens;
    size_t nrecs;
    int recs_new;               /* recs came from the gateway: store them */
    sg_buf user_rec;            /* the message's own history record */
    sgi_llm_call *call;
    struct event *typing_due;   /* start_typing waits for this timer */
    int typing_shown;           /* start_typing was published */
    char *reply;
    size_t reply_len;
    int busy;                   /* callbacks outstanding */
};

/* ---- small things ------------------------------------------------------- */

/*
 * v in decimal at out (room for 21 bytes), NUL-terminated; its length.
 * For the numbers and names of every message: snprintf() was a visible
 * part of a message's cost.
 */
static size_t fmt_ll(char *out, long long v)
{
    char tmp[24];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
                                 : (unsigned long long)v;
    size_t n = 0, i = 0;

    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u > 0);
    if (v < 0)
        out[i++] = '-';
    while (n > 0)
        out[i++] = tmp[--n];
    out[i] = '\0';
    return i;
}

/* The strings parts[0..n) joined into out (cap bytes), NUL-terminated;
   0, or -1 when they do not fit (out is then cut, as snprintf() cuts). */
static int join(char *out, size_t cap, const char *const *parts, size_t n)
{
    size_t at = 0, i;

    for (i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);

        if (len >= cap - at) {
            memcpy(out + at, parts[i], cap - at - 1);
            out[cap - 1] = '\0';
            return -1;
        }
        memcpy(out + at, parts[i], len);
        at += len;
    }
    out[at] = '\0';
    return 0;
}

static char *dup_str(sg_str s)
{
    char *p = malloc(s.len + 1);

    if (p != NULL) {
        if (s.len > 0)
            memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errcap > 0) {
        va_start(ap, fmt);
        if (vsnprintf(err, errcap, fmt, ap) < 0)
            err[0] = '\0';
        va_end(ap);
    }
    return -1;
}

static void count_llm_error(sgi_worker *w, long status)
{
    size_t i;

    for (i = 0; i < w->nllm_errors; i++)
        if (w->llm_errors[i].status == status) {
            w->llm_errors[i].count++;
            return;
        }
    if (w->nllm_errors < MAX_STATUS_SERIES) {
        w->llm_errors[w->nllm_errors].status = status;
        w->llm_errors[w->nllm_errors].count = 1;
        w->nllm_errors++;
    } else {
        /* Bounded: further statuses share one series. */
        w->llm_errors[MAX_STATUS_SERIES - 1].status = -1;
        w->llm_errors[MAX_STATUS_SERIES - 1].count++;
    }
}

static void on_llm_attempt(long status, double seconds, long connects,
                           void *ud)
{
    sgi_worker *w = ud;

    w->llm_requests++;
    if (connects > 0)
        w->llm_connections += (uint64_t)connects;
    sgi_hist_observe(&w->llm_latency, seconds);
    if (status < 200 || status > 299)
        count_llm_error(w, status);
}

static int asked_add(sgi_worker *w, const char *key);

/* ---- tasks -------------------------------------------------------------- */

static void task_free(task *t)
{
    sgi_worker *w = t->w;
    size_t i;

    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        w->tasks = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    if (t->typing_due != NULL)
        event_free(t->typing_due);
    for (i = 0; i < t->nrecs; i++)
        free(t->recs[i]);
    free(t->recs);
    free(t->lens);
    sg_buf_destroy(&t->text);
    sg_buf_destroy(&t->user_rec);
    free(t->platform);
    free(t->channel);
    free(t->trace);
    free(t->key);
    free(t->reply);
    free(t);
}

static void task_maybe_free(task *t)
{
    if (t->job == NULL && t->busy == 0 && t->call == NULL &&
        t->typing_due == NULL)
        task_free(t);
}

static void task_finish(task *t, sg_job_result res)
{
    sg_job *job = t->job;

    if (job == NULL)
        return;
    t->job = NULL;
    if (res.status == SG_JOB_STATUS_FAILED)
        sg_logf(t->w->logp, SG_LOG_WARN, "entry %s trace %s: failed: %s",
                t->entry_id, t->trace != NULL ? t->trace : "", res.error);
    sg_job_finish(job, res);
}

/* No further effects for this task: the worker is closing or the job was
   fenced. */
static int task_dead(task *t)
{
    return t->w->closing || t->job == NULL || sg_job_fenced(t->job);
}

static void task_abort(task *t, const char *why)
{
    task_finish(t, SG_JOB_FAILED(why));
    task_maybe_free(t);
}

/* ---- history ------------------------------------------------------------ */

/*
 * KEYS[1] the channel's list; ARGV[1] the most records kept, ARGV[2] the
 * list's TTL in ms, ARGV[3..] records to append. One script so that the
 * list is never left longer than the bound or without its TTL.
 */
static const char history_lua[] =
    "if #ARGV > 2 then\n"
    "  redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))\n"
    "end\n"
    "redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

static sg_script history_script;

static void on_history_saved(sg_conn *c, int status, const sg_reply *r,
                             void *ud)
{
    task *t = ud;

    (void)c;
    t->busy--;
    if (status != 0) {
        t->w->history_errors++;
        sg_logf(t->w->logp, SG_LOG_WARN,
                "entry %s: history %s not written: %s", t->entry_id, t->key,
                status == SG_EREDIS ? sg_reply_str(r, NULL)
                                    : sg_strerror(status));
    }
    task_maybe_free(t);
}

static void on_passive_saved(sg_conn *c, int status, const sg_reply *r,
                             void *ud)
{
    task *t = ud;
    char why[300];

    (void)c;
    t->busy--;
    if (t->job != NULL) {
        if (status == 0) {
            t->w->passive++;
            task_finish(t, SG_JOB_OK);
        } else {
            snprintf(why, sizeof why, "history %s not written: %s", t->key,
                     status == SG_EREDIS ? sg_reply_str(r, NULL)
                                         : sg_strerror(status));
            task_finish(t, SG_JOB_FAILED(why));
        }
    }
    task_maybe_free(t);
}

/*
 * Appends records recs[0..n) to the task's history list and trims it;
 * fn gets the answer. 0, or -1 when the command could not be sent (fn
 * does not run).
 */
static int history_append(task *t, const char *const *recs,
                          const size_t *lens, size_t n, sg_reply_fn *fn)
{
    sgi_worker *w = t->w;
    const char **args;
    size_t *alen, i;
    char max[24], ttl[24];
    int rc;

    args = malloc((n + 3) * sizeof *args);
    alen = malloc((n + 3) * sizeof *alen);
    if (args == NULL || alen == NULL) {
        free(args);
        free(alen);
        return -1;
    }
    fmt_ll(max, t->history_max);
    fmt_ll(ttl, w->cfg.history_ttl_ms);
    args[0] = t->key;
    alen[0] = strlen(t->key);
    args[1] = max;
    alen[1] = strlen(max);
    args[2] = ttl;
    alen[2] = strlen(ttl);
    for (i = 0; i < n; i++) {
        args[3 + i] = recs[i];
        alen[3 + i] = lens[i];
    }
    rc = sg_conn_eval(w->conn, &history_script, fn, t, 1, (int)(n + 3), args,
                      alen);
    free(args);
    free(alen);
    if (rc != 0)
        return -1;
    t->busy++;
    return 0;
}

/* Appends the history record of the task's own message (role user). */
static int user_record(task *t, sg_buf *rec)
{
    sg_str content;

    content.ptr = (const char *)t->text.data;
    content.len = t->text.len;
    return sgi_history_record(rec, "user", t->msg.user_id, t->msg.user_name,
                              content, t->msg.message_id,
                              sgi_message_time(&t->msg));
}

/* Records the task's own message in its history (a passive message). */
static int record_message(task *t, sg_reply_fn *fn)
{
    sg_buf rec;
    const char *r;
    size_t len;
    int rc;

    sg_buf_init(&rec, NULL);
    if (user_record(t, &rec) != 0) {
        sg_buf_destroy(&rec);
        return -1;
    }
    r = (const char *)rec.data;
    len = rec.len;
    rc = history_append(t, &r, &len, 1, fn);
    sg_buf_destroy(&rec);
    return rc;
}

static int add_rec(task *t, const char *s, size_t n)
{
    char **recs = realloc(t->recs, (t->nrecs + 1) * sizeof *recs);
    size_t *lens;
    char *copy;

    if (recs == NULL)
        return -1;
    t->recs = recs;
    lens = realloc(t->lens, (t->nrecs + 1) * sizeof *lens);
    if (lens == NULL)
        return -1;
    t->lens = lens;
    copy = malloc(n + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->recs[t->nrecs] = copy;
    t->lens[t->nrecs] = n;
    t->nrecs++;
    return 0;
}

/* ---- publishing -------------------------------------------------------- */

static void on_published_quiet(int status, const char *entry_id, void *ud)
{
    task *t = ud;

    (void)entry_id;
    t->busy--;
    if (status != 0) {
        t->w->publish_errors++;
        sg_logf(t->w->logp, SG_LOG_WARN, "entry %s: typing not published: %s",
                t->entry_id, sg_strerror(status));
    }
    task_maybe_free(t);
}

static int publish_typing(task *t, sg_out_type type)
{
    sg_envelope env;
    sg_error err;

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = type;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id.ptr = t->channel;
    env.u.out.channel_id.len = strlen(t->channel);
    if (sg_bus_publish_outbound(t->w->bus, t->platform, &env,
                                t->trace[0] != '\0' ? t->trace : NULL,
                                on_published_quiet, t, &err) != 0) {
        t->w->publish_errors++;
        return -1;
    }
    t->busy++;
    return 0;
}

/*
 * The records the task writes to its history, oldest first: the
 * gateway's (when they came from it), the message's own, then `last` (the
 * reply; may be NULL). *n gets their number; the arrays are the caller's
 * to free. 0, or -1 out of memory.
 */
static int records_to_save(task *t, const char *last, size_t last_len,
                           const char ***recs, size_t **lens, size_t *n)
{
    size_t k = 0, cap = (t->recs_new ? t->nrecs : 0) + 2, i;

    *recs = malloc(cap * sizeof **recs);
    *lens = malloc(cap * sizeof **lens);
    if (*recs == NULL || *lens == NULL) {
        free(*recs);
        free(*lens);
        return -1;
    }
    if (t->recs_new)
        for (i = 0; i < t->nrecs; i++) {
            (*recs)[k] = t->recs[i];
            (*lens)[k++] = t->lens[i];
        }
    if (t->user_rec.len > 0) {
        (*recs)[k] = (const char *)t->user_rec.data;
        (*lens)[k++] = t->user_rec.len;
    }
    if (last != NULL) {
        (*recs)[k] = last;
        (*lens)[k++] = last_len;
    }
    *n = k;
    return 0;
}

/* Without a reply: what the task has to record goes to the history. */
static void save_history(task *t)
{
    const char **recs;
    size_t *lens, n;

    if (records_to_save(t, NULL, 0, &recs, &lens, &n) != 0)
        return;
    if (n > 0)
        (void)history_append(t, recs, lens, n, on_history_saved);
    free(recs);
    free(lens);
}

/* The LLM call is over: start_typing is no longer due. */
static void typing_cancel(task *t)
{
    if (t->typing_due != NULL) {
        event_free(t->typing_due);
        t->typing_due = NULL;
    }
}

static void on_typing_due(evutil_socket_t fd, short what, void *arg)
{
    task *t = arg;

    (void)fd;
    (void)what;
    typing_cancel(t);
    if (!task_dead(t) && t->call != NULL &&
        publish_typing(t, SG_OUT_START_TYPING) == 0)
        t->typing_shown = 1;
    task_maybe_free(t);
}

/* As the LLM call starts: start_typing now (a delay of 0) or once the
   delay has passed without a reply. */
static void typing_arm(task *t)
{
    struct timeval tv;
    int ms = t->w->cfg.typing_delay_ms;

    if (ms > 0) {
        t->typing_due = evtimer_new(t->w->base, on_typing_due, t);
        if (t->typing_due != NULL) {
            tv.tv_sec = ms / 1000;
            tv.tv_usec = (ms % 1000) * 1000;
            if (evtimer_add(t->typing_due, &tv) == 0)
                return;
            typing_cancel(t);
        }
    }
    if (publish_typing(t, SG_OUT_START_TYPING) == 0)
        t->typing_shown = 1;
}

/* The LLM failed, or the reply cannot go out: stop typing, keep the
   message in the history, and fail the job with `why`. */
static void task_fail_after_llm(task *t, const char *why)
{
    typing_cancel(t);
    if (t->typing_shown)
        (void)publish_typing(t, SG_OUT_STOP_TYPING);
    save_history(t);
    task_finish(t, SG_JOB_FAILED(why));
    task_maybe_free(t);
}

/*
 * The outcome of an answered message's acknowledgement, which carried its
 * writes (sg_job_finish_writes()): counted only, the task is gone.
 */
static void on_reply_written(void *ud, int outcome)
{
    sgi_worker *w = ud;

    if (outcome > 0)
        w->replies++;
    else if (outcome == 0)
        w->fenced++;    /* SG-LOCK-004: not ours any more, nothing written */
    else
        w->publish_errors++;
}

/* Encodes an outbound envelope of the task's channel with its trace id. */
static int encode_out(task *t, sg_envelope *env, sg_buf *out, sg_error *err)
{
    env->u.out.has_channel_id = true;
    env->u.out.channel_id.ptr = t->channel;
    env->u.out.channel_id.len = strlen(t->channel);
    if (t->trace[0] != '\0') {
        /* SG-TRACE-001/002: the same id in the entry and the envelope. */
        env->u.out.trace_id.ptr = t->trace;
        env->u.out.trace_id.len = strlen(t->trace);
    }
    return sg_envelope_encode(env, out, err);
}

/*
 * Ends the task's job with its writes (SG-IN-029): the `message` envelope
 * and (when start_typing went out) stop_typing on the platform's outbound
 * stream, and the history records, all in the script that acknowledges
 * the entry, after its ownership and lock checks (SG-IN-011), so that a
 * handling fenced meanwhile (SG-LOCK-004) publishes nothing. 0 (the job
 * is finished), or -1 with why filled (the job is not).
 */
static int send_reply(task *t, char *why, size_t whycap)
{
    sgi_worker *w = t->w;
    sg_envelope env;
    sg_error err;
    sg_buf msg, stop, rec;
    sg_str content;
    char key[SG_NAME_MAX + 96], stream[2 * SG_NAME_MAX + 2], ts[32];
    /* The records; on the stack for the usual few. */
    sg_str small_items[16], *items = small_items, data[2];
    const char *parts[3];
    sg_job_writes wr;
    sg_job *job;
    struct timespec now;
    size_t n, i;
    int rc = -1;

    sg_buf_init(&msg, NULL);
    sg_buf_init(&stop, NULL);
    sg_buf_init(&rec, NULL);
    /* message_key: one per inbound entry, so that a redelivered entry's
       second reply is a duplicate the gateway drops (SG-OUTENV-006,
       SG-OUT-010). */
    parts[0] = w->ns;
    parts[1] = ":reply:";
    parts[2] = t->entry_id;
    (void)join(key, sizeof key, parts, 3);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_MESSAGE;
    env.u.out.text.ptr = t->reply;
    env.u.out.text.len = t->reply_len;
    env.u.out.has_message_key = true;
    env.u.out.message_key.ptr = key;
    env.u.out.message_key.len = strlen(key);
    if (t->msg.message_id.len > 0) {
        env.u.out.has_reply_to = true;
        env.u.out.reply_to = t->msg.message_id;
    }
    /* SG-FRAME-012: validated as it is encoded. */
    if (encode_out(t, &env, &msg, &err) != 0) {
        snprintf(why, whycap, "the reply cannot be published: %s", err.msg);
        goto out;
    }
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_STOP_TYPING;
    if (t->typing_shown && encode_out(t, &env, &stop, &err) != 0) {
        snprintf(why, whycap, "stop_typing cannot be published: %s",
                 err.msg);
        goto out;
    }
    content.ptr = t->reply;
    content.len = t->reply_len;
    if (sgi_history_record(&rec, "assistant", SG_STR(""), SG_STR(""),
                           content, SG_STR(""), (double)time(NULL)) != 0)
        goto oom;
    /* The records to append, as records_to_save() lists them: the
       gateway's, the message's, the reply's. */
    n = (t->recs_new ? t->nrecs : 0) + 2;
    if (n > sizeof small_items / sizeof small_items[0]) {
        items = malloc(n * sizeof *items);
        if (items == NULL)
            goto oom;
    }
    n = 0;
    if (t->recs_new)
        for (i = 0; i < t->nrecs; i++) {
            items[n].ptr = t->recs[i];
            items[n++].len = t->lens[i];
        }
    if (t->user_rec.len > 0) {
        items[n].ptr = (const char *)t->user_rec.data;
        items[n++].len = t->user_rec.len;
    }
    items[n].ptr = (const char *)rec.data;
    items[n++].len = rec.len;
    if (sg_name_join(stream, sizeof stream, w->topo.outbound_stream_prefix,
                     t->platform, strlen(t->platform)) < 0) {
        snprintf(why, whycap, "the reply cannot be published: platform "
                 "\"%.64s\" makes too long a stream name", t->platform);
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    /* "%lld.%03ld" of the seconds and milliseconds. */
    i = fmt_ll(ts, (long long)now.tv_sec);
    ts[i] = '.';
    ts[i + 1] = (char)('0' + (int)(now.tv_nsec / 100000000L % 10));
    ts[i + 2] = (char)('0' + (int)(now.tv_nsec / 10000000L % 10));
    ts[i + 3] = (char)('0' + (int)(now.tv_nsec / 1000000L % 10));
    ts[i + 4] = '\0';
    data[0].ptr = (const char *)msg.data;
    data[0].len = msg.len;
    data[1].ptr = (const char *)stop.data;
    data[1].len = stop.len;
    memset(&wr, 0, sizeof wr);
    /* SG-FRAME-001/002/008: the entries libsg's publisher writes, capped
       at SG_STREAM_MAXLEN as the engine knows it (SG-FRAME-009). */
    wr.stream = stream;
    wr.data = data;
    wr.ndata = stop.len > 0 ? 2 : 1;
    wr.ts = ts;
    wr.trace_id = t->trace;
    wr.list = t->key;
    wr.items = items;
    wr.nitems = n;
    wr.list_keep = t->history_max;
    wr.list_ttl_ms = w->cfg.history_ttl_ms;
    wr.done = on_reply_written;
    wr.ud = w;
    job = t->job;
    t->job = NULL;
    if (sg_job_finish_writes(job, &wr) != 0) {
        /* Dropped: the entry stays pending, for a retry after the sweep. */
        w->publish_errors++;
        sg_logf(w->logp, SG_LOG_WARN, "entry %s: reply not published: out "
                "of memory; the entry stays pending", t->entry_id);
    }
    rc = 0;
    goto out;
oom:
    snprintf(why, whycap, "the reply cannot be published: out of memory");
out:
    if (items != small_items)
        free(items);
    sg_buf_destroy(&rec);
    sg_buf_destroy(&stop);
    sg_buf_destroy(&msg);
    return rc;
}

/* ---- the LLM ----------------------------------------------------------- */

static void on_llm_done(const sgi_llm_result *res, void *ud)
{
    task *t = ud;
    sgi_worker *w = t->w;
    char why[400];

    t->call = NULL;
    typing_cancel(t);
    if (task_dead(t)) {
        task_abort(t, "lock lost or stopping: no reply published");
        return;
    }
    if (!res->ok) {
        task_fail_after_llm(t, res->error);
        return;
    }
    t->reply = malloc(res->reply->content_len + 1);
    if (t->reply == NULL) {
        task_abort(t, "out of memory");
        return;
    }
    memcpy(t->reply, res->reply->content, res->reply->content_len + 1);
    t->reply_len = res->reply->content_len;
    sg_logf(w->logp, SG_LOG_DEBUG,
            "entry %s trace %s: reply of %zu bytes after %d attempt(s), "
            "%.3f s%s", t->entry_id, t->trace, t->reply_len, res->attempts,
            res->seconds, res->reply->tools_fallback ? " (tools asked)" : "");
    if (send_reply(t, why, sizeof why) != 0) {
        w->publish_errors++;
        task_fail_after_llm(t, why);
        return;
    }
    task_maybe_free(t);
}

/* History known (recs[0..n), each NUL-terminated; borrowed for the
   call): show typing, call the LLM. The message joins the history with
   the reply (or without one when the LLM fails). */
/* The request body is sent (or not): its buffer is kept unless large. */
static void body_done(sgi_worker *w)
{
    if (w->body.cap > 65536)
        sg_buf_destroy(&w->body);
    else
        sg_buf_reset(&w->body);
}

static void proceed_with(task *t, const char *const *recs,
                         const size_t *lens, size_t n)
{
    sgi_worker *w = t->w;
    sgi_llm_request rq;
    sg_buf *body = &w->body;
    char url[SGI_URL_MAX + 32];
    sg_str current;
    size_t blen;

    if (task_dead(t)) {
        task_abort(t, "lock lost or stopping");
        return;
    }
    sg_buf_reset(body);
    current.ptr = (const char *)t->text.data;
    current.len = t->text.len;
    if (sgi_prompt_body(body, &w->cfg, recs, lens, n, current,
                        t->msg.user_name) != 0) {
        body_done(w);
        task_abort(t, "the LLM request could not be built");
        return;
    }
    if (user_record(t, &t->user_rec) != 0) {
        body_done(w);
        task_abort(t, "out of memory");
        return;
    }
    blen = strlen(w->cfg.base_url);
    while (blen > 0 && w->cfg.base_url[blen - 1] == '/')
        blen--;
    if (blen > SGI_URL_MAX)
        blen = SGI_URL_MAX;
    memcpy(url, w->cfg.base_url, blen);
    memcpy(url + blen, "/chat/completions", sizeof "/chat/completions");
    memset(&rq, 0, sizeof rq);
    rq.url = url;
    rq.api_key = w->cfg.api_key;
    rq.body = (const char *)body->data;
    rq.body_len = body->len;
    rq.timeout_ms = w->cfg.timeout_ms;
    rq.max_retries = w->cfg.max_retries;
    rq.log_id = t->entry_id;
    if (sgi_llm_start(w->llm, &rq, on_llm_done, t, &t->call) != 0) {
        body_done(w);
        task_fail_after_llm(t, "LLM: the request could not be started");
        return;
    }
    body_done(w);
    typing_arm(t);
}

/* History known: what the gateway gave, or none. */
static void proceed(task *t)
{
    proceed_with(t, (const char *const *)t->recs, t->lens, t->nrecs);
}

static void on_rpc_history(const sg_rpc_result *res, void *ud)
{
    task *t = ud;
    sgi_worker *w = t->w;
    const cJSON *m;
    sg_error err;
    sg_buf rec;
    size_t first = 0;

    t->busy--;
    if (task_dead(t)) {
        task_abort(t, "lock lost or stopping");
        return;
    }
    if (res->status != 0 || res->json == NULL ||
        sg_rpc_check_reply("fetch_channel_history", res->json,
                           RPC_HISTORY_LIMIT, &err) != 0 ||
        !cJSON_IsArray(res->json)) {
        /* A timeout or an error reply: the channel starts without one. */
        w->history_fetch_none++;
        sg_logf(w->logp, SG_LOG_INFO,
                "entry %s: no history from the gateway (%s)", t->entry_id,
                res->status != 0 ? sg_strerror(res->status)
                : sg_rpc_reply_error(res->json) != NULL
                    ? sg_rpc_reply_error(res->json)
                    : "not a history");
        proceed(t);
        return;
    }
    if (cJSON_GetArraySize(res->json) > t->history_max)
        first = (size_t)(cJSON_GetArraySize(res->json) - t->history_max);
    sg_buf_init(&rec, NULL);
    cJSON_ArrayForEach(m, res->json) {
        if (first > 0) {
            first--;
            continue;
        }
        sg_buf_reset(&rec);
        if (sgi_history_record_from_rpc(&rec, m) == 0)
            (void)add_rec(t, (const char *)rec.data, rec.len);
    }
    sg_buf_destroy(&rec);
    /* Stored with the message and its reply. */
    t->recs_new = 1;
    proceed(t);
}

static void fetch_history(task *t)
{
    sgi_worker *w = t->w;
    sg_rpc_request rq;
    /* {"limit": n} with n a positive fixint. */
    uint8_t args[8] = {0x81, 0xa5, 'l', 'i', 'm', 'i', 't', 0};
    int limit = t->history_max < RPC_HISTORY_LIMIT ? t->history_max
                                                  : RPC_HISTORY_LIMIT;
    sg_error err;

    args[7] = (uint8_t)limit;
    sg_rpc_request_init(&rq);
    rq.platform = t->platform;
    rq.method = "fetch_channel_history";
    rq.channel_id = t->channel;
    rq.args.mp = args;
    rq.args.len = sizeof args;
    rq.trace_id = t->trace[0] != '\0' ? t->trace : NULL;
    w->history_fetches++;
    if (sg_rpc_call(w->rpc, &rq, on_rpc_history, t, &err) != 0) {
        w->history_fetch_none++;
        proceed(t);
        return;
    }
    t->busy++;
}

static void on_history_read(sg_conn *c, int status, const sg_reply *r,
                            void *ud)
{
    task *t = ud;
    const char *small_recs[32], **recs = small_recs;
    size_t small_lens[32], *lens = small_lens, i, k = 0, n;

    (void)c;
    t->busy--;
    if (task_dead(t)) {
        task_abort(t, "lock lost or stopping");
        return;
    }
    if (status != 0 || sg_reply_kind(r) != SG_REPLY_ARRAY) {
        sg_logf(t->w->logp, SG_LOG_WARN,
                "entry %s: history %s not read: %s", t->entry_id, t->key,
                status == SG_EREDIS ? sg_reply_str(r, NULL)
                                    : sg_strerror(status));
        proceed(t);
        return;
    }
    n = sg_reply_len(r);
    if (n == 0) {
        /* Once per channel and process: a channel the gateway had
           nothing for is not asked again at every message. */
        if (asked_add(t->w, t->key))
            fetch_history(t);
        else
            proceed(t);
        return;
    }
    /* The records are used where they are, in the reply. */
    if (n > 32) {
        recs = malloc(n * sizeof *recs);
        lens = malloc(n * sizeof *lens);
        if (recs == NULL || lens == NULL) {
            free(recs);
            free(lens);
            task_abort(t, "out of memory");
            return;
        }
    }
    for (i = 0; i < n; i++) {
        size_t len;
        const char *s = sg_reply_str(sg_reply_at(r, i), &len);

        if (s != NULL && len <= SGI_HISTORY_RECORD_MAX) {
            recs[k] = s;
            lens[k++] = len;
        }
    }
    proceed_with(t, recs, lens, k);
    if (recs != small_recs) {
        free(recs);
        free(lens);
    }
}

/* ---- channels already asked -------------------------------------------- */

static uint64_t key_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;   /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h != 0 ? h : 1;
}

/* Linear probing in a table of 2 * ASKED_MAX slots. */
static size_t asked_slot(const sgi_worker *w, uint64_t h)
{
    size_t mask = 2 * ASKED_MAX - 1, i = (size_t)h & mask;

    while (w->asked[i] != 0 && w->asked[i] != h)
        i = (i + 1) & mask;
    return i;
}

/* Removes h, re-placing the entries of its cluster. */
static void asked_remove(sgi_worker *w, uint64_t h)
{
    size_t mask = 2 * ASKED_MAX - 1, i = asked_slot(w, h), j;

    if (w->asked[i] == 0)
        return;
    w->asked[i] = 0;
    for (j = (i + 1) & mask; w->asked[j] != 0; j = (j + 1) & mask) {
        uint64_t x = w->asked[j];

        w->asked[j] = 0;
        w->asked[asked_slot(w, x)] = x;
    }
}

/*
 * Nonzero when the history list `key` was not asked for yet by this
 * process, and remembers it (the oldest of ASKED_MAX forgotten first).
 * Without memory for the table: always nonzero, as before there was one.
 */
static int asked_add(sgi_worker *w, const char *key)
{
    uint64_t h = key_hash(key);
    size_t i;

    if (w->asked == NULL) {
        w->asked = calloc(2 * ASKED_MAX, sizeof *w->asked);
        w->asked_order = calloc(ASKED_MAX, sizeof *w->asked_order);
        if (w->asked == NULL || w->asked_order == NULL) {
            free(w->asked);
            free(w->asked_order);
            w->asked = w->asked_order = NULL;
            return 1;
        }
    }
    i = asked_slot(w, h);
    if (w->asked[i] == h)
        return 0;
    if (w->nasked == ASKED_MAX) {
        asked_remove(w, w->asked_order[w->asked_next]);
        w->nasked--;
        i = asked_slot(w, h);
    }
    w->asked[i] = h;
    w->asked_order[w->asked_next] = h;
    w->asked_next = (w->asked_next + 1) % ASKED_MAX;
    w->nasked++;
    return 1;
}

/*
 * A fresh trace id (SG-TRACE-001: 32 lowercase hex digits) into out.
 * The random bytes come from the system 512 at a time: one getrandom()
 * per 32 ids instead of one per id (a system call per message when the
 * entries carry no trace id). 0, or -1 when there is no randomness.
 */
static int trace_fresh(sgi_worker *w, char out[33])
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *r;
    size_t i;

    if (w->rand_left < 16) {
        if (sg_random_bytes(w->rand, sizeof w->rand) != 0)
            return -1;
        w->rand_left = sizeof w->rand;
    }
    r = w->rand + sizeof w->rand - w->rand_left;
    for (i = 0; i < 16; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[32] = '\0';
    /* Each byte serves once. */
    memset(w->rand + sizeof w->rand - w->rand_left, 0, 16);
    w->rand_left -= 16;
    return 0;
}

/* ---- the handler ------------------------------------------------------- */

static void on_message(void *ud, sg_job *job, const sg_envelope *env)
{
    sgi_worker *w = ud;
    const sg_inbound *in = &env->u.in;
    struct timespec now;
    char start[24];
    const char *argv[4], *parts[5];
    size_t klen;
    task *t;
    sg_str trace;

    t = calloc(1, sizeof *t);
    if (t == NULL) {
        sg_job_finish(job, SG_JOB_FAILED("out of memory"));
        return;
    }
    t->w = w;
    t->job = job;
    t->history_max = w->cfg.history_max;
    sg_buf_init(&t->text, NULL);
    sg_buf_init(&t->user_rec, NULL);
    t->next = w->tasks;
    if (w->tasks != NULL)
        w->tasks->prev = t;
    w->tasks = t;
    parts[0] = sg_job_id(job);
    (void)join(t->entry_id, sizeof t->entry_id, parts, 1);

    /* Rebuilt field by field, as the Python worker does (SG-INENV-003). */
    clock_gettime(CLOCK_REALTIME, &now);
    sgi_message_from_inbound(in, now, &t->msg);

    /* The entry's trace id goes into everything published for it
       (SG-TRACE-002); the envelope's when the entry has none. */
    trace = env->entry_trace_id.len > 0 ? env->entry_trace_id : in->trace_id;
    t->platform = dup_str(t->msg.platform);
    t->channel = dup_str(t->msg.channel_id);
    if (trace.len > 0) {
        t->trace = dup_str(trace);
    } else {
        /* None came: one fresh id for everything published for this
           entry (SG-TRACE-001). */
        t->trace = malloc(33);
        if (t->trace != NULL && trace_fresh(w, t->trace) != 0)
            t->trace[0] = '\0';
    }
    klen = strlen(w->history_prefix) + t->msg.platform.len +
           t->msg.channel_id.len + 3;
    t->key = malloc(klen);
    if (t->platform == NULL || t->channel == NULL || t->trace == NULL ||
        t->key == NULL || sgi_message_prompt_text(&t->msg, &t->text) != 0) {
        task_abort(t, "out of memory");
        return;
    }
    parts[0] = w->history_prefix;
    parts[1] = ":";
    parts[2] = t->platform;
    parts[3] = ":";
    parts[4] = t->channel;
    (void)join(t->key, klen, parts, 5);

    if (!t->msg.is_addressed) {
        /* Passive (SG-IN-007): recorded, never answered. */
        if (record_message(t, on_passive_saved) != 0)
            task_abort(t, "history not written: connection down");
        return;
    }
    start[0] = '-';
    fmt_ll(start + 1, t->history_max);
    argv[0] = "LRANGE";
    argv[1] = t->key;
    argv[2] = start;
    argv[3] = "-1";
    if (sg_conn_command(w->conn, on_history_read, t, 4, argv, NULL) != 0) {
        proceed(t);
        return;
    }
    t->busy++;
}

/* ---- configuration reload ----------------------------------------------- */

static void reload(sgi_worker *w, const char *why)
{
    sgi_config next;
    char err[512];

    if (sgi_config_init(&next) != 0 ||
        sgi_config_load(&next, w->opts.lookup, w->opts.lookup_ud, err,
                        sizeof err) != 0) {
        sgi_config_destroy(&next);
        w->config_errors++;
        sg_logf(w->logp, SG_LOG_ERROR,
                "config not reloaded (%s): %s; keeping the old one", why,
                err);
        return;
    }
    sgi_config_destroy(&w->cfg);
    w->cfg = next;
    w->config_reloads++;
    sg_logf(w->logp, SG_LOG_INFO, "config reloaded (%s): model %s at %s",
            why, w->cfg.model, w->cfg.base_url);
}

static void on_config_event(sg_config_events *ce, sg_config_event_kind kind,
                            const cJSON *event, void *ud)
{
    (void)ce;
    (void)event;
    reload(ud, kind == SG_CONFIG_UPDATED ? "sys:config:updated"
                                         : "resubscribed");
}

/* Frees the config listener, keeping its command count. */
static void events_free(sgi_worker *w)
{
    if (w->events != NULL)
        w->events_sent += sg_config_events_commands_sent(w->events);
    sg_config_events_free(w->events);
    w->events = NULL;
}

/* ---- lease -------------------------------------------------------------- */

static void on_lease(sg_lease *l, int held, void *ud)
{
    sgi_worker *w = ud;

    w->lease_held = held;
    sg_logf(w->logp, SG_LOG_INFO, "status lease %s %s", sg_lease_key(l),
            held ? "taken" : "lost");
}

/* ---- metrics ------------------------------------------------------------ */

static int health(void *ud)
{
    sgi_worker *w = ud;

    return w->conn_up && w->ready && !w->stopping;
}

static void metric(struct evbuffer *o, const char *name, const char *type,
                   const char *help, uint64_t v)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name,
                        help, name, type, name, (unsigned long long)v);
}

static void metrics(struct evbuffer *o, void *ud)
{
    sgi_worker *w = ud;
    sgi_worker_stats st;
    size_t i;

    sgi_worker_get_stats(w, &st);
    metric(o, "sg_inference_handled_total", "counter",
           "Inbound entries handled and acknowledged.", st.handled);
    metric(o, "sg_inference_failed_total", "counter",
           "Handlings that failed (retried or dead-lettered).", st.failed);
    metric(o, "sg_inference_dead_lettered_total", "counter",
           "Entries this worker dead-lettered.", st.dead_lettered);
    metric(o, "sg_inference_claimed_total", "counter",
           "Entries taken over by autoclaim.", st.claimed);
    metric(o, "sg_inference_in_flight", "gauge",
           "Entries read and not yet finished.", st.in_flight);
    metric(o, "sg_inference_handed_over_total", "counter",
           "Entries read here and handed to their channel's consumer.",
           st.handed_over);
    metric(o, "sg_inference_handed_in_total", "counter",
           "Entries taken from this consumer's hand list.", st.handed_in);
    metric(o, "sg_inference_lock_busy_total", "counter",
           "Begins that found the channel busy.", st.lock_busy);
    metric(o, "sg_inference_woken_total", "counter",
           "Wake-ups that retried a waiting channel at once.", st.woken);
    metric(o, "sg_inference_replies_total", "counter",
           "Replies published.", st.replies);
    metric(o, "sg_inference_passive_total", "counter",
           "Passive messages recorded without an answer.", st.passive);
    metric(o, "sg_inference_history_fetches_total", "counter",
           "fetch_channel_history calls to the gateway.", st.history_fetches);
    metric(o, "sg_inference_llm_requests_total", "counter",
           "HTTP attempts to the LLM, retries included.", st.llm_requests);
    metric(o, "sg_inference_llm_connections_total", "counter",
           "Connections opened to the LLM (the rest were reused).",
           st.llm_connections);
    sgi_hist_write(o, "sg_inference_llm_request_duration_seconds",
                   "Duration of each HTTP attempt to the LLM.",
                   &w->llm_latency);
    evbuffer_add_printf(o, "# HELP sg_inference_llm_errors_total LLM "
                        "attempts that failed, by HTTP status (0: no "
                        "answer).\n# TYPE sg_inference_llm_errors_total "
                        "counter\n");
    for (i = 0; i < w->nllm_errors; i++)
        evbuffer_add_printf(o, "sg_inference_llm_errors_total{status=\"%ld\"}"
                            " %llu\n", w->llm_errors[i].status,
                            (unsigned long long)w->llm_errors[i].count);
    metric(o, "sg_inference_config_reloads_total", "counter",
           "Configuration reloads that succeeded.", st.config_reloads);
    metric(o, "sg_inference_config_reload_errors_total", "counter",
           "Configuration reloads refused.", st.config_errors);
    metric(o, "sg_inference_status_lease_held", "gauge",
           "1 while this worker holds the status lease.",
           (uint64_t)st.lease_held);
    metric(o, "sg_inference_fenced_total", "counter",
           "Replies not published because another consumer had taken the "
           "entry over.", st.fenced);
    metric(o, "sg_redis_commands_sent_total", "counter",
           "Redis commands this process sent, over all its connections.",
           st.redis_commands);
    metric(o, "sg_inference_redis_up", "gauge",
           "1 while the command connection to Redis is up.",
           (uint64_t)w->conn_up);
}

void sgi_worker_get_stats(const sgi_worker *w, sgi_worker_stats *out)
{
    sg_consumer_stats cs;

    memset(out, 0, sizeof *out);
    if (w->in != NULL) {
        sg_consumer_get_stats(sg_inbound_consumer_engine(w->in), &cs);
        out->handled = cs.handled;
        out->failed = cs.failed;
        out->dead_lettered = cs.dead_lettered;
        out->claimed = cs.claimed;
        out->in_flight = cs.in_flight;
        out->handed_over = cs.handed_over;
        out->handed_in = cs.handed_in;
        out->lock_busy = cs.lock_busy;
        out->woken = cs.woken;
    }
    out->llm_requests = w->llm_requests;
    out->llm_connections = w->llm_connections;
    for (size_t i = 0; i < w->nllm_errors; i++)
        out->llm_errors += w->llm_errors[i].count;
    out->replies = w->replies;
    out->passive = w->passive;
    out->history_fetches = w->history_fetches;
    out->fenced = w->fenced;
    out->config_reloads = w->config_reloads;
    out->config_errors = w->config_errors;
    out->lease_held = w->lease_held;
    out->redis_commands = w->redis_sent + w->events_sent +
                          (w->events != NULL
                               ? sg_config_events_commands_sent(w->events)
                               : 0);
}

const char *sgi_worker_model(const sgi_worker *w)
{
    return w->cfg.model;
}

int sgi_worker_ready(const sgi_worker *w)
{
    return w->ready;
}

int sgi_worker_metrics_port(const sgi_worker *w)
{
    return w->metrics_port;
}

/* ---- construction ------------------------------------------------------ */

/* LOG_LEVEL, case-insensitive. 0, or -1 for another word. */
static int log_level(const char *v, sg_log_level *out)
{
    static const struct {
        const char *name;
        sg_log_level level;
    } names[] = {{"debug", SG_LOG_DEBUG}, {"info", SG_LOG_INFO},
                 {"warn", SG_LOG_WARN}, {"warning", SG_LOG_WARN},
                 {"error", SG_LOG_ERROR}};
    size_t i, k;

    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (k = 0; v[k] != '\0' && names[i].name[k] != '\0'; k++)
            if ((v[k] | 0x20) != names[i].name[k])
                break;
        if (v[k] == '\0' && names[i].name[k] == '\0') {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

static const char *look(const sgi_worker *w, const char *name)
{
    return w->opts.lookup(name, w->opts.lookup_ud);
}

/* A positive int variable, or the default. */
static int int_var(sgi_worker *w, const char *name, int def, int *out,
                   char *err, size_t errcap)
{
    const char *v = look(w, name);
    long long x = 0;
    const char *p;

    *out = def;
    if (v == NULL || v[0] == '\0')
        return 0;
    for (p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || x > 1000000000LL)
            return fail(err, errcap, "%s: \"%.40s\" is not a positive "
                        "decimal integer of at most 1000000000", name, v);
        x = x * 10 + (*p - '0');
    }
    if (x < 1 || x > 1000000000LL)
        return fail(err, errcap, "%s: \"%.40s\" is not a positive decimal "
                    "integer of at most 1000000000", name, v);
    *out = (int)x;
    return 0;
}

static int copy_var(sgi_worker *w, const char *name, const char *def,
                    char *out, size_t cap, char *err, size_t errcap)
{
    const char *v = look(w, name);

    if (v == NULL || v[0] == '\0')
        v = def;
    if (strlen(v) >= cap)
        return fail(err, errcap, "%s: over the limit of %zu bytes", name,
                    cap - 1);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

int sgi_worker_new(const sgi_worker_opts *opts, sgi_worker **out, char *err,
                   size_t errcap)
{
    sgi_worker *w;
    sg_error e;
    char url[512], host[64];
    const char *colon;
    size_t n;

    *out = NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        fail(err, errcap, "out of memory");
        return 1;
    }
    sg_buf_init(&w->body, NULL);
    w->opts = *opts;
    w->base = opts->base;
    snprintf(w->prog, sizeof w->prog, "%s",
             opts->prog != NULL ? opts->prog : "sg-inference");
    if (opts->log != NULL) {
        w->log = *opts->log;
    } else {
        const char *lv = opts->lookup("LOG_LEVEL", opts->lookup_ud);

        sg_log_init(&w->log);
        if (lv != NULL && lv[0] != '\0' &&
            log_level(lv, &w->log.level) != 0) {
            fail(err, errcap, "LOG_LEVEL: \"%.40s\" is not one of debug, "
                 "info, warn, error", lv);
            free(w);
            return 2;
        }
    }
    w->logp = &w->log;
    if (sgi_config_init(&w->cfg) != 0) {
        free(w);
        fail(err, errcap, "out of memory");
        return 1;
    }
    sg_script_init(&history_script, "sgi_history", history_lua);

    if (sg_topology_from_lookup(&w->topo, opts->lookup, opts->lookup_ud,
                                &e) != 0 ||
        sg_knobs_from_lookup(&w->knobs, opts->lookup, opts->lookup_ud,
                             &e) != 0) {
        fail(err, errcap, "%s", e.msg);
        goto config_error;
    }
    if (sgi_config_load(&w->cfg, opts->lookup, opts->lookup_ud, err,
                        errcap) != 0)
        goto config_error;
    if (copy_var(w, "REDIS_URL", "redis://127.0.0.1:6379/0", url,
                 sizeof url, err, errcap) != 0)
        goto config_error;
    /* libsg takes no database number: /0 is the only one it can serve. */
    n = strlen(url);
    if (n >= 2 && strcmp(url + n - 2, "/0") == 0)
        url[n - 2] = '\0';
    if (sg_conn_parse_url(url, w->redis_host, sizeof w->redis_host,
                          &w->redis_port) != 0) {
        fail(err, errcap, "REDIS_URL: \"%.200s\" is not "
             "redis://host[:port][/0] (no user, password or other "
             "database)", url);
        goto config_error;
    }
    if (copy_var(w, "SG_METRICS_LISTEN", "127.0.0.1:0", w->metrics_listen,
                 sizeof w->metrics_listen, err, errcap) != 0)
        goto config_error;
    if (int_var(w, "SG_STATUS_INTERVAL_MS", 60000, &w->status_interval_ms,
                err, errcap) != 0)
        goto config_error;
    {
        const char *v = look(w, "SG_INSTANCE_ID");

        if (v != NULL && v[0] != '\0') {
            if (strlen(v) >= sizeof w->instance) {
                fail(err, errcap, "SG_INSTANCE_ID: over the limit of %zu "
                     "bytes", sizeof w->instance - 1);
                goto config_error;
            }
            memcpy(w->instance, v, strlen(v) + 1);
        } else {
            if (gethostname(host, sizeof host) != 0)
                memcpy(host, "localhost", 10);
            host[sizeof host - 1] = '\0';
            snprintf(w->instance, sizeof w->instance, "%s-%s-%ld", w->prog,
                     host, (long)getpid());
        }
    }
    /* The namespace: the inbound stream's first part ("sg" of
       "sg:stream:inbound"), so that a deployment with its own names keeps
       its history and message keys apart too. */
    colon = strchr(w->topo.inbound_stream, ':');
    n = colon != NULL ? (size_t)(colon - w->topo.inbound_stream)
                      : strlen(w->topo.inbound_stream);
    memcpy(w->ns, w->topo.inbound_stream, n);
    w->ns[n] = '\0';
    {
        char def[SG_NAME_MAX + 16];

        snprintf(def, sizeof def, "%s:history", w->ns);
        if (copy_var(w, "SG_HISTORY_PREFIX", def, w->history_prefix,
                     sizeof w->history_prefix, err, errcap) != 0)
            goto config_error;
    }
    *out = w;
    return 0;

config_error:
    sgi_config_destroy(&w->cfg);
    free(w);
    return 2;
}

/* ---- start -------------------------------------------------------------- */

static void on_conn_state(sg_conn *c, int up, void *ud)
{
    sgi_worker *w = ud;

    (void)c;
    w->conn_up = up;
}

static void start_reading(sgi_worker *w);

static void provision(sgi_worker *w);

static void on_provision_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    provision(arg);
}

static void on_provisioned(int status, void *ud)
{
    sgi_worker *w = ud;
    struct timeval tv = {1, 0};

    if (w->stopping)
        return;
    if (status != 0) {
        sg_logf(w->logp, SG_LOG_WARN, "worker group not created yet (%s); "
                "retrying", sg_strerror(status));
        evtimer_add(w->provision_retry, &tv);
        return;
    }
    start_reading(w);
}

static void provision(sgi_worker *w)
{
    struct timeval tv = {1, 0};

    if (w->stopping)
        return;
    if (sg_bus_provision(w->bus, SG_ROLE_WORKER, NULL, 0, on_provisioned,
                         w) != 0)
        evtimer_add(w->provision_retry, &tv);
}

static void start_reading(sgi_worker *w)
{
    sg_inbound_consumer_opts io;
    sg_config_events_opts co;
    sg_lease_opts lo;
    int ttl;

    sg_inbound_consumer_opts_init(&io);
    io.conn = w->conn;
    io.topo = &w->topo;
    io.knobs = w->knobs;
    io.consumer = w->instance;
    io.handle = on_message;
    io.ud = w;
    io.log = w->logp;
    if (sg_inbound_consumer_new(&io, &w->in) != 0 ||
        sg_consumer_start(sg_inbound_consumer_engine(w->in)) != 0) {
        sg_logf(w->logp, SG_LOG_ERROR, "the inbound consumer did not start");
        sg_inbound_consumer_free(w->in);
        w->in = NULL;
        event_base_loopbreak(w->base);
        return;
    }

    ttl = sg_lease_status_ttl_ms(w->status_interval_ms);
    sg_lease_opts_init(&lo);
    lo.key = w->topo.status_lease_key;
    lo.holder = w->instance;
    lo.ttl_ms = ttl;
    lo.renew_ms = ttl / 3;
    lo.on_change = on_lease;
    lo.ud = w;
    lo.log = w->logp;
    if (sg_lease_new(w->conn, &lo, &w->lease) == 0)
        sg_lease_start(w->lease);

    sg_config_events_opts_init(&co);
    co.host = w->redis_host;
    co.port = w->redis_port;
    co.channel = w->topo.config_channel;
    co.fn = on_config_event;
    co.ud = w;
    co.log = w->logp;
    if (sg_config_events_new(w->base, &co, &w->events) != 0)
        sg_logf(w->logp, SG_LOG_ERROR, "config events not subscribed");

    w->ready = 1;
    sg_logf(w->logp, SG_LOG_INFO, "consumer %s reading %s as %s",
            w->instance, w->topo.inbound_stream, w->topo.worker_group);
    if (w->opts.banner != NULL) {
        fprintf(w->opts.banner, "%s: ready\n", w->prog);
        fflush(w->opts.banner);
    }
}

int sgi_worker_start(sgi_worker *w, char *err, size_t errcap)
{
    sg_conn_opts co;
    sg_bus_opts bo;
    sg_rpc_opts ro;
    sgi_llm_opts lo;

    if (w->started) {
        (void)fail(err, errcap, "already started");
        return 1;
    }
    w->started = 1;
    sg_topology_log(&w->topo, w->logp);
    sg_logf(w->logp, SG_LOG_INFO, "instance %s, history %s:*, LLM %s "
            "model %s", w->instance, w->history_prefix, w->cfg.base_url,
            w->cfg.model);

    sg_conn_opts_init(&co);
    co.host = w->redis_host;
    co.port = w->redis_port;
    co.name = "commands";
    co.log = w->logp;
    co.on_state = on_conn_state;
    co.ud = w;
    co.sent_total = &w->redis_sent;
    if (sg_conn_new(w->base, &co, &w->conn) != 0) {
        (void)fail(err, errcap, "cannot create the Redis connection");
        return 1;
    }
    sg_bus_opts_init(&bo);
    bo.conn = w->conn;
    bo.topo = &w->topo;
    bo.stream_maxlen = w->knobs.stream_maxlen;
    bo.log = w->logp;
    sg_rpc_opts_init(&ro);
    ro.outbound_prefix = w->topo.outbound_stream_prefix;
    ro.reply_prefix = w->topo.rpc_reply_prefix;
    ro.timeout_ms = w->knobs.rpc_timeout_ms;
    ro.stream_maxlen = w->knobs.stream_maxlen;
    ro.log = w->logp;
    memset(&lo, 0, sizeof lo);
    lo.on_attempt = on_llm_attempt;
    lo.ud = w;
    lo.log = w->logp;
    if (sg_bus_new(&bo, &w->bus) != 0 ||
        sg_rpc_new(w->conn, &ro, &w->rpc) != 0 ||
        sgi_llm_new(w->base, &lo, &w->llm) != 0) {
        (void)fail(err, errcap, "out of memory");
        return 1;
    }
    w->provision_retry = evtimer_new(w->base, on_provision_retry, w);
    if (w->provision_retry == NULL) {
        (void)fail(err, errcap, "out of memory");
        return 1;
    }

    if (strcmp(w->metrics_listen, "off") != 0) {
        if (sgi_http_new(w->base, w->metrics_listen, health, metrics, w,
                         &w->http, &w->metrics_port, err, errcap) != 0)
            return 1;
        if (w->opts.banner != NULL) {
            char host[256];
            const char *colon = strrchr(w->metrics_listen, ':');
            size_t n = (size_t)(colon - w->metrics_listen);

            memcpy(host, w->metrics_listen, n < sizeof host ? n : 0);
            host[n < sizeof host ? n : 0] = '\0';
            if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
                memcpy(host, "127.0.0.1", 10);
            fprintf(w->opts.banner, "%s: metrics at http://%s:%d/metrics\n",
                    w->prog, host, w->metrics_port);
            fflush(w->opts.banner);
        }
    }
    /* SG-OPS-001..003: an old server or an evicting policy is logged. */
    (void)sg_bus_check_server(w->bus, NULL, NULL);
    provision(w);
    return 0;
}

/* ---- stop -------------------------------------------------------------- */

static void stop_done(sgi_worker *w)
{
    sgi_worker_done_fn *done = w->done;

    w->done = NULL;
    if (done != NULL)
        done(w, w->done_ud);
}

static void on_lease_released(sg_lease *l, int status, void *ud)
{
    (void)l;
    (void)status;
    stop_done(ud);
}

/* Aborts every task that is left: the drain time is up. */
static void abort_tasks(sgi_worker *w)
{
    task *t, *next;

    for (t = w->tasks; t != NULL; t = next) {
        next = t->next;
        if (t->call != NULL) {
            sgi_llm_cancel(t->call);
            t->call = NULL;
        }
        typing_cancel(t);
        task_finish(t, SG_JOB_FAILED("stopped before the handling ended"));
        task_maybe_free(t);
    }
}

static void on_consumer_stopped(sg_consumer *c, void *ud)
{
    sgi_worker *w = ud;

    (void)c;
    w->closing = 1;
    abort_tasks(w);
    sg_logf(w->logp, SG_LOG_INFO, "inbound consumer stopped");
    if (w->lease != NULL &&
        sg_lease_release(w->lease, on_lease_released, w) == 0)
        return;
    stop_done(w);
}

void sgi_worker_stop(sgi_worker *w, sgi_worker_done_fn *done, void *ud)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    w->done = done;
    w->done_ud = ud;
    sg_logf(w->logp, SG_LOG_INFO, "stopping: no new reads, draining up to "
            "%d ms", w->knobs.drain_ms);
    if (w->provision_retry != NULL)
        evtimer_del(w->provision_retry);
    events_free(w);
    if (w->in != NULL &&
        sg_consumer_stop(sg_inbound_consumer_engine(w->in),
                         on_consumer_stopped, w) == 0)
        return;
    on_consumer_stopped(NULL, w);
}

void sgi_worker_free(sgi_worker *w)
{
    if (w == NULL)
        return;
    w->closing = 1;
    w->stopping = 1;
    events_free(w);
    sgi_http_free(w->http);
    abort_tasks(w);
    sgi_llm_free(w->llm);
    sg_inbound_consumer_free(w->in);
    sg_lease_free(w->lease);
    sg_rpc_free(w->rpc);
    sg_bus_free(w->bus);
    sg_conn_free(w->conn);
    /* Every callback has run (with SG_ECLOSED); nothing refers to a task. */
    while (w->tasks != NULL) {
        w->tasks->busy = 0;
        w->tasks->call = NULL;
        task_finish(w->tasks, SG_JOB_FAILED("freed"));
        task_free(w->tasks);
    }
    if (w->provision_retry != NULL)
        event_free(w->provision_retry);
    sgi_config_destroy(&w->cfg);
    sg_buf_destroy(&w->body);
    free(w->asked);
    free(w->asked_order);
    free(w);
}
