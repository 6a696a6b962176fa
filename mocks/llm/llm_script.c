/*
 * Parsing, checking and matching of sg-mock-llm scripts.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm_script.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define LLM_MAX_LATENCY_MS 600000L

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0 && errlen > 0) {
        err[0] = '\0';
    }
    return -1;
}

static void rule_free(llm_rule *r)
{
    size_t i;

    free(r->match);
    if (r->compiled) {
        regfree(&r->re);
    }
    free(r->reply);
    free(r->error);
    for (i = 0; i < r->n_tool_calls; i++) {
        free(r->tool_calls[i].name);
        free(r->tool_calls[i].arguments);
    }
    free(r->tool_calls);
}

void llm_script_free(llm_script *script)
{
    size_t i;

    for (i = 0; i < script->n_rules; i++) {
        rule_free(&script->rules[i]);
    }
    free(script->rules);
    free(script->text);
    memset(script, 0, sizeof *script);
    script->latency_ms = -1;
}

/* An integer member in [min, max]; absent leaves *out. 0 or -1. */
static int get_long(const cJSON *obj, const char *key, long min, long max,
                    long *out, const char *where, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d;

    if (v == NULL) {
        return 0;
    }
    d = cJSON_IsNumber(v) ? v->valuedouble : -1e300;
    if (d < (double)min || d > (double)max || d != (double)(long)d) {
        return fail(err, errlen, "%s%s: must be an integer in %ld..%ld",
                    where, key, min, max);
    }
    *out = (long)d;
    return 0;
}

static int get_bool(const cJSON *obj, const char *key, bool *out,
                    const char *where, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        return fail(err, errlen, "%s%s: must be true or false", where, key);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A string member copied to *out (NULL when absent or null). */
static int get_string(const cJSON *obj, const char *key, char **out,
                      const char *where, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsString(v)) {
        return fail(err, errlen, "%s%s: must be a string", where, key);
    }
    *out = dup_str(v->valuestring);
    if (*out == NULL) {
        return fail(err, errlen, "%s%s: out of memory", where, key);
    }
    return 0;
}

