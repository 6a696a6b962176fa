/*
 * sg/tools.h: the tools stream (SPEC section 11): a worker's client that
 * delegates tool calls to the tools service, and the helpers the tools
 * service replies with.
 *
 * Client. A worker publishes a tools_request on the tools stream, naming
 * its own reply stream `{tools reply stream prefix}:{worker_id}` and a
 * fresh request_id, and one reader per client reads that reply stream
 * with plain XREAD BLOCK (no group) on a connection of its own, handing
 * each reply to the call with the same request_id (SG-TOOLS-003):
 *
 *     sg_tools_client_opts o;
 *     sg_tools_client_opts_init(&o);
 *     o.worker_id = "worker-1a2b3c4d";
 *     sg_tools_client *tc;
 *     sg_tools_client_new(conn, &o, &tc);
 *
 *     sg_tools_call_opts co;
 *     sg_tools_call_opts_init(&co);
 *     co.tool_name = "web_search"; co.tool_args = args_map;
 *     sg_tools_call(tc, &co, on_result, ctx, &err);
 *
 * Where the reader starts. A reply can come back before a fresh XREAD
 * with `$` reaches Redis (the request goes out on another connection), and
 * `$` would then skip it. So the reader first asks for the reply stream's
 * last entry ID (XREVRANGE ... COUNT 1; 0-0 when the stream is empty) and
 * sends no request before it has that cursor: calls made earlier wait,
 * unpublished, and are sent as soon as it is known. From then on the
 * cursor is the ID of the last entry read, carried across reconnects, so a
 * reply that arrives while the reader is between two reads, or while the
 * connection is down, is still read.
 *
 * Server. The tools service reads the tools stream through the tools group
 * with the consumer engine (sg/consumer.h), runs the tool, and replies with
 * sg_tools_reply_send(), which publishes the reply on the request's reply
 * stream with MAXLEN ~ 1000 and calls back once Redis has taken it. The
 * service ends the job in that callback: sg_job_finish(job, SG_JOB_OK)
 * when the status is 0, which acknowledges, else SG_JOB_FAILED(...),
 * which leaves the entry to be delivered again. So every acknowledged
 * request has its reply published before its acknowledgement
 * (SG-TOOLS-002); a reply published twice after a redelivery carries the
 * same request_id, and the worker takes the first. A request whose
 * deadline has passed is not run: sg_tools_deadline_passed() tells, and
 * sg_tools_reply_deadline_exceeded() publishes the refusal (SG-TOOLS-004).
 */
#ifndef SG_TOOLS_H
#define SG_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/error.h"
#include "sg/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The cap of a reply stream (SG-TOOLS-005). */
#define SG_TOOLS_REPLY_MAXLEN 1000

/* The error text of a refused late request (SG-TOOLS-004). */
#define SG_TOOLS_DEADLINE_EXCEEDED "deadline exceeded"

/* ---- client -------------------------------------------------------------- */

typedef struct sg_tools_client sg_tools_client;

typedef struct sg_tools_client_opts {
    const char *worker_id;       /* required, non-empty; copied */
    const char *tools_stream;    /* NULL: "sg:stream:tools"; copied */
    const char *reply_prefix;    /* NULL: "sg:tools:reply"; copied */
    long long stream_maxlen;     /* tools stream cap; 0: 100000, >= 1000 */
    int timeout_ms;              /* per call; 0: 30000 */
    int block_ms;                /* XREAD BLOCK; 0: 5000 (SG_BLOCK_MS) */
    int read_count;              /* replies per XREAD; 0: 100 */
    int retry_ms;                /* pause after a failed read; 0: 1000 */
    const sg_log *log;           /* NULL: the connection's */
} sg_tools_client_opts;

/* Every field zero or NULL. */
void sg_tools_client_opts_init(sg_tools_client_opts *opts);

/*
 * Creates a client publishing through conn (which must outlive it) and
 * starts its reader on a connection of its own (like conn). 0 and *out,
 * freed with sg_tools_client_free(), or SG_EINVAL / SG_ENOMEM.
 */
int sg_tools_client_new(sg_conn *conn, const sg_tools_client_opts *opts,
                        sg_tools_client **out);

