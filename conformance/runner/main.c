/*
 * sg-conform: grades an implementation of a bus role against
 * protocol/SPEC.md, case by case, requirement by requirement.
 */
#define _DEFAULT_SOURCE

#include "conform.h"

#include <curl/curl.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SGC_SOURCE_DIR
#define SGC_SOURCE_DIR ""
#endif

#define MAX_PATTERNS 64
#define MAX_IUTS 8

static void usage(FILE *f)
{
    fprintf(f,
"usage: sg-conform --iut FILE [--iut FILE...] [options]\n"
"       sg-conform --list [-c PATTERN...]\n"
"\n"
"Runs the conformance cases of each implementation's role against it and\n"
"reports a verdict per case (PASS, NON-STRICT, FAIL, INFO, SKIP, XFAIL,\n"
"ERROR) with the requirement IDs it checks.\n"
"\n"
"  --iut FILE          implementation description (JSON; see README.md)\n"
"  -c, --case PATTERN  run cases whose ID matches (glob; repeatable)\n"
"  -x, --exclude PAT   skip cases whose ID matches (glob; repeatable)\n"
"  --list              list the cases (with -c/-x: the selected ones)\n"
"  --dry-run           show what would run, run nothing\n"
"  --coverage          print requirement coverage of the cases and exit\n"
"  --timeout S         per-case time limit in seconds (default 120; scaled)\n"
"  --time-scale F      multiply every knob and wait by F (default 1)\n"
"  --repeat N          run every selected case N times (default 1)\n"
"  --seed N            seed for the cases' random choices (default 1)\n"
"  --out DIR           reports and artefacts (default sg-conform-out)\n"
"  --bin-dir DIR       where the mocks are (default: sg-conform's folder)\n"
"  --requirements F    protocol/requirements.tsv (default: found from\n"
"                      $SG_SOURCE_DIR, the source tree, or upwards)\n"
"  --keep              keep the artefacts of passing cases too\n"
"  --strict            exit 1 on NON-STRICT as well\n"
"  --no-progress       no progress line on a terminal\n"
"  -v, --verbose       print passing findings too\n"
"  -h, --help          this text\n"
"\n"
"Reports in --out: results.jsonl, junit.xml, report.html, and\n"
"cases/<case>--<role>--r<n>/ (Redis MONITOR log, implementation stderr,\n"
"mock logs) for every case that did not pass.\n"
"Exit status: 0 every case passed (or SKIP/INFO/XFAIL/NON-STRICT), 1 a\n"
"case failed (or, with --repeat, a case's verdict changed between\n"
"repeats), 2 runner or case error, 3 nothing selected.\n");
}

static int matches(const char *id, char **pats, int n)
{
    for (int i = 0; i < n; i++)
        if (fnmatch(pats[i], id, 0) == 0 || strcmp(pats[i], id) == 0)
            return 1;
    return 0;
}

