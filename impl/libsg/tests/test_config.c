/*
 * Topology names and knobs from the environment (sg/config.h).
 *
 * Spec IDs: SG-TOPO-001 (defaults when unset or empty, the value when
 * set), SG-TOPO-002 (derived names), SG-TOPO-009 (names logged), SG-CFG-004 (knob defaults; a value
 * that is not a positive decimal integer is refused, naming the
 * variable), SG-CFG-005, SG-FRAME-009 (stream length floored at 1000).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sg/config.h"

/* A fake environment: NULL-terminated name, value pairs. */
static const char *lookup(const char *name, void *ud)
{
    const char *const *env = ud;
    size_t i;

    for (i = 0; env[i] != NULL; i += 2)
        if (strcmp(env[i], name) == 0)
            return env[i + 1];
    return NULL;
}

static void test_topology_from_lookup_defaults_when_unset_or_empty(
    void **state)
{
    const char *env[] = {"SG_WORKER_GROUP", "", NULL};
    sg_topology t;
    sg_error err;

    (void)state;
    assert_int_equal(sg_topology_from_lookup(&t, lookup, env, &err), 0);
    assert_string_equal(t.inbound_stream, "sg:stream:inbound");
    assert_string_equal(t.outbound_stream_prefix, "sg:stream:outbound");
    assert_string_equal(t.worker_group, "sg:workers");
    assert_string_equal(t.gateway_group_prefix, "sg:gateway");
    assert_string_equal(t.tools_stream, "sg:stream:tools");
    assert_string_equal(t.tools_group, "sg:tools");
    assert_string_equal(t.tools_reply_stream_prefix, "sg:tools:reply");
    assert_string_equal(t.dlq_stream, "sg:stream:dlq");
    assert_string_equal(t.leader_key, "sg:leader:supervisor");
    assert_string_equal(t.status_lease_key, "sg:leader:status");
    assert_string_equal(t.lock_prefix, "sg:lock:channel");
    assert_string_equal(t.outbound_lock_prefix, "sg:lock:outbound");
    assert_string_equal(t.outbound_claim_prefix, "sg:outbound:claim");
    assert_string_equal(t.claim_attempts_key, "sg:autoclaim:attempts");
    assert_string_equal(t.outbound_claim_attempts_key,
                        "sg:autoclaim:outbound:attempts");
    assert_string_equal(t.config_channel, "sg:pubsub:config");
    assert_string_equal(t.rpc_reply_prefix, "sg:rpc:reply");
    assert_string_equal(t.order_prefix, "sg:order:channel");
    assert_string_equal(t.wake_prefix, "sg:wake");
}

static void test_topology_from_lookup_uses_set_values(void **state)
{
    const char *env[] = {"SG_INBOUND_STREAM", "test:in",
                         "SG_DLQ_STREAM", "test:dlq",
                         "SG_OUTBOUND_LOCK_PREFIX", "x", NULL};
    sg_topology t;

    (void)state;
    assert_int_equal(sg_topology_from_lookup(&t, lookup, env, NULL), 0);
    assert_string_equal(t.inbound_stream, "test:in");
    assert_string_equal(t.dlq_stream, "test:dlq");
    assert_string_equal(t.outbound_lock_prefix, "x");
    assert_string_equal(t.worker_group, "sg:workers");
}

static void test_topology_from_lookup_refuses_overlong_name(void **state)
{
    char longname[300];
    const char *env[] = {"SG_TOOLS_GROUP", longname, NULL};
    sg_topology t;
    sg_error err;

    (void)state;
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(sg_topology_from_lookup(&t, lookup, env, &err),
                     SG_EINVAL);
    assert_int_equal(err.code, SG_EINVAL);
    assert_non_null(strstr(err.msg, "SG_TOOLS_GROUP"));
}

static void test_topology_from_env_reads_the_process_environment(
    void **state)
{
    sg_topology t;

    (void)state;
    assert_int_equal(setenv("SG_GATEWAY_GROUP_PREFIX", "gw", 1), 0);
    assert_int_equal(sg_topology_from_env(&t, NULL), 0);
    assert_string_equal(t.gateway_group_prefix, "gw");
    unsetenv("SG_GATEWAY_GROUP_PREFIX");
}