static int check_keys(const cJSON *obj, const char *const *known,
                      const char *where, char *err, size_t errlen)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, obj) {
        size_t i;
        bool ok = false;

        for (i = 0; known[i] != NULL; i++) {
            if (strcmp(item->string, known[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            return fail(err, errlen, "%s%s: unknown field", where,
                        item->string);
        }
    }
    return 0;
}

static int parse_tool_calls(const cJSON *arr, llm_rule *r, const char *where,
                            char *err, size_t errlen)
{
    static const char *const known[] = { "name", "arguments", NULL };
    const cJSON *tc;
    int n = cJSON_GetArraySize(arr);
    char at[96];

    if (!cJSON_IsArray(arr) || n < 1 || n > LLM_MAX_TOOL_CALLS) {
        return fail(err, errlen, "%stool_calls: must be an array of 1..%d "
                    "calls", where, LLM_MAX_TOOL_CALLS);
    }
    r->tool_calls = calloc((size_t)n, sizeof *r->tool_calls);
    if (r->tool_calls == NULL) {
        return fail(err, errlen, "%stool_calls: out of memory", where);
    }
    cJSON_ArrayForEach(tc, arr) {
        llm_tool_call *call = &r->tool_calls[r->n_tool_calls++];
        const cJSON *args;

        snprintf(at, sizeof at, "%stool_calls[%zu].", where,
                 r->n_tool_calls - 1);
        if (!cJSON_IsObject(tc)) {
            return fail(err, errlen, "%.*s: must be an object",
                        (int)strlen(at) - 1, at);
        }
        if (check_keys(tc, known, at, err, errlen) != 0 ||
            get_string(tc, "name", &call->name, at, err, errlen) != 0) {
            return -1;
        }
        if (call->name == NULL || call->name[0] == '\0') {
            return fail(err, errlen, "%sname: required, a non-empty string",
                        at);
        }
        /* OpenAI sends arguments as JSON text: a string is taken as that
         * text, anything else is printed. */
        args = cJSON_GetObjectItemCaseSensitive(tc, "arguments");
        if (args == NULL) {
            call->arguments = dup_str("{}");
        } else if (cJSON_IsString(args)) {
            call->arguments = dup_str(args->valuestring);
        } else {
            call->arguments = cJSON_PrintUnformatted(args);
        }
        if (call->arguments == NULL) {
            return fail(err, errlen, "%sarguments: out of memory", at);
        }
    }
    return 0;
}

static int parse_rule(const cJSON *obj, llm_rule *r, size_t index,
                      char *err, size_t errlen)
{
    static const char *const known[] = {
        "match", "regex", "reply", "status", "error", "latency_ms", "hang",
        "tool_calls", "times", "comment", NULL
    };
    const cJSON *tc;
    char where[48];
    long status = 200;

    snprintf(where, sizeof where, "rules[%zu].", index);
    r->latency_ms = -1;
    r->times = -1;
    if (!cJSON_IsObject(obj)) {
        return fail(err, errlen, "rules[%zu]: must be an object", index);
    }
    if (check_keys(obj, known, where, err, errlen) != 0 ||
        get_string(obj, "match", &r->match, where, err, errlen) != 0 ||
        get_bool(obj, "regex", &r->regex, where, err, errlen) != 0 ||
        get_string(obj, "reply", &r->reply, where, err, errlen) != 0 ||
        get_long(obj, "status", 200, 599, &status, where, err,
                 errlen) != 0 ||
        get_string(obj, "error", &r->error, where, err, errlen) != 0 ||
        get_long(obj, "latency_ms", 0, LLM_MAX_LATENCY_MS, &r->latency_ms,
                 where, err, errlen) != 0 ||
        get_bool(obj, "hang", &r->hang, where, err, errlen) != 0 ||
        get_long(obj, "times", 0, 1000000000L, &r->times, where, err,
                 errlen) != 0) {
        return -1;
    }
    r->status = (int)status;
    tc = cJSON_GetObjectItemCaseSensitive(obj, "tool_calls");
    if (tc != NULL && !cJSON_IsNull(tc) &&
        parse_tool_calls(tc, r, where, err, errlen) != 0) {
        return -1;
    }
    if (r->regex) {
        int rc;

        if (r->match == NULL) {
            return fail(err, errlen, "%smatch: required when regex is true",
                        where);
        }
        rc = regcomp(&r->re, r->match, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];

            regerror(rc, &r->re, msg, sizeof msg);
            return fail(err, errlen, "%smatch: not a POSIX extended "
                        "regular expression: %s", where, msg);
        }
        r->compiled = true;
    }
    return 0;
}

int llm_script_parse(const char *text, size_t len, llm_script *out,
                     char *err, size_t errlen)
{
    static const char *const known[] = { "latency_ms", "rules", "comment",
                                         NULL };
    llm_script sc;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *rules;
    const cJSON *item;
    int n;

    memset(&sc, 0, sizeof sc);
    sc.latency_ms = -1;
    if (root == NULL) {
        return fail(err, errlen, "script: not valid JSON");
    }
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "script: must be a JSON object");
        goto bad;
    }
    if (check_keys(root, known, "", err, errlen) != 0 ||
        get_long(root, "latency_ms", 0, LLM_MAX_LATENCY_MS, &sc.latency_ms,
                 "", err, errlen) != 0) {
        goto bad;
    }
    rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    n = cJSON_GetArraySize(rules);
    if (rules != NULL && (!cJSON_IsArray(rules) || n > LLM_MAX_RULES)) {
        fail(err, errlen, "rules: must be an array of at most %d rules",
             LLM_MAX_RULES);
        goto bad;
    }
    if (n > 0) {
        sc.rules = calloc((size_t)n, sizeof *sc.rules);
        if (sc.rules == NULL) {
            fail(err, errlen, "rules: out of memory");
            goto bad;
        }
        cJSON_ArrayForEach(item, rules) {
            llm_rule *r = &sc.rules[sc.n_rules++];

            if (parse_rule(item, r, sc.n_rules - 1, err, errlen) != 0) {
                goto bad;
            }
        }
    }
    sc.text = cJSON_PrintUnformatted(root);
    if (sc.text == NULL) {
        fail(err, errlen, "script: out of memory");
        goto bad;
    }
    cJSON_Delete(root);
    *out = sc;
    return 0;
bad:
    cJSON_Delete(root);
    llm_script_free(&sc);
    return -1;
}

llm_rule *llm_script_match(llm_script *script, const char *text)
{
    size_t i;

    for (i = 0; i < script->n_rules; i++) {
        llm_rule *r = &script->rules[i];
        bool hit;

        if (r->times >= 0 && r->used >= r->times) {
            continue;
        }
        if (r->match == NULL) {
            hit = true;
        } else if (r->regex) {
            hit = regexec(&r->re, text, 0, NULL, 0) == 0;
        } else {
            hit = strstr(text, r->match) != NULL;
        }
        if (hit) {
            r->used++;
            return r;
        }
    }
    return NULL;
}
