/*
 * sg-bench: benchmarks of libsg, one subcommand each.
 *
 *     sg-bench <subcommand> [options]
 *     sg-bench --help
 *     sg-bench <subcommand> --help
 *
 * A subcommand prints its results as one JSON line on stdout, so that runs
 * can be collected and compared by a script. Adding one is a file with its
 * bench_main_fn and a line in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

typedef struct subcommand {
    const char *name;
    const char *summary;
    bench_main_fn *main;
} subcommand;

static const subcommand subcommands[] = {
    { "codec", "encode and decode+validate of typical envelopes",
      bench_codec_main },
    { "runtime", "consumer engine end to end: no-op handler, real Redis",
      bench_runtime_main },
    { "e2e", "the reference stack end to end: gateway, workers, mocks",
      bench_e2e_main },
};

#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
    size_t i;

    fputs("usage: sg-bench <subcommand> [options]\n"
          "       sg-bench <subcommand> --help\n"
          "\n"
          "Each subcommand prints its results as one JSON line.\n"
          "\n"
          "subcommands:\n", f);
    for (i = 0; i < NSUBCOMMANDS; i++) {
        fprintf(f, "  %-10s %s\n", subcommands[i].name,
                subcommands[i].summary);
    }
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (i = 0; i < NSUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            return subcommands[i].main(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "sg-bench: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
