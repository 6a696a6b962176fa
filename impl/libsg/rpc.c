/*
 * The caller's side of SPEC section 10 (sg/rpc.h).
 *
 * A call goes through two commands: XADD of the request on the shared
 * command connection, then, once Redis has taken it, BLPOP on a waiting
 * connection of the pool. The BLPOP is sent after the XADD's reply rather
 * than beside it, so that a request Redis refused never holds a waiting
 * connection; the gateway cannot answer before it has read the request,
 * so nothing is lost by waiting one round trip.
 *
 * Lifetime of a call record. The record is referenced by the client's
 * list until its callback has run, and by each command still outstanding
 * on a connection (refs), since a connection calls back exactly once per
 * command, even when it is freed. The record is freed when its callback
 * has run and no command refers to it. A record whose client was freed is
 * detached (rpc == NULL) and only waits for its commands to come back.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/rpc.h"

#include "clock.h"
#include "error_internal.h"
#include "json_text.h"
#include "uuid.h"
#include "xadd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#define DEFAULT_OUTBOUND_PREFIX "sg:stream:outbound"
#define DEFAULT_REPLY_PREFIX "sg:rpc:reply"
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_GRACE_MS 250
#define DEFAULT_MAX_IDLE 4
#define DEFAULT_MAX_REPLY_BYTES 4194304u
#define DEFAULT_MAX_REPLY_DEPTH 32
#define METHOD_LOG_MAX 64

typedef struct waiter waiter;
typedef struct call call;

/* A waiting connection: idle in the pool, or lent to one call. */
struct waiter {
    waiter *next;               /* in the idle list */
    sg_conn *conn;
};

struct call {
    call *prev;
    call *next;
    sg_rpc *rpc;                /* NULL once detached */
    const sg_mem *mem;
    int refs;                   /* commands outstanding */
    int done;                   /* the callback has run */
    sg_rpc_fn *fn;
    void *ud;
    waiter *w;                  /* lent while its BLPOP is outstanding */
    struct event *timer;
    uint64_t deadline_ms;       /* monotonic */
    int timeout_ms;
    char method[METHOD_LOG_MAX];
    char key[];                 /* the reply list */
};

struct sg_rpc {
    sg_conn *conn;
    const sg_mem *mem;
    const sg_log *log;
    char *outbound_prefix;
    char *reply_prefix;
    int timeout_ms;
    int grace_ms;
    long long maxlen;
    int max_idle;
    size_t max_reply_bytes;
    int max_reply_depth;
    int closing;

    call *head;
    size_t npending;
    waiter *idle;
    size_t nidle;
    size_t nwaiters;
};

static char *dup_str(const sg_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mem->malloc(n, mem->ud);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* ---- the pool of waiting connections ----------------------------------- */

static waiter *waiter_take(sg_rpc *rpc)
{
    waiter *w = rpc->idle;
    int rc;

    if (w != NULL) {
        rpc->idle = w->next;
        rpc->nidle--;
        w->next = NULL;
        return w;
    }
    w = rpc->mem->malloc(sizeof *w, rpc->mem->ud);
    if (w == NULL)
        return NULL;
    w->next = NULL;
    rc = sg_conn_new_like(rpc->conn, "rpc-wait", NULL, NULL, &w->conn);
    if (rc != 0) {
        rpc->mem->free(w, rpc->mem->ud);
        return NULL;
    }
    rpc->nwaiters++;
    return w;
}

/* Closes a waiting connection; a command on it gets SG_ECLOSED now. */
static void waiter_close(sg_rpc *rpc, waiter *w)
{
    sg_conn *conn = w->conn;

    rpc->nwaiters--;
    rpc->mem->free(w, rpc->mem->ud);
    sg_conn_free(conn);
}

/* Gives a waiting connection back, or closes it beyond max_idle. */
static void waiter_give(sg_rpc *rpc, waiter *w)
{
    if (rpc->closing || (int)rpc->nidle >= rpc->max_idle ||
        !sg_conn_is_up(w->conn)) {
        waiter_close(rpc, w);
        return;
    }
    w->next = rpc->idle;
    rpc->idle = w;
    rpc->nidle++;
}

/* ---- calls --------------------------------------------------------------- */

static void call_unref(call *c)
{
    c->refs--;
    if (c->done && c->refs == 0)
        c->mem->free(c, c->mem->ud);
}

/*
 * Ends a call: takes it off the client, stops its timer and runs its
 * callback. The record stays until its commands have come back.
 */
static void finish(call *c, int status, const cJSON *json, const char *text,
                   size_t len, const sg_error *err)
{
    sg_rpc *rpc = c->rpc;
    sg_rpc_result res;
    sg_error none;

    if (rpc != NULL) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            rpc->head = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        rpc->npending--;
    }
    c->prev = c->next = NULL;
    c->done = 1;
    if (c->timer != NULL) {
        event_free(c->timer);
        c->timer = NULL;
    }
    if (err == NULL) {
        sg_error_clear(&none);
        none.code = status;
        err = &none;
    }
    res.status = status;
    res.json = json;
    res.text = text;
    res.len = len;
    res.reply_key = c->key;
    res.err = err;
    c->fn(&res, c->ud);
}

