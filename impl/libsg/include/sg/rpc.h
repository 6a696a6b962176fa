/*
 * sg/rpc.h: remote procedure calls from a worker to a gateway (SPEC
 * section 10): the caller's side, and the JSON of the method replies.
 *
 * The gateway's side is the outbound consumer's: it answers an
 * rpc_request job with sg_job_finish_reply() (sg/consumer.h), which pushes
 * the reply with its 60 s expiry and acknowledges the entry in one script
 * (SG-RPC-002), with a text built by the sg_rpc_build_*() functions below.
 *
 * A call publishes an `rpc_request` envelope on the platform's outbound
 * stream, naming a fresh reply list `{RPC reply key prefix}:{uuid}`, and
 * waits for the gateway to push the reply there:
 *
 *     sg_rpc_opts o;
 *     sg_rpc_opts_init(&o);
 *     o.timeout_ms = knobs.rpc_timeout_ms;
 *     o.reply_prefix = topo.rpc_reply_prefix;
 *     sg_rpc *rpc;
 *     sg_rpc_new(conn, &o, &rpc);
 *
 *     sg_rpc_request rq;
 *     sg_rpc_request_init(&rq);
 *     rq.platform = "discord"; rq.method = "fetch_channel_history";
 *     rq.channel_id = "123"; rq.args = args_map;   // msgpack {"limit": 5}
 *     sg_rpc_call(rpc, &rq, on_reply, ctx, &err);
 *
 * Waiting connections. BLPOP blocks the connection it is sent on, so each
 * call that is waiting for its reply needs a connection of its own
 * (SG-RPC-009). The client keeps a pool: a call takes an idle waiting
 * connection or opens a new one (sg_conn_new_like() of the command
 * connection), and gives it back when its BLPOP has answered. Up to
 * opts.max_idle connections stay open between calls; the others are
 * closed. So the number of connections follows the number of concurrent
 * calls, which the caller bounds (a worker bounds it by the entries it has
 * in flight); there is no cap here, because queueing a call behind another
 * call's BLPOP would spend its timeout waiting for somebody else.
 *
 * Timeouts. The BLPOP carries the call's remaining time as its own
 * timeout, so Redis ends the wait and the connection stays usable. A local
 * timer a little after the deadline (opts.grace_ms) is the backstop for a
 * Redis that does not answer: the call then gets SG_ETIMEOUT and its
 * waiting connection is closed. A reply pushed after the deadline stays in
 * its own list, which nobody reads again and which expires in 60 s
 * (SG-RPC-002); no later call can see it, since every call has a new key
 * (SG-RPC-010).
 *
 * Replies. The callback receives the reply parsed: a borrowed cJSON tree
 * (declared here as struct cJSON, so including this header does not need
 * cJSON's) and the raw text, both valid only during the callback. The
 * caller never frees them.
 */
#ifndef SG_RPC_H
#define SG_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/error.h"
#include "sg/log.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* ---- the caller's side -------------------------------------------------- */

typedef struct sg_rpc sg_rpc;

typedef struct sg_rpc_opts {
    const char *outbound_prefix; /* NULL: "sg:stream:outbound"; copied */
    const char *reply_prefix;    /* NULL: "sg:rpc:reply"; copied */
    int timeout_ms;              /* per call; 0: 30000 (SG_RPC_TIMEOUT_MS) */
    int grace_ms;                /* backstop after the deadline; 0: 250 */
    long long stream_maxlen;     /* 0: 100000; below 1000: 1000 */
    int max_idle;                /* waiting connections kept idle; 0: 4,
                                    negative: none */
    size_t max_reply_bytes;      /* 0: 4194304 */
    int max_reply_depth;         /* JSON nesting; 0: 32 */
    const sg_log *log;           /* NULL: the connection's */
} sg_rpc_opts;

/* Every field zero or NULL: the defaults. */
void sg_rpc_opts_init(sg_rpc_opts *opts);

/*
 * Creates a client that publishes through conn (the caller's command
 * connection, which must outlive the client) and opens its waiting
 * connections like conn. 0 and *out, to be freed with sg_rpc_free(), or
 * SG_EINVAL / SG_ENOMEM.
 */
int sg_rpc_new(sg_conn *conn, const sg_rpc_opts *opts, sg_rpc **out);

/*
 * Frees the client: every call still waiting gets SG_ECLOSED through its
 * callback before this returns, and the waiting connections are closed.
 * Must not be called from inside one of this client's callbacks. NULL is
 * a no-op.
 */
void sg_rpc_free(sg_rpc *rpc);

/* One call. Strings are read during sg_rpc_call() only. */
typedef struct sg_rpc_request {
    const char *platform;        /* required: the stream {prefix}:{platform} */
    const char *method;          /* required, non-empty */
    const char *channel_id;      /* NULL: absent */
    sg_any args;                 /* msgpack map; len 0: {} */
    const char *trace_id;        /* NULL or "": a fresh one (SG-TRACE-001) */
    int timeout_ms;              /* 0: the client's */
} sg_rpc_request;

/* Every field zero or NULL. */
void sg_rpc_request_init(sg_rpc_request *rq);

