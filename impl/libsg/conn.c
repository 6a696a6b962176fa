/*
 * The reconnecting asynchronous Redis connection of sg/conn.h, over hiredis'
 * async API and its libevent adapter.
 *
 * Every command is tracked by an sg__cmd record, kept in a list in send
 * order. Redis answers in order, so the head of the list is the command the
 * next reply belongs to; one timer watches the head's deadline. The record
 * is hiredis' privdata for the command: hiredis calls on_reply() exactly
 * once per command, with the reply or, when the context goes away, with
 * NULL. A record whose connection was freed is "detached" (conn == NULL):
 * its caller was already told SG_ECLOSED, and on_reply() only frees it.
 *
 * hiredis 0.14 calls its connect and disconnect callbacks while it is in
 * the middle of its own work, where freeing the context is not allowed. So
 * those callbacks only record the new state; the caller's on_state runs
 * later from a libevent event (notify_ev), where anything is allowed.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/conn.h"

#include "clock.h"
#include "resp.h"
#include "sg/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#define CONN_HOST_MAX 256
#define CONN_NAME_MAX 64
#define CONN_ERR_MAX 128
#define STACK_ARGS 32

typedef struct sg__cmd sg__cmd;

struct sg__cmd {
    sg__cmd *prev;
    sg__cmd *next;
    sg_conn *conn;          /* NULL: detached, free on reply */
    const sg_mem *mem;
    sg_reply_fn *fn;
    void *ud;
    uint64_t deadline_ms;
    int timeout_ms;
    /*
     * For a script call: the body for EVAL (into the connection's copy)
     * and the digest for EVALSHA ("" when not known yet: sent as EVAL).
     */
    int has_script;
    sg_script script;
    char sha[41];
    int fell_back;
    int nkeys;
    int nargs;
    const char **args;      /* into this allocation */
    size_t *lens;
};

/* A script the connection ran, with what the server told us of it. */
typedef struct conn_script {
    sg_script s;            /* our own copy, name and body included */
    char sha[41];           /* from SCRIPT LOAD, lowercase hex; "" until */
    int loading;            /* a SCRIPT LOAD is in flight */
} conn_script;

struct sg_conn {
    struct event_base *base;
    const sg_mem *mem;
    const sg_log *log;
    char host[CONN_HOST_MAX];
    int port;
    char name[CONN_NAME_MAX];
    char addr[CONN_HOST_MAX + 16];
    int connect_timeout_ms;
    int command_timeout_ms;
    int backoff_min_ms;
    int backoff_max_ms;
    sg_conn_state_fn *on_state;
    void *ud;

    redisAsyncContext *ac;  /* NULL while waiting to reconnect */
    int up;                 /* connected */
    int reported_up;        /* last state given to on_state */
    int failures;           /* failed attempts since a reply came */
    int down_logged;        /* a failure was logged; log the recovery */
    char last_err[CONN_ERR_MAX];
    int close_status;       /* status of commands failed by a teardown */
    int depth;              /* inside our own teardown */
    int free_requested;     /* sg_conn_free() called during a teardown */
    int freeing;

    struct event *retry_ev;
    struct event *connect_ev;
    struct event *timeout_ev;
    struct event *notify_ev;
    struct event *flush_ev; /* writes this iteration's commands */

    sg__cmd *head;
    sg__cmd *tail;
    uint64_t sent;
    uint64_t *sent_total;   /* opts.sent_total; may be NULL */

    conn_script *scripts;
    size_t nscripts;
    size_t capscripts;

    sg_buf out;             /* the command being written, reused */
};

static void start_connect(sg_conn *c);
static void conn_destroy(sg_conn *c);

/* ---- small helpers ------------------------------------------------------ */

static void *mem_alloc(const sg_mem *mem, size_t n)
{
    return mem->malloc(n, mem->ud);
}

