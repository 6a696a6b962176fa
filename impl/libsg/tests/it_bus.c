/*
 * The bus (sg/bus.h) against a real redis-server: groups per role,
 * publishing with MAXLEN and framing fields, the backlog warning, trace
 * ids, refusal of invalid envelopes, and stream diagnostics. Each test
 * names the SPEC IDs it checks.
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

#include "sg/bus.h"
#include "sg/codec.h"
#include "sg/conn.h"
#include "sgt_loop.h"
#include "sgt_runtime.h"

typedef struct capture {
    char lines[32][512];
    int n;
} capture;

typedef struct world {
    sgt_runtime rt;             /* server, loop, connections, names */
    capture cap;                /* rt.log's warnings */
    sg_bus *bus;
    int done;
    int status;
    int published;
    int failed;
    char last_id[64];
} world;

static void sink(sg_log_level level, const char *line, void *ud)
{
    capture *c = ud;

    if (level >= SG_LOG_WARN && c->n < 32) {
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", line);
        c->n++;
    }
}

static sg_bus *make_bus(world *w, long long maxlen)
{
    sg_bus_opts o;
    sg_bus *bus;

    sg_bus_opts_init(&o);
    o.conn = w->rt.conn;
    o.topo = &w->rt.topo;
    o.stream_maxlen = maxlen;
    o.backlog_check_ms = 1;
    o.log = &w->rt.log;
    assert_int_equal(sg_bus_new(&o, &bus), 0);
    return bus;
}

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    /* The sink keeps the warnings, which the tests count. */
    w.rt.log.level = SG_LOG_WARN;
    w.rt.log.fn = sink;
    w.rt.log.ud = &w.cap;
    w.bus = make_bus(&w, 0);
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sg_bus_free(w->bus);
    sgt_runtime_stop(&w->rt);
    return 0;
}

static void on_done(int status, void *ud)
{
    world *w = ud;

    w->done++;
    w->status = status;
}

static int is_done(void *arg)
{
    return ((world *)arg)->done > 0;
}

static void on_published(int status, const char *id, void *ud)
{
    world *w = ud;

    if (status == 0) {
        w->published++;
        snprintf(w->last_id, sizeof w->last_id, "%s", id);
    } else {
        w->failed++;
    }
}

typedef struct count_cond {
    world *w;
    int n;
} count_cond;

static int published_at_least(void *arg)
{
    count_cond *c = arg;

    return c->w->published + c->w->failed >= c->n;
}

static void wait_published(world *w, int n)
{
    count_cond c = {w, n};

    assert_true(sgt_loop_until(w->rt.base, published_at_least, &c, 10000));
}

/* Names of the groups on `stream`, comma-separated, into out. */
static void groups_of(world *w, const char *stream, char *out, size_t cap)
{
    redisReply *r = redisCommand(w->rt.sync, "XINFO GROUPS %s", stream);
    size_t i, used = 0;

    out[0] = '\0';
    if (r->type == REDIS_REPLY_ARRAY)
        for (i = 0; i < r->elements; i++) {
            int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "",
                             r->element[i]->element[1]->str);

            if (n > 0 && (size_t)n < cap - used)
                used += (size_t)n;
        }
    freeReplyObject(r);
}

static long long key_count(world *w)
{
    redisReply *r = redisCommand(w->rt.sync, "DBSIZE");
    long long n = r->integer;

    freeReplyObject(r);
    return n;
}

static void provision(world *w, sg_role role)
{
    static const char *const platforms[] = {"discord", "matrix"};

    w->done = 0;
    assert_int_equal(sg_bus_provision(w->bus, role, platforms, 2, on_done,
                                      w), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, w, 5000));
    assert_int_equal(w->status, 0);
    assert_int_equal(w->done, 1);
}

/*
 * SG-TOPO-003, SG-TOPO-004, SG-TOPO-005, SG-TOPO-006, SG-TOPO-002: each
 * role creates exactly its groups; an existing group (BUSYGROUP) is
 * success.
 */
