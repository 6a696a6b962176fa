/*
 * sg/outbound.h: the outbound consumer of a gateway (SPEC section 17): the
 * consumer engine (sg/consumer.h) reading one platform's outbound stream
 * through the platform's gateway group, answering RPCs and dispatching
 * every other envelope to a platform adapter.
 *
 *     sg_outbound_consumer_opts o;
 *     sg_outbound_consumer_opts_init(&o);
 *     o.conn = conn; o.topo = &topo; o.knobs = knobs;
 *     o.platform = "discord"; o.consumer = name;
 *     o.adapter = &discord_adapter; o.adapter_ud = client;
 *     o.rpc = serve_rpc; o.rpc_ud = client;
 *     sg_outbound_consumer *out;
 *     sg_outbound_consumer_new(&o, &out);
 *     sg_consumer_start(sg_outbound_consumer_engine(out));
 *
 * What happens to an entry:
 *   - rpc_request: answered without any lock (SG-RPC-003, SG-OUT-003): the
 *     RPC server callback gets it and answers with sg_outbound_rpc_reply(),
 *     which pushes the JSON reply (RPUSH + EXPIRE 60) and acknowledges in
 *     one script (SG-RPC-002);
 *   - presence: dispatched without a channel lock (SG-OUT-005);
 *   - every other type: under the lock
 *     `{SG_OUTBOUND_LOCK_PREFIX}:{platform}:{channel_id}` (SG-OUT-004), the
 *     begin step checks ownership, the completion marker and takes the
 *     claim key when the envelope has a message_key (SG-OUT-006..011);
 *     only an entry cleared to send reaches the adapter;
 *   - the adapter ends the job: sg_job_set_message_id() with the platform's
 *     message ID, then sg_job_finish(job, SG_JOB_OK), which writes the
 *     completion marker and acknowledges in one script (SG-OUT-013/014);
 *     or sg_job_finish(job, SG_JOB_FAILED(why)), which deletes the claim
 *     key if it still holds the entry ID and leaves the entry pending, to
 *     be dead-lettered as dispatch_failed at the last delivery
 *     (SG-OUT-012).
 * Undecodable entries, unknown types and channel-bound envelopes without a
 * channel are dead-lettered by the codec's verdict (SG-OUT-002, SG-OUT-016).
 */
#ifndef SG_OUTBOUND_H
#define SG_OUTBOUND_H

#include "sg/codec.h"
#include "sg/config.h"
#include "sg/consumer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sg_outbound_consumer sg_outbound_consumer;

/*
 * One adapter operation: start it for `msg` (the job's decoded envelope,
 * valid as long as the job) and end the job later with sg_job_finish().
 * Check sg_job_fenced() before a platform call that starts late: a fenced
 * job must not send (SG-LOCK-004).
 */
typedef void sg_adapter_fn(void *ud, sg_job *job, const sg_outbound *msg);

/*
 * A platform adapter (SG-OUT-007). A NULL operation is a capability the
 * platform lacks: such an entry succeeds, with a log line, and is
 * acknowledged.
 */
typedef struct sg_platform_adapter {
    sg_adapter_fn *send;          /* message: channel_id, text, reply_to */
    sg_adapter_fn *send_file;     /* file: file_data, filename, mimetype,
                                     text (caption) */
    sg_adapter_fn *send_buttons;  /* buttons: text, buttons */
    sg_adapter_fn *start_typing;  /* typing, start_typing */
    sg_adapter_fn *stop_typing;   /* stop_typing */
    sg_adapter_fn *add_reaction;  /* reaction: message_id, emoji */
    sg_adapter_fn *set_presence;  /* presence: text, emoji; no channel */
} sg_platform_adapter;

/*
 * Serves one rpc_request (rpc_method, rpc_args as msgpack, channel_id).
 * Answer with sg_outbound_rpc_reply(), now or later.
 */
typedef void sg_rpc_serve_fn(void *ud, sg_job *job, const sg_outbound *req);

typedef struct sg_outbound_consumer_opts {
    sg_conn *conn;                /* commands; see sg_consumer_opts */
    const sg_topology *topo;      /* copied */
    sg_knobs knobs;               /* opts_init: the defaults */
    const char *platform;         /* e.g. "discord"; copied */
    const char *consumer;         /* unique consumer name (SG-TOPO-007) */
    const sg_platform_adapter *adapter; /* copied; NULL: no capability */
    void *adapter_ud;
    /*
     * NULL: every RPC is answered {"error": "Unknown RPC method: <m>"}
     * (SG-RPC-004).
     */
    sg_rpc_serve_fn *rpc;
    void *rpc_ud;
    /* NULL: default limits; copied; max_string_bytes at most 4096 */
    const sg_decode_opts *decode;
    const sg_log *log;            /* NULL: the connection's */
    const sg_mem *mem;            /* NULL: the connection's */
} sg_outbound_consumer_opts;

void sg_outbound_consumer_opts_init(sg_outbound_consumer_opts *opts);

/*
 * Creates the outbound consumer of opts->platform. *out owns it; the
 * engine inside is started, stopped and inspected through
 * sg_outbound_consumer_engine(). SG_EINVAL (a missing option, a platform
 * name that makes a name too long) or SG_ENOMEM.
 */
int sg_outbound_consumer_new(const sg_outbound_consumer_opts *opts,
                             sg_outbound_consumer **out);

/* The engine, owned by the outbound consumer. */
sg_consumer *sg_outbound_consumer_engine(sg_outbound_consumer *oc);

/* Frees the consumer and its engine (see sg_consumer_free()). */
void sg_outbound_consumer_free(sg_outbound_consumer *oc);

/*
 * Answers an RPC job with one JSON text json[0..len) (the caller made
 * sure it is JSON), pushed to the request's reply_key with RPUSH + EXPIRE
 * 60 and acknowledged, in one script, only if the entry is still this
 * gateway's (SG-RPC-002). Ends the job as sg_job_finish() does. 0,
 * SG_EINVAL (not a running RPC job) or SG_ENOMEM.
 */
int sg_outbound_rpc_reply(sg_job *job, const char *json, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SG_OUTBOUND_H */
