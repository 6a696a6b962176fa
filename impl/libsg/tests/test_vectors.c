/*
 * test_vectors.c: every codec vector of protocol/vectors/ (format in its
 * README.md). An ok vector must decode to its canonical JSON envelope,
 * survive encode -> decode unchanged, and give the same canonical JSON
 * back through sg_envelope_from_json(); a reject vector must be rejected
 * with its reason and path. Every failing vector is named.
 */
/* sg-test-labels: vectors */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "sg.h"

/* Reads a whole file; NULL when it cannot. The caller frees. */
static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        if (buf != NULL) {
            buf[size] = '\0';
            *len = (size_t)size;
        }
    }
    fclose(f);
    return buf;
}

/* Deep JSON equality: objects regardless of key order, numbers as
   doubles. */
static int
json_equal(const cJSON *a, const cJSON *b)
{
    const cJSON *x;

    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if ((a->type & 0xff) != (b->type & 0xff))
        return 0;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *y = b->child;

        for (x = a->child; x != NULL; x = x->next, y = y->next) {
            if (y == NULL || !json_equal(x, y))
                return 0;
        }
        return y == NULL;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return 0;
        for (x = a->child; x != NULL; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);

            if (y == NULL || !json_equal(x, y))
                return 0;
        }
        return 1;
    }
    return 1;                   /* null, true, false: the type says all */
}

typedef struct run {
    int total;
    int passed;
    char failures[8192];
    size_t flen;
} run;

static void
failed(run *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    int n;

    fprintf(stderr, "vector %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    n = snprintf(r->failures + r->flen, sizeof(r->failures) - r->flen,
                 " %s", name);
    if (n > 0 && (size_t)n < sizeof(r->failures) - r->flen)
        r->flen += (size_t)n;
}

/* Checks an accepted envelope: canonical JSON, then encode and decode. */
static int
check_ok(run *r, const char *name, const sg_envelope *env,
         const cJSON *want, const sg_decode_opts *opts)
{
    sg_envelope *again = NULL;
    sg_error err;
    cJSON *got;
    sg_buf js, mp;
    int ok = 0;

    sg_buf_init(&js, NULL);
    sg_buf_init(&mp, NULL);
    if (sg_envelope_to_json(env, &js, &err) != 0) {
        failed(r, name, "to_json failed: %s", err.msg);
        goto out;
    }
    got = cJSON_ParseWithLength((const char *)js.data, js.len);
    if (got == NULL || !json_equal(got, want)) {
        char *w = cJSON_PrintUnformatted(want);

        failed(r, name, "envelope differs:\n  got  %s\n  want %s",
               (const char *)js.data, w ? w : "?");
        free(w);
        cJSON_Delete(got);
        goto out;
    }
    cJSON_Delete(got);
    if (sg_envelope_encode(env, &mp, &err) != 0) {
        failed(r, name, "encode failed: %s %s", sg_reason_name(err.reason),
               err.msg);
        goto out;
    }
    /* Default limits: the encoder may write a longer map than the vector's
       (schema_version, shortest forms), which a lowered limit would
       refuse. */
    (void)opts;
    if (sg_envelope_decode_data(env->kind, mp.data, mp.len, NULL, &again,
                                &err) != 0) {
        failed(r, name, "re-decode failed: %s %s",
               sg_reason_name(err.reason), err.msg);
        goto out;
    }
    if (!sg_envelope_equal(env, again)) {
        failed(r, name, "encode -> decode changed the envelope");
        goto out;
    }
    /* The JSON bridge both ways gives back the same canonical text. */
    sg_envelope_free(again);
    again = NULL;
    if (sg_envelope_from_json(env->kind, (const char *)js.data, js.len, NULL,
                              &again, &err) != 0) {
        failed(r, name, "from_json of the canonical JSON failed: %s %s",
               sg_reason_name(err.reason), err.msg);
        goto out;
    }
    sg_buf_reset(&mp);
    if (sg_envelope_to_json(again, &mp, &err) != 0 || mp.len != js.len
        || memcmp(mp.data, js.data, js.len) != 0) {
        failed(r, name, "JSON -> envelope -> JSON changed the text");
        goto out;
    }
    ok = 1;
out:
    sg_envelope_free(again);
    sg_buf_destroy(&js);
    sg_buf_destroy(&mp);
    return ok;
}