/*
 * Frees the client: every waiting call gets SG_ECLOSED through its
 * callback before this returns; the reader's connection is closed. Not
 * from inside one of the client's callbacks. NULL is a no-op.
 */
void sg_tools_client_free(sg_tools_client *tc);

/* One call. Strings and maps are read during sg_tools_call() only. */
typedef struct sg_tools_call_opts {
    const char *tool_name;       /* required, non-empty */
    sg_any tool_args;            /* msgpack map; len 0: {} */
    sg_any tool_ctx;             /* msgpack map; len 0: {} */
    const char *trace_id;        /* NULL or "": a fresh one */
    int timeout_ms;              /* 0: the client's */
    bool send_deadline;          /* put now + timeout in deadline_ms */
} sg_tools_call_opts;

/* Every field zero or NULL. */
void sg_tools_call_opts_init(sg_tools_call_opts *opts);

/*
 * The outcome of a call, borrowed for the duration of the callback.
 * status is 0 with reply set (reply->ok says whether the tool succeeded;
 * its result, error and media point into the reply entry), SG_ETIMEOUT
 * (no reply within the timeout), SG_EREDIS (the XADD was refused),
 * SG_ECLOSED (the connection dropped before the request was taken, or the
 * client was freed). request_id is the call's.
 */
typedef struct sg_tools_result {
    int status;
    const sg_tools_reply *reply;
    const char *request_id;
    const sg_error *err;
} sg_tools_result;

typedef void sg_tools_fn(const sg_tools_result *res, void *ud);

/*
 * Starts a call: a tools_request with a fresh request_id (a UUID), the
 * client's reply stream and, with send_deadline, deadline_ms = the wall
 * clock + timeout. 0: fn will be called exactly once, from the loop.
 * Otherwise fn is never called: SG_EINVALID (err names the field),
 * SG_EINVAL, SG_ENOMEM, SG_ECLOSED or SG_EIO.
 */
int sg_tools_call(sg_tools_client *tc, const sg_tools_call_opts *opts,
                  sg_tools_fn *fn, void *ud, sg_error *err);

/* Calls started and not yet finished. */
size_t sg_tools_pending(const sg_tools_client *tc);

/* Replies read that matched no waiting call, and were discarded. */
uint64_t sg_tools_discarded(const sg_tools_client *tc);

/* Nonzero once the reader knows where to start (see the top). */
int sg_tools_client_ready(const sg_tools_client *tc);

/* The reply stream's name. Valid while tc lives. */
const char *sg_tools_reply_stream(const sg_tools_client *tc);

/* ---- server -------------------------------------------------------------- */

typedef void sg_tools_sent_fn(int status, void *ud);

/*
 * Publishes reply on req->reply_stream (XADD MAXLEN ~ 1000, SG-TOOLS-005),
 * with trace_id (NULL or "": none) in the entry's framing. reply's
 * request_id is set from req; the rest is the caller's. fn gets 0 once
 * Redis has added the entry, else SG_EREDIS, SG_ECLOSED or SG_ETIMEOUT;
 * acknowledge the request only on 0 (SG-TOOLS-002).
 *
 * 0: fn will be called once. SG_EINVALID (the reply is invalid; err names
 * the field), SG_EINVAL, SG_ENOMEM or SG_ECLOSED: it will not.
 */
int sg_tools_reply_send(sg_conn *conn, const sg_tools_request *req,
                        const sg_tools_reply *reply, const char *trace_id,
                        sg_tools_sent_fn *fn, void *ud, sg_error *err);

/*
 * 1 when req carries a deadline (deadline_ms != 0) at or before now_ms
 * (Unix milliseconds; 0: the wall clock now), else 0.
 */
int sg_tools_deadline_passed(const sg_tools_request *req, int64_t now_ms);

/*
 * Publishes the refusal of a late request: ok false, error "deadline
 * exceeded" (SG-TOOLS-004). As sg_tools_reply_send().
 */
int sg_tools_reply_deadline_exceeded(sg_conn *conn,
                                     const sg_tools_request *req,
                                     const char *trace_id,
                                     sg_tools_sent_fn *fn, void *ud,
                                     sg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SG_TOOLS_H */
