/*
 * sg-mock-llm: an OpenAI-compatible chat completions endpoint for tests
 * and the benchmark, scriptable with rules (replies, errors, latency,
 * hangs, tool calls) and recording every request. mocks/README.md has
 * the endpoints and the script format.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "llm_request.h"
#include "llm_script.h"
#include "mock_server.h"

#define PROG "sg-mock-llm"

typedef struct llm_mock {
    llm_script script;
    long latency_ms;
    const char *api_key;
} llm_mock;

static const char busy_body[] =
    "{\"error\":{\"message\":\"too many requests held by latency or hang "
    "(limit 1024 hung, 65536 delayed)\",\"type\":\"server_error\","
    "\"param\":null,\"code\":\"mock_busy\"}}";

/* ---- answers ---------------------------------------------------------- */

static const char *error_type(int status)
{
    if (status == 429) {
        return "rate_limit_error";
    }
    return status >= 500 ? "server_error" : "invalid_request_error";
}

static cJSON *error_object(int status, const char *message, const char *code)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");

    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", error_type(status));
    cJSON_AddNullToObject(e, "param");
    if (code != NULL) {
        cJSON_AddStringToObject(e, "code", code);
    } else {
        cJSON_AddNullToObject(e, "code");
    }
    return root;
}

static void reply_error(mock_server *s, struct evhttp_request *req,
                        uint64_t seq, int status, const char *message,
                        const char *code)
{
    mock_reply_json(req, status, error_object(status, message, code));
    mock_record_finish(s, seq, status);
}

/* A growing heap string for the answers. Written straight rather than
 * through a cJSON tree: a tree costs an allocation per field and a
 * printf per number on every request, and the answer is all the mock
 * does. The bytes are those cJSON would print (tested byte for byte). */
typedef struct text_buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
} text_buf;

static void tb_add(text_buf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->cap - b->len <= n) {
        size_t cap = b->cap > 0 ? b->cap : 512;
        char *p;

        while (cap - b->len <= n) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

#define TB_LIT(b, lit) tb_add((b), (lit), sizeof(lit) - 1)

static void tb_long(text_buf *b, long long v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", v);

    if (n > 0 && (size_t)n < sizeof num) {
        tb_add(b, num, (size_t)n);
    }
}

/* s as a JSON string, escaped as cJSON escapes it: the short forms where
 * JSON has one, \u00xx for the other control characters, every other
 * byte as it is. */
static void tb_str(text_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;

    TB_LIT(b, "\"");
    for (; *p != '\0'; p++) {
        char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
        size_t elen = 2;

        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        tb_add(b, (const char *)run, (size_t)(p - run));
        run = p + 1;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            elen = 6;
        }
        tb_add(b, esc, elen);
    }
    tb_add(b, (const char *)run, (size_t)(p - run));
    TB_LIT(b, "\"");
}

/* The chat.completion object (heap, NULL when memory ran out). model is
 * the request's, or NULL for "mock". Counts are printed as integers, as
 * cJSON prints a whole number below 2^31 (a body of at most 1 MiB has
 * fewer words; the seconds reach 2^31 in 2038). */
