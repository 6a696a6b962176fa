/*
 * Leases on a Redis key (sg/lease.h): SET NX PX to take, compare-and-expire
 * to renew, GET to check, compare-and-delete to give back.
 *
 * Every command is an op record on the lease's list until its reply comes
 * back. At most one heartbeat op (SET or renewal) is out at a time, so the
 * two can never cross. A freed lease that still has ops out stays
 * allocated, marked dead, until the last one comes back (a connection
 * calls back once per command, at the latest when it is freed): that way
 * a SET that succeeds after sg_lease_free() can still be undone.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/lease.h"

#include "clock.h"
#include "lease_scripts.h"
#include "sg/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define DEFAULT_TTL_MS 30000
#define DEFAULT_RENEW_MS 10000
#define STATUS_TTL_MIN_MS 60000

enum op_kind { OP_SET, OP_RENEW, OP_CHECK, OP_RELEASE };

typedef struct op op;

struct op {
    op *prev;
    op *next;
    sg_lease *l;
    enum op_kind kind;
    uint64_t sent_ms;
    sg_lease_check_fn *check_fn;
    sg_lease_done_fn *done_fn;
    void *ud;
};

struct sg_lease {
    sg_conn *conn;
    const sg_mem *mem;
    const sg_log *log;
    char *key;
    char *holder;
    int ttl_ms;
    int renew_ms;
    sg_lease_change_fn *on_change;
    void *ud;

    int started;
    int held;
    int dead;                   /* freed by the caller; ops still out */
    int beat_out;               /* a SET or renewal is out */
    struct event *beat_ev;
    struct event *valid_ev;
    op *ops;
};

static void send_release(sg_lease *l, sg_lease_done_fn *fn, void *ud);

static char *dup_str(const sg_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mem->malloc(n, mem->ud);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void destroy(sg_lease *l)
{
    if (l->beat_ev != NULL)
        event_free(l->beat_ev);
    if (l->valid_ev != NULL)
        event_free(l->valid_ev);
    l->mem->free(l->key, l->mem->ud);
    l->mem->free(l->holder, l->mem->ud);
    l->mem->free(l, l->mem->ud);
}

/* ---- ops ----------------------------------------------------------------- */

static op *op_new(sg_lease *l, enum op_kind kind)
{
    op *o = l->mem->malloc(sizeof *o, l->mem->ud);

    if (o == NULL)
        return NULL;
    memset(o, 0, sizeof *o);
    o->l = l;
    o->kind = kind;
    o->sent_ms = sg__mono_ms();
    return o;
}

static void op_link(sg_lease *l, op *o)
{
    o->prev = NULL;
    o->next = l->ops;
    if (l->ops != NULL)
        l->ops->prev = o;
    l->ops = o;
}

/* Unlinks and frees o; frees a dead lease that has nothing out any more. */
static void op_done(op *o)
{
    sg_lease *l = o->l;

    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        l->ops = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    l->mem->free(o, l->mem->ud);
    if (l->dead && l->ops == NULL)
        destroy(l);
}

/* ---- state --------------------------------------------------------------- */

static void arm_validity(sg_lease *l, uint64_t sent_ms)
{
    uint64_t until = sent_ms + (uint64_t)l->ttl_ms, now = sg__mono_ms();
    struct timeval tv;

    sg__ms_to_tv(until > now ? until - now : 0, &tv);
    evtimer_add(l->valid_ev, &tv);
}

static void gain(sg_lease *l, uint64_t sent_ms)
{
    arm_validity(l, sent_ms);
    if (l->held)
        return;
    l->held = 1;
    sg_logf(l->log, SG_LOG_INFO, "lease %s taken by %s", l->key, l->holder);
    if (l->on_change != NULL)
        l->on_change(l, 1, l->ud);
}

static void lose(sg_lease *l, const char *why)
{
    evtimer_del(l->valid_ev);
    if (!l->held)
        return;
    l->held = 0;
    sg_logf(l->log, SG_LOG_WARN, "lease %s lost by %s: %s", l->key,
            l->holder, why);
    if (l->on_change != NULL)
        l->on_change(l, 0, l->ud);
}

static void on_validity(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lose(arg, "no renewal confirmed within the TTL");
}

/*
 * A heartbeat op's reply. A SET or renewal that succeeded after the lease
 * was stopped or freed is undone at once.
 */
static void on_beat(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    op *o = ud;
    sg_lease *l = o->l;
    int ok;

    (void)conn;
    l->beat_out = 0;
    if (status != 0) {
        if (status == SG_EREDIS)
            sg_logf(l->log, SG_LOG_WARN, "lease %s: %s", l->key,
                    sg_reply_str(reply, NULL));
        /* The validity timer ends the lease if this goes on. */
        op_done(o);
        return;
    }
    if (o->kind == OP_SET)
        ok = sg_reply_kind(reply) == SG_REPLY_STATUS;   /* OK; else nil */
    else
        ok = sg_reply_integer(reply) == 1;
    if (ok && (l->dead || !l->started)) {
        send_release(l, NULL, NULL);
    } else if (ok) {
        /*
         * A renewal that comes back after the validity timer fired still
         * proves the key is ours from the moment it was sent.
         */
        if (sg__mono_ms() < o->sent_ms + (uint64_t)l->ttl_ms)
            gain(l, o->sent_ms);
    } else if (o->kind == OP_RENEW && !l->dead) {
        lose(l, "the key no longer holds this node's id");
    }
    op_done(o);
}

static void beat(sg_lease *l)
{
    char ttl[16];
    op *o;
    int rc;

    if (l->beat_out || !l->started || l->dead)
        return;
    if (snprintf(ttl, sizeof ttl, "%d", l->ttl_ms) < 0)
        return;
    o = op_new(l, l->held ? OP_RENEW : OP_SET);
    if (o == NULL)
        return;
    if (o->kind == OP_RENEW) {
        const char *args[3] = {l->key, l->holder, ttl};

        rc = sg_conn_eval(l->conn, &sg__script_cas_expire, on_beat, o, 1, 3,
                          args, NULL);
    } else {
        const char *argv[6] = {"SET", l->key, l->holder, "NX", "PX", ttl};

        rc = sg_conn_command(l->conn, on_beat, o, 6, argv, NULL);
    }
    if (rc != 0) {
        l->mem->free(o, l->mem->ud);
        return;
    }
    op_link(l, o);
    l->beat_out = 1;
}

static void on_beat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    beat(arg);
}

