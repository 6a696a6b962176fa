/*
 * Leases (sg/lease.h) and the supervisor under its leader lease
 * (sg/supervisor.h) against a real redis-server.
 *
 * Two nodes live in this one process, each with its own event loop and
 * connection. Not running a node's loop freezes it, as a stopped or
 * partitioned process would be: its renewals stop, while the other node
 * goes on. A node's loop runs "in the background" of the other's wait by
 * a condition function that polls it without blocking.
 *
 * Spec IDs: SG-LEASE-001 (status lease taken with SET NX), SG-LEASE-002
 * (a renewal cannot extend another holder's lease), SG-LEASE-003 (leader
 * key holds the node id, renewed by compare-and-expire), SG-LEASE-004
 * (tasks start on gain and stop on loss, within one heartbeat),
 * SG-LEASE-005 (the check before destructive work fails after loss),
 * SG-LEASE-007 (release by compare-and-delete: takeover within one
 * heartbeat), SG-LEASE-008 (a frozen leader gives up before acting).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/conn.h"
#include "sg/lease.h"
#include "sg/supervisor.h"
#include "sgt_loop.h"
#include "sgt_runtime.h"

#define KEY "sg:leader:supervisor"
#define TTL_MS 1000
#define BEAT_MS 100
/*
 * Timers may fire late on a loaded machine or under Valgrind, never
 * early: upper bounds on takeover times carry this slack.
 */
#define SLACK_MS 1000

/* A supervised task that runs until it is cancelled. */
typedef struct job {
    int running;
    int starts;
    int cancels;
} job;

typedef struct node {
    struct event_base *base;
    sg_conn *conn;
    sg_supervisor *sup;
    job job;
    int leader_changes;
    /* The last sg_lease_check() answer. */
    int checked;
    int check_status;
    int check_held;
} node;

typedef struct world {
    sgt_runtime rt;             /* server, log; its loop for lease tests */
    node a;
    node b;
    node *background;           /* polled while waiting on the other */
} world;

static int job_start(void *ud, sg_task_done_fn *done, void *token)
{
    job *j = ud;

    (void)done;
    (void)token;
    j->running = 1;
    j->starts++;
    return 0;
}

static void job_cancel(void *ud)
{
    job *j = ud;

    j->running = 0;
    j->cancels++;
}

static void on_leader(sg_supervisor *sup, int leader, void *ud)
{
    node *n = ud;

    (void)sup;
    (void)leader;
    n->leader_changes++;
}

/*
 * A node's loop and connection are its own, not w->rt's: each must be
 * frozen on its own while the other runs.
 */
static void node_init(world *w, node *n, const char *id)
{
    sg_conn_opts o;
    sg_supervisor_opts so;
    sg_task_def def;

    n->base = event_base_new();
    assert_non_null(n->base);
    sg_conn_opts_init(&o);
    o.host = w->rt.redis.host;
    o.port = w->rt.redis.port;
    o.name = id;
    o.log = &w->rt.log;
    assert_int_equal(sg_conn_new(n->base, &o, &n->conn), 0);
    sg_supervisor_opts_init(&so);
    so.node_id = id;
    so.lease_ttl_ms = TTL_MS;
    so.heartbeat_ms = BEAT_MS;
    so.on_leader = on_leader;
    so.ud = n;
    assert_int_equal(sg_supervisor_new(n->base, n->conn, &so, &n->sup), 0);
    memset(&def, 0, sizeof def);
    def.name = "dedup";
    def.start = job_start;
    def.cancel = job_cancel;
    def.ud = &n->job;
    assert_int_equal(sg_supervisor_add(n->sup, &def), 0);
}

static void node_destroy(node *n)
{
    sg_supervisor_free(n->sup);
    /* Let the release reach Redis before the connection goes. */
    sgt_loop_for(n->base, 20);
    sg_conn_free(n->conn);
    event_base_free(n->base);
}

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sgt_runtime_stop(&w->rt);
    return 0;
}

/* Runs the background node's loop once without blocking. */
static void poll_background(world *w)
{
    if (w->background != NULL)
        event_base_loop(w->background->base, EVLOOP_NONBLOCK);
}

typedef struct wait_ctx {
    world *w;
    int (*cond)(world *w);
} wait_ctx;

static int wait_cond(void *arg)
{
    wait_ctx *c = arg;

    poll_background(c->w);
    return c->cond(c->w);
}

/* Runs n's loop (and the background one) until cond or the timeout. */
static int run_until(world *w, node *n, int (*cond)(world *w), int ms)
{
    wait_ctx c = {w, cond};

    return sgt_loop_until(n->base, wait_cond, &c, ms);
}

static int never(world *w)
{
    (void)w;
    return 0;
}

static int a_leads(world *w)
{
    return sg_supervisor_is_leader(w->a.sup) && w->a.job.running;
}

static int b_leads(world *w)
{
    return sg_supervisor_is_leader(w->b.sup) && w->b.job.running;
}

static int a_follows(world *w)
{
    return !sg_supervisor_is_leader(w->a.sup) && !w->a.job.running;
}