static char *completion_body(uint64_t seq, const char *model,
                             const char *reply, const llm_rule *rule,
                             long prompt_words)
{
    text_buf b = { NULL, 0, 0, false };
    long words = llm_count_words(reply);
    bool tools = rule != NULL && rule->n_tool_calls > 0;

    TB_LIT(&b, "{\"id\":\"chatcmpl-mock-");
    tb_long(&b, (long long)seq);
    TB_LIT(&b, "\",\"object\":\"chat.completion\",\"created\":");
    tb_long(&b, (long long)(mock_now_ms() / 1000));
    TB_LIT(&b, ",\"model\":");
    tb_str(&b, model != NULL ? model : "mock");
    TB_LIT(&b, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
           "\"assistant\",\"content\":");
    if (tools) {
        size_t i;

        /* With tool calls OpenAI sends a null content unless the model
         * also wrote text. */
        if (rule->reply != NULL) {
            tb_str(&b, rule->reply);
        } else {
            TB_LIT(&b, "null");
            words = 0;
        }
        TB_LIT(&b, ",\"tool_calls\":[");
        for (i = 0; i < rule->n_tool_calls; i++) {
            if (i > 0) {
                TB_LIT(&b, ",");
            }
            TB_LIT(&b, "{\"id\":\"call_mock_");
            tb_long(&b, (long long)seq);
            TB_LIT(&b, "_");
            tb_long(&b, (long long)i);
            TB_LIT(&b, "\",\"type\":\"function\",\"function\":{\"name\":");
            tb_str(&b, rule->tool_calls[i].name);
            TB_LIT(&b, ",\"arguments\":");
            tb_str(&b, rule->tool_calls[i].arguments);
            TB_LIT(&b, "}}");
            words += llm_count_words(rule->tool_calls[i].arguments);
        }
        TB_LIT(&b, "]},\"finish_reason\":\"tool_calls\"}]");
    } else {
        tb_str(&b, reply);
        TB_LIT(&b, "},\"finish_reason\":\"stop\"}]");
    }
    TB_LIT(&b, ",\"usage\":{\"prompt_tokens\":");
    tb_long(&b, prompt_words);
    TB_LIT(&b, ",\"completion_tokens\":");
    tb_long(&b, words);
    TB_LIT(&b, ",\"total_tokens\":");
    tb_long(&b, prompt_words + words);
    TB_LIT(&b, "}}");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *error_body(int status, const char *message)
{
    cJSON *o = error_object(status, message,
                            status == 429 ? "rate_limit_exceeded" : NULL);
    char *text = cJSON_PrintUnformatted(o);

    cJSON_Delete(o);
    return text;
}

static const char *default_error(int status)
{
    if (status == 429) {
        return "Rate limit reached (injected by sg-mock-llm)";
    }
    if (status >= 500) {
        return "The server had an error (injected by sg-mock-llm)";
    }
    return "Request refused (injected by sg-mock-llm)";
}

/* ---- POST /v1/chat/completions ---------------------------------------- */

static void handle_chat(mock_server *s, llm_mock *m,
                        struct evhttp_request *req, const char *path)
{
    mock_record *rec = mock_record_new(s);
    const char *auth = evhttp_find_header(
        evhttp_request_get_input_headers(req), "Authorization");
    size_t len = 0;
    char *raw = mock_body(req, &len);
    llm_request in;
    llm_rule *rule;
    char *answer = NULL;
    long delay;
    uint64_t seq;
    int status = 200;
    int rc;

    if (rec == NULL) {
        free(raw);
        mock_reply_json(req, 500, error_object(500, "out of memory", NULL));
        return;
    }
    /* Read before the record takes the bytes: the journal may drop a
     * record, never while its request is being answered, but reading
     * first needs no such argument. A body that could not be copied
     * out for want of memory reads as no JSON, and is recorded as null,
     * as it always was (the record is committed all the same: the
     * journal's seqs have no gaps). */
    memset(&in, 0, sizeof in);
    in.status = LLM_REQUEST_NOT_JSON;
    rc = raw != NULL ? llm_request_read(&in, raw, len) : 0;
    seq = rec->seq;
    rec->path = strdup(path);
    rec->authorization = auth != NULL ? strdup(auth) : NULL;
    /* The journal keeps the bytes; GET /_mock/requests parses them. */
    rec->body = raw;
    rec->body_len = len;
    rec->body_raw = true;
    mock_record_commit(s, rec);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_error(s, req, seq, 405, "use POST for chat completions",
                    NULL);
        goto out;
    }
    if (m->api_key != NULL) {
        const char *p = auth;

        if (p == NULL || strncmp(p, "Bearer ", 7) != 0 ||
            strcmp(p + 7, m->api_key) != 0) {
            reply_error(s, req, seq, 401, "Incorrect API key provided "
                        "(header Authorization: Bearer <key>)",
                        "invalid_api_key");
            goto out;
        }
    }
    if (rc != 0) {
        reply_error(s, req, seq, 500, "out of memory", NULL);
        goto out;
    }
    if (in.status == LLM_REQUEST_NOT_JSON) {
        reply_error(s, req, seq, 400, "request body is not valid JSON",
                    NULL);
        goto out;
    }
    if (in.status == LLM_REQUEST_NO_MESSAGES) {
        reply_error(s, req, seq, 400, "field 'messages' is required and "
                    "must be an array", NULL);
        goto out;
    }
    rule = llm_script_match(&m->script, in.text);
    if (rule != NULL) {
        status = rule->status;
    }
    if (status != 200) {
        const char *msg = rule->error;

        answer = error_body(status, msg != NULL ? msg : default_error(status));
    } else if (rule != NULL && rule->reply != NULL) {
        answer = completion_body(seq, in.model, rule->reply, rule,
                                 in.prompt_words);
    } else {
        size_t n = strlen(in.text) + 7;
        char *echo = malloc(n);

        if (echo != NULL) {
            snprintf(echo, n, "echo: %s", in.text);
            answer = completion_body(seq, in.model, echo, rule,
                                     in.prompt_words);
            free(echo);
        }
    }
    if (answer == NULL) {
        reply_error(s, req, seq, 500, "out of memory", NULL);
        goto out;
    }
    if (rule != NULL && rule->hang) {
        delay = -1;
    } else if (rule != NULL && rule->latency_ms >= 0) {
        delay = rule->latency_ms;
    } else if (m->script.latency_ms >= 0) {
        delay = m->script.latency_ms;
    } else {
        delay = m->latency_ms;
    }
    mock_reply_later(s, req, status, answer, status == 429, seq, delay,
                     busy_body);
out:
    llm_request_destroy(&in);
}

