/*
 * xadd.h: publishing one envelope as a stream entry (SPEC section 3), for
 * the RPC and tools clients and the tools reply helper.
 *
 * This is the small subset of publishing these modules need: validate and
 * encode the envelope, add the framing fields, XADD with an approximate
 * cap. The bus publisher (backlog warnings, SG-FRAME-010) is a separate
 * piece; nothing here warns about backlogs.
 */
#ifndef SG_XADD_H
#define SG_XADD_H

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/error.h"

/* The stream length cap: default and floor (SG-FRAME-008, SG-FRAME-009). */
#define SG__STREAM_MAXLEN_DEFAULT 100000LL
#define SG__STREAM_MAXLEN_MIN 1000LL

/* Longest `trace_id` framing field (SG-FRAME-007). */
#define SG__TRACE_ID_MAX 128

/* A configured cap made usable: 0 gives the default, below 1000 is 1000. */
long long sg__stream_maxlen(long long configured);

/*
 * Writes a fresh trace id, 32 lowercase hex digits and a NUL, to out (33
 * bytes) (SG-TRACE-001). 0 or SG_EIO.
 */
int sg__trace_id_new(char *out);

/*
 * Checks a caller's trace id for the `trace_id` framing field: at most 128
 * bytes of valid UTF-8 (SG-FRAME-007). 0, or SG_EINVALID with path
 * `trace_id` in err.
 */
int sg__trace_id_check(const char *trace_id, sg_error *err);

/*
 * Sends
 *     XADD <stream> MAXLEN ~ <maxlen> * data <data> ts <now> trace_id <t>
 * on conn (SG-FRAME-001, -002, -008), with data[0..len) already encoded
 * and checked. trace_id is written as given ("" is allowed). fn gets the
 * XADD's reply as from sg_conn_command(). Returns as sg_conn_command().
 */
int sg__xadd_data(sg_conn *conn, const char *stream, long long maxlen,
                  const void *data, size_t len, const char *trace_id,
                  sg_reply_fn *fn, void *ud);

/*
 * Validates and encodes env (SG-FRAME-012) and sends
 *     XADD <stream> MAXLEN ~ <maxlen> * data <msgpack> ts <now> trace_id <t>
 * on conn (SG-FRAME-001, -002, -008). trace_id is written as given (the
 * caller checked it; "" is allowed). fn gets the XADD's reply as from
 * sg_conn_command().
 *
 * 0: fn will be called once. SG_EINVALID (err names the field),
 * SG_ENOMEM, SG_EINVAL or SG_ECLOSED: fn is never called.
 */
int sg__xadd_envelope(sg_conn *conn, const char *stream, long long maxlen,
                      const sg_envelope *env, const char *trace_id,
                      sg_reply_fn *fn, void *ud, sg_error *err);

#endif /* SG_XADD_H */
