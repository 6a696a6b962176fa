/*
 * utf8.c: strict UTF-8 validation with a fast path for ASCII, which is
 * what almost every envelope string is.
 */
#include <string.h>

#include "utf8.h"

#define HIGH_BITS UINT64_C(0x8080808080808080)

bool
sg__utf8_valid_slow(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c;

        /* Eight ASCII bytes at a time until a byte with its top bit set. */
        while (len - i >= 8) {
            uint64_t w;

            memcpy(&w, s + i, 8);
            if (w & HIGH_BITS)
                break;
            i += 8;
        }
        if (i >= len)
            break;
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            if (len - i < 2 || (s[i + 1] & 0xc0) != 0x80)
                return false;
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            uint8_t c1;

            if (len - i < 3)
                return false;
            c1 = s[i + 1];
            /* E0 needs A0..BF (no overlong); ED needs 80..9F (no
               surrogates). */
            if ((c == 0xe0 && (c1 < 0xa0 || c1 > 0xbf))
                || (c == 0xed && (c1 < 0x80 || c1 > 0x9f))
                || (c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
                return false;
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            uint8_t c1;

            if (len - i < 4)
                return false;
            c1 = s[i + 1];
            /* F0 needs 90..BF (no overlong); F4 needs 80..8F (at most
               U+10FFFF). */
            if ((c == 0xf0 && (c1 < 0x90 || c1 > 0xbf))
                || (c == 0xf4 && (c1 < 0x80 || c1 > 0x8f))
                || (c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80
                || (s[i + 3] & 0xc0) != 0x80)
                return false;
            i += 4;
        } else {
            /* 80..C1 cannot start a sequence; F5..FF never occur. */
            return false;
        }
    }
    return true;
}
