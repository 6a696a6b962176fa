/*
 * prompt.c: see prompt.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "prompt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../libsg/json_text.h"

static int put_raw(sg_buf *b, const char *s)
{
    return sg__json_put_raw(b, s);
}

static int put_str(sg_buf *b, sg_str s)
{
    return sg__json_put_str(b, s.ptr != NULL ? s.ptr : "", s.len);
}

static int put_cstr(sg_buf *b, const char *s)
{
    return sg__json_put_str(b, s, strlen(s));
}

int sgi_message_prompt_text(const sgi_message *msg, sg_buf *out)
{
    char line[128];
    size_t i;
    int n;

    if (msg->text.len > 0 &&
        sg_buf_append(out, msg->text.ptr, msg->text.len) != 0)
        return SG_ENOMEM;
    for (i = 0; i < msg->nattachments; i++) {
        const sg_attachment *a = &msg->attachments[i];
        const char *nl = out->len > 0 ? "\n" : "";

        if (sg_buf_append(out, nl, strlen(nl)) != 0 ||
            sg_buf_append(out, "[attachment: ", 13) != 0 ||
            (a->filename.len > 0 &&
             sg_buf_append(out, a->filename.ptr,
                           a->filename.len > 200 ? 200 : a->filename.len)
                 != 0))
            return SG_ENOMEM;
        n = snprintf(line, sizeof line, " (%.*s, %zu bytes)]",
                     (int)(a->mimetype.len > 64 ? 64 : a->mimetype.len),
                     a->mimetype.len > 0 ? a->mimetype.ptr : "",
                     a->data.len);
        if (n < 0 || (size_t)n >= sizeof line)
            return SG_EINVAL;
        if (sg_buf_append(out, line, (size_t)n) != 0)
            return SG_ENOMEM;
    }
    return 0;
}

int sgi_history_record(sg_buf *out, const char *role, sg_str user_id,
                       sg_str user_name, sg_str content, sg_str message_id,
                       double ts)
{
    size_t start = out->len;
    int rc;

    if (!isfinite(ts) || ts < 0)
        ts = 0;
    rc = put_raw(out, "{\"role\":");
    if (rc == 0) rc = put_cstr(out, role);
    if (rc == 0) rc = put_raw(out, ",\"content\":");
    if (rc == 0) rc = put_str(out, content);
    if (rc == 0) rc = put_raw(out, ",\"user_id\":");
    if (rc == 0) rc = put_str(out, user_id);
    if (rc == 0) rc = put_raw(out, ",\"user_name\":");
    if (rc == 0) rc = put_str(out, user_name);
    if (rc == 0) rc = put_raw(out, ",\"message_id\":");
    if (rc == 0) rc = put_str(out, message_id);
    if (rc == 0) rc = put_raw(out, ",\"ts\":");
    if (rc == 0) rc = sg__json_put_number(out, ts);
    if (rc == 0) rc = put_raw(out, "}");
    if (rc == 0) rc = sg__json_terminate(out);
    if (rc != 0)
        out->len = start;
    return rc;
}

static sg_str json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    sg_str s = {"", 0};

    if (cJSON_IsString(v)) {
        s.ptr = v->valuestring;
        s.len = strlen(v->valuestring);
    }
    return s;
}

int sgi_history_record_from_rpc(sg_buf *out, const cJSON *m)
{
    const cJSON *ts, *bot;

    if (!cJSON_IsObject(m) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "text")))
        return SG_EINVAL;
    ts = cJSON_GetObjectItemCaseSensitive(m, "timestamp");
    bot = cJSON_GetObjectItemCaseSensitive(m, "is_bot");
    return sgi_history_record(out, cJSON_IsTrue(bot) ? "assistant" : "user",
                              json_str(m, "user_id"),
                              json_str(m, "user_name"), json_str(m, "text"),
                              json_str(m, "message_id"),
                              cJSON_IsNumber(ts) ? ts->valuedouble : 0);
}

size_t sgi_prompt_name(sg_str display, char *out, size_t cap)
{
    size_t i, n = 0, good = 0;

    if (cap == 0)
        return 0;
    for (i = 0; i < display.len && n < 64 && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)display.ptr[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-';

        if (c >= 0x80 && (c & 0xc0) == 0x80)
            continue;           /* one '_' per UTF-8 character */
        out[n++] = ok ? (char)c : '_';
        good += ok;
    }
    if (good == 0)
        n = 0;
    out[n] = '\0';
    return n;
}

