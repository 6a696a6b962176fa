/*
 * fuzz_inference_config: sg-inference's configuration loader
 * (impl/inference/config.c, included whole so that the harness can walk
 * its table of keys): the JSON file named by SG_INFERENCE_CONFIG, then
 * the SG_LLM_* variables over it, as sgi_config_load() reads them.
 *
 * sg-fuzz-links: sg_inference_core
 * (for its libraries, libm among them; nothing of it is pulled in, since
 * the file included here defines all that the harness calls)
 *
 * Input: a mode byte, then the file's bytes, then optionally a 0xff byte
 * and the variables, one NAME=value per line. The file is written to a
 * temporary file, which the loader reads by its path. Mode bit 0: no
 * SG_INFERENCE_CONFIG (the variables alone).
 *
 * Checks:
 * - a refused configuration leaves the one given unchanged and explains
 *   itself in a NUL-terminated message that names what was wrong
 *   (SG_INFERENCE_CONFIG..., or the SG_LLM_ variable), never -1 with an
 *   empty message;
 * - an accepted one has every number in its key's range (whole where the
 *   key is an integer), every string NUL-terminated within its buffer,
 *   a base_url starting with http:// or https://, a model, and a system
 *   prompt within its limit;
 * - a key given in the file and by no variable holds the file's value
 *   (the last one, when the file gives a key twice).
 * The loader allocates with malloc and cJSON with its hooks; LeakSanitizer
 * and memcheck watch those.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <unistd.h>

#include "../impl/inference/config.c"

#define SEPARATOR 0xff
#define MAX_VARS 32

static char config_path[256];

typedef struct vars {
    char *text;                 /* the lines, NUL-separated */
    const char *name[MAX_VARS];
    const char *value[MAX_VARS];
    size_t n;
    int with_file;
} vars;

