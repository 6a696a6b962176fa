/* The outbound consumer (sg/outbound.h): the engine with outbound ops. */
#include "sg/outbound.h"

#include <stdio.h>
#include <string.h>

#define ID_MAX 4096             /* max_string_bytes: channel ids, keys */

struct sg_outbound_consumer {
    sg_consumer *engine;
    const sg_mem *mem;
    const sg_log *log;
    sg_topology topo;
    sg_decode_opts decode;
    sg_platform_adapter adapter;
    void *adapter_ud;
    sg_rpc_serve_fn *rpc;
    void *rpc_ud;
    char platform[SG_NAME_MAX + 1];
    char stream[2 * SG_NAME_MAX + 2];
    char group[2 * SG_NAME_MAX + 2];
    char lock_base[2 * SG_NAME_MAX + 2];  /* {lock prefix}:{platform} */
    /* Scratch for plan(): the engine copies what plan gives it. */
    char lock[2 * SG_NAME_MAX + 2 + ID_MAX + 1];
    char claim[SG_NAME_MAX + 1 + ID_MAX + 1];
};

static int out_decode(void *ud, sg_job *job, void **payload, sg_error *err)
{
    sg_outbound_consumer *oc = ud;
    sg_entry entry = sg_job_entry(job);
    sg_envelope *env = NULL;
    int rc = sg_envelope_decode(SG_KIND_OUTBOUND, &entry, &oc->decode, &env,
                                err);

    *payload = env;
    return rc;
}

static void out_free_payload(void *ud, void *payload)
{
    (void)ud;
    sg_envelope_free(payload);
}

static void out_plan(void *ud, sg_job *job, sg_job_plan *plan)
{
    sg_outbound_consumer *oc = ud;
    const sg_envelope *env = sg_job_payload(job);
    const sg_outbound *m = &env->u.out;
    int n;

    /* SG-OUT-003, SG-RPC-003: RPCs never wait behind a channel's sends;
       SG-OUT-005: presence has no channel. */
    if (m->type == SG_OUT_RPC_REQUEST || m->type == SG_OUT_PRESENCE)
        return;
    n = sg_name_join(oc->lock, sizeof oc->lock, oc->lock_base,
                     m->channel_id.ptr, m->channel_id.len);
    if (n < 0)
        return;  /* cannot happen: ids are bounded by the codec */
    plan->lock_key = oc->lock;
    plan->lock_key_len = (size_t)n;
    if (m->has_message_key && m->message_key.len > 0) {
        n = sg_name_join(oc->claim, sizeof oc->claim,
                         oc->topo.outbound_claim_prefix, m->message_key.ptr,
                         m->message_key.len);
        if (n < 0)
            return;
        plan->message_key = m->message_key.ptr;
        plan->message_key_len = m->message_key.len;
        plan->claim_key = oc->claim;
        plan->claim_key_len = (size_t)n;
    }
}

/* Appends s[0..len) to out as a JSON string body. Returns bytes written. */
static size_t json_escape(char *out, size_t cap, const char *s, size_t len)
{
    size_t used = 0, i;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char tmp[8];
        size_t n;

        if (ch == '"' || ch == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)ch;
            n = 2;
        } else if (ch < 0x20) {
            int w = snprintf(tmp, sizeof tmp, "\\u%04x", ch);

            n = w > 0 ? (size_t)w : 0;
        } else {
            tmp[0] = (char)ch;
            n = 1;
        }
        if (used + n >= cap)
            break;
        memcpy(out + used, tmp, n);
        used += n;
    }
    return used;
}

/* SG-RPC-004: the answer when no RPC server is configured. */
static void rpc_unknown(sg_outbound_consumer *oc, sg_job *job,
                        const sg_outbound *req)
{
    static const char head[] = "{\"error\":\"Unknown RPC method: ";
    /* Every byte of a method (an id, at most ID_MAX) may need 6. */
    char json[sizeof head + 6 * ID_MAX + 4];
    size_t used = sizeof head - 1, mlen = req->rpc_method.len;

    if (mlen > ID_MAX)
        mlen = ID_MAX;
    memcpy(json, head, used);
    used += json_escape(json + used, sizeof json - used - 3,
                        req->rpc_method.ptr, mlen);
    memcpy(json + used, "\"}", 2);
    used += 2;
    sg_logf(oc->log, SG_LOG_WARN, "outbound %s: no RPC server; answering "
            "entry %s (%.*s) with an unknown-method error", oc->platform,
            sg_job_id(job), (int)mlen, req->rpc_method.ptr);
    sg_outbound_rpc_reply(job, json, used);
}

/* SG-OUT-007: a capability the adapter lacks makes the entry succeed. */
static void lacks(sg_outbound_consumer *oc, sg_job *job, const char *what)
{
    sg_logf(oc->log, SG_LOG_INFO, "outbound %s: the adapter cannot %s; "
            "entry %s succeeds without it", oc->platform, what,
            sg_job_id(job));
    sg_job_finish(job, SG_JOB_OK);
}

