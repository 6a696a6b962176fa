/*
 * The worker's side of the tools stream (sg/tools.h): requests out on the
 * tools stream, replies in on the worker's reply stream, one reader that
 * hands each reply to its call.
 *
 * Calls live on one of two lists: `queued` (encoded, not yet published,
 * while the reader does not know its starting cursor) and `waiting`
 * (published or being published: a reply may come back before the XADD's
 * own reply does). Replies are matched by a walk of `waiting`; a worker
 * has at most a few hundred calls in flight, for which a walk costs less
 * than keeping a table.
 *
 * A call record is freed once its callback has run and its XADD, if one
 * is outstanding on the shared connection, has come back (refs). The
 * reader is the client's own connection, so its outstanding command dies
 * with it when the client is freed.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/tools.h"

#include "clock.h"
#include "error_internal.h"
#include "uuid.h"
#include "xadd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define DEFAULT_TOOLS_STREAM "sg:stream:tools"
#define DEFAULT_REPLY_PREFIX "sg:tools:reply"
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_BLOCK_MS 5000
#define DEFAULT_READ_COUNT 100
#define DEFAULT_RETRY_MS 1000
#define READ_MARGIN_MS 5000
#define CURSOR_MAX 64
#define STACK_FIELDS 16

typedef struct tcall tcall;

struct tcall {
    tcall *prev;
    tcall *next;
    sg_tools_client *tc;        /* NULL once detached */
    const sg_mem *mem;
    int refs;                   /* XADD outstanding */
    int done;                   /* callback has run */
    int queued;                 /* on tc->queued, not yet published */
    sg_tools_fn *fn;
    void *ud;
    struct event *timer;
    int timeout_ms;
    sg_buf data;                /* the encoded request, while queued */
    char request_id[SG__UUID_LEN + 1];
    char trace_id[SG__TRACE_ID_MAX + 1];
};

typedef struct tlist {
    tcall *head;
    tcall *tail;
} tlist;

struct sg_tools_client {
    sg_conn *conn;
    sg_conn *rconn;             /* the reader's */
    const sg_mem *mem;
    const sg_log *log;
    char *tools_stream;
    char *reply_stream;
    long long maxlen;
    int timeout_ms;
    int block_ms;
    int read_count;
    int retry_ms;

    char cursor[CURSOR_MAX];
    int have_cursor;
    int reading;                /* a command outstanding on rconn */
    int closing;
    struct event *retry_ev;

    tlist queued;
    tlist waiting;
    size_t npending;
    uint64_t discarded;
};

static void reader_kick(sg_tools_client *tc);