static void test_bus_provision_creates_the_groups_of_each_role(void **state)
{
    world *w = *state;
    char g[256];

    provision(w, SG_ROLE_AGENTS);
    assert_int_equal(key_count(w), 0);

    provision(w, SG_ROLE_WORKER);
    groups_of(w, "sg:stream:inbound", g, sizeof g);
    assert_string_equal(g, "sg:workers");
    assert_int_equal(key_count(w), 1);

    provision(w, SG_ROLE_GATEWAY);
    groups_of(w, "sg:stream:outbound:discord", g, sizeof g);
    assert_string_equal(g, "sg:gateway:discord");
    groups_of(w, "sg:stream:outbound:matrix", g, sizeof g);
    assert_string_equal(g, "sg:gateway:matrix");
    assert_int_equal(key_count(w), 3);

    provision(w, SG_ROLE_TOOLS);
    groups_of(w, "sg:stream:tools", g, sizeof g);
    assert_string_equal(g, "sg:tools");
    assert_int_equal(key_count(w), 4);

    /* Again, everything exists: BUSYGROUP is success. */
    provision(w, SG_ROLE_STANDALONE);
    groups_of(w, "sg:stream:inbound", g, sizeof g);
    assert_string_equal(g, "sg:workers");
    assert_int_equal(key_count(w), 4);
}

/*
 * SG-FRAME-001, SG-FRAME-002, SG-FRAME-008, SG-TRACE-001: an inbound
 * envelope is published as data, ts and trace_id; a fresh trace id goes in
 * both the entry and the envelope.
 */
static void test_bus_publish_frames_the_entry(void **state)
{
    world *w = *state;
    sg_envelope env, *got;
    sg_error err;
    redisReply *r;
    sg_entry_field f[8];
    sg_entry entry;
    size_t i;
    const char *trace = NULL;

    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.platform = SG_STR("discord");
    env.u.in.channel_id = SG_STR("42");
    env.u.in.content = SG_STR("hi");
    assert_int_equal(sg_bus_publish_inbound(w->bus, &env, NULL,
                                            on_published, w, &err), 0);
    wait_published(w, 1);
    r = redisCommand(w->rt.sync, "XRANGE sg:stream:inbound - +");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->element[0]->str, w->last_id);
    assert_int_equal(r->element[0]->element[1]->elements, 6);
    for (i = 0; i < 3; i++) {
        redisReply *n = r->element[0]->element[1]->element[2 * i];
        redisReply *v = r->element[0]->element[1]->element[2 * i + 1];

        f[i].name.ptr = n->str;
        f[i].name.len = n->len;
        f[i].value.ptr = v->str;
        f[i].value.len = v->len;
        if (strcmp(n->str, "trace_id") == 0)
            trace = v->str;
    }
    assert_string_equal(f[0].name.ptr, "data");
    assert_string_equal(f[1].name.ptr, "ts");
    assert_non_null(strchr(f[1].value.ptr, '.'));
    assert_non_null(trace);
    assert_int_equal(strlen(trace), 32);
    entry.fields = f;
    entry.nfields = 3;
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, &entry, NULL, &got,
                                        &err), 0);
    assert_int_equal(got->u.in.trace_id.len, 32);
    assert_memory_equal(got->u.in.trace_id.ptr, trace, 32);
    assert_memory_equal(got->u.in.content.ptr, "hi", 2);
    sg_envelope_free(got);
    freeReplyObject(r);
}

