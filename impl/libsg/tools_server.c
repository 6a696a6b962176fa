/*
 * The tools service's side of the tools stream (sg/tools.h): publishing a
 * reply on the caller's reply stream, and refusing late requests.
 */
#include "sg/tools.h"

#include "clock.h"
#include "error_internal.h"
#include "xadd.h"

#include <string.h>

typedef struct sent_ctx {
    sg_tools_sent_fn *fn;
    void *ud;
    const sg_mem *mem;
} sent_ctx;

static void on_sent(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sent_ctx *s = ud;

    (void)conn;
    (void)reply;
    if (s->fn != NULL)
        s->fn(status, s->ud);
    s->mem->free(s, s->mem->ud);
}

int sg_tools_reply_send(sg_conn *conn, const sg_tools_request *req,
                        const sg_tools_reply *reply, const char *trace_id,
                        sg_tools_sent_fn *fn, void *ud, sg_error *err)
{
    const sg_mem *mem;
    sg_envelope env;
    sent_ctx *s;
    char *stream;
    int rc;

    if (err != NULL)
        sg_error_clear(err);
    if (conn == NULL || req == NULL || reply == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "no connection, request or reply");
    if (req->reply_stream.len == 0 || req->request_id.len == 0)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "the request has no reply stream or id");
    if (memchr(req->reply_stream.ptr, '\0', req->reply_stream.len) != NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "NUL byte in the reply stream's name");
    if (trace_id == NULL)
        trace_id = "";
    rc = sg__trace_id_check(trace_id, err);
    if (rc != 0)
        return rc;
    mem = sg_conn_mem(conn);
    s = mem->malloc(sizeof *s, mem->ud);
    stream = mem->malloc(req->reply_stream.len + 1, mem->ud);
    if (s == NULL || stream == NULL) {
        mem->free(s, mem->ud);
        mem->free(stream, mem->ud);
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    }
    memcpy(stream, req->reply_stream.ptr, req->reply_stream.len);
    stream[req->reply_stream.len] = '\0';
    s->fn = fn;
    s->ud = ud;
    s->mem = mem;
    sg_envelope_init(&env, SG_KIND_TOOLS_REPLY);
    env.u.trep = *reply;
    env.u.trep.request_id = req->request_id;
    rc = sg__xadd_envelope(conn, stream, SG_TOOLS_REPLY_MAXLEN, &env,
                           trace_id, on_sent, s, err);
    mem->free(stream, mem->ud);
    if (rc != 0)
        mem->free(s, mem->ud);
    return rc;
}

int sg_tools_deadline_passed(const sg_tools_request *req, int64_t now_ms)
{
    if (req->deadline_ms == 0)
        return 0;
    if (now_ms == 0)
        now_ms = sg__wall_ms();
    return req->deadline_ms <= now_ms;
}

int sg_tools_reply_deadline_exceeded(sg_conn *conn,
                                     const sg_tools_request *req,
                                     const char *trace_id,
                                     sg_tools_sent_fn *fn, void *ud,
                                     sg_error *err)
{
    sg_envelope env;

    sg_envelope_init(&env, SG_KIND_TOOLS_REPLY);
    env.u.trep.ok = false;
    env.u.trep.error = SG_STR(SG_TOOLS_DEADLINE_EXCEEDED);
    return sg_tools_reply_send(conn, req, &env.u.trep, trace_id, fn, ud,
                               err);
}