/* SG-TOPO-002 and the derived names of section 2. */
static void test_name_join_builds_derived_names(void **state)
{
    sg_topology t;
    char out[64], lock[64];
    int n;

    (void)state;
    sg_topology_init(&t);
    n = sg_name_join(out, sizeof out, t.outbound_stream_prefix, "discord",
                     7);
    assert_int_equal(n, (int)strlen("sg:stream:outbound:discord"));
    assert_string_equal(out, "sg:stream:outbound:discord");
    sg_name_join(out, sizeof out, t.outbound_lock_prefix, "matrix", 6);
    sg_name_join(lock, sizeof lock, out, "!room:x", 7);
    assert_string_equal(lock, "sg:lock:outbound:matrix:!room:x");
    assert_int_equal(sg_name_join(out, 10, "prefix", "toolong", 7),
                     SG_EINVAL);
}

static void keep_line(sg_log_level level, const char *line, void *ud)
{
    (void)level;
    snprintf(ud, 1024, "%s", line);
}

/* SG-TOPO-009: one line names every stream, group and prefix in use. */
static void test_topology_log_names_every_name(void **state)
{
    const char *env[] = {"SG_DLQ_STREAM", "ops:dlq", NULL};
    char line[1024] = "";
    sg_topology t;
    sg_log log;

    (void)state;
    assert_int_equal(sg_topology_from_lookup(&t, lookup, env, NULL), 0);
    sg_log_init(&log);
    log.fn = keep_line;
    log.ud = line;
    sg_topology_log(&t, &log);
    assert_non_null(strstr(line, "SG_DLQ_STREAM=ops:dlq"));
    assert_non_null(strstr(line, "SG_INBOUND_STREAM=sg:stream:inbound"));
    assert_non_null(strstr(line, "SG_RPC_REPLY_PREFIX=sg:rpc:reply"));
    assert_non_null(strstr(line, "SG_OUTBOUND_CLAIM_ATTEMPTS_KEY="));
    assert_non_null(strstr(line, "SG_ORDER_PREFIX=sg:order:channel"));
}

static void test_knobs_from_lookup_defaults(void **state)
{
    const char *env[] = {"SG_BLOCK_MS", "", NULL};
    sg_knobs k;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, env, NULL), 0);
    assert_int_equal(k.block_ms, 5000);
    assert_int_equal(k.read_count, 10);
    assert_int_equal(k.max_in_flight, 256);
    assert_int_equal(k.lock_ttl_ms, 60000);
    assert_int_equal(k.outbound_lock_ttl_ms, 30000);
    assert_int_equal(k.lock_wait_ms, 120000);
    assert_int_equal(k.autoclaim_interval_ms, 30000);
    assert_int_equal(k.autoclaim_min_idle_ms, 60000);
    assert_int_equal(k.autoclaim_count, 10);
    assert_int_equal(k.max_deliveries, 3);
    assert_int_equal(k.max_claims, 3);
    assert_int_equal(k.max_requeues, 5);
    assert_int_equal(k.outbound_claim_ttl_ms, 300000);
    assert_int_equal(k.stream_maxlen, 100000);
    assert_int_equal(k.drain_ms, 30000);
    assert_int_equal(k.rpc_timeout_ms, 30000);
    assert_int_equal(k.order_queues, 1);
    assert_int_equal(k.lock_wake, 1);
    assert_int_equal(k.hand_over, 1);
}

/* SG_ORDER_QUEUES: "0" turns the order queues (SG-IN-023) off; only 0/1. */
static void test_knobs_order_queues_switch(void **state)
{
    const char *off[] = {"SG_ORDER_QUEUES", "0", NULL};
    const char *on[] = {"SG_ORDER_QUEUES", "1", NULL};
    const char *bad[] = {"SG_ORDER_QUEUES", "yes", NULL};
    sg_knobs k;
    sg_error err;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, off, NULL), 0);
    assert_int_equal(k.order_queues, 0);
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, on, NULL), 0);
    assert_int_equal(k.order_queues, 1);
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, bad, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "SG_ORDER_QUEUES"));
}