static void mem_free(const sg_mem *mem, void *p)
{
    if (p != NULL)
        mem->free(p, mem->ud);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- replies ------------------------------------------------------------ */

static const redisReply *R(const sg_reply *r)
{
    return (const redisReply *)(const void *)r;
}

sg_reply_type sg_reply_kind(const sg_reply *r)
{
    return r == NULL ? (sg_reply_type)0 : (sg_reply_type)R(r)->type;
}

const char *sg_reply_str(const sg_reply *r, size_t *len)
{
    const redisReply *x = R(r);

    if (x == NULL || (x->type != REDIS_REPLY_STRING &&
                      x->type != REDIS_REPLY_STATUS &&
                      x->type != REDIS_REPLY_ERROR))
        return NULL;
    if (len != NULL)
        *len = x->len;
    return x->str;
}

long long sg_reply_integer(const sg_reply *r)
{
    const redisReply *x = R(r);

    return x != NULL && x->type == REDIS_REPLY_INTEGER ? x->integer : 0;
}

int sg_reply_to_ll(const sg_reply *r, long long *out)
{
    const redisReply *x = R(r);
    char buf[32];
    char *end;
    long long v;

    if (x == NULL)
        return SG_EINVAL;
    if (x->type == REDIS_REPLY_INTEGER) {
        *out = x->integer;
        return 0;
    }
    if ((x->type != REDIS_REPLY_STRING && x->type != REDIS_REPLY_STATUS) ||
        x->len == 0 || x->len >= sizeof buf)
        return SG_EINVAL;
    memcpy(buf, x->str, x->len);
    buf[x->len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return SG_EINVAL;
    *out = v;
    return 0;
}

size_t sg_reply_len(const sg_reply *r)
{
    const redisReply *x = R(r);

    return x != NULL && x->type == REDIS_REPLY_ARRAY ? x->elements : 0;
}

const sg_reply *sg_reply_at(const sg_reply *r, size_t i)
{
    const redisReply *x = R(r);

    if (x == NULL || x->type != REDIS_REPLY_ARRAY || i >= x->elements)
        return NULL;
    return (const sg_reply *)(const void *)x->element[i];
}

int sg_reply_is(const sg_reply *r, const char *s)
{
    const redisReply *x = R(r);
    size_t n = strlen(s);

    if (x == NULL)
        return 0;
    if (x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS)
        return x->len == n && memcmp(x->str, s, n) == 0;
    if (x->type == REDIS_REPLY_ERROR)
        return x->len >= n && memcmp(x->str, s, n) == 0 &&
               (x->len == n || x->str[n] == ' ');
    return 0;
}

/* ---- the command list and its deadline ---------------------------------- */

static void list_push(sg_conn *c, sg__cmd *cmd)
{
    cmd->prev = c->tail;
    cmd->next = NULL;
    if (c->tail != NULL)
        c->tail->next = cmd;
    else
        c->head = cmd;
    c->tail = cmd;
}

static void list_unlink(sg_conn *c, sg__cmd *cmd)
{
    if (cmd->prev != NULL)
        cmd->prev->next = cmd->next;
    else
        c->head = cmd->next;
    if (cmd->next != NULL)
        cmd->next->prev = cmd->prev;
    else
        c->tail = cmd->prev;
    cmd->prev = cmd->next = NULL;
}

/*
 * Arms the timer for the head's deadline. A command behind the head cannot
 * be answered before the head, so watching the head is enough: each
 * command is checked when it becomes the head.
 */
static void arm_deadline(sg_conn *c)
{
    uint64_t now, wait;
    struct timeval tv;

    if (c->head == NULL) {
        event_del(c->timeout_ev);
        return;
    }
    now = sg__mono_ms();
    wait = c->head->deadline_ms > now ? c->head->deadline_ms - now : 0;
    sg__ms_to_tv(wait, &tv);
    event_add(c->timeout_ev, &tv);
}

/* ---- state changes ------------------------------------------------------ */

static void notify(sg_conn *c)
{
    if (c->on_state != NULL)
        event_active(c->notify_ev, 0, 0);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    sg_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->on_state != NULL && c->up != c->reported_up) {
        c->reported_up = c->up;
        c->on_state(c, c->up, c->ud);
    }
}

static int backoff_ms(const sg_conn *c)
{
    long ms = c->backoff_min_ms;
    int i;

    for (i = 1; i < c->failures && ms < c->backoff_max_ms; i++)
        ms *= 2;
    return ms > c->backoff_max_ms ? c->backoff_max_ms : (int)ms;
}

static void schedule_retry(sg_conn *c, int delay_ms)
{
    struct timeval tv;

    sg__ms_to_tv((uint64_t)delay_ms, &tv);

    event_add(c->retry_ev, &tv);
}

/*
 * A connection attempt failed. The first failure after a working period
 * is logged at warning level; further retries only when the reason
 * changes, so that a long outage gives one line, not one per retry.
 */
static void attempt_failed(sg_conn *c, const char *why)
{
    int delay;

    c->failures++;
    delay = backoff_ms(c);
    if (!c->down_logged || strcmp(why, c->last_err) != 0) {
        sg_logf(c->log, SG_LOG_WARN,
                "redis %s (%s) unreachable: %s; retrying in %d ms",
                c->addr, c->name, why, delay);
        copy_str(c->last_err, sizeof c->last_err, why);
        c->down_logged = 1;
    } else {
        sg_logf(c->log, SG_LOG_DEBUG,
                "redis %s (%s) still unreachable: %s; retrying in %d ms",
                c->addr, c->name, why, delay);
    }
    schedule_retry(c, delay);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

/*
 * Drops the current context on our own initiative (timeout): every waiting
 * command gets `status`, and a new attempt starts at once.
 */
static void teardown(sg_conn *c, int status)
{
    redisAsyncContext *ac = c->ac;

    if (ac == NULL)
        return;
    c->ac = NULL;
    c->up = 0;
    event_del(c->connect_ev);
    event_del(c->timeout_ev);
    ac->data = NULL;
    c->close_status = status;
    c->depth++;
    redisAsyncFree(ac);
    c->depth--;
    c->close_status = SG_ECLOSED;
    if (c->free_requested) {
        conn_destroy(c);
        return;
    }
    notify(c);
    schedule_retry(c, 0);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    sg_conn *c = arg;
    char why[64];
    int n;

    (void)fd;
    (void)what;
    if (c->ac == NULL || c->up)
        return;
    n = snprintf(why, sizeof why, "connect timed out after %d ms",
                 c->connect_timeout_ms);
    if (n < 0)
        why[0] = '\0';
    {
        redisAsyncContext *ac = c->ac;

        c->ac = NULL;
        ac->data = NULL;
        c->depth++;
        redisAsyncFree(ac);
        c->depth--;
        if (c->free_requested) {
            conn_destroy(c);
            return;
        }
    }
    attempt_failed(c, why);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    sg_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->head == NULL)
        return;
    if (c->head->deadline_ms > sg__mono_ms()) {
        arm_deadline(c);
        return;
    }
    sg_logf(c->log, SG_LOG_WARN,
            "redis %s (%s): no reply within %d ms; reconnecting", c->addr,
            c->name, c->head->timeout_ms);
    teardown(c, SG_ETIMEOUT);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sg_conn *c = ac->data;

    if (c == NULL)
        return;
    event_del(c->connect_ev);
    if (status != REDIS_OK) {
        char why[CONN_ERR_MAX];

        /*
         * hiredis frees the context when this returns, after failing its
         * queued commands (they see c->close_status).
         */
        copy_str(why, sizeof why,
                 ac->c.errstr[0] != '\0' ? ac->c.errstr : "connect failed");
        c->ac = NULL;
        attempt_failed(c, why);
        return;
    }
    c->up = 1;
    if (c->down_logged)
        sg_logf(c->log, SG_LOG_INFO, "redis %s (%s) reachable again",
                c->addr, c->name);
    else
        sg_logf(c->log, SG_LOG_DEBUG, "redis %s (%s) connected", c->addr,
                c->name);
    c->down_logged = 0;
    c->last_err[0] = '\0';
    notify(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sg_conn *c = ac->data;

    if (c == NULL)
        return;
    /* The pending commands already failed; hiredis frees ac after this. */
    c->ac = NULL;
    c->up = 0;
    event_del(c->timeout_ev);
    sg_logf(c->log, SG_LOG_WARN, "redis %s (%s) connection lost: %s; "
            "reconnecting", c->addr, c->name,
            status == REDIS_OK ? "closed" :
            (ac->errstr != NULL && ac->errstr[0] != '\0' ? ac->errstr :
             "error"));
    c->down_logged = 1;
    copy_str(c->last_err, sizeof c->last_err, "connection lost");
    notify(c);
    schedule_retry(c, 0);
}

/* ---- sending ------------------------------------------------------------ */

/*
 * Writing. hiredis queues a command and asks its libevent adapter for a
 * write event; the loop's next poll reports the socket writable, hiredis
 * writes, and drops the write event again: two epoll_ctl calls around
 * every write. Instead, the first command queued in a loop iteration
 * activates flush_ev, which runs once the callbacks already due in this
 * iteration have run (so the commands they queue share the write) and
 * writes at once. On a base made by sg_event_base_new(), whose epoll
 * changes wait in a changelist until the next poll, the adapter's add
 * and drop of the write event then cancel out: no system call at all.
 */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    sg_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->ac != NULL && c->up)
        redisAsyncHandleWrite(c->ac);
}

