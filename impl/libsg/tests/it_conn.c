/*
 * The reconnecting Redis connection (sg/conn.h) against a real
 * redis-server: replies, counting, scripts with their NOSCRIPT fallback,
 * a server that is down at start, a connection that drops with commands in
 * flight, command timeouts, and freeing from inside a callback.
 *
 * Spec IDs: SG-IN-020 (survive the loss of Redis: retry with a backoff
 * between 100 ms and 5 s, log once per state change, resume).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/conn.h"
#include "sg/error.h"
#include "sg_redis_fixture.h"
#include "sgt_loop.h"

/* ---- log capture -------------------------------------------------------- */

typedef struct capture {
    char lines[64][256];
    int n;
} capture;

static void capture_sink(sg_log_level level, const char *line, void *ud)
{
    capture *c = ud;

    (void)level;
    if (c->n < 64) {
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", line);
        c->n++;
    }
}

static int capture_count(const capture *c, const char *needle)
{
    int i, k = 0;

    for (i = 0; i < c->n; i++)
        if (strstr(c->lines[i], needle) != NULL)
            k++;
    return k;
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct world {
    sgt_redis redis;
    struct event_base *base;
    sg_log log;
    capture cap;
    sg_conn *conn;
    int ups;
    int downs;
} world;

static void on_state(sg_conn *conn, int up, void *ud)
{
    world *w = ud;

    (void)conn;
    if (up)
        w->ups++;
    else
        w->downs++;
}

static void conn_opts(world *w, sg_conn_opts *o)
{
    sg_conn_opts_init(o);
    o->host = w->redis.host;
    o->port = w->redis.port;
    o->name = "test";
    o->backoff_min_ms = 20;
    o->backoff_max_ms = 100;
    o->log = &w->log;
    o->on_state = on_state;
    o->ud = w;
}

static int setup(void **state)
{
    static world w;
    sg_conn_opts o;

    memset(&w, 0, sizeof w);
    if (sgt_redis_start(&w.redis, NULL) != 0) {
        fprintf(stderr, "%s\n", w.redis.errstr);
        return -1;
    }
    w.base = event_base_new();
    sg_log_init(&w.log);
    w.log.level = SG_LOG_DEBUG;
    w.log.fn = capture_sink;
    w.log.ud = &w.cap;
    conn_opts(&w, &o);
    if (w.base == NULL || sg_conn_new(w.base, &o, &w.conn) != 0)
        return -1;
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sg_conn_free(w->conn);
    event_base_free(w->base);
    sgt_redis_stop(&w->redis);
    return 0;
}

static int is_up(void *arg)
{
    return sg_conn_is_up(arg);
}

/* ---- a reply recorder --------------------------------------------------- */

typedef struct result {
    int done;
    int status;
    int type;
    long long integer;
    char str[128];
    size_t len;
} result;

static void record(sg_conn *conn, int status, const sg_reply *reply,
                   void *ud)
{
    result *r = ud;
    const char *s;

    (void)conn;
    r->done++;
    r->status = status;
    r->type = sg_reply_kind(reply);
    r->integer = sg_reply_integer(reply);
    s = sg_reply_str(reply, &r->len);
    if (s != NULL)
        snprintf(r->str, sizeof r->str, "%s", s);
}

static int is_done(void *arg)
{
    return ((result *)arg)->done > 0;
}

static void command(world *w, result *r, int argc, const char **argv)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(sg_conn_command(w->conn, record, r, argc, argv, NULL),
                     0);
    assert_true(sgt_loop_until(w->base, is_done, r, 5000));
}

/* Kills the server for good (until sgt_redis_restart()). */
static void kill_server(world *w)
{
    kill((pid_t)w->redis.pid, SIGKILL);
    waitpid((pid_t)w->redis.pid, NULL, 0);
    w->redis.pid = -1;
}

/* ---- tests -------------------------------------------------------------- */

static void test_conn_command_replies_and_counts(void **state)
{
    world *w = *state;
    result r;
    uint64_t before;

    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    before = sg_conn_commands_sent(w->conn);
    command(w, &r, 3, (const char *[]){"SET", "k", "v"});
    assert_int_equal(r.status, 0);
    assert_int_equal(r.type, SG_REPLY_STATUS);
    command(w, &r, 2, (const char *[]){"GET", "k"});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.str, "v");
    command(w, &r, 2, (const char *[]){"INCR", "n"});
    assert_int_equal(r.integer, 1);
    command(w, &r, 3, (const char *[]){"HGET", "k", "f"});
    assert_int_equal(r.status, SG_EREDIS);
    assert_true(strstr(r.str, "WRONGTYPE") == r.str);
    assert_int_equal(sg_conn_commands_sent(w->conn) - before, 4);
}

