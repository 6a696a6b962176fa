/*
 * base64.c: standard base64 with padding.
 */
#include "base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for a base64 character, 64 for '=', 255 for anything else. */
static int8_t
sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (int8_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (int8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (int8_t)(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '=')
        return 64;
    return -1;
}

size_t
sg__base64_decoded_size(const char *src, size_t len)
{
    size_t n = len / 4 * 3;

    if (len >= 4 && len % 4 == 0) {
        if (src[len - 1] == '=')
            n--;
        if (src[len - 2] == '=')
            n--;
    }
    return n;
}

bool
sg__base64_decode(const char *src, size_t len, uint8_t *dst)
{
    size_t i;

    if (len % 4 != 0)
        return false;
    for (i = 0; i < len; i += 4) {
        int a = sextet((unsigned char)src[i]);
        int b = sextet((unsigned char)src[i + 1]);
        int c = sextet((unsigned char)src[i + 2]);
        int d = sextet((unsigned char)src[i + 3]);
        bool last = i + 4 == len;

        if (a < 0 || b < 0 || c < 0 || d < 0 || a == 64 || b == 64)
            return false;
        /* '=' only in the last group: "xx==" or "xxx=". */
        if ((c == 64 || d == 64) && !last)
            return false;
        if (c == 64 && d != 64)
            return false;
        /* The bits under the padding must be zero (canonical form). */
        if ((c == 64 && (b & 15) != 0) || (c != 64 && d == 64 && (c & 3) != 0))
            return false;
        if (dst == NULL)
            continue;
        *dst++ = (uint8_t)(a << 2 | b >> 4);
        if (c == 64)
            break;
        *dst++ = (uint8_t)((b & 15) << 4 | c >> 2);
        if (d == 64)
            break;
        *dst++ = (uint8_t)((c & 3) << 6 | d);
    }
    return true;
}

size_t
sg__base64_encoded_size(size_t n)
{
    if (n / 3 >= SIZE_MAX / 4 - 1)
        return SIZE_MAX;
    return (n + 2) / 3 * 4;
}

void
sg__base64_encode(const uint8_t *src, size_t n, char *dst)
{
    size_t i;

    for (i = 0; i + 3 <= n; i += 3) {
        *dst++ = alphabet[src[i] >> 2];
        *dst++ = alphabet[(src[i] & 3) << 4 | src[i + 1] >> 4];
        *dst++ = alphabet[(src[i + 1] & 15) << 2 | src[i + 2] >> 6];
        *dst++ = alphabet[src[i + 2] & 63];
    }
    if (n - i == 1) {
        *dst++ = alphabet[src[i] >> 2];
        *dst++ = alphabet[(src[i] & 3) << 4];
        *dst++ = '=';
        *dst++ = '=';
    } else if (n - i == 2) {
        *dst++ = alphabet[src[i] >> 2];
        *dst++ = alphabet[(src[i] & 3) << 4 | src[i + 1] >> 4];
        *dst++ = alphabet[(src[i + 1] & 15) << 2];
        *dst++ = '=';
    }
}