/* Ends a call with an error: "what" or "what: detail". */
static void fail(call *c, int status, const char *what, const char *detail)
{
    sg_error err;

    if (detail != NULL)
        sg__error_set(&err, status, SG_REASON_NONE, NULL, "%s: %s", what,
                      detail);
    else
        sg__error_set(&err, status, SG_REASON_NONE, NULL, "%s", what);
    finish(c, status, NULL, NULL, 0, &err);
}

/*
 * BLPOP's reply: nil after its timeout, else [key, value]. The BLPOP's
 * reference to the call is released at the end.
 */
static void on_blpop(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    call *c = ud;
    sg_rpc *rpc = c->rpc;
    waiter *w = c->w;
    const sg_reply *value;
    const char *text;
    size_t len;
    cJSON *json = NULL;
    sg_error err;
    int rc;

    (void)conn;
    c->w = NULL;
    if (w != NULL) {
        /*
         * A connection that answered can wait again; one that dropped or
         * timed out is closed rather than repaired here. Closing it from
         * its own callback is allowed, and nothing else waits on it.
         */
        if (status == 0 || status == SG_EREDIS)
            waiter_give(rpc, w);
        else
            waiter_close(rpc, w);
    }
    if (c->done) {
        call_unref(c);
        return;
    }
    if (status != 0) {
        fail(c, status, status == SG_EREDIS ? "BLPOP refused" : "BLPOP",
             status == SG_EREDIS ? sg_reply_str(reply, NULL)
                                 : sg_strerror(status));
        call_unref(c);
        return;
    }
    if (sg_reply_kind(reply) == SG_REPLY_NIL) {
        sg_logf(rpc->log, SG_LOG_WARN, "rpc %s: no reply on %s within %d ms",
                c->method, c->key, c->timeout_ms);
        fail(c, SG_ETIMEOUT, "no reply within the timeout", NULL);
        call_unref(c);
        return;
    }
    value = sg_reply_at(reply, 1);
    text = sg_reply_str(value, &len);
    if (sg_reply_kind(reply) != SG_REPLY_ARRAY ||
        sg_reply_kind(value) != SG_REPLY_STRING || text == NULL) {
        fail(c, SG_EREDIS, "unexpected BLPOP reply", NULL);
        call_unref(c);
        return;
    }
    rc = sg__json_parse(text, len, rpc->max_reply_bytes,
                        rpc->max_reply_depth, "reply", &json, &err);
    if (rc != 0) {
        sg_logf(rpc->log, SG_LOG_WARN, "rpc %s: bad reply on %s: %s",
                c->method, c->key, err.msg);
        finish(c, rc, NULL, text, len, &err);
    } else {
        finish(c, 0, json, text, len, NULL);
        cJSON_Delete(json);
    }
    call_unref(c);
}

/*
 * The deadline passed and Redis did not end the wait: give up on it. A
 * timer exists only while the call is on its client, so rpc is set.
 */
static void on_backstop(evutil_socket_t fd, short what, void *arg)
{
    call *c = arg;
    sg_rpc *rpc = c->rpc;
    waiter *w = c->w;

    (void)fd;
    (void)what;
    c->w = NULL;
    sg_logf(rpc->log, SG_LOG_WARN,
            "rpc %s: no answer from Redis on %s within %d ms", c->method,
            c->key, c->timeout_ms);
    c->refs++;                  /* keeps c until the end of this function */
    fail(c, SG_ETIMEOUT, "no reply within the timeout", NULL);
    /* The BLPOP's callback runs from here with SG_ECLOSED, and unrefs. */
    if (w != NULL)
        waiter_close(rpc, w);
    call_unref(c);
}

