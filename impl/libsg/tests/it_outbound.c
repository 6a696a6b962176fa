/*
 * The outbound consumer against a real redis-server: RPC answers, dispatch
 * by type, the double-send guard (completion marker, claim key), write-back
 * of the platform message ID, dispatch failures, and dead letters. Each
 * test names the SPEC IDs it checks; waits are on conditions.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/outbound.h"
#include "sgt_runtime.h"
#include "sgt_loop.h"

#define MAX_CALLS 64

enum mode { SEND_ID, SEND_NO_ID, SEND_FAIL, SEND_HOLD };

typedef struct call {
    char op[16];
    char channel[32];
    char text[64];
} call;

typedef struct world {
    sgt_runtime rt;         /* server, loop, connections, names, knobs */
    char stream[64];
    char group[64];
    enum mode mode;
    call calls[MAX_CALLS];
    int ncalls;
    int next_id;
    int rpcs;
    sg_job *held[8];
    int nheld;
    int done_calls;
} world;

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    w.rt.knobs.autoclaim_interval_ms = 50;
    w.rt.knobs.autoclaim_min_idle_ms = 10000;
    sg_name_join(w.stream, sizeof w.stream, w.rt.topo.outbound_stream_prefix,
                 "test", 4);
    sg_name_join(w.group, sizeof w.group, w.rt.topo.gateway_group_prefix,
                 "test", 4);
    freeReplyObject(redisCommand(w.rt.sync, "XGROUP CREATE %s %s $ MKSTREAM",
                                 w.stream, w.group));
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sgt_runtime_stop(&w->rt);
    return 0;
}

/* ---- the adapter -------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, sg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void record(world *w, const char *op, sg_job *job,
                   const sg_outbound *m)
{
    call *c;

    assert_true(w->ncalls < MAX_CALLS);
    c = &w->calls[w->ncalls++];
    snprintf(c->op, sizeof c->op, "%s", op);
    copy_str(c->channel, sizeof c->channel, m->channel_id);
    copy_str(c->text, sizeof c->text,
             m->type == SG_OUT_REACTION ? m->emoji : m->text);
    switch (w->mode) {
    case SEND_ID: {
        char id[16];
        int n = snprintf(id, sizeof id, "p-%d", ++w->next_id);

        sg_job_set_message_id(job, id, (size_t)n);
        sg_job_finish(job, SG_JOB_OK);
        break;
    }
    case SEND_NO_ID:
        sg_job_finish(job, SG_JOB_OK);
        break;
    case SEND_FAIL:
        sg_job_finish(job, SG_JOB_FAILED("platform said 503"));
        break;
    case SEND_HOLD:
        assert_true(w->nheld < 8);
        w->held[w->nheld++] = job;
        break;
    }
}

#define ADAPTER_OP(name)                                                    \
    static void op_##name(void *ud, sg_job *job, const sg_outbound *m)      \
    {                                                                       \
        record(ud, #name, job, m);                                          \
    }
ADAPTER_OP(send)
ADAPTER_OP(send_file)
ADAPTER_OP(send_buttons)
ADAPTER_OP(start_typing)
ADAPTER_OP(stop_typing)
ADAPTER_OP(set_presence)
#undef ADAPTER_OP

static const sg_platform_adapter adapter = {
    op_send, op_send_file, op_send_buttons, op_start_typing,
    op_stop_typing, NULL /* no reactions on this platform */,
    op_set_presence,
};

static void serve_rpc(void *ud, sg_job *job, const sg_outbound *req)
{
    world *w = ud;
    char method[64];

    w->rpcs++;
    copy_str(method, sizeof method, req->rpc_method);
    if (strcmp(method, "should_skip_channel_heartbeat") == 0)
        sg_outbound_rpc_reply(job, "true", 4);
    else
        sg_outbound_rpc_reply(job, "{\"error\":\"nope\"}", 16);
}

static sg_outbound_consumer *engine(world *w, const char *name, int rpc)
{
    sg_outbound_consumer_opts o;
    sg_outbound_consumer *oc;

    sg_outbound_consumer_opts_init(&o);
    o.conn = w->rt.conn;
    o.topo = &w->rt.topo;
    o.knobs = w->rt.knobs;
    o.platform = "test";
    o.consumer = name;
    o.adapter = &adapter;
    o.adapter_ud = w;
    o.rpc = rpc ? serve_rpc : NULL;
    o.rpc_ud = w;
    o.log = &w->rt.log;
    assert_int_equal(sg_outbound_consumer_new(&o, &oc), 0);
    assert_int_equal(sg_consumer_start(sg_outbound_consumer_engine(oc)), 0);
    return oc;
}

