/*
 * lease_scripts.h: the compare-and-act Lua scripts of leases.
 *
 * A connection remembers every script it ran and loads it again after
 * each reconnect (sg/conn.h), so a script must outlive every connection:
 * these are constants, which also makes them safe to share between
 * threads that run separate event loops. test_lease.c checks each length
 * against its body.
 */
#ifndef SG_LEASE_SCRIPTS_H
#define SG_LEASE_SCRIPTS_H

#include "sg/conn.h"

/*
 * Compare-and-expire: KEYS[1] key, ARGV[1] token, ARGV[2] ttl in ms.
 * Sets the TTL and returns 1 only while the key holds the token; else 0
 * (SG-LEASE-002, SG-LEASE-003).
 */
extern const sg_script sg__script_cas_expire;

/*
 * Compare-and-delete: KEYS[1] key, ARGV[1] token. Deletes the key and
 * returns 1 only while it holds the token; else 0 (SG-LEASE-007).
 */
extern const sg_script sg__script_cas_delete;

#endif /* SG_LEASE_SCRIPTS_H */
