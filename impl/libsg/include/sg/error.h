/*
 * sg/error.h: error codes, the protocol's reason codes, and the error
 * detail a caller passes to every fallible call.
 *
 * Every libsg function that can fail returns an int: 0 (SG_OK) on success,
 * a negative SG_E... code otherwise. Detail (the spec's reason code, the
 * field path, a message naming the field and the limit) is written into an
 * sg_error the caller passes; no libsg function keeps error state in a
 * global.
 */
#ifndef SG_ERROR_H
#define SG_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X(name, value, message). Values are stable; new codes take the next free
 * value. -1 to -99 are library codes; -100 and below are left to programs
 * built on libsg.
 */
#define SG_ERRNO_MAP(X)                                                     \
    X(OK,        0,  "success")                                             \
    X(ENOMEM,   -1,  "out of memory")                                       \
    X(EINVAL,   -2,  "invalid argument")                                    \
    X(EDECODE,  -3,  "input rejected by the codec")                         \
    X(EINVALID, -4,  "envelope does not satisfy its field table")           \
    X(EREDIS,   -5,  "redis error")                                         \
    X(ETIMEOUT, -6,  "timed out")                                           \
    X(EIO,      -7,  "i/o error")                                           \
    X(ECLOSED,  -8,  "connection closed")                                   \
    X(ENOTFOUND, -9, "not found")

typedef enum sg_errno {
#define SG__ERRNO_ENUM(name, value, msg) SG_##name = (value),
    SG_ERRNO_MAP(SG__ERRNO_ENUM)
#undef SG__ERRNO_ENUM
    SG__ERRNO_MIN = -10
} sg_errno;

/*
 * The reason codes of SPEC section 6, in the spec's order. The name given
 * here is the exact string of the spec (it appears in dead-letter entries
 * and test vectors). SG_REASON_NONE (0) means "no rejection".
 */
#define SG_REASON_MAP(X)                                                    \
    X(NONE,             "none")                                             \
    X(MISSING_FIELD,    "missing_field")                                    \
    X(WRONG_TYPE,       "wrong_type")                                       \
    X(UNKNOWN_VERSION,  "unknown_version")                                  \
    X(UNKNOWN_TYPE,     "unknown_type")                                     \
    X(INVALID_MSGPACK,  "invalid_msgpack")                                  \
    X(TRUNCATED,        "truncated")                                        \
    X(TRAILING_BYTES,   "trailing_bytes")                                   \
    X(NOT_MAP,          "not_map")                                          \
    X(INVALID_UTF8,     "invalid_utf8")                                     \
    X(DUPLICATE_KEY,    "duplicate_key")                                    \
    X(ENTRY_TOO_LARGE,  "entry_too_large")                                  \
    X(STRING_TOO_LONG,  "string_too_long")                                  \
    X(BINARY_TOO_LARGE, "binary_too_large")                                 \
    X(ARRAY_TOO_LONG,   "array_too_long")                                   \
    X(MAP_TOO_LARGE,    "map_too_large")                                    \
    X(TOO_DEEP,         "too_deep")                                         \
    X(OUT_OF_RANGE,     "out_of_range")                                     \
    X(INVALID_VALUE,    "invalid_value")                                    \
    X(INVALID_JSON,     "invalid_json")

typedef enum sg_reason {
#define SG__REASON_ENUM(name, str) SG_REASON_##name,
    SG_REASON_MAP(SG__REASON_ENUM)
#undef SG__REASON_ENUM
    SG_REASON__COUNT
} sg_reason;

/*
 * Detail of a failed call. `code` repeats the returned SG_E... code.
 * For SG_EDECODE and SG_EINVALID, `reason` is an sg_reason and `path` the
 * spec's field path (e.g. "data.attachments[2].mimetype"); otherwise
 * reason is SG_REASON_NONE and path is empty. `msg` is a human sentence
 * naming the field and, for limits, the size and the limit. Both strings
 * are always NUL-terminated; an over-long path is cut short.
 */
typedef struct sg_error {
    int code;
    int reason;
    char path[160];
    char msg[256];
} sg_error;

/* Static English text of an SG_E... code; "unknown error" for others. */
const char *sg_strerror(int code);

/* Name of an SG_E... code without the prefix, e.g. "EDECODE". */
const char *sg_err_name(int code);

/* Spec string of a reason code ("missing_field"); NULL when out of range. */
const char *sg_reason_name(int reason);

/*
 * The reason code whose spec string is name[0..len), or -1 when there is
 * none. name need not be NUL-terminated.
 */
int sg_reason_from_name(const char *name, size_t len);

/* Resets *err to "no error" (code 0, reason none, empty strings). */
void sg_error_clear(sg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SG_ERROR_H */
