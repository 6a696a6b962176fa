/* Topology names and tuning knobs from the environment (sg/config.h). */
#define _POSIX_C_SOURCE 200809L

#include "sg/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names -------------------------------------------------------------- */

typedef struct name_def {
    const char *var;
    const char *def;
    size_t offset;
} name_def;

#define NAME(field, var, def) {var, def, offsetof(sg_topology, field)}

static const name_def names[] = {
    NAME(inbound_stream, "SG_INBOUND_STREAM", "sg:stream:inbound"),
    NAME(outbound_stream_prefix, "SG_OUTBOUND_STREAM_PREFIX",
         "sg:stream:outbound"),
    NAME(worker_group, "SG_WORKER_GROUP", "sg:workers"),
    NAME(gateway_group_prefix, "SG_GATEWAY_GROUP_PREFIX", "sg:gateway"),
    NAME(tools_stream, "SG_TOOLS_STREAM", "sg:stream:tools"),
    NAME(tools_group, "SG_TOOLS_GROUP", "sg:tools"),
    NAME(tools_reply_stream_prefix, "SG_TOOLS_REPLY_STREAM_PREFIX",
         "sg:tools:reply"),
    NAME(dlq_stream, "SG_DLQ_STREAM", "sg:stream:dlq"),
    NAME(leader_key, "SG_LEADER_KEY", "sg:leader:supervisor"),
    NAME(status_lease_key, "SG_STATUS_LEASE_KEY", "sg:leader:status"),
    NAME(lock_prefix, "SG_LOCK_PREFIX", "sg:lock:channel"),
    NAME(outbound_lock_prefix, "SG_OUTBOUND_LOCK_PREFIX", "sg:lock:outbound"),
    NAME(outbound_claim_prefix, "SG_OUTBOUND_CLAIM_PREFIX",
         "sg:outbound:claim"),
    NAME(claim_attempts_key, "SG_CLAIM_ATTEMPTS_KEY",
         "sg:autoclaim:attempts"),
    NAME(outbound_claim_attempts_key, "SG_OUTBOUND_CLAIM_ATTEMPTS_KEY",
         "sg:autoclaim:outbound:attempts"),
    NAME(config_channel, "SG_CONFIG_CHANNEL", "sg:pubsub:config"),
    NAME(rpc_reply_prefix, "SG_RPC_REPLY_PREFIX", "sg:rpc:reply"),
    NAME(order_prefix, "SG_ORDER_PREFIX", "sg:order:channel"),
    NAME(wake_prefix, "SG_WAKE_PREFIX", "sg:wake"),
};

#define NNAMES (sizeof names / sizeof names[0])

static char *name_slot(sg_topology *t, const name_def *d)
{
    return (char *)t + d->offset;
}

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

/* Fills err with SG_EINVAL and a message; returns SG_EINVAL. */
static int fail(sg_error *err, const char *var, const char *why,
                const char *value)
{
    if (err != NULL) {
        char shown[64];
        size_t n = strlen(value);
        int w;

        /* Quote at most the start of a long value. */
        if (n >= sizeof shown)
            n = sizeof shown - 1;
        memcpy(shown, value, n);
        shown[n] = '\0';
        sg_error_clear(err);
        err->code = SG_EINVAL;
        w = snprintf(err->msg, sizeof err->msg, "%s %s, not \"%s%s\"", var,
                     why, shown, strlen(value) >= sizeof shown ? "..." : "");
        if (w < 0)
            err->msg[0] = '\0';
    }
    return SG_EINVAL;
}

void sg_topology_init(sg_topology *t)
{
    size_t i;

    memset(t, 0, sizeof *t);
    for (i = 0; i < NNAMES; i++) {
        char *slot = name_slot(t, &names[i]);

        memcpy(slot, names[i].def, strlen(names[i].def) + 1);
    }
}

int sg_topology_from_lookup(sg_topology *t, sg_lookup_fn *lookup, void *ud,
                            sg_error *err)
{
    size_t i;

    sg_topology_init(t);
    if (err != NULL)
        sg_error_clear(err);
    for (i = 0; i < NNAMES; i++) {
        const char *v = lookup(names[i].var, ud);
        size_t n;

        if (v == NULL || v[0] == '\0')
            continue;
        n = strlen(v);
        if (n > SG_NAME_MAX)
            return fail(err, names[i].var, "is longer than 255 bytes", v);
        memcpy(name_slot(t, &names[i]), v, n + 1);
    }
    return 0;
}

int sg_topology_from_env(sg_topology *t, sg_error *err)
{
    return sg_topology_from_lookup(t, env_lookup, NULL, err);
}

int sg_name_join(char *out, size_t cap, const char *prefix, const char *part,
                 size_t part_len)
{
    size_t plen = strlen(prefix);

    if (plen + 1 + part_len + 1 > cap || plen + 1 + part_len > INT_MAX)
        return SG_EINVAL;
    memcpy(out, prefix, plen);
    out[plen] = ':';
    if (part_len > 0)
        memcpy(out + plen + 1, part, part_len);
    out[plen + 1 + part_len] = '\0';
    return (int)(plen + 1 + part_len);
}

