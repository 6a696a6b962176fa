/*
 * Test support: a mock as a child process, and HTTP calls to it.
 */
#define _POSIX_C_SOURCE 200809L

#include "mock_child.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

extern char **environ;

#define MOCK_CHILD_WAIT_MS 30000
#define MOCK_CHILD_MAX_ARGS 32

static void pause_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L +
           (now.tv_nsec - start->tv_nsec) / 1000000L;
}

int mock_child_init(mock_child *c)
{
    const char *tmp = getenv("TMPDIR");
    int n;

    memset(c, 0, sizeof *c);
    c->pid = -1;
    n = snprintf(c->dir, sizeof c->dir, "%s/sg-mock-test-XXXXXX",
                 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof c->dir || mkdtemp(c->dir) == NULL) {
        fprintf(stderr, "mock_child_init: mkdtemp: %s\n", strerror(errno));
        c->dir[0] = '\0';
        return -1;
    }
    return 0;
}

int mock_child_path(const mock_child *c, const char *name, char *buf,
                    size_t size)
{
    int n = snprintf(buf, size, "%s/%s", c->dir, name);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int read_port(const char *path, unsigned *port)
{
    FILE *f = fopen(path, "r");
    unsigned p = 0;
    int ok;

    if (f == NULL) {
        return -1;
    }
    ok = fscanf(f, "%5u", &p) == 1 && p > 0 && p <= 65535;
    fclose(f);
    if (!ok) {
        return -1;
    }
    *port = p;
    return 0;
}

int mock_child_start(mock_child *c, const char *exe,
                     const char *const *args)
{
    char port_file[300];
    char *argv[MOCK_CHILD_MAX_ARGS + 6];
    struct timespec start;
    size_t n = 0;
    int rc;

    if (mock_child_path(c, "port", port_file, sizeof port_file) != 0) {
        return -1;
    }
    argv[n++] = (char *)exe;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (; args != NULL && *args != NULL; args++) {
        if (n >= MOCK_CHILD_MAX_ARGS + 5) {
            fprintf(stderr, "mock_child_start: too many arguments\n");
            return -1;
        }
        argv[n++] = (char *)*args;
    }
    argv[n] = NULL;
    rc = posix_spawn(&c->pid, exe, NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "mock_child_start: %s: %s\n", exe, strerror(rc));
        c->pid = -1;
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (read_port(port_file, &c->port) != 0) {
        int status;

        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            fprintf(stderr, "mock_child_start: %s exited before "
                    "listening\n", exe);
            c->pid = -1;
            return -1;
        }
        if (elapsed_ms(&start) > MOCK_CHILD_WAIT_MS) {
            fprintf(stderr, "mock_child_start: no port file after %d ms\n",
                    MOCK_CHILD_WAIT_MS);
            return -1;
        }
        pause_ms(5);
    }
    return 0;
}

int mock_child_kill(const mock_child *c, int sig)
{
    return c->pid > 0 ? kill(c->pid, sig) : -1;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[600];
        int n;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof path) {
            (void)unlink(path);
        }
    }
    closedir(d);
    (void)rmdir(dir);
}

