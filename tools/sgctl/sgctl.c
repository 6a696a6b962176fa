/*
 * sgctl.c: the program: common options, then one subcommand.
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <getopt.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(sgctl *c, int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", sgctl_cmd_info,
     "streams, groups, consumers, pending, dead letters, locks, leases"},
    {"publish", sgctl_cmd_publish,
     "validate an envelope given as JSON and publish it"},
    {"tail", sgctl_cmd_tail, "print entries as they arrive, decoded"},
    {"capture", sgctl_cmd_capture, "record streams to a capture file"},
    {"replay", sgctl_cmd_replay, "replay a capture file into a Redis"},
    {"dlq", sgctl_cmd_dlq,
     "list, show, requeue and purge dead-letter entries"},
};

static void usage(sgctl *c, FILE *f)
{
    size_t i;

    (void)c;
    fputs("Usage: sgctl [options] <command> [command options]\n\n"
          "The operator's tool for the Stargazer bus (protocol/SPEC.md).\n\n"
          "Commands:\n", f);
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'sgctl <command> --help' describes a command.\n\n", f);
    fputs(SGCTL_COMMON_HELP, f);
    fputs("      --version        print the version\n\n"
          "Exit codes: 0 ok; 1 failure or nothing found; 2 usage or\n"
          "configuration error; 3 Redis unreachable; 4 input rejected\n"
          "(an envelope, a capture file).\n", f);
}

int sgctl_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option longopts[] = {
        SGCTL_COMMON_LONGOPTS,
        {"version", no_argument, NULL, SGCTL_OPT_FIRST_FREE},
        {NULL, 0, NULL, 0}
    };
    sgctl c;
    size_t i;
    int opt, rc;

    rc = sgctl_init(&c, out, err);
    if (rc != 0)
        return rc;
    sgctl_getopt_reset();
    while ((opt = getopt_long(argc, argv, "+" SGCTL_COMMON_SHORTOPTS,
                              longopts, NULL)) != -1) {
        if (opt == SGCTL_OPT_FIRST_FREE) {
            fprintf(out, "sgctl %s\n", SGCTL_VERSION);
            return SGCTL_EXIT_OK;
        }
        rc = sgctl_common_opt(&c, NULL, opt, optarg);
        if (rc < 0)
            return SGCTL_EXIT_USAGE;
        if (rc == 0)
            return sgctl_bad_option(&c, NULL, argv);
    }
    if (c.help) {
        usage(&c, out);
        return SGCTL_EXIT_OK;
    }
    if (optind >= argc) {
        usage(&c, err);
        return SGCTL_EXIT_USAGE;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            sgctl_getopt_reset();
            rc = commands[i].run(&c, subc, sub);
            sgctl_disconnect(&c);
            fflush(out);
            return rc;
        }
    }
    sgctl_errorf(&c, NULL, "unknown command '%s' (see sgctl --help)",
                 argv[optind]);
    return SGCTL_EXIT_USAGE;
}
