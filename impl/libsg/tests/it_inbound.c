/*
 * The consumer engine through the inbound consumer, against a real
 * redis-server. Knobs are set to milliseconds so every test takes well
 * under a few seconds; every wait is on a condition, with a deadline.
 * Each test names the SPEC IDs it checks.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sgt_runtime.h"
#include "sgt_loop.h"

#define MAX_SEEN 1024
#define MAX_HELD 256

enum mode { MODE_OK, MODE_HOLD, MODE_FAIL, MODE_CANCEL };

typedef struct seen {
    char channel[32];
    char content[32];
    char id[32];
} seen;

typedef struct world {
    sgt_runtime rt;         /* server, loop, connections, names, knobs */
    enum mode mode;
    seen seen[MAX_SEEN];
    int nseen;
    sg_job *held[MAX_HELD];
    int nheld;
    int running;        /* handlings started and not finished */
    int max_running;
    int overlap;        /* a channel ran twice at once */
    char running_ch[MAX_HELD][32];
    int done_calls;
} world;

static world *W;

/* ---- fixture ------------------------------------------------------------ */

static int setup_with(void **state, const sgt_redis_opts *ro)
{
    static world w;

    memset(&w, 0, sizeof w);
    W = &w;
    if (sgt_runtime_start(&w.rt, ro) != 0)
        return -1;
    w.rt.knobs.lock_ttl_ms = 2000;
    w.rt.knobs.lock_wait_ms = 5000;
    w.rt.knobs.autoclaim_interval_ms = 50;
    w.rt.knobs.autoclaim_min_idle_ms = 10000;
    w.rt.knobs.drain_ms = 3000;
    freeReplyObject(redisCommand(w.rt.sync, "XGROUP CREATE %s %s $ MKSTREAM",
                                 w.rt.topo.inbound_stream,
                                 w.rt.topo.worker_group));
    *state = &w;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

/* A server whose data survives a restart (append-only file). */
static int setup_persistent(void **state)
{
    sgt_redis_opts ro;

    memset(&ro, 0, sizeof ro);
    ro.persistence = 1;
    return setup_with(state, &ro);
}

static int teardown(void **state)
{
    world *w = *state;

    sgt_runtime_stop(&w->rt);
    return 0;
}

/* ---- the role ----------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, sg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void handle(void *ud, sg_job *job, const sg_envelope *env)
{
    world *w = ud;
    seen *s;
    int i;

    if (w->nseen < MAX_SEEN) {
        s = &w->seen[w->nseen++];
        copy_str(s->channel, sizeof s->channel, env->u.in.channel_id);
        copy_str(s->content, sizeof s->content, env->u.in.content);
        snprintf(s->id, sizeof s->id, "%s", sg_job_id(job));
        for (i = 0; i < w->nheld; i++)
            if (w->held[i] != NULL &&
                strcmp(w->running_ch[i], s->channel) == 0 &&
                env->u.in.is_addressed)
                w->overlap = 1;
    }
    switch (w->mode) {
    case MODE_OK:
        sg_job_finish(job, SG_JOB_OK);
        break;
    case MODE_FAIL:
        sg_job_finish(job, SG_JOB_FAILED("the handler broke"));
        break;
    case MODE_CANCEL:
        sg_job_finish(job, SG_JOB_CANCELLED);
        break;
    case MODE_HOLD:
        assert_true(w->nheld < MAX_HELD);
        copy_str(w->running_ch[w->nheld], sizeof w->running_ch[0],
                 env->u.in.channel_id);
        w->held[w->nheld++] = job;
        w->running++;
        if (w->running > w->max_running)
            w->max_running = w->running;
        break;
    }
}

/* Finishes held job i (OK) and forgets it. */
static void release_held(world *w, int i, sg_job_result r)
{
    assert_non_null(w->held[i]);
    sg_job_finish(w->held[i], r);
    w->held[i] = NULL;
    w->running--;
}

static sg_inbound_consumer *engine(world *w, const char *name)
{
    sg_inbound_consumer_opts o;
    sg_inbound_consumer *in;

    sg_inbound_consumer_opts_init(&o);
    o.conn = w->rt.conn;
    o.topo = &w->rt.topo;
    o.knobs = w->rt.knobs;
    o.consumer = name;
    o.handle = handle;
    o.ud = w;
    o.log = &w->rt.log;
    assert_int_equal(sg_inbound_consumer_new(&o, &in), 0);
    assert_int_equal(sg_consumer_start(sg_inbound_consumer_engine(in)), 0);
    return in;
}

/* SG-TOPO-007: role plus random hex, fresh each time. */
static void test_consumer_name_make_is_unique(void **state)
{
    char a[32], b[32];

    (void)state;
    assert_int_equal(sg_consumer_name_make(a, sizeof a, "worker"), 0);
    assert_int_equal(sg_consumer_name_make(b, sizeof b, "worker"), 0);
    assert_int_equal(strlen(a), strlen("worker-") + 16);
    assert_memory_equal(a, "worker-", 7);
    assert_string_not_equal(a, b);
    assert_int_equal(sg_consumer_name_make(a, 10, "worker"), SG_EINVAL);
}

static sg_consumer_stats stats(sg_inbound_consumer *in)
{
    sg_consumer_stats st;

    sg_consumer_get_stats(sg_inbound_consumer_engine(in), &st);
    return st;
}

/* ---- Redis helpers ------------------------------------------------------ */

/* Publishes an inbound envelope; writes the entry ID to id (if not NULL). */
static void publish(world *w, const char *channel, const char *content,
                    int addressed, char *id)
{
    assert_int_equal(sgt_publish_inbound(&w->rt, channel, content, addressed,
                                         id, 32),
                     0);
}


/* Number of entries pending in the worker group. */
static long long pending(world *w)
{
    return sgt_pending(&w->rt, w->rt.topo.inbound_stream,
                       w->rt.topo.worker_group);
}

static long long dlq_len(world *w)
{
    return sgt_int(&w->rt, "XLEN %s", w->rt.topo.dlq_stream);
}

/* Field `name` of the first dead letter, into out; 0 if found. */
static int dlq_field(world *w, int index, const char *name, char *out,
                     size_t cap)
{
    redisReply *r = redisCommand(w->rt.sync, "XRANGE %s - +",
                                 w->rt.topo.dlq_stream);
    int found = -1;
    size_t i;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_ARRAY && (size_t)index < r->elements) {
        redisReply *f = r->element[index]->element[1];

        for (i = 0; i + 1 < f->elements; i += 2)
            if (strcmp(f->element[i]->str, name) == 0) {
                snprintf(out, cap, "%.*s", (int)f->element[i + 1]->len,
                         f->element[i + 1]->str);
                found = 0;
                break;
            }
    }
    freeReplyObject(r);
    return found;
}

