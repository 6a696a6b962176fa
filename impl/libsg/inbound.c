/* The inbound consumer (sg/inbound.h): the engine with inbound ops. */
#include "sg/inbound.h"

#include <string.h>

struct sg_inbound_consumer {
    sg_consumer *engine;
    const sg_mem *mem;
    sg_topology topo;
    sg_decode_opts decode;
    sg_inbound_handle_fn *handle;
    void *ud;
    int ordered;                            /* order queues (SG-IN-023) */
    char lock[SG_NAME_MAX + 1 + 4096 + 1];  /* scratch for plan() */
    char order[SG_NAME_MAX + 1 + 4096 + 1];
};

static int in_decode(void *ud, sg_job *job, void **payload, sg_error *err)
{
    sg_inbound_consumer *in = ud;
    sg_entry entry = sg_job_entry(job);
    sg_envelope *env = NULL;
    int rc = sg_envelope_decode(SG_KIND_INBOUND, &entry, &in->decode, &env,
                                err);

    *payload = env;
    return rc;
}

static void in_free_payload(void *ud, void *payload)
{
    (void)ud;
    sg_envelope_free(payload);
}

static void in_plan(void *ud, sg_job *job, sg_job_plan *plan)
{
    sg_inbound_consumer *in = ud;
    const sg_envelope *env = sg_job_payload(job);
    int n;

    /* SG-IN-007: a passive message takes no lock. */
    if (!env->u.in.is_addressed)
        return;
    n = sg_name_join(in->lock, sizeof in->lock, in->topo.lock_prefix,
                     env->u.in.channel_id.ptr, env->u.in.channel_id.len);
    if (n < 0)
        return;  /* cannot happen: channel ids are bounded by the codec */
    plan->lock_key = in->lock;
    plan->lock_key_len = (size_t)n;
    if (!in->ordered)
        return;
    n = sg_name_join(in->order, sizeof in->order, in->topo.order_prefix,
                     env->u.in.channel_id.ptr, env->u.in.channel_id.len);
    if (n < 0)
        return;
    plan->order_key = in->order;
    plan->order_key_len = (size_t)n;
}

static void in_handle(void *ud, sg_job *job)
{
    sg_inbound_consumer *in = ud;

    in->handle(in->ud, job, sg_job_payload(job));
}

void sg_inbound_consumer_opts_init(sg_inbound_consumer_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    sg_knobs_init(&opts->knobs);
}

int sg_inbound_consumer_new(const sg_inbound_consumer_opts *o,
                            sg_inbound_consumer **out)
{
    const sg_mem *mem;
    sg_consumer_opts co;
    sg_inbound_consumer *in;
    int rc;

    *out = NULL;
    if (o->conn == NULL || o->topo == NULL || o->consumer == NULL ||
        o->handle == NULL)
        return SG_EINVAL;
    /* Lock names are built in a buffer sized for the default id bound. */
    if (o->decode != NULL && o->decode->limits.max_string_bytes > 4096)
        return SG_EINVAL;
    mem = o->mem != NULL ? o->mem : sg_conn_mem(o->conn);
    in = mem->malloc(sizeof *in, mem->ud);
    if (in == NULL)
        return SG_ENOMEM;
    memset(in, 0, sizeof *in);
    in->mem = mem;
    in->topo = *o->topo;
    if (o->decode != NULL)
        in->decode = *o->decode;
    else
        sg_decode_opts_init(&in->decode);
    in->decode.mem = mem;
    in->handle = o->handle;
    in->ud = o->ud;
    in->ordered = o->knobs.order_queues != 0;
    sg_consumer_opts_init(&co);
    co.conn = o->conn;
    co.stream = in->topo.inbound_stream;
    co.group = in->topo.worker_group;
    co.consumer = o->consumer;
    co.dlq_stream = in->topo.dlq_stream;
    co.claim_attempts_key = in->topo.claim_attempts_key;
    /* SG-IN-006, SG-IN-023..025, unless SG_ORDER_QUEUES=0. */
    co.order_prefix = in->ordered ? in->topo.order_prefix : NULL;
    co.wake_prefix = in->topo.wake_prefix;
    co.lock_ttl_ms = o->knobs.lock_ttl_ms;
    co.knobs = o->knobs;
    co.ops.decode = in_decode;
    co.ops.free_payload = in_free_payload;
    co.ops.plan = in_plan;
    co.ops.handle = in_handle;
    co.ud = in;
    co.log = o->log;
    co.mem = mem;
    rc = sg_consumer_new(&co, &in->engine);
    if (rc != 0) {
        mem->free(in, mem->ud);
        return rc;
    }
    *out = in;
    return 0;
}

sg_consumer *sg_inbound_consumer_engine(sg_inbound_consumer *in)
{
    return in->engine;
}

void sg_inbound_consumer_free(sg_inbound_consumer *in)
{
    if (in == NULL)
        return;
    sg_consumer_free(in->engine);
    in->mem->free(in, in->mem->ud);
}
