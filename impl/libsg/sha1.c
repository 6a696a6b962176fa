/* SHA-1 (FIPS 180-4, section 6.1) for naming Lua scripts. */
#include "sha1.h"

#include <stdint.h>
#include <string.h>

static uint32_t rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static void block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    uint32_t a, b, c, d, e;
    int t;

    for (t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (t = 16; t < 80; t++)
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];
    for (t = 0; t < 80; t++) {
        uint32_t f, k, tmp;

        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        tmp = rol(a, 5) + f + e + k + w[t];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sg__sha1_hex(const void *data, size_t len, char out[41])
{
    static const char hex[] = "0123456789abcdef";
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
                     0xc3d2e1f0u};
    const unsigned char *p = data;
    unsigned char tail[128];
    size_t rest = len % 64, full = len - rest, tail_len;
    uint64_t bits = (uint64_t)len * 8u;
    size_t i;
    int j;

    for (i = 0; i < full; i += 64)
        block(h, p + i);
    /* Padding: 0x80, zeros, then the length in bits, big-endian. */
    memset(tail, 0, sizeof tail);
    if (rest > 0)
        memcpy(tail, p + full, rest);
    tail[rest] = 0x80;
    tail_len = rest < 56 ? 64 : 128;
    for (j = 0; j < 8; j++)
        tail[tail_len - 1 - (size_t)j] = (unsigned char)(bits >> (8 * j));
    block(h, tail);
    if (tail_len == 128)
        block(h, tail + 64);
    for (j = 0; j < 5; j++) {
        int k;

        for (k = 0; k < 4; k++) {
            unsigned char byte = (unsigned char)(h[j] >> (24 - 8 * k));

            out[8 * j + 2 * k] = hex[byte >> 4];
            out[8 * j + 2 * k + 1] = hex[byte & 15];
        }
    }
    out[40] = '\0';
}
