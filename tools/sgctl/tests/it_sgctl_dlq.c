/*
 * sgctl dlq against a real redis-server, on dead letters written by
 * libsg's inbound consumer after real failures (a handler that fails, an
 * entry the codec rejects), and on a requeue that fails half way. Every
 * test names the SPEC IDs it checks.
 */
#define _POSIX_C_SOURCE 200809L

#include <event2/event.h>

#include "sgctl_test.h"

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sgt_loop.h"

#define INBOUND "sg:stream:inbound"
#define DLQ "sg:stream:dlq"

typedef struct loop_ctx {
    sgt_world *w;
    long long want;
} loop_ctx;

static void fail_handler(void *ud, sg_job *job, const sg_envelope *env)
{
    (void)ud;
    (void)env;
    sg_job_finish(job, SG_JOB_FAILED("the handler broke"));
}

static int dlq_reached(void *arg)
{
    loop_ctx *l = arg;

    return sgt_int(l->w, "XLEN %s", DLQ) >= l->want;
}

/* Runs libsg's inbound consumer, failing every handling, until `want`
   dead letters exist. */
static void run_failing_worker(sgt_world *w, long long want)
{
    struct event_base *base = event_base_new();
    sg_inbound_consumer_opts o;
    sg_inbound_consumer *in;
    sg_conn_opts co;
    sg_conn *conn;
    sg_topology topo;
    sg_log log;
    loop_ctx l = {w, want};

    assert_non_null(base);
    sg_log_init(&log);
    log.level = getenv("SG_TEST_DEBUG") ? SG_LOG_DEBUG : SG_LOG_OFF;
    sg_conn_opts_init(&co);
    co.host = w->redis.host;
    co.port = w->redis.port;
    co.log = &log;
    assert_int_equal(sg_conn_new(base, &co, &conn), 0);
    sg_topology_init(&topo);
    sg_inbound_consumer_opts_init(&o);
    o.conn = conn;
    o.topo = &topo;
    o.knobs.block_ms = 100;
    o.knobs.max_deliveries = 1;
    o.knobs.autoclaim_interval_ms = 100;
    o.consumer = "worker-0123abcd";
    o.handle = fail_handler;
    o.log = &log;
    assert_int_equal(sg_inbound_consumer_new(&o, &in), 0);
    assert_int_equal(sg_consumer_start(sg_inbound_consumer_engine(in)), 0);
    assert_true(sgt_loop_until(base, dlq_reached, &l, 20000));
    sg_inbound_consumer_free(in);
    sg_conn_free(conn);
    event_base_free(base);
}

static void publish(sgt_world *w, const char *json)
{
    sgt_run r = sgt_sgctl(w, "publish", json, NULL);

    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
}

/* The value of field `name` of entry e of an XRANGE reply, or NULL. */
static const redisReply *field(const redisReply *e, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < e->element[1]->elements; i += 2)
        if (strcmp(e->element[1]->element[i]->str, name) == 0)
            return e->element[1]->element[i + 1];
    return NULL;
}

static char *dlq_id_where(sgt_world *w, const char *name, const char *value)
{
    redisReply *x = sgt_cmd(w, "XRANGE %s - +", DLQ);
    char *id = NULL;
    size_t i;

    for (i = 0; i < x->elements && id == NULL; i++) {
        const redisReply *v = field(x->element[i], name);
        if (v != NULL && strcmp(v->str, value) == 0)
            id = strdup(x->element[i]->element[0]->str);
    }
    freeReplyObject(x);
    assert_non_null(id);
    return id;
}

/*
 * SG-IN-003, SG-IN-013, SG-DLQ-001, SG-DLQ-005, SG-FRAME-003: dead letters
 * that libsg's consumer wrote are listed, shown decoded with reason and
 * origin, requeued by filter and by ID with exactly their original fields
 * plus requeued_from_dlq, and purged.
 */
