/*
 * SHA-1 of a byte string, as lowercase hex. Used only to name Lua scripts
 * the way Redis does (EVALSHA), so that a script can be called by its
 * digest before the server has answered any SCRIPT LOAD. Not for security.
 */
#ifndef SG_SHA1_H
#define SG_SHA1_H

#include <stddef.h>

/* Writes 40 hex digits and a NUL to out. */
void sg__sha1_hex(const void *data, size_t len, char out[41]);

#endif /* SG_SHA1_H */
