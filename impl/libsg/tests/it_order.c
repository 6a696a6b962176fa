/*
 * Order queues of the inbound consumer (SPEC SG-IN-006, SG-IN-023 to
 * SG-IN-025), hand-over (SG-IN-026 to SG-IN-028) and lock wake-ups
 * (SG-LOCK-008/009), against a real
 * redis-server: several engines on one loop,
 * each with its own consumer name, reading one group. Knobs are set to
 * milliseconds; every wait is on a condition, with a deadline.
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
#include "sg/inbound.h"
#include "sgt_runtime.h"
#include "sgt_loop.h"

#define MAX_SEEN 256

enum mode { MODE_OK, MODE_HOLD, MODE_FAIL };

typedef struct seen {
    char consumer[32];
    char channel[32];
    char content[32];
    char id[32];
} seen;

typedef struct world {
    sgt_runtime rt;         /* server, loop, connections, names, knobs */
    enum mode mode;
    seen seen[MAX_SEEN];
    int nseen;
    sg_job *held[MAX_SEEN];
    int nheld;
} world;

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    w.rt.knobs.lock_ttl_ms = 2000;
    w.rt.knobs.lock_wait_ms = 20000;
    w.rt.knobs.autoclaim_interval_ms = 50;
    w.rt.knobs.autoclaim_min_idle_ms = 10000;
    w.rt.knobs.drain_ms = 3000;
    freeReplyObject(redisCommand(w.rt.sync, "XGROUP CREATE %s %s $ MKSTREAM",
                                 w.rt.topo.inbound_stream,
                                 w.rt.topo.worker_group));
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sgt_runtime_stop(&w->rt);
    return 0;
}

/* ---- the role ----------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *p, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;

    if (n > 0)
        memcpy(dst, p, n);
    dst[n] = '\0';
}

static void handle(void *ud, sg_job *job, const sg_envelope *env)
{
    world *w = ud;
    const char *name = sg_consumer_name(sg_job_consumer(job));
    seen *s;

    assert_true(w->nseen < MAX_SEEN);
    s = &w->seen[w->nseen++];
    copy_str(s->consumer, sizeof s->consumer, name, strlen(name));
    copy_str(s->channel, sizeof s->channel, env->u.in.channel_id.ptr,
             env->u.in.channel_id.len);
    copy_str(s->content, sizeof s->content, env->u.in.content.ptr,
             env->u.in.content.len);
    copy_str(s->id, sizeof s->id, sg_job_id(job), strlen(sg_job_id(job)));
    switch (w->mode) {
    case MODE_OK:
        sg_job_finish(job, SG_JOB_OK);
        break;
    case MODE_FAIL:
        sg_job_finish(job, SG_JOB_FAILED("the handler broke"));
        break;
    case MODE_HOLD:
        w->held[w->nheld++] = job;
        break;
    }
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

static sg_consumer_stats stats(sg_inbound_consumer *in)
{
    sg_consumer_stats st;

    sg_consumer_get_stats(sg_inbound_consumer_engine(in), &st);
    return st;
}

/* ---- Redis helpers ------------------------------------------------------ */

static void publish(world *w, const char *channel, const char *content,
                    int addressed, char *id)
{
    assert_int_equal(sgt_publish_inbound(&w->rt, channel, content, addressed,
                                         id, 32),
                     0);
}

static long long pending(world *w)
{
    return sgt_pending(&w->rt, w->rt.topo.inbound_stream,
                       w->rt.topo.worker_group);
}

static void queue_key(world *w, const char *channel, char *out, size_t cap)
{
    assert_true(sg_name_join(out, cap, w->rt.topo.order_prefix, channel,
                             strlen(channel)) > 0);
}

/* The IDs in a channel's order queue, space-separated. */
static void queue_ids(world *w, const char *channel, char *out, size_t cap)
{
    char key[128];
    redisReply *r;
    size_t i, used = 0;

    queue_key(w, channel, key, sizeof key);
    r = redisCommand(w->rt.sync, "LRANGE %s 0 -1", key);
    assert_non_null(r);
    out[0] = '\0';
    for (i = 0; i < r->elements; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? " " : "",
                         r->element[i]->str);

        assert_true(n > 0 && (size_t)n < cap - used);
        used += (size_t)n;
    }
    freeReplyObject(r);
}

/* Number of order-queue keys left in the database. */
static long long queue_keys(world *w)
{
    redisReply *r = redisCommand(w->rt.sync, "KEYS %s:*",
                                 w->rt.topo.order_prefix);
    long long n;

    assert_non_null(r);
    n = (long long)r->elements;
    freeReplyObject(r);
    return n;
}

