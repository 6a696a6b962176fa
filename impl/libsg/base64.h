/*
 * base64.h: standard base64 with padding (RFC 4648 section 4), the text
 * form of *bytes* fields (SG-MP-006) and of bin in the JSON bridge.
 */
#ifndef SG_BASE64_H
#define SG_BASE64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Size that decoding len characters gives, assuming they are valid
 * base64 (looks only at the length and the padding). Needs src[0..len).
 */
size_t sg__base64_decoded_size(const char *src, size_t len);

/*
 * Decodes src[0..len) into dst (room for sg__base64_decoded_size bytes),
 * or only checks it when dst is NULL.
 * False when the text is not strict base64: a length that is not a
 * multiple of 4, a character outside the alphabet, misplaced '=', or
 * non-zero bits under the padding (SG-MP-006 asks for the canonical form).
 */
bool sg__base64_decode(const char *src, size_t len, uint8_t *dst);

/* Characters that encoding n bytes gives; SIZE_MAX on overflow. */
size_t sg__base64_encoded_size(size_t n);

/* Encodes src[0..n) into dst (room for sg__base64_encoded_size(n)). */
void sg__base64_encode(const uint8_t *src, size_t n, char *dst);

#endif /* SG_BASE64_H */