static void on_xadd(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    call *c = ud;
    sg_rpc *rpc = c->rpc;
    const char *argv[3];
    char secs[32];
    uint64_t now;
    waiter *w;
    int rc, n, tries;

    (void)conn;
    if (c->done) {
        call_unref(c);
        return;
    }
    if (status != 0) {
        fail(c, status, status == SG_EREDIS ? "XADD refused" : "XADD",
             status == SG_EREDIS ? sg_reply_str(reply, NULL)
                                 : sg_strerror(status));
        call_unref(c);
        return;
    }
    now = sg__mono_ms();
    if (now >= c->deadline_ms) {
        fail(c, SG_ETIMEOUT, "no reply within the timeout", NULL);
        call_unref(c);
        return;
    }
    /* BLPOP takes seconds, with a fraction since Redis 6. */
    n = snprintf(secs, sizeof secs, "%.3f",
                 (double)(c->deadline_ms - now) / 1000.0);
    if (n < 0 || (size_t)n >= sizeof secs) {
        fail(c, SG_EINVAL, "bad timeout", NULL);
        call_unref(c);
        return;
    }
    argv[0] = "BLPOP";
    argv[1] = c->key;
    argv[2] = secs;
    /*
     * An idle connection may be down, waiting to reconnect after Redis
     * went away; then a fresh one is tried, which accepts commands while
     * it connects.
     */
    for (tries = 0;; tries++) {
        w = waiter_take(rpc);
        if (w == NULL) {
            fail(c, SG_ENOMEM, "no waiting connection", NULL);
            call_unref(c);
            return;
        }
        c->w = w;
        rc = sg_conn_command_timeout(w->conn,
                                     (int)(c->deadline_ms - now) +
                                         2 * rpc->grace_ms + 1000,
                                     on_blpop, c, 3, argv, NULL);
        if (rc == 0)
            break;
        c->w = NULL;
        waiter_close(rpc, w);
        /* After max_idle + 1 tries, a fresh connection has failed too. */
        if (rc != SG_ECLOSED || tries >= rpc->max_idle) {
            fail(c, rc, "BLPOP", sg_strerror(rc));
            call_unref(c);
            return;
        }
    }
    /* The XADD's reference passes to the BLPOP. */
}

/* ---- public -------------------------------------------------------------- */

