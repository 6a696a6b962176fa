/* One envelope as one stream entry (xadd.h). */
#include "xadd.h"

#include "clock.h"
#include "error_internal.h"
#include "sg/random.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>

long long sg__stream_maxlen(long long configured)
{
    if (configured <= 0)
        return SG__STREAM_MAXLEN_DEFAULT;
    return configured < SG__STREAM_MAXLEN_MIN ? SG__STREAM_MAXLEN_MIN
                                              : configured;
}

int sg__trace_id_new(char *out)
{
    return sg_random_hex(out, 16);
}

int sg__trace_id_check(const char *trace_id, sg_error *err)
{
    size_t n = strlen(trace_id);

    if (n > SG__TRACE_ID_MAX)
        return sg__error_set(err, SG_EINVALID, SG_REASON_STRING_TOO_LONG,
                             "trace_id", "%zu bytes exceed %d", n,
                             SG__TRACE_ID_MAX);
    if (!sg__utf8_valid((const uint8_t *)trace_id, n))
        return sg__error_set(err, SG_EINVALID, SG_REASON_INVALID_UTF8,
                             "trace_id", "not valid UTF-8");
    return 0;
}

int sg__xadd_data(sg_conn *conn, const char *stream, long long maxlen,
                  const void *data, size_t len, const char *trace_id,
                  sg_reply_fn *fn, void *ud)
{
    const char *argv[12];
    size_t lens[12];
    char cap[24], ts[32];
    int64_t now = sg__wall_ms();
    int rc, i;

    rc = snprintf(cap, sizeof cap, "%lld", sg__stream_maxlen(maxlen));
    if (rc < 0 || (size_t)rc >= sizeof cap)
        return SG_EINVAL;
    rc = snprintf(ts, sizeof ts, "%lld.%03d", (long long)(now / 1000),
                  (int)(now % 1000));
    if (rc < 0 || (size_t)rc >= sizeof ts)
        return SG_EINVAL;
    argv[0] = "XADD";
    argv[1] = stream;
    argv[2] = "MAXLEN";
    argv[3] = "~";
    argv[4] = cap;
    argv[5] = "*";
    argv[6] = "data";
    argv[7] = data;
    argv[8] = "ts";
    argv[9] = ts;
    argv[10] = "trace_id";
    argv[11] = trace_id;
    for (i = 0; i < 12; i++)
        lens[i] = i == 7 ? len : strlen(argv[i]);
    return sg_conn_command(conn, fn, ud, 12, argv, lens);
}

int sg__xadd_envelope(sg_conn *conn, const char *stream, long long maxlen,
                      const sg_envelope *env, const char *trace_id,
                      sg_reply_fn *fn, void *ud, sg_error *err)
{
    sg_buf data;
    int rc;

    sg_buf_init(&data, sg_conn_mem(conn));
    rc = sg_envelope_encode(env, &data, err);
    if (rc != 0) {
        sg_buf_destroy(&data);
        return rc;
    }
    rc = sg__xadd_data(conn, stream, maxlen, data.data, data.len, trace_id,
                       fn, ud);
    sg_buf_destroy(&data);
    if (rc != 0)
        sg__error_set(err, rc, SG_REASON_NONE, NULL, "XADD to %s: %s",
                      stream, sg_strerror(rc));
    return rc;
}
