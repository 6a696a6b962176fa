/*
 * bench.c: helpers shared by the sg-bench subcommands.
 */
/* clock_gettime() is POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    if (n % 2 == 1) {
        return v[n / 2];
    }
    return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

int bench_parse_count(const char *opt, const char *text, unsigned long min,
                      unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    /* strtoul accepts a sign and wraps "-1" round; a count has neither. */
    if (text[0] < '0' || text[0] > '9') {
        fprintf(stderr, "sg-bench: %s wants a whole number, not '%s'\n",
                opt, text);
        return -1;
    }
    errno = 0;
    v = strtoul(text, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "sg-bench: %s wants a whole number from %lu to "
                "%lu, not '%s'\n", opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_seconds(const char *opt, const char *text, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !isfinite(v)
        || v <= 0.0 || v > 3600.0) {
        fprintf(stderr, "sg-bench: %s wants seconds above 0 and up to "
                "3600, not '%s'\n", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

const char *bench_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

const char *bench_build_type(void)
{
#ifdef SG_BENCH_BUILD_TYPE
    if (SG_BENCH_BUILD_TYPE[0] != '\0') {
        return SG_BENCH_BUILD_TYPE;
    }
#endif
    return "none";
}