static int selected(const sgc_case *cs, char **inc, int ninc, char **exc,
                    int nexc)
{
    if (ninc > 0 && !matches(cs->id, inc, ninc))
        return 0;
    return !matches(cs->id, exc, nexc);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int find_reqs(char *out, size_t cap, const char *bindir)
{
    const char *env = getenv("SG_SOURCE_DIR");
    const char *bases[] = { env, SGC_SOURCE_DIR, NULL };
    for (int i = 0; i < 2; i++) {
        if (bases[i] && bases[i][0]) {
            snprintf(out, cap, "%s/protocol/requirements.tsv", bases[i]);
            if (file_exists(out))
                return 0;
        }
    }
    const char *starts[] = { ".", bindir };
    for (int s = 0; s < 2; s++) {
        char dir[SGC_PATH_MAX];
        if (realpath(starts[s], dir) == NULL)
            continue;
        for (int up = 0; up < 8; up++) {
            int n = snprintf(out, cap, "%s/protocol/requirements.tsv", dir);
            if (n > 0 && (size_t)n < cap && file_exists(out))
                return 0;
            char *slash = strrchr(dir, '/');
            if (slash == NULL || slash == dir)
                break;
            *slash = '\0';
        }
    }
    return -1;
}

static int mkdir_p(const char *path)
{
    char tmp[SGC_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "iut", required_argument, NULL, 'i' },
        { "case", required_argument, NULL, 'c' },
        { "exclude", required_argument, NULL, 'x' },
        { "list", no_argument, NULL, 'l' },
        { "dry-run", no_argument, NULL, 'n' },
        { "coverage", no_argument, NULL, 'C' },
        { "timeout", required_argument, NULL, 't' },
        { "time-scale", required_argument, NULL, 's' },
        { "repeat", required_argument, NULL, 'r' },
        { "seed", required_argument, NULL, 'S' },
        { "out", required_argument, NULL, 'o' },
        { "bin-dir", required_argument, NULL, 'b' },
        { "requirements", required_argument, NULL, 'R' },
        { "keep", no_argument, NULL, 'k' },
        { "strict", no_argument, NULL, 'T' },
        { "no-progress", no_argument, NULL, 'P' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    char *iut_paths[MAX_IUTS];
    int niut = 0;
    char *inc[MAX_PATTERNS], *exc[MAX_PATTERNS];
    int ninc = 0, nexc = 0;
    int list = 0, dry = 0, coverage = 0, strict = 0, progress = 1;
    const char *reqs_path = NULL, *bin_dir = NULL;
    sgc_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.out_dir = "sg-conform-out";
    opts.time_scale = 1.0;
    opts.case_timeout_s = 120;
    opts.seed = 1;
    opts.repeat = 1;

    int ch;
    while ((ch = getopt_long(argc, argv, "c:x:vh", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'i':
            if (niut == MAX_IUTS) {
                fprintf(stderr, "sg-conform: at most %d --iut\n", MAX_IUTS);
                return 2;
            }
            iut_paths[niut++] = optarg;
            break;
        case 'c':
        case 'x':
            if ((ch == 'c' ? ninc : nexc) == MAX_PATTERNS) {
                fprintf(stderr, "sg-conform: too many patterns\n");
                return 2;
            }
            if (ch == 'c')
                inc[ninc++] = optarg;
            else
                exc[nexc++] = optarg;
            break;
        case 'l': list = 1; break;
        case 'n': dry = 1; break;
        case 'C': coverage = 1; break;
        case 't':
            errno = 0;
            opts.case_timeout_s = (int)strtol(optarg, &end, 10);
            if (errno || *end || opts.case_timeout_s < 1 ||
                opts.case_timeout_s > 3600) {
                fprintf(stderr, "sg-conform: --timeout must be 1..3600 "
                        "seconds, not \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 's':
            errno = 0;
            opts.time_scale = strtod(optarg, &end);
            if (errno || *end || !(opts.time_scale >= 0.1) ||
                opts.time_scale > 1000) {
                fprintf(stderr, "sg-conform: --time-scale must be 0.1..1000, "
                        "not \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'r':
            errno = 0;
            opts.repeat = (int)strtol(optarg, &end, 10);
            if (errno || *end || opts.repeat < 1 || opts.repeat > 1000) {
                fprintf(stderr, "sg-conform: --repeat must be 1..1000\n");
                return 2;
            }
            break;
        case 'S':
            errno = 0;
            opts.seed = strtoul(optarg, &end, 10);
            if (errno || *end) {
                fprintf(stderr, "sg-conform: --seed must be a number\n");
                return 2;
            }
            break;
        case 'o': opts.out_dir = optarg; break;
        case 'b': bin_dir = optarg; break;
        case 'R': reqs_path = optarg; break;
        case 'k': opts.keep_all = 1; break;
        case 'T': strict = 1; break;
        case 'P': progress = 0; break;
        case 'v': opts.verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sg-conform: unexpected argument \"%s\"\n",
                argv[optind]);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    char selfdir[SGC_PATH_MAX];
    {
        char self[SGC_PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            snprintf(self, sizeof self, "%s", argv[0]);
        else
            self[n] = '\0';
        snprintf(selfdir, sizeof selfdir, "%s", dirname(self));
    }
    /* Absolute, since instances run in their own working folder. */
    static char bindir_abs[SGC_PATH_MAX];
    if (bin_dir && realpath(bin_dir, bindir_abs) == NULL) {
        fprintf(stderr, "sg-conform: --bin-dir %s: %s\n", bin_dir,
                strerror(errno));
        return 2;
    }
    opts.bin_dir = bin_dir ? bindir_abs : selfdir;

    char reqbuf[SGC_PATH_MAX];
    if (reqs_path == NULL) {
        if (find_reqs(reqbuf, sizeof reqbuf, opts.bin_dir) != 0) {
            fprintf(stderr, "sg-conform: cannot find protocol/"
                    "requirements.tsv; give --requirements\n");
            return 2;
        }
        reqs_path = reqbuf;
    }
    sgc_reqs reqs;
    char err[512];
    if (sgc_reqs_load(&reqs, reqs_path, err, sizeof err) != 0) {
        fprintf(stderr, "sg-conform: %s\n", err);
        return 2;
    }
    opts.reqs_path = reqs_path;

    size_t ncases;
    const sgc_case *cases = sgc_cases(&ncases);
    /* Every ID a case names must exist in the table. */
    for (size_t i = 0; i < ncases; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", cases[i].reqs);
        char *save = NULL;
        for (char *t = strtok_r(buf, " ", &save); t;
             t = strtok_r(NULL, " ", &save))
            if (sgc_reqs_find(&reqs, t) == NULL) {
                fprintf(stderr, "sg-conform: case %s names %s, which "
                        "%s does not hold\n", cases[i].id, t, reqs_path);
                sgc_reqs_free(&reqs);
                return 2;
            }
    }

    if (coverage) {
        sgc_print_coverage(&reqs, stdout);
        sgc_reqs_free(&reqs);
        return 0;
    }
    if (list) {
        int n = 0;
        for (size_t i = 0; i < ncases; i++) {
            if (!selected(&cases[i], inc, ninc, exc, nexc))
                continue;
            n++;
            printf("%-44s %-8s %s\n    %s%s%s\n", cases[i].id,
                   cases[i].role, cases[i].title, cases[i].reqs,
                   cases[i].caps ? "  needs: " : "",
                   cases[i].caps ? cases[i].caps : "");
        }
        sgc_reqs_free(&reqs);
        if (n == 0) {
            fprintf(stderr, "sg-conform: no case selected\n");
            return 3;
        }
        return 0;
    }
    if (niut == 0) {
        fprintf(stderr, "sg-conform: give --iut FILE (or --list)\n");
        sgc_reqs_free(&reqs);
        return 2;
    }

    sgc_iut iuts[MAX_IUTS];
    for (int i = 0; i < niut; i++) {
        if (sgc_iut_load(&iuts[i], iut_paths[i], opts.bin_dir, err,
                         sizeof err) != 0) {
            fprintf(stderr, "sg-conform: %s\n", err);
            for (int j = 0; j < i; j++)
                sgc_iut_free(&iuts[j]);
            sgc_reqs_free(&reqs);
            return 2;
        }
    }

    /* The plan: each IUT with the selected cases of its role. */
    size_t planned = 0;
    for (int i = 0; i < niut; i++)
        for (size_t k = 0; k < ncases; k++)
            if (strcmp(cases[k].role, iuts[i].role) == 0 &&
                selected(&cases[k], inc, ninc, exc, nexc))
                planned++;
    int rc = 0;
    if (planned == 0) {
        fprintf(stderr, "sg-conform: no case selected for the given "
                "implementations\n");
        rc = 3;
        goto out;
    }
    planned *= (size_t)opts.repeat;
    if (dry) {
        for (int r = 0; r < opts.repeat; r++)
            for (int i = 0; i < niut; i++)
                for (size_t k = 0; k < ncases; k++)
                    if (strcmp(cases[k].role, iuts[i].role) == 0 &&
                        selected(&cases[k], inc, ninc, exc, nexc))
                        printf("would run %-44s against %s%s\n",
                               cases[k].id, iuts[i].name,
                               opts.repeat > 1 ? " (repeated)" : "");
        printf("%zu runs planned\n", planned);
        goto out;
    }
    if (mkdir_p(opts.out_dir) != 0) {
        fprintf(stderr, "sg-conform: cannot create %s: %s\n", opts.out_dir,
                strerror(errno));
        rc = 2;
        goto out;
    }
    opts.tty = progress && isatty(2);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    sgc_report report;
    memset(&report, 0, sizeof report);
    size_t done = 0;
    int serial = 0;
    for (int r = 0; r < opts.repeat; r++)
        for (int i = 0; i < niut; i++)
            for (size_t k = 0; k < ncases; k++) {
                if (strcmp(cases[k].role, iuts[i].role) != 0 ||
                    !selected(&cases[k], inc, ninc, exc, nexc))
                    continue;
                if (opts.tty)
                    fprintf(stderr, "\r\033[K[%zu/%zu] %s ...", done + 1,
                            planned, cases[k].id);
                sgc_result res;
                sgc_run_case(&cases[k], &iuts[i], &opts, &reqs, ++serial, r,
                             &res);
                done++;
                if (opts.tty)
                    fprintf(stderr, "\r\033[K");
                sgc_print_result(&res, &reqs, isatty(1));
                if (opts.verbose)
                    for (int f = 0; f < res.nfindings; f++)
                        if (res.findings[f].ok && !res.findings[f].info)
                            printf("    ok %s: %s\n", res.findings[f].req,
                                   res.findings[f].expected);
                sgc_report_add(&report, &res);
            }

    int counts[7] = { 0 };
    for (size_t i = 0; i < report.n; i++)
        counts[report.v[i].verdict]++;
    /* With --repeat, every repeat of a case must give the same verdict. */
    int unstable = 0;
    for (size_t i = 0; opts.repeat > 1 && i < report.n; i++) {
        const sgc_result *a = &report.v[i];
        if (a->rep != 0)
            continue;
        int differs = 0;
        for (size_t j = i + 1; j < report.n; j++) {
            const sgc_result *b = &report.v[j];
            if (strcmp(a->case_id, b->case_id) == 0 &&
                strcmp(a->iut, b->iut) == 0 && a->verdict != b->verdict)
                differs = 1;
        }
        if (!differs)
            continue;
        unstable++;
        printf("UNSTABLE   %s (%s):", a->case_id, a->iut);
        for (size_t j = i; j < report.n; j++)
            if (strcmp(a->case_id, report.v[j].case_id) == 0 &&
                strcmp(a->iut, report.v[j].iut) == 0)
                printf(" %s", sgc_verdict_name(report.v[j].verdict));
        printf("\n");
    }
    printf("\n");
    for (int v = 0; v < 7; v++)
        printf("%s %d%s", sgc_verdict_name((sgc_verdict)v), counts[v],
               v < 6 ? ", " : "\n");
    sgc_print_coverage(&reqs, stdout);

    char path[SGC_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/results.jsonl", opts.out_dir);
    if (sgc_write_jsonl(&report, path) != 0)
        fprintf(stderr, "sg-conform: cannot write %s\n", path);
    snprintf(path, sizeof path, "%s/junit.xml", opts.out_dir);
    if (sgc_write_junit(&report, path) != 0)
        fprintf(stderr, "sg-conform: cannot write %s\n", path);
    snprintf(path, sizeof path, "%s/report.html", opts.out_dir);
    if (sgc_write_html(&report, &reqs, path) != 0)
        fprintf(stderr, "sg-conform: cannot write %s\n", path);
    printf("reports: %s/{results.jsonl,junit.xml,report.html}\n",
           opts.out_dir);

    if (unstable)
        printf("%d case(s) gave different verdicts across %d repeats\n",
               unstable, opts.repeat);
    if (counts[SGC_FAIL] || unstable || (strict && counts[SGC_NONSTRICT]))
        rc = 1;
    else if (counts[SGC_ERROR])
        rc = 2;
    sgc_report_free(&report);
    curl_global_cleanup();
out:
    for (int i = 0; i < niut; i++)
        sgc_iut_free(&iuts[i]);
    sgc_reqs_free(&reqs);
    return rc;
}