static char *dup_str(const sg_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mem->malloc(n, mem->ud);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void list_add(tlist *l, tcall *c)
{
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static void list_del(tlist *l, tcall *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
}

/* ---- calls --------------------------------------------------------------- */

static void call_free_if_idle(tcall *c)
{
    if (c->done && c->refs == 0) {
        sg_buf_destroy(&c->data);
        c->mem->free(c, c->mem->ud);
    }
}

/* Ends a call: off its list, timer stopped, callback run. */
static void finish(tcall *c, int status, const sg_tools_reply *reply,
                   const sg_error *err)
{
    sg_tools_client *tc = c->tc;
    sg_tools_result res;
    sg_error none;

    if (tc != NULL) {
        list_del(c->queued ? &tc->queued : &tc->waiting, c);
        tc->npending--;
    }
    c->done = 1;
    if (c->timer != NULL) {
        event_free(c->timer);
        c->timer = NULL;
    }
    sg_buf_destroy(&c->data);
    if (err == NULL) {
        sg_error_clear(&none);
        none.code = status;
        err = &none;
    }
    res.status = status;
    res.reply = reply;
    res.request_id = c->request_id;
    res.err = err;
    c->fn(&res, c->ud);
}

static void fail(tcall *c, int status, const char *what, const char *detail)
{
    sg_error err;

    if (detail != NULL)
        sg__error_set(&err, status, SG_REASON_NONE, NULL, "%s: %s", what,
                      detail);
    else
        sg__error_set(&err, status, SG_REASON_NONE, NULL, "%s", what);
    finish(c, status, NULL, &err);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    tcall *c = arg;

    (void)fd;
    (void)what;
    sg_logf(c->tc->log, SG_LOG_WARN,
            "tools request %s: no reply within %d ms", c->request_id,
            c->timeout_ms);
    fail(c, SG_ETIMEOUT, "no reply within the timeout", NULL);
    call_free_if_idle(c);
}

static void on_xadd(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    tcall *c = ud;

    (void)conn;
    c->refs--;
    if (!c->done && status != 0)
        fail(c, status, status == SG_EREDIS ? "XADD refused" : "XADD",
             status == SG_EREDIS ? sg_reply_str(reply, NULL)
                                 : sg_strerror(status));
    call_free_if_idle(c);
}

/* Publishes a queued call. */
static void publish(sg_tools_client *tc, tcall *c)
{
    int rc;

    list_del(&tc->queued, c);
    c->queued = 0;
    list_add(&tc->waiting, c);
    rc = sg__xadd_data(tc->conn, tc->tools_stream, tc->maxlen, c->data.data,
                       c->data.len, c->trace_id, on_xadd, c);
    sg_buf_destroy(&c->data);
    if (rc != 0) {
        fail(c, rc, "XADD", sg_strerror(rc));
        call_free_if_idle(c);
        return;
    }
    c->refs++;
}

/* ---- the reader ---------------------------------------------------------- */

static void schedule_retry(sg_tools_client *tc)
{
    struct timeval tv;

    sg__ms_to_tv((uint64_t)tc->retry_ms, &tv);
    evtimer_add(tc->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    reader_kick(arg);
}

static void on_reader_state(sg_conn *conn, int up, void *ud)
{
    (void)conn;
    if (up)
        reader_kick(ud);
}

/* Copies a stream entry ID into the cursor. 0, or -1 when it is no ID. */
static int set_cursor(sg_tools_client *tc, const sg_reply *id)
{
    size_t len;
    const char *s = sg_reply_str(id, &len);

    if (s == NULL || len == 0 || len >= sizeof tc->cursor)
        return -1;
    memcpy(tc->cursor, s, len);
    tc->cursor[len] = '\0';
    return 0;
}

static tcall *find_waiting(sg_tools_client *tc, sg_str request_id)
{
    tcall *c;

    for (c = tc->waiting.head; c != NULL; c = c->next)
        if (strlen(c->request_id) == request_id.len &&
            memcmp(c->request_id, request_id.ptr, request_id.len) == 0)
            return c;
    return NULL;
}

/* One reply entry: [id, [field, value, ...]]. */
static void on_entry(sg_tools_client *tc, const sg_reply *entry)
{
    const sg_reply *id = sg_reply_at(entry, 0);
    const sg_reply *kv = sg_reply_at(entry, 1);
    sg_entry_field stack[STACK_FIELDS], *fields = stack;
    size_t n = sg_reply_len(kv) / 2, i;
    const char *idstr = sg_reply_str(id, NULL);
    sg_envelope *env = NULL;
    sg_entry e;
    sg_error err;
    tcall *c;

    if (idstr == NULL)
        idstr = "?";
    if (n > STACK_FIELDS) {
        fields = tc->mem->malloc(n * sizeof *fields, tc->mem->ud);
        if (fields == NULL) {
            sg_logf(tc->log, SG_LOG_ERROR,
                    "tools reply %s on %s: out of memory; discarded", idstr,
                    tc->reply_stream);
            tc->discarded++;
            return;
        }
    }
    for (i = 0; i < n; i++) {
        fields[i].name.ptr = sg_reply_str(sg_reply_at(kv, 2 * i),
                                          &fields[i].name.len);
        fields[i].value.ptr = sg_reply_str(sg_reply_at(kv, 2 * i + 1),
                                           &fields[i].value.len);
        if (fields[i].name.ptr == NULL)
            fields[i].name.len = 0;
        if (fields[i].value.ptr == NULL)
            fields[i].value.len = 0;
    }
    e.fields = fields;
    e.nfields = n;
    if (sg_envelope_decode(SG_KIND_TOOLS_REPLY, &e, NULL, &env, &err) != 0) {
        sg_logf(tc->log, SG_LOG_WARN,
                "tools reply %s on %s rejected (%s at %s): %s; discarded",
                idstr, tc->reply_stream, sg_reason_name(err.reason),
                err.path, err.msg);
        tc->discarded++;
    } else {
        c = find_waiting(tc, env->u.trep.request_id);
        if (c == NULL) {
            /* SG-TOOLS-003: for instance a reply after its timeout. */
            sg_logf(tc->log, SG_LOG_INFO,
                    "tools reply %s on %s: request %.*s matches no "
                    "waiting call; discarded", idstr, tc->reply_stream,
                    (int)env->u.trep.request_id.len,
                    env->u.trep.request_id.ptr);
            tc->discarded++;
        } else {
            finish(c, 0, &env->u.trep, NULL);
            call_free_if_idle(c);
        }
        sg_envelope_free(env);
    }
    if (fields != stack)
        tc->mem->free(fields, tc->mem->ud);
}

static void on_read(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sg_tools_client *tc = ud;
    size_t i, j;

    (void)conn;
    tc->reading = 0;
    if (tc->closing)
        return;
    if (status != 0) {
        /*
         * A dropped connection comes back by itself and on_reader_state
         * restarts the reader; the timer also covers a refused read and a
         * state change that the connection folds into one report.
         */
        if (status == SG_EREDIS)
            sg_logf(tc->log, SG_LOG_WARN, "tools reader on %s: %s",
                    tc->reply_stream, sg_reply_str(reply, NULL));
        schedule_retry(tc);
        return;
    }
    /* XREAD: nil when the block ran out, else [[stream, [entry...]]]. */
    for (i = 0; i < sg_reply_len(reply); i++) {
        const sg_reply *entries = sg_reply_at(sg_reply_at(reply, i), 1);

        for (j = 0; j < sg_reply_len(entries); j++) {
            const sg_reply *entry = sg_reply_at(entries, j);

            if (set_cursor(tc, sg_reply_at(entry, 0)) != 0)
                continue;
            on_entry(tc, entry);
        }
    }
    reader_kick(tc);
}

/* XREVRANGE key + - COUNT 1: where the reader starts. */
static void on_last_id(sg_conn *conn, int status, const sg_reply *reply,
                       void *ud)
{
    sg_tools_client *tc = ud;

    (void)conn;
    tc->reading = 0;
    if (tc->closing)
        return;
    if (status != 0) {
        if (status == SG_EREDIS)
            sg_logf(tc->log, SG_LOG_WARN, "tools reader on %s: %s",
                    tc->reply_stream, sg_reply_str(reply, NULL));
        schedule_retry(tc);
        return;
    }
    if (sg_reply_len(reply) == 0) {
        memcpy(tc->cursor, "0-0", 4);
    } else if (set_cursor(tc, sg_reply_at(sg_reply_at(reply, 0), 0)) != 0) {
        sg_logf(tc->log, SG_LOG_WARN,
                "tools reader on %s: unexpected XREVRANGE reply",
                tc->reply_stream);
        schedule_retry(tc);
        return;
    }
    tc->have_cursor = 1;
    sg_logf(tc->log, SG_LOG_DEBUG, "tools reader on %s starts after %s",
            tc->reply_stream, tc->cursor);
    while (tc->queued.head != NULL)
        publish(tc, tc->queued.head);
    reader_kick(tc);
}

static void reader_kick(sg_tools_client *tc)
{
    char count[16], block[16];
    int rc;

    if (tc->reading || tc->closing)
        return;
    if (!tc->have_cursor) {
        const char *argv[6] = {"XREVRANGE", tc->reply_stream, "+", "-",
                               "COUNT", "1"};

        rc = sg_conn_command(tc->rconn, on_last_id, tc, 6, argv, NULL);
    } else {
        const char *argv[8] = {"XREAD", "COUNT", count, "BLOCK", block,
                               "STREAMS", tc->reply_stream, tc->cursor};

        if (snprintf(count, sizeof count, "%d", tc->read_count) < 0 ||
            snprintf(block, sizeof block, "%d", tc->block_ms) < 0)
            return;
        rc = sg_conn_command_timeout(tc->rconn,
                                     tc->block_ms + READ_MARGIN_MS, on_read,
                                     tc, 8, argv, NULL);
    }
    if (rc == 0) {
        tc->reading = 1;
        evtimer_del(tc->retry_ev);
    } else {
        /* Down and waiting to reconnect: on_reader_state or the timer. */
        schedule_retry(tc);
    }
}

/* ---- public -------------------------------------------------------------- */

void sg_tools_client_opts_init(sg_tools_client_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

void sg_tools_call_opts_init(sg_tools_call_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_tools_client_new(sg_conn *conn, const sg_tools_client_opts *opts,
                        sg_tools_client **out)
{
    const sg_mem *mem;
    const char *prefix;
    sg_tools_client *tc;
    size_t n;
    int rc;

    *out = NULL;
    if (conn == NULL || opts == NULL || opts->worker_id == NULL ||
        opts->worker_id[0] == '\0' || opts->timeout_ms < 0 ||
        opts->block_ms < 0 || opts->read_count < 0 || opts->retry_ms < 0)
        return SG_EINVAL;
    mem = sg_conn_mem(conn);
    tc = mem->malloc(sizeof *tc, mem->ud);
    if (tc == NULL)
        return SG_ENOMEM;
    memset(tc, 0, sizeof *tc);
    tc->conn = conn;
    tc->mem = mem;
    tc->log = opts->log != NULL ? opts->log : sg_conn_log(conn);
    tc->maxlen = sg__stream_maxlen(opts->stream_maxlen);
    tc->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms
                                          : DEFAULT_TIMEOUT_MS;
    tc->block_ms = opts->block_ms > 0 ? opts->block_ms : DEFAULT_BLOCK_MS;
    tc->read_count = opts->read_count > 0 ? opts->read_count
                                          : DEFAULT_READ_COUNT;
    tc->retry_ms = opts->retry_ms > 0 ? opts->retry_ms : DEFAULT_RETRY_MS;
    tc->tools_stream = dup_str(mem, opts->tools_stream != NULL
                                        ? opts->tools_stream
                                        : DEFAULT_TOOLS_STREAM);
    prefix = opts->reply_prefix != NULL ? opts->reply_prefix
                                        : DEFAULT_REPLY_PREFIX;
    n = strlen(prefix) + 1 + strlen(opts->worker_id) + 1;
    tc->reply_stream = mem->malloc(n, mem->ud);
    tc->retry_ev = evtimer_new(sg_conn_base(conn), on_retry, tc);
    if (tc->tools_stream == NULL || tc->reply_stream == NULL ||
        tc->retry_ev == NULL) {
        sg_tools_client_free(tc);
        return SG_ENOMEM;
    }
    rc = snprintf(tc->reply_stream, n, "%s:%s", prefix, opts->worker_id);
    if (rc < 0 || (size_t)rc != n - 1) {
        sg_tools_client_free(tc);
        return SG_EINVAL;
    }
    rc = sg_conn_new_like(conn, "tools-reader", on_reader_state, tc,
                          &tc->rconn);
    if (rc != 0) {
        sg_tools_client_free(tc);
        return rc;
    }
    reader_kick(tc);
    *out = tc;
    return 0;
}

void sg_tools_client_free(sg_tools_client *tc)
{
    if (tc == NULL)
        return;
    tc->closing = 1;
    /* The reader's outstanding command calls back now, and is ignored. */
    sg_conn_free(tc->rconn);
    tc->rconn = NULL;
    while (tc->queued.head != NULL || tc->waiting.head != NULL) {
        tcall *c = tc->queued.head != NULL ? tc->queued.head
                                           : tc->waiting.head;

        fail(c, SG_ECLOSED, "the tools client was freed", NULL);
        c->tc = NULL;
        call_free_if_idle(c);
    }
    if (tc->retry_ev != NULL)
        event_free(tc->retry_ev);
    tc->mem->free(tc->tools_stream, tc->mem->ud);
    tc->mem->free(tc->reply_stream, tc->mem->ud);
    tc->mem->free(tc, tc->mem->ud);
}

int sg_tools_call(sg_tools_client *tc, const sg_tools_call_opts *opts,
                  sg_tools_fn *fn, void *ud, sg_error *err)
{
    sg_envelope env;
    struct timeval tv;
    tcall *c;
    int rc, timeout;

    if (err != NULL)
        sg_error_clear(err);
    if (tc == NULL || opts == NULL || fn == NULL ||
        opts->tool_name == NULL || opts->timeout_ms < 0)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "a tools call needs a tool name");
    if (tc->closing)
        return sg__error_set(err, SG_ECLOSED, SG_REASON_NONE, NULL,
                             "the tools client is being freed");
    timeout = opts->timeout_ms > 0 ? opts->timeout_ms : tc->timeout_ms;
    c = tc->mem->malloc(sizeof *c, tc->mem->ud);
    if (c == NULL)
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    memset(c, 0, sizeof *c);
    c->mem = tc->mem;
    c->fn = fn;
    c->ud = ud;
    c->timeout_ms = timeout;
    sg_buf_init(&c->data, tc->mem);
    if (opts->trace_id != NULL && opts->trace_id[0] != '\0') {
        rc = sg__trace_id_check(opts->trace_id, err);
        if (rc != 0)
            goto fail;
        memcpy(c->trace_id, opts->trace_id, strlen(opts->trace_id) + 1);
    } else if ((rc = sg__trace_id_new(c->trace_id)) != 0) {
        sg__error_set(err, rc, SG_REASON_NONE, NULL,
                      "no random source for a trace id");
        goto fail;
    }
    rc = sg__uuid4(c->request_id);
    if (rc != 0) {
        sg__error_set(err, rc, SG_REASON_NONE, NULL,
                      "no random source for a request id");
        goto fail;
    }
    sg_envelope_init(&env, SG_KIND_TOOLS_REQUEST);
    env.u.treq.request_id.ptr = c->request_id;
    env.u.treq.request_id.len = SG__UUID_LEN;
    env.u.treq.tool_name.ptr = opts->tool_name;
    env.u.treq.tool_name.len = strlen(opts->tool_name);
    env.u.treq.tool_args = opts->tool_args;
    env.u.treq.tool_ctx = opts->tool_ctx;
    env.u.treq.reply_stream.ptr = tc->reply_stream;
    env.u.treq.reply_stream.len = strlen(tc->reply_stream);
    if (opts->send_deadline)
        env.u.treq.deadline_ms = sg__wall_ms() + timeout;
    rc = sg_envelope_encode(&env, &c->data, err);
    if (rc != 0)
        goto fail;
    c->timer = evtimer_new(sg_conn_base(tc->conn), on_timeout, c);
    if (c->timer == NULL) {
        rc = sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                           "out of memory");
        goto fail;
    }
    c->tc = tc;
    if (tc->have_cursor) {
        rc = sg__xadd_data(tc->conn, tc->tools_stream, tc->maxlen,
                           c->data.data, c->data.len, c->trace_id, on_xadd,
                           c);
        if (rc != 0) {
            sg__error_set(err, rc, SG_REASON_NONE, NULL, "XADD to %s: %s",
                          tc->tools_stream, sg_strerror(rc));
            goto fail;
        }
        sg_buf_destroy(&c->data);
        c->refs = 1;
        list_add(&tc->waiting, c);
    } else {
        /* Sent once the reader knows where to start (see sg/tools.h). */
        c->queued = 1;
        list_add(&tc->queued, c);
    }
    tc->npending++;
    sg__ms_to_tv((uint64_t)timeout, &tv);
    evtimer_add(c->timer, &tv);
    sg_logf(tc->log, SG_LOG_DEBUG, "tools request %s: %s (trace %s)%s",
            c->request_id, opts->tool_name, c->trace_id,
            c->queued ? ", queued until the reader is ready" : "");
    return 0;
fail:
    if (c->timer != NULL)
        event_free(c->timer);
    sg_buf_destroy(&c->data);
    tc->mem->free(c, tc->mem->ud);
    return rc;
}

size_t sg_tools_pending(const sg_tools_client *tc)
{
    return tc->npending;
}

uint64_t sg_tools_discarded(const sg_tools_client *tc)
{
    return tc->discarded;
}

int sg_tools_client_ready(const sg_tools_client *tc)
{
    return tc->have_cursor;
}

const char *sg_tools_reply_stream(const sg_tools_client *tc)
{
    return tc->reply_stream;
}