void sg_rpc_opts_init(sg_rpc_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

void sg_rpc_request_init(sg_rpc_request *rq)
{
    memset(rq, 0, sizeof *rq);
}

int sg_rpc_new(sg_conn *conn, const sg_rpc_opts *opts, sg_rpc **out)
{
    const sg_mem *mem;
    sg_rpc *rpc;

    *out = NULL;
    if (conn == NULL || opts == NULL || opts->timeout_ms < 0 ||
        opts->grace_ms < 0 || opts->max_reply_depth < 0)
        return SG_EINVAL;
    mem = sg_conn_mem(conn);
    rpc = mem->malloc(sizeof *rpc, mem->ud);
    if (rpc == NULL)
        return SG_ENOMEM;
    memset(rpc, 0, sizeof *rpc);
    rpc->conn = conn;
    rpc->mem = mem;
    rpc->log = opts->log != NULL ? opts->log : sg_conn_log(conn);
    rpc->outbound_prefix = dup_str(mem, opts->outbound_prefix != NULL
                                            ? opts->outbound_prefix
                                            : DEFAULT_OUTBOUND_PREFIX);
    rpc->reply_prefix = dup_str(mem, opts->reply_prefix != NULL
                                         ? opts->reply_prefix
                                         : DEFAULT_REPLY_PREFIX);
    if (rpc->outbound_prefix == NULL || rpc->reply_prefix == NULL) {
        sg_rpc_free(rpc);
        return SG_ENOMEM;
    }
    rpc->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
                                           : DEFAULT_TIMEOUT_MS;
    rpc->grace_ms = opts->grace_ms > 0 ? opts->grace_ms : DEFAULT_GRACE_MS;
    rpc->maxlen = sg__stream_maxlen(opts->stream_maxlen);
    rpc->max_idle = opts->max_idle > 0 ? opts->max_idle
                    : opts->max_idle == 0 ? DEFAULT_MAX_IDLE : 0;
    rpc->max_reply_bytes = opts->max_reply_bytes > 0
                               ? opts->max_reply_bytes
                               : DEFAULT_MAX_REPLY_BYTES;
    rpc->max_reply_depth = opts->max_reply_depth > 0
                               ? opts->max_reply_depth
                               : DEFAULT_MAX_REPLY_DEPTH;
    *out = rpc;
    return 0;
}

void sg_rpc_free(sg_rpc *rpc)
{
    if (rpc == NULL)
        return;
    rpc->closing = 1;
    while (rpc->head != NULL) {
        call *c = rpc->head;
        waiter *w = c->w;

        c->w = NULL;
        c->refs++;
        fail(c, SG_ECLOSED, "the RPC client was freed", NULL);
        c->rpc = NULL;
        if (w != NULL)
            waiter_close(rpc, w);
        call_unref(c);
    }
    while (rpc->idle != NULL) {
        waiter *w = rpc->idle;

        rpc->idle = w->next;
        rpc->nidle--;
        waiter_close(rpc, w);
    }
    rpc->mem->free(rpc->outbound_prefix, rpc->mem->ud);
    rpc->mem->free(rpc->reply_prefix, rpc->mem->ud);
    rpc->mem->free(rpc, rpc->mem->ud);
}

int sg_rpc_call(sg_rpc *rpc, const sg_rpc_request *rq, sg_rpc_fn *fn,
                void *ud, sg_error *err)
{
    char uuid[SG__UUID_LEN + 1], trace[33];
    const char *trace_id;
    size_t keylen, streamlen;
    char *stream;
    sg_envelope env;
    struct timeval tv;
    call *c;
    int rc, n, timeout;

    if (err != NULL)
        sg_error_clear(err);
    if (rpc == NULL || rq == NULL || fn == NULL || rq->platform == NULL ||
        rq->platform[0] == '\0' || rq->method == NULL ||
        rq->timeout_ms < 0)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "an RPC needs a platform and a method");
    if (rpc->closing)
        return sg__error_set(err, SG_ECLOSED, SG_REASON_NONE, NULL,
                             "the RPC client is being freed");
    trace_id = rq->trace_id;
    if (trace_id == NULL || trace_id[0] == '\0') {
        rc = sg__trace_id_new(trace);
        if (rc != 0)
            return sg__error_set(err, rc, SG_REASON_NONE, NULL,
                                 "no random source for a trace id");
        trace_id = trace;
    } else {
        rc = sg__trace_id_check(trace_id, err);
        if (rc != 0)
            return rc;
    }
    rc = sg__uuid4(uuid);
    if (rc != 0)
        return sg__error_set(err, rc, SG_REASON_NONE, NULL,
                             "no random source for a reply key");
    timeout = rq->timeout_ms > 0 ? rq->timeout_ms : rpc->timeout_ms;

    keylen = strlen(rpc->reply_prefix) + 1 + SG__UUID_LEN;
    c = rpc->mem->malloc(sizeof *c + keylen + 1, rpc->mem->ud);
    streamlen = strlen(rpc->outbound_prefix) + 1 + strlen(rq->platform);
    stream = rpc->mem->malloc(streamlen + 1, rpc->mem->ud);
    if (c == NULL || stream == NULL) {
        rpc->mem->free(c, rpc->mem->ud);
        rpc->mem->free(stream, rpc->mem->ud);
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    }
    memset(c, 0, sizeof *c);
    c->rpc = rpc;
    c->mem = rpc->mem;
    c->fn = fn;
    c->ud = ud;
    c->timeout_ms = timeout;
    n = snprintf(c->key, keylen + 1, "%s:%s", rpc->reply_prefix, uuid);
    rc = snprintf(stream, streamlen + 1, "%s:%s", rpc->outbound_prefix,
                  rq->platform);
    if (n < 0 || (size_t)n != keylen || rc < 0 || (size_t)rc != streamlen) {
        rc = sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                           "bad names");
        goto fail;
    }
    n = snprintf(c->method, sizeof c->method, "%s", rq->method);
    if (n < 0)
        c->method[0] = '\0';

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_RPC_REQUEST;
    env.u.out.rpc_method.ptr = rq->method;
    env.u.out.rpc_method.len = strlen(rq->method);
    env.u.out.rpc_args = rq->args;
    env.u.out.reply_key.ptr = c->key;
    env.u.out.reply_key.len = keylen;
    if (rq->channel_id != NULL) {
        env.u.out.has_channel_id = true;
        env.u.out.channel_id.ptr = rq->channel_id;
        env.u.out.channel_id.len = strlen(rq->channel_id);
    }
    env.u.out.trace_id.ptr = trace_id;
    env.u.out.trace_id.len = strlen(trace_id);

    c->timer = evtimer_new(sg_conn_base(rpc->conn), on_backstop, c);
    if (c->timer == NULL) {
        rc = sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                           "out of memory");
        goto fail;
    }
    rc = sg__xadd_envelope(rpc->conn, stream, rpc->maxlen, &env, trace_id,
                           on_xadd, c, err);
    if (rc != 0)
        goto fail;
    c->refs = 1;
    c->deadline_ms = sg__mono_ms() + (uint64_t)timeout;
    sg__ms_to_tv((uint64_t)timeout + (uint64_t)rpc->grace_ms, &tv);
    evtimer_add(c->timer, &tv);
    c->next = rpc->head;
    if (rpc->head != NULL)
        rpc->head->prev = c;
    rpc->head = c;
    rpc->npending++;
    rpc->mem->free(stream, rpc->mem->ud);
    sg_logf(rpc->log, SG_LOG_DEBUG, "rpc %s on %s: waiting on %s (trace %s)",
            c->method, rq->platform, c->key, trace_id);
    return 0;
fail:
    if (c->timer != NULL)
        event_free(c->timer);
    rpc->mem->free(c, rpc->mem->ud);
    rpc->mem->free(stream, rpc->mem->ud);
    return rc;
}

size_t sg_rpc_pending(const sg_rpc *rpc)
{
    return rpc->npending;
}

size_t sg_rpc_connections(const sg_rpc *rpc)
{
    return rpc->nwaiters;
}
