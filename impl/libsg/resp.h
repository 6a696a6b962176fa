/*
 * Redis commands written as RESP, the protocol's request form: an array
 * of bulk strings,
 *
 *     *<argc>\r\n then, per argument, $<length>\r\n<bytes>\r\n
 *
 * What hiredis's redisFormatCommandArgv() writes, without its per-argument
 * format-string parsing, into a buffer the caller keeps from one command
 * to the next: the connection formats every command it sends here and
 * hands the bytes to redisAsyncFormattedCommand().
 */
#ifndef SG_RESP_H
#define SG_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "sg/mem.h"

/* The longest decimal form of a uint64_t. */
#define SG__DEC_MAX 20

/*
 * Writes v in decimal at out (at least SG__DEC_MAX bytes), without a NUL;
 * returns the number of digits.
 */
size_t sg__dec_u64(char *out, uint64_t v);

/*
 * Replaces the contents of b with the command of argc arguments: argv[i]
 * of lens[i] bytes, or of strlen(argv[i]) when lens is NULL, followed by
 * a NUL that b->len does not count (hiredis reads the command it is
 * handed with strchr()). 0, or SG_ENOMEM (b then holds nothing usable).
 */
int sg__resp_command(sg_buf *b, int argc, const char *const *argv,
                     const size_t *lens);

#endif /* SG_RESP_H */
