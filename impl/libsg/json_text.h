/*
 * json_text.h: JSON text that crosses Redis outside envelopes (RPC replies,
 * configuration events): a bounded parser front end and a small writer.
 *
 * Parsing bounds the input before cJSON allocates anything (house rule 5):
 * the length, NUL bytes and the nesting depth are checked on the raw text
 * first, because cJSON's own nesting limit (1000) is far above ours and it
 * allocates as it goes.
 */
#ifndef SG_JSON_TEXT_H
#define SG_JSON_TEXT_H

#include <stddef.h>

#include "sg/error.h"
#include "sg/mem.h"

struct cJSON;

/*
 * Parses text[0..len) as exactly one JSON value; text[len] must be a NUL
 * (hiredis replies and sg_buf texts written here end with one). Before
 * parsing: more than max_bytes is entry_too_large, a NUL byte inside is
 * invalid_json, arrays and objects nested deeper than max_depth are
 * too_deep. Then anything cJSON does not accept, trailing bytes included,
 * is invalid_json.
 *
 * 0 and *out a new tree that the caller frees with cJSON_Delete() (inside
 * libsg only: public functions hand trees out borrowed). Otherwise
 * SG_EDECODE with err's reason set and its path set to `path`; *out is
 * NULL. cJSON does not tell a failed allocation from bad text, so an
 * allocation failure also reads as invalid_json.
 */
int sg__json_parse(const char *text, size_t len, size_t max_bytes,
                   int max_depth, const char *path, struct cJSON **out,
                   sg_error *err);

/*
 * Appends s[0..n) as a JSON string literal, quotes included. s must be
 * valid UTF-8 (SG_EINVAL otherwise); control characters, the quote and
 * the backslash are escaped, everything else is copied. 0, SG_EINVAL or
 * SG_ENOMEM; on failure b->len is unchanged.
 */
int sg__json_put_str(sg_buf *b, const char *s, size_t n);

/* Appends the C string s as is. 0 or SG_ENOMEM. */
int sg__json_put_raw(sg_buf *b, const char *s);

/*
 * Appends a finite number in the shortest form that reads back the same
 * (up to 17 significant digits). 0, SG_EINVAL (NaN, infinite) or
 * SG_ENOMEM.
 */
int sg__json_put_number(sg_buf *b, double v);

/*
 * Appends a NUL that b->len does not count, so that (char *)b->data is a
 * C string. 0 or SG_ENOMEM.
 */
int sg__json_terminate(sg_buf *b);

#endif /* SG_JSON_TEXT_H */
