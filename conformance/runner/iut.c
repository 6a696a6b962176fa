/*
 * iut.c: the requirement table and the implementation-under-test file.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL) {
        fprintf(stderr, "sg-conform: out of memory\n");
        exit(2);
    }
    return d;
}

static void setmsg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setmsg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- requirements.tsv ---------------------------------------------- */

int sgc_reqs_load(sgc_reqs *r, const char *path, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        setmsg(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (lineno == 1)
            continue;   /* header */
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *cols[5] = { 0 };
        char *p = line;
        for (int i = 0; i < 5 && p; i++) {
            cols[i] = p;
            char *tab = (i < 4) ? strchr(p, '\t') : NULL;
            if (tab)
                *tab = '\0';
            p = tab ? tab + 1 : NULL;
        }
        if (cols[4] == NULL || strncmp(cols[0], "SG-", 3) != 0)
            continue;
        if (r->n == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            sgc_req *v = realloc(r->v, alloc * sizeof *v);
            if (v == NULL) {
                setmsg(err, errlen, "out of memory");
                free(line);
                fclose(f);
                return -1;
            }
            r->v = v;
        }
        sgc_req *q = &r->v[r->n++];
        memset(q, 0, sizeof *q);
        snprintf(q->id, sizeof q->id, "%s", cols[0]);
        snprintf(q->level, sizeof q->level, "%s", cols[1]);
        snprintf(q->area, sizeof q->area, "%s", cols[2]);
        q->text = xstrdup(cols[4]);
    }
    free(line);
    fclose(f);
    if (r->n == 0) {
        setmsg(err, errlen, "%s: no requirements found", path);
        return -1;
    }
    return 0;
}

void sgc_reqs_free(sgc_reqs *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].text);
    free(r->v);
    memset(r, 0, sizeof *r);
}

const sgc_req *sgc_reqs_find(const sgc_reqs *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].id, id) == 0)
            return &r->v[i];
    return NULL;
}

int sgc_req_is_must(const sgc_req *q)
{
    return q != NULL && strncmp(q->level, "MUST", 4) == 0;
}

/* ---- the IUT file ----------------------------------------------------- */

/* Expands ${BINDIR}, ${IUTDIR} and ${ENV} into a new string. */
static char *expand(const char *s, const char *bindir, const char *iutdir,
                    char *err, size_t errlen)
{
    size_t cap = strlen(s) + 1024, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (const char *p = s; *p;) {
        const char *val = NULL;
        size_t skip = 1;
        char name[128];
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');
            if (end == NULL || (size_t)(end - p - 2) >= sizeof name) {
                setmsg(err, errlen, "unterminated ${...} in \"%s\"", s);
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, (size_t)(end - p - 2));
            name[end - p - 2] = '\0';
            if (strcmp(name, "BINDIR") == 0)
                val = bindir;
            else if (strcmp(name, "IUTDIR") == 0)
                val = iutdir;
            else
                val = getenv(name);
            if (val == NULL) {
                setmsg(err, errlen, "${%s} in \"%s\" is not set", name, s);
                free(out);
                return NULL;
            }
            skip = (size_t)(end - p) + 1;
        }
        const char *add = val ? val : p;
        size_t addn = val ? strlen(val) : 1;
        if (n + addn + 1 > cap) {
            cap = (n + addn + 1) * 2;
            char *o = realloc(out, cap);
            if (o == NULL) {
                free(out);
                return NULL;
            }
            out = o;
        }
        memcpy(out + n, add, addn);
        n += addn;
        p += skip;
    }
    out[n] = '\0';
    return out;
}

