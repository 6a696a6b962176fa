/*
 * The configuration-updated listener (sg/config_events.h), on a hiredis
 * asynchronous context of its own.
 *
 * hiredis 0.14 keeps a SUBSCRIBE's callback for the life of the
 * subscription and calls it for the confirmation and for each message;
 * when the context goes away it calls it once more with a NULL reply. The
 * listener finds itself through ac->data, which it clears before it frees
 * a context, so that no callback reaches a listener that is gone. As in
 * sg_conn, the connect and disconnect callbacks only record the change;
 * reconnecting happens from a timer.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/config_events.h"

#include "clock.h"
#include "json_text.h"
#include "sg/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#define DEFAULT_CHANNEL "sg:pubsub:config"
#define EVENT_NAME "sys:config:updated"
#define HOST_MAX 256
#define ERR_MAX 128
#define EVENT_MAX_DEPTH 16

struct sg_config_events {
    struct event_base *base;
    const sg_mem *mem;
    const sg_log *log;
    char host[HOST_MAX];
    int port;
    char *channel;
    sg_config_event_fn *fn;
    void *ud;
    int connect_timeout_ms;
    int backoff_min_ms;
    int backoff_max_ms;
    size_t max_bytes;

    redisAsyncContext *ac;      /* NULL while waiting to reconnect */
    int subscribed;
    int failures;
    int down_logged;
    char last_err[ERR_MAX];
    struct event *retry_ev;
    struct event *connect_ev;
    uint64_t delivered;
    uint64_t skipped;
    uint64_t subscriptions;
    uint64_t sent;              /* SUBSCRIBEs written */
};

static void start_connect(sg_config_events *ce);

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- reconnecting -------------------------------------------------------- */

static void schedule_retry(sg_config_events *ce, int delay_ms)
{
    struct timeval tv;

    sg__ms_to_tv((uint64_t)delay_ms, &tv);
    evtimer_add(ce->retry_ev, &tv);
}

static void attempt_failed(sg_config_events *ce, const char *why)
{
    long delay = ce->backoff_min_ms;
    int i;

    ce->failures++;
    for (i = 1; i < ce->failures && delay < ce->backoff_max_ms; i++)
        delay *= 2;
    if (delay > ce->backoff_max_ms)
        delay = ce->backoff_max_ms;
    /* One line per outage (and per new reason), not one per retry. */
    if (!ce->down_logged || strcmp(why, ce->last_err) != 0)
        sg_logf(ce->log, SG_LOG_WARN,
                "config listener: redis %s:%d unreachable: %s; retrying in "
                "%ld ms", ce->host, ce->port, why, delay);
    ce->down_logged = 1;
    copy_str(ce->last_err, sizeof ce->last_err, why);
    schedule_retry(ce, (int)delay);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    sg_config_events *ce = arg;
    redisAsyncContext *ac = ce->ac;

    (void)fd;
    (void)what;
    if (ac == NULL || (ac->c.flags & REDIS_CONNECTED))
        return;
    ce->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);
    attempt_failed(ce, "connect timed out");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sg_config_events *ce = ac->data;

    if (ce == NULL)
        return;
    evtimer_del(ce->connect_ev);
    if (status != REDIS_OK) {
        char why[ERR_MAX];

        /* hiredis frees the context when this returns. */
        copy_str(why, sizeof why,
                 ac->c.errstr[0] != '\0' ? ac->c.errstr : "connect failed");
        ce->ac = NULL;
        attempt_failed(ce, why);
        return;
    }
    /* The SUBSCRIBE queued before the connect is written now. */
    ce->sent++;
    sg_logf(ce->log, ce->down_logged ? SG_LOG_INFO : SG_LOG_DEBUG,
            "config listener: redis %s:%d %s", ce->host, ce->port,
            ce->down_logged ? "reachable again" : "connected");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sg_config_events *ce = ac->data;

    if (ce == NULL)
        return;
    /* hiredis frees the context when this returns. */
    ce->ac = NULL;
    ce->subscribed = 0;
    sg_logf(ce->log, SG_LOG_WARN,
            "config listener: connection to %s:%d lost (%s); resubscribing",
            ce->host, ce->port, status == REDIS_OK ? "closed" : ac->errstr);
    ce->down_logged = 1;
    copy_str(ce->last_err, sizeof ce->last_err, "connection lost");
    schedule_retry(ce, 0);
}