static sg_consumer_stats stats(sg_outbound_consumer *oc)
{
    sg_consumer_stats st;

    sg_consumer_get_stats(sg_outbound_consumer_engine(oc), &st);
    return st;
}

/* ---- Redis helpers ------------------------------------------------------ */

static void publish_env(world *w, const sg_envelope *env, char *id)
{
    sg_buf buf;
    sg_error err;
    redisReply *r;

    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    r = redisCommand(w->rt.sync, "XADD %s * data %b trace_id t-1", w->stream,
                     buf.data, buf.len);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    if (id != NULL)
        snprintf(id, 32, "%s", r->str);
    freeReplyObject(r);
    sg_buf_destroy(&buf);
}

static sg_str str_of(const char *s)
{
    sg_str v;

    v.ptr = s;
    v.len = s != NULL ? strlen(s) : 0;
    return v;
}

/* Publishes an envelope of `type` on channel `ch` (NULL: none). */
static void publish(world *w, sg_out_type type, const char *ch,
                    const char *text, const char *message_key, char *id)
{
    sg_envelope env;

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = type;
    if (ch != NULL) {
        env.u.out.has_channel_id = true;
        env.u.out.channel_id = str_of(ch);
    }
    env.u.out.text = str_of(text);
    if (message_key != NULL) {
        env.u.out.has_message_key = true;
        env.u.out.message_key = str_of(message_key);
    }
    if (type == SG_OUT_FILE) {
        env.u.out.file_data.ptr = (const uint8_t *)"\x00\x01";
        env.u.out.file_data.len = 2;
    }
    if (type == SG_OUT_REACTION) {
        env.u.out.message_id = str_of("m-1");
        env.u.out.emoji = str_of("+1");
    }
    if (type == SG_OUT_BUTTONS) {
        /* [{"label": "ok"}] */
        env.u.out.buttons.mp = (const uint8_t *)"\x91\x81\xa5label\xa2ok";
        env.u.out.buttons.len = 11;
    }
    publish_env(w, &env, id);
}

static void publish_rpc(world *w, const char *method, const char *ch,
                        const char *reply_key)
{
    sg_envelope env;

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_RPC_REQUEST;
    env.u.out.rpc_method = str_of(method);
    env.u.out.reply_key = str_of(reply_key);
    if (ch != NULL) {
        env.u.out.has_channel_id = true;
        env.u.out.channel_id = str_of(ch);
    }
    publish_env(w, &env, NULL);
}

static long long pending(world *w)
{
    return sgt_pending(&w->rt, w->stream, w->group);
}

/* Field `name` of dead letter `index` into out; 0 if found. */
static int dlq_field(world *w, int index, const char *name, char *out,
                     size_t cap)
{
    redisReply *r = redisCommand(w->rt.sync, "XRANGE %s - +",
                                 w->rt.topo.dlq_stream);
    int found = -1;
    size_t i;

    if (r->type == REDIS_REPLY_ARRAY && (size_t)index < r->elements) {
        redisReply *f = r->element[index]->element[1];

        for (i = 0; i + 1 < f->elements; i += 2)
            if (strcmp(f->element[i]->str, name) == 0) {
                snprintf(out, cap, "%.*s", (int)f->element[i + 1]->len,
                         f->element[i + 1]->str);
                found = 0;
            }
    }
    freeReplyObject(r);
    return found;
}

typedef struct cond {
    world *w;
    sg_outbound_consumer *oc;
    long long n;
} cond;

static int settled_at_least(void *arg)
{
    cond *c = arg;
    sg_consumer_stats st = stats(c->oc);

    return (long long)(st.handled + st.skipped + st.dead_lettered +
                       st.failed) >= c->n;
}

static int lost_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->oc).lost >= c->n;
}

static int pending_is(void *arg)
{
    cond *c = arg;

    return pending(c->w) == c->n;
}