struct event_base *sg_event_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    (void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/*
 * Writes one command for cmd on the current context. 0 or SG_E... The
 * command is written as RESP here (resp.h) rather than by
 * redisAsyncCommandArgv(), whose formatting of each argument through a
 * format string cost more than the rest of the sending.
 */
static int write_cmd(sg_conn *c, sg__cmd *cmd, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (sg__resp_command(&c->out, argc, argv, argvlen) != 0)
        return SG_ENOMEM;
    if (redisAsyncFormattedCommand(c->ac, on_reply, cmd,
                                   (const char *)c->out.data,
                                   c->out.len) != REDIS_OK)
        return SG_ECLOSED;
    if (c->up)
        event_active(c->flush_ev, EV_WRITE, 0);
    c->sent++;
    if (c->sent_total != NULL)
        (*c->sent_total)++;
    cmd->deadline_ms = sg__mono_ms() + (uint64_t)cmd->timeout_ms;
    list_push(c, cmd);
    if (c->head == cmd)
        arm_deadline(c);
    return 0;
}

/* Sends the record's script call as EVALSHA (eval = 0) or EVAL. */
static int write_script(sg_conn *c, sg__cmd *cmd, int eval)
{
    const char *stack_av[STACK_ARGS + 3];
    size_t stack_len[STACK_ARGS + 3];
    const char **av = stack_av;
    size_t *len = stack_len;
    char nkeys[16];
    int n = cmd->nargs + 3, rc, i;

    if (cmd->nargs > STACK_ARGS) {
        av = mem_alloc(c->mem, (size_t)n * sizeof *av);
        len = mem_alloc(c->mem, (size_t)n * sizeof *len);
        if (av == NULL || len == NULL) {
            mem_free(c->mem, av);
            mem_free(c->mem, len);
            return SG_ENOMEM;
        }
    }
    rc = snprintf(nkeys, sizeof nkeys, "%d", cmd->nkeys);
    if (rc < 0 || (size_t)rc >= sizeof nkeys) {
        rc = SG_EINVAL;
        goto out;
    }
    av[0] = eval ? "EVAL" : "EVALSHA";
    len[0] = strlen(av[0]);
    av[1] = eval ? cmd->script.body : cmd->sha;
    len[1] = eval ? cmd->script.body_len : 40;
    av[2] = nkeys;
    len[2] = strlen(nkeys);
    for (i = 0; i < cmd->nargs; i++) {
        av[i + 3] = cmd->args[i];
        len[i + 3] = cmd->lens[i];
    }
    rc = write_cmd(c, cmd, n, av, len);
out:
    if (av != stack_av) {
        mem_free(c->mem, av);
        mem_free(c->mem, len);
    }
    return rc;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    sg__cmd *cmd = privdata;
    sg_conn *c = cmd->conn;
    const redisReply *reply = r;
    const sg_mem *mem = cmd->mem;
    int status;

    (void)ac;
    if (c == NULL) {
        mem_free(mem, cmd);
        return;
    }
    list_unlink(c, cmd);
    if (reply != NULL) {
        c->failures = 0;
        if (reply->type == REDIS_REPLY_ERROR && cmd->has_script &&
            !cmd->fell_back && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            cmd->fell_back = 1;
            sg_logf(c->log, SG_LOG_INFO,
                    "redis %s (%s): script %s not loaded; sending EVAL",
                    c->addr, c->name, cmd->script.name);
            if (write_script(c, cmd, 1) == 0) {
                arm_deadline(c);
                return;
            }
        }
        status = reply->type == REDIS_REPLY_ERROR ? SG_EREDIS : 0;
        arm_deadline(c);
    } else {
        status = c->close_status;
    }
    /* From here on c may be freed by the callback: do not touch it. */
    if (cmd->fn != NULL)
        cmd->fn(c, status, (const sg_reply *)(const void *)reply, cmd->ud);
    mem_free(mem, cmd);
}

static sg__cmd *cmd_new(sg_conn *c, sg_reply_fn *fn, void *ud,
                        int timeout_ms, size_t extra)
{
    sg__cmd *cmd = mem_alloc(c->mem, sizeof *cmd + extra);

    if (cmd == NULL)
        return NULL;
    memset(cmd, 0, sizeof *cmd);
    cmd->conn = c;
    cmd->mem = c->mem;
    cmd->fn = fn;
    cmd->ud = ud;
    cmd->timeout_ms = timeout_ms;
    return cmd;
}

/*
 * The reply to SCRIPT LOAD of c->scripts[ud]: the script's digest, which
 * the server computes, so that later calls can be EVALSHA.
 */
static void on_script_loaded(sg_conn *c, int status, const sg_reply *reply,
                             void *ud)
{
    size_t i = (size_t)(uintptr_t)ud, n, k;
    conn_script *cs;
    const char *hex;

    /* Without a reply the connection may be going away: leave it alone. */
    if (status != 0 && status != SG_EREDIS)
        return;
    cs = &c->scripts[i];
    cs->loading = 0;
    hex = status == 0 ? sg_reply_str(reply, &n) : NULL;
    if (hex == NULL || n != 40)
        return;
    for (k = 0; k < 40; k++)
        if (!((hex[k] >= '0' && hex[k] <= '9') ||
              (hex[k] >= 'a' && hex[k] <= 'f')))
            return;
    memcpy(cs->sha, hex, 40);
    cs->sha[40] = '\0';
}

/*
 * Loads c->scripts[i]. A failed load is harmless: calls go as EVAL until
 * a load succeeds.
 */
static void send_script_load(sg_conn *c, size_t i)
{
    conn_script *cs = &c->scripts[i];
    const char *av[3] = {"SCRIPT", "LOAD", cs->s.body};
    size_t len[3] = {6, 4, cs->s.body_len};
    sg__cmd *cmd = cmd_new(c, on_script_loaded, (void *)(uintptr_t)i,
                           c->command_timeout_ms, 0);

    if (cmd == NULL)
        return;
    if (write_cmd(c, cmd, 3, av, len) != 0) {
        mem_free(c->mem, cmd);
        return;
    }
    cs->loading = 1;
}

static void start_connect(sg_conn *c)
{
    redisAsyncContext *ac;
    struct timeval tv;
    size_t i;

    ac = redisAsyncConnect(c->host, c->port);
    if (ac == NULL) {
        attempt_failed(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[CONN_ERR_MAX];

        copy_str(why, sizeof why, ac->errstr != NULL ? ac->errstr : "error");
        redisAsyncFree(ac);
        attempt_failed(c, why);
        return;
    }
    if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
        redisAsyncFree(ac);
        attempt_failed(c, "cannot attach to the event loop");
        return;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    sg__ms_to_tv((uint64_t)c->connect_timeout_ms, &tv);
    event_add(c->connect_ev, &tv);
    /* Ahead of any caller's command, so that EVALSHA finds its script. */
    for (i = 0; i < c->nscripts; i++) {
        c->scripts[i].loading = 0;
        send_script_load(c, i);
    }
}

/* ---- public ------------------------------------------------------------- */

void sg_conn_opts_init(sg_conn_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_conn_parse_url(const char *url, char *host, size_t hostcap,
                      int *port)
{
    const char *p = url, *colon, *end;
    size_t hlen;
    long v = 6379;

    if (url == NULL || hostcap == 0)
        return SG_EINVAL;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)) != NULL)
        return SG_EINVAL;
    if (*end == '/' && end[1] != '\0')
        return SG_EINVAL;
    if (*end == '?' || *end == '#')
        return SG_EINVAL;
    colon = memchr(p, ':', (size_t)(end - p));
    hlen = (size_t)((colon != NULL ? colon : end) - p);
    if (hlen == 0 || hlen >= hostcap)
        return SG_EINVAL;
    if (colon != NULL) {
        char digits[8];
        size_t dlen = (size_t)(end - colon - 1);
        char *stop;

        if (dlen == 0 || dlen >= sizeof digits)
            return SG_EINVAL;
        memcpy(digits, colon + 1, dlen);
        digits[dlen] = '\0';
        errno = 0;
        v = strtol(digits, &stop, 10);
        if (errno != 0 || *stop != '\0' || v < 1 || v > 65535 ||
            digits[0] < '0' || digits[0] > '9')
            return SG_EINVAL;
    }
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return 0;
}

