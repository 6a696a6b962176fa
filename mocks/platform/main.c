/*
 * sg-mock-platform: the far side of the gateway's `http` platform. Every
 * POST outside /_mock/ is a platform call: recorded, answered
 * {"ok":true,"message_id":"mock-<seq>"} unless a failure rule injects an
 * error status, a delay or a hang. mocks/README.md has the endpoints.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "mock_server.h"

#define PROG "sg-mock-platform"
#define PLATFORM_MAX_RULES 1000

typedef struct fail_rule {
    char *op;            /* NULL: any op */
    char *channel_id;    /* NULL: any channel */
    int status;
    long times;          /* -1: unlimited */
    long used;
    long delay_ms;       /* -1: the command line's latency */
    bool hang;
} fail_rule;

typedef struct platform_mock {
    fail_rule rules[PLATFORM_MAX_RULES];
    size_t n_rules;
    long latency_ms;
} platform_mock;

static const char busy_body[] =
    "{\"ok\":false,\"error\":\"too many calls held by delay or hang "
    "(limit 1024 hung, 65536 delayed)\"}";

static void reply_error(struct evhttp_request *req, int status,
                        const char *text)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddFalseToObject(o, "ok");
    cJSON_AddStringToObject(o, "error", text);
    mock_reply_json(req, status, o);
}

static void rule_free(fail_rule *r)
{
    free(r->op);
    free(r->channel_id);
    memset(r, 0, sizeof *r);
}

static void rules_clear(platform_mock *m)
{
    size_t i;

    for (i = 0; i < m->n_rules; i++) {
        rule_free(&m->rules[i]);
    }
    m->n_rules = 0;
}

static const char *string_at(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static fail_rule *rule_match(platform_mock *m, const char *op,
                             const char *channel_id)
{
    size_t i;

    for (i = 0; i < m->n_rules; i++) {
        fail_rule *r = &m->rules[i];

        if (r->times >= 0 && r->used >= r->times) {
            continue;
        }
        if (r->op != NULL && (op == NULL || strcmp(r->op, op) != 0)) {
            continue;
        }
        if (r->channel_id != NULL &&
            (channel_id == NULL || strcmp(r->channel_id, channel_id) != 0)) {
            continue;
        }
        r->used++;
        return r;
    }
    return NULL;
}

/* ---- platform calls --------------------------------------------------- */

static char *ok_body(uint64_t seq)
{
    char *text = malloc(64);

    if (text != NULL) {
        snprintf(text, 64, "{\"ok\":true,\"message_id\":\"mock-%llu\"}",
                 (unsigned long long)seq);
    }
    return text;
}

static char *dup_str(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void handle_call(mock_server *s, platform_mock *m,
                        struct evhttp_request *req, const char *path)
{
    mock_record *rec = mock_record_new(s);
    size_t len = 0;
    char *raw = mock_body(req, &len);
    cJSON *body = raw != NULL ? cJSON_ParseWithLength(raw, len) : NULL;
    const char *op = string_at(body, "op");
    const char *channel_id = string_at(
        cJSON_GetObjectItemCaseSensitive(body, "envelope"), "channel_id");
    fail_rule *rule;
    uint64_t seq;
    int status = 200;
    long delay = m->latency_ms;
    char *answer;

    free(raw);
    if (rec == NULL) {
        cJSON_Delete(body);
        reply_error(req, 500, "out of memory");
        return;
    }
    seq = rec->seq;
    rec->path = strdup(path);
    rec->op = dup_str(op);
    rec->channel_id = dup_str(channel_id);
    rec->body = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    if (body == NULL) {
        mock_record_commit(s, rec);
        reply_error(req, 400, "request body is not valid JSON");
        mock_record_finish(s, seq, 400);
        return;
    }
    /* Match before the commit: the strings op and channel_id point into
     * body, which lives until the end of this function. */
    rule = rule_match(m, op, channel_id);
    mock_record_commit(s, rec);
    cJSON_Delete(body);
    if (rule != NULL) {
        status = rule->status;
        delay = rule->hang ? -1
              : rule->delay_ms >= 0 ? rule->delay_ms : m->latency_ms;
    }
    /* A rule with a 2xx status only delays or hangs the usual answer. */
    if (status >= 200 && status < 300) {
        answer = ok_body(seq);
    } else {
        answer = strdup("{\"ok\":false,\"error\":\"injected\"}");
    }
    if (answer == NULL) {
        reply_error(req, 500, "out of memory");
        mock_record_finish(s, seq, 500);
        return;
    }
    mock_reply_later(s, req, status, answer, false, seq, delay, busy_body);
}

/* ---- /_mock/fail ------------------------------------------------------ */

static int fail_field(struct evhttp_request *req, const char *field,
                      const char *what)
{
    char text[160];
    int n = snprintf(text, sizeof text, "%s: %s", field, what);

    if (n < 0 || (size_t)n >= sizeof text) {
        text[0] = '\0';
    }
    reply_error(req, 400, text);
    return -1;
}

static int get_long(struct evhttp_request *req, const cJSON *obj,
                    const char *key, long min, long max, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char what[96];

    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
        v->valuedouble > (double)max ||
        v->valuedouble != (double)(long)v->valuedouble) {
        snprintf(what, sizeof what, "must be an integer in %ld..%ld", min,
                 max);
        return fail_field(req, key, what);
    }
    *out = (long)v->valuedouble;
    return 0;
}

static int get_opt_string(struct evhttp_request *req, const cJSON *obj,
                          const char *key, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        return 0;
    }
    if (!cJSON_IsString(v)) {
        return fail_field(req, key, "must be a string");
    }
    *out = strdup(v->valuestring);
    if (*out == NULL) {
        return fail_field(req, key, "out of memory");
    }
    return 0;
}

