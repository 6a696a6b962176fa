/*
 * config.c: see config.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../libsg/json_text.h"

#define DEFAULT_MODEL "gpt-4o-mini"
#define DEFAULT_PROMPT \
    "You are Stargazer, a helpful assistant taking part in a chat. " \
    "Answer briefly and in the language of the last message."

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errcap > 0) {
        va_start(ap, fmt);
        if (vsnprintf(err, errcap, fmt, ap) < 0)
            err[0] = '\0';
        va_end(ap);
    }
    return -1;
}

int sgi_config_init(sgi_config *c)
{
    memset(c, 0, sizeof *c);
    memcpy(c->model, DEFAULT_MODEL, sizeof DEFAULT_MODEL);
    c->temperature = 0.7;
    c->max_tokens = 1024;
    c->top_p = 1.0;
    c->timeout_ms = 60000;
    c->history_max = 20;
    c->history_ttl_ms = 604800000LL;
    c->max_retries = 3;
    c->typing_delay_ms = 500;
    c->system_prompt = strdup(DEFAULT_PROMPT);
    return c->system_prompt != NULL ? 0 : -1;
}

void sgi_config_destroy(sgi_config *c)
{
    if (c == NULL)
        return;
    free(c->system_prompt);
    c->system_prompt = NULL;
}

int sgi_config_copy(sgi_config *dst, const sgi_config *src)
{
    char *p = strdup(src->system_prompt != NULL ? src->system_prompt : "");

    if (p == NULL)
        return -1;
    free(dst->system_prompt);
    *dst = *src;
    dst->system_prompt = p;
    return 0;
}

/* ---- one key --------------------------------------------------------- */

typedef enum kind { K_STR, K_DOUBLE, K_INT } kind;

typedef struct key {
    const char *file;       /* key in the file */
    const char *var;        /* environment variable */
    kind kind;
    size_t off;
    size_t cap;             /* K_STR into a buffer: its size; 0: malloc'd */
    double min, max;
    int min_exclusive;
} key;

#define OFF(f) offsetof(sgi_config, f)

