/*
 * error_internal.h: filling an sg_error inside the library.
 */
#ifndef SG_ERROR_INTERNAL_H
#define SG_ERROR_INTERNAL_H

#include "sg/error.h"

#if defined(__GNUC__) || defined(__clang__)
#define SG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SG__PRINTF(f, a)
#endif

/*
 * Sets err (when not NULL) to code, reason and path (NULL: none) and a
 * message "<path>: <fmt...>". Returns code, so a failing function can
 * `return sg__error_set(...)`.
 */
int sg__error_set(sg_error *err, int code, int reason, const char *path,
                  const char *fmt, ...) SG__PRINTF(5, 6);

#endif /* SG_ERROR_INTERNAL_H */
