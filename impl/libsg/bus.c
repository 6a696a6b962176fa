/*
 * The bus (sg/bus.h): group provisioning, publishing with the backlog
 * check, stream diagnostics.
 *
 * Every request in flight is listed in the bus, so that freeing the bus
 * can detach them: a detached request still calls its caller back (the
 * caller's state is the caller's business) but no longer touches the bus.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/bus.h"

#include "clock.h"
#include "strmap.h"
#include "xadd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_WARN 1000        /* SG-FRAME-010 */

/* Rate limits of one stream's backlog check. */
typedef struct stream_state {
    char *name;                  /* in this allocation */
    size_t len;
    uint64_t last_check_ms;
    uint64_t last_warn_ms;
    int checked;
    int warned;
} stream_state;

enum req_kind { R_PUBLISH, R_CHECK, R_PROVISION, R_STATS, R_SERVER };

typedef struct bus_req {
    struct bus_req *prev;
    struct bus_req *next;
    sg_bus *bus;                 /* NULL: detached */
    const sg_mem *mem;
    enum req_kind kind;
    int remaining;               /* replies still to come */
    int status;
    union {
        sg_bus_done_fn *done;
        sg_publish_fn *publish;
        sg_stream_stats_fn *stats;
        sg_server_info_fn *server;
    } cb;                        /* NULL: nobody to call back */
    void *ud;
    /* R_CHECK */
    char *stream;                /* copies, in this allocation */
    char *group;
    long long length;
    long long pending;
    /* R_STATS */
    sg_stream_stats st;
    /* R_SERVER */
    sg_server_info info;
    const sg_log *log;
} bus_req;

struct sg_bus {
    sg_conn *conn;
    const sg_log *log;
    const sg_mem *mem;
    sg_topology topo;
    long long maxlen;
    uint64_t check_ms;
    uint64_t warn_ms;
    sg__strmap streams;
    bus_req *reqs;
    uint64_t sent;
    uint64_t published;
};

static const char *const role_names[] = {"gateway", "worker", "tools",
                                         "standalone", "agents"};

const char *sg_role_name(sg_role role)
{
    if ((unsigned)role >= sizeof role_names / sizeof role_names[0])
        return NULL;
    return role_names[role];
}

int sg_role_from_name(const char *name, sg_role *role)
{
    size_t i;

    for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(name, role_names[i]) == 0) {
            *role = (sg_role)i;
            return 0;
        }
    return SG_EINVAL;
}

/* ---- requests ----------------------------------------------------------- */

static bus_req *req_new(sg_bus *bus, enum req_kind kind, size_t extra)
{
    bus_req *r = bus->mem->malloc(sizeof *r + extra, bus->mem->ud);

    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->bus = bus;
    r->mem = bus->mem;
    r->kind = kind;
    return r;
}

static void req_link(sg_bus *bus, bus_req *r)
{
    r->next = bus->reqs;
    if (bus->reqs != NULL)
        bus->reqs->prev = r;
    bus->reqs = r;
}

static void req_done(bus_req *r)
{
    sg_bus *bus = r->bus;

    if (bus != NULL) {
        if (r->prev != NULL)
            r->prev->next = r->next;
        else
            bus->reqs = r->next;
        if (r->next != NULL)
            r->next->prev = r->prev;
    }
    r->mem->free(r, r->mem->ud);
}

/* ---- lifecycle ---------------------------------------------------------- */