static void out_handle(void *ud, sg_job *job)
{
    sg_outbound_consumer *oc = ud;
    const sg_envelope *env = sg_job_payload(job);
    const sg_outbound *m = &env->u.out;
    const sg_platform_adapter *a = &oc->adapter;
    sg_adapter_fn *fn = NULL;
    const char *what = "";

    switch (m->type) {
    case SG_OUT_RPC_REQUEST:
        if (oc->rpc != NULL)
            oc->rpc(oc->rpc_ud, job, m);
        else
            rpc_unknown(oc, job, m);
        return;
    case SG_OUT_MESSAGE:
        fn = a->send;
        what = "send messages";
        break;
    case SG_OUT_FILE:
        fn = a->send_file;
        what = "send files";
        break;
    case SG_OUT_BUTTONS:
        fn = a->send_buttons;
        what = "send buttons";
        break;
    case SG_OUT_TYPING:
    case SG_OUT_START_TYPING:
        fn = a->start_typing;
        what = "start typing";
        break;
    case SG_OUT_STOP_TYPING:
        fn = a->stop_typing;
        what = "stop typing";
        break;
    case SG_OUT_REACTION:
        fn = a->add_reaction;
        what = "add reactions";
        break;
    case SG_OUT_PRESENCE:
        fn = a->set_presence;
        what = "set presence";
        break;
    }
    if (fn == NULL) {
        lacks(oc, job, what);
        return;
    }
    fn(oc->adapter_ud, job, m);
}

int sg_outbound_rpc_reply(sg_job *job, const char *json, size_t len)
{
    const sg_envelope *env;

    if (job == NULL || sg_job_consumer(job) == NULL)
        return sg_job_finish(job, SG_JOB_OK);
    env = sg_job_payload(job);
    if (env == NULL || env->kind != SG_KIND_OUTBOUND ||
        env->u.out.type != SG_OUT_RPC_REQUEST)
        return SG_EINVAL;
    return sg_job_finish_reply(job, env->u.out.reply_key.ptr,
                               env->u.out.reply_key.len, json, len);
}

void sg_outbound_consumer_opts_init(sg_outbound_consumer_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    sg_knobs_init(&opts->knobs);
}

int sg_outbound_consumer_new(const sg_outbound_consumer_opts *o,
                             sg_outbound_consumer **out)
{
    const sg_mem *mem;
    sg_consumer_opts co;
    sg_outbound_consumer *oc;
    size_t plen;
    int rc;

    *out = NULL;
    if (o->conn == NULL || o->topo == NULL || o->consumer == NULL ||
        o->platform == NULL || o->platform[0] == '\0')
        return SG_EINVAL;
    /* Lock and claim names are built in buffers sized for ID_MAX. */
    if (o->decode != NULL && o->decode->limits.max_string_bytes > ID_MAX)
        return SG_EINVAL;
    plen = strlen(o->platform);
    if (plen > SG_NAME_MAX)
        return SG_EINVAL;
    mem = o->mem != NULL ? o->mem : sg_conn_mem(o->conn);
    oc = mem->malloc(sizeof *oc, mem->ud);
    if (oc == NULL)
        return SG_ENOMEM;
    memset(oc, 0, sizeof *oc);
    oc->mem = mem;
    oc->log = o->log != NULL ? o->log : sg_conn_log(o->conn);
    oc->topo = *o->topo;
    if (o->decode != NULL)
        oc->decode = *o->decode;
    else
        sg_decode_opts_init(&oc->decode);
    oc->decode.mem = mem;
    if (o->adapter != NULL)
        oc->adapter = *o->adapter;
    oc->adapter_ud = o->adapter_ud;
    oc->rpc = o->rpc;
    oc->rpc_ud = o->rpc_ud;
    memcpy(oc->platform, o->platform, plen + 1);
    /* SG-TOPO-002: the platform's stream and group; SG-LOCK-006. */
    if (sg_name_join(oc->stream, sizeof oc->stream,
                     oc->topo.outbound_stream_prefix, o->platform, plen) < 0 ||
        sg_name_join(oc->group, sizeof oc->group,
                     oc->topo.gateway_group_prefix, o->platform, plen) < 0 ||
        sg_name_join(oc->lock_base, sizeof oc->lock_base,
                     oc->topo.outbound_lock_prefix, o->platform, plen) < 0) {
        mem->free(oc, mem->ud);
        return SG_EINVAL;
    }
    sg_consumer_opts_init(&co);
    co.conn = o->conn;
    co.stream = oc->stream;
    co.group = oc->group;
    co.consumer = o->consumer;
    co.dlq_stream = oc->topo.dlq_stream;
    co.claim_attempts_key = oc->topo.outbound_claim_attempts_key;
    co.lock_ttl_ms = o->knobs.outbound_lock_ttl_ms;
    co.fail_reason = "dispatch_failed";
    co.wake_prefix = oc->topo.wake_prefix;
    co.knobs = o->knobs;
    co.ops.decode = out_decode;
    co.ops.free_payload = out_free_payload;
    co.ops.plan = out_plan;
    co.ops.handle = out_handle;
    co.ud = oc;
    co.log = o->log;
    co.mem = mem;
    rc = sg_consumer_new(&co, &oc->engine);
    if (rc != 0) {
        mem->free(oc, mem->ud);
        return rc;
    }
    *out = oc;
    return 0;
}

sg_consumer *sg_outbound_consumer_engine(sg_outbound_consumer *oc)
{
    return oc->engine;
}

void sg_outbound_consumer_free(sg_outbound_consumer *oc)
{
    if (oc == NULL)
        return;
    sg_consumer_free(oc->engine);
    oc->mem->free(oc, oc->mem->ud);
}
