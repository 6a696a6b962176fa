/*
 * Supervised background tasks under the leader lease (sg/supervisor.h).
 *
 * Each task is in one of three states while the supervisor leads: running,
 * waiting for its restart timer, or (briefly, inside a callback) neither.
 * Losing the lease cancels runs and timers alike, and resets the backoff:
 * a new leadership starts every task afresh.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/supervisor.h"

#include "clock.h"
#include "sg/error.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define DEFAULT_LEADER_KEY "sg:leader:supervisor"
#define DEFAULT_BACKOFF_MIN_MS 1000
#define DEFAULT_BACKOFF_MAX_MS 60000
#define DEFAULT_PAUSE_MS 5000

typedef struct stask stask;

struct stask {
    stask *next;
    sg_supervisor *sup;
    sg_task_def def;
    char *name;
    int running;
    unsigned runs;
    int backoff_ms;
    struct event *restart_ev;
};

struct sg_supervisor {
    struct event_base *base;
    const sg_mem *mem;
    const sg_log *log;
    sg_lease *lease;            /* NULL: alone */
    int backoff_min_ms;
    int backoff_max_ms;
    int pause_ms;
    void (*on_leader)(sg_supervisor *sup, int leader, void *ud);
    void *ud;
    int started;
    int active;                 /* leading: tasks should run */
    stask *tasks;
};

static void run(stask *t);

/* ---- runs ---------------------------------------------------------------- */

static void after(stask *t, int delay_ms)
{
    struct timeval tv;

    /* From the real end of the run, not from when the loop woke. */
    event_base_update_cache_time(t->sup->base);
    sg__ms_to_tv((uint64_t)delay_ms, &tv);
    evtimer_add(t->restart_ev, &tv);
}

static void on_done(void *token, int status)
{
    stask *t = token;
    sg_supervisor *sup = t->sup;

    if (!t->running) {
        /* A run that was cancelled must not end again; ignore it. */
        sg_logf(sup->log, SG_LOG_WARN,
                "supervised task %s ended after it was cancelled", t->name);
        return;
    }
    t->running = 0;
    if (!sup->active)
        return;
    if (status == 0) {
        sg_logf(sup->log, SG_LOG_INFO,
                "supervised task %s returned; restarting in %d ms", t->name,
                sup->pause_ms);
        t->backoff_ms = sup->backoff_min_ms;
        after(t, sup->pause_ms);
    } else {
        sg_logf(sup->log, SG_LOG_ERROR,
                "supervised task %s failed (%d); restarting in %d ms",
                t->name, status, t->backoff_ms);
        after(t, t->backoff_ms);
        t->backoff_ms = t->backoff_ms > sup->backoff_max_ms / 2
                            ? sup->backoff_max_ms
                            : t->backoff_ms * 2;
    }
}

static void run(stask *t)
{
    unsigned id;
    int rc;

    if (t->running || !t->sup->active)
        return;
    evtimer_del(t->restart_ev);
    t->running = 1;
    id = ++t->runs;
    sg_logf(t->sup->log, SG_LOG_DEBUG, "supervised task %s: run %u",
            t->name, id);
    rc = t->def.start(t->def.ud, on_done, t);
    /* A start that failed without ending its run counts as a failure. */
    if (rc != 0 && t->running && t->runs == id)
        on_done(t, rc);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run(arg);
}

static void activate(sg_supervisor *sup)
{
    stask *t;

    if (sup->active)
        return;
    sup->active = 1;
    sg_logf(sup->log, SG_LOG_INFO, "supervisor leads: starting its tasks");
    for (t = sup->tasks; t != NULL; t = t->next) {
        t->backoff_ms = sup->backoff_min_ms;
        run(t);
    }
}

static void deactivate(sg_supervisor *sup)
{
    stask *t;

    if (!sup->active)
        return;
    sup->active = 0;
    for (t = sup->tasks; t != NULL; t = t->next) {
        evtimer_del(t->restart_ev);
        t->backoff_ms = sup->backoff_min_ms;
        if (t->running) {
            t->running = 0;
            t->def.cancel(t->def.ud);
        }
    }
    sg_logf(sup->log, SG_LOG_INFO, "supervisor stopped its tasks");
}

static void on_lease(sg_lease *lease, int held, void *ud)
{
    sg_supervisor *sup = ud;

    (void)lease;
    if (held)
        activate(sup);
    else
        deactivate(sup);
    if (sup->on_leader != NULL)
        sup->on_leader(sup, held, sup->ud);
}

/* ---- public -------------------------------------------------------------- */

