/*
 * sg/random.h: random identifiers from the kernel's cryptographic source.
 *
 * Lock tokens (SG-LOCK-001), consumer names (SG-TOPO-007), trace ids
 * (SG-TRACE-001) and RPC reply keys (SG-RPC-009) must be unpredictable and
 * unique; they all come from here.
 */
#ifndef SG_RANDOM_H
#define SG_RANDOM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Fills buf with n random bytes from getrandom(2), or /dev/urandom when the
 * system call is missing. 0, or SG_EIO when no source answered.
 */
int sg_random_bytes(void *buf, size_t n);

/*
 * Writes 2 * nbytes lowercase hex digits of nbytes random bytes and a NUL
 * to out, which must hold 2 * nbytes + 1 characters. 0 or SG_EIO.
 * sg_random_hex(tok, 16) gives a 128-bit lock token.
 */
int sg_random_hex(char *out, size_t nbytes);

#ifdef __cplusplus
}
#endif

#endif /* SG_RANDOM_H */
