/*
 * sg/inbound.h: the inbound consumer of a worker (SPEC section 14): the
 * consumer engine (sg/consumer.h) reading the inbound stream through the
 * worker group, decoding inbound envelopes, and locking addressed entries
 * by channel.
 *
 *     sg_inbound_consumer_opts o;
 *     sg_inbound_consumer_opts_init(&o);
 *     o.conn = conn; o.topo = &topo; o.knobs = knobs;
 *     o.consumer = name;            // sg_consumer_name_make(.., "worker")
 *     o.handle = on_message; o.ud = me;
 *     sg_inbound_consumer *in;
 *     sg_inbound_consumer_new(&o, &in);
 *     sg_consumer_start(sg_inbound_consumer_engine(in));
 *     ...
 *     static void on_message(void *ud, sg_job *job, const sg_envelope *env)
 *     {
 *         ... env->u.in.content ...
 *         sg_job_finish(job, SG_JOB_OK);      // now or later
 *     }
 *
 * Addressed entries (is_addressed true, the default) hold the lock
 * `{SG_LOCK_PREFIX}:{channel_id}` for their whole handling, so handlings of
 * one channel never overlap across workers (SG-IN-004); passive entries run
 * without it (SG-IN-007). Rejected entries are dead-lettered with the
 * codec's reason and path (SG-IN-003).
 *
 * With knobs.order_queues (SG_ORDER_QUEUES, on by default), addressed
 * entries also go through their channel's order queue
 * `{SG_ORDER_PREFIX}:{channel_id}`, so that an entry does not begin while
 * an older entry of its channel is pending at another worker that keeps
 * queues too (SG-IN-006, SG-IN-023..025; see sg/consumer.h).
 */
#ifndef SG_INBOUND_H
#define SG_INBOUND_H

#include "sg/codec.h"
#include "sg/config.h"
#include "sg/consumer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sg_inbound_consumer sg_inbound_consumer;

/*
 * Handles one inbound envelope. env is the job's payload and lives as long
 * as the job. End the job with sg_job_finish().
 */
typedef void sg_inbound_handle_fn(void *ud, sg_job *job,
                                  const sg_envelope *env);

typedef struct sg_inbound_consumer_opts {
    sg_conn *conn;               /* commands; see sg_consumer_opts */
    const sg_topology *topo;     /* copied */
    sg_knobs knobs;              /* opts_init: the defaults */
    const char *consumer;        /* unique consumer name (SG-TOPO-007) */
    sg_inbound_handle_fn *handle;
    void *ud;
    /* NULL: default limits; copied; max_string_bytes at most 4096 */
    const sg_decode_opts *decode;
    const sg_log *log;           /* NULL: the connection's */
    const sg_mem *mem;           /* NULL: the connection's */
} sg_inbound_consumer_opts;

void sg_inbound_consumer_opts_init(sg_inbound_consumer_opts *opts);

/*
 * Creates the inbound consumer. *out owns it; the engine inside is
 * started, stopped and inspected with the sg_consumer_ functions through
 * sg_inbound_consumer_engine(). SG_EINVAL or SG_ENOMEM.
 */
int sg_inbound_consumer_new(const sg_inbound_consumer_opts *opts,
                            sg_inbound_consumer **out);

/* The engine, owned by the inbound consumer. */
sg_consumer *sg_inbound_consumer_engine(sg_inbound_consumer *in);

/* Frees the consumer and its engine (see sg_consumer_free()). */
void sg_inbound_consumer_free(sg_inbound_consumer *in);

#ifdef __cplusplus
}
#endif

#endif /* SG_INBOUND_H */
