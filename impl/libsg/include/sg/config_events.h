/*
 * sg/config_events.h: the configuration-updated event (SPEC section 12).
 *
 * A listener subscribes to the config channel and calls back on every
 * message that is a JSON object whose "event" member is the string
 * "sys:config:updated" (SG-CFG-001). A message that is not JSON, not an
 * object, or another event is logged and skipped; the listener goes on
 * (SG-CFG-002). When the connection drops, the listener reconnects,
 * subscribes again and then calls back once more, with no event, since
 * whatever was published meanwhile is lost (SG-CFG-003).
 *
 *     sg_config_events_opts o;
 *     sg_config_events_opts_init(&o);
 *     o.host = host; o.port = port; o.channel = topo.config_channel;
 *     o.fn = on_config; o.ud = me;
 *     sg_config_events *ce;
 *     sg_config_events_new(base, &o, &ce);
 *
 * Why not sg/conn.h. A subscribed connection is a stream of pushed
 * messages with no command behind each, while sg_conn pairs every reply
 * with one command it sent (and frees the command's record on the first
 * reply). So the listener runs its own hiredis asynchronous context, with
 * hiredis' persistent SUBSCRIBE callback, its own reconnect timer and the
 * same backoff as sg_conn.
 */
#ifndef SG_CONFIG_EVENTS_H
#define SG_CONFIG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "sg/log.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct cJSON;

typedef struct sg_config_events sg_config_events;

/* Why the callback runs. */
typedef enum sg_config_event_kind {
    SG_CONFIG_UPDATED = 1,      /* an event came; event is its object */
    SG_CONFIG_RESUBSCRIBED = 2  /* subscribed again after a drop; reload */
} sg_config_event_kind;

/*
 * event is borrowed for the duration of the call (NULL for
 * SG_CONFIG_RESUBSCRIBED). The callback may free the listener.
 */
typedef void sg_config_event_fn(sg_config_events *ce,
                                sg_config_event_kind kind,
                                const struct cJSON *event, void *ud);

typedef struct sg_config_events_opts {
    const char *host;           /* NULL: "127.0.0.1"; copied */
    int port;                   /* 0: 6379 */
    const char *channel;        /* NULL: "sg:pubsub:config"; copied */
    sg_config_event_fn *fn;     /* required */
    void *ud;
    int connect_timeout_ms;     /* 0: 2000 */
    int backoff_min_ms;         /* 0: 100 */
    int backoff_max_ms;         /* 0: 5000 */
    size_t max_bytes;           /* longest message parsed; 0: 65536 */
    const sg_log *log;          /* NULL: stderr */
    const sg_mem *mem;          /* NULL: the default allocator */
} sg_config_events_opts;

/* Every field zero or NULL. */
void sg_config_events_opts_init(sg_config_events_opts *opts);

/*
 * Creates a listener on base and starts connecting. 0 and *out, freed
 * with sg_config_events_free() before base; or SG_EINVAL / SG_ENOMEM. An
 * unreachable server is not an error: the listener keeps retrying.
 */
int sg_config_events_new(struct event_base *base,
                         const sg_config_events_opts *opts,
                         sg_config_events **out);

/* Unsubscribes by closing the connection, and frees. NULL is a no-op. */
void sg_config_events_free(sg_config_events *ce);

/* Nonzero while Redis has confirmed the subscription. */
int sg_config_events_subscribed(const sg_config_events *ce);

/* Counters: events delivered, messages skipped, subscriptions made. */
uint64_t sg_config_events_delivered(const sg_config_events *ce);
uint64_t sg_config_events_skipped(const sg_config_events *ce);
uint64_t sg_config_events_subscriptions(const sg_config_events *ce);

/* Commands written (one SUBSCRIBE per connection made). */
uint64_t sg_config_events_commands_sent(const sg_config_events *ce);

#ifdef __cplusplus
}
#endif

#endif /* SG_CONFIG_EVENTS_H */
