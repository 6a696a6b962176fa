/*
 * sg/bus.h: the bus as a publisher and an operator see it: consumer groups
 * created per node role (SPEC section 2), envelopes published as stream
 * entries (SPEC section 3), and a stream's length, pending count and lag.
 *
 *     sg_bus_opts o;
 *     sg_bus_opts_init(&o);
 *     o.conn = conn; o.topo = &topo; o.stream_maxlen = knobs.stream_maxlen;
 *     sg_bus *bus;
 *     sg_bus_new(&o, &bus);
 *     sg_bus_provision(bus, SG_ROLE_GATEWAY, platforms, n, on_ready, me);
 *     ...
 *     sg_bus_publish_inbound(bus, &env, NULL, on_published, me, &err);
 *
 * Publishing. An entry is added with XADD MAXLEN ~ <cap> (SG-FRAME-008) and
 * the fields data, ts and trace_id (SG-FRAME-001/002). At most once a
 * second per stream, XLEN and XPENDING are sent right behind the XADD, in
 * the same write, so the backlog check of SG-FRAME-010 costs no round trip
 * and never delays the publish (SG-FRAME-011); a long or lagging stream is
 * logged at warning level at most once per stream per 10 s.
 *
 * Everything runs on the connection's loop; nothing blocks.
 */
#ifndef SG_BUS_H
#define SG_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "sg/codec.h"
#include "sg/config.h"
#include "sg/conn.h"
#include "sg/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The node roles of SPEC section 1. */
typedef enum sg_role {
    SG_ROLE_GATEWAY,
    SG_ROLE_WORKER,
    SG_ROLE_TOOLS,
    SG_ROLE_STANDALONE,   /* gateway and worker in one process */
    SG_ROLE_AGENTS
} sg_role;

/* "gateway", "worker", "tools", "standalone", "agents"; NULL otherwise. */
const char *sg_role_name(sg_role role);

/* 0 and *role set, or SG_EINVAL for a name that is no role. */
int sg_role_from_name(const char *name, sg_role *role);

typedef struct sg_bus sg_bus;

typedef struct sg_bus_opts {
    sg_conn *conn;              /* must outlive the bus */
    const sg_topology *topo;    /* copied */
    long long stream_maxlen;    /* 0: 100000; below 1000: 1000 */
    int backlog_check_ms;       /* 0: 1000; checks per stream at most this
                                   often */
    int backlog_warn_ms;        /* 0: 10000; warnings per stream at most
                                   this often (SG-FRAME-010) */
    const sg_log *log;          /* NULL: the connection's */
    const sg_mem *mem;          /* NULL: the connection's */
} sg_bus_opts;

void sg_bus_opts_init(sg_bus_opts *opts);

/* 0 and *out (free with sg_bus_free()), SG_EINVAL or SG_ENOMEM. */
int sg_bus_new(const sg_bus_opts *opts, sg_bus **out);

/*
 * Frees the bus. Publishes in flight still call their callbacks; backlog
 * checks in flight are dropped. NULL is a no-op.
 */
void sg_bus_free(sg_bus *bus);

/* Commands this bus sent, and entries it published (acknowledged XADDs). */
uint64_t sg_bus_commands_sent(const sg_bus *bus);
uint64_t sg_bus_published(const sg_bus *bus);

/* ---- provisioning ------------------------------------------------------- */

/* status: 0 when every group exists, else the first failure's code. */
typedef void sg_bus_done_fn(int status, void *ud);

/*
 * Creates the groups of `role` with XGROUP CREATE <stream> <group> $
 * MKSTREAM, a BUSYGROUP answer counting as success:
 *   worker, standalone: the worker group on the inbound stream
 *                       (SG-TOPO-003);
 *   gateway, standalone: the gateway group of each of the platforms on its
 *                       outbound stream (SG-TOPO-004);
 *   tools:              the tools group on the tools stream (SG-TOPO-005);
 *   agents:             none.
 * No other group is created (SG-TOPO-006). Each group made is logged.
 * done runs once, from the loop, when every answer is in. 0, or SG_EINVAL
 * (a platform name that makes a name too long), SG_ENOMEM or SG_ECLOSED,
 * and then done is never called.
 */
int sg_bus_provision(sg_bus *bus, sg_role role,
                     const char *const *platforms, size_t nplatforms,
                     sg_bus_done_fn *done, void *ud);