/* SG_LOCK_WAKE: "0" turns the wake-ups (SG-LOCK-008/009) off; only 0/1. */
static void test_knobs_lock_wake_switch(void **state)
{
    const char *off[] = {"SG_LOCK_WAKE", "0", NULL};
    const char *bad[] = {"SG_LOCK_WAKE", "2", NULL};
    sg_knobs k;
    sg_error err;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, off, NULL), 0);
    assert_int_equal(k.lock_wake, 0);
    assert_int_equal(k.order_queues, 1);
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, bad, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "SG_LOCK_WAKE"));
}

/* SG_HAND_OVER: "0" turns hand-over (SG-IN-026..028) off; only 0/1. */
static void test_knobs_hand_over_switch(void **state)
{
    const char *off[] = {"SG_HAND_OVER", "0", NULL};
    const char *bad[] = {"SG_HAND_OVER", "on", NULL};
    sg_knobs k;
    sg_error err;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, off, NULL), 0);
    assert_int_equal(k.hand_over, 0);
    assert_int_equal(k.lock_wake, 1);
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, bad, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "SG_HAND_OVER"));
    assert_non_null(strstr(err.msg, "must be 0 or 1"));
}

static void test_knobs_from_lookup_uses_set_values(void **state)
{
    const char *env[] = {"SG_READ_COUNT", "50", "SG_LOCK_TTL_MS", "0300",
                         "SG_STREAM_MAXLEN", "5000000000", NULL};
    sg_knobs k;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, env, NULL), 0);
    assert_int_equal(k.read_count, 50);
    assert_int_equal(k.lock_ttl_ms, 300);
    assert_true(k.stream_maxlen == 5000000000LL);
}

/* SG-CFG-004: each kind of bad value is refused, naming the variable. */
static void test_knobs_from_lookup_refuses_non_positive_integers(
    void **state)
{
    static const char *const bad[] = {"0", "-5", "+5", " 5", "5 ", "5ms",
                                      "abc", "1.5", "2147483648",
                                      "99999999999999999999"};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {"SG_MAX_IN_FLIGHT", bad[i], NULL};
        sg_knobs k;
        sg_error err;

        assert_int_equal(sg_knobs_from_lookup(&k, lookup, env, &err),
                         SG_EINVAL);
        assert_int_equal(err.code, SG_EINVAL);
        assert_non_null(strstr(err.msg, "SG_MAX_IN_FLIGHT"));
        assert_non_null(strstr(err.msg, "positive decimal integer"));
    }
}

/* SG-FRAME-009. */
static void test_knobs_from_lookup_floors_stream_length(void **state)
{
    const char *env[] = {"SG_STREAM_MAXLEN", "10", NULL};
    sg_knobs k;

    (void)state;
    assert_int_equal(sg_knobs_from_lookup(&k, lookup, env, NULL), 0);
    assert_int_equal(k.stream_maxlen, 1000);
}

static void test_knobs_from_env_reads_the_process_environment(void **state)
{
    sg_knobs k;
    sg_error err;

    (void)state;
    assert_int_equal(setenv("SG_DRAIN_MS", "250", 1), 0);
    assert_int_equal(sg_knobs_from_env(&k, &err), 0);
    assert_int_equal(k.drain_ms, 250);
    assert_int_equal(setenv("SG_DRAIN_MS", "soon", 1), 0);
    assert_int_equal(sg_knobs_from_env(&k, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "SG_DRAIN_MS"));
    unsetenv("SG_DRAIN_MS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_topology_from_lookup_defaults_when_unset_or_empty),
        cmocka_unit_test(test_topology_from_lookup_uses_set_values),
        cmocka_unit_test(test_topology_from_lookup_refuses_overlong_name),
        cmocka_unit_test(
            test_topology_from_env_reads_the_process_environment),
        cmocka_unit_test(test_name_join_builds_derived_names),
        cmocka_unit_test(test_topology_log_names_every_name),
        cmocka_unit_test(test_knobs_from_lookup_defaults),
        cmocka_unit_test(test_knobs_order_queues_switch),
        cmocka_unit_test(test_knobs_lock_wake_switch),
        cmocka_unit_test(test_knobs_hand_over_switch),
        cmocka_unit_test(test_knobs_from_lookup_uses_set_values),
        cmocka_unit_test(
            test_knobs_from_lookup_refuses_non_positive_integers),
        cmocka_unit_test(test_knobs_from_lookup_floors_stream_length),
        cmocka_unit_test(test_knobs_from_env_reads_the_process_environment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