static int
set_limit(sg_limits *l, const char *name, double v)
{
    if (v < 0 || v > 4294967295.0)
        return -1;
#define LIM(f)                                                              \
    if (strcmp(name, #f) == 0) {                                            \
        l->f = (size_t)v;                                                   \
        return 0;                                                           \
    }
    LIM(max_entry_bytes)
    LIM(max_text_bytes)
    LIM(max_string_bytes)
    LIM(max_binary_bytes)
    LIM(max_array_items)
    LIM(max_map_pairs)
    LIM(max_depth)
    LIM(max_attachments)
    LIM(max_buttons)
#undef LIM
    return -1;
}

static int
join(char *buf, size_t size, const char *dir, const char *file)
{
    int n = snprintf(buf, size, "%s/%s", dir, file);

    return n > 0 && (size_t)n < size;
}

static void
run_vector(run *r, const char *dir, const char *file)
{
    char path[4096];
    char *text = NULL, *data = NULL;
    size_t tlen = 0, dlen = 0, nfields = 0;
    sg_entry_field fields[16];
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_entry entry;
    sg_error err;
    const cJSON *name, *kind_j, *data_j, *fields_j, *limits_j, *expect,
        *result, *item;
    const char *vname = file;
    cJSON *v = NULL;
    sg_kind kind;
    int rc;

    r->total++;
    if (!join(path, sizeof(path), dir, file)) {
        failed(r, vname, "path too long");
        goto out;
    }
    text = read_file(path, &tlen);
    v = text ? cJSON_ParseWithLength(text, tlen) : NULL;
    if (v == NULL) {
        failed(r, vname, "cannot read or parse %s", path);
        goto out;
    }
    name = cJSON_GetObjectItemCaseSensitive(v, "name");
    if (cJSON_IsString(name))
        vname = name->valuestring;
    kind_j = cJSON_GetObjectItemCaseSensitive(v, "kind");
    data_j = cJSON_GetObjectItemCaseSensitive(v, "data");
    fields_j = cJSON_GetObjectItemCaseSensitive(v, "fields");
    limits_j = cJSON_GetObjectItemCaseSensitive(v, "limits");
    expect = cJSON_GetObjectItemCaseSensitive(v, "expect");
    result = cJSON_GetObjectItemCaseSensitive(expect, "result");
    if (!cJSON_IsString(kind_j) || !cJSON_IsString(result)
        || sg_kind_from_name(kind_j->valuestring,
                             strlen(kind_j->valuestring), &kind) != 0) {
        failed(r, vname, "malformed vector");
        goto out;
    }
    sg_decode_opts_init(&opts);
    cJSON_ArrayForEach(item, limits_j) {
        if (!cJSON_IsNumber(item)
            || set_limit(&opts.limits, item->string, item->valuedouble)) {
            failed(r, vname, "bad limit %s", item->string);
            goto out;
        }
    }
    if (cJSON_IsString(data_j)) {
        if (join(path, sizeof(path), dir, data_j->valuestring))
            data = read_file(path, &dlen);
        if (data == NULL) {
            failed(r, vname, "cannot read %s", path);
            goto out;
        }
        fields[nfields].name = SG_STR("data");
        fields[nfields].value.ptr = data;
        fields[nfields].value.len = dlen;
        nfields++;
    }
    cJSON_ArrayForEach(item, fields_j) {
        if (!cJSON_IsString(item) || nfields == 16) {
            failed(r, vname, "bad entry field");
            goto out;
        }
        fields[nfields].name.ptr = item->string;
        fields[nfields].name.len = strlen(item->string);
        fields[nfields].value.ptr = item->valuestring;
        fields[nfields].value.len = strlen(item->valuestring);
        nfields++;
    }
    entry.fields = fields;
    entry.nfields = nfields;
    sg_error_clear(&err);
    rc = sg_envelope_decode(kind, &entry, &opts, &env, &err);
    if (strcmp(result->valuestring, "ok") == 0) {
        if (rc != 0) {
            failed(r, vname, "rejected: %s at %s (%s)",
                   sg_reason_name(err.reason), err.path, err.msg);
            goto out;
        }
        if (!check_ok(r, vname, env,
                      cJSON_GetObjectItemCaseSensitive(expect, "envelope"),
                      &opts))
            goto out;
    } else {
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(expect,
                                                                "reason");
        const cJSON *rpath = cJSON_GetObjectItemCaseSensitive(expect,
                                                               "path");

        if (rc == 0) {
            failed(r, vname, "accepted, expected %s at %s",
                   cJSON_IsString(reason) ? reason->valuestring : "?",
                   cJSON_IsString(rpath) ? rpath->valuestring : "?");
            goto out;
        }
        if (rc != SG_EDECODE || !cJSON_IsString(reason)
            || !cJSON_IsString(rpath)
            || strcmp(sg_reason_name(err.reason), reason->valuestring) != 0
            || strcmp(err.path, rpath->valuestring) != 0) {
            failed(r, vname, "rejected with %s at %s (%s), expected %s at %s",
                   sg_reason_name(err.reason), err.path, err.msg,
                   cJSON_IsString(reason) ? reason->valuestring : "?",
                   cJSON_IsString(rpath) ? rpath->valuestring : "?");
            goto out;
        }
    }
    r->passed++;
out:
    sg_envelope_free(env);
    cJSON_Delete(v);
    free(text);
    free(data);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SG-ENV-001 SG-ENV-002 SG-FRAME-004 SG-MP-001 SG-INENV-001
   SG-OUTENV-001 SG-TOOLS-001: every vector, in name order. */
static void
test_vectors_all(void **state)
{
    const char *src = getenv("SG_SOURCE_DIR");
    char dir[4096], **names = NULL;
    size_t n = 0, cap = 0, i;
    struct dirent *de;
    run r;
    DIR *d;

    (void)state;
    memset(&r, 0, sizeof(r));
    if (!join(dir, sizeof(dir), src ? src : ".", "protocol/vectors"))
        fail_msg("SG_SOURCE_DIR is too long");
    d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s (set SG_SOURCE_DIR)", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            char **p;

            cap = cap ? cap * 2 : 256;
            p = realloc(names, cap * sizeof(*names));
            assert_non_null(p);
            names = p;
        }
        names[n] = strdup(de->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    for (i = 0; i < n; i++) {
        run_vector(&r, dir, names[i]);
        free(names[i]);
    }
    free(names);
    print_message("vectors: %d of %d passed\n", r.passed, r.total);
    if (r.total == 0)
        fail_msg("no vectors found in %s", dir);
    if (r.passed != r.total)
        fail_msg("%d vectors failed:%s", r.total - r.passed, r.failures);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