void sg_bus_opts_init(sg_bus_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

int sg_bus_new(const sg_bus_opts *o, sg_bus **out)
{
    const sg_mem *mem;
    sg_bus *bus;

    *out = NULL;
    if (o->conn == NULL || o->topo == NULL || o->stream_maxlen < 0 ||
        o->backlog_check_ms < 0 || o->backlog_warn_ms < 0)
        return SG_EINVAL;
    mem = o->mem != NULL ? o->mem : sg_conn_mem(o->conn);
    bus = mem->malloc(sizeof *bus, mem->ud);
    if (bus == NULL)
        return SG_ENOMEM;
    memset(bus, 0, sizeof *bus);
    bus->conn = o->conn;
    bus->log = o->log != NULL ? o->log : sg_conn_log(o->conn);
    bus->mem = mem;
    bus->topo = *o->topo;
    bus->maxlen = sg__stream_maxlen(o->stream_maxlen);
    bus->check_ms = o->backlog_check_ms > 0 ? (uint64_t)o->backlog_check_ms
                                            : 1000;
    bus->warn_ms = o->backlog_warn_ms > 0 ? (uint64_t)o->backlog_warn_ms
                                          : 10000;
    sg__strmap_init(&bus->streams, mem);
    *out = bus;
    return 0;
}

void sg_bus_free(sg_bus *bus)
{
    size_t i;

    if (bus == NULL)
        return;
    while (bus->reqs != NULL) {
        bus_req *r = bus->reqs;

        bus->reqs = r->next;
        r->prev = r->next = NULL;
        r->bus = NULL;
    }
    for (i = 0; i < bus->streams.cap; i++)
        if (bus->streams.slots[i].value != NULL)
            bus->mem->free(bus->streams.slots[i].value, bus->mem->ud);
    sg__strmap_destroy(&bus->streams);
    bus->mem->free(bus, bus->mem->ud);
}

uint64_t sg_bus_commands_sent(const sg_bus *bus)
{
    return bus->sent;
}

uint64_t sg_bus_published(const sg_bus *bus)
{
    return bus->published;
}

/* ---- provisioning ------------------------------------------------------- */

static void on_group(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    bus_req *r = ud;

    (void)conn;
    if (status == SG_EREDIS && sg_reply_is(reply, "BUSYGROUP"))
        status = 0;
    if (status != 0) {
        if (r->bus != NULL)
            sg_logf(r->bus->log, SG_LOG_ERROR, "bus: XGROUP CREATE failed: "
                    "%s", status == SG_EREDIS ? sg_reply_str(reply, NULL)
                                              : sg_strerror(status));
        if (r->status == 0)
            r->status = status;
    }
    if (--r->remaining > 0)
        return;
    if (r->cb.done != NULL)
        r->cb.done(r->status, r->ud);
    req_done(r);
}

/* Sends XGROUP CREATE for one group. 0 or SG_E... */
static int create_group(sg_bus *bus, bus_req *r, const char *stream,
                        const char *group)
{
    const char *av[6] = {"XGROUP", "CREATE", stream, group, "$", "MKSTREAM"};
    int rc = sg_conn_command(bus->conn, on_group, r, 6, av, NULL);

    if (rc == 0) {
        bus->sent++;
        r->remaining++;
        sg_logf(bus->log, SG_LOG_INFO, "bus: ensuring group %s on %s", group,
                stream);
    }
    return rc;
}

int sg_bus_provision(sg_bus *bus, sg_role role,
                     const char *const *platforms, size_t nplatforms,
                     sg_bus_done_fn *done, void *ud)
{
    char stream[2 * SG_NAME_MAX + 2], group[2 * SG_NAME_MAX + 2];
    bus_req *r;
    size_t i;
    int rc = 0;

    if ((unsigned)role > SG_ROLE_AGENTS)
        return SG_EINVAL;
    for (i = 0; i < nplatforms; i++)
        if (strlen(platforms[i]) > SG_NAME_MAX || platforms[i][0] == '\0')
            return SG_EINVAL;
    r = req_new(bus, R_PROVISION, 0);
    if (r == NULL)
        return SG_ENOMEM;
    r->cb.done = done;
    r->ud = ud;
    /* Replies only come from the loop, so counting as we send is safe. */
    if (role == SG_ROLE_WORKER || role == SG_ROLE_STANDALONE)
        rc = create_group(bus, r, bus->topo.inbound_stream,
                          bus->topo.worker_group);
    if (rc == 0 && (role == SG_ROLE_GATEWAY || role == SG_ROLE_STANDALONE))
        for (i = 0; rc == 0 && i < nplatforms; i++) {
            size_t n = strlen(platforms[i]);

            sg_name_join(stream, sizeof stream,
                         bus->topo.outbound_stream_prefix, platforms[i], n);
            sg_name_join(group, sizeof group, bus->topo.gateway_group_prefix,
                         platforms[i], n);
            rc = create_group(bus, r, stream, group);
        }
    if (rc == 0 && role == SG_ROLE_TOOLS)
        rc = create_group(bus, r, bus->topo.tools_stream,
                          bus->topo.tools_group);
    if (rc == 0 && r->remaining == 0) {
        /* No group for this role (agents): a PING brings done back from
           the loop, as for the others. */
        const char *ping[1] = {"PING"};

        rc = sg_conn_command(bus->conn, on_group, r, 1, ping, NULL);
        if (rc == 0) {
            bus->sent++;
            r->remaining = 1;
        }
    }
    if (rc != 0) {
        /* What was sent still answers; nobody is called back. */
        r->cb.done = NULL;
        if (r->remaining == 0) {
            bus->mem->free(r, bus->mem->ud);
            return rc;
        }
    }
    req_link(bus, r);
    return rc;
}

/* ---- the backlog check -------------------------------------------------- */

static void check_finish(bus_req *r)
{
    sg_bus *bus = r->bus;
    stream_state *s;
    uint64_t now;

    if (bus == NULL || r->status != 0)
        return;
    s = sg__strmap_get(&bus->streams, r->stream, strlen(r->stream));
    if (s == NULL)
        return;
    if (r->length * 5 <= bus->maxlen * 4 && r->pending <= PENDING_WARN)
        return;
    now = sg__mono_ms();
    if (s->warned && now - s->last_warn_ms < bus->warn_ms)
        return;
    s->warned = 1;
    s->last_warn_ms = now;
    sg_logf(bus->log, SG_LOG_WARN, "bus: backlog on stream %s group %s: "
            "length %lld, pending %lld, cap %lld; trimming may drop unread "
            "entries (SG-FRAME-010)", r->stream, r->group, r->length,
            r->pending, bus->maxlen);
}

static void on_check(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    bus_req *r = ud;

    (void)conn;
    if (status != 0) {
        r->status = status;
    } else if (sg_reply_kind(reply) == SG_REPLY_INTEGER) {
        r->length = sg_reply_integer(reply);
    } else {
        /* XPENDING summary: {count, min, max, consumers}. */
        r->pending = sg_reply_integer(sg_reply_at(reply, 0));
    }
    if (--r->remaining > 0)
        return;
    if (r->status != 0 && r->bus != NULL)
        sg_logf(r->bus->log, SG_LOG_DEBUG, "bus: backlog check of %s "
                "failed: %s", r->stream, sg_strerror(r->status));
    check_finish(r);
    req_done(r);
}

/*
 * Queues XLEN and XPENDING behind a publish, at most once per check
 * interval per stream. Failures only cost the check (SG-FRAME-011).
 */
static void maybe_check(sg_bus *bus, const char *stream, const char *group)
{
    size_t slen = strlen(stream), glen = strlen(group);
    stream_state *s = sg__strmap_get(&bus->streams, stream, slen);
    uint64_t now = sg__mono_ms();
    const char *av[3];
    bus_req *r;

    if (s == NULL) {
        s = bus->mem->malloc(sizeof *s + slen + 1, bus->mem->ud);
        if (s == NULL)
            return;
        memset(s, 0, sizeof *s);
        s->name = (char *)(s + 1);
        memcpy(s->name, stream, slen + 1);
        s->len = slen;
        if (sg__strmap_put(&bus->streams, s->name, slen, s) != 0) {
            bus->mem->free(s, bus->mem->ud);
            return;
        }
    }
    if (s->checked && now - s->last_check_ms < bus->check_ms)
        return;
    r = req_new(bus, R_CHECK, slen + glen + 2);
    if (r == NULL)
        return;
    r->stream = (char *)(r + 1);
    memcpy(r->stream, stream, slen + 1);
    r->group = r->stream + slen + 1;
    memcpy(r->group, group, glen + 1);
    av[0] = "XLEN";
    av[1] = stream;
    if (sg_conn_command(bus->conn, on_check, r, 2, av, NULL) != 0) {
        bus->mem->free(r, bus->mem->ud);
        return;
    }
    bus->sent++;
    r->remaining = 1;
    av[0] = "XPENDING";
    av[1] = stream;
    av[2] = group;
    if (sg_conn_command(bus->conn, on_check, r, 3, av, NULL) == 0) {
        bus->sent++;
        r->remaining++;
    } else {
        r->status = SG_ECLOSED;
    }
    req_link(bus, r);
    s->checked = 1;
    s->last_check_ms = now;
}

/* ---- publishing --------------------------------------------------------- */

static void on_xadd(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    bus_req *r = ud;
    const char *id = NULL;

    (void)conn;
    if (status == 0) {
        id = sg_reply_str(reply, NULL);
        if (id == NULL)
            status = SG_EREDIS;
        else if (r->bus != NULL)
            r->bus->published++;
    }
    if (r->cb.publish != NULL)
        r->cb.publish(status, id, r->ud);
    req_done(r);
}

int sg_bus_publish_raw(sg_bus *bus, const char *stream, const char *group,
                       const void *data, size_t len, const char *trace_id,
                       sg_publish_fn *fn, void *ud)
{
    char fresh[33];
    bus_req *r;
    int rc;

    if (stream == NULL || (data == NULL && len > 0))
        return SG_EINVAL;
    if (trace_id == NULL) {
        rc = sg__trace_id_new(fresh);
        if (rc != 0)
            return rc;
        trace_id = fresh;
    }
    r = req_new(bus, R_PUBLISH, 0);
    if (r == NULL)
        return SG_ENOMEM;
    r->cb.publish = fn;
    r->ud = ud;
    rc = sg__xadd_data(bus->conn, stream, bus->maxlen, data, len, trace_id,
                       on_xadd, r);
    if (rc != 0) {
        bus->mem->free(r, bus->mem->ud);
        return rc;
    }
    bus->sent++;
    req_link(bus, r);
    if (group != NULL)
        maybe_check(bus, stream, group);
    return 0;
}

int sg_bus_publish(sg_bus *bus, const char *stream, const char *group,
                   const sg_envelope *env, const char *trace_id,
                   sg_publish_fn *fn, void *ud, sg_error *err)
{
    char fresh[33], own[SG__TRACE_ID_MAX + 1];
    sg_envelope copy = *env;
    sg_str *in_env = NULL;
    sg_buf data;
    int rc;

    if (err != NULL)
        sg_error_clear(err);
    if (copy.kind == SG_KIND_INBOUND)
        in_env = &copy.u.in.trace_id;
    else if (copy.kind == SG_KIND_OUTBOUND)
        in_env = &copy.u.out.trace_id;
    if (trace_id == NULL && in_env != NULL && in_env->len > 0 &&
        in_env->len <= SG__TRACE_ID_MAX) {
        memcpy(own, in_env->ptr, in_env->len);
        own[in_env->len] = '\0';
        trace_id = own;
    }
    if (trace_id == NULL && (in_env == NULL || in_env->len == 0)) {
        rc = sg__trace_id_new(fresh);
        if (rc != 0)
            return rc;
        trace_id = fresh;
    }
    /* An over-long envelope trace id is left for the encoder to refuse. */
    if (trace_id != NULL) {
        rc = sg__trace_id_check(trace_id, err);
        if (rc != 0)
            return rc;
        if (in_env != NULL) {
            /* SG-TRACE-001: the same id in the entry and the envelope. */
            in_env->ptr = trace_id;
            in_env->len = strlen(trace_id);
        }
    }
    sg_buf_init(&data, bus->mem);
    rc = sg_envelope_encode(&copy, &data, err);
    if (rc == 0)
        rc = sg_bus_publish_raw(bus, stream, group, data.data, data.len,
                                trace_id != NULL ? trace_id : "", fn, ud);
    sg_buf_destroy(&data);
    return rc;
}

int sg_bus_publish_inbound(sg_bus *bus, const sg_envelope *env,
                           const char *trace_id, sg_publish_fn *fn,
                           void *ud, sg_error *err)
{
    return sg_bus_publish(bus, bus->topo.inbound_stream,
                          bus->topo.worker_group, env, trace_id, fn, ud, err);
}

int sg_bus_publish_outbound(sg_bus *bus, const char *platform,
                            const sg_envelope *env, const char *trace_id,
                            sg_publish_fn *fn, void *ud, sg_error *err)
{
    char stream[2 * SG_NAME_MAX + 2], group[2 * SG_NAME_MAX + 2];
    size_t n = strlen(platform);

    if (n == 0 ||
        sg_name_join(stream, sizeof stream, bus->topo.outbound_stream_prefix,
                     platform, n) < 0 ||
        sg_name_join(group, sizeof group, bus->topo.gateway_group_prefix,
                     platform, n) < 0)
        return SG_EINVAL;
    return sg_bus_publish(bus, stream, group, env, trace_id, fn, ud, err);
}

/* ---- diagnostics -------------------------------------------------------- */

static void read_group(bus_req *r, const sg_reply *groups, const char *name)
{
    size_t i, j, nlen = strlen(name);

    for (i = 0; i < sg_reply_len(groups); i++) {
        const sg_reply *g = sg_reply_at(groups, i);
        long long lag = -1;
        int match = 0;

        for (j = 0; j + 1 < sg_reply_len(g); j += 2) {
            const sg_reply *k = sg_reply_at(g, j), *v = sg_reply_at(g, j + 1);
            size_t vlen;
            const char *s = sg_reply_str(v, &vlen);

            if (sg_reply_is(k, "name"))
                match = s != NULL && vlen == nlen &&
                        memcmp(s, name, nlen) == 0;
            else if (sg_reply_is(k, "consumers"))
                r->st.consumers = sg_reply_integer(v);
            else if (sg_reply_is(k, "pending"))
                r->st.pending = sg_reply_integer(v);
            else if (sg_reply_is(k, "lag") &&
                     sg_reply_kind(v) == SG_REPLY_INTEGER)
                lag = sg_reply_integer(v);
            else if (sg_reply_is(k, "last-delivered-id") && s != NULL &&
                     vlen < sizeof r->st.last_delivered_id) {
                memcpy(r->st.last_delivered_id, s, vlen);
                r->st.last_delivered_id[vlen] = '\0';
            }
        }
        if (match) {
            r->st.group_exists = 1;
            r->st.lag = lag;
            return;
        }
    }
    r->st.consumers = r->st.pending = 0;
    r->st.last_delivered_id[0] = '\0';
}

static void on_stats(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    bus_req *r = ud;

    (void)conn;
    if (sg_reply_kind(reply) == SG_REPLY_INTEGER) {
        r->st.length = sg_reply_integer(reply);
    } else if (status == SG_EREDIS && sg_reply_is(reply, "ERR")) {
        /* XINFO GROUPS of a stream that does not exist. */
    } else if (status != 0) {
        if (r->status == 0)
            r->status = status;
    } else {
        read_group(r, reply, r->group);
    }
    if (--r->remaining > 0)
        return;
    if (r->cb.stats != NULL)
        r->cb.stats(r->status, r->status == 0 ? &r->st : NULL, r->ud);
    req_done(r);
}

int sg_bus_stream_stats(sg_bus *bus, const char *stream, const char *group,
                        sg_stream_stats_fn *fn, void *ud)
{
    size_t glen = strlen(group);
    const char *av[3];
    bus_req *r = req_new(bus, R_STATS, glen + 1);
    int rc;

    if (r == NULL)
        return SG_ENOMEM;
    r->group = (char *)(r + 1);
    memcpy(r->group, group, glen + 1);
    r->cb.stats = fn;
    r->ud = ud;
    r->st.lag = -1;
    av[0] = "XLEN";
    av[1] = stream;
    rc = sg_conn_command(bus->conn, on_stats, r, 2, av, NULL);
    if (rc != 0) {
        bus->mem->free(r, bus->mem->ud);
        return rc;
    }
    bus->sent++;
    r->remaining = 1;
    av[0] = "XINFO";
    av[1] = "GROUPS";
    av[2] = stream;
    if (sg_conn_command(bus->conn, on_stats, r, 3, av, NULL) == 0) {
        bus->sent++;
        r->remaining++;
    } else {
        r->status = SG_ECLOSED;
    }
    req_link(bus, r);
    return 0;
}

/* ---- the server --------------------------------------------------------- */

/* Reads "redis_version:7.0.15" out of INFO server; leaves 0 when absent. */
static void server_version(sg_server_info *info, const char *text)
{
    const char *v = strstr(text, "redis_version:");
    char *end, *end2;
    long major, minor = 0;

    if (v == NULL)
        return;
    v += 14;
    errno = 0;
    major = strtol(v, &end, 10);
    if (errno != 0 || end == v || major < 0 || major > 1000)
        return;
    if (*end == '.') {
        minor = strtol(end + 1, &end2, 10);
        if (errno != 0 || end2 == end + 1 || minor < 0 || minor > 1000)
            minor = 0;
    }
    info->version_major = (int)major;
    info->version_minor = (int)minor;
}

static void on_server(sg_conn *conn, int status, const sg_reply *reply,
                      void *ud)
{
    bus_req *r = ud;

    (void)conn;
    if (sg_reply_kind(reply) == SG_REPLY_STRING) {
        server_version(&r->info, sg_reply_str(reply, NULL));
    } else if (sg_reply_kind(reply) == SG_REPLY_ARRAY) {
        size_t len;
        const char *p = sg_reply_str(sg_reply_at(reply, 1), &len);

        if (p != NULL && len < sizeof r->info.policy) {
            memcpy(r->info.policy, p, len);
            r->info.policy[len] = '\0';
            r->info.policy_known = 1;
        }
    } else if (status == SG_EREDIS) {
        /* SG-OPS-003: a managed Redis may refuse CONFIG. */
        sg_logf(r->log, SG_LOG_INFO, "bus: cannot read maxmemory-policy "
                "(%s); not checked", sg_reply_str(reply, NULL));
    } else if (status != 0 && r->status == 0) {
        r->status = status;
    }
    if (--r->remaining > 0)
        return;
    if (r->status == 0) {
        if (r->info.version_major > 0 && r->info.version_major < 7)
            sg_logf(r->log, SG_LOG_ERROR, "bus: Redis %d.%d is too old: the "
                    "protocol needs 7.0 or later (SG-OPS-001)",
                    r->info.version_major, r->info.version_minor);
        if (r->info.policy_known &&
            strcmp(r->info.policy, "noeviction") != 0)
            sg_logf(r->log, SG_LOG_WARN, "bus: Redis maxmemory-policy is %s;"
                    " it must be noeviction, or locks, claim keys and leases"
                    " may be evicted (SG-OPS-002)", r->info.policy);
    }
    if (r->cb.server != NULL)
        r->cb.server(r->status, r->status == 0 ? &r->info : NULL, r->ud);
    req_done(r);
}

int sg_bus_check_server(sg_bus *bus, sg_server_info_fn *fn, void *ud)
{
    const char *info[2] = {"INFO", "server"};
    const char *config[3] = {"CONFIG", "GET", "maxmemory-policy"};
    bus_req *r = req_new(bus, R_SERVER, 0);
    int rc;

    if (r == NULL)
        return SG_ENOMEM;
    r->cb.server = fn;
    r->ud = ud;
    r->log = bus->log;
    rc = sg_conn_command(bus->conn, on_server, r, 2, info, NULL);
    if (rc != 0) {
        bus->mem->free(r, bus->mem->ud);
        return rc;
    }
    bus->sent++;
    r->remaining = 1;
    if (sg_conn_command(bus->conn, on_server, r, 3, config, NULL) == 0) {
        bus->sent++;
        r->remaining++;
    }
    req_link(bus, r);
    return 0;
}