/*
 * The outcome of a call, borrowed for the duration of the callback.
 * status is:
 *   0            json and text hold the reply; it may be an error object
 *                ({"error": ...}, see sg_rpc_reply_error());
 *   SG_ETIMEOUT  no reply within the timeout (SG-RPC-009);
 *   SG_EDECODE   a reply came that is not JSON, or is over the limits:
 *                err->reason is invalid_json, entry_too_large or too_deep
 *                (SG-RPC-011); text holds it, json is NULL;
 *   SG_EREDIS    Redis refused the XADD or the BLPOP (err->msg says why);
 *   SG_ECLOSED   a connection dropped (the request may or may not have
 *                been published), or the client was freed.
 * reply_key is the call's reply list, for log lines.
 */
typedef struct sg_rpc_result {
    int status;
    const struct cJSON *json;
    const char *text;            /* NUL-terminated; NULL without a reply */
    size_t len;
    const char *reply_key;
    const sg_error *err;
} sg_rpc_result;

typedef void sg_rpc_fn(const sg_rpc_result *res, void *ud);

/*
 * Starts a call: validates and publishes the rpc_request envelope (type
 * rpc_request, rpc_method, rpc_args, reply_key, channel_id, trace_id also
 * in the entry's trace_id field) with XADD MAXLEN ~ on
 * `{outbound prefix}:{platform}`, then waits with BLPOP on the reply key.
 *
 * 0: fn will be called exactly once, from the event loop (never from
 * inside this function). Otherwise fn is never called: SG_EINVALID (the
 * envelope or the trace id is invalid; err names the field), SG_EINVAL
 * (no platform or method), SG_ENOMEM, SG_ECLOSED (the command connection
 * is waiting to reconnect, or the client is being freed) or SG_EIO (no
 * random source). err may be NULL.
 */
int sg_rpc_call(sg_rpc *rpc, const sg_rpc_request *rq, sg_rpc_fn *fn,
                void *ud, sg_error *err);

/* Calls started and not yet finished. */
size_t sg_rpc_pending(const sg_rpc *rpc);

/* Waiting connections open now (busy or idle). */
size_t sg_rpc_connections(const sg_rpc *rpc);

/* ---- method replies ------------------------------------------------------ */

/*
 * The builders append one JSON text to out followed by a NUL that out->len
 * does not count (so (char *)out->data is a C string), and return 0,
 * SG_EINVAL (a string that is not UTF-8, a number that is not finite) or
 * SG_ENOMEM; on failure out->len is unchanged. The caller owns out.
 */

/* {"error": "<text>"}: a method that failed (SG-RPC-004). */
int sg_rpc_build_error(sg_buf *out, const char *text, size_t len);

/*
 * {"error": "Unknown RPC method: <method>"} (SG-RPC-004).
 */
int sg_rpc_build_unknown_method(sg_buf *out, const char *method,
                                size_t len);

/* true or false: should_skip_channel_heartbeat (SG-RPC-006). */
int sg_rpc_build_bool(sg_buf *out, bool value);

/*
 * {"ok": <ok>, "error": <error or null>}: delete_egregore_webhook
 * (SG-RPC-007). error NULL gives null.
 */
int sg_rpc_build_webhook(sg_buf *out, bool ok, const char *error);

/* A history message (SPEC section 10). */
typedef struct sg_rpc_history_msg {
    sg_str user_id;
    sg_str user_name;
    sg_str text;
    double timestamp;            /* seconds since the epoch */
    sg_str message_id;
    bool is_bot;
    bool has_reply_to_id;        /* false: null */
    sg_str reply_to_id;
    const char *reactions_json;  /* any JSON text, copied as is; NULL: null */
} sg_rpc_history_msg;

/*
 * The array of history messages of fetch_channel_history, oldest first,
 * cut to the last `limit` messages (SG-RPC-005). reactions_json is
 * checked to be JSON.
 */
int sg_rpc_build_history(sg_buf *out, const sg_rpc_history_msg *msgs,
                         size_t n, size_t limit);

/*
 * The error text of an error reply: json is an object whose "error"
 * member is a string. NULL otherwise (also for {"ok": .., "error": null}
 * and for an object that has more than the "error" member, such as a
 * webhook reply). Valid as long as json.
 */
const char *sg_rpc_reply_error(const struct cJSON *json);

/*
 * Checks that json is a valid reply to `method` (SPEC section 10): for
 * fetch_channel_history an array of at most `limit` history messages
 * (limit 0: 100), for should_skip_channel_heartbeat a bool, for
 * delete_egregore_webhook {"ok": bool, "error": string or null}, for
 * execute_tool any value, and for any other method exactly the
 * unknown-method error (SG-RPC-004..007). An error object {"error":
 * "<text>"} is a valid reply to every known method (SG-RPC-004).
 *
 * 0, or SG_EINVALID with err->reason (wrong_type, missing_field,
 * invalid_value, array_too_long) and err->path (e.g. "reply[2].user_id").
 */
int sg_rpc_check_reply(const char *method, const struct cJSON *json,
                       size_t limit, sg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SG_RPC_H */