/* ---- messages ------------------------------------------------------------ */

static void skip(sg_config_events *ce, const char *why)
{
    ce->skipped++;
    sg_logf(ce->log, SG_LOG_WARN, "config listener: message on %s ignored: %s",
            ce->channel, why);
}

/* A published message; the callback is the last thing done with ce. */
static void on_message(sg_config_events *ce, const redisReply *payload)
{
    cJSON *json;
    const cJSON *event;
    sg_error err;

    if (payload->type != REDIS_REPLY_STRING) {
        skip(ce, "not a string");
        return;
    }
    if (sg__json_parse(payload->str, payload->len, ce->max_bytes,
                       EVENT_MAX_DEPTH, "message", &json, &err) != 0) {
        skip(ce, err.msg);
        return;
    }
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        skip(ce, "not a JSON object");
        return;
    }
    event = cJSON_GetObjectItemCaseSensitive(json, "event");
    if (!cJSON_IsString(event) || strcmp(event->valuestring, EVENT_NAME) != 0) {
        cJSON_Delete(json);
        skip(ce, "not a " EVENT_NAME " event");
        return;
    }
    ce->delivered++;
    sg_logf(ce->log, SG_LOG_INFO, "config listener: %s", EVENT_NAME);
    ce->fn(ce, SG_CONFIG_UPDATED, json, ce->ud);
    cJSON_Delete(json);
}

static void on_sub(redisAsyncContext *ac, void *r, void *privdata)
{
    sg_config_events *ce = ac->data;
    const redisReply *reply = r;
    const redisReply *kind;
    int again;

    (void)privdata;
    if (ce == NULL)
        return;
    if (reply == NULL) {
        /* The context is going away. */
        ce->subscribed = 0;
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        sg_logf(ce->log, SG_LOG_ERROR, "config listener: SUBSCRIBE: %s",
                reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "message") == 0) {
        on_message(ce, reply->element[2]);
    } else if (strcmp(kind->str, "subscribe") == 0) {
        again = ce->subscriptions > 0;
        ce->subscribed = 1;
        ce->subscriptions++;
        ce->failures = 0;
        ce->down_logged = 0;
        sg_logf(ce->log, again ? SG_LOG_INFO : SG_LOG_DEBUG,
                "config listener: subscribed to %s", ce->channel);
        /* Events published while the connection was down are lost. */
        if (again)
            ce->fn(ce, SG_CONFIG_RESUBSCRIBED, NULL, ce->ud);
    }
}

static void start_connect(sg_config_events *ce)
{
    const char *argv[2];
    size_t lens[2];
    redisAsyncContext *ac;
    struct timeval tv;

    ac = redisAsyncConnect(ce->host, ce->port);
    if (ac == NULL) {
        attempt_failed(ce, "out of memory");
        return;
    }
    if (ac->err) {
        char why[ERR_MAX];

        copy_str(why, sizeof why, ac->errstr);
        redisAsyncFree(ac);
        attempt_failed(ce, why);
        return;
    }
    if (redisLibeventAttach(ac, ce->base) != REDIS_OK) {
        redisAsyncFree(ac);
        attempt_failed(ce, "cannot attach to the event loop");
        return;
    }
    ac->data = ce;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ce->ac = ac;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = ce->channel;
    lens[1] = strlen(ce->channel);
    /* Queued now, written as soon as the connection is up. */
    if (redisAsyncCommandArgv(ac, on_sub, NULL, 2, argv, lens) != REDIS_OK) {
        ce->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
        attempt_failed(ce, "cannot queue SUBSCRIBE");
        return;
    }
    sg__ms_to_tv((uint64_t)ce->connect_timeout_ms, &tv);
    evtimer_add(ce->connect_ev, &tv);
}

