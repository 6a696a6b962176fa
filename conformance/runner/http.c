/*
 * http.c: blocking HTTP with libcurl (to drive the mocks and the gateway's
 * http platform), and starting the two mocks.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SGC_HTTP_MAX_BODY (16u << 20)

typedef struct body_sink {
    char *buf;
    size_t len, cap;
    int overflow;
} body_sink;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    body_sink *s = ud;
    size_t n = size * nmemb;
    if (s->len + n + 1 > SGC_HTTP_MAX_BODY) {
        s->overflow = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL)
            return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, ptr, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

int sgc_http(const char *method, const char *url, const char *body,
             int timeout_ms, sgc_http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(resp->err, sizeof resp->err, "curl_easy_init failed");
        return -1;
    }
    body_sink s = { 0 };
    struct curl_slist *hdr = NULL;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(resp->err, sizeof resp->err, "%s %s: %s", method, url,
                 curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    resp->body = s.buf;
    resp->len = s.len;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return ret;
}

void sgc_http_resp_free(sgc_http_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
}

cJSON *sgc_http_json(const char *method, const char *url, const char *body,
                     int timeout_ms, long *status)
{
    sgc_http_resp r;
    int rc = sgc_http(method, url, body, timeout_ms, &r);
    if (status)
        *status = r.status;
    cJSON *j = NULL;
    if (rc == 0 && r.body)
        j = cJSON_Parse(r.body);
    sgc_http_resp_free(&r);
    return j;
}

/* ---- mocks ------------------------------------------------------------ */

int sgc_mock_start(sgc_ctx *c, sgc_mock *m, const char *prog,
                   const char *tag)
{
    char path[SGC_PATH_MAX], portfile[SGC_PATH_MAX], reqlog[SGC_PATH_MAX];
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/%s", c->opts->bin_dir, prog);
    if (access(path, X_OK) != 0)
        return sgc_error(c, "mock %s not found at %s (build it, or give "
                         "--bin-dir)", prog, path);
    snprintf(portfile, sizeof portfile, "%s/%s.port", c->dir, tag);
    snprintf(reqlog, sizeof reqlog, "%s/%s.requests.log", c->dir, tag);
    snprintf(m->proc.log, sizeof m->proc.log, "%s/%s.stderr", c->dir, tag);
    unlink(portfile);
    char lat[32];
    snprintf(lat, sizeof lat, "%d", c->def->latency_ms);
    char *argv[] = { path, "--port-file", portfile, "--log", reqlog,
                     "--latency-ms", lat, NULL };
    if (sgc_proc_start(&m->proc, argv, NULL, NULL) != 0)
        return sgc_error(c, "cannot start %s", path);
    long long end = sgc_now_ms() + 10000;
    while (sgc_now_ms() < end) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int port = 0;
            int got = fscanf(f, "%d", &port);
            fclose(f);
            if (got == 1 && port > 0) {
                m->port = port;
                snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d",
                         port);
                return 0;
            }
        }
        if (sgc_proc_poll(&m->proc))
            return sgc_error(c, "%s exited at start (see %s)", prog,
                             m->proc.log);
        sgc_sleep_ms(10);
    }
    return sgc_error(c, "%s wrote no port file within 10 s", prog);
}

void sgc_mock_stop(sgc_mock *m)
{
    sgc_proc_stop(&m->proc, 2000);
}

static int mock_call(sgc_ctx *c, const sgc_mock *m, const char *method,
                     const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", m->base, path);
    sgc_http_resp r;
    int rc = sgc_http(method, url, body, 5000, &r);
    if (rc != 0 || r.status < 200 || r.status > 299) {
        sgc_error(c, "%s %s: status %ld %s %s", method, url, r.status,
                  r.err, r.body ? r.body : "");
        sgc_http_resp_free(&r);
        return -1;
    }
    sgc_http_resp_free(&r);
    return 0;
}

int sgc_llm_script(sgc_ctx *c, const char *json)
{
    return mock_call(c, &c->llm, "PUT", "/_mock/script", json);
}

int sgc_llm_release(sgc_ctx *c)
{
    return mock_call(c, &c->llm, "POST", "/_mock/release", "{}");
}

int sgc_platform_fail(sgc_ctx *c, const char *json)
{
    return mock_call(c, &c->platform, "POST", "/_mock/fail", json);
}

int sgc_platform_clear_fail(sgc_ctx *c)
{
    return mock_call(c, &c->platform, "DELETE", "/_mock/fail", NULL);
}

int sgc_platform_release(sgc_ctx *c)
{
    return mock_call(c, &c->platform, "POST", "/_mock/release", "{}");
}
