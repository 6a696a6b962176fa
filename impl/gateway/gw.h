/*
 * gw.h: the core of sg-gateway, the gateway role of the Stargazer bus.
 *
 * One gateway runs on the caller's libevent loop, without threads: one
 * Redis command connection, one bus (sg/bus.h) for inbound publishes and
 * provisioning, and per configured platform one platform object and one
 * libsg outbound consumer (sg/outbound.h) reading that platform's
 * outbound stream. A platform has two sides behind one internal interface
 * (gw_platform_vt): the outbound side is an sg_platform_adapter vtable
 * whose operations end the job through gw_finish(); the inbound side
 * (listeners, stdin) hands messages to gw_publish_inbound().
 *
 *     gw_opts o = {...};
 *     gw *g;
 *     gw_new(base, &cfg, &o, &g);
 *     gw_start(g);               // binds, provisions, starts consumers
 *     event_base_dispatch(base); // until gw_stop()'s done callback
 *     gw_free(g);
 *
 * Start order (SG-OUT-017): listeners are bound at gw_start() so that a
 * taken port fails at once, but inbound messages are refused (503) until
 * the groups exist and every outbound consumer is reading; then the
 * platforms' banners and "<prog>: ready" are printed.
 */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sg/bus.h"
#include "sg/codec.h"
#include "sg/config.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/log.h"
#include "sg/outbound.h"

#include "gw_config.h"
#include "gw_record.h"

struct event_base;
struct evhttp;
struct evhttp_request;

typedef struct gw gw;
typedef struct gw_platform gw_platform;

/* The adapter operations of SG-OUT-007, named as on the http platform. */
typedef enum gw_op {
    GW_OP_SEND,
    GW_OP_SEND_FILE,
    GW_OP_SEND_BUTTONS,
    GW_OP_START_TYPING,
    GW_OP_STOP_TYPING,
    GW_OP_ADD_REACTION,
    GW_OP_SET_PRESENCE,
    GW_OP__COUNT
} gw_op;

/* "send", "send_file", ...; "?" when out of range. */
const char *gw_op_name(gw_op op);

/* The op an outbound type is dispatched to (typing: start_typing). */
gw_op gw_op_of_type(sg_out_type type);

/* Counters of one platform, for /metrics. */
typedef struct gw_platform_stats {
    uint64_t inbound_published;     /* XADD acknowledged */
    uint64_t inbound_rejected;      /* invalid input, answered 400 */
    uint64_t inbound_failed;        /* Redis refused or was away: 503 */
    uint64_t sent[GW_OP__COUNT];    /* adapter calls that succeeded */
    uint64_t failures[GW_OP__COUNT];/* adapter calls that failed */
    uint64_t rpc_answered;          /* RPC replies pushed */
} gw_platform_stats;

/* The internal platform interface: one per platform kind. */
typedef struct gw_platform_vt {
    const char *name;
    /* Outbound side; each operation gets the gw_platform as ud. */
    const sg_platform_adapter *adapter;
    /*
     * Binds listeners or opens input; inbound messages are not taken yet.
     * 0, or -1 with a message in err.
     */
    int (*open)(gw_platform *p, char *err, size_t cap);
    /* The consumers read: accept inbound messages, print the banner. */
    void (*ready)(gw_platform *p);
    /* Stops taking inbound messages and closes listeners. */
    void (*close)(gw_platform *p);
    /*
     * Frees the platform, ending every job it still holds (their
     * consumers are gone or stopped, so the finish only frees them).
     */
    void (*free)(gw_platform *p);
    /* Appends platform-specific Prometheus lines; may be NULL. */
    void (*metrics)(gw_platform *p, sg_buf *out);
    /* The bound port of its listener; NULL or 0: none. */
    int (*port)(gw_platform *p);
} gw_platform_vt;

/* The part every platform shares; platforms embed it first. */
struct gw_platform {
    const gw_platform_vt *vt;
    gw *gw;
    gw_platform_kind kind;
    const char *name;               /* vt->name */
    gw_record *record;              /* this platform's channel record */
    sg_outbound_consumer *oc;       /* NULL until the groups exist */
    gw_platform_stats stats;
};

/* Constructors of the three platforms (gw_webchat.c, gw_http.c, ...). */
int gw_webchat_new(gw *g, gw_platform **out);
int gw_http_new(gw *g, gw_platform **out);
int gw_console_new(gw *g, gw_platform **out);

