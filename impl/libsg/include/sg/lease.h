/*
 * sg/lease.h: a lease on a Redis key (SPEC section 19): the status lease
 * of the workers and the supervisor's leader lease.
 *
 * A lease is a string key holding its holder's id. A node takes it with
 * `SET <key> <id> NX PX <ttl>`, renews it with a compare-and-expire script
 * (the TTL is set only while the key still holds the node's id, so a
 * renewal can never extend somebody else's lease: SG-LEASE-002), and
 * gives it back with a compare-and-delete script (SG-LEASE-007).
 *
 *     sg_lease_opts o;
 *     sg_lease_opts_init(&o);
 *     o.key = topo.leader_key; o.holder = node_id;
 *     o.on_change = on_leader; o.ud = me;
 *     sg_lease *l;
 *     sg_lease_new(conn, &o, &l);
 *     sg_lease_start(l);            // tries at once, then every renew_ms
 *
 * Heartbeat. Every renew_ms the lease sends one command: the renewal
 * while it is held, the SET NX while it is not. on_change(1) runs when the
 * SET succeeds; on_change(0) when a renewal finds another id or no key
 * (SG-LEASE-004). Times are in milliseconds, PX rather than the spec's EX
 * only so that tests can use short leases; the spec's values are the
 * defaults (ttl 30 s, heartbeat 10 s: SG-LEASE-003).
 *
 * Validity. A node that cannot reach Redis cannot renew, but must not go
 * on believing it leads: the key may have expired and another node taken
 * it. So the lease also counts as lost (on_change(0)) ttl_ms after the
 * moment the last successful SET or renewal was *sent*, which is no later
 * than the moment the key can expire. Two nodes therefore never both
 * consider themselves holder (SG-LEASE-008), beyond the difference of
 * their clock rates.
 *
 * Before destructive or cluster-wide work a holder asks Redis again with
 * sg_lease_check() (SG-LEASE-005): a GET compared with its id.
 *
 * The status lease (SG-LEASE-001) is the same object with
 * ttl = sg_lease_status_ttl_ms(status interval) and a heartbeat of a
 * third of that.
 */
#ifndef SG_LEASE_H
#define SG_LEASE_H

#include "sg/conn.h"
#include "sg/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sg_lease sg_lease;

/*
 * The lease was gained (held = 1) or lost (held = 0). Called from the
 * loop. May call any function of this lease except sg_lease_free().
 */
typedef void sg_lease_change_fn(sg_lease *lease, int held, void *ud);

typedef struct sg_lease_opts {
    const char *key;            /* required; copied */
    const char *holder;         /* required, non-empty: node or instance
                                   id; copied */
    int ttl_ms;                 /* 0: 30000 */
    int renew_ms;               /* heartbeat; 0: 10000; must be < ttl */
    sg_lease_change_fn *on_change; /* NULL: none */
    void *ud;
    const sg_log *log;          /* NULL: the connection's */
} sg_lease_opts;

/* Every field zero or NULL: the leader lease's defaults. */
void sg_lease_opts_init(sg_lease_opts *opts);

/*
 * The status lease's TTL for a status interval: the larger of 60 s and
 * three intervals (SG-LEASE-001), capped at INT_MAX.
 */
int sg_lease_status_ttl_ms(int status_interval_ms);

/*
 * Creates a lease on conn (which must outlive it); nothing is sent before
 * sg_lease_start(). 0 and *out, or SG_EINVAL (no key or holder, renew_ms
 * not below ttl_ms) / SG_ENOMEM.
 */
int sg_lease_new(sg_conn *conn, const sg_lease_opts *opts, sg_lease **out);

/*
 * Starts the heartbeat: the first attempt is sent at once. 0, or
 * SG_EINVAL when already started.
 */
int sg_lease_start(sg_lease *lease);

/* Nonzero while this node holds the lease, as far as it knows. */
int sg_lease_held(const sg_lease *lease);

typedef void sg_lease_check_fn(sg_lease *lease, int status, int held,
                               void *ud);

/*
 * Asks Redis whether the key still holds this node's id (SG-LEASE-005).
 * fn gets status 0 and held 1 or 0, or status SG_EREDIS / SG_ECLOSED /
 * SG_ETIMEOUT with held 0: without an answer, do not do the work. A check
 * that finds another id or no key also ends the lease (on_change(0) runs
 * first). 0: fn will be called once (with SG_ECLOSED from
 * sg_lease_free() at the latest); SG_ECLOSED / SG_ENOMEM: never.
 */
int sg_lease_check(sg_lease *lease, sg_lease_check_fn *fn, void *ud);

typedef void sg_lease_done_fn(sg_lease *lease, int status, void *ud);

/*
 * Stops the heartbeat and gives the lease back: when held, on_change(0)
 * runs first, then the compare-and-delete is sent (SG-LEASE-007). fn (may
 * be NULL) gets 0 once Redis has answered, or the command's error; it is
 * called once, at the latest from sg_lease_free(). The lease may be
 * started again afterwards. 0, or SG_ECLOSED / SG_ENOMEM, when fn is not
 * called (the heartbeat is stopped all the same).
 */
int sg_lease_release(sg_lease *lease, sg_lease_done_fn *fn, void *ud);

/*
 * Frees the lease. When still held, the compare-and-delete is queued on
 * the connection without waiting for its answer; run the loop, or call
 * sg_lease_release() first, for it to reach Redis. Pending check and
 * release callbacks get SG_ECLOSED before this returns; on_change is not
 * called. NULL is a no-op. Not from inside this lease's callbacks.
 */
void sg_lease_free(sg_lease *lease);

/* The key and the holder id. Valid while the lease lives. */
const char *sg_lease_key(const sg_lease *lease);
const char *sg_lease_holder(const sg_lease *lease);

#ifdef __cplusplus
}
#endif

#endif /* SG_LEASE_H */
