/*
 * The configuration-updated listener (sg/config_events.h) against a real
 * redis-server: events, messages to ignore, and a Redis restart.
 *
 * Spec IDs: SG-CFG-001 (a JSON object whose "event" is
 * "sys:config:updated", on the config channel, other members ignored),
 * SG-CFG-002 (not JSON, not an object, another event: logged and skipped,
 * the listener goes on), SG-CFG-003 (after a disconnection: subscribe
 * again, then reload once).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/config_events.h"
#include "sg/error.h"
#include "sg_redis_fixture.h"
#include "sgt_loop.h"

#define CHANNEL "sg:pubsub:config"

typedef struct world {
    sgt_redis redis;
    redisContext *sync;
    struct event_base *base;
    sg_log log;
    sg_config_events *ce;
    int updates;
    int reloads;
    char by[64];
    int free_in_callback;
} world;

static void on_event(sg_config_events *ce, sg_config_event_kind kind,
                     const cJSON *event, void *ud)
{
    world *w = ud;

    if (kind == SG_CONFIG_UPDATED) {
        const cJSON *by = cJSON_GetObjectItemCaseSensitive(event, "by");

        w->updates++;
        if (cJSON_IsString(by))
            snprintf(w->by, sizeof w->by, "%s", by->valuestring);
    } else {
        assert_int_equal(kind, SG_CONFIG_RESUBSCRIBED);
        assert_null(event);
        w->reloads++;
    }
    if (w->free_in_callback) {
        sg_config_events_free(ce);
        w->ce = NULL;
    }
}

static void new_listener(world *w, const char *channel)
{
    sg_config_events_opts o;

    sg_config_events_opts_init(&o);
    o.host = w->redis.host;
    o.port = w->redis.port;
    o.channel = channel;
    o.fn = on_event;
    o.ud = w;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    o.max_bytes = 1024;
    o.log = &w->log;
    assert_int_equal(sg_config_events_new(w->base, &o, &w->ce), 0);
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);

    assert_non_null(w);
    if (sgt_redis_start(&w->redis, NULL) != 0)
        fail_msg("sgt_redis_start: %s", w->redis.errstr);
    w->sync = sgt_redis_connect(&w->redis);
    assert_non_null(w->sync);
    w->base = event_base_new();
    assert_non_null(w->base);
    sg_log_init(&w->log);
    w->log.level = SG_LOG_OFF;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sg_config_events_free(w->ce);
    event_base_free(w->base);
    if (w->sync != NULL)
        redisFree(w->sync);
    sgt_redis_stop(&w->redis);
    free(w);
    return 0;
}

static void publish(world *w, const char *channel, const char *msg,
                    size_t len)
{
    redisReply *r = redisCommand(w->sync, "PUBLISH %s %b", channel, msg,
                                 len);

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

static void publish_str(world *w, const char *msg)
{
    publish(w, CHANNEL, msg, strlen(msg));
}

static int subscribed(void *arg)
{
    world *w = arg;

    return w->ce != NULL && sg_config_events_subscribed(w->ce);
}

static int one_update(void *arg)
{
    return ((world *)arg)->updates >= 1;
}

static int six_skipped(void *arg)
{
    return sg_config_events_skipped(((world *)arg)->ce) >= 6;
}

static int resubscribed_and_reloaded(void *arg)
{
    world *w = arg;

    return subscribed(w) && w->reloads >= 1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_sg_config_events_delivers_updated_event(void **state)
{
    world *w = *state;

    new_listener(w, NULL);
    assert_true(sgt_loop_until(w->base, subscribed, w, 3000));
    /* Only the first subscription: no reload. */
    assert_int_equal(w->reloads, 0);
    publish_str(w, "{\"event\":\"sys:config:updated\",\"by\":\"admin\"}");
    assert_true(sgt_loop_until(w->base, one_update, w, 3000));
    assert_int_equal(w->updates, 1);
    assert_string_equal(w->by, "admin");
    assert_int_equal(sg_config_events_delivered(w->ce), 1);
}