int sg_conn_new(struct event_base *base, const sg_conn_opts *opts,
                sg_conn **out)
{
    const sg_mem *mem = opts->mem != NULL ? opts->mem : sg_mem_default();
    const char *host = opts->host != NULL ? opts->host : "127.0.0.1";
    sg_conn *c;
    int n;

    *out = NULL;
    if (base == NULL || strlen(host) >= CONN_HOST_MAX || opts->port < 0 ||
        opts->port > 65535 || opts->connect_timeout_ms < 0 ||
        opts->command_timeout_ms < 0 || opts->backoff_min_ms < 0 ||
        opts->backoff_max_ms < 0)
        return SG_EINVAL;
    c = mem_alloc(mem, sizeof *c);
    if (c == NULL)
        return SG_ENOMEM;
    memset(c, 0, sizeof *c);
    c->base = base;
    c->mem = mem;
    sg_buf_init(&c->out, mem);
    c->log = opts->log;
    copy_str(c->host, sizeof c->host, host);
    c->port = opts->port != 0 ? opts->port : 6379;
    copy_str(c->name, sizeof c->name,
             opts->name != NULL ? opts->name : "redis");
    n = snprintf(c->addr, sizeof c->addr, "%s:%d", c->host, c->port);
    if (n < 0 || (size_t)n >= sizeof c->addr)
        c->addr[0] = '\0';
    c->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    c->command_timeout_ms =
        opts->command_timeout_ms > 0 ? opts->command_timeout_ms : 10000;
    c->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 100;
    c->backoff_max_ms =
        opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 5000;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->on_state = opts->on_state;
    c->ud = opts->ud;
    c->sent_total = opts->sent_total;
    c->close_status = SG_ECLOSED;
    c->retry_ev = evtimer_new(base, on_retry, c);
    c->connect_ev = evtimer_new(base, on_connect_timeout, c);
    c->timeout_ev = evtimer_new(base, on_deadline, c);
    c->notify_ev = event_new(base, -1, 0, on_notify, c);
    c->flush_ev = event_new(base, -1, 0, on_flush, c);
    if (c->retry_ev == NULL || c->connect_ev == NULL ||
        c->timeout_ev == NULL || c->notify_ev == NULL ||
        c->flush_ev == NULL) {
        conn_destroy(c);
        return SG_ENOMEM;
    }
    start_connect(c);
    *out = c;
    return 0;
}