/* ---- the gateway -------------------------------------------------------- */

/* A line for stderr: banners, "ready". */
typedef void gw_line_fn(const char *line, void *ud);
/* The gateway asks to be stopped (console EOF when alone). */
typedef void gw_stop_request_fn(void *ud);
/* A stop is complete: everything is closed; gw_free() may follow. */
typedef void gw_done_fn(gw *g, void *ud);

typedef struct gw_opts {
    const char *prog;               /* "sg-gateway", for the lines */
    const sg_log *log;              /* NULL: stderr, info */
    gw_line_fn *line;               /* NULL: lines are dropped */
    void *line_ud;
    gw_stop_request_fn *stop_request; /* NULL: ignored */
    void *stop_request_ud;
    /* Console: input fd and output stream; -1 / NULL: 0 and stdout. */
    int console_in_fd;
    void *console_out;              /* a FILE * */
} gw_opts;

/* cfg and opts are copied. 0 and *out, or -1 (out of memory). */
int gw_new(struct event_base *base, const gw_config *cfg,
           const gw_opts *opts, gw **out);

/*
 * Connects, binds every listener (the metrics one prints its banner at
 * once), then provisions the gateway groups and starts the consumers
 * from the loop. 0, or -1 with the reason in err (a port that cannot be
 * bound, a platform that cannot open): the caller exits 1.
 */
int gw_start(gw *g, char *err, size_t cap);

/*
 * Graceful stop (SG-IN-017, SG-OUT-018): platforms stop taking inbound
 * messages, every consumer stops and drains its running jobs for up to
 * SG_DRAIN_MS, then listeners close and done runs from the loop. Calling
 * it again while stopping does nothing.
 */
void gw_stop(gw *g, gw_done_fn *done, void *ud);

/* Frees everything; the loop may then be freed. NULL is a no-op. */
void gw_free(gw *g);

/* Nonzero when a fatal error asked for the stop (exit 1). */
int gw_failed(const gw *g);

/* Nonzero once the consumers read and platforms accept messages. */
int gw_is_ready(const gw *g);

/* 200 state for /healthz: Redis up and consumers running. */
int gw_is_healthy(const gw *g);

/* Bound ports (0 when off); for tests and banners. */
int gw_metrics_port(const gw *g);
int gw_platform_port(const gw *g, gw_platform_kind kind);

/* The platform object of a kind, or NULL. */
gw_platform *gw_platform_of(gw *g, gw_platform_kind kind);

/* ---- services the core gives the platforms ------------------------------ */

struct event_base *gw_base(const gw *g);
const gw_config *gw_cfg(const gw *g);
const sg_log *gw_log(const gw *g);
const char *gw_prog(const gw *g);
void gw_line(gw *g, const char *line);
void gw_request_stop(gw *g);
void *gw_console_out(const gw *g);
int gw_console_in_fd(const gw *g);

/*
 * Ends an adapter job: on success (error NULL) records message_id (may be
 * NULL) for the write-back of SG-OUT-013 and acknowledges; else fails the
 * job with `error` (SG-OUT-012). Counts it under op.
 */
void gw_finish(gw_platform *p, sg_job *job, gw_op op,
               const char *message_id, const char *error);

/*
 * A publish's outcome: status 0 and the entry ID, or an SG_E... code
 * (Redis away or refusing: answer 503).
 */
typedef void gw_published_fn(int status, const char *entry_id, void *ud);

/*
 * Records env in p's channel record and publishes it on the inbound
 * stream. 0: fn runs once from the loop. SG_EINVALID: err has the reason
 * and path (answer 400); SG_ECLOSED and others: Redis away (503); fn then
 * never runs. Before the gateway is ready: SG_ECLOSED.
 */
int gw_publish_inbound(gw_platform *p, const sg_envelope *env,
                       gw_published_fn *fn, void *ud, sg_error *err);

/* Fresh id "<prefix>-<16 hex digits>" into out (cap >= strlen+18). */
void gw_make_id(char *out, size_t cap, const char *prefix);

/* Seconds since the epoch, wall clock. */
double gw_now_s(void);

/*
 * Serves GET /healthz and GET /metrics on any listener: 1 when the
 * request was one of them (and is answered), else 0.
 */
int gw_serve_ops(gw *g, struct evhttp_request *req);

/* Appends the Prometheus text of the whole gateway. */
void gw_metrics_render(gw *g, sg_buf *out);

#endif /* GW_H */