/* ---- /_mock/script ---------------------------------------------------- */

static int load_script(llm_mock *m, const char *text, size_t len,
                       char *err, size_t errlen)
{
    llm_script next;

    if (llm_script_parse(text, len, &next, err, errlen) != 0) {
        return -1;
    }
    llm_script_free(&m->script);
    m->script = next;
    return 0;
}

static void handle_script(mock_server *s, llm_mock *m,
                          struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char err[256];
    size_t len = 0;
    char *raw;

    (void)s;
    if (cmd == EVHTTP_REQ_GET) {
        const char *t = m->script.text != NULL ? m->script.text
                                               : "{\"rules\":[]}";

        mock_reply_raw(req, 200, "application/json", t, strlen(t), false);
        return;
    }
    if (cmd == EVHTTP_REQ_DELETE) {
        llm_script_free(&m->script);
        mock_reply_raw(req, 200, "application/json", "{\"rules\":0}", 11,
                       false);
        return;
    }
    if (cmd != EVHTTP_REQ_PUT && cmd != EVHTTP_REQ_POST) {
        mock_reply_json(req, 405, error_object(405, "use GET, PUT or "
                                               "DELETE on /_mock/script",
                                               NULL));
        return;
    }
    raw = mock_body(req, &len);
    if (raw == NULL) {
        mock_reply_json(req, 500, error_object(500, "out of memory", NULL));
        return;
    }
    if (load_script(m, raw, len, err, sizeof err) != 0) {
        mock_reply_json(req, 400, error_object(400, err, NULL));
    } else {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddNumberToObject(o, "rules", (double)m->script.n_rules);
        mock_reply_json(req, 200, o);
    }
    free(raw);
}

/* ---- routing ---------------------------------------------------------- */

