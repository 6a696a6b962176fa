/*
 * sg/config.h: a deployment's configuration from the environment: the
 * names of SPEC section 2 (streams, groups, key prefixes) and the tuning
 * knobs of SPEC section 13.
 *
 *     sg_topology topo;
 *     sg_knobs knobs;
 *     sg_error err;
 *     if (sg_topology_from_env(&topo, &err) != 0 ||
 *         sg_knobs_from_env(&knobs, &err) != 0) {
 *         fprintf(stderr, "%s\n", err.msg);   // names the variable
 *         exit(2);
 *     }
 *
 * Both structs are plain caller storage with nothing to free. The _lookup
 * variants read from a function instead of the process environment, for
 * tests and for programs that take their configuration elsewhere.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>

#include "sg/error.h"
#include "sg/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest name (stream, group, prefix) in bytes, without the NUL. */
#define SG_NAME_MAX 255

/*
 * Returns the value of variable `name`, or NULL when unset. The string
 * must stay valid until the next call. getenv() has this shape.
 */
typedef const char *sg_lookup_fn(const char *name, void *ud);

/*
 * The names of SPEC section 2, each NUL-terminated, with the variable
 * that overrides it.
 */
typedef struct sg_topology {
    char inbound_stream[SG_NAME_MAX + 1];         /* SG_INBOUND_STREAM */
    /* SG_OUTBOUND_STREAM_PREFIX */
    char outbound_stream_prefix[SG_NAME_MAX + 1];
    char worker_group[SG_NAME_MAX + 1];           /* SG_WORKER_GROUP */
    /* SG_GATEWAY_GROUP_PREFIX */
    char gateway_group_prefix[SG_NAME_MAX + 1];
    char tools_stream[SG_NAME_MAX + 1];           /* SG_TOOLS_STREAM */
    char tools_group[SG_NAME_MAX + 1];            /* SG_TOOLS_GROUP */
    /* SG_TOOLS_REPLY_STREAM_PREFIX */
    char tools_reply_stream_prefix[SG_NAME_MAX + 1];
    char dlq_stream[SG_NAME_MAX + 1];             /* SG_DLQ_STREAM */
    char leader_key[SG_NAME_MAX + 1];             /* SG_LEADER_KEY */
    char status_lease_key[SG_NAME_MAX + 1];       /* SG_STATUS_LEASE_KEY */
    char lock_prefix[SG_NAME_MAX + 1];            /* SG_LOCK_PREFIX */
    /* SG_OUTBOUND_LOCK_PREFIX */
    char outbound_lock_prefix[SG_NAME_MAX + 1];
    /* SG_OUTBOUND_CLAIM_PREFIX */
    char outbound_claim_prefix[SG_NAME_MAX + 1];
    char claim_attempts_key[SG_NAME_MAX + 1];     /* SG_CLAIM_ATTEMPTS_KEY */
    /* SG_OUTBOUND_CLAIM_ATTEMPTS_KEY */
    char outbound_claim_attempts_key[SG_NAME_MAX + 1];
    char config_channel[SG_NAME_MAX + 1];         /* SG_CONFIG_CHANNEL */
    char rpc_reply_prefix[SG_NAME_MAX + 1];       /* SG_RPC_REPLY_PREFIX */
    char order_prefix[SG_NAME_MAX + 1];           /* SG_ORDER_PREFIX */
    char wake_prefix[SG_NAME_MAX + 1];            /* SG_WAKE_PREFIX */
} sg_topology;

/* Every name at its default (SG-TOPO-001). */
void sg_topology_init(sg_topology *t);

/*
 * Fills t from the environment: a variable that is unset or empty gives
 * the default, any other value is used as is (SG-TOPO-001, SG-CFG-005).
 * 0, or SG_EINVAL when a value is longer than SG_NAME_MAX bytes; then
 * err->msg names the variable (err may be NULL) and t is left at the
 * defaults for that name.
 */
int sg_topology_from_env(sg_topology *t, sg_error *err);
int sg_topology_from_lookup(sg_topology *t, sg_lookup_fn *lookup, void *ud,
                            sg_error *err);

