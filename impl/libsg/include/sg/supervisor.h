/*
 * sg/supervisor.h: long-running background tasks that run on one node of
 * the cluster at a time, under the leader lease (SPEC section 19).
 *
 * A supervisor holds a set of tasks and, while it leads, keeps each of
 * them running: it starts every task when it gains the leader lease and
 * cancels them all when it loses it (SG-LEASE-004). A task whose run fails
 * is started again after a delay that starts at 1 s and doubles with each
 * consecutive failure up to 60 s; a run that ends cleanly is followed by a
 * 5 s pause, and the delay goes back to 1 s (SG-LEASE-006). Every time is
 * an option, so that tests can run in milliseconds.
 *
 *     sg_supervisor_opts o;
 *     sg_supervisor_opts_init(&o);
 *     o.node_id = node_id; o.leader_key = topo.leader_key;
 *     sg_supervisor *sup;
 *     sg_supervisor_new(base, conn, &o, &sup);
 *     sg_supervisor_add(sup, &dedup_task);
 *     sg_supervisor_start(sup);
 *
 * With conn NULL the supervisor runs alone, as the permanent leader, as
 * the seed's supervisor does without Redis.
 *
 * A task is asynchronous: start() begins a run on the caller's loop and
 * returns; the run ends by calling done() once. cancel() ends a run at
 * once, and after it returns the run must not call done(). A task that
 * does destructive or cluster-wide work asks sg_lease_check() on
 * sg_supervisor_lease() first (SG-LEASE-005).
 */
#ifndef SG_SUPERVISOR_H
#define SG_SUPERVISOR_H

#include "sg/conn.h"
#include "sg/lease.h"
#include "sg/log.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct sg_supervisor sg_supervisor;

/*
 * Ends a run: status 0 for a clean return, negative for a failure. token
 * is the one start() was given. May be called from inside start().
 */
typedef void sg_task_done_fn(void *token, int status);

/* A supervised task. Copied by sg_supervisor_add(); name is copied too. */
typedef struct sg_task_def {
    const char *name;
    /*
     * Begins a run. Returns 0, after which done(token, status) will be
     * called once unless cancel() comes first; or a negative code, which
     * counts as a failed run (done must then not be called).
     */
    int (*start)(void *ud, sg_task_done_fn *done, void *token);
    /* Ends the current run at once; done must not be called after it. */
    void (*cancel)(void *ud);
    void *ud;
} sg_task_def;

typedef struct sg_supervisor_opts {
    const char *node_id;        /* required with a connection; copied */
    const char *leader_key;     /* NULL: "sg:leader:supervisor" */
    int lease_ttl_ms;           /* 0: 30000 (SG-LEASE-003) */
    int heartbeat_ms;           /* 0: 10000 (SG-LEASE-003) */
    int backoff_min_ms;         /* 0: 1000 */
    int backoff_max_ms;         /* 0: 60000 */
    int pause_ms;               /* after a clean return; 0: 5000 */
    /* Told after every change of leadership, after the tasks were
       started or stopped. NULL: none. */
    void (*on_leader)(sg_supervisor *sup, int leader, void *ud);
    void *ud;
    const sg_log *log;          /* NULL: the connection's, or stderr */
} sg_supervisor_opts;

/* Every field zero or NULL. */
void sg_supervisor_opts_init(sg_supervisor_opts *opts);

/*
 * Creates a supervisor on base; with conn (which must outlive it), under
 * the leader lease on opts->leader_key, else alone. 0 and *out, or
 * SG_EINVAL / SG_ENOMEM.
 */
int sg_supervisor_new(struct event_base *base, sg_conn *conn,
                      const sg_supervisor_opts *opts, sg_supervisor **out);

/*
 * Adds a task; a task added while leading starts at once. 0, SG_EINVAL
 * (no name, start or cancel) or SG_ENOMEM.
 */
int sg_supervisor_add(sg_supervisor *sup, const sg_task_def *def);

/*
 * Starts: without a connection the tasks start now; with one, the lease
 * heartbeat starts and the tasks follow the lease. 0 or SG_EINVAL (already
 * started).
 */
int sg_supervisor_start(sg_supervisor *sup);

/*
 * Stops: cancels every run and pending restart, and gives the lease back
 * (SG-LEASE-007). The supervisor may be started again. Returns 0.
 */
int sg_supervisor_stop(sg_supervisor *sup);

/*
 * Stops if needed and frees. The lease's compare-and-delete is queued on
 * the connection (see sg_lease_free()). NULL is a no-op.
 */
void sg_supervisor_free(sg_supervisor *sup);

/* Nonzero while this node leads (always, once started, without Redis). */
int sg_supervisor_is_leader(const sg_supervisor *sup);

/* The leader lease, for sg_lease_check(); NULL without a connection. */
sg_lease *sg_supervisor_lease(sg_supervisor *sup);

/* Per task, by name: runs started so far, and whether one is running. */
unsigned sg_supervisor_runs(const sg_supervisor *sup, const char *name);
int sg_supervisor_running(const sg_supervisor *sup, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SG_SUPERVISOR_H */