/* ---- public -------------------------------------------------------------- */

void sg_config_events_opts_init(sg_config_events_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_config_events_new(struct event_base *base,
                         const sg_config_events_opts *opts,
                         sg_config_events **out)
{
    const sg_mem *mem;
    const char *host, *channel;
    sg_config_events *ce;
    size_t n;

    *out = NULL;
    if (base == NULL || opts == NULL || opts->fn == NULL ||
        opts->port < 0 || opts->port > 65535 ||
        opts->connect_timeout_ms < 0 || opts->backoff_min_ms < 0 ||
        opts->backoff_max_ms < 0)
        return SG_EINVAL;
    host = opts->host != NULL ? opts->host : "127.0.0.1";
    channel = opts->channel != NULL ? opts->channel : DEFAULT_CHANNEL;
    if (strlen(host) >= HOST_MAX || channel[0] == '\0')
        return SG_EINVAL;
    mem = opts->mem != NULL ? opts->mem : sg_mem_default();
    ce = mem->malloc(sizeof *ce, mem->ud);
    if (ce == NULL)
        return SG_ENOMEM;
    memset(ce, 0, sizeof *ce);
    ce->base = base;
    ce->mem = mem;
    ce->log = opts->log;
    copy_str(ce->host, sizeof ce->host, host);
    ce->port = opts->port > 0 ? opts->port : 6379;
    ce->fn = opts->fn;
    ce->ud = opts->ud;
    ce->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
    ce->backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms
                                                  : 100;
    ce->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms
                                                  : 5000;
    if (ce->backoff_max_ms < ce->backoff_min_ms)
        ce->backoff_max_ms = ce->backoff_min_ms;
    ce->max_bytes = opts->max_bytes > 0 ? opts->max_bytes : 65536;
    n = strlen(channel) + 1;
    ce->channel = mem->malloc(n, mem->ud);
    ce->retry_ev = evtimer_new(base, on_retry, ce);
    ce->connect_ev = evtimer_new(base, on_connect_timeout, ce);
    if (ce->channel == NULL || ce->retry_ev == NULL ||
        ce->connect_ev == NULL) {
        sg_config_events_free(ce);
        return SG_ENOMEM;
    }
    memcpy(ce->channel, channel, n);
    start_connect(ce);
    *out = ce;
    return 0;
}

void sg_config_events_free(sg_config_events *ce)
{
    if (ce == NULL)
        return;
    if (ce->ac != NULL) {
        /*
         * Inside one of its callbacks hiredis frees the context once the
         * callback returns; with data cleared, nothing comes back here.
         */
        ce->ac->data = NULL;
        redisAsyncFree(ce->ac);
        ce->ac = NULL;
    }
    if (ce->retry_ev != NULL)
        event_free(ce->retry_ev);
    if (ce->connect_ev != NULL)
        event_free(ce->connect_ev);
    ce->mem->free(ce->channel, ce->mem->ud);
    ce->mem->free(ce, ce->mem->ud);
}

int sg_config_events_subscribed(const sg_config_events *ce)
{
    return ce->subscribed;
}

uint64_t sg_config_events_delivered(const sg_config_events *ce)
{
    return ce->delivered;
}

uint64_t sg_config_events_skipped(const sg_config_events *ce)
{
    return ce->skipped;
}

uint64_t sg_config_events_subscriptions(const sg_config_events *ce)
{
    return ce->subscriptions;
}

uint64_t sg_config_events_commands_sent(const sg_config_events *ce)
{
    return ce->sent;
}