/*
 * Writes "<prefix>:<part>" (part is part[0..part_len), binary-safe) and a
 * NUL to out, a buffer of cap bytes: the derived names of SPEC section 2,
 * e.g. the outbound stream of a platform, a channel's lock, a claim key.
 * Returns the name's length, or SG_EINVAL when it does not fit.
 */
int sg_name_join(char *out, size_t cap, const char *prefix, const char *part,
                 size_t part_len);

/*
 * Logs every name at info level, one line (SG-TOPO-009), so that an
 * operator can see a mismatched override.
 */
void sg_topology_log(const sg_topology *t, const sg_log *log);

/* The knobs of SPEC section 13. Times are in milliseconds. */
typedef struct sg_knobs {
    int block_ms;                 /* SG_BLOCK_MS, 5000 */
    int read_count;               /* SG_READ_COUNT, 10 */
    int max_in_flight;            /* SG_MAX_IN_FLIGHT, 256 */
    int lock_ttl_ms;              /* SG_LOCK_TTL_MS, 60000 */
    int outbound_lock_ttl_ms;     /* SG_OUTBOUND_LOCK_TTL_MS, 30000 */
    int lock_wait_ms;             /* SG_LOCK_WAIT_MS, 120000 */
    int autoclaim_interval_ms;    /* SG_AUTOCLAIM_INTERVAL_MS, 30000 */
    int autoclaim_min_idle_ms;    /* SG_AUTOCLAIM_MIN_IDLE_MS, 60000 */
    int autoclaim_count;          /* SG_AUTOCLAIM_COUNT, 10 */
    int max_deliveries;           /* SG_MAX_DELIVERIES, 3 */
    int max_claims;               /* SG_MAX_CLAIMS, 3 */
    int max_requeues;             /* SG_MAX_REQUEUES, 5 */
    int outbound_claim_ttl_ms;    /* SG_OUTBOUND_CLAIM_TTL_MS, 300000 */
    long long stream_maxlen;      /* SG_STREAM_MAXLEN, 100000, >= 1000 */
    int drain_ms;                 /* SG_DRAIN_MS, 30000 */
    int rpc_timeout_ms;           /* SG_RPC_TIMEOUT_MS, 30000 */
    /*
     * SG_ORDER_QUEUES, 1: the inbound consumer keeps order queues
     * (SPEC SG-IN-023..025); 0 reads with a plain XREADGROUP BLOCK and
     * orders a channel's entries only within this consumer. Not a knob of
     * SPEC section 13: an implementation switch, "0" or "1".
     */
    int order_queues;
    /*
     * SG_LOCK_WAKE, 1: consumers ask to be woken when a busy channel may
     * be free, and wake those that asked (SPEC SG-LOCK-008/009); 0 waits
     * on the delays of SG-LOCK-005 alone and wakes nobody. An
     * implementation switch, "0" or "1".
     */
    int lock_wake;
    /*
     * SG_HAND_OVER, 1: an inbound consumer with order queues hands an
     * entry it reads to the consumer that holds its channel's older
     * entries, and takes entries handed to it (SPEC SG-IN-026..028); 0
     * does neither. An implementation switch, "0" or "1".
     */
    int hand_over;
} sg_knobs;

/* The smallest stream length cap (SG-FRAME-009). */
#define SG_STREAM_MAXLEN_MIN 1000

/* Every knob at its default. */
void sg_knobs_init(sg_knobs *k);

/*
 * Fills k from the environment: unset or empty gives the default
 * (SG-CFG-004). A value must be a positive decimal integer (digits only,
 * no sign or space) that fits an int (stream_maxlen: a long long); a
 * stream length below 1000 is raised to 1000 (SG-FRAME-009). 0, or
 * SG_EINVAL for the first bad value, with err->msg naming the variable
 * and quoting the value; the process must then refuse to start.
 * SG_ORDER_QUEUES, SG_LOCK_WAKE and SG_HAND_OVER take "0" or "1"
 * only.
 */
int sg_knobs_from_env(sg_knobs *k, sg_error *err);
int sg_knobs_from_lookup(sg_knobs *k, sg_lookup_fn *lookup, void *ud,
                         sg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SG_CONFIG_H */