static const key keys[] = {
    {"base_url", "SG_LLM_BASE_URL", K_STR, OFF(base_url), SGI_URL_MAX, 0, 0,
     0},
    {"api_key", "SG_LLM_API_KEY", K_STR, OFF(api_key), SGI_KEY_MAX, 0, 0, 0},
    {"model", "SG_LLM_MODEL", K_STR, OFF(model), SGI_MODEL_MAX, 0, 0, 0},
    {"temperature", "SG_LLM_TEMPERATURE", K_DOUBLE, OFF(temperature), 0, 0,
     2, 0},
    {"max_tokens", "SG_LLM_MAX_TOKENS", K_INT, OFF(max_tokens), 0, 1,
     1000000, 0},
    {"top_p", "SG_LLM_TOP_P", K_DOUBLE, OFF(top_p), 0, 0, 1, 1},
    {"timeout_ms", "SG_LLM_TIMEOUT_MS", K_INT, OFF(timeout_ms), 0, 1,
     600000, 0},
    {"system_prompt", "SG_LLM_SYSTEM_PROMPT", K_STR, OFF(system_prompt), 0,
     0, 0, 0},
    {"history_max", "SG_LLM_HISTORY_MAX", K_INT, OFF(history_max), 0, 1,
     1000, 0},
    {"history_ttl_ms", "SG_LLM_HISTORY_TTL_MS", K_INT, OFF(history_ttl_ms),
     0, 1000, 31536000000.0, 0},
    {"max_retries", "SG_LLM_MAX_RETRIES", K_INT, OFF(max_retries), 0, 0, 10,
     0},
    {"typing_delay_ms", "SG_LLM_TYPING_DELAY_MS", K_INT, OFF(typing_delay_ms),
     0, 0, 600000, 0},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static void store_int(sgi_config *c, const key *k, long long v)
{
    char *p = (char *)c + k->off;

    if (k->off == OFF(max_tokens))
        *(long *)(void *)p = (long)v;
    else if (k->off == OFF(history_ttl_ms))
        *(long long *)(void *)p = v;
    else
        *(int *)(void *)p = (int)v;
}

/* Checks a number against the key's range; 0 or -1 with err. */
static int check_range(const key *k, const char *where, double v,
                       char *err, size_t errcap)
{
    if (!isfinite(v) || v < k->min || v > k->max ||
        (k->min_exclusive && v <= k->min)) {
        if (k->kind == K_INT)
            return fail(err, errcap, "%s: %g is out of range (%.0f .. %.0f)",
                        where, v, k->min, k->max);
        return fail(err, errcap, "%s: %g is out of range (%s%g .. %g)",
                    where, v, k->min_exclusive ? "above " : "", k->min,
                    k->max);
    }
    if (k->kind == K_INT && v != floor(v))
        return fail(err, errcap, "%s: %g is not a whole number", where, v);
    return 0;
}

static int set_str(sgi_config *c, const key *k, const char *where,
                   const char *s, size_t n, char *err, size_t errcap)
{
    char *p = (char *)c + k->off;
    char *copy;

    if (memchr(s, '\0', n) != NULL)
        return fail(err, errcap, "%s: holds a NUL byte", where);
    if (k->cap == 0) {
        if (n > SGI_PROMPT_MAX)
            return fail(err, errcap, "%s: %zu bytes, over the limit of %d",
                        where, n, SGI_PROMPT_MAX);
        copy = malloc(n + 1);
        if (copy == NULL)
            return fail(err, errcap, "%s: out of memory", where);
        memcpy(copy, s, n);
        copy[n] = '\0';
        free(*(char **)(void *)p);
        *(char **)(void *)p = copy;
        return 0;
    }
    if (n >= k->cap)
        return fail(err, errcap, "%s: %zu bytes, over the limit of %zu",
                    where, n, k->cap - 1);
    if (k->off == OFF(base_url) && n > 0 &&
        strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return fail(err, errcap, "%s: must start with http:// or https://",
                    where);
    if (k->off == OFF(model) && n == 0)
        return fail(err, errcap, "%s: must not be empty", where);
    memcpy(p, s, n);
    p[n] = '\0';
    return 0;
}

/* A variable's text as the key's value. */
static int set_from_text(sgi_config *c, const key *k, const char *v,
                         char *err, size_t errcap)
{
    char *end;
    double d;

    if (k->kind == K_STR)
        return set_str(c, k, k->var, v, strlen(v), err, errcap);
    errno = 0;
    if (k->kind == K_INT) {
        const char *q;

        for (q = v; *q != '\0'; q++)
            if (*q < '0' || *q > '9')
                return fail(err, errcap,
                            "%s: \"%.40s\" is not a decimal integer",
                            k->var, v);
        d = strtod(v, &end);
    } else {
        d = strtod(v, &end);
    }
    if (end == v || *end != '\0' || errno == ERANGE)
        return fail(err, errcap, "%s: \"%.40s\" is not a number", k->var, v);
    if (check_range(k, k->var, d, err, errcap) != 0)
        return -1;
    if (k->kind == K_INT)
        store_int(c, k, (long long)d);
    else
        *(double *)(void *)((char *)c + k->off) = d;
    return 0;
}

static int set_from_json(sgi_config *c, const key *k, const cJSON *v,
                         const char *path, char *err, size_t errcap)
{
    char where[128];

    snprintf(where, sizeof where, "SG_INFERENCE_CONFIG %.60s: key \"%s\"",
             path, k->file);
    if (k->kind == K_STR) {
        if (!cJSON_IsString(v))
            return fail(err, errcap, "%s: must be a string", where);
        return set_str(c, k, where, v->valuestring, strlen(v->valuestring),
                       err, errcap);
    }
    if (!cJSON_IsNumber(v))
        return fail(err, errcap, "%s: must be a number", where);
    if (check_range(k, where, v->valuedouble, err, errcap) != 0)
        return -1;
    if (k->kind == K_INT)
        store_int(c, k, (long long)v->valuedouble);
    else
        *(double *)(void *)((char *)c + k->off) = v->valuedouble;
    return 0;
}

/* Reads at most SGI_CONFIG_FILE_MAX bytes of path, NUL-terminated. */
static char *read_file(const char *path, size_t *len, char *err,
                       size_t errcap)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        fail(err, errcap, "SG_INFERENCE_CONFIG: cannot open %s: %s", path,
             strerror(errno));
        return NULL;
    }
    buf = malloc(SGI_CONFIG_FILE_MAX + 2);
    if (buf == NULL) {
        fclose(f);
        fail(err, errcap, "SG_INFERENCE_CONFIG: out of memory");
        return NULL;
    }
    n = fread(buf, 1, SGI_CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        fail(err, errcap, "SG_INFERENCE_CONFIG: cannot read %s", path);
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    if (n > SGI_CONFIG_FILE_MAX) {
        fail(err, errcap, "SG_INFERENCE_CONFIG: %s is over the limit of "
             "%zu bytes", path, SGI_CONFIG_FILE_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * The offset of the first \u0000 escape in JSON text, or -1. cJSON turns
 * it into a NUL byte inside the string, where the value's length (strlen)
 * would silently end: a value is refused instead.
 */
static long nul_escape_at(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < n &&
            memcmp(s + i + 2, "0000", 4) == 0)
            return (long)i;
        i++;    /* the escaped character */
    }
    return -1;
}

static int load_file(sgi_config *c, const char *path, char *err,
                     size_t errcap)
{
    const cJSON *item;
    cJSON *root = NULL;
    sg_error jerr;
    size_t len, i;
    char *text;
    long at;
    int rc = 0;

    text = read_file(path, &len, err, errcap);
    if (text == NULL)
        return -1;
    at = nul_escape_at(text, len);
    if (at >= 0) {
        free(text);
        return fail(err, errcap, "SG_INFERENCE_CONFIG: %s holds a \\u0000 "
                    "(a NUL byte) at byte %ld: no value may hold one", path,
                    at);
    }
    if (sg__json_parse(text, len, SGI_CONFIG_FILE_MAX, 8, "config", &root,
                       &jerr) != 0) {
        free(text);
        return fail(err, errcap, "SG_INFERENCE_CONFIG: %s is not JSON (%s)",
                    path, jerr.msg);
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, errcap, "SG_INFERENCE_CONFIG: %s must hold a JSON "
                    "object", path);
    }
    cJSON_ArrayForEach(item, root) {
        for (i = 0; i < NKEYS; i++)
            if (item->string != NULL && strcmp(item->string,
                                               keys[i].file) == 0)
                break;
        if (i == NKEYS) {
            rc = fail(err, errcap, "SG_INFERENCE_CONFIG: %s: unknown key "
                      "\"%.64s\"", path,
                      item->string != NULL ? item->string : "");
            break;
        }
        if (set_from_json(c, &keys[i], item, path, err, errcap) != 0) {
            rc = -1;
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int sgi_config_load(sgi_config *c, sg_lookup_fn *lookup, void *ud,
                    char *err, size_t errcap)
{
    sgi_config next;
    const char *v;
    size_t i;

    if (sgi_config_init(&next) != 0)
        return fail(err, errcap, "out of memory");
    v = lookup("SG_INFERENCE_CONFIG", ud);
    if (v != NULL && v[0] != '\0') {
        char path[1024];

        if (strlen(v) >= sizeof path) {
            sgi_config_destroy(&next);
            return fail(err, errcap, "SG_INFERENCE_CONFIG: path over the "
                        "limit of %zu bytes", sizeof path - 1);
        }
        memcpy(path, v, strlen(v) + 1);
        if (load_file(&next, path, err, errcap) != 0) {
            sgi_config_destroy(&next);
            return -1;
        }
    }
    for (i = 0; i < NKEYS; i++) {
        v = lookup(keys[i].var, ud);
        if (v == NULL || v[0] == '\0')
            continue;
        if (set_from_text(&next, &keys[i], v, err, errcap) != 0) {
            sgi_config_destroy(&next);
            return -1;
        }
    }
    if (next.base_url[0] == '\0') {
        sgi_config_destroy(&next);
        return fail(err, errcap, "SG_LLM_BASE_URL: required (or base_url "
                    "in the SG_INFERENCE_CONFIG file)");
    }
    sgi_config_destroy(c);
    *c = next;
    return 0;
}