/* opts.sent_total counts for the connection and those made like it. */
static void test_conn_sent_total_covers_connections_made_like(void **state)
{
    world *w = *state;
    sg_conn_opts o;
    sg_conn *a, *b;
    uint64_t total = 0;
    result r;

    conn_opts(w, &o);
    o.on_state = NULL;
    o.sent_total = &total;
    assert_int_equal(sg_conn_new(w->base, &o, &a), 0);
    assert_int_equal(sg_conn_new_like(a, "like", NULL, NULL, &b), 0);
    assert_true(sgt_loop_until(w->base, is_up, a, 5000));
    assert_true(sgt_loop_until(w->base, is_up, b, 5000));
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_command(a, record, &r, 1,
                                     (const char *[]){"PING"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_command(b, record, &r, 1,
                                     (const char *[]){"PING"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    assert_int_equal(sg_conn_commands_sent(a) + sg_conn_commands_sent(b),
                     total);
    assert_int_equal(total, 2);
    sg_conn_free(b);
    sg_conn_free(a);
    assert_int_equal(total, 2);
}

static void test_conn_eval_falls_back_to_eval_on_noscript(void **state)
{
    world *w = *state;
    static const char body[] = "return tonumber(ARGV[1]) + 1";
    sg_script s;
    result r;
    uint64_t before;
    redisContext *sync;
    redisReply *rep;

    sg_script_init(&s, "plus-one", body);
    assert_int_equal(s.body_len, strlen(body));
    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));

    /* First sight: SCRIPT LOAD (which tells the digest), then EVAL. */
    before = sg_conn_commands_sent(w->conn);
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_eval(w->conn, &s, record, &r, 0, 1,
                                  (const char *[]){"41"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.integer, 42);
    assert_int_equal(sg_conn_commands_sent(w->conn) - before, 2);

    /* The digest is known now: one EVALSHA. */
    before = sg_conn_commands_sent(w->conn);
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_eval(w->conn, &s, record, &r, 0, 1,
                                  (const char *[]){"9"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.integer, 10);
    assert_int_equal(sg_conn_commands_sent(w->conn) - before, 1);

    /* The server forgets the script: the next call must still work. */
    sync = sgt_redis_connect(&w->redis);
    assert_non_null(sync);
    rep = redisCommand(sync, "SCRIPT FLUSH");
    freeReplyObject(rep);
    redisFree(sync);

    before = sg_conn_commands_sent(w->conn);
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_eval(w->conn, &s, record, &r, 0, 1,
                                  (const char *[]){"1"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    assert_int_equal(r.status, 0);
    assert_int_equal(r.integer, 2);
    assert_int_equal(r.done, 1);
    /* EVALSHA, then EVAL. */
    assert_int_equal(sg_conn_commands_sent(w->conn) - before, 2);
}

static int saw_unreachable(void *arg)
{
    return capture_count(arg, "(late) unreachable") > 0;
}

/* SG-IN-020: down at start, retried with backoff, one line, resumes. */
static void test_conn_redis_down_at_start_then_up(void **state)
{
    world *w = *state;
    sg_conn_opts o;
    sg_conn *c;
    result r;
    long long t0;

    kill_server(w);
    conn_opts(w, &o);
    o.name = "late";
    w->cap.n = 0;
    w->ups = 0;
    assert_int_equal(sg_conn_new(w->base, &o, &c), 0);
    assert_true(sgt_loop_until(w->base, saw_unreachable, &w->cap, 5000));
    /* Retries go on without a new warning per retry. */
    t0 = sgt_now_ms();
    sgt_loop_for(w->base, 300);
    assert_false(sg_conn_is_up(c));
    assert_int_equal(capture_count(&w->cap, "(late) unreachable"), 1);
    assert_true(capture_count(&w->cap, "(late) still unreachable") >= 1);
    /* While it waits, commands fail at once and no callback fires. */
    memset(&r, 0, sizeof r);
    if (sg_conn_command(c, record, &r, 1, (const char *[]){"PING"}, NULL) ==
        0) {
        /* Accepted while an attempt was in progress: it must fail. */
        assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
        assert_int_equal(r.status, SG_ECLOSED);
    }
    assert_int_equal(sgt_redis_restart(&w->redis), 0);
    assert_true(sgt_loop_until(w->base, is_up, c, 5000));
    assert_true(sgt_now_ms() - t0 < 5000);
    assert_int_equal(capture_count(&w->cap, "(late) reachable again"), 1);
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_command(c, record, &r, 1,
                                     (const char *[]){"PING"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 5000));
    assert_string_equal(r.str, "PONG");
    sgt_loop_until(w->base, NULL, NULL, 10);
    assert_true(w->ups >= 1);
    sg_conn_free(c);
}

static int all_done(void *arg)
{
    result *r = arg;

    return r[0].done > 0 && r[1].done > 0;
}

/* SG-IN-020: a drop fails what is in flight, then the connection resumes. */
static void test_conn_drop_fails_in_flight_and_reconnects(void **state)
{
    world *w = *state;
    result r[2];

    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    memset(r, 0, sizeof r);
    assert_int_equal(sg_conn_command(w->conn, record, &r[0], 3,
                                     (const char *[]){"BLPOP", "nothing",
                                                      "5"}, NULL), 0);
    assert_int_equal(sg_conn_command(w->conn, record, &r[1], 1,
                                     (const char *[]){"PING"}, NULL), 0);
    sgt_loop_for(w->base, 50);
    kill_server(w);
    assert_true(sgt_loop_until(w->base, all_done, r, 5000));
    assert_int_equal(r[0].status, SG_ECLOSED);
    assert_int_equal(r[1].status, SG_ECLOSED);
    assert_int_equal(capture_count(&w->cap, "connection lost"), 1);
    assert_int_equal(sgt_redis_restart(&w->redis), 0);
    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    command(w, &r[0], 1, (const char *[]){"PING"});
    assert_string_equal(r[0].str, "PONG");
}

/* A command without a reply in time fails, and the connection recovers. */
static void test_conn_command_timeout_resets_connection(void **state)
{
    world *w = *state;
    result r;

    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    memset(&r, 0, sizeof r);
    assert_int_equal(sg_conn_command_timeout(w->conn, 100, record, &r, 3,
                                             (const char *[]){"BLPOP",
                                                              "nothing",
                                                              "2"},
                                             NULL), 0);
    assert_true(sgt_loop_until(w->base, is_done, &r, 1500));
    assert_int_equal(r.status, SG_ETIMEOUT);
    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    command(w, &r, 1, (const char *[]){"PING"});
    assert_string_equal(r.str, "PONG");
}

typedef struct freer {
    world *w;
    result later;
    int fired;
} freer;

static void free_in_callback(sg_conn *conn, int status, const sg_reply *reply,
                             void *ud)
{
    freer *f = ud;

    (void)status;
    (void)reply;
    f->fired++;
    sg_conn_free(conn);
    f->w->conn = NULL;
}

static int freer_done(void *arg)
{
    freer *f = arg;

    return f->fired > 0 && f->later.done > 0;
}

/* Freeing from inside a reply callback fails the rest, cleanly. */
static void test_conn_free_inside_its_callback(void **state)
{
    world *w = *state;
    freer f;
    sg_conn_opts o;

    assert_true(sgt_loop_until(w->base, is_up, w->conn, 5000));
    memset(&f, 0, sizeof f);
    f.w = w;
    assert_int_equal(sg_conn_command(w->conn, free_in_callback, &f, 1,
                                     (const char *[]){"PING"}, NULL), 0);
    assert_int_equal(sg_conn_command(w->conn, record, &f.later, 1,
                                     (const char *[]){"PING"}, NULL), 0);
    assert_true(sgt_loop_until(w->base, freer_done, &f, 5000));
    assert_int_equal(f.later.status, SG_ECLOSED);
    assert_null(w->conn);
    /* For the teardown. */
    conn_opts(w, &o);
    assert_int_equal(sg_conn_new(w->base, &o, &w->conn), 0);
}

static void test_conn_parse_url_accepts_host_and_port(void **state)
{
    char host[64];
    int port;

    (void)state;
    assert_int_equal(sg_conn_parse_url("redis://10.0.0.1:6380", host,
                                       sizeof host, &port), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 6380);
    assert_int_equal(sg_conn_parse_url("localhost", host, sizeof host,
                                       &port), 0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 6379);
    assert_int_equal(sg_conn_parse_url("redis://h:1/", host, sizeof host,
                                       &port), 0);
    assert_int_equal(sg_conn_parse_url("redis://u:p@h:1", host, sizeof host,
                                       &port), SG_EINVAL);
    assert_int_equal(sg_conn_parse_url("redis://h:1/2", host, sizeof host,
                                       &port), SG_EINVAL);
    assert_int_equal(sg_conn_parse_url("redis://h:x", host, sizeof host,
                                       &port), SG_EINVAL);
    assert_int_equal(sg_conn_parse_url("redis://h:70000", host, sizeof host,
                                       &port), SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conn_command_replies_and_counts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_sent_total_covers_connections_made_like, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_eval_falls_back_to_eval_on_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_redis_down_at_start_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_drop_fails_in_flight_and_reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_command_timeout_resets_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_free_inside_its_callback,
                                        setup, teardown),
        cmocka_unit_test(test_conn_parse_url_accepts_host_and_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