void sg_topology_log(const sg_topology *t, const sg_log *log)
{
    char line[1024];
    size_t used = 0, i;

    line[0] = '\0';
    for (i = 0; i < NNAMES; i++) {
        int n = snprintf(line + used, sizeof line - used, "%s%s=%s",
                         i ? " " : "", names[i].var,
                         (const char *)t + names[i].offset);

        if (n < 0 || (size_t)n >= sizeof line - used)
            break;
        used += (size_t)n;
    }
    sg_logf(log, SG_LOG_INFO, "topology: %s", line);
}

/* ---- knobs -------------------------------------------------------------- */

typedef struct knob_def {
    const char *var;
    long long def;
    size_t offset;
    int wide;   /* long long rather than int */
} knob_def;

#define KNOB(field, var, def) {var, def, offsetof(sg_knobs, field), 0}

static const knob_def knobs[] = {
    KNOB(block_ms, "SG_BLOCK_MS", 5000),
    KNOB(read_count, "SG_READ_COUNT", 10),
    KNOB(max_in_flight, "SG_MAX_IN_FLIGHT", 256),
    KNOB(lock_ttl_ms, "SG_LOCK_TTL_MS", 60000),
    KNOB(outbound_lock_ttl_ms, "SG_OUTBOUND_LOCK_TTL_MS", 30000),
    KNOB(lock_wait_ms, "SG_LOCK_WAIT_MS", 120000),
    KNOB(autoclaim_interval_ms, "SG_AUTOCLAIM_INTERVAL_MS", 30000),
    KNOB(autoclaim_min_idle_ms, "SG_AUTOCLAIM_MIN_IDLE_MS", 60000),
    KNOB(autoclaim_count, "SG_AUTOCLAIM_COUNT", 10),
    KNOB(max_deliveries, "SG_MAX_DELIVERIES", 3),
    KNOB(max_claims, "SG_MAX_CLAIMS", 3),
    KNOB(max_requeues, "SG_MAX_REQUEUES", 5),
    KNOB(outbound_claim_ttl_ms, "SG_OUTBOUND_CLAIM_TTL_MS", 300000),
    {"SG_STREAM_MAXLEN", 100000, offsetof(sg_knobs, stream_maxlen), 1},
    KNOB(drain_ms, "SG_DRAIN_MS", 30000),
    KNOB(rpc_timeout_ms, "SG_RPC_TIMEOUT_MS", 30000),
};

#define NKNOBS (sizeof knobs / sizeof knobs[0])

static void knob_set(sg_knobs *k, const knob_def *d, long long v)
{
    char *slot = (char *)k + d->offset;

    if (d->wide) {
        long long w = v;

        memcpy(slot, &w, sizeof w);
    } else {
        int n = (int)v;

        memcpy(slot, &n, sizeof n);
    }
}

void sg_knobs_init(sg_knobs *k)
{
    size_t i;

    memset(k, 0, sizeof *k);
    for (i = 0; i < NKNOBS; i++)
        knob_set(k, &knobs[i], knobs[i].def);
    k->order_queues = 1;
    k->lock_wake = 1;
    k->hand_over = 1;
}

/* Parses a positive decimal integer up to max. 0 or SG_EINVAL. */
static int parse_positive(const char *s, long long max, long long *out)
{
    long long v;
    char *end;
    const char *p;

    for (p = s; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return SG_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > max)
        return SG_EINVAL;
    *out = v;
    return 0;
}

int sg_knobs_from_lookup(sg_knobs *k, sg_lookup_fn *lookup, void *ud,
                         sg_error *err)
{
    size_t i;

    sg_knobs_init(k);
    if (err != NULL)
        sg_error_clear(err);
    for (i = 0; i < NKNOBS; i++) {
        const char *v = lookup(knobs[i].var, ud);
        long long n;

        if (v == NULL || v[0] == '\0')
            continue;
        if (parse_positive(v, knobs[i].wide ? LLONG_MAX : INT_MAX, &n) != 0)
            return fail(err, knobs[i].var,
                        knobs[i].wide
                            ? "must be a positive decimal integer"
                            : "must be a positive decimal integer below "
                              "2^31",
                        v);
        knob_set(k, &knobs[i], n);
    }
    if (k->stream_maxlen < SG_STREAM_MAXLEN_MIN)
        k->stream_maxlen = SG_STREAM_MAXLEN_MIN;
    {
        static const char *const vars[] = {"SG_ORDER_QUEUES", "SG_LOCK_WAKE",
                                           "SG_HAND_OVER"};
        int *const at[] = {&k->order_queues, &k->lock_wake, &k->hand_over};

        for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
            const char *v = lookup(vars[i], ud);

            if (v == NULL || v[0] == '\0')
                continue;
            if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
                return fail(err, vars[i], "must be 0 or 1", v);
            *at[i] = v[0] == '1';
        }
    }
    return 0;
}

int sg_knobs_from_env(sg_knobs *k, sg_error *err)
{
    return sg_knobs_from_lookup(k, env_lookup, NULL, err);
}