static int calls_at_least(void *arg)
{
    cond *c = arg;

    return c->w->ncalls >= c->n;
}

#define WAIT(fn, ...)                                                       \
    do {                                                                    \
        cond c_ = {__VA_ARGS__};                                            \
        assert_true(sgt_loop_until(w->rt.base, fn, &c_, 10000));            \
    } while (0)

/* ---- tests -------------------------------------------------------------- */

/*
 * SG-OUT-001, SG-OUT-004, SG-OUT-005, SG-OUT-007, SG-OUTENV-002,
 * SG-TOPO-002, SG-TOPO-011: every type reaches its adapter operation, in
 * stream order per channel; presence needs no channel; a missing
 * capability succeeds; the platform's stream is read through its gateway
 * group and no other.
 */
static void test_outbound_dispatches_by_type(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc = engine(w, "gw-aaaaaaaa", 1);
    static const char *const want[] = {"send", "send_file", "send_buttons",
                                       "start_typing", "start_typing",
                                       "stop_typing"};
    int i, k;

    publish(w, SG_OUT_MESSAGE, "c", "hello", NULL, NULL);
    publish(w, SG_OUT_FILE, "c", "caption", NULL, NULL);
    publish(w, SG_OUT_BUTTONS, "c", "pick", NULL, NULL);
    publish(w, SG_OUT_TYPING, "c", NULL, NULL, NULL);
    publish(w, SG_OUT_START_TYPING, "c", NULL, NULL, NULL);
    publish(w, SG_OUT_STOP_TYPING, "c", NULL, NULL, NULL);
    publish(w, SG_OUT_REACTION, "c", NULL, NULL, NULL);
    publish(w, SG_OUT_PRESENCE, NULL, "online", NULL, NULL);
    WAIT(settled_at_least, w, oc, 8);
    WAIT(pending_is, w, oc, 0);
    assert_int_equal(w->ncalls, 7);
    /* One channel: stream order. Presence has no lock, so it may pass. */
    for (i = 0, k = 0; i < 7; i++) {
        if (strcmp(w->calls[i].op, "set_presence") == 0) {
            assert_string_equal(w->calls[i].text, "online");
            continue;
        }
        assert_string_equal(w->calls[i].op, want[k]);
        if (k++ == 0) {
            assert_string_equal(w->calls[i].text, "hello");
            assert_string_equal(w->calls[i].channel, "c");
        }
    }
    assert_int_equal(k, 6);
    assert_int_equal(stats(oc).handled, 8);
    assert_int_equal(sgt_int(&w->rt, "XLEN %s", w->rt.topo.dlq_stream), 0);
    {
        redisReply *r = redisCommand(w->rt.sync, "XINFO GROUPS %s", w->stream);

        assert_int_equal(r->elements, 1);
        assert_string_equal(r->element[0]->element[1]->str,
                            "sg:gateway:test");
        freeReplyObject(r);
    }
    sg_outbound_consumer_free(oc);
}

/*
 * SG-OUT-008, SG-OUT-009, SG-OUT-013, SG-OUT-014: a send writes the
 * platform message ID to message_key, with a 90-day TTL only when the hash
 * is new; a second entry with the same message_key is not sent again.
 */
static void test_outbound_writes_back_message_id_once(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc = engine(w, "gw-bbbbbbbb", 1);
    char v[64];
    long long ttl;

    freeReplyObject(redisCommand(w->rt.sync,
                                 "HSET msg:old content x"));
    freeReplyObject(redisCommand(w->rt.sync, "EXPIRE msg:old 100"));
    publish(w, SG_OUT_MESSAGE, "c", "first", "msg:new", NULL);
    publish(w, SG_OUT_MESSAGE, "c", "again", "msg:new", NULL);
    publish(w, SG_OUT_MESSAGE, "c", "existing", "msg:old", NULL);
    WAIT(settled_at_least, w, oc, 3);
    WAIT(pending_is, w, oc, 0);
    assert_int_equal(w->ncalls, 2);
    assert_string_equal(w->calls[0].text, "first");
    assert_string_equal(w->calls[1].text, "existing");
    sgt_str(&w->rt, v, sizeof v, "HGET msg:new message_id");
    assert_string_equal(v, "p-1");
    ttl = sgt_int(&w->rt, "TTL msg:new");
    assert_true(ttl > 7776000 - 60 && ttl <= 7776000);
    sgt_str(&w->rt, v, sizeof v, "HGET msg:old message_id");
    assert_string_equal(v, "p-2");
    ttl = sgt_int(&w->rt, "TTL msg:old");
    assert_true(ttl > 0 && ttl <= 100);
    assert_int_equal(stats(oc).skipped, 1);
    sg_outbound_consumer_free(oc);
}

