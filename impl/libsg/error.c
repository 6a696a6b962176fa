/*
 * error.c: the texts of the error and reason tables, and filling an
 * sg_error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sg/error.h"
#include "error_internal.h"

const char *
sg_strerror(int code)
{
    switch (code) {
#define SG__ERRNO_TEXT(name, value, msg) case SG_##name: return msg;
    SG_ERRNO_MAP(SG__ERRNO_TEXT)
#undef SG__ERRNO_TEXT
    default:
        return "unknown error";
    }
}

const char *
sg_err_name(int code)
{
    switch (code) {
#define SG__ERRNO_NAME(name, value, msg) case SG_##name: return #name;
    SG_ERRNO_MAP(SG__ERRNO_NAME)
#undef SG__ERRNO_NAME
    default:
        return "UNKNOWN";
    }
}

static const char *const reason_names[] = {
#define SG__REASON_STR(name, str) str,
    SG_REASON_MAP(SG__REASON_STR)
#undef SG__REASON_STR
};

const char *
sg_reason_name(int reason)
{
    if (reason < 0 || reason >= SG_REASON__COUNT)
        return NULL;
    return reason_names[reason];
}

int
sg_reason_from_name(const char *name, size_t len)
{
    int i;

    if (name == NULL)
        return -1;
    for (i = 0; i < SG_REASON__COUNT; i++) {
        if (strlen(reason_names[i]) == len
            && memcmp(reason_names[i], name, len) == 0)
            return i;
    }
    return -1;
}

void
sg_error_clear(sg_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->reason = SG_REASON_NONE;
    err->path[0] = '\0';
    err->msg[0] = '\0';
}

int
sg__error_set(sg_error *err, int code, int reason, const char *path,
              const char *fmt, ...)
{
    va_list ap;
    size_t plen = 0;
    int n;

    if (err == NULL)
        return code;
    err->code = code;
    err->reason = reason;
    err->path[0] = '\0';
    err->msg[0] = '\0';
    if (path != NULL) {
        plen = strlen(path);
        if (plen >= sizeof(err->path))
            plen = sizeof(err->path) - 1;
        memcpy(err->path, path, plen);
        err->path[plen] = '\0';
    }
    if (plen > 0) {
        n = snprintf(err->msg, sizeof(err->msg), "%s: ", err->path);
        /* A path always fits in msg (160 < 256), but stay defensive. */
        if (n < 0 || (size_t)n >= sizeof(err->msg))
            return code;
    } else {
        n = 0;
    }
    va_start(ap, fmt);
    /* Truncation of a long message is acceptable: it is for humans. */
    (void)vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}
