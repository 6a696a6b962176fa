/*
 * utf8.h: strict UTF-8 validation (SG-MP-004).
 */
#ifndef SG_UTF8_H
#define SG_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compiler.h"

/*
 * True when s[0..len) is well-formed UTF-8 (RFC 3629): no overlong forms,
 * no surrogates, nothing above U+10FFFF, no cut-off sequence.
 */
bool sg__utf8_valid_slow(const uint8_t *s, size_t len);

/*
 * The same, with the common case inline: ASCII is checked a word at a
 * time, short strings with two overlapping loads, and only text with a
 * byte >= 0x80 goes to the full check.
 */
SG__HOT_INLINE bool
sg__utf8_valid(const uint8_t *s, size_t len)
{
    const uint64_t high = UINT64_C(0x8080808080808080);
    uint64_t acc = 0, w;
    size_t i;

    if (len >= 8) {
        for (i = 0; i + 8 <= len; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + len - 8, 8);
        acc |= w;
        return (acc & high) == 0 || sg__utf8_valid_slow(s, len);
    }
    if (len >= 4) {
        uint32_t a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
        return ((a | b) & 0x80808080u) == 0 || sg__utf8_valid_slow(s, len);
    }
    if (len == 0)
        return true;
    /* 1 to 3 bytes: first, middle and last cover them all. */
    return ((s[0] | s[len / 2] | s[len - 1]) & 0x80) == 0
        || sg__utf8_valid_slow(s, len);
}

#endif /* SG_UTF8_H */