/* The key no longer holds node-b: deleted, or already taken by A. */
static int key_left_b(world *w)
{
    redisReply *r = redisCommand(w->rt.sync, "GET %s", KEY);
    int left;

    assert_non_null(r);
    left = r->type == REDIS_REPLY_NIL ||
           (r->type == REDIS_REPLY_STRING && strcmp(r->str, "node-b") != 0);
    freeReplyObject(r);
    return left;
}

static int a_checked(world *w)
{
    return w->a.checked;
}

static int b_checked(world *w)
{
    return w->b.checked;
}

static void on_check(sg_lease *lease, int status, int held, void *ud)
{
    node *n = ud;

    (void)lease;
    n->checked = 1;
    n->check_status = status;
    n->check_held = held;
}

static char *sync_get(world *w, const char *key)
{
    redisReply *r = redisCommand(w->rt.sync, "GET %s", key);
    char *v = NULL;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING) {
        v = malloc(r->len + 1);
        assert_non_null(v);
        memcpy(v, r->str, r->len + 1);
    }
    freeReplyObject(r);
    return v;
}

static void assert_key_holds(world *w, const char *key, const char *value)
{
    char *v = sync_get(w, key);

    if (value == NULL) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, value);
    free(v);
}

/* ---- tests --------------------------------------------------------------- */

static void test_sg_supervisor_leader_failover_between_two_nodes(
    void **state)
{
    world *w = *state;
    long long frozen_at, took_over, stopped_at;

    node_init(w, &w->a, "node-a");
    node_init(w, &w->b, "node-b");

    /* A takes the lease and starts its task; B, started later, follows. */
    assert_int_equal(sg_supervisor_start(w->a.sup), 0);
    assert_true(run_until(w, &w->a, a_leads, 3000));
    assert_key_holds(w, KEY, "node-a");
    assert_int_equal(sg_supervisor_start(w->b.sup), 0);
    w->background = &w->a;
    run_until(w, &w->b, never, 4 * BEAT_MS);
    assert_true(a_leads(w));
    assert_false(sg_supervisor_is_leader(w->b.sup));
    assert_int_equal(w->b.job.starts, 0);
    assert_int_equal(w->a.job.starts, 1);
    /* Renewed by compare-and-expire: the key never ran out. */
    assert_key_holds(w, KEY, "node-a");
    assert_true(sgt_int(&w->rt, "PTTL %s", KEY) > 0);

    /* A freezes: B takes over once the key expires, within TTL + beat. */
    w->background = NULL;
    frozen_at = sgt_now_ms();
    assert_true(run_until(w, &w->b, b_leads, TTL_MS + BEAT_MS + SLACK_MS));
    took_over = sgt_now_ms() - frozen_at;
    /* Not before A's last renewal ran out: about a TTL, not a beat. */
    assert_true(took_over >= TTL_MS / 2);
    assert_true(took_over <= TTL_MS + BEAT_MS + SLACK_MS);
    assert_key_holds(w, KEY, "node-b");
    assert_int_equal(w->b.job.starts, 1);

    /*
     * A wakes up: before it acts, it has given up the lead and cancelled
     * its task, and a check before destructive work says no.
     */
    w->background = &w->b;
    assert_true(run_until(w, &w->a, a_follows, BEAT_MS + SLACK_MS));
    assert_int_equal(w->a.job.cancels, 1);
    assert_int_equal(sg_lease_check(sg_supervisor_lease(w->a.sup), on_check,
                                    &w->a),
                     0);
    assert_true(run_until(w, &w->a, a_checked, 2000));
    assert_int_equal(w->a.check_status, 0);
    assert_int_equal(w->a.check_held, 0);
    assert_int_equal(sg_lease_check(sg_supervisor_lease(w->b.sup), on_check,
                                    &w->b),
                     0);
    w->background = &w->a;
    assert_true(run_until(w, &w->b, b_checked, 2000));
    assert_int_equal(w->b.check_status, 0);
    assert_int_equal(w->b.check_held, 1);
    assert_true(b_leads(w));

    /*
     * B stops and gives the lease back (compare-and-delete): the key goes
     * at once, though B renewed it less than a beat ago, and A leads after
     * its next heartbeat instead of after the TTL.
     */
    assert_int_equal(sg_supervisor_stop(w->b.sup), 0);
    assert_false(w->b.job.running);
    assert_int_equal(w->b.job.cancels, 1);
    stopped_at = sgt_now_ms();
    w->background = &w->a;
    assert_true(run_until(w, &w->b, key_left_b, 2000));
    w->background = &w->b;
    assert_true(run_until(w, &w->a, a_leads, 3000));
    assert_true(sgt_now_ms() - stopped_at < TTL_MS - BEAT_MS);
    assert_key_holds(w, KEY, "node-a");
    assert_int_equal(w->a.job.starts, 2);

    w->background = NULL;
    node_destroy(&w->b);
    node_destroy(&w->a);
    /* Freed while leading: A gave the key back too. */
    assert_key_holds(w, KEY, NULL);
}

