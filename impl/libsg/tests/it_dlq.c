/*
 * The dead-letter stream as one deployment-wide stream (SPEC section 18),
 * against a real redis-server: inbound and outbound consumers dead-letter
 * into the same SG_DLQ_STREAM with their origin named (SG-TOPO-010), the
 * dead-letter stream is never trimmed by a consumer even past the stream
 * cap (SG-DLQ-006), and what a publisher writes carries no dlq_ field
 * (SG-DLQ-002).
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
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sg/outbound.h"
#include "sgt_runtime.h"
#include "sgt_loop.h"

#define PLATFORM "test"

typedef struct world {
    sgt_runtime rt;         /* server, loop, connections, names, knobs */
    char out_stream[128];
    char out_group[128];
    long long target;           /* for the loop conditions */
    int published;
} world;

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    w.rt.knobs.stream_maxlen = 1000;       /* the floor of the cap */
    w.rt.knobs.drain_ms = 2000;
    if (sg_name_join(w.out_stream, sizeof w.out_stream,
                     w.rt.topo.outbound_stream_prefix, PLATFORM,
                     strlen(PLATFORM)) < 0 ||
        sg_name_join(w.out_group, sizeof w.out_group,
                     w.rt.topo.gateway_group_prefix, PLATFORM,
                     strlen(PLATFORM)) < 0)
        return -1;
    freeReplyObject(redisCommand(w.rt.sync, "XGROUP CREATE %s %s $ MKSTREAM",
                                 w.rt.topo.inbound_stream,
                                 w.rt.topo.worker_group));
    freeReplyObject(redisCommand(w.rt.sync, "XGROUP CREATE %s %s $ MKSTREAM",
                                 w.out_stream, w.out_group));
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sgt_runtime_stop(&w->rt);
    return 0;
}

/* ---- roles that must never run ------------------------------------------ */

static void never_handle(void *ud, sg_job *job, const sg_envelope *env)
{
    (void)ud;
    (void)env;
    sg_job_finish(job, SG_JOB_OK);
    fail_msg("a malformed entry reached the handler");
}

static void never_send(void *ud, sg_job *job, const sg_outbound *msg)
{
    (void)ud;
    (void)msg;
    sg_job_finish(job, SG_JOB_OK);
    fail_msg("a malformed entry reached the adapter");
}

static sg_inbound_consumer *inbound(world *w)
{
    sg_inbound_consumer_opts o;
    sg_inbound_consumer *in;

    sg_inbound_consumer_opts_init(&o);
    o.conn = w->rt.conn;
    o.topo = &w->rt.topo;
    o.knobs = w->rt.knobs;
    o.consumer = "worker-dlq";
    o.handle = never_handle;
    o.ud = w;
    o.log = &w->rt.log;
    assert_int_equal(sg_inbound_consumer_new(&o, &in), 0);
    assert_int_equal(sg_consumer_start(sg_inbound_consumer_engine(in)), 0);
    return in;
}

static sg_outbound_consumer *outbound(world *w)
{
    static const sg_platform_adapter adapter = {
        never_send, never_send, never_send, never_send, never_send,
        never_send, never_send
    };
    sg_outbound_consumer_opts o;
    sg_outbound_consumer *oc;

    sg_outbound_consumer_opts_init(&o);
    o.conn = w->rt.conn;
    o.topo = &w->rt.topo;
    o.knobs = w->rt.knobs;
    o.platform = PLATFORM;
    o.consumer = "gateway-dlq";
    o.adapter = &adapter;
    o.log = &w->rt.log;
    assert_int_equal(sg_outbound_consumer_new(&o, &oc), 0);
    assert_int_equal(sg_consumer_start(sg_outbound_consumer_engine(oc)), 0);
    return oc;
}

/* ---- Redis helpers ------------------------------------------------------ */