/* The group's hand-over hash and a consumer's hand list (SPEC 14). */
static void hand_names(world *w, const char *consumer, char *key,
                       char *list, size_t cap)
{
    int n = snprintf(key, cap, "%s:handers:%s", w->rt.topo.wake_prefix,
                     w->rt.topo.worker_group);

    assert_true(n > 0 && (size_t)n < cap);
    n = snprintf(list, cap, "%s:hand:%s:%s", w->rt.topo.wake_prefix,
                 w->rt.topo.worker_group, consumer);
    assert_true(n > 0 && (size_t)n < cap);
}

/*
 * The consumer of a and b that the reference worker gives channel c to
 * (SG-IN-026): the greater SHA1 of "<consumer> <channel>", computed by
 * the server the scripts run on.
 */
static const char *assigned(world *w, const char *a, const char *b,
                            const char *c)
{
    char ha[64], hb[64], arg[160];

    snprintf(arg, sizeof arg, "%s %s", a, c);
    sgt_str(&w->rt, ha, sizeof ha, "EVAL %s 0 %s",
            "return redis.sha1hex(ARGV[1])", arg);
    snprintf(arg, sizeof arg, "%s %s", b, c);
    sgt_str(&w->rt, hb, sizeof hb, "EVAL %s 0 %s",
            "return redis.sha1hex(ARGV[1])", arg);
    assert_int_equal(strlen(ha), 40);
    assert_int_equal(strlen(hb), 40);
    return strcmp(ha, hb) > 0 ? a : b;
}

/* A channel name, prefix plus a number, that goes to consumer a. */
static void channel_for(world *w, const char *a, const char *b,
                        const char *prefix, char *out, size_t cap)
{
    int i;

    for (i = 0; i < 100; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        if (assigned(w, a, b, out) == a)
            return;
    }
    fail_msg("no channel %s0..99 goes to %s", prefix, a);
}

/* Who an entry is pending at, its idle ms and delivery count. */
static void pending_entry(world *w, const char *id, char *owner, size_t cap,
                          long long *idle, long long *count)
{
    redisReply *r = redisCommand(w->rt.sync, "XPENDING %s %s %s %s 1",
                                 w->rt.topo.inbound_stream,
                                 w->rt.topo.worker_group, id, id);

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    copy_str(owner, cap, r->element[0]->element[1]->str,
             r->element[0]->element[1]->len);
    *idle = r->element[0]->element[2]->integer;
    *count = r->element[0]->element[3]->integer;
    freeReplyObject(r);
}

/* Nonzero when some client's last command was `cmd` and it is blocked. */
static int client_blocked_in(world *w, const char *cmd)
{
    redisReply *r = redisCommand(w->rt.sync, "CLIENT LIST");
    char want[32];
    const char *line;
    int found = 0;

    snprintf(want, sizeof want, " cmd=%s ", cmd);
    assert_non_null(r);
    for (line = r->str; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        char buf[1024];

        copy_str(buf, sizeof buf, line, n);
        if (strstr(buf, want) != NULL && strstr(buf, " flags=b ") != NULL)
            found = 1;
        line = end != NULL ? end + 1 : NULL;
    }
    freeReplyObject(r);
    return found;
}

/* ---- conditions --------------------------------------------------------- */

typedef struct cond {
    world *w;
    sg_inbound_consumer *in;
    long long n;
    const char *s;
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

typedef struct pair {
    sg_inbound_consumer *a, *b;
    long long n;
} pair;

static int handled_by_both(void *arg)
{
    pair *p = arg;

    return (long long)(stats(p->a).handled + stats(p->b).handled) == p->n;
}

static int seen_content(void *arg)
{
    cond *c = arg;
    int i;

    for (i = 0; i < c->w->nseen; i++)
        if (strcmp(c->w->seen[i].content, c->s) == 0)
            return 1;
    return 0;
}

static int in_flight_is(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).in_flight == c->n;
}

static int dead_lettered_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).dead_lettered >= c->n;
}

static int lock_busy_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).lock_busy >= c->n;
}

static int pending_is(void *arg)
{
    cond *c = arg;

    return pending(c->w) == c->n;
}

static int dlq_is(void *arg)
{
    cond *c = arg;

    return sgt_int(&c->w->rt, "XLEN %s", c->w->rt.topo.dlq_stream) == c->n;
}

static int no_queue_keys(void *arg)
{
    cond *c = arg;

    return queue_keys(c->w) == 0;
}

static int handed_over_at_least(void *arg)
{
    cond *c = arg;

    return (long long)stats(c->in).handed_over >= c->n;
}

static int hand_hash_empty(void *arg)
{
    cond *c = arg;
    char key[256], list[256];

    hand_names(c->w, "", key, list, sizeof key);
    return sgt_int(&c->w->rt, "HLEN %s", key) == 0;
}

static int hash_len_is_two(void *arg)
{
    cond *c = arg;

    return sgt_int(&c->w->rt, "HLEN %s", c->s) == 2;
}