/* ---- check and release --------------------------------------------------- */

static void on_check(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    op *o = ud;
    sg_lease *l = o->l;
    sg_lease_check_fn *fn = o->check_fn;
    size_t len;
    const char *v;
    int mine;

    (void)conn;
    if (fn == NULL || l->dead) {
        op_done(o);
        return;
    }
    o->check_fn = NULL;
    if (status != 0) {
        fn(l, status, 0, o->ud);
        op_done(o);
        return;
    }
    v = sg_reply_str(reply, &len);
    mine = v != NULL && len == strlen(l->holder) &&
           memcmp(v, l->holder, len) == 0;
    if (!mine)
        lose(l, "a check found another id or no key");
    fn(l, 0, mine && l->held, o->ud);
    op_done(o);
}

static void on_release(sg_conn *conn, int status, const sg_reply *reply,
                       void *ud)
{
    op *o = ud;
    sg_lease *l = o->l;
    sg_lease_done_fn *fn = o->done_fn;

    (void)conn;
    (void)reply;
    o->done_fn = NULL;
    if (fn != NULL && !l->dead)
        fn(l, status, o->ud);
    op_done(o);
}

static int send_release_op(sg_lease *l, op *o)
{
    const char *args[2] = {l->key, l->holder};
    int rc;

    rc = sg_conn_eval(l->conn, &sg__script_cas_delete, on_release, o, 1, 2,
                      args, NULL);
    if (rc != 0) {
        l->mem->free(o, l->mem->ud);
        return rc;
    }
    op_link(l, o);
    return 0;
}

/* Fire and forget: for a SET that won after the lease was stopped. */
static void send_release(sg_lease *l, sg_lease_done_fn *fn, void *ud)
{
    op *o = op_new(l, OP_RELEASE);

    if (o == NULL)
        return;
    o->done_fn = fn;
    o->ud = ud;
    if (send_release_op(l, o) != 0)
        sg_logf(l->log, SG_LOG_WARN,
                "lease %s: cannot give it back now; it expires by itself",
                l->key);
}

/* ---- public -------------------------------------------------------------- */

