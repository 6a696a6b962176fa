/*
 * llm_reply.c: see llm_reply.h. Self-contained apart from libsg's bounded
 * JSON front end and UTF-8 check, so that fuzz/fuzz_llm_reply.c can
 * include it directly.
 */
#include "llm_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../libsg/json_text.h"
#include "../libsg/utf8.h"

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

static const char *json_type_name(const cJSON *j)
{
    if (j == NULL)
        return "missing";
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a bool";
    if (cJSON_IsNull(j))
        return "null";
    return "invalid";
}

/* An error object's message, for a clearer failure; NULL when none. */
static const char *error_message(const cJSON *root)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m;

    if (cJSON_IsString(e))
        return e->valuestring;
    m = cJSON_GetObjectItemCaseSensitive(e, "message");
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

static int set_content(sgi_llm_reply *out, const char *s, size_t n,
                       char *err, size_t errcap)
{
    out->content = malloc(n + 1);
    if (out->content == NULL)
        return fail(err, errcap, "out of memory reading the reply");
    memcpy(out->content, s, n);
    out->content[n] = '\0';
    out->content_len = n;
    return 0;
}

int sgi_llm_reply_parse(const char *body, size_t len, size_t max_bytes,
                        sgi_llm_reply *out, char *err, size_t errcap)
{
    const cJSON *choices, *c0, *msg, *content, *tools, *fin;
    cJSON *root = NULL;
    sg_error jerr;
    size_t n;
    int rc;

    memset(out, 0, sizeof *out);
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (max_bytes == 0)
        max_bytes = SGI_LLM_REPLY_MAX_BYTES;
    if (body == NULL)
        return fail(err, errcap, "response: no body");
    if (len > max_bytes)
        return fail(err, errcap, "response: %zu bytes, over the limit of %zu",
                    len, max_bytes);
    if (sg__json_parse(body, len, max_bytes, SGI_LLM_REPLY_MAX_DEPTH,
                       "response", &root, &jerr) != 0)
        return fail(err, errcap, "response: not usable JSON (%s: %s)",
                    sg_reason_name(jerr.reason), jerr.msg);
    rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(err, errcap, "response: %s, not an object",
             json_type_name(root));
        goto out;
    }
    choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    if (choices == NULL && error_message(root) != NULL) {
        fail(err, errcap, "response: error object: %.200s",
             error_message(root));
        goto out;
    }
    if (!cJSON_IsArray(choices)) {
        fail(err, errcap, "choices: %s, not an array",
             json_type_name(choices));
        goto out;
    }
    c0 = cJSON_GetArrayItem(choices, 0);
    if (c0 == NULL) {
        fail(err, errcap, "choices: empty array");
        goto out;
    }
    if (!cJSON_IsObject(c0)) {
        fail(err, errcap, "choices[0]: %s, not an object",
             json_type_name(c0));
        goto out;
    }
    fin = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (cJSON_IsString(fin) && strlen(fin->valuestring) <
                                   sizeof out->finish_reason)
        memcpy(out->finish_reason, fin->valuestring,
               strlen(fin->valuestring) + 1);
    msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!cJSON_IsObject(msg)) {
        fail(err, errcap, "choices[0].message: %s, not an object",
             json_type_name(msg));
        goto out;
    }
    tools = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (cJSON_IsArray(tools))
        out->tool_calls = cJSON_GetArraySize(tools);
    else if (tools != NULL && !cJSON_IsNull(tools)) {
        fail(err, errcap, "choices[0].message.tool_calls: %s, not an array",
             json_type_name(tools));
        goto out;
    }
    content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(content) && content->valuestring[0] != '\0') {
        n = strlen(content->valuestring);
        if (n > SGI_LLM_REPLY_MAX_TEXT) {
            fail(err, errcap,
                 "choices[0].message.content: %zu bytes, over the limit "
                 "of %zu", n, SGI_LLM_REPLY_MAX_TEXT);
            goto out;
        }
        if (!sg__utf8_valid((const uint8_t *)content->valuestring, n)) {
            fail(err, errcap, "choices[0].message.content: not UTF-8");
            goto out;
        }
        rc = set_content(out, content->valuestring, n, err, errcap);
        goto out;
    }
    if (out->tool_calls > 0 && (content == NULL || cJSON_IsNull(content) ||
                                cJSON_IsString(content))) {
        rc = set_content(out, SGI_LLM_TOOLS_UNAVAILABLE,
                         strlen(SGI_LLM_TOOLS_UNAVAILABLE), err, errcap);
        if (rc == 0)
            out->tools_fallback = 1;
        goto out;
    }
    if (cJSON_IsString(content))
        fail(err, errcap, "choices[0].message.content: empty string");
    else
        fail(err, errcap, "choices[0].message.content: %s, not a string",
             json_type_name(content));
out:
    cJSON_Delete(root);
    if (rc != 0) {
        free(out->content);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void sgi_llm_reply_clear(sgi_llm_reply *r)
{
    if (r == NULL)
        return;
    free(r->content);
    memset(r, 0, sizeof *r);
}