int sg_conn_new_like(const sg_conn *like, const char *name,
                     sg_conn_state_fn *on_state, void *ud, sg_conn **out)
{
    sg_conn_opts o;

    sg_conn_opts_init(&o);
    o.host = like->host;
    o.port = like->port;
    o.name = name;
    o.connect_timeout_ms = like->connect_timeout_ms;
    o.command_timeout_ms = like->command_timeout_ms;
    o.backoff_min_ms = like->backoff_min_ms;
    o.backoff_max_ms = like->backoff_max_ms;
    o.log = like->log;
    o.mem = like->mem;
    o.on_state = on_state;
    o.ud = ud;
    o.sent_total = like->sent_total;
    return sg_conn_new(like->base, &o, out);
}

/* Frees everything; the caller has made sure no teardown is running. */
static void conn_destroy(sg_conn *c)
{
    redisAsyncContext *ac = c->ac;
    size_t i;

    c->freeing = 1;
    c->ac = NULL;
    if (c->retry_ev != NULL)
        event_free(c->retry_ev);
    if (c->connect_ev != NULL)
        event_free(c->connect_ev);
    if (c->timeout_ev != NULL)
        event_free(c->timeout_ev);
    if (c->notify_ev != NULL)
        event_free(c->notify_ev);
    if (c->flush_ev != NULL)
        event_free(c->flush_ev);
    c->retry_ev = c->connect_ev = c->timeout_ev = c->notify_ev = NULL;
    c->flush_ev = NULL;
    /*
     * Tell every waiting caller now, and leave the records to hiredis,
     * which hands each back to on_reply() (at once, or after the callback
     * it is running returns) to be freed.
     */
    while (c->head != NULL) {
        sg__cmd *cmd = c->head;

        list_unlink(c, cmd);
        cmd->conn = NULL;
        if (cmd->fn != NULL)
            cmd->fn(c, SG_ECLOSED, NULL, cmd->ud);
    }
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    for (i = 0; i < c->nscripts; i++)
        mem_free(c->mem, (void *)(uintptr_t)c->scripts[i].s.name);
    mem_free(c->mem, c->scripts);
    sg_buf_destroy(&c->out);
    mem_free(c->mem, c);
}