/* ---- publishing --------------------------------------------------------- */

/*
 * A publish's outcome. status 0: entry_id is the new entry's ID (valid
 * during the call). Otherwise SG_EREDIS, SG_ECLOSED or SG_ETIMEOUT as from
 * sg_conn_command(), and entry_id is NULL.
 */
typedef void sg_publish_fn(int status, const char *entry_id, void *ud);

/*
 * Publishes env on `stream`. group names the group whose backlog is
 * checked (NULL: no check). trace_id (NULL: the envelope's own trace_id,
 * or a fresh 32-hex-digit one when it has none) goes in the entry's
 * trace_id field and, for inbound and outbound envelopes, in the
 * envelope's (SG-TRACE-001).
 *
 * 0: fn (may be NULL) runs once. Otherwise fn never runs: SG_EINVALID
 * (the envelope or trace id breaks its table: err has the reason and path,
 * SG-FRAME-012), SG_EINVAL, SG_ENOMEM, SG_ECLOSED or SG_EIO.
 */
int sg_bus_publish(sg_bus *bus, const char *stream, const char *group,
                   const sg_envelope *env, const char *trace_id,
                   sg_publish_fn *fn, void *ud, sg_error *err);

/* sg_bus_publish() on the inbound stream, checking the worker group. */
int sg_bus_publish_inbound(sg_bus *bus, const sg_envelope *env,
                           const char *trace_id, sg_publish_fn *fn,
                           void *ud, sg_error *err);

/*
 * sg_bus_publish() on the outbound stream of `platform`, checking its
 * gateway group (SG-TOPO-002).
 */
int sg_bus_publish_outbound(sg_bus *bus, const char *platform,
                            const sg_envelope *env, const char *trace_id,
                            sg_publish_fn *fn, void *ud, sg_error *err);

/*
 * Publishes data[0..len), an envelope the caller already encoded and
 * validated, with trace_id ("" allowed; NULL: a fresh one). Otherwise as
 * sg_bus_publish().
 */
int sg_bus_publish_raw(sg_bus *bus, const char *stream, const char *group,
                       const void *data, size_t len, const char *trace_id,
                       sg_publish_fn *fn, void *ud);

/* ---- diagnostics -------------------------------------------------------- */

typedef struct sg_stream_stats {
    long long length;           /* XLEN; 0 for a missing stream */
    int group_exists;
    long long consumers;        /* of the group */
    long long pending;          /* read by the group, not acknowledged */
    long long lag;              /* entries the group has not read; -1 when
                                   Redis cannot tell */
    char last_delivered_id[48];
} sg_stream_stats;

/* status 0 and st, or SG_EREDIS / SG_ECLOSED / SG_ETIMEOUT and NULL. */
typedef void sg_stream_stats_fn(int status, const sg_stream_stats *st,
                                void *ud);

/*
 * Reads the length of `stream` and what XINFO GROUPS says of `group`
 * (pending, lag, consumers), in one round trip. 0: fn runs once; else
 * SG_ENOMEM or SG_ECLOSED and fn never runs.
 */
int sg_bus_stream_stats(sg_bus *bus, const char *stream, const char *group,
                        sg_stream_stats_fn *fn, void *ud);

/* ---- the server --------------------------------------------------------- */

typedef struct sg_server_info {
    int version_major;          /* from INFO server; 0 when unknown */
    int version_minor;
    int policy_known;           /* CONFIG GET answered */
    char policy[32];            /* maxmemory-policy */
} sg_server_info;

/* status 0 and info, or SG_EREDIS / SG_ECLOSED / SG_ETIMEOUT and NULL. */
typedef void sg_server_info_fn(int status, const sg_server_info *info,
                               void *ud);

/*
 * Checks what the protocol needs of the server (SPEC section 21), with
 * INFO server and CONFIG GET maxmemory-policy in one round trip: a version
 * below 7.0 is logged as an error (SG-OPS-001), a policy other than
 * noeviction as a warning naming it (SG-OPS-002, SG-OPS-003), and a
 * refused CONFIG GET (a managed Redis) is logged and ignored. fn (may be
 * NULL) gets what was learnt. 0: fn runs once; else SG_ENOMEM or
 * SG_ECLOSED and fn never runs.
 */
int sg_bus_check_server(sg_bus *bus, sg_server_info_fn *fn, void *ud);

#ifdef __cplusplus
}
#endif

#endif /* SG_BUS_H */