/* SG-OUT-010: the claim key held by another entry: no send, acked. */
static void test_outbound_duplicate_claim_is_acked_unsent(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;

    freeReplyObject(redisCommand(w->rt.sync, "SET %s:msg:dup 1-1 PX 60000",
                                 w->rt.topo.outbound_claim_prefix));
    oc = engine(w, "gw-cccccccc", 1);
    publish(w, SG_OUT_MESSAGE, "c", "dup", "msg:dup", NULL);
    WAIT(settled_at_least, w, oc, 1);
    WAIT(pending_is, w, oc, 0);
    assert_int_equal(w->ncalls, 0);
    assert_int_equal(stats(oc).skipped, 1);
    assert_int_equal(sgt_int(&w->rt, "XLEN %s", w->rt.topo.dlq_stream), 0);
    sg_outbound_consumer_free(oc);
}

/*
 * SG-OUT-011, SG-OUT-015, SG-CLAIM-004, SG-DLQ-001: an entry whose claim
 * key holds its own ID (a gateway died between claim and marker) is
 * reclaimed, not sent, dead-lettered as send_state_unknown with its fields,
 * and acknowledged; the claim was counted in the outbound hash.
 */
static void test_outbound_unknown_send_state_is_dead_lettered(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char id[32], v[128];

    w->rt.knobs.autoclaim_min_idle_ms = 50;
    publish(w, SG_OUT_MESSAGE, "c", "maybe-sent", "msg:unknown", id);
    freeReplyObject(redisCommand(w->rt.sync,
                                 "XREADGROUP GROUP %s gw-dead COUNT 1 "
                                 "STREAMS %s >", w->group, w->stream));
    freeReplyObject(redisCommand(w->rt.sync, "SET %s:msg:unknown %s PX 60000",
                                 w->rt.topo.outbound_claim_prefix, id));
    sgt_loop_for(w->rt.base, 60);
    oc = engine(w, "gw-dddddddd", 1);
    WAIT(settled_at_least, w, oc, 1);
    WAIT(pending_is, w, oc, 0);
    assert_int_equal(w->ncalls, 0);
    assert_int_equal(dlq_field(w, 0, "dlq_reason", v, sizeof v), 0);
    assert_string_equal(v, "send_state_unknown");
    dlq_field(w, 0, "dlq_origin_id", v, sizeof v);
    assert_string_equal(v, id);
    dlq_field(w, 0, "dlq_origin_group", v, sizeof v);
    assert_string_equal(v, w->group);
    dlq_field(w, 0, "trace_id", v, sizeof v);
    assert_string_equal(v, "t-1");
    dlq_field(w, 0, "dlq_attempts", v, sizeof v);
    assert_string_equal(v, "2");
    assert_int_equal(dlq_field(w, 0, "data", v, sizeof v), 0);
    /* Counted by the sweep, removed by the dead letter. */
    assert_int_equal(sgt_int(&w->rt, "HLEN %s",
                               w->rt.topo.outbound_claim_attempts_key), 0);
    assert_int_equal(stats(oc).claimed, 1);
    sg_outbound_consumer_free(oc);
}

/*
 * SG-OUT-012, SG-IN-012, SG-IN-013: a failed dispatch deletes its claim
 * key, is not acknowledged, is retried, and is dead-lettered as
 * dispatch_failed at the last delivery.
 */