static int field_a_gone(void *arg)
{
    cond *c = arg;

    return sgt_int(&c->w->rt, "HEXISTS %s worker-keep-a", c->s) == 0;
}

static int blocked_in(void *arg)
{
    cond *c = arg;

    return client_blocked_in(c->w, c->s);
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

#define WAIT(fn, w_, in_, n_)                                               \
    do {                                                                    \
        cond c_ = {w_, in_, n_, NULL};                                      \
        assert_true(sgt_loop_until(w->rt.base, fn, &c_, 10000));            \
    } while (0)

#define WAITK(fn, w_, s_)                                                   \
    do {                                                                    \
        cond c_ = {w_, NULL, 0, s_};                                        \
        assert_true(sgt_loop_until(w->rt.base, fn, &c_, 10000));            \
    } while (0)

#define WAITS(fn, w_, s_)                                                   \
    do {                                                                    \
        cond c_ = {w_, NULL, 0, s_};                                        \
        assert_true(sgt_loop_until(w->rt.base, fn, &c_, 10000));            \
    } while (0)

/* ---- tests -------------------------------------------------------------- */

/*
 * SG-IN-006, SG-IN-023, SG-IN-024, SG-IN-025: the group gives e1 of a
 * channel to consumer A and e2 of the same channel to consumer B. While A
 * handles e1, B must not start e2 (it waits as for a busy lock, without
 * taking the lock); once A ends e1, e2 runs at B; afterwards the queue is
 * gone.
 */
static void test_order_two_consumers_keep_channel_order(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char e1[32], e2[32], ids[128], want[80], lock[128];

    /* The busy path: A takes nothing handed over (SG-IN-026 needs its key). */
    w->rt.knobs.hand_over = 0;
    w->mode = MODE_HOLD;
    /* A takes one entry at most, so the group gives e2 to B. */
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-order-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, "x", "first", 1, e1);
    WAIT(seen_at_least, w, a, 1);
    assert_string_equal(w->seen[0].consumer, "worker-order-a");
    assert_string_equal(w->seen[0].id, e1);
    b = engine(w, "worker-order-b");
    publish(w, "x", "second", 1, e2);
    WAIT(in_flight_is, w, b, 1);
    /* Both IDs are in the channel's queue, in stream order. */
    queue_ids(w, "x", ids, sizeof ids);
    snprintf(want, sizeof want, "%s %s", e1, e2);
    assert_string_equal(ids, want);
    /* B tries, finds e1 older and pending at A: busy, and waits. */
    WAIT(lock_busy_at_least, w, b, 3);
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(w->nseen, 1);
    assert_int_equal(stats(b).handled, 0);
    /* B did not take the lock: A's token is still in it. */
    assert_true(sg_name_join(lock, sizeof lock, w->rt.topo.lock_prefix, "x", 1)
                > 0);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", lock), 1);
    /* A ends e1: its queue entry goes with the acknowledgement. */
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, b, 2);
    assert_string_equal(w->seen[1].consumer, "worker-order-b");
    assert_string_equal(w->seen[1].id, e2);
    queue_ids(w, "x", ids, sizeof ids);
    assert_string_equal(ids, e2);
    sg_job_finish(w->held[1], SG_JOB_OK);
    w->held[1] = NULL;
    WAIT(handled_at_least, w, b, 1);
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    WAIT(handled_at_least, w, a, 1);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-006, SG-IN-024: e1 at consumer A and e2 at consumer B both wait
 * for a channel lock someone else holds; A has waited longer, so its
 * backoff is the longer one and B would retry first. When the lock is
 * freed, e1 still begins before e2.
 */
static void test_order_freed_lock_goes_to_the_older_entry(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char e1[32], e2[32], lock[128];

    assert_true(sg_name_join(lock, sizeof lock, w->rt.topo.lock_prefix, "y", 1)
                > 0);
    freeReplyObject(redisCommand(w->rt.sync, "SET %s someone-else", lock));
    w->rt.knobs.hand_over = 0;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-freed-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, "y", "first", 1, e1);
    /* A's retry delay grows: 10, 20, 40, 80, 160, 320 ms. */
    WAIT(lock_busy_at_least, w, a, 6);
    b = engine(w, "worker-freed-b");
    publish(w, "y", "second", 1, e2);
    WAIT(lock_busy_at_least, w, b, 1);
    freeReplyObject(redisCommand(w->rt.sync, "DEL %s", lock));
    WAIT(seen_at_least, w, NULL, 2);
    assert_string_equal(w->seen[0].id, e1);
    assert_string_equal(w->seen[0].consumer, "worker-freed-a");
    assert_string_equal(w->seen[1].id, e2);
    assert_string_equal(w->seen[1].consumer, "worker-freed-b");
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-024: a head pending at another consumer holds the entry back; a
 * head no longer pending (stale) is removed and the entry goes ahead.
 */