static void add_rule(platform_mock *m, struct evhttp_request *req)
{
    static const char *const known[] = {
        "op", "channel_id", "status", "times", "delay_ms", "hang",
        "comment", NULL
    };
    size_t len = 0;
    char *raw = mock_body(req, &len);
    cJSON *body = raw != NULL ? cJSON_ParseWithLength(raw, len) : NULL;
    const cJSON *item;
    const cJSON *hang;
    fail_rule r;
    long status = 500;
    cJSON *o;

    free(raw);
    memset(&r, 0, sizeof r);
    r.times = -1;
    r.delay_ms = -1;
    if (!cJSON_IsObject(body)) {
        reply_error(req, 400, "body: must be a JSON object");
        goto out;
    }
    cJSON_ArrayForEach(item, body) {
        size_t i;
        bool ok = false;

        for (i = 0; known[i] != NULL; i++) {
            ok = ok || strcmp(item->string, known[i]) == 0;
        }
        if (!ok) {
            fail_field(req, item->string, "unknown field");
            goto out;
        }
    }
    if (m->n_rules >= PLATFORM_MAX_RULES) {
        reply_error(req, 400, "too many failure rules (limit 1000); "
                    "DELETE /_mock/fail first");
        goto out;
    }
    hang = cJSON_GetObjectItemCaseSensitive(body, "hang");
    if (hang != NULL && !cJSON_IsNull(hang) && !cJSON_IsBool(hang)) {
        fail_field(req, "hang", "must be true or false");
        goto out;
    }
    r.hang = cJSON_IsTrue(hang);
    if (get_opt_string(req, body, "op", &r.op) != 0 ||
        get_opt_string(req, body, "channel_id", &r.channel_id) != 0 ||
        get_long(req, body, "status", 200, 599, &status) != 0 ||
        get_long(req, body, "times", 0, 1000000000L, &r.times) != 0 ||
        get_long(req, body, "delay_ms", 0, MOCK_MAX_WAIT_MS,
                 &r.delay_ms) != 0) {
        goto out;
    }
    r.status = (int)status;
    m->rules[m->n_rules++] = r;
    memset(&r, 0, sizeof r);
    o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "ok");
    cJSON_AddNumberToObject(o, "rules", (double)m->n_rules);
    mock_reply_json(req, 200, o);
out:
    rule_free(&r);
    cJSON_Delete(body);
}

static void list_rules(const platform_mock *m, struct evhttp_request *req)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "rules");
    size_t i;

    for (i = 0; i < m->n_rules; i++) {
        const fail_rule *r = &m->rules[i];
        cJSON *j = cJSON_CreateObject();

        cJSON_AddItemToArray(arr, j);
        if (r->op != NULL) {
            cJSON_AddStringToObject(j, "op", r->op);
        } else {
            cJSON_AddNullToObject(j, "op");
        }
        if (r->channel_id != NULL) {
            cJSON_AddStringToObject(j, "channel_id", r->channel_id);
        } else {
            cJSON_AddNullToObject(j, "channel_id");
        }
        cJSON_AddNumberToObject(j, "status", r->status);
        if (r->times >= 0) {
            cJSON_AddNumberToObject(j, "times", (double)r->times);
        } else {
            cJSON_AddNullToObject(j, "times");
        }
        cJSON_AddNumberToObject(j, "used", (double)r->used);
        if (r->delay_ms >= 0) {
            cJSON_AddNumberToObject(j, "delay_ms", (double)r->delay_ms);
        } else {
            cJSON_AddNullToObject(j, "delay_ms");
        }
        cJSON_AddBoolToObject(j, "hang", r->hang);
    }
    mock_reply_json(req, 200, o);
}