int mock_child_stop(mock_child *c)
{
    int status = 0;
    int rc = -1;

    if (c->pid > 0) {
        if (kill(c->pid, SIGTERM) == 0 || errno == ESRCH) {
            while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
            }
            if (WIFEXITED(status)) {
                rc = WEXITSTATUS(status);
            } else {
                fprintf(stderr, "mock_child_stop: child died of signal "
                        "%d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            }
        }
        c->pid = -1;
    }
    if (c->dir[0] != '\0') {
        remove_dir(c->dir);
        c->dir[0] = '\0';
    }
    return rc;
}

/* ---- HTTP ------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    mock_call *call = arg;
    size_t n = size * nmemb;
    char *grown = realloc(call->body, call->len + n + 1);

    if (grown == NULL) {
        return 0;
    }
    memcpy(grown + call->len, data, n);
    call->len += n;
    grown[call->len] = '\0';
    call->body = grown;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    mock_call *call = arg;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    if (n > sizeof name - 1) {
        size_t i;
        int match = 1;

        for (i = 0; i < sizeof name - 1; i++) {
            char ch = data[i];

            if (ch >= 'A' && ch <= 'Z') {
                ch = (char)(ch - 'A' + 'a');
            }
            if (ch != name[i]) {
                match = 0;
                break;
            }
        }
        if (match) {
            size_t at = sizeof name - 1;
            size_t out = 0;

            while (at < n && data[at] == ' ') {
                at++;
            }
            while (at < n && data[at] != '\r' && data[at] != '\n' &&
                   out + 1 < sizeof call->retry_after) {
                call->retry_after[out++] = data[at++];
            }
            call->retry_after[out] = '\0';
        }
    }
    return n;
}

int mock_call_init(mock_call *call, const mock_child *c, const char *method,
                   const char *path, const char *body, const char *header)
{
    char url[512];
    int n;

    memset(call, 0, sizeof *call);
    n = snprintf(url, sizeof url, "http://127.0.0.1:%u%s", c->port, path);
    if (n < 0 || (size_t)n >= sizeof url) {
        return -1;
    }
    call->easy = curl_easy_init();
    if (call->easy == NULL) {
        return -1;
    }
    curl_easy_setopt(call->easy, CURLOPT_URL, url);
    curl_easy_setopt(call->easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(call->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(call->easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(call->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(call->easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(call->easy, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(call->easy, CURLOPT_NOBODY, 1L);
    }
    if (body != NULL) {
        size_t len = strlen(body);

        call->request_body = malloc(len + 1);
        if (call->request_body == NULL) {
            return -1;
        }
        memcpy(call->request_body, body, len + 1);
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->request_body);
        curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)len);
        call->headers = curl_slist_append(call->headers,
                                          "Content-Type: application/json");
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    call->headers = curl_slist_append(call->headers, "Expect:");
    if (header != NULL) {
        call->headers = curl_slist_append(call->headers, header);
    }
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    return 0;
}

void mock_call_done(mock_call *call)
{
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->status);
    cJSON_Delete(call->json);
    call->json = call->body != NULL ? cJSON_Parse(call->body) : NULL;
}

void mock_call_cleanup(mock_call *call)
{
    if (call->easy != NULL) {
        curl_easy_cleanup(call->easy);
    }
    curl_slist_free_all(call->headers);
    free(call->request_body);
    free(call->body);
    cJSON_Delete(call->json);
    memset(call, 0, sizeof *call);
}

int mock_http(mock_call *call, const mock_child *c, const char *method,
              const char *path, const char *body, const char *header)
{
    CURLcode rc;

    if (mock_call_init(call, c, method, path, body, header) != 0) {
        return -1;
    }
    rc = curl_easy_perform(call->easy);
    if (rc != CURLE_OK) {
        fprintf(stderr, "mock_http: %s %s: %s\n", method, path,
                curl_easy_strerror(rc));
        return -1;
    }
    mock_call_done(call);
    return 0;
}

int mock_multi_pump(CURLM *multi, int ms)
{
    struct timespec start;
    int running = 0;

    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        curl_multi_perform(multi, &running);
        if (running == 0) {
            break;
        }
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    } while (elapsed_ms(&start) < ms);
    return running;
}

int mock_wait_number(const mock_child *c, CURLM *multi, const char *path,
                     const char *field, double want, int at_most)
{
    struct timespec start;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        mock_call call;
        const cJSON *v;
        int done = 0;

        if (mock_http(&call, c, "GET", path, NULL, NULL) == 0) {
            v = cJSON_GetObjectItemCaseSensitive(call.json, field);
            if (cJSON_IsNumber(v)) {
                done = at_most ? v->valuedouble <= want
                               : v->valuedouble >= want;
            }
        }
        mock_call_cleanup(&call);
        if (done) {
            return 0;
        }
        if (multi != NULL) {
            mock_multi_pump(multi, 10);
        }
        if (elapsed_ms(&start) > MOCK_CHILD_WAIT_MS) {
            fprintf(stderr, "mock_wait_number: %s %s never %s %g\n", path,
                    field, at_most ? "<=" : ">=", want);
            return -1;
        }
        pause_ms(10);
    }
}

const cJSON *mock_json_at(const cJSON *json, const char *path)
{
    char key[128];

    while (json != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");

        if (n >= sizeof key) {
            return NULL;
        }
        memcpy(key, path, n);
        key[n] = '\0';
        if (cJSON_IsArray(json)) {
            char *end;
            long i = strtol(key, &end, 10);

            json = *end == '\0' && end != key
                ? cJSON_GetArrayItem(json, (int)i) : NULL;
        } else {
            json = cJSON_GetObjectItemCaseSensitive(json, key);
        }
        path += n;
        if (*path == '.') {
            path++;
        }
    }
    return json;
}

const char *mock_json_str(const cJSON *json, const char *path)
{
    const cJSON *v = mock_json_at(json, path);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double mock_json_num(const cJSON *json, const char *path)
{
    const cJSON *v = mock_json_at(json, path);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}