void sg_supervisor_opts_init(sg_supervisor_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_supervisor_new(struct event_base *base, sg_conn *conn,
                      const sg_supervisor_opts *opts, sg_supervisor **out)
{
    const sg_mem *mem = conn != NULL ? sg_conn_mem(conn) : sg_mem_default();
    sg_supervisor *sup;
    int rc;

    *out = NULL;
    if (base == NULL || opts == NULL || opts->backoff_min_ms < 0 ||
        opts->backoff_max_ms < 0 || opts->pause_ms < 0 ||
        (conn != NULL &&
         (opts->node_id == NULL || opts->node_id[0] == '\0')))
        return SG_EINVAL;
    sup = mem->malloc(sizeof *sup, mem->ud);
    if (sup == NULL)
        return SG_ENOMEM;
    memset(sup, 0, sizeof *sup);
    sup->base = base;
    sup->mem = mem;
    sup->log = opts->log != NULL ? opts->log
               : conn != NULL    ? sg_conn_log(conn)
                                 : NULL;
    sup->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms
                                                   : DEFAULT_BACKOFF_MIN_MS;
    sup->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms
                                                   : DEFAULT_BACKOFF_MAX_MS;
    if (sup->backoff_max_ms < sup->backoff_min_ms)
        sup->backoff_max_ms = sup->backoff_min_ms;
    sup->pause_ms = opts->pause_ms > 0 ? opts->pause_ms : DEFAULT_PAUSE_MS;
    sup->on_leader = opts->on_leader;
    sup->ud = opts->ud;
    if (conn != NULL) {
        sg_lease_opts lo;

        sg_lease_opts_init(&lo);
        lo.key = opts->leader_key != NULL ? opts->leader_key
                                          : DEFAULT_LEADER_KEY;
        lo.holder = opts->node_id;
        lo.ttl_ms = opts->lease_ttl_ms;
        lo.renew_ms = opts->heartbeat_ms;
        lo.on_change = on_lease;
        lo.ud = sup;
        lo.log = sup->log;
        rc = sg_lease_new(conn, &lo, &sup->lease);
        if (rc != 0) {
            mem->free(sup, mem->ud);
            return rc;
        }
    }
    *out = sup;
    return 0;
}

int sg_supervisor_add(sg_supervisor *sup, const sg_task_def *def)
{
    stask *t, **tail;
    size_t n;

    if (def == NULL || def->name == NULL || def->start == NULL ||
        def->cancel == NULL)
        return SG_EINVAL;
    t = sup->mem->malloc(sizeof *t, sup->mem->ud);
    if (t == NULL)
        return SG_ENOMEM;
    memset(t, 0, sizeof *t);
    n = strlen(def->name) + 1;
    t->name = sup->mem->malloc(n, sup->mem->ud);
    t->restart_ev = evtimer_new(sup->base, on_restart, t);
    if (t->name == NULL || t->restart_ev == NULL) {
        if (t->restart_ev != NULL)
            event_free(t->restart_ev);
        sup->mem->free(t->name, sup->mem->ud);
        sup->mem->free(t, sup->mem->ud);
        return SG_ENOMEM;
    }
    memcpy(t->name, def->name, n);
    t->sup = sup;
    t->def = *def;
    t->def.name = t->name;
    t->backoff_ms = sup->backoff_min_ms;
    for (tail = &sup->tasks; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = t;
    run(t);
    return 0;
}

int sg_supervisor_start(sg_supervisor *sup)
{
    if (sup->started)
        return SG_EINVAL;
    sup->started = 1;
    if (sup->lease == NULL) {
        activate(sup);
        if (sup->on_leader != NULL)
            sup->on_leader(sup, 1, sup->ud);
        return 0;
    }
    return sg_lease_start(sup->lease);
}

int sg_supervisor_stop(sg_supervisor *sup)
{
    if (!sup->started)
        return 0;
    sup->started = 0;
    if (sup->lease != NULL) {
        /* Runs on_lease(0), which cancels the tasks, if it was held. */
        sg_lease_release(sup->lease, NULL, NULL);
    }
    if (sup->active) {
        deactivate(sup);
        if (sup->on_leader != NULL)
            sup->on_leader(sup, 0, sup->ud);
    }
    return 0;
}

void sg_supervisor_free(sg_supervisor *sup)
{
    stask *t;

    if (sup == NULL)
        return;
    /* Without calling back: the caller is tearing down. */
    sup->on_leader = NULL;
    sg_supervisor_stop(sup);
    sg_lease_free(sup->lease);
    while ((t = sup->tasks) != NULL) {
        sup->tasks = t->next;
        event_free(t->restart_ev);
        sup->mem->free(t->name, sup->mem->ud);
        sup->mem->free(t, sup->mem->ud);
    }
    sup->mem->free(sup, sup->mem->ud);
}

int sg_supervisor_is_leader(const sg_supervisor *sup)
{
    return sup->active;
}

sg_lease *sg_supervisor_lease(sg_supervisor *sup)
{
    return sup->lease;
}

static const stask *find(const sg_supervisor *sup, const char *name)
{
    const stask *t;

    for (t = sup->tasks; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

unsigned sg_supervisor_runs(const sg_supervisor *sup, const char *name)
{
    const stask *t = find(sup, name);

    return t != NULL ? t->runs : 0;
}

int sg_supervisor_running(const sg_supervisor *sup, const char *name)
{
    const stask *t = find(sup, name);

    return t != NULL && t->running;
}