static void test_outbound_dispatch_failure_retries_then_dead_letters(
    void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char v[128];

    w->mode = SEND_FAIL;
    w->rt.knobs.max_deliveries = 2;
    w->rt.knobs.autoclaim_min_idle_ms = 100;
    oc = engine(w, "gw-eeeeeeee", 1);
    publish(w, SG_OUT_MESSAGE, "c", "flaky", "msg:flaky", NULL);
    WAIT(calls_at_least, w, oc, 1);
    /* After the first failure: pending, claim key gone. */
    sgt_loop_for(w->rt.base, 30);
    assert_int_equal(pending(w), 1);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s:msg:flaky",
                               w->rt.topo.outbound_claim_prefix), 0);
    WAIT(calls_at_least, w, oc, 2);
    WAIT(pending_is, w, oc, 0);
    assert_int_equal(dlq_field(w, 0, "dlq_reason", v, sizeof v), 0);
    assert_string_equal(v, "dispatch_failed");
    dlq_field(w, 0, "dlq_error", v, sizeof v);
    assert_string_equal(v, "platform said 503");
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s:msg:flaky",
                               w->rt.topo.outbound_claim_prefix), 0);
    assert_int_equal(sgt_int(&w->rt, "EXISTS msg:flaky"), 0);
    sg_outbound_consumer_free(oc);
}

static int list_len_is(void *arg)
{
    cond *c = arg;

    return sgt_int(&c->w->rt, "LLEN rpc:reply:1") == c->n;
}

/*
 * SG-RPC-002, SG-RPC-003, SG-OUT-003, SG-LOCK-006: an RPC is answered
 * while the channel's outbound lock ({prefix}:{platform}:{channel}) is
 * held elsewhere: exactly one JSON text pushed, a 60 s expiry, the entry
 * acknowledged; the message behind the lock waits.
 */
static void test_outbound_rpc_answers_without_the_lock(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char v[64];
    long long ttl;

    freeReplyObject(redisCommand(w->rt.sync, "SET %s:test:busy other",
                                 w->rt.topo.outbound_lock_prefix));
    oc = engine(w, "gw-ffffffff", 1);
    publish(w, SG_OUT_MESSAGE, "busy", "blocked", NULL, NULL);
    publish_rpc(w, "should_skip_channel_heartbeat", "busy",
                "rpc:reply:1");
    WAIT(list_len_is, w, oc, 1);
    sgt_str(&w->rt, v, sizeof v, "LINDEX rpc:reply:1 0");
    assert_string_equal(v, "true");
    ttl = sgt_int(&w->rt, "TTL rpc:reply:1");
    assert_true(ttl > 0 && ttl <= 60);
    WAIT(pending_is, w, oc, 1);   /* only the blocked message */
    assert_int_equal(w->rpcs, 1);
    assert_int_equal(w->ncalls, 0);
    sg_outbound_consumer_free(oc);
}

/* SG-RPC-004: without an RPC server, an unknown-method error object. */
static void test_outbound_rpc_without_server_answers_unknown(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc = engine(w, "gw-gggggggg", 0);
    char v[128];

    publish_rpc(w, "do_\"magic\"", NULL, "rpc:reply:1");
    WAIT(list_len_is, w, oc, 1);
    sgt_str(&w->rt, v, sizeof v, "LINDEX rpc:reply:1 0");
    assert_string_equal(v,
                        "{\"error\":\"Unknown RPC method: do_\\\"magic\\\"\"}");
    WAIT(pending_is, w, oc, 0);
    sg_outbound_consumer_free(oc);
}

/*
 * SG-OUT-002, SG-OUT-016, SG-OUTENV-003, SG-RPC-008: an unknown type and
 * an RPC without reply_key are dead-lettered with reason and path.
 */
static void test_outbound_dead_letters_rejected_envelopes(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char v[64];
    /* {"type": "fax", "channel_id": "c"} */
    static const char fax[] = "\x82\xa4type\xa3" "fax\xaa" "channel_id\xa1"
                              "c";
    /* {"type": "rpc_request", "rpc_method": "m"} */
    static const char rpc[] = "\x82\xa4type\xabrpc_request\xaarpc_method"
                              "\xa1m";

    freeReplyObject(redisCommand(w->rt.sync, "XADD %s * data %b", w->stream,
                                 fax, sizeof fax - 1));
    freeReplyObject(redisCommand(w->rt.sync, "XADD %s * data %b", w->stream,
                                 rpc, sizeof rpc - 1));
    oc = engine(w, "gw-hhhhhhhh", 1);
    WAIT(settled_at_least, w, oc, 2);
    WAIT(pending_is, w, oc, 0);
    dlq_field(w, 0, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "unknown_type");
    dlq_field(w, 0, "dlq_path", v, sizeof v);
    assert_string_equal(v, "data.type");
    dlq_field(w, 1, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "missing_field");
    dlq_field(w, 1, "dlq_path", v, sizeof v);
    assert_string_equal(v, "data.reply_key");
    assert_int_equal(w->ncalls + w->rpcs, 0);
    sg_outbound_consumer_free(oc);
}