void sg_lease_opts_init(sg_lease_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_lease_status_ttl_ms(int status_interval_ms)
{
    long long ttl = 3LL * (status_interval_ms > 0 ? status_interval_ms : 0);

    if (ttl < STATUS_TTL_MIN_MS)
        ttl = STATUS_TTL_MIN_MS;
    return ttl > INT_MAX ? INT_MAX : (int)ttl;
}

int sg_lease_new(sg_conn *conn, const sg_lease_opts *opts, sg_lease **out)
{
    const sg_mem *mem;
    sg_lease *l;
    int ttl, renew;

    *out = NULL;
    if (conn == NULL || opts == NULL || opts->key == NULL ||
        opts->key[0] == '\0' || opts->holder == NULL ||
        opts->holder[0] == '\0' || opts->ttl_ms < 0 || opts->renew_ms < 0)
        return SG_EINVAL;
    ttl = opts->ttl_ms > 0 ? opts->ttl_ms : DEFAULT_TTL_MS;
    renew = opts->renew_ms > 0 ? opts->renew_ms : DEFAULT_RENEW_MS;
    if (renew >= ttl)
        return SG_EINVAL;
    mem = sg_conn_mem(conn);
    l = mem->malloc(sizeof *l, mem->ud);
    if (l == NULL)
        return SG_ENOMEM;
    memset(l, 0, sizeof *l);
    l->conn = conn;
    l->mem = mem;
    l->log = opts->log != NULL ? opts->log : sg_conn_log(conn);
    l->ttl_ms = ttl;
    l->renew_ms = renew;
    l->on_change = opts->on_change;
    l->ud = opts->ud;
    l->key = dup_str(mem, opts->key);
    l->holder = dup_str(mem, opts->holder);
    l->beat_ev = event_new(sg_conn_base(conn), -1, EV_PERSIST,
                           on_beat_timer, l);
    l->valid_ev = evtimer_new(sg_conn_base(conn), on_validity, l);
    if (l->key == NULL || l->holder == NULL || l->beat_ev == NULL ||
        l->valid_ev == NULL) {
        destroy(l);
        return SG_ENOMEM;
    }
    *out = l;
    return 0;
}

int sg_lease_start(sg_lease *l)
{
    struct timeval tv;

    if (l->started)
        return SG_EINVAL;
    l->started = 1;
    sg__ms_to_tv((uint64_t)l->renew_ms, &tv);
    event_add(l->beat_ev, &tv);
    beat(l);
    return 0;
}

int sg_lease_held(const sg_lease *l)
{
    return l->held;
}

int sg_lease_check(sg_lease *l, sg_lease_check_fn *fn, void *ud)
{
    const char *argv[2] = {"GET", l->key};
    op *o;
    int rc;

    if (fn == NULL)
        return SG_EINVAL;
    o = op_new(l, OP_CHECK);
    if (o == NULL)
        return SG_ENOMEM;
    o->check_fn = fn;
    o->ud = ud;
    rc = sg_conn_command(l->conn, on_check, o, 2, argv, NULL);
    if (rc != 0) {
        l->mem->free(o, l->mem->ud);
        return rc;
    }
    op_link(l, o);
    return 0;
}

int sg_lease_release(sg_lease *l, sg_lease_done_fn *fn, void *ud)
{
    op *o;

    l->started = 0;
    event_del(l->beat_ev);
    lose(l, "released");
    o = op_new(l, OP_RELEASE);
    if (o == NULL)
        return SG_ENOMEM;
    o->done_fn = fn;
    o->ud = ud;
    return send_release_op(l, o);
}

void sg_lease_free(sg_lease *l)
{
    op *o;

    if (l == NULL)
        return;
    l->started = 0;
    event_del(l->beat_ev);
    evtimer_del(l->valid_ev);
    if (l->held) {
        l->held = 0;
        send_release(l, NULL, NULL);
    }
    l->dead = 1;
    for (o = l->ops; o != NULL; o = o->next) {
        if (o->check_fn != NULL) {
            sg_lease_check_fn *fn = o->check_fn;

            o->check_fn = NULL;
            fn(l, SG_ECLOSED, 0, o->ud);
        }
        if (o->done_fn != NULL) {
            sg_lease_done_fn *fn = o->done_fn;

            o->done_fn = NULL;
            fn(l, SG_ECLOSED, o->ud);
        }
    }
    if (l->ops == NULL)
        destroy(l);
}

const char *sg_lease_key(const sg_lease *l)
{
    return l->key;
}

const char *sg_lease_holder(const sg_lease *l)
{
    return l->holder;
}
