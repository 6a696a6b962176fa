/*
 * Replay driver: the main() of a fuzz harness in builds without libFuzzer.
 *
 *     fuzz_<name> [PATH...]
 *
 * Every PATH that is a file is fed to LLVMFuzzerTestOneInput once; every
 * PATH that is a folder is walked (sorted, recursively) and each file in it
 * is fed the same way. Arguments that start with '-' are libFuzzer flags
 * and are ignored, so one command line serves both kinds of build.
 *
 * The driver itself always exits 0: a harness reports a bad input by
 * crashing or aborting, and the sanitizers or memcheck around it turn that
 * into the failure. A path that does not exist is reported and skipped.
 */

/* scandir() and alphasort() are POSIX.1-2008. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A folder nested deeper than this is a symlink loop, not a corpus. */
#define REPLAY_MAX_DEPTH 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A harness may define LLVMFuzzerInitialize (to cap its allocator, say).
 * Declared weak, its address is null when the harness does not.
 */
#if defined(__GNUC__)
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
#endif

typedef struct replay_stats {
    size_t inputs;
    size_t skipped;
} replay_stats;

static void replay_path(const char *path, int depth, replay_stats *stats);

/*
 * Reads a whole file into a buffer of exactly its size, so that a harness
 * reading one byte too far touches memory the sanitizers watch. The empty
 * file gets a one-byte buffer: LLVMFuzzerTestOneInput is never given null.
 */
static int read_input(const char *path, uint8_t **out, size_t *out_size)
{
    struct stat st;
    FILE *f;
    uint8_t *buf;
    size_t size;

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return -1;
    }
    size = (size_t)st.st_size;
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    if (size > 0 && fread(buf, 1, size, f) != size) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *out_size = size;
    return 0;
}

static void replay_file(const char *path, replay_stats *stats)
{
    uint8_t *data;
    size_t size;

    if (read_input(path, &data, &size) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path,
                strerror(errno));
        stats->skipped++;
        return;
    }
    /* Name the input first: if it crashes, this is the last line shown. */
    fprintf(stderr, "Running: %s\n", path);
    fflush(stderr);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    stats->inputs++;
}

static int skip_dots(const struct dirent *entry)
{
    return strcmp(entry->d_name, ".") != 0
        && strcmp(entry->d_name, "..") != 0;
}

static void replay_dir(const char *path, int depth, replay_stats *stats)
{
    struct dirent **names;
    int count;
    int i;

    count = scandir(path, &names, skip_dots, alphasort);
    if (count < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", path,
                strerror(errno));
        stats->skipped++;
        return;
    }
    for (i = 0; i < count; i++) {
        size_t len = strlen(path) + 1 + strlen(names[i]->d_name) + 1;
        char *child = malloc(len);
        int n;

        if (child == NULL) {
            fprintf(stderr, "replay: out of memory under %s\n", path);
            stats->skipped++;
        } else {
            n = snprintf(child, len, "%s/%s", path, names[i]->d_name);
            if (n >= 0 && (size_t)n < len) {
                replay_path(child, depth + 1, stats);
            }
            free(child);
        }
        free(names[i]);
    }
    free(names);
}

static void replay_path(const char *path, int depth, replay_stats *stats)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: skipping %s: %s\n", path, strerror(errno));
        stats->skipped++;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        if (depth >= REPLAY_MAX_DEPTH) {
            fprintf(stderr, "replay: skipping %s: nested too deep\n", path);
            stats->skipped++;
            return;
        }
        replay_dir(path, depth, stats);
    } else {
        replay_file(path, stats);
    }
}

int main(int argc, char **argv)
{
    replay_stats stats = {0, 0};
    uint8_t empty = 0;
    int i;

#if defined(__GNUC__)
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
#endif

    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            continue;
        }
        replay_path(argv[i], 0, &stats);
    }

    /* Like libFuzzer with an empty corpus: the empty input always runs. */
    if (stats.inputs == 0) {
        LLVMFuzzerTestOneInput(&empty, 0);
        printf("replay: no inputs found; ran the empty input\n");
    } else {
        printf("replay: ran %zu inputs\n", stats.inputs);
    }
    if (stats.skipped > 0) {
        printf("replay: skipped %zu paths (see above)\n", stats.skipped);
    }
    return 0;
}