void sg_conn_free(sg_conn *c)
{
    if (c == NULL || c->freeing)
        return;
    if (c->depth > 0) {
        /* Inside teardown(): it finishes the job when hiredis is done. */
        c->free_requested = 1;
        c->freeing = 1;
        return;
    }
    conn_destroy(c);
}

int sg_conn_is_up(const sg_conn *c)
{
    return c->up;
}

uint64_t sg_conn_commands_sent(const sg_conn *c)
{
    return c->sent;
}

const char *sg_conn_address(const sg_conn *c)
{
    return c->addr;
}

struct event_base *sg_conn_base(const sg_conn *c)
{
    return c->base;
}

const sg_log *sg_conn_log(const sg_conn *c)
{
    return c->log;
}

const sg_mem *sg_conn_mem(const sg_conn *c)
{
    return c->mem;
}

int sg_conn_command_timeout(sg_conn *c, int timeout_ms, sg_reply_fn *fn,
                            void *ud, int argc, const char *const *argv,
                            const size_t *argvlen)
{
    sg__cmd *cmd;
    int rc;

    if (argc < 1 || timeout_ms <= 0)
        return SG_EINVAL;
    if (c->freeing || c->ac == NULL)
        return SG_ECLOSED;
    cmd = cmd_new(c, fn, ud, timeout_ms, 0);
    if (cmd == NULL)
        return SG_ENOMEM;
    /* hiredis takes char ** but only reads the arguments. */
    rc = write_cmd(c, cmd, argc, (const char **)(uintptr_t)argv, argvlen);
    if (rc != 0)
        mem_free(c->mem, cmd);
    return rc;
}