/*
 * SG-OUT-006, SG-IN-009: an entry taken over by another gateway while it
 * waited for its lock is left alone: no completion-marker check, no claim
 * key, no send, no acknowledgement.
 */
static void test_outbound_entry_no_longer_ours_is_left_alone(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char id[32], lock[300];
    redisReply *r;

    snprintf(lock, sizeof lock, "%s:test:c", w->rt.topo.outbound_lock_prefix);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s other", lock));
    oc = engine(w, "gw-iiiiiiii", 1);
    publish(w, SG_OUT_MESSAGE, "c", "stolen", "msg:stolen", id);
    {
        cond c_ = {w, oc, 1};

        assert_true(sgt_loop_until(w->rt.base, pending_is, &c_, 10000));
    }
    sgt_loop_for(w->rt.base, 30);
    /* Another gateway takes it over, then the lock comes free. */
    freeReplyObject(redisCommand(w->rt.sync, "XCLAIM %s %s gw-other 0 %s "
                                 "JUSTID", w->stream, w->group, id));
    freeReplyObject(redisCommand(w->rt.sync, "DEL %s", lock));
    {
        cond c_ = {w, oc, 1};

        assert_true(sgt_loop_until(w->rt.base, lost_at_least, &c_, 10000));
    }
    assert_int_equal(w->ncalls, 0);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s:msg:stolen",
                               w->rt.topo.outbound_claim_prefix), 0);
    r = redisCommand(w->rt.sync, "XPENDING %s %s - + 10", w->stream, w->group);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->element[1]->str, "gw-other");
    freeReplyObject(r);
    sg_outbound_consumer_free(oc);
}

static void on_stopped(sg_consumer *c, void *ud)
{
    (void)c;
    ((world *)ud)->done_calls++;
}

static int stopped(void *arg)
{
    return ((cond *)arg)->w->done_calls > 0;
}

/*
 * SG-OUT-018, SG-IN-017: a gateway's graceful stop lets the send in
 * progress finish, writes its marker and acknowledges it, and leaves the
 * queued send pending.
 */
static void test_outbound_graceful_stop_drains(void **state)
{
    world *w = *state;
    sg_outbound_consumer *oc;
    char v[32];

    w->mode = SEND_HOLD;
    oc = engine(w, "gw-jjjjjjjj", 1);
    publish(w, SG_OUT_MESSAGE, "c", "sending", "msg:drain", NULL);
    publish(w, SG_OUT_MESSAGE, "c", "queued", NULL, NULL);
    WAIT(calls_at_least, w, oc, 1);
    WAIT(pending_is, w, oc, 2);
    assert_int_equal(sg_consumer_stop(sg_outbound_consumer_engine(oc),
                                      on_stopped, w), 0);
    sgt_loop_for(w->rt.base, 30);
    assert_int_equal(w->done_calls, 0);
    sg_job_set_message_id(w->held[0], "p-9", 3);
    sg_job_finish(w->held[0], SG_JOB_OK);
    WAIT(stopped, w, oc, 0);
    assert_int_equal(w->ncalls, 1);
    assert_int_equal(pending(w), 1);
    sgt_str(&w->rt, v, sizeof v, "HGET msg:drain message_id");
    assert_string_equal(v, "p-9");
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s:test:c",
                               w->rt.topo.outbound_lock_prefix), 0);
    sg_outbound_consumer_free(oc);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_outbound_dispatches_by_type),
        T(test_outbound_writes_back_message_id_once),
        T(test_outbound_duplicate_claim_is_acked_unsent),
        T(test_outbound_unknown_send_state_is_dead_lettered),
        T(test_outbound_dispatch_failure_retries_then_dead_letters),
        T(test_outbound_rpc_answers_without_the_lock),
        T(test_outbound_rpc_without_server_answers_unknown),
        T(test_outbound_dead_letters_rejected_envelopes),
        T(test_outbound_entry_no_longer_ours_is_left_alone),
        T(test_outbound_graceful_stop_drains),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