static void test_order_stale_head_is_skipped(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char e0[32], e1[32], key[128], ids[128];

    queue_key(w, "s", key, sizeof key);
    /* An ID that was never pending, then e0 pending at a ghost. */
    freeReplyObject(redisCommand(w->rt.sync, "RPUSH %s 1-1", key));
    publish(w, "s", "ghost's", 1, e0);
    freeReplyObject(redisCommand(w->rt.sync,
                                 "XREADGROUP GROUP %s worker-ghost COUNT 1 "
                                 "STREAMS %s >",
                                 w->rt.topo.worker_group,
                                 w->rt.topo.inbound_stream));
    freeReplyObject(redisCommand(w->rt.sync, "RPUSH %s %s", key, e0));
    publish(w, "s", "mine", 1, e1);
    in = engine(w, "worker-stale01");
    WAIT(lock_busy_at_least, w, in, 2);
    assert_int_equal(w->nseen, 0);
    /* The stale 1-1 went; e0 (pending at the ghost) holds e1 back. */
    queue_ids(w, "s", ids, sizeof ids);
    assert_non_null(strstr(ids, e0));
    assert_null(strstr(ids, "1-1 "));
    /* The ghost's entry is acknowledged behind the queue's back. */
    assert_int_equal(sgt_int(&w->rt, "XACK %s %s %s", w->rt.topo.inbound_stream,
                               w->rt.topo.worker_group, e0), 1);
    WAIT(handled_at_least, w, in, 1);
    assert_string_equal(w->seen[0].id, e1);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-005, SG-IN-024: e1 of a channel is pending at a consumer that went
 * away (queued as its read script would have), e2 was read by A and waits
 * behind it. A's sweep claims e1: A handles e1 first, then e2, although
 * the order check lets A's own older entry pass.
 */
static void test_order_claimed_older_entry_goes_first(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a;
    char e1[32], e2[32], key[128];

    queue_key(w, "z", key, sizeof key);
    publish(w, "z", "first", 1, e1);
    freeReplyObject(redisCommand(w->rt.sync,
                                 "XREADGROUP GROUP %s worker-gone COUNT 1 "
                                 "STREAMS %s >",
                                 w->rt.topo.worker_group,
                                 w->rt.topo.inbound_stream));
    freeReplyObject(redisCommand(w->rt.sync, "RPUSH %s %s", key, e1));
    publish(w, "z", "second", 1, e2);
    w->rt.knobs.autoclaim_min_idle_ms = 300;
    a = engine(w, "worker-claim-a");
    WAIT(seen_at_least, w, NULL, 2);
    assert_string_equal(w->seen[0].id, e1);
    assert_string_equal(w->seen[1].id, e2);
    assert_int_equal(stats(a).claimed, 1);
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-025: after every entry ended (handled, failed on its last
 * delivery and dead-lettered), no order queue is left.
 */
static void test_order_queues_empty_after_all_end(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    int i;

    a = engine(w, "worker-empty-a");
    b = engine(w, "worker-empty-b");
    for (i = 0; i < 60; i++) {
        char ch[16];

        snprintf(ch, sizeof ch, "c%d", i % 6);
        publish(w, ch, "x", 1, NULL);
    }
    WAIT(seen_at_least, w, NULL, 60);
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    {
        pair p = {a, b, 60};

        assert_true(sgt_loop_until(w->rt.base, handled_by_both, &p, 10000));
    }
    /*
     * Failures on the last delivery are dead-lettered and dequeued. A and
     * B stop first, which takes them out of the hand-over hash
     * (SG-IN-027): C then hands nothing to them.
     */
    assert_int_equal(sg_consumer_stop(sg_inbound_consumer_engine(a), NULL,
                                      NULL),
                     0);
    assert_int_equal(sg_consumer_stop(sg_inbound_consumer_engine(b), NULL,
                                      NULL),
                     0);
    WAIT(hand_hash_empty, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
    w->mode = MODE_FAIL;
    w->rt.knobs.max_deliveries = 1;
    a = engine(w, "worker-empty-c");
    for (i = 0; i < 5; i++)
        publish(w, "f", "fails", 1, NULL);
    WAIT(dlq_is, w, NULL, 5);
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-003, SG-IN-023, SG-IN-025: an entry the read script queues (its
 * data a map with a channel_id) but the codec rejects is dead-lettered and
 * leaves no queue entry; one whose data is not msgpack is not queued.
 */
static void test_order_malformed_entry_leaves_no_queue_entry(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    /* {"channel_id": "bad", "is_addressed": true}: no platform etc. */
    static const char partial[] = "\x82\xaa" "channel_id" "\xa3" "bad"
                                  "\xac" "is_addressed" "\xc3";

    freeReplyObject(redisCommand(w->rt.sync, "XADD %s * data %b",
                                 w->rt.topo.inbound_stream, partial,
                                 sizeof partial - 1));
    freeReplyObject(redisCommand(w->rt.sync, "XADD %s * data %b",
                                 w->rt.topo.inbound_stream, "\xc1\xff", 2));
    in = engine(w, "worker-malform1");
    WAIT(dlq_is, w, NULL, 2);
    WAIT(pending_is, w, NULL, 0);
    WAIT(dead_lettered_at_least, w, in, 2);
    assert_int_equal(queue_keys(w), 0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-007, SG-IN-023: a passive entry is not queued; the addressed one
 * of the same channel is.
 */
static void test_order_passive_entries_are_not_queued(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;
    char p1[32], a1[32], ids[128];
    int i;

    w->mode = MODE_HOLD;
    publish(w, "pc", "passive", 0, p1);
    publish(w, "pc", "addressed", 1, a1);
    in = engine(w, "worker-passive1");
    WAIT(seen_at_least, w, in, 2);
    queue_ids(w, "pc", ids, sizeof ids);
    assert_string_equal(ids, a1);
    for (i = 0; i < w->nheld; i++)
        sg_job_finish(w->held[i], SG_JOB_OK);
    w->nheld = 0;
    WAIT(handled_at_least, w, in, 2);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(in);
}

/*
 * SG-TOPO-008, SG-IN-023: NOGROUP raised inside the read script reaches
 * the engine with its code, which recreates the group and reads on.
 */
static void test_order_read_script_recovers_from_nogroup(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in = engine(w, "worker-nogroup1");
    redisReply *r;

    publish(w, "g", "before", 1, NULL);
    WAIT(handled_at_least, w, in, 1);
    /* The script itself answers NOGROUP, with the code first. */
    r = redisCommand(w->rt.sync, "EVAL %s 1 nosuchstream",
                     "return redis.call('XREADGROUP', 'GROUP', 'g', 'c', "
                     "'STREAMS', KEYS[1], '>')");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_memory_equal(r->str, "NOGROUP ", 8);
    freeReplyObject(r);
    assert_int_equal(sgt_int(&w->rt, "XGROUP DESTROY %s %s",
                               w->rt.topo.inbound_stream,
                               w->rt.topo.worker_group), 1);
    /* Wakes the reader, whose next read script meets NOGROUP. */
    publish(w, "g", "lost", 1, NULL);
    WAIT(group_exists, w, in, 0);
    publish(w, "g", "after", 1, NULL);
    WAITS(seen_content, w, "after");
    sg_inbound_consumer_free(in);
}

/*
 * SG_ORDER_QUEUES=0 (knobs.order_queues = 0): the reader blocks in a plain
 * XREADGROUP and no queue is kept; on (the default) it blocks in XREAD
 * (SG-IN-001, SG-IN-023).
 */
static void test_order_queues_can_be_switched_off(void **state)
{
    world *w = *state;
    sg_inbound_consumer *in;

    in = engine(w, "worker-ordered1");
    WAITS(blocked_in, w, "xread");
    sg_inbound_consumer_free(in);
    w->rt.knobs.order_queues = 0;
    w->mode = MODE_HOLD;
    in = engine(w, "worker-plain01");
    WAITS(blocked_in, w, "xreadgroup");
    publish(w, "off", "m", 1, NULL);
    WAIT(seen_at_least, w, in, 1);
    assert_int_equal(queue_keys(w), 0);
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->nheld = 0;
    WAIT(handled_at_least, w, in, 1);
    sg_inbound_consumer_free(in);
}

/*
 * SG-IN-005, SG-IN-024: entries of one channel handled by one consumer
 * with order queues still run in stream order, across many channels and
 * two consumers sharing the group.
 */
static void test_order_two_consumers_many_channels(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    int i, c, last[8];

    w->rt.knobs.read_count = 3;
    a = engine(w, "worker-many-a");
    b = engine(w, "worker-many-b");
    for (i = 0; i < 120; i++) {
        char ch[8], content[16];

        snprintf(ch, sizeof ch, "m%d", i % 8);
        snprintf(content, sizeof content, "%d", i / 8);
        publish(w, ch, content, 1, NULL);
    }
    WAIT(seen_at_least, w, NULL, 120);
    for (c = 0; c < 8; c++)
        last[c] = -1;
    for (i = 0; i < w->nseen; i++) {
        int k = w->seen[i].channel[1] - '0';
        int n = atoi(w->seen[i].content);

        assert_int_equal(n, last[k] + 1);
        last[k] = n;
    }
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/* ---- wake-ups (SG-LOCK-008, SG-LOCK-009) -------------------------------- */

/* The lock waiters hash's field for a channel's lock, or "" for none. */
static void waiter_of(world *w, const char *channel, char *out, size_t cap)
{
    char lock[128], hash[SG_NAME_MAX + 16];
    redisReply *r;

    assert_true(sg_name_join(lock, sizeof lock, w->rt.topo.lock_prefix,
                             channel, strlen(channel)) > 0);
    snprintf(hash, sizeof hash, "%s:waiters", w->rt.topo.wake_prefix);
    r = redisCommand(w->rt.sync, "HGET %s %s", hash, lock);
    assert_non_null(r);
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING)
        copy_str(out, cap, r->str, r->len);
    freeReplyObject(r);
}

/*
 * A holds e1 of a channel, B has e2 of it and finds the channel busy:
 * B records its wake list as the lock's waiter (SG-LOCK-008). Its delay
 * is left to grow to 500 ms; when A ends e1, A's script hands the lock key
 * to B's list (SG-LOCK-009) and B retries at once: woken, not by its
 * delay. `ordered` picks the busy reason: an older entry in the order
 * queue (SG-IN-024), or, without order queues, the lock (SG-IN-014).
 */
static void wake_case(world *w, int ordered, const char *channel,
                      const char *na, const char *nb)
{
    sg_inbound_consumer *a, *b;
    char e2[32], waiter[1024], want[1024];

    w->rt.knobs.order_queues = ordered;
    w->rt.knobs.hand_over = 0;
    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, na);
    w->rt.knobs.max_in_flight = 256;
    publish(w, channel, "first", 1, NULL);
    WAIT(seen_at_least, w, a, 1);
    b = engine(w, nb);
    publish(w, channel, "second", 1, e2);
    WAIT(in_flight_is, w, b, 1);
    /* 10, 20, 40, 80, 160, 320: the next delay is 500 ms. */
    WAIT(lock_busy_at_least, w, b, 7);
    snprintf(want, sizeof want, "%s:list:%s:%s", w->rt.topo.wake_prefix,
             w->rt.topo.worker_group, nb);
    waiter_of(w, channel, waiter, sizeof waiter);
    assert_string_equal(waiter, want);
    assert_int_equal(stats(b).woken, 0);
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, b, 2);
    assert_string_equal(w->seen[1].consumer, nb);
    assert_string_equal(w->seen[1].id, e2);
    assert_int_equal(stats(b).woken, 1);
    /* The field went with the wake-up, the list with the pop. */
    waiter_of(w, channel, waiter, sizeof waiter);
    assert_string_equal(waiter, "");
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", want), 0);
    sg_job_finish(w->held[1], SG_JOB_OK);
    w->held[1] = NULL;
    WAIT(handled_at_least, w, b, 1);
    WAIT(pending_is, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/* SG-LOCK-008, SG-LOCK-009, SG-IN-024, SG-IN-025: woken by the order
   queue's head leaving. */
static void test_wake_when_order_queue_head_ends(void **state)
{
    wake_case(*state, 1, "wq", "worker-wake-qa", "worker-wake-qb");
}

/* SG-LOCK-008, SG-LOCK-009, SG-LOCK-003, SG-IN-014: woken by the lock's
   release. */
static void test_wake_when_lock_released(void **state)
{
    wake_case(*state, 0, "wl", "worker-wake-la", "worker-wake-lb");
}

/*
 * SG_LOCK_WAKE=0: nobody records itself as a waiter or is woken; the
 * waiting entry still runs, on its delay (SG-LOCK-005).
 */
static void test_wake_switched_off(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char hash[SG_NAME_MAX + 16];

    w->rt.knobs.lock_wake = 0;
    w->rt.knobs.hand_over = 0;
    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-nowake-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, "wo", "first", 1, NULL);
    WAIT(seen_at_least, w, a, 1);
    b = engine(w, "worker-nowake-b");
    publish(w, "wo", "second", 1, NULL);
    WAIT(lock_busy_at_least, w, b, 2);
    snprintf(hash, sizeof hash, "%s:waiters", w->rt.topo.wake_prefix);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", hash), 0);
    assert_false(client_blocked_in(w, "blpop"));
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, b, 2);
    assert_int_equal(stats(b).woken, 0);
    sg_job_finish(w->held[1], SG_JOB_OK);
    w->held[1] = NULL;
    WAIT(pending_is, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}


/*
 * SG-IN-026, SG-IN-027, SG-IN-005, SG-IN-006: A holds e1 of a channel
 * that goes to A (the greater SHA1) and lists itself in the hand-over
 * hash; B reads e2 of the channel and hands it over: e2 becomes pending
 * at A with its one delivery (XCLAIM JUSTID counts none), its note waits
 * in A's list, its ID in the order queue, and B holds nothing and never
 * waits. When A ends e1 it takes e2 from its list before reading
 * anything else and handles it, after e1.
 */
static void test_handover_goes_to_the_channels_consumer(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char e1[32], e2[32], key[256], list[256], note[64], got[256], ids[80];
    char ch[16];
    long long idle, count;

    channel_for(w, "worker-hand-a", "worker-hand-b", "h", ch, sizeof ch);
    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-hand-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, ch, "first", 1, e1);
    WAIT(seen_at_least, w, a, 1);
    /* A's field: the most notes its list may hold (four windows), and
       when the field dies. */
    hand_names(w, "worker-hand-a", key, list, sizeof key);
    sgt_str(&w->rt, got, sizeof got, "HGET %s worker-hand-a", key);
    assert_true(strncmp(got, "4 ", 2) == 0);
    assert_true(strtoll(got + 2, NULL, 10) >
                sgt_int(&w->rt, "EVAL %s 0", "return redis.call('TIME')"
                                             "[1] * 1000"));
    assert_true(sgt_int(&w->rt, "PTTL %s", key) > 0);
    b = engine(w, "worker-hand-b");
    publish(w, ch, "second", 1, e2);
    WAIT(handed_over_at_least, w, b, 1);
    assert_int_equal(stats(b).in_flight, 0);
    assert_int_equal(stats(b).lock_busy, 0);
    pending_entry(w, e2, got, sizeof got, &idle, &count);
    assert_string_equal(got, "worker-hand-a");
    assert_int_equal(count, 1);
    snprintf(note, sizeof note, "%s %s", e2, ch);
    sgt_str(&w->rt, got, sizeof got, "LINDEX %s 0", list);
    assert_string_equal(got, note);
    assert_true(sgt_int(&w->rt, "PTTL %s", list) > 0);
    queue_ids(w, ch, got, sizeof got);
    snprintf(ids, sizeof ids, "%s %s", e1, e2);
    assert_string_equal(got, ids);
    /* A's window is full: e2 waits in the list. */
    sgt_loop_for(w->rt.base, 100);
    assert_int_equal(w->nseen, 1);
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, a, 2);
    assert_string_equal(w->seen[1].consumer, "worker-hand-a");
    assert_string_equal(w->seen[1].id, e2);
    assert_int_equal(stats(a).handed_in, 1);
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", list), 0);
    sg_job_finish(w->held[1], SG_JOB_OK);
    w->held[1] = NULL;
    WAIT(handled_at_least, w, a, 2);
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    assert_int_equal(stats(b).handled, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-026, SG-IN-005, SG-IN-006: with A and B both reading, every
 * entry of a channel is handled by the channel's consumer (the greater
 * SHA1 of "<consumer> <channel>"), whichever of them read it, in stream
 * order; entries of channels that go to the reader are not handed.
 */
static void test_handover_gives_each_channel_to_one_consumer(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    static const char *const chans[] = {"g0", "g1", "g2", "g3", "g4", "g5"};
    char key[256], list[256], ids[48][32], text[16];
    int i, j;

    w->mode = MODE_OK;
    a = engine(w, "worker-split-a");
    b = engine(w, "worker-split-b");
    hand_names(w, "worker-split-a", key, list, sizeof key);
    WAITK(hash_len_is_two, w, key);
    for (i = 0; i < 48; i++) {
        snprintf(text, sizeof text, "m%d", i);
        publish(w, chans[i % 6], text, 1, ids[i]);
    }
    WAIT(seen_at_least, w, NULL, 48);
    WAIT(pending_is, w, NULL, 0);
    for (j = 0; j < 6; j++) {
        const char *want = assigned(w, "worker-split-a", "worker-split-b",
                                    chans[j]);
        int last = -1;

        for (i = 0; i < w->nseen; i++) {
            int k;

            if (strcmp(w->seen[i].channel, chans[j]) != 0)
                continue;
            assert_string_equal(w->seen[i].consumer, want);
            for (k = 0; k < 48 && strcmp(ids[k], w->seen[i].id) != 0; k++)
                ;
            assert_true(k < 48 && k > last);
            last = k;
        }
    }
    assert_true(stats(a).handed_over + stats(b).handed_over > 0);
    assert_int_equal(stats(a).handed_over + stats(b).handed_over,
                     stats(a).handed_in + stats(b).handed_in);
    WAIT(no_queue_keys, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-026, SG-IN-027, SG-IN-005, SG-IN-024, SG-IN-008: A's list holds
 * at most its bound (4): B hands e2 to e5 over; with A's list full it
 * first leaves e6 in the stream (its reads pause), then, A staying full,
 * reads past it (B's own channels must not wait on A) and keeps e6,
 * which waits behind A's entries as any entry of a busy channel does.
 * Every entry is handled once, in stream order.
 */
static void test_handover_stops_at_the_hand_list_bound(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char ids[6][32], key[256], list[256], ch[16];
    static const char *const text[] = {"c1", "c2", "c3", "c4", "c5", "c6"};
    int i;

    channel_for(w, "worker-bound-a", "worker-bound-b", "hb", ch, sizeof ch);
    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-bound-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, ch, text[0], 1, ids[0]);
    WAIT(seen_at_least, w, a, 1);
    b = engine(w, "worker-bound-b");
    for (i = 1; i < 6; i++)
        publish(w, ch, text[i], 1, ids[i]);
    WAIT(handed_over_at_least, w, b, 4);
    WAIT(in_flight_is, w, b, 1);
    hand_names(w, "worker-bound-a", key, list, sizeof key);
    assert_int_equal(sgt_int(&w->rt, "LLEN %s", list), 4);
    assert_int_equal(stats(b).handed_over, 4);
    assert_true(stats(b).read_pauses >= 1);
    WAIT(lock_busy_at_least, w, b, 1);
    w->mode = MODE_OK;
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, NULL, 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(w->seen[i].id, ids[i]);
        assert_string_equal(w->seen[i].consumer,
                            i < 5 ? "worker-bound-a" : "worker-bound-b");
    }
    WAIT(pending_is, w, NULL, 0);
    WAIT(no_queue_keys, w, NULL, 0);
    WAIT(handled_at_least, w, a, 5);
    assert_int_equal(stats(a).handed_in, 4);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

/*
 * SG-IN-028, SG-IN-027, SG-IN-017, SG-IN-019: an entry waiting in a hand
 * list is a held entry. A's window stays full for twice the min-idle, yet
 * B's sweep (every 50 ms) never takes e2: A keeps its idle time reset and
 * the list's TTL renewed. When A stops, its field goes at once; e2, left
 * in the list of a consumer that no longer reads, is reclaimed by B's
 * sweep like any entry left pending, and handled once.
 */
static void test_handover_list_is_kept_and_survives_a_stop(void **state)
{
    world *w = *state;
    sg_inbound_consumer *a, *b;
    char e2[32], key[256], list[256], owner[64], ch[16];
    long long idle, count;

    channel_for(w, "worker-keep-a", "worker-keep-b", "hk", ch, sizeof ch);
    w->rt.knobs.autoclaim_min_idle_ms = 800;
    w->mode = MODE_HOLD;
    w->rt.knobs.max_in_flight = 1;
    a = engine(w, "worker-keep-a");
    w->rt.knobs.max_in_flight = 256;
    publish(w, ch, "first", 1, NULL);
    WAIT(seen_at_least, w, a, 1);
    b = engine(w, "worker-keep-b");
    publish(w, ch, "second", 1, e2);
    WAIT(handed_over_at_least, w, b, 1);
    sgt_loop_for(w->rt.base, 1600);
    assert_int_equal(stats(b).claimed, 0);
    pending_entry(w, e2, owner, sizeof owner, &idle, &count);
    assert_string_equal(owner, "worker-keep-a");
    assert_true(idle < 400);
    assert_int_equal(count, 1);
    hand_names(w, "worker-keep-a", key, list, sizeof key);
    assert_true(sgt_int(&w->rt, "PTTL %s", list) > 0);
    assert_int_equal(sgt_int(&w->rt, "HEXISTS %s worker-keep-a", key), 1);
    assert_int_equal(sg_consumer_stop(sg_inbound_consumer_engine(a), NULL,
                                      NULL),
                     0);
    WAITK(field_a_gone, w, key);
    w->mode = MODE_OK;
    sg_job_finish(w->held[0], SG_JOB_OK);
    w->held[0] = NULL;
    WAIT(seen_at_least, w, NULL, 2);
    assert_string_equal(w->seen[1].id, e2);
    assert_string_equal(w->seen[1].consumer, "worker-keep-b");
    assert_int_equal(stats(b).claimed, 1);
    WAIT(pending_is, w, NULL, 0);
    sg_inbound_consumer_free(b);
    sg_inbound_consumer_free(a);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_order_two_consumers_keep_channel_order),
        T(test_order_freed_lock_goes_to_the_older_entry),
        T(test_order_stale_head_is_skipped),
        T(test_order_claimed_older_entry_goes_first),
        T(test_order_queues_empty_after_all_end),
        T(test_order_malformed_entry_leaves_no_queue_entry),
        T(test_order_passive_entries_are_not_queued),
        T(test_order_read_script_recovers_from_nogroup),
        T(test_order_queues_can_be_switched_off),
        T(test_order_two_consumers_many_channels),
        T(test_wake_when_order_queue_head_ends),
        T(test_wake_when_lock_released),
        T(test_wake_switched_off),
        T(test_handover_goes_to_the_channels_consumer),
        T(test_handover_gives_each_channel_to_one_consumer),
        T(test_handover_stops_at_the_hand_list_bound),
        T(test_handover_list_is_kept_and_survives_a_stop),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