int sg_conn_command(sg_conn *c, sg_reply_fn *fn, void *ud, int argc,
                    const char *const *argv, const size_t *argvlen)
{
    return sg_conn_command_timeout(c, c->command_timeout_ms, fn, ud, argc,
                                   argv, argvlen);
}

void sg_script_init(sg_script *s, const char *name, const char *body)
{
    s->name = name;
    s->body = body;
    s->body_len = strlen(body);
}

/*
 * The index of the connection's own copy of s (name and body included),
 * made on first sight: it is loaded again at each connect, and EVAL sends
 * its body, so the caller's script need not outlive the call. A script is
 * known by its body. -1 when out of memory.
 */
static long remember_script(sg_conn *c, const sg_script *s)
{
    size_t i, nlen = strlen(s->name);
    conn_script *d;
    char *copy;

    for (i = 0; i < c->nscripts; i++)
        if (c->scripts[i].s.body_len == s->body_len &&
            memcmp(c->scripts[i].s.body, s->body, s->body_len) == 0)
            return (long)i;
    if (c->nscripts == c->capscripts) {
        size_t cap = c->capscripts ? c->capscripts * 2 : 8;
        conn_script *grown = c->mem->realloc(c->scripts, cap * sizeof *grown,
                                             c->mem->ud);

        if (grown == NULL)
            return -1;
        c->scripts = grown;
        c->capscripts = cap;
    }
    copy = mem_alloc(c->mem, nlen + 1 + s->body_len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s->name, nlen + 1);
    memcpy(copy + nlen + 1, s->body, s->body_len);
    copy[nlen + 1 + s->body_len] = '\0';
    d = &c->scripts[c->nscripts];
    memset(d, 0, sizeof *d);
    d->s.name = copy;
    d->s.body = copy + nlen + 1;
    d->s.body_len = s->body_len;
    return (long)c->nscripts++;
}