/* n entries whose data is the byte 0xc1, never msgpack, pipelined. */
static void add_malformed(world *w, const char *stream, int n)
{
    redisReply *r;
    int i;

    for (i = 0; i < n; i++)
        redisAppendCommand(w->rt.sync, "XADD %s * data %b", stream, "\xc1",
                           (size_t)1);
    for (i = 0; i < n; i++) {
        assert_int_equal(redisGetReply(w->rt.sync, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

static long long xlen(world *w, const char *stream)
{
    redisReply *r = redisCommand(w->rt.sync, "XLEN %s", stream);
    long long n;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    n = r->integer;
    freeReplyObject(r);
    return n;
}

static int dlq_reached(void *arg)
{
    world *w = arg;

    return xlen(w, w->rt.topo.dlq_stream) >= w->target;
}

/* The value of field `name` in a flat field list, or NULL. */
static const char *field(const redisReply *fields, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

/* ---- tests -------------------------------------------------------------- */

/*
 * SG-TOPO-010: the inbound and the outbound consumer dead-letter into the
 * one stream SG_DLQ_STREAM names, each entry naming its origin stream and
 * group, with the codec's reason (SG-IN-003, SG-OUT-002).
 */
static void test_one_dlq_stream_for_every_origin(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in = inbound(w);
    sg_outbound_consumer *oc = outbound(w);
    redisReply *r;
    size_t i;
    int from_in = 0, from_out = 0;

    add_malformed(w, w->rt.topo.inbound_stream, 3);
    add_malformed(w, w->out_stream, 2);
    w->target = 5;
    assert_int_equal(sgt_loop_until(w->rt.base, dlq_reached, w, 10000), 1);

    r = redisCommand(w->rt.sync, "XRANGE %s - +", w->rt.topo.dlq_stream);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 5);
    for (i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        const char *origin = field(f, "dlq_origin_stream");
        const char *group = field(f, "dlq_origin_group");

        assert_non_null(origin);
        assert_non_null(group);
        assert_string_equal(field(f, "dlq_reason"), "invalid_msgpack");
        if (strcmp(origin, w->rt.topo.inbound_stream) == 0) {
            assert_string_equal(group, w->rt.topo.worker_group);
            from_in++;
        } else {
            assert_string_equal(origin, w->out_stream);
            assert_string_equal(group, w->out_group);
            from_out++;
        }
    }
    freeReplyObject(r);
    assert_int_equal(from_in, 3);
    assert_int_equal(from_out, 2);
    /*
     * No other dead-letter stream was made: one per deployment. (Other
     * keys may have "dlq" in a consumer name.)
     */
    r = redisCommand(w->rt.sync, "SCAN 0 MATCH *dlq* COUNT 100000 TYPE "
                                 "stream");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 1);
    assert_string_equal(r->element[1]->element[0]->str,
                        w->rt.topo.dlq_stream);
    freeReplyObject(r);

    sg_outbound_consumer_free(oc);
    sg_inbound_consumer_free(in);
}

/*
 * SG-DLQ-006: more dead letters than the stream cap (SG_STREAM_MAXLEN at
 * its floor of 1000) are all kept: consumers add to the dead-letter
 * stream without MAXLEN.
 */
static void test_dlq_not_trimmed_past_the_cap(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in = inbound(w);
    long long before = xlen(w, w->rt.topo.dlq_stream);

    add_malformed(w, w->rt.topo.inbound_stream, 1100);
    w->target = before + 1100;
    assert_int_equal(sgt_loop_until(w->rt.base, dlq_reached, w, 60000), 1);
    sgt_loop_for(w->rt.base, 200);
    assert_int_equal(xlen(w, w->rt.topo.dlq_stream), before + 1100);
    sg_inbound_consumer_free(in);
}

static void on_published(int status, const char *entry_id, void *ud)
{
    world *w = ud;

    (void)entry_id;
    assert_int_equal(status, 0);
    w->published++;
}

static int both_published(void *arg)
{
    return ((world *)arg)->published >= 2;
}

/*
 * SG-DLQ-002: an entry the bus publishes holds the framing fields of
 * SPEC section 3 and nothing named dlq_.
 */
static void test_published_entries_have_no_dlq_fields(void **state)
{
    world *w = *state;
    sg_bus_opts bo;
    sg_bus *bus;
    sg_envelope in, out;
    sg_error err;
    redisReply *r;
    const char *streams[2];
    size_t i, j, k;

    sg_bus_opts_init(&bo);
    bo.conn = w->rt.conn;
    bo.topo = &w->rt.topo;
    bo.log = &w->rt.log;
    assert_int_equal(sg_bus_new(&bo, &bus), 0);
    sg_envelope_init(&in, SG_KIND_INBOUND);
    in.u.in.platform = SG_STR(PLATFORM);
    in.u.in.channel_id = SG_STR("c1");
    in.u.in.content = SG_STR("hello");
    sg_envelope_init(&out, SG_KIND_OUTBOUND);
    out.u.out.has_channel_id = true;
    out.u.out.channel_id = SG_STR("c1");
    out.u.out.text = SG_STR("hi");
    w->published = 0;
    assert_int_equal(sg_bus_publish_inbound(bus, &in, NULL, on_published,
                                            w, &err), 0);
    assert_int_equal(sg_bus_publish_outbound(bus, PLATFORM, &out, NULL,
                                             on_published, w, &err), 0);
    assert_int_equal(sgt_loop_until(w->rt.base, both_published, w, 5000), 1);

    streams[0] = w->rt.topo.inbound_stream;
    streams[1] = w->out_stream;
    for (k = 0; k < 2; k++) {
        r = redisCommand(w->rt.sync, "XREVRANGE %s + - COUNT 1", streams[k]);
        assert_non_null(r);
        assert_int_equal(r->elements, 1);
        for (i = 0; i < r->element[0]->element[1]->elements; i += 2) {
            const char *name = r->element[0]->element[1]->element[i]->str;

            assert_true(strncmp(name, "dlq_", 4) != 0);
            j = strcmp(name, "data") == 0 || strcmp(name, "ts") == 0 ||
                strcmp(name, "trace_id") == 0;
            assert_true(j);
        }
        freeReplyObject(r);
    }
    sg_bus_free(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_dlq_stream_for_every_origin),
        cmocka_unit_test(test_dlq_not_trimmed_past_the_cap),
        cmocka_unit_test(test_published_entries_have_no_dlq_fields),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