/* Names of the fields of dead letter `index`, comma-separated. */
static void dlq_names(world *w, int index, char *out, size_t cap)
{
    redisReply *r = redisCommand(w->rt.sync, "XRANGE %s - +",
                                 w->rt.topo.dlq_stream);
    size_t i, used = 0;

    out[0] = '\0';
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ARRAY && (size_t)index < r->elements) {
        redisReply *f = r->element[index]->element[1];

        for (i = 0; i < f->elements; i += 2) {
            int n = snprintf(out + used, cap - used, "%s%s", i ? "," : "",
                             f->element[i]->str);

            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
    }
    freeReplyObject(r);
}

static int key_exists(world *w, const char *key)
{
    return sgt_int(&w->rt, "EXISTS %s", key) == 1;
}

static void lock_key(world *w, const char *channel, char *out, size_t cap)
{
    assert_true(sg_name_join(out, cap, w->rt.topo.lock_prefix, channel,
                             strlen(channel)) > 0);
}

/* Reads up to n new entries as consumer `name`, outside the engine. */
static void read_as(world *w, const char *name, int n)
{
    freeReplyObject(redisCommand(w->rt.sync,
                                 "XREADGROUP GROUP %s %s COUNT %d STREAMS "
                                 "%s >",
                                 w->rt.topo.worker_group, name, n,
                                 w->rt.topo.inbound_stream));
}

/* ---- conditions --------------------------------------------------------- */

typedef struct cond {
    world *w;
    sg_inbound_consumer *in;
    long long n;
} cond;

static int seen_at_least(void *arg)
{
    cond *c = arg;

    return c->w->nseen >= c->n;
}

static int handled_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).handled >= c->n;
}

static int pending_is(void *arg)
{
    cond *c = arg;

    return pending(c->w) == c->n;
}

static int dlq_is(void *arg)
{
    cond *c = arg;

    return dlq_len(c->w) == c->n;
}

static int dead_lettered_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).dead_lettered >= c->n;
}

static int failed_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).failed >= c->n;
}

/* No client is blocked in Redis (the stopped reader is gone). */
static int no_blocked_client(void *arg)
{
    cond *c = arg;
    redisReply *r = redisCommand(c->w->rt.sync, "INFO clients");
    int ok = r != NULL && r->type == REDIS_REPLY_STRING &&
             strstr(r->str, "blocked_clients:0") != NULL;

    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

static int held_at_least(void *arg)
{
    cond *c = arg;

    return c->w->nheld >= c->n;
}

static int in_flight_is(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).in_flight == c->n;
}

#define WAIT(fn, ...)                                                       \
    do {                                                                    \
        cond c_ = {__VA_ARGS__};                                            \
        assert_true(sgt_loop_until(w->rt.base, fn, &c_, 10000));            \
    } while (0)

/* ---- tests -------------------------------------------------------------- */

/*
 * SG-IN-001, SG-IN-010, SG-IN-021, SG-IN-022, SG-CLAIM-009, SG-LOCK-003,
 * SG-LOCK-007: every entry handled and acknowledged, counted, no lock and
 * no claim-attempt field left behind.
 */