int sg_conn_eval(sg_conn *c, const sg_script *s, sg_reply_fn *fn, void *ud,
                 int nkeys, int nargs, const char *const *args,
                 const size_t *lens)
{
    conn_script *own;
    size_t extra, bytes = 0;
    sg__cmd *cmd;
    char *p;
    long at;
    int i, rc;

    if (nkeys < 0 || nargs < nkeys)
        return SG_EINVAL;
    if (c->freeing || c->ac == NULL)
        return SG_ECLOSED;
    for (i = 0; i < nargs; i++)
        bytes += lens != NULL ? lens[i] : strlen(args[i]);
    /* The arguments are kept, in the record itself, for an EVAL fallback. */
    extra = (size_t)nargs * (sizeof(const char *) + sizeof(size_t)) + bytes;
    cmd = cmd_new(c, fn, ud, c->command_timeout_ms, extra);
    if (cmd == NULL)
        return SG_ENOMEM;
    cmd->has_script = 1;
    cmd->nkeys = nkeys;
    cmd->nargs = nargs;
    cmd->args = (const char **)(void *)(cmd + 1);
    cmd->lens = (size_t *)(void *)(cmd->args + nargs);
    p = (char *)(cmd->lens + nargs);
    for (i = 0; i < nargs; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(args[i]);

        if (n > 0)
            memcpy(p, args[i], n);
        cmd->args[i] = p;
        cmd->lens[i] = n;
        p += n;
    }
    at = remember_script(c, s);
    if (at < 0) {
        mem_free(c->mem, cmd);
        return SG_ENOMEM;
    }
    own = &c->scripts[at];
    cmd->script = own->s;
    memcpy(cmd->sha, own->sha, sizeof cmd->sha);
    if (own->sha[0] == '\0') {
        /*
         * The digest is the server's to compute: until a SCRIPT LOAD has
         * told us, the call goes as EVAL (which cannot meet NOSCRIPT).
         */
        cmd->fell_back = 1;
        if (!own->loading)
            send_script_load(c, (size_t)at);
        rc = write_script(c, cmd, 1);
    } else {
        rc = write_script(c, cmd, 0);
    }
    if (rc != 0)
        mem_free(c->mem, cmd);
    return rc;
}