static void remove_config(void)
{
    if (config_path[0] != '\0')
        unlink(config_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("TMPDIR");
    int fd, n;

    (void)argc;
    (void)argv;
    fuzz_heap_init();
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    n = snprintf(config_path, sizeof config_path,
                 "%s/sg-fuzz-config-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof config_path)
        fuzz_fail("TMPDIR is too long");
    fd = mkstemp(config_path);
    if (fd < 0)
        fuzz_fail("cannot create a temporary file in %s", dir);
    close(fd);
    atexit(remove_config);
    return 0;
}

static const char *lookup(const char *name, void *ud)
{
    const vars *v = ud;
    size_t i;

    if (strcmp(name, "SG_INFERENCE_CONFIG") == 0)
        return v->with_file ? config_path : NULL;
    for (i = v->n; i > 0; i--)
        if (strcmp(v->name[i - 1], name) == 0)
            return v->value[i - 1];
    return NULL;
}

/* Splits "NAME=value\n..." into v (the text is copied, then cut). */
static void read_vars(vars *v, const uint8_t *p, size_t n)
{
    char *s, *line, *eq;

    v->n = 0;
    v->text = malloc(n + 1);
    if (v->text == NULL)
        fuzz_fail("out of memory in the harness");
    if (n > 0)
        memcpy(v->text, p, n);
    v->text[n] = '\0';
    for (s = v->text; s != NULL && v->n < MAX_VARS; s = line) {
        line = strchr(s, '\n');
        if (line != NULL)
            *line++ = '\0';
        eq = strchr(s, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        v->name[v->n] = s;
        v->value[v->n] = eq + 1;
        v->n++;
    }
}

static void write_config(const uint8_t *p, size_t n)
{
    FILE *f = fopen(config_path, "wb");

    if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        fuzz_fail("cannot write %s", config_path);
}

/* A number key's value in c, as a double. */
static double number_of(const sgi_config *c, const key *k)
{
    const char *p = (const char *)c + k->off;

    if (k->kind == K_DOUBLE) {
        double d;

        memcpy(&d, p, sizeof d);
        return d;
    }
    if (k->off == OFF(max_tokens)) {
        long v;

        memcpy(&v, p, sizeof v);
        return (double)v;
    }
    if (k->off == OFF(history_ttl_ms)) {
        long long v;

        memcpy(&v, p, sizeof v);
        return (double)v;
    }
    {
        int v;

        memcpy(&v, p, sizeof v);
        return (double)v;
    }
}

/* A string key's value in c. */
static const char *string_of(const sgi_config *c, const key *k)
{
    const char *p = (const char *)c + k->off;
    const char *s;

    if (k->cap > 0) {
        if (memchr(p, '\0', k->cap) == NULL)
            fuzz_fail("%s is not NUL-terminated within its %zu bytes",
                      k->file, k->cap);
        return p;
    }
    memcpy(&s, p, sizeof s);
    if (s == NULL)
        fuzz_fail("%s is NULL", k->file);
    return s;
}

static void check_accepted(const sgi_config *c)
{
    size_t i;

    for (i = 0; i < NKEYS; i++) {
        const key *k = &keys[i];
        double v;

        if (k->kind == K_STR) {
            (void)string_of(c, k);
            continue;
        }
        v = number_of(c, k);
        if (!isfinite(v) || v < k->min || v > k->max ||
            (k->min_exclusive && v <= k->min))
            fuzz_fail("%s = %g, out of its range", k->file, v);
        if (k->kind == K_INT && v != floor(v))
            fuzz_fail("%s = %g, not whole", k->file, v);
    }
    if (strncmp(c->base_url, "http://", 7) != 0 &&
        strncmp(c->base_url, "https://", 8) != 0)
        fuzz_fail("base_url '%.40s' accepted", c->base_url);
    if (c->model[0] == '\0')
        fuzz_fail("an empty model accepted");
    if (c->system_prompt == NULL ||
        strlen(c->system_prompt) > SGI_PROMPT_MAX)
        fuzz_fail("system prompt missing or over its limit");
}

/* Every key the file gives (the last of a name) and no variable
   overrides holds the file's value. */
static void check_file_values(const sgi_config *c, const uint8_t *text,
                              size_t n, const vars *v)
{
    char *copy = malloc(n + 1);
    const cJSON *item;
    cJSON *root;
    size_t i;

    if (copy == NULL)
        fuzz_fail("out of memory in the harness");
    if (n > 0)
        memcpy(copy, text, n);
    copy[n] = '\0';
    root = cJSON_ParseWithLengthOpts(copy, n + 1, NULL, 1);
    free(copy);
    if (!cJSON_IsObject(root))
        fuzz_fail("accepted a file that is no JSON object");
    for (i = 0; i < NKEYS; i++) {
        const key *k = &keys[i];
        const cJSON *last = NULL;
        const char *var = lookup(k->var, (void *)v);

        if (var != NULL && var[0] != '\0')
            continue;
        cJSON_ArrayForEach(item, root)
            if (item->string != NULL && strcmp(item->string, k->file) == 0)
                last = item;
        if (last == NULL)
            continue;
        if (k->kind == K_STR) {
            if (!cJSON_IsString(last) ||
                strcmp(string_of(c, k), last->valuestring) != 0)
                fuzz_fail("%s is not the file's", k->file);
        } else if (!cJSON_IsNumber(last) ||
                   number_of(c, k) != (k->kind == K_INT
                                           ? (double)(long long)
                                                 last->valuedouble
                                           : last->valuedouble)) {
            fuzz_fail("%s = %g, the file says %g", k->file,
                      number_of(c, k),
                      cJSON_IsNumber(last) ? last->valuedouble : 0.0);
        }
    }
    cJSON_Delete(root);
}

/* 1 when a and b hold the same configuration. */
static int config_equal(const sgi_config *a, const sgi_config *b)
{
    size_t i;

    for (i = 0; i < NKEYS; i++) {
        const key *k = &keys[i];

        if (k->kind == K_STR
                ? strcmp(string_of(a, k), string_of(b, k)) != 0
                : memcmp(&(double){number_of(a, k)},
                         &(double){number_of(b, k)}, sizeof(double)) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *file, *sep;
    sgi_config c, before;
    size_t flen;
    char err[256];
    vars v;
    int rc;

    if (size < 1)
        return 0;
    file = data + 1;
    sep = memchr(file, SEPARATOR, size - 1);
    flen = sep != NULL ? (size_t)(sep - file) : size - 1;
    read_vars(&v, sep != NULL ? sep + 1 : file + flen,
              sep != NULL ? size - 1 - flen - 1 : 0);
    v.with_file = !(data[0] & 1);
    if (v.with_file)
        write_config(file, flen);

    if (sgi_config_init(&c) != 0 || sgi_config_init(&before) != 0)
        fuzz_fail("out of memory in the harness");
    memcpy(c.base_url, "http://before", sizeof "http://before");
    memcpy(before.base_url, "http://before", sizeof "http://before");

    memset(err, 0x5a, sizeof err);
    rc = sgi_config_load(&c, lookup, &v, err, sizeof err);
    if (rc == 0) {
        check_accepted(&c);
        if (v.with_file)
            check_file_values(&c, file, flen, &v);
    } else if (rc == -1) {
        if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0')
            fuzz_fail("refused without a message");
        if (strncmp(err, "SG_INFERENCE_CONFIG", 19) != 0 &&
            strncmp(err, "SG_LLM_", 7) != 0)
            fuzz_fail("the message names no key or variable: %s", err);
        if (!config_equal(&c, &before))
            fuzz_fail("refused, but the configuration changed");
    } else {
        fuzz_fail("sgi_config_load returned %d", rc);
    }
    sgi_config_destroy(&c);
    sgi_config_destroy(&before);
    free(v.text);
    return 0;
}