static void test_inbound_handles_and_acknowledges(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in = engine(w, "worker-aaaaaaaa");
    char lock[64];
    int i;

    for (i = 0; i < 20; i++) {
        char content[16];

        snprintf(content, sizeof content, "m%d", i);
        publish(w, i % 2 ? "c1" : "c2", content, 1, NULL);
    }
    WAIT(handled_at_least, w, in, 20);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(stats(in).in_flight, 0);
    assert_int_equal(stats(in).read, 20);
    assert_int_equal(stats(in).handled, 20);
    assert_int_equal(stats(in).failed + stats(in).dead_lettered, 0);
    assert_true(stats(in).commands > 0);
    lock_key(w, "c1", lock, sizeof lock);
    WAIT(pending_is, w, in, 0);
    sgt_loop_for(w->rt.base, 20);
    assert_false(key_exists(w, lock));
    assert_int_equal(sgt_int(&w->rt, "HLEN %s", w->rt.topo.claim_attempts_key),
                     0);
    assert_int_equal(dlq_len(w), 0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-004, SG-IN-005, SG-IN-008, SG-LOCK-005: one channel's entries run
 * one at a time in stream order; different channels run at once.
 */
static void test_inbound_orders_each_channel_and_runs_channels_together(
    void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    static const char *const chans[] = {"a", "b", "c"};
    int i, k, next[3] = {0, 0, 0};

    w->mode = MODE_HOLD;
    in = engine(w, "worker-bbbbbbbb");
    for (i = 0; i < 15; i++) {
        char content[16];

        snprintf(content, sizeof content, "%d", i / 3);
        publish(w, chans[i % 3], content, 1, NULL);
    }
    /* Finish whatever runs, one by one, until all 15 ran. */
    for (k = 0; k < 15; k++) {
        int j;

        WAIT(held_at_least, w, in, k + 1);
        for (j = 0; j < w->nheld; j++)
            if (w->held[j] != NULL) {
                release_held(w, j, SG_JOB_OK);
                break;
            }
    }
    WAIT(handled_at_least, w, in, 15);
    assert_int_equal(w->overlap, 0);
    /* The three channels' first entries ran at the same time. */
    assert_true(w->max_running >= 3);
    for (i = 0; i < w->nseen; i++) {
        int c = w->seen[i].channel[0] - 'a';
        char want[16];

        snprintf(want, sizeof want, "%d", next[c]++);
        assert_string_equal(w->seen[i].content, want);
    }
    sg_inbound_consumer_free(in);
}

/* SG-IN-002: never more than SG_MAX_IN_FLIGHT read and not finished. */
static void test_inbound_backpressure_caps_entries_in_flight(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    int i;

    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 5;
    w->rt.knobs.read_count = 10;
    in = engine(w, "worker-cccccccc");
    for (i = 0; i < 12; i++) {
        char ch[8];

        snprintf(ch, sizeof ch, "ch%d", i);
        publish(w, ch, "x", 1, NULL);
    }
    WAIT(held_at_least, w, in, 5);
    /* Give it every chance to read more than it may. */
    sgt_loop_for(w->rt.base, 300);
    assert_int_equal(w->nheld, 5);
    assert_int_equal(pending(w), 5);
    assert_int_equal(stats(in).max_in_flight_seen, 5);
    for (i = 0; i < 5; i++)
        release_held(w, i, SG_JOB_OK);
    WAIT(held_at_least, w, in, 10);
    assert_true(stats(in).max_in_flight_seen <= 5);
    for (i = 5; i < 10; i++)
        release_held(w, i, SG_JOB_OK);
    WAIT(held_at_least, w, in, 12);
    for (i = 10; i < 12; i++)
        release_held(w, i, SG_JOB_OK);
    WAIT(pending_is, w, in, 0);
    assert_true(stats(in).max_in_flight_seen <= 5);
    sg_inbound_consumer_free(in);
}

typedef struct logcap {
    int n;
    char line[512];
} logcap;

static void logcap_sink(sg_log_level level, const char *line, void *ud)
{
    logcap *c = ud;

    if (level >= SG_LOG_WARN && strstr(line, "rejected") != NULL) {
        c->n++;
        snprintf(c->line, sizeof c->line, "%s", line);
    }
}

/*
 * SG-IN-002 with pipelined reads: while reads come back full, several are
 * kept in flight, but their COUNTs together never pass the free capacity.
 */
static void test_inbound_pipelined_reads_respect_capacity(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    int i;

    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 7;
    w->rt.knobs.read_count = 2;
    for (i = 0; i < 30; i++) {
        char ch[8];

        snprintf(ch, sizeof ch, "ch%d", i);
        publish(w, ch, "x", 1, NULL);
    }
    in = engine(w, "worker-pipe0001");
    WAIT(held_at_least, w, in, 7);
    sgt_loop_for(w->rt.base, 300);
    assert_int_equal(w->nheld, 7);
    assert_int_equal(pending(w), 7);
    assert_int_equal(stats(in).max_in_flight_seen, 7);
    for (i = 0; i < 7; i++)
        release_held(w, i, SG_JOB_OK);
    WAIT(held_at_least, w, in, 14);
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(w->nheld, 14);
    assert_int_equal(stats(in).max_in_flight_seen, 7);
    for (i = 7; i < 14; i++)
        release_held(w, i, SG_JOB_OK);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-003, SG-DLQ-001, SG-DLQ-003, SG-DLQ-007, SG-FRAME-003,
 * SG-TRACE-003: a codec rejection is dead-lettered with its reason and
 * path, with every original field, and acknowledged; the handler never
 * runs; the log line names the entry and its trace.
 */
static void test_inbound_dead_letters_codec_rejections(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char id[32], v[256], names[512];
    redisReply *r;

    logcap cap;

    memset(&cap, 0, sizeof cap);
    w->rt.log.level = SG_LOG_INFO;
    w->rt.log.fn = logcap_sink;
    w->rt.log.ud = &cap;
    r = redisCommand(w->rt.sync,
                     "XADD %s * data %b x-extra kept trace_id tr-9",
                     w->rt.topo.inbound_stream, "\x91\x01", (size_t)2);
    snprintf(id, sizeof id, "%s", r->str);
    freeReplyObject(r);
    in = engine(w, "worker-dddddddd");
    WAIT(dead_lettered_at_least, w, in, 1);
    WAIT(dlq_is, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 0);
    dlq_names(w, 0, names, sizeof names);
    assert_string_equal(names,
                        "data,x-extra,trace_id,dlq_origin_stream,"
                        "dlq_origin_group,dlq_origin_id,dlq_reason,dlq_path,"
                        "dlq_error,dlq_attempts,dlq_consumer,dlq_time_ms");
    assert_int_equal(cap.n, 1);
    assert_non_null(strstr(cap.line, id));
    assert_non_null(strstr(cap.line, "trace tr-9"));
    assert_int_equal(dlq_field(w, 0, "data", v, sizeof v), 0);
    assert_memory_equal(v, "\x91\x01", 2);
    assert_int_equal(dlq_field(w, 0, "x-extra", v, sizeof v), 0);
    assert_string_equal(v, "kept");
    dlq_field(w, 0, "dlq_origin_stream", v, sizeof v);
    assert_string_equal(v, w->rt.topo.inbound_stream);
    dlq_field(w, 0, "dlq_origin_group", v, sizeof v);
    assert_string_equal(v, w->rt.topo.worker_group);
    dlq_field(w, 0, "dlq_origin_id", v, sizeof v);
    assert_string_equal(v, id);
    dlq_field(w, 0, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "not_map");
    dlq_field(w, 0, "dlq_path", v, sizeof v);
    assert_string_equal(v, "data");
    dlq_field(w, 0, "dlq_attempts", v, sizeof v);
    assert_string_equal(v, "1");
    dlq_field(w, 0, "dlq_consumer", v, sizeof v);
    assert_string_equal(v, "worker-dddddddd");
    dlq_field(w, 0, "dlq_time_ms", v, sizeof v);
    assert_true(strlen(v) == 13);
    assert_int_equal(stats(in).dead_lettered, 1);
    sg_inbound_consumer_free(in);
    w->rt.log.fn = NULL;
}

/*
 * SG-IN-012, SG-IN-013, SG-CLAIM-006: a failure below SG_MAX_DELIVERIES
 * stays pending and comes back through autoclaim; at the last delivery it
 * is dead-lettered as handler_error and acknowledged.
 */
static void test_inbound_failure_retries_then_dead_letters(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char v[256];

    w->mode = MODE_FAIL;
    w->rt.knobs.max_deliveries = 2;
    w->rt.knobs.autoclaim_min_idle_ms = 100;
    in = engine(w, "worker-eeeeeeee");
    publish(w, "c", "boom", 1, NULL);
    WAIT(failed_at_least, w, in, 2);
    WAIT(dlq_is, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 2);
    assert_int_equal(stats(in).failed, 2);
    dlq_field(w, 0, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "handler_error");
    dlq_field(w, 0, "dlq_error", v, sizeof v);
    assert_string_equal(v, "the handler broke");
    dlq_field(w, 0, "dlq_attempts", v, sizeof v);
    assert_string_equal(v, "2");
    dlq_field(w, 0, "dlq_path", v, sizeof v);
    assert_string_equal(v, "");
    assert_int_equal(sgt_int(&w->rt, "HLEN %s", w->rt.topo.claim_attempts_key),
                     0);
    sg_inbound_consumer_free(in);
}

/* SG-IN-016: a cancelled handling is acknowledged, not retried. */
static void test_inbound_cancel_acknowledges_without_dead_letter(
    void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;

    w->mode = MODE_CANCEL;
    in = engine(w, "worker-ffffffff");
    publish(w, "c", "stop", 1, NULL);
    WAIT(seen_at_least, w, in, 1);
    WAIT(pending_is, w, in, 0);
    sgt_loop_for(w->rt.base, 20);
    assert_int_equal(stats(in).cancelled, 1);
    assert_int_equal(dlq_len(w), 0);
    sg_inbound_consumer_free(in);
}

/* SG-IN-007: a passive entry runs without the channel lock. */
static void test_inbound_passive_entry_skips_the_lock(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char lock[64];

    lock_key(w, "busy", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s someone-else", lock));
    in = engine(w, "worker-11111111");
    publish(w, "busy", "addressed", 1, NULL);
    publish(w, "busy", "passive", 0, NULL);
    WAIT(seen_at_least, w, in, 1);
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(w->nseen, 1);
    assert_string_equal(w->seen[0].content, "passive");
    assert_true(stats(in).lock_busy >= 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-CLAIM-001, SG-CLAIM-004, SG-CLAIM-006, SG-CLAIM-008, SG-IN-009,
 * SG-LOCK-001, SG-LOCK-004, SG-LOCK-006: a
 * consumer dies in the middle of a handling; another reclaims the entry,
 * waits for the dead one's lock to expire, handles and acknowledges it.
 * The dead one's late finish has no effect.
 */
static void test_inbound_killed_consumer_is_reclaimed(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    sg_job *orphan;
    char lock[64];

    w->mode = MODE_HOLD;
    w->rt.knobs.lock_ttl_ms = 300;
    w->rt.knobs.autoclaim_min_idle_ms = 150;
    a = engine(w, "worker-dead0001");
    publish(w, "k", "work", 1, NULL);
    WAIT(held_at_least, w, a, 1);
    orphan = w->held[0];
    w->held[0] = NULL;
    w->running--;
    lock_key(w, "k", lock, sizeof lock);
    assert_true(key_exists(w, lock));
    /* SG-LOCK-001, SG-LOCK-006: {prefix}:{channel}, a 128-bit hex token,
       the configured TTL. */
    {
        redisReply *r = redisCommand(w->rt.sync, "GET %s", lock);
        size_t i;

        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_int_equal(r->len, 32);
        for (i = 0; i < r->len; i++)
            assert_non_null(strchr("0123456789abcdef", r->str[i]));
        freeReplyObject(r);
        assert_true(sgt_int(&w->rt, "PTTL %s", lock) > 0);
        assert_true(sgt_int(&w->rt, "PTTL %s", lock) <= 300);
    }
    /* "Killed": no release, no ack, no more renewals or idle resets. */
    sg_inbound_consumer_free(a);
    w->mode = MODE_OK;
    b = engine(w, "worker-live0001");
    WAIT(handled_at_least, w, b, 1);
    WAIT(pending_is, w, b, 0);
    assert_int_equal(stats(b).claimed, 1);
    assert_int_equal(w->nseen, 2);
    assert_string_equal(w->seen[0].id, w->seen[1].id);
    /* The dead consumer's job was detached: finishing only frees it. */
    assert_int_equal(sg_job_finish(orphan, SG_JOB_OK), 0);
    assert_int_equal(sgt_int(&w->rt, "HLEN %s", w->rt.topo.claim_attempts_key),
                     0);
    sg_inbound_consumer_free(b);
}

static int job_fenced(void *arg)
{
    cond *c = arg;

    return sg_job_fenced(c->w->held[0]);
}

/*
 * SG-LOCK-002, SG-LOCK-004, SG-IN-011: a handling whose lock was taken by
 * another holder (it was paused past the TTL) is fenced by the renewal and
 * its finish does not acknowledge.
 */
static void test_inbound_fenced_handling_refuses_to_ack(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char lock[64];

    w->mode = MODE_HOLD;
    w->rt.knobs.lock_ttl_ms = 300;
    in = engine(w, "worker-fence001");
    publish(w, "f", "slow", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    lock_key(w, "f", lock, sizeof lock);
    /* The lock expired during a pause and another worker took it. */
    freeReplyObject(redisCommand(w->rt.sync, "SET %s other-token PX 5000",
                                 lock));
    WAIT(job_fenced, w, in, 0);
    release_held(w, 0, SG_JOB_OK);
    sgt_loop_for(w->rt.base, 50);
    assert_int_equal(pending(w), 1);
    assert_int_equal(stats(in).handled, 0);
    assert_int_equal(stats(in).lost, 1);
    /* The other holder's lock is untouched. */
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", lock), 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-011: the acknowledgement itself checks the token, so a lock lost
 * between the last renewal and the finish still blocks the ack.
 */
static void test_inbound_ack_checks_the_lock_token(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char lock[64];

    w->mode = MODE_HOLD;
    in = engine(w, "worker-fence002");
    publish(w, "g", "slow", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    lock_key(w, "g", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s other-token PX 5000",
                                 lock));
    assert_false(sg_job_fenced(w->held[0]));
    release_held(w, 0, SG_JOB_OK);
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(pending(w), 1);
    assert_int_equal(stats(in).lost, 1);
    sg_inbound_consumer_free(in);
}

/* Outcomes reported to sg_job_writes.done. */
static int writes_outcome = 99;

static void writes_done(void *ud, int outcome)
{
    int *n = ud;

    (*n)++;
    writes_outcome = outcome;
}

static int writes_done_once(void *arg)
{
    cond *c = arg;

    return c->w->done_calls >= 1;
}

/* Finishes held job 0 with two entries for "<ns>:out" and two items. */
static int finish_with_writes(world *w, char *stream, char *list,
                              size_t cap)
{
    static const sg_str data[] = {{"first", 5}, {"second", 6}};
    static const sg_str items[] = {{"i1", 2}, {"i2", 2}};
    sg_job_writes wr;
    int rc, n;

    n = snprintf(stream, cap, "%s:out", w->rt.topo.inbound_stream);
    assert_true(n > 0 && (size_t)n < cap);
    n = snprintf(list, cap, "%s:list", w->rt.topo.inbound_stream);
    assert_true(n > 0 && (size_t)n < cap);
    writes_outcome = 99;
    memset(&wr, 0, sizeof wr);
    wr.stream = stream;
    wr.data = data;
    wr.ndata = 2;
    wr.ts = "1700000000.123";
    wr.trace_id = "trace-w";
    wr.list = list;
    wr.items = items;
    wr.nitems = 2;
    wr.list_keep = 3;
    wr.list_ttl_ms = 60000;
    wr.done = writes_done;
    wr.ud = &w->done_calls;
    rc = sg_job_finish_writes(w->held[0], &wr);
    w->held[0] = NULL;
    w->running--;
    return rc;
}

/*
 * SG-IN-029, SG-IN-010, SG-IN-011: a handling's writes go with its
 * acknowledgement: both entries on the stream, in order, with their ts
 * and trace_id; the items appended and the list trimmed to its last
 * three, with its TTL; the entry acknowledged; done told 1.
 */
static void test_inbound_finish_writes_with_the_ack(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char stream[256], list[256], got[64];
    redisReply *r;

    w->mode = MODE_HOLD;
    in = engine(w, "worker-writes01");
    publish(w, "wr", "hello", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    assert_true(snprintf(list, sizeof list, "%s:list",
                         w->rt.topo.inbound_stream) < (int)sizeof list);
    freeReplyObject(redisCommand(w->rt.sync, "RPUSH %s old1 old2", list));
    assert_int_equal(finish_with_writes(w, stream, list, sizeof stream), 0);
    WAIT(writes_done_once, w, in, 0);
    assert_int_equal(writes_outcome, 1);
    WAIT(pending_is, w, in, 0);
    r = redisCommand(w->rt.sync, "XRANGE %s - +", stream);
    assert_non_null(r);
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->element[1]->elements, 6);
    assert_string_equal(r->element[0]->element[1]->element[1]->str, "first");
    assert_string_equal(r->element[0]->element[1]->element[3]->str,
                        "1700000000.123");
    assert_string_equal(r->element[0]->element[1]->element[5]->str,
                        "trace-w");
    assert_string_equal(r->element[1]->element[1]->element[1]->str,
                        "second");
    freeReplyObject(r);
    assert_int_equal(sgt_int(&w->rt, "LLEN %s", list), 3);
    sgt_str(&w->rt, got, sizeof got, "LINDEX %s 0", list);
    assert_string_equal(got, "old2");
    sgt_str(&w->rt, got, sizeof got, "LINDEX %s -1", list);
    assert_string_equal(got, "i2");
    assert_true(sgt_int(&w->rt, "PTTL %s", list) > 50000);
    WAIT(handled_at_least, w, in, 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-029, SG-IN-011, SG-LOCK-004: an acknowledgement refused because
 * the lock no longer holds the handling's token writes nothing; done is
 * told 0 and the entry stays pending.
 */
static void test_inbound_refused_ack_writes_nothing(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char stream[256], list[256], lock[64];

    w->mode = MODE_HOLD;
    in = engine(w, "worker-writes02");
    publish(w, "wn", "hello", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    lock_key(w, "wn", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s other-token PX 5000",
                                 lock));
    assert_int_equal(finish_with_writes(w, stream, list, sizeof stream), 0);
    WAIT(writes_done_once, w, in, 0);
    assert_int_equal(writes_outcome, 0);
    assert_int_equal(pending(w), 1);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", stream), 0);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", list), 0);
    assert_int_equal(stats(in).lost, 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-029, SG-LOCK-004: a handling already fenced writes nothing, and
 * done is told 0 at once.
 */
static void test_inbound_fenced_finish_writes_nothing(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char stream[256], list[256], lock[64];

    w->mode = MODE_HOLD;
    w->rt.knobs.lock_ttl_ms = 300;
    in = engine(w, "worker-writes03");
    publish(w, "wf", "slow", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    lock_key(w, "wf", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s other-token PX 5000",
                                 lock));
    WAIT(job_fenced, w, in, 0);
    assert_int_equal(finish_with_writes(w, stream, list, sizeof stream), 0);
    assert_int_equal(w->done_calls, 1);
    assert_int_equal(writes_outcome, 0);
    sgt_loop_for(w->rt.base, 50);
    assert_int_equal(pending(w), 1);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", stream), 0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-CLAIM-004, SG-CLAIM-005, SG-CLAIM-009, SG-DLQ-001: an entry claimed
 * more than SG_MAX_CLAIMS times is quarantined: dead-lettered as
 * max_claims_exceeded, acknowledged, its hash field removed, never handled.
 */
static void test_inbound_poison_entry_is_quarantined(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char id[32], v[256];

    w->rt.knobs.max_claims = 2;
    w->rt.knobs.autoclaim_min_idle_ms = 50;
    publish(w, "p", "poison", 1, id);
    read_as(w, "worker-gone0001", 1);
    /* Claimed twice before, by consumers that died holding it. */
    freeReplyObject(redisCommand(w->rt.sync, "HSET %s %s 2",
                                 w->rt.topo.claim_attempts_key, id));
    sgt_loop_for(w->rt.base, 60);
    in = engine(w, "worker-quar0001");
    WAIT(dead_lettered_at_least, w, in, 1);
    WAIT(dlq_is, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 0);
    dlq_field(w, 0, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "max_claims_exceeded");
    dlq_field(w, 0, "dlq_attempts", v, sizeof v);
    assert_string_equal(v, "3");
    dlq_field(w, 0, "dlq_origin_id", v, sizeof v);
    assert_string_equal(v, id);
    dlq_field(w, 0, "trace_id", v, sizeof v);
    assert_string_equal(v, "0123456789abcdef0123456789abcdef");
    assert_int_equal(sgt_int(&w->rt, "HEXISTS %s %s",
                               w->rt.topo.claim_attempts_key, id), 0);
    assert_int_equal(stats(in).quarantined, 1);
    sg_inbound_consumer_free(in);
}

static int claimed_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).claimed >= c->n;
}

/*
 * SG-CLAIM-002, SG-CLAIM-007: the sweep carries its cursor. With COUNT 1,
 * Redis looks at no more than 10 pending entries per XAUTOCLAIM; an old
 * entry behind 25 young ones is only reached if each call goes on where
 * the last one stopped. The young ones are never taken.
 */
static void test_inbound_sweep_carries_its_cursor(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char ids[26][32], args[26 * 33 + 128];
    size_t used = 0;
    int i, n;

    w->rt.knobs.autoclaim_min_idle_ms = 400;
    w->rt.knobs.autoclaim_count = 1;
    w->rt.knobs.autoclaim_interval_ms = 20;
    for (i = 0; i < 26; i++)
        publish(w, "y", i < 25 ? "young" : "old", 1, ids[i]);
    read_as(w, "worker-gone0003", 26);
    sgt_loop_for(w->rt.base, 450);
    /* The first 25 become young again at another live consumer. */
    for (i = 0; i < 25; i++) {
        n = snprintf(args + used, sizeof args - used, " %s", ids[i]);
        used += (size_t)n;
    }
    {
        char cmd[sizeof args + 128];

        n = snprintf(cmd, sizeof cmd, "XCLAIM %s %s worker-busy0003 0%s "
                     "JUSTID", w->rt.topo.inbound_stream,
                     w->rt.topo.worker_group, args);
        assert_true(n > 0 && (size_t)n < sizeof cmd);
        freeReplyObject(redisCommand(w->rt.sync, cmd));
    }
    in = engine(w, "worker-sweep003");
    WAIT(claimed_at_least, w, in, 1);
    WAIT(handled_at_least, w, in, 1);
    assert_int_equal(w->nseen, 1);
    assert_string_equal(w->seen[0].id, ids[25]);
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(stats(in).claimed, 1);
    sg_inbound_consumer_free(in);
}

static int deleted_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).deleted >= c->n;
}

/*
 * SG-CLAIM-003: entries deleted (XDEL) or trimmed (XTRIM) while pending are
 * counted, logged and their hash fields removed; the sweep goes on.
 */
static void test_inbound_deleted_pending_entries_are_counted(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char gone[32], trimmed[32], live[32];

    w->rt.knobs.autoclaim_min_idle_ms = 50;
    publish(w, "d", "trimmed", 1, trimmed);
    publish(w, "d", "deleted", 1, gone);
    publish(w, "d", "live", 1, live);
    read_as(w, "worker-gone0002", 3);
    freeReplyObject(redisCommand(w->rt.sync, "XDEL %s %s",
                                 w->rt.topo.inbound_stream, gone));
    freeReplyObject(redisCommand(w->rt.sync, "XTRIM %s MINID %s",
                                 w->rt.topo.inbound_stream, gone));
    freeReplyObject(redisCommand(w->rt.sync, "HSET %s %s 1",
                                 w->rt.topo.claim_attempts_key, gone));
    sgt_loop_for(w->rt.base, 60);
    in = engine(w, "worker-sweep001");
    WAIT(deleted_at_least, w, in, 2);
    WAIT(handled_at_least, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 1);
    assert_string_equal(w->seen[0].id, live);
    assert_int_equal(sgt_int(&w->rt, "HLEN %s", w->rt.topo.claim_attempts_key),
                     0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-014, SG-IN-015, SG-LOCK-005: an entry that cannot take its lock
 * within SG_LOCK_WAIT_MS is requeued (copy with requeued_from and
 * requeue_count, original acknowledged, one step); past SG_MAX_REQUEUES it
 * is dead-lettered as lock_timeout. The waits do not busy-wait.
 */
static void test_inbound_lock_collision_requeues_then_dead_letters(
    void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char lock[64], first[32], v[256];
    redisReply *r;
    size_t i;
    int saw1 = 0, saw2 = 0;

    w->rt.knobs.lock_wait_ms = 150;
    w->rt.knobs.max_requeues = 2;
    lock_key(w, "held", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s someone-else", lock));
    publish(w, "held", "waits", 1, first);
    in = engine(w, "worker-requeue1");
    WAIT(dlq_is, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 0);
    assert_int_equal(stats(in).requeued, 2);
    dlq_field(w, 0, "dlq_reason", v, sizeof v);
    assert_string_equal(v, "lock_timeout");
    dlq_field(w, 0, "requeue_count", v, sizeof v);
    assert_string_equal(v, "2");
    r = redisCommand(w->rt.sync, "XRANGE %s - +", w->rt.topo.inbound_stream);
    assert_int_equal(r->elements, 3);
    for (i = 1; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        size_t j;

        for (j = 0; j + 1 < f->elements; j += 2)
            if (strcmp(f->element[j]->str, "requeue_count") == 0) {
                saw1 += strcmp(f->element[j + 1]->str, "1") == 0;
                saw2 += strcmp(f->element[j + 1]->str, "2") == 0;
            }
    }
    freeReplyObject(r);
    assert_int_equal(saw1, 1);
    assert_int_equal(saw2, 1);
    /* ~450 ms of waiting with retries 10 ms growing to 500 ms. */
    assert_true(stats(in).lock_busy < 40);
    sg_inbound_consumer_free(in);
}

static int idle_reset_done(void *arg)
{
    cond *c = arg;

    return stats(c->in).idle_resets >= (uint64_t)c->n;
}

/*
 * SG-IN-019, SG-CLAIM-007: an entry waiting locally has its idle time reset
 * (XCLAIM JUSTID, no delivery counted), so another consumer's sweep does
 * not take it.
 */
static void test_inbound_waiting_entry_idle_time_is_reset(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char lock[64];
    redisReply *r;

    w->rt.knobs.autoclaim_min_idle_ms = 300;
    w->rt.knobs.lock_wait_ms = 60000;
    lock_key(w, "wait", lock, sizeof lock);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s someone-else PX 1200",
                                 lock));
    publish(w, "wait", "patient", 1, NULL);
    a = engine(w, "worker-patient1");
    WAIT(in_flight_is, w, a, 1);
    b = engine(w, "worker-thief001");
    WAIT(idle_reset_done, w, a, 2);
    r = redisCommand(w->rt.sync, "XPENDING %s %s - + 10",
                     w->rt.topo.inbound_stream, w->rt.topo.worker_group);
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->element[1]->str, "worker-patient1");
    assert_int_equal(r->element[0]->element[3]->integer, 1);
    freeReplyObject(r);
    WAIT(handled_at_least, w, a, 1);
    assert_int_equal(stats(b).claimed, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

static int group_exists(void *arg)
{
    cond *c = arg;
    redisReply *r = redisCommand(c->w->rt.sync, "XINFO GROUPS %s",
                                 c->w->rt.topo.inbound_stream);
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1;

    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

/*
 * SG-TOPO-008, SG-IN-020: Redis restarts without persistence; the consumer
 * reconnects, recreates its group on NOGROUP and goes on reading.
 */
static void test_inbound_recreates_group_after_restart(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in = engine(w, "worker-restart1");

    publish(w, "r", "before", 1, NULL);
    WAIT(handled_at_least, w, in, 1);
    assert_int_equal(sgt_redis_restart(&w->rt.redis), 0);
    redisFree(w->rt.sync);
    w->rt.sync = sgt_redis_connect(&w->rt.redis);
    assert_non_null(w->rt.sync);
    WAIT(group_exists, w, in, 0);
    publish(w, "r", "after", 1, NULL);
    WAIT(handled_at_least, w, in, 2);
    assert_string_equal(w->seen[1].content, "after");
    sg_inbound_consumer_free(in);
}

/* SG-IN-020: Redis down when the consumer starts, then up. */
static void test_inbound_starts_while_redis_is_down(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;

    kill((pid_t)w->rt.redis.pid, SIGKILL);
    waitpid((pid_t)w->rt.redis.pid, NULL, 0);
    w->rt.redis.pid = -1;
    in = engine(w, "worker-early001");
    sgt_loop_for(w->rt.base, 300);
    assert_int_equal(sgt_redis_restart(&w->rt.redis), 0);
    redisFree(w->rt.sync);
    w->rt.sync = sgt_redis_connect(&w->rt.redis);
    assert_non_null(w->rt.sync);
    WAIT(group_exists, w, in, 0);
    publish(w, "e", "late", 1, NULL);
    WAIT(handled_at_least, w, in, 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-020: Redis restarts (with its data) while a handling runs; the
 * finish is sent once the connection is back, the entry is acknowledged
 * once and handled once.
 */
static void test_inbound_finish_survives_a_restart(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;

    w->mode = MODE_HOLD;
    w->rt.knobs.lock_ttl_ms = 10000;
    in = engine(w, "worker-persist1");
    publish(w, "p", "during", 1, NULL);
    WAIT(held_at_least, w, in, 1);
    assert_int_equal(sgt_redis_restart(&w->rt.redis), 0);
    redisFree(w->rt.sync);
    w->rt.sync = sgt_redis_connect(&w->rt.redis);
    assert_non_null(w->rt.sync);
    assert_int_equal(pending(w), 1);
    release_held(w, 0, SG_JOB_OK);
    WAIT(handled_at_least, w, in, 1);
    WAIT(pending_is, w, in, 0);
    assert_int_equal(w->nseen, 1);
    assert_int_equal(stats(in).lost, 0);
    sg_inbound_consumer_free(in);
}

static void on_done(sg_consumer *c, void *ud)
{
    (void)c;
    ((world *)ud)->done_calls++;
}

static int stop_done(void *arg)
{
    return ((cond *)arg)->w->done_calls > 0;
}

/*
 * SG-IN-017, SG-IN-018, SG-LOCK-007: stop reads no more, lets the running
 * handlings finish and acknowledges them, leaves unstarted entries
 * pending, releases the locks, then reports done.
 */
static void test_inbound_graceful_stop_drains(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    sg_consumer *e;
    char lock[64];
    int i;

    w->mode = MODE_HOLD;
    in = engine(w, "worker-drain001");
    e = sg_inbound_consumer_engine(in);
    publish(w, "s1", "run", 1, NULL);
    publish(w, "s1", "queued-1", 1, NULL);
    publish(w, "s1", "queued-2", 1, NULL);
    publish(w, "s2", "run", 1, NULL);
    WAIT(held_at_least, w, in, 2);
    WAIT(pending_is, w, in, 4);
    assert_int_equal(sg_consumer_stop(e, on_done, w), 0);
    /* Once Redis has let go of the cut read, nothing more is read. */
    WAIT(no_blocked_client, w, in, 0);
    publish(w, "s3", "too-late", 1, NULL);
    sgt_loop_for(w->rt.base, 50);
    assert_int_equal(w->done_calls, 0);
    for (i = 0; i < 2; i++)
        release_held(w, i, SG_JOB_OK);
    WAIT(stop_done, w, in, 0);
    assert_int_equal(w->done_calls, 1);
    assert_int_equal(stats(in).handled, 2);
    /* The two queued entries stay pending for someone else. */
    assert_int_equal(pending(w), 2);
    assert_int_equal(w->nseen, 2);
    lock_key(w, "s1", lock, sizeof lock);
    assert_false(key_exists(w, lock));
    lock_key(w, "s2", lock, sizeof lock);
    assert_false(key_exists(w, lock));
    /* SG-IN-018: the consumer is still in the group. */
    assert_int_equal(sgt_int(&w->rt, "XGROUP CREATECONSUMER %s %s %s",
                               w->rt.topo.inbound_stream,
                               w->rt.topo.worker_group, "worker-drain001"),
                     0);
    sg_inbound_consumer_free(in);
}

/*
 * The per-message command budget: with many channels and a handler that
 * finishes at once, commands per message stay well under 4.
 */
static void test_inbound_command_budget(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    sg_consumer_stats st;
    int i;
    char ch[16];

    for (i = 0; i < 500; i++) {
        snprintf(ch, sizeof ch, "ch%d", i % 50);
        publish(w, ch, "x", 1, NULL);
    }
    in = engine(w, "worker-budget01");
    WAIT(handled_at_least, w, in, 500);
    st = stats(in);
    print_message("commands %llu for %llu messages: %.2f per message\n",
                  (unsigned long long)st.commands,
                  (unsigned long long)st.handled,
                  (double)st.commands / (double)st.handled);
    assert_true(st.commands * 100 <= st.handled * 400);
    sg_inbound_consumer_free(in);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_inbound_handles_and_acknowledges),
        T(test_inbound_finish_writes_with_the_ack),
        T(test_inbound_refused_ack_writes_nothing),
        T(test_inbound_fenced_finish_writes_nothing),
        T(test_inbound_orders_each_channel_and_runs_channels_together),
        T(test_inbound_backpressure_caps_entries_in_flight),
        T(test_inbound_pipelined_reads_respect_capacity),
        T(test_inbound_dead_letters_codec_rejections),
        T(test_inbound_failure_retries_then_dead_letters),
        T(test_inbound_cancel_acknowledges_without_dead_letter),
        T(test_inbound_passive_entry_skips_the_lock),
        T(test_inbound_killed_consumer_is_reclaimed),
        T(test_inbound_fenced_handling_refuses_to_ack),
        T(test_inbound_ack_checks_the_lock_token),
        T(test_inbound_poison_entry_is_quarantined),
        T(test_inbound_deleted_pending_entries_are_counted),
        T(test_inbound_sweep_carries_its_cursor),
        T(test_inbound_lock_collision_requeues_then_dead_letters),
        T(test_inbound_waiting_entry_idle_time_is_reset),
        T(test_inbound_recreates_group_after_restart),
        T(test_inbound_starts_while_redis_is_down),
        cmocka_unit_test_setup_teardown(
            test_inbound_finish_survives_a_restart, setup_persistent,
            teardown),
        T(test_inbound_graceful_stop_drains),
        T(test_inbound_command_budget),
        cmocka_unit_test(test_consumer_name_make_is_unique),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