static char *read_file(const char *path, size_t max, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        setmsg(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf == NULL)
        return NULL;
    if (n > max) {
        setmsg(err, errlen, "%s: longer than %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int kv_from_object(const cJSON *obj, sgc_kv **out, size_t *n,
                          const char *member, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (obj == NULL)
        return 0;
    if (!cJSON_IsObject(obj)) {
        setmsg(err, errlen, "member \"%s\" must be an object", member);
        return -1;
    }
    size_t count = (size_t)cJSON_GetArraySize(obj);
    *out = calloc(count ? count : 1, sizeof **out);
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (!cJSON_IsString(it)) {
            setmsg(err, errlen, "member \"%s.%s\" must be a string",
                   member, it->string);
            return -1;
        }
        (*out)[*n].key = xstrdup(it->string);
        (*out)[*n].value = xstrdup(it->valuestring);
        (*n)++;
    }
    return 0;
}

int sgc_iut_load(sgc_iut *iut, const char *path, const char *bindir,
                 char *err, size_t errlen)
{
    memset(iut, 0, sizeof *iut);
    snprintf(iut->path, sizeof iut->path, "%s", path);
    char *text = read_file(path, 65536, err, errlen);
    if (text == NULL)
        return -1;
    char dirbuf[SGC_PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    char iutdir[SGC_PATH_MAX];
    snprintf(iutdir, sizeof iutdir, "%s", dirname(dirbuf));

    int rc = -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (j == NULL || !cJSON_IsObject(j)) {
        setmsg(err, errlen, "%s: not a JSON object", path);
        goto out;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(j, "role");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(j, "cwd");
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(j, "capabilities");
    const cJSON *ready = cJSON_GetObjectItemCaseSensitive(j, "ready");
    snprintf(iut->name, sizeof iut->name, "%s",
             cJSON_IsString(name) ? name->valuestring : path);
    if (!cJSON_IsString(role) || (strcmp(role->valuestring, "worker") != 0 &&
                                  strcmp(role->valuestring, "gateway") != 0)) {
        setmsg(err, errlen, "%s: \"role\" must be \"worker\" or \"gateway\"",
               path);
        goto out;
    }
    snprintf(iut->role, sizeof iut->role, "%s", role->valuestring);
    if (!cJSON_IsArray(cmd) || cJSON_GetArraySize(cmd) < 1) {
        setmsg(err, errlen, "%s: \"command\" must be a non-empty array of "
               "strings", path);
        goto out;
    }
    iut->argc = cJSON_GetArraySize(cmd);
    iut->argv = calloc((size_t)iut->argc + 1, sizeof *iut->argv);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cmd) {
        if (!cJSON_IsString(it)) {
            setmsg(err, errlen, "%s: \"command[%d]\" must be a string",
                   path, i);
            goto out;
        }
        iut->argv[i] = expand(it->valuestring, bindir, iutdir, err, errlen);
        if (iut->argv[i] == NULL)
            goto out;
        i++;
    }
    if (cwd != NULL && !cJSON_IsString(cwd)) {
        setmsg(err, errlen, "%s: \"cwd\" must be a string", path);
        goto out;
    }
    {
        char *c = expand(cJSON_IsString(cwd) ? cwd->valuestring : ".",
                         bindir, iutdir, err, errlen);
        if (c == NULL)
            goto out;
        if (c[0] == '/')
            snprintf(iut->cwd, sizeof iut->cwd, "%s", c);
        else
            snprintf(iut->cwd, sizeof iut->cwd, "%s/%s", iutdir, c);
        free(c);
    }
    if (kv_from_object(cJSON_GetObjectItemCaseSensitive(j, "env"), &iut->env,
                       &iut->nenv, "env", err, errlen) != 0)
        goto out;
    for (size_t e = 0; e < iut->nenv; e++) {
        char *v = expand(iut->env[e].value, bindir, iutdir, err, errlen);
        if (v == NULL)
            goto out;
        free(iut->env[e].value);
        iut->env[e].value = v;
    }
    if (kv_from_object(cJSON_GetObjectItemCaseSensitive(j, "xfail"),
                       &iut->xfail, &iut->nxfail, "xfail", err, errlen) != 0)
        goto out;
    if (caps != NULL) {
        if (!cJSON_IsArray(caps)) {
            setmsg(err, errlen, "%s: \"capabilities\" must be an array",
                   path);
            goto out;
        }
        iut->caps = calloc((size_t)cJSON_GetArraySize(caps) + 1,
                           sizeof *iut->caps);
        cJSON_ArrayForEach(it, caps) {
            if (!cJSON_IsString(it)) {
                setmsg(err, errlen, "%s: capabilities must be strings", path);
                goto out;
            }
            iut->caps[iut->ncaps++] = xstrdup(it->valuestring);
        }
    }
    if (ready != NULL) {
        const cJSON *log = cJSON_GetObjectItemCaseSensitive(ready, "log");
        if (cJSON_IsString(log))
            snprintf(iut->ready_log, sizeof iut->ready_log, "%s",
                     log->valuestring);
        else if (!cJSON_IsObject(ready) ||
                 !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ready,
                                                                "consumer"))) {
            setmsg(err, errlen, "%s: \"ready\" must be {\"log\": \"...\"} "
                   "or {\"consumer\": true}", path);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc != 0)
        sgc_iut_free(iut);
    return rc;
}

void sgc_iut_free(sgc_iut *iut)
{
    for (int i = 0; iut->argv && i < iut->argc; i++)
        free(iut->argv[i]);
    free(iut->argv);
    for (size_t i = 0; i < iut->nenv; i++) {
        free(iut->env[i].key);
        free(iut->env[i].value);
    }
    free(iut->env);
    for (size_t i = 0; i < iut->nxfail; i++) {
        free(iut->xfail[i].key);
        free(iut->xfail[i].value);
    }
    free(iut->xfail);
    for (size_t i = 0; i < iut->ncaps; i++)
        free(iut->caps[i]);
    free(iut->caps);
    iut->argv = NULL;
    iut->env = NULL;
    iut->xfail = NULL;
    iut->caps = NULL;
    iut->argc = 0;
    iut->nenv = iut->nxfail = iut->ncaps = 0;
}

int sgc_iut_has_cap(const sgc_iut *iut, const char *cap)
{
    for (size_t i = 0; i < iut->ncaps; i++)
        if (strcmp(iut->caps[i], cap) == 0)
            return 1;
    return 0;
}

const char *sgc_iut_xfail(const sgc_iut *iut, const char *req)
{
    for (size_t i = 0; i < iut->nxfail; i++)
        if (strcmp(iut->xfail[i].key, req) == 0)
            return iut->xfail[i].value;
    return NULL;
}
