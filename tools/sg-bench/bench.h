/*
 * bench.h: what the subcommands of sg-bench share: their entry points,
 * the clock, medians, option parsing and the build's description.
 */
#ifndef SG_BENCH_H
#define SG_BENCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * A subcommand: argv[0] is its name, the options follow. Returns the exit
 * status: 0, 1 when the benchmark cannot run or its results are wrong, 2
 * for a usage error (after printing the usage to stderr).
 */
typedef int bench_main_fn(int argc, char **argv);

bench_main_fn bench_codec_main;
bench_main_fn bench_runtime_main;
bench_main_fn bench_e2e_main;

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* The median of v[0..n) (n > 0); sorts v in place. */
double bench_median(double *v, size_t n);

/*
 * Parses a whole decimal count in [min, max] for option `opt`. Returns 0,
 * or prints the reason to stderr and returns -1.
 */
int bench_parse_count(const char *opt, const char *text, unsigned long min,
                      unsigned long max, unsigned long *out);

/* Parses a positive number of seconds, as bench_parse_count does. */
int bench_parse_seconds(const char *opt, const char *text, double *out);

/* "gcc 12.2.0", "clang 14.0.6": the compiler that built sg-bench. */
const char *bench_compiler(void);

/* CMake's build type of sg-bench ("Release"), or "none". */
const char *bench_build_type(void);

#endif /* SG_BENCH_H */