static void handle(mock_server *s, struct evhttp_request *req, void *arg)
{
    llm_mock *m = arg;
    const char *path = mock_path(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (strcmp(path, "/v1/chat/completions") == 0 ||
        strcmp(path, "/chat/completions") == 0) {
        handle_chat(s, m, req, path);
    } else if (strcmp(path, "/healthz") == 0) {
        mock_reply_raw(req, 200, "text/plain", "ok\n", 3, false);
    } else if (strcmp(path, "/v1/models") == 0 ||
               strcmp(path, "/models") == 0) {
        static const char models[] =
            "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":"
            "\"model\",\"created\":0,\"owned_by\":\"sg-mock-llm\"}]}";

        mock_reply_raw(req, 200, "application/json", models,
                       sizeof models - 1, false);
    } else if (strcmp(path, "/_mock/requests") == 0 &&
               cmd == EVHTTP_REQ_GET) {
        mock_list(s, req);
    } else if (strcmp(path, "/_mock/requests") == 0 &&
               cmd == EVHTTP_REQ_DELETE) {
        mock_clear(s, req);
    } else if (strcmp(path, "/_mock/release") == 0 &&
               cmd == EVHTTP_REQ_POST) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddNumberToObject(o, "released", (double)mock_release(s));
        mock_reply_json(req, 200, o);
    } else if (strcmp(path, "/_mock/script") == 0) {
        handle_script(s, m, req);
    } else if (strcmp(path, "/_mock/stats") == 0 && cmd == EVHTTP_REQ_GET) {
        mock_stats(s, req);
    } else {
        mock_reply_json(req, 404, error_object(404, "no such endpoint "
                                               "(see mocks/README.md)",
                                               NULL));
    }
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: " PROG " [--listen HOST:PORT] [--port-file PATH]\n"
          "                   [--script FILE] [--latency-ms N] "
          "[--api-key KEY]\n"
          "                   [--log FILE] [--max-records N]\n"
          "\n"
          "An OpenAI-compatible chat completions mock:\n"
          "POST /v1/chat/completions answers `echo: <last user message>`\n"
          "unless a script rule matches. Control endpoints under /_mock/.\n"
          "\n"
          "  --listen HOST:PORT  address to listen on (default "
          "127.0.0.1:0, an ephemeral port)\n"
          "  --port-file PATH    write the bound port there once listening\n"
          "  --script FILE       initial script (JSON; see mocks/README.md)\n"
          "  --latency-ms N      delay of every answer (default 0)\n"
          "  --api-key KEY       require Authorization: Bearer KEY (else 401)\n"
          "  --log FILE          append each recorded request as a JSON line\n"
          "  --max-records N     requests kept for /_mock/requests "
          "(default 100000)\n"
          "  --help, --version\n", f);
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        return -1;
    }
    buf = malloc(MOCK_MAX_BODY + 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, MOCK_MAX_BODY + 1, f);
    if (ferror(f) || n > MOCK_MAX_BODY) {
        fclose(f);
        free(buf);
        return n > MOCK_MAX_BODY ? -2 : -1;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "port-file", required_argument, NULL, 'p' },
        { "script", required_argument, NULL, 's' },
        { "latency-ms", required_argument, NULL, 'L' },
        { "api-key", required_argument, NULL, 'k' },
        { "log", required_argument, NULL, 'g' },
        { "max-records", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    mock_config cfg;
    mock_server server;
    llm_mock m;
    const char *script_path = NULL;
    int rc;
    int c;

    memset(&cfg, 0, sizeof cfg);
    memset(&m, 0, sizeof m);
    m.script.latency_ms = -1;
    cfg.prog = PROG;
    cfg.listen = "127.0.0.1:0";
    cfg.max_records = MOCK_DEFAULT_MAX_RECORDS;
    cfg.list_key = "requests";
    cfg.record_fields = MOCK_REC_AUTHORIZATION;
    cfg.handler = handle;
    cfg.handler_arg = &m;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': cfg.listen = optarg; break;
        case 'p': cfg.port_file = optarg; break;
        case 's': script_path = optarg; break;
        case 'L':
            if (mock_parse_long(optarg, 0, MOCK_MAX_WAIT_MS,
                                &m.latency_ms) != 0) {
                fprintf(stderr, PROG ": --latency-ms: expected an integer "
                        "in 0..%ld\n", MOCK_MAX_WAIT_MS);
                return 2;
            }
            break;
        case 'k': m.api_key = optarg; break;
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
    if (script_path != NULL) {
        char err[256];
        char *text = NULL;
        size_t len = 0;
        int r = read_file(script_path, &text, &len);

        if (r != 0) {
            fprintf(stderr, PROG ": --script %s: %s\n", script_path,
                    r == -2 ? "larger than 1 MiB" : "cannot read");
            return 2;
        }
        r = load_script(&m, text, len, err, sizeof err);
        free(text);
        if (r != 0) {
            fprintf(stderr, PROG ": --script %s: %s\n", script_path, err);
            return 2;
        }
    }
    rc = mock_server_init(&server, &cfg);
    if (rc == 0) {
        rc = mock_server_run(&server);
    }
    rc = rc == -2 ? 2 : rc != 0 ? 1 : 0;
    mock_server_destroy(&server);
    llm_script_free(&m.script);
    libevent_global_shutdown();
    return rc;
}
