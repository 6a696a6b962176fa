/*
 * sgctl_test.h: running sgctl in-process against a private redis-server,
 * for the it_*.c tests. Each subcommand runs through sgctl_main() with its
 * output captured in memory, so memcheck sees all of sgctl's code.
 *
 * Header-only test support: every function is static.
 */
#ifndef SGCTL_TEST_H
#define SGCTL_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "sg_redis_fixture.h"
#include "sgctl.h"

typedef struct sgt_run {
    int rc;
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
} sgt_run;

typedef struct sgt_world {
    sgt_redis redis;
    redisContext *sync;
    char tmp[256];              /* a folder for capture files */
} sgt_world;

static inline int sgt_setup(void **state)
{
    static sgt_world w;
    char tmpl[] = "/tmp/sgctl-test-XXXXXX";

    memset(&w, 0, sizeof w);
    if (sgt_redis_start(&w.redis, NULL) != 0) {
        fprintf(stderr, "%s\n", w.redis.errstr);
        return -1;
    }
    w.sync = sgt_redis_connect(&w.redis);
    if (w.sync == NULL || mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(w.tmp, sizeof w.tmp, "%s", tmpl);
    *state = &w;
    return 0;
}

static inline int sgt_teardown(void **state)
{
    sgt_world *w = *state;
    char cmd[512];

    redisFree(w->sync);
    sgt_redis_stop(&w->redis);
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", w->tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->tmp);
    return 0;
}

/*
 * Runs `sgctl -u <url> <args...>` (NULL-terminated) and returns what it
 * printed; free with sgt_run_free().
 */
static inline sgt_run sgt_sgctl(sgt_world *w, ...)
{
    char *argv[64];
    int argc = 0, i;
    const char *a;
    va_list ap;
    sgt_run r;
    FILE *out, *err;

    memset(&r, 0, sizeof r);
    argv[argc++] = strdup("sgctl");
    argv[argc++] = strdup("-u");
    argv[argc++] = strdup(w->redis.url);
    va_start(ap, w);
    while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
        argv[argc++] = strdup(a);
    va_end(ap);
    argv[argc] = NULL;
    out = open_memstream(&r.out, &r.out_len);
    err = open_memstream(&r.err, &r.err_len);
    assert_non_null(out);
    assert_non_null(err);
    r.rc = sgctl_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    for (i = 0; i < argc; i++)
        free(argv[i]);
    if (getenv("SG_TEST_DEBUG") != NULL)
        fprintf(stderr, "sgctl -> %d\n--- out\n%s--- err\n%s", r.rc, r.out,
                r.err);
    return r;
}

static inline void sgt_run_free(sgt_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Line i (from 0) of text parsed as JSON; NULL when there is none. */
static inline cJSON *sgt_json_line(const char *text, int i)
{
    const char *p = text, *nl;
    cJSON *j;
    char *line;

    while (i-- > 0) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            return NULL;
        p = nl + 1;
    }
    nl = strchr(p, '\n');
    if (nl == NULL)
        return NULL;
    line = strndup(p, (size_t)(nl - p));
    assert_non_null(line);
    j = cJSON_Parse(line);
    free(line);
    return j;
}

static inline int sgt_lines(const char *text)
{
    int n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static inline long long sgt_int(sgt_world *w, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(w->sync, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    freeReplyObject(r);
    return v;
}

static inline redisReply *sgt_cmd(sgt_world *w, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(w->sync, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

/* 1 when two XRANGE replies hold the same entries (IDs and fields). */
static inline int sgt_same_entries(const redisReply *a, const redisReply *b,
                            int compare_ids)
{
    size_t i, k;

    if (a->type != REDIS_REPLY_ARRAY || b->type != REDIS_REPLY_ARRAY ||
        a->elements != b->elements)
        return 0;
    for (i = 0; i < a->elements; i++) {
        const redisReply *x = a->element[i], *y = b->element[i];
        if (compare_ids && strcmp(x->element[0]->str, y->element[0]->str))
            return 0;
        if (x->element[1]->elements != y->element[1]->elements)
            return 0;
        for (k = 0; k < x->element[1]->elements; k++) {
            const redisReply *p = x->element[1]->element[k];
            const redisReply *q = y->element[1]->element[k];
            if (p->len != q->len || memcmp(p->str, q->str, p->len) != 0)
                return 0;
        }
    }
    return 1;
}

#endif /* SGCTL_TEST_H */