typedef struct lease_world {
    world *w;
    struct event_base *base;    /* w->rt's */
    sg_conn *conn;              /* w->rt's */
    sg_lease *l1;
    sg_lease *l2;
    int changes1;
    int released;
    int release_status;
} lease_world;

static void on_change1(sg_lease *lease, int held, void *ud)
{
    lease_world *lw = ud;

    (void)lease;
    (void)held;
    lw->changes1++;
}

static int l1_held(void *arg)
{
    return sg_lease_held(((lease_world *)arg)->l1);
}

static int l1_lost(void *arg)
{
    return !sg_lease_held(((lease_world *)arg)->l1);
}

static int released(void *arg)
{
    return ((lease_world *)arg)->released;
}

static void on_released(sg_lease *lease, int status, void *ud)
{
    lease_world *lw = ud;

    (void)lease;
    lw->released = 1;
    lw->release_status = status;
}

static void lease_world_init(lease_world *lw, world *w)
{
    memset(lw, 0, sizeof *lw);
    lw->w = w;
    lw->base = w->rt.base;
    lw->conn = w->rt.conn;
}

static sg_lease *status_lease(lease_world *lw, const char *id,
                              sg_lease_change_fn *fn)
{
    sg_lease_opts lo;
    sg_lease *l;

    sg_lease_opts_init(&lo);
    lo.key = "sg:leader:status";
    lo.holder = id;
    lo.ttl_ms = 800;
    lo.renew_ms = 100;
    lo.on_change = fn;
    lo.ud = lw;
    lo.log = &lw->w->rt.log;
    assert_int_equal(sg_lease_new(lw->conn, &lo, &l), 0);
    return l;
}

static void test_sg_lease_renewal_cannot_extend_another_holders_lease(
    void **state)
{
    world *w = *state;
    lease_world lw;
    redisReply *r;
    long long pttl;

    lease_world_init(&lw, w);
    lw.l1 = status_lease(&lw, "worker-1", on_change1);
    assert_int_equal(sg_lease_start(lw.l1), 0);
    assert_true(sgt_loop_until(lw.base, l1_held, &lw, 3000));
    assert_int_equal(lw.changes1, 1);
    assert_key_holds(w, "sg:leader:status", "worker-1");

    /* worker-1's lease ran out and worker-2 took it, for 500 ms. */
    r = redisCommand(w->rt.sync, "SET sg:leader:status worker-2 PX 500");
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(sgt_loop_until(lw.base, l1_lost, &lw, 100 + SLACK_MS));
    assert_int_equal(lw.changes1, 2);
    /* The renewal found another id and left its TTL alone. */
    assert_key_holds(w, "sg:leader:status", "worker-2");
    pttl = sgt_int(&w->rt, "PTTL %s", "sg:leader:status");
    assert_true(pttl > 0);
    assert_true(pttl <= 500);

    /* A third worker cannot take a held lease (SET NX)... */
    lw.l2 = status_lease(&lw, "worker-3", NULL);
    assert_int_equal(sg_lease_start(lw.l2), 0);
    sgt_loop_for(lw.base, 250);
    assert_false(sg_lease_held(lw.l2));
    assert_key_holds(w, "sg:leader:status", "worker-2");

    /* ...and giving back a lease one does not hold deletes nothing. */
    assert_int_equal(sg_lease_release(lw.l2, on_released, &lw), 0);
    assert_true(sgt_loop_until(lw.base, released, &lw, 2000));
    assert_int_equal(lw.release_status, 0);
    assert_key_holds(w, "sg:leader:status", "worker-2");

    sg_lease_free(lw.l2);
    sg_lease_free(lw.l1);
}

static void test_sg_lease_release_deletes_only_its_own_key(void **state)
{
    world *w = *state;
    lease_world lw;

    lease_world_init(&lw, w);
    lw.l1 = status_lease(&lw, "worker-1", on_change1);
    assert_int_equal(sg_lease_start(lw.l1), 0);
    assert_true(sgt_loop_until(lw.base, l1_held, &lw, 3000));
    assert_int_equal(sg_lease_release(lw.l1, on_released, &lw), 0);
    /* Loss is reported at once, before Redis answers. */
    assert_false(sg_lease_held(lw.l1));
    assert_int_equal(lw.changes1, 2);
    assert_true(sgt_loop_until(lw.base, released, &lw, 2000));
    assert_int_equal(lw.release_status, 0);
    assert_key_holds(w, "sg:leader:status", NULL);
    /* It can be taken again. */
    assert_int_equal(sg_lease_start(lw.l1), 0);
    assert_true(sgt_loop_until(lw.base, l1_held, &lw, 3000));
    sg_lease_free(lw.l1);
    sgt_loop_for(lw.base, 20);
    assert_key_holds(w, "sg:leader:status", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sg_supervisor_leader_failover_between_two_nodes, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_lease_renewal_cannot_extend_another_holders_lease, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_lease_release_deletes_only_its_own_key, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