static void test_sg_config_events_skips_what_is_not_the_event(void **state)
{
    world *w = *state;
    char big[2048];

    new_listener(w, NULL);
    assert_true(sgt_loop_until(w->base, subscribed, w, 3000));
    publish_str(w, "not json at all");
    publish_str(w, "[\"event\", \"sys:config:updated\"]");
    publish_str(w, "{\"event\":\"sys:config:other\"}");
    publish_str(w, "{\"event\":5}");
    publish(w, CHANNEL, "{\"event\":\"sys:config:updated\"}\0x", 33);
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"event\":\"sys:config:updated\"}", 30);
    publish(w, CHANNEL, big, sizeof big);
    assert_true(sgt_loop_until(w->base, six_skipped, w, 3000));
    assert_int_equal(w->updates, 0);
    /* The listener goes on. */
    publish_str(w, "{\"event\":\"sys:config:updated\"}");
    assert_true(sgt_loop_until(w->base, one_update, w, 3000));
    assert_int_equal(sg_config_events_skipped(w->ce), 6);
}

static void test_sg_config_events_other_channel_not_heard(void **state)
{
    world *w = *state;

    new_listener(w, "sg:pubsub:config:staging");
    assert_true(sgt_loop_until(w->base, subscribed, w, 3000));
    publish_str(w, "{\"event\":\"sys:config:updated\"}");
    publish(w, "sg:pubsub:config:staging",
            "{\"event\":\"sys:config:updated\",\"by\":\"ops\"}", 41);
    assert_true(sgt_loop_until(w->base, one_update, w, 3000));
    sgt_loop_for(w->base, 50);
    assert_int_equal(w->updates, 1);
    assert_string_equal(w->by, "ops");
}

static void test_sg_config_events_resubscribes_and_reloads_after_restart(
    void **state)
{
    world *w = *state;

    new_listener(w, NULL);
    assert_true(sgt_loop_until(w->base, subscribed, w, 3000));
    redisFree(w->sync);
    w->sync = NULL;
    assert_int_equal(sgt_redis_restart(&w->redis), 0);
    w->sync = sgt_redis_connect(&w->redis);
    assert_non_null(w->sync);
    assert_true(sgt_loop_until(w->base, resubscribed_and_reloaded, w, 5000));
    assert_int_equal(w->reloads, 1);
    assert_int_equal(sg_config_events_subscriptions(w->ce), 2);
    /* One SUBSCRIBE written per connection made. */
    assert_int_equal(sg_config_events_commands_sent(w->ce), 2);
    publish_str(w, "{\"event\":\"sys:config:updated\"}");
    assert_true(sgt_loop_until(w->base, one_update, w, 3000));
    /* One reload per reconnection, not more. */
    sgt_loop_for(w->base, 100);
    assert_int_equal(w->reloads, 1);
}

static void test_sg_config_events_free_from_callback(void **state)
{
    world *w = *state;

    new_listener(w, NULL);
    assert_true(sgt_loop_until(w->base, subscribed, w, 3000));
    w->free_in_callback = 1;
    publish_str(w, "{\"event\":\"sys:config:updated\"}");
    publish_str(w, "{\"event\":\"sys:config:updated\"}");
    assert_true(sgt_loop_until(w->base, one_update, w, 3000));
    sgt_loop_for(w->base, 50);
    assert_null(w->ce);
    assert_int_equal(w->updates, 1);
}

static void test_sg_config_events_keeps_trying_a_server_that_is_down(
    void **state)
{
    world *w = *state;
    sg_config_events_opts o;

    sg_config_events_opts_init(&o);
    assert_int_equal(sg_config_events_new(w->base, &o, &w->ce), SG_EINVAL);
    /* Nothing listens on the port any more: it retries, and never calls. */
    redisFree(w->sync);
    w->sync = NULL;
    assert_int_equal(sgt_redis_stop(&w->redis), 0);
    new_listener(w, NULL);
    sgt_loop_for(w->base, 300);
    assert_false(sg_config_events_subscribed(w->ce));
    assert_int_equal(sg_config_events_subscriptions(w->ce), 0);
    assert_int_equal(sg_config_events_commands_sent(w->ce), 0);
    assert_int_equal(w->updates + w->reloads, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_delivers_updated_event, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_skips_what_is_not_the_event, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_other_channel_not_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_resubscribes_and_reloads_after_restart,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_free_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_config_events_keeps_trying_a_server_that_is_down, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