/* ---- routing ---------------------------------------------------------- */

static void handle(mock_server *s, struct evhttp_request *req, void *arg)
{
    platform_mock *m = arg;
    const char *path = mock_path(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (strncmp(path, "/_mock/", 7) != 0) {
        if (strcmp(path, "/healthz") == 0 && cmd != EVHTTP_REQ_POST) {
            mock_reply_raw(req, 200, "text/plain", "ok\n", 3, false);
        } else if (cmd == EVHTTP_REQ_POST) {
            handle_call(s, m, req, path);
        } else {
            reply_error(req, 405, "platform calls are POSTs");
        }
    } else if (strcmp(path, "/_mock/calls") == 0 && cmd == EVHTTP_REQ_GET) {
        mock_list(s, req);
    } else if (strcmp(path, "/_mock/calls") == 0 &&
               cmd == EVHTTP_REQ_DELETE) {
        mock_clear(s, req);
    } else if (strcmp(path, "/_mock/fail") == 0 && cmd == EVHTTP_REQ_POST) {
        add_rule(m, req);
    } else if (strcmp(path, "/_mock/fail") == 0 && cmd == EVHTTP_REQ_GET) {
        list_rules(m, req);
    } else if (strcmp(path, "/_mock/fail") == 0 &&
               cmd == EVHTTP_REQ_DELETE) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddTrueToObject(o, "ok");
        cJSON_AddNumberToObject(o, "cleared", (double)m->n_rules);
        rules_clear(m);
        mock_reply_json(req, 200, o);
    } else if (strcmp(path, "/_mock/release") == 0 &&
               cmd == EVHTTP_REQ_POST) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddTrueToObject(o, "ok");
        cJSON_AddNumberToObject(o, "released", (double)mock_release(s));
        mock_reply_json(req, 200, o);
    } else if (strcmp(path, "/_mock/stats") == 0 && cmd == EVHTTP_REQ_GET) {
        mock_stats(s, req);
    } else {
        reply_error(req, 404, "no such control endpoint "
                    "(see mocks/README.md)");
    }
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: " PROG " [--listen HOST:PORT] [--port-file PATH]\n"
          "                        [--latency-ms N] [--log FILE] "
          "[--max-records N]\n"
          "\n"
          "A chat platform mock for the gateway's http platform: every POST\n"
          "outside /_mock/ is recorded and answered\n"
          "{\"ok\":true,\"message_id\":\"mock-<seq>\"} unless a rule from\n"
          "POST /_mock/fail matches. Control endpoints under /_mock/.\n"
          "\n"
          "  --listen HOST:PORT  address to listen on (default "
          "127.0.0.1:0, an ephemeral port)\n"
          "  --port-file PATH    write the bound port there once listening\n"
          "  --latency-ms N      delay of every answer (default 0)\n"
          "  --log FILE          append each recorded call as a JSON line\n"
          "  --max-records N     calls kept for /_mock/calls "
          "(default 100000)\n"
          "  --help, --version\n", f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "port-file", required_argument, NULL, 'p' },
        { "latency-ms", required_argument, NULL, 'L' },
        { "log", required_argument, NULL, 'g' },
        { "max-records", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    static platform_mock m;
    mock_config cfg;
    mock_server server;
    int rc;
    int c;

    memset(&cfg, 0, sizeof cfg);
    cfg.prog = PROG;
    cfg.listen = "127.0.0.1:0";
    cfg.max_records = MOCK_DEFAULT_MAX_RECORDS;
    cfg.list_key = "calls";
    cfg.record_fields = MOCK_REC_OP_CHANNEL;
    cfg.handler = handle;
    cfg.handler_arg = &m;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case 'p': cfg.port_file = optarg; break;
        case 'L':
            if (mock_parse_long(optarg, 0, MOCK_MAX_WAIT_MS,
                                &m.latency_ms) != 0) {
                fprintf(stderr, PROG ": --latency-ms: expected an integer "
                        "in 0..%ld\n", MOCK_MAX_WAIT_MS);
                return 2;
            }
            break;
        case 'g': cfg.log_path = optarg; break;
        case 'm':
            if (mock_parse_long(optarg, 1, MOCK_MAX_RECORDS,
                                &cfg.max_records) != 0) {
                fprintf(stderr, PROG ": --max-records: expected an integer "
                        "in 1..%ld\n", MOCK_MAX_RECORDS);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': puts(PROG " 0.1.0"); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    rc = mock_server_init(&server, &cfg);
    if (rc == 0) {
        rc = mock_server_run(&server);
    }
    rc = rc == -2 ? 2 : rc != 0 ? 1 : 0;
    mock_server_destroy(&server);
    rules_clear(&m);
    libevent_global_shutdown();
    return rc;
}