/* Writes ,"name":"<name>" for a display name that gives one. */
static int put_name(sg_buf *b, sg_str display)
{
    char name[72];
    size_t n = sgi_prompt_name(display, name, sizeof name);
    int rc;

    if (n == 0)
        return 0;
    rc = put_raw(b, ",\"name\":");
    if (rc == 0)
        rc = sg__json_put_str(b, name, n);
    return rc;
}

/* A usable record's role and content, parsed; NULL tree when unusable. */
static cJSON *read_record(const char *rec, size_t len, const char **role,
                          const char **content)
{
    const cJSON *r, *c;
    cJSON *j = NULL;
    sg_error err;
    char *copy;

    if (rec == NULL || len == 0 || len > SGI_HISTORY_RECORD_MAX)
        return NULL;
    /* The parser wants a NUL after the text; Redis replies have one, but
       the caller's array need not. */
    copy = malloc(len + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, rec, len);
    copy[len] = '\0';
    if (sg__json_parse(copy, len, SGI_HISTORY_RECORD_MAX, 4, "history", &j,
                       &err) != 0) {
        free(copy);
        return NULL;
    }
    free(copy);
    r = cJSON_GetObjectItemCaseSensitive(j, "role");
    c = cJSON_GetObjectItemCaseSensitive(j, "content");
    if (!cJSON_IsString(r) || !cJSON_IsString(c) ||
        (strcmp(r->valuestring, "user") != 0 &&
         strcmp(r->valuestring, "assistant") != 0)) {
        cJSON_Delete(j);
        return NULL;
    }
    *role = r->valuestring;
    *content = c->valuestring;
    return j;
}

int sgi_prompt_body(sg_buf *out, const sgi_config *cfg,
                    const char *const *recs, const size_t *lens, size_t n,
                    sg_str current, sg_str current_name)
{
    size_t start = out->len, first, used, i;
    const char *role, *content;
    cJSON *j;
    int rc;

    /* Keep the newest records whose content fits the budget. */
    first = n;
    used = 0;
    while (first > 0) {
        j = read_record(recs[first - 1], lens[first - 1], &role, &content);
        if (j != NULL) {
            size_t clen = strlen(content);

            cJSON_Delete(j);
            if (used + clen > SGI_HISTORY_BUDGET)
                break;
            used += clen;
        }
        first--;
    }

    rc = put_raw(out, "{\"model\":");
    if (rc == 0) rc = put_cstr(out, cfg->model);
    if (rc == 0) rc = put_raw(out, ",\"messages\":[{\"role\":\"system\","
                                   "\"content\":");
    if (rc == 0) rc = put_cstr(out, cfg->system_prompt != NULL
                                        ? cfg->system_prompt : "");
    if (rc == 0) rc = put_raw(out, "}");
    for (i = first; rc == 0 && i < n; i++) {
        size_t mark = out->len;

        j = read_record(recs[i], lens[i], &role, &content);
        if (j == NULL)
            continue;
        rc = put_raw(out, ",{\"role\":");
        if (rc == 0) rc = put_cstr(out, role);
        if (rc == 0) rc = put_raw(out, ",\"content\":");
        if (rc == 0) rc = put_cstr(out, content);
        if (rc == 0 && strcmp(role, "user") == 0)
            rc = put_name(out, json_str(j, "user_name"));
        if (rc == 0) rc = put_raw(out, "}");
        if (rc == SG_EINVAL) {
            /* Content that is not UTF-8 (cJSON does not check): the
               record is skipped rather than failing the call. */
            out->len = mark;
            rc = 0;
        }
        cJSON_Delete(j);
    }
    if (rc == 0) rc = put_raw(out, ",{\"role\":\"user\",\"content\":");
    if (rc == 0) rc = put_str(out, current);
    if (rc == 0) rc = put_name(out, current_name);
    if (rc == 0) rc = put_raw(out, "}],\"temperature\":");
    if (rc == 0) rc = sg__json_put_number(out, cfg->temperature);
    if (rc == 0) rc = put_raw(out, ",\"top_p\":");
    if (rc == 0) rc = sg__json_put_number(out, cfg->top_p);
    if (rc == 0) rc = put_raw(out, ",\"max_tokens\":");
    if (rc == 0) rc = sg__json_put_number(out, (double)cfg->max_tokens);
    if (rc == 0) rc = put_raw(out, "}");
    if (rc == 0) rc = sg__json_terminate(out);
    if (rc != 0)
        out->len = start;
    return rc;
}
