/*
 * utf8.h: strict UTF-8 validation (SG-MP-004).
 */
#ifndef SG_UTF8_H
#define SG_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * True when s[0..len) is well-formed UTF-8 (RFC 3629): no overlong forms,
 * no surrogates, nothing above U+10FFFF, no cut-off sequence.
 */
bool sg__utf8_valid(const uint8_t *s, size_t len);

#endif /* SG_UTF8_H */