static void test_dlq_of_real_failures(void **state)
{
    sgt_world *w = *state;
    redisReply *x, *orig;
    const redisReply *v, *last;
    char *bad_id, *c1_id;
    cJSON *j;
    sgt_run r;
    size_t i;

    freeReplyObject(sgt_cmd(w, "XGROUP CREATE %s sg:workers $ MKSTREAM",
                            INBOUND));
    publish(w, "{\"platform\":\"discord\",\"channel_id\":\"c1\","
               "\"content\":\"boom\"}");
    publish(w, "{\"platform\":\"discord\",\"channel_id\":\"c2\","
               "\"content\":\"boom2\"}");
    freeReplyObject(sgt_cmd(w, "XADD %s * data %b x-extra kept", INBOUND,
                            "\xc1", (size_t)1));
    orig = sgt_cmd(w, "XRANGE %s - +", INBOUND);
    run_failing_worker(w, 3);

    r = sgt_sgctl(w, "dlq", "list", "--json", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 3);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "list", "--reason", "handler_error", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 2);
    assert_non_null(strstr(r.out, "the handler broke"));
    sgt_run_free(&r);

    /* show: the rejected entry with the codec's reason, extra field kept. */
    bad_id = dlq_id_where(w, "dlq_reason", "invalid_msgpack");
    r = sgt_sgctl(w, "dlq", "show", "--json", bad_id, NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"),
                                            "reason")->valuestring,
                        "invalid_msgpack");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"),
                                            "x-extra")->valuestring, "kept");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "dlq"),
                                            "origin_stream")->valuestring,
                        INBOUND);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"),
                                    "dlq_reason"));
    cJSON_Delete(j);
    sgt_run_free(&r);

    /* requeue by channel: c1 only goes back, as it was (SG-DLQ-005). */
    c1_id = NULL;
    r = sgt_sgctl(w, "dlq", "requeue", "--channel", "c1", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "1 requeued"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", DLQ), 2);
    x = sgt_cmd(w, "XRANGE %s - +", INBOUND);
    assert_int_equal(x->elements, 4);
    last = x->element[3];
    /* Original fields byte for byte, then requeued_from_dlq, no dlq_. */
    assert_int_equal(last->element[1]->elements,
                     orig->element[0]->element[1]->elements + 2);
    for (i = 0; i < orig->element[0]->element[1]->elements; i++) {
        const redisReply *a = orig->element[0]->element[1]->element[i];
        const redisReply *b = last->element[1]->element[i];
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->str, b->str, a->len);
    }
    v = field(last, "requeued_from_dlq");
    assert_non_null(v);
    c1_id = strdup(v->str);
    for (i = 0; i < last->element[1]->elements; i += 2)
        assert_int_not_equal(
            strncmp(last->element[1]->element[i]->str, "dlq_", 4), 0);
    freeReplyObject(x);

    /* The same ID again: gone, exit 1, nothing added. */
    r = sgt_sgctl(w, "dlq", "requeue", c1_id, NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_FAIL);
    assert_non_null(strstr(r.err, "not in the dead-letter stream"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", INBOUND), 4);

    /* by ID, then purge the rest. */
    r = sgt_sgctl(w, "dlq", "requeue", "--json", bad_id, NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    assert_string_equal(cJSON_GetObjectItem(j, "requeued")->valuestring,
                        bad_id);
    cJSON_Delete(j);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "purge", "--all", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "1 purged"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", DLQ), 0);
    assert_int_equal(sgt_int(w, "XLEN %s", INBOUND), 5);

    free(bad_id);
    free(c1_id);
    freeReplyObject(orig);
}

/* Adds a dead letter from `origin` carrying `tag`. */
static void add_dead_letter(sgt_world *w, const char *origin,
                            const char *tag)
{
    freeReplyObject(sgt_cmd(w, "XADD %s * data %s dlq_origin_stream %s "
                               "dlq_origin_group g dlq_origin_id 1-0 "
                               "dlq_reason handler_error dlq_path %s "
                               "dlq_error x dlq_attempts 3 dlq_consumer c "
                               "dlq_time_ms 1", DLQ, tag, origin, ""));
}

/* How many entries of stream s carry data == tag. */
static int count_tag(sgt_world *w, const char *s, const char *tag)
{
    redisReply *x = sgt_cmd(w, "XRANGE %s - +", s);
    int n = 0;
    size_t i;

    for (i = 0; x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
        const redisReply *v = field(x->element[i], "data");
        n += v != NULL && strcmp(v->str, tag) == 0;
    }
    freeReplyObject(x);
    return n;
}

static void assert_each_once(sgt_world *w)
{
    static const char *const tags[] = {"one", "two", "three"};
    static const char *const homes[] = {INBOUND, "sg:stream:outbound:x",
                                        INBOUND};
    int i;

    for (i = 0; i < 3; i++)
        assert_int_equal(count_tag(w, DLQ, tags[i]) +
                         count_tag(w, homes[i], tags[i]), 1);
}

/*
 * SG-DLQ-005: a requeue of all entries that fails on the second (its
 * origin key is no stream) moves the first, leaves the second and third
 * in the dead-letter stream, and loses or duplicates nothing; run again
 * once the origin is fixed, it moves the rest.
 */
static void test_dlq_requeue_fails_half_way_atomically(void **state)
{
    sgt_world *w = *state;
    sgt_run r;

    add_dead_letter(w, INBOUND, "one");
    add_dead_letter(w, "sg:stream:outbound:x", "two");
    add_dead_letter(w, INBOUND, "three");
    freeReplyObject(sgt_cmd(w, "SET sg:stream:outbound:x not-a-stream"));

    r = sgt_sgctl(w, "dlq", "requeue", "--all", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_FAIL);
    assert_non_null(strstr(r.err, "stays in the dead-letter stream"));
    assert_non_null(strstr(r.out, "1 requeued"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", DLQ), 2);
    assert_int_equal(count_tag(w, INBOUND, "one"), 1);
    assert_int_equal(count_tag(w, DLQ, "two"), 1);
    assert_int_equal(count_tag(w, DLQ, "three"), 1);
    freeReplyObject(sgt_cmd(w, "DEL sg:stream:outbound:x"));
    assert_int_equal(count_tag(w, DLQ, "two"), 1);

    r = sgt_sgctl(w, "dlq", "requeue", "--all", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "2 requeued"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", DLQ), 0);
    assert_each_once(w);
}

/* Usage: requeue and purge need IDs, --all or a filter; show needs IDs. */
static void test_dlq_usage_and_filters(void **state)
{
    sgt_world *w = *state;
    sgt_run r;

    r = sgt_sgctl(w, "dlq", "requeue", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "purge", "1-0", "--all", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "show", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "show", "1-1", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_FAIL);
    sgt_run_free(&r);

    add_dead_letter(w, INBOUND, "one");
    add_dead_letter(w, "sg:stream:outbound:x", "two");
    r = sgt_sgctl(w, "dlq", "list", "--origin", "sg:stream:outbound:x",
                  NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 1);
    assert_non_null(strstr(r.out, "from sg:stream:outbound:x"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "dlq", "purge", "--origin", INBOUND, NULL);
    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
    assert_int_equal(count_tag(w, DLQ, "one"), 0);
    assert_int_equal(count_tag(w, DLQ, "two"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dlq_of_real_failures,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(
            test_dlq_requeue_fails_half_way_atomically, sgt_setup,
            sgt_teardown),
        cmocka_unit_test_setup_teardown(test_dlq_usage_and_filters,
                                        sgt_setup, sgt_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