/* SG-FRAME-012, SG-FRAME-007: an invalid envelope is refused, no callback. */
static void test_bus_publish_refuses_invalid_envelopes(void **state)
{
    world *w = *state;
    sg_envelope env;
    sg_error err;
    char long_trace[200];

    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.platform = SG_STR("discord");   /* no channel_id */
    assert_int_equal(sg_bus_publish_inbound(w->bus, &env, NULL,
                                            on_published, w, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "data.channel_id");
    env.u.in.channel_id = SG_STR("1");
    memset(long_trace, 'a', sizeof long_trace - 1);
    long_trace[sizeof long_trace - 1] = '\0';
    assert_int_equal(sg_bus_publish_inbound(w->bus, &env, long_trace,
                                            on_published, w, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "trace_id");
    sgt_loop_for(w->rt.base, 20);
    assert_int_equal(w->published + w->failed, 0);
    assert_int_equal(key_count(w), 0);
}

static int count_lines(const capture *c, const char *needle)
{
    int i, k = 0;

    for (i = 0; i < c->n; i++)
        if (strstr(c->lines[i], needle) != NULL)
            k++;
    return k;
}

/*
 * SG-FRAME-008, SG-FRAME-009, SG-FRAME-010: a cap below 1000 is raised to
 * 1000; trimming keeps the stream near the cap; a stream past 80% of the
 * cap is warned about once, naming stream, group, length, pending, cap.
 */
static void test_bus_trims_and_warns_about_backlog(void **state)
{
    world *w = *state;
    sg_bus *bus = make_bus(w, 10);
    sg_envelope env;
    sg_error err;
    redisReply *r;
    int i;

    provision(w, SG_ROLE_GATEWAY);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("c");
    env.u.out.text = SG_STR("x");
    for (i = 0; i < 1500; i++)
        assert_int_equal(sg_bus_publish_outbound(bus, "discord", &env, "t",
                                                 on_published, w, &err), 0);
    wait_published(w, 1500);
    assert_int_equal(w->failed, 0);
    sgt_loop_for(w->rt.base, 20);
    r = redisCommand(w->rt.sync, "XLEN sg:stream:outbound:discord");
    assert_true(r->integer >= 1000 && r->integer < 1500);
    freeReplyObject(r);
    /*
     * The check runs behind a publish, at most once per millisecond. The
     * 1500 publishes above may all be queued within one millisecond, when
     * only the first one's check (on an empty stream) runs; a publish now,
     * more than a millisecond later, is checked behind a full stream.
     */
    assert_int_equal(sg_bus_publish_outbound(bus, "discord", &env, "t",
                                             on_published, w, &err), 0);
    wait_published(w, 1501);
    sgt_loop_for(w->rt.base, 20);
    assert_int_equal(count_lines(&w->cap, "backlog on stream "
                                          "sg:stream:outbound:discord "
                                          "group sg:gateway:discord"), 1);
    assert_non_null(strstr(w->cap.lines[0], "cap 1000"));
    assert_non_null(strstr(w->cap.lines[0], "pending 0"));
    sg_bus_free(bus);
}

/* SG-FRAME-011: a failing backlog check does not stop the publish. */
static void test_bus_failed_check_does_not_block_publish(void **state)
{
    world *w = *state;

    /* No group: XPENDING answers NOGROUP. */
    assert_int_equal(sg_bus_publish_raw(w->bus, "s", "nogroup", "\x80", 1,
                                        "", on_published, w), 0);
    wait_published(w, 1);
    assert_int_equal(w->published, 1);
    assert_int_equal(sg_bus_published(w->bus), 1);
    assert_int_equal(sg_bus_commands_sent(w->bus), 3);
}

typedef struct stats_box {
    int done;
    int status;
    sg_stream_stats st;
} stats_box;

static void on_stats(int status, const sg_stream_stats *st, void *ud)
{
    stats_box *b = ud;

    b->done++;
    b->status = status;
    if (st != NULL)
        b->st = *st;
}

static int stats_done(void *arg)
{
    return ((stats_box *)arg)->done > 0;
}

/* Diagnostics: length, pending and lag of a group. */
static void test_bus_stream_stats(void **state)
{
    world *w = *state;
    stats_box b;
    int i;

    memset(&b, 0, sizeof b);
    assert_int_equal(sg_bus_stream_stats(w->bus, "missing", "g", on_stats,
                                         &b), 0);
    assert_true(sgt_loop_until(w->rt.base, stats_done, &b, 5000));
    assert_int_equal(b.status, 0);
    assert_int_equal(b.st.length, 0);
    assert_int_equal(b.st.group_exists, 0);

    provision(w, SG_ROLE_WORKER);
    for (i = 0; i < 5; i++)
        assert_int_equal(sg_bus_publish_raw(w->bus, "sg:stream:inbound",
                                            NULL, "\x80", 1, "",
                                            on_published, w), 0);
    wait_published(w, 5);
    freeReplyObject(redisCommand(w->rt.sync, "XREADGROUP GROUP sg:workers c "
                                 "COUNT 2 STREAMS sg:stream:inbound >"));
    memset(&b, 0, sizeof b);
    assert_int_equal(sg_bus_stream_stats(w->bus, "sg:stream:inbound",
                                         "sg:workers", on_stats, &b), 0);
    assert_true(sgt_loop_until(w->rt.base, stats_done, &b, 5000));
    assert_int_equal(b.status, 0);
    assert_int_equal(b.st.length, 5);
    assert_int_equal(b.st.group_exists, 1);
    assert_int_equal(b.st.pending, 2);
    assert_int_equal(b.st.consumers, 1);
    assert_int_equal(b.st.lag, 3);
}

typedef struct server_box {
    int done;
    int status;
    sg_server_info info;
} server_box;

static void on_server(int status, const sg_server_info *info, void *ud)
{
    server_box *b = ud;

    b->done++;
    b->status = status;
    if (info != NULL)
        b->info = *info;
}

static int server_done(void *arg)
{
    return ((server_box *)arg)->done > 0;
}

/*
 * SG-OPS-001, SG-OPS-002, SG-OPS-003: the version and the eviction policy
 * are read; a policy other than noeviction is warned about by name.
 */
static void test_bus_check_server_warns_about_eviction(void **state)
{
    world *w = *state;
    server_box b;

    memset(&b, 0, sizeof b);
    freeReplyObject(redisCommand(w->rt.sync, "CONFIG SET maxmemory-policy "
                                 "volatile-lru"));
    assert_int_equal(sg_bus_check_server(w->bus, on_server, &b), 0);
    assert_true(sgt_loop_until(w->rt.base, server_done, &b, 5000));
    assert_int_equal(b.status, 0);
    assert_true(b.info.version_major >= 7);
    assert_int_equal(b.info.policy_known, 1);
    assert_string_equal(b.info.policy, "volatile-lru");
    assert_int_equal(count_lines(&w->cap, "maxmemory-policy is "
                                          "volatile-lru"), 1);
    w->cap.n = 0;
    freeReplyObject(redisCommand(w->rt.sync, "CONFIG SET maxmemory-policy "
                                 "noeviction"));
    memset(&b, 0, sizeof b);
    assert_int_equal(sg_bus_check_server(w->bus, on_server, &b), 0);
    assert_true(sgt_loop_until(w->rt.base, server_done, &b, 5000));
    assert_string_equal(b.info.policy, "noeviction");
    assert_int_equal(w->cap.n, 0);
}

static void test_role_names(void **state)
{
    sg_role r;

    (void)state;
    assert_int_equal(sg_role_from_name("standalone", &r), 0);
    assert_int_equal(r, SG_ROLE_STANDALONE);
    assert_string_equal(sg_role_name(SG_ROLE_AGENTS), "agents");
    assert_int_equal(sg_role_from_name("web", &r), SG_EINVAL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bus_provision_creates_the_groups_of_each_role),
        T(test_bus_publish_frames_the_entry),
        T(test_bus_publish_refuses_invalid_envelopes),
        T(test_bus_trims_and_warns_about_backlog),
        T(test_bus_failed_check_does_not_block_publish),
        T(test_bus_stream_stats),
        T(test_bus_check_server_warns_about_eviction),
        cmocka_unit_test(test_role_names),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
