/*
 * Test support for the mocks: start a mock executable as a child process
 * on an ephemeral port (learnt from --port-file), talk to it over HTTP
 * with libcurl, stop it with SIGTERM and collect its exit status.
 *
 * Every function returns 0 on success and -1 on failure with a line on
 * stderr; the tests assert on that.
 */
#ifndef SG_MOCK_CHILD_H
#define SG_MOCK_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

typedef struct mock_child {
    pid_t pid;
    unsigned port;
    char dir[256];  /* private temporary folder, removed by stop */
} mock_child;

/* Creates the child's temporary folder (before start, so that a test can
 * put a script or a log path there). */
int mock_child_init(mock_child *c);
/* dir/name into buf. */
int mock_child_path(const mock_child *c, const char *name, char *buf,
                    size_t size);
/* Starts exe with --listen 127.0.0.1:0 --port-file dir/port and args
 * (NULL-terminated, may be NULL) and waits for the port file. */
int mock_child_start(mock_child *c, const char *exe,
                     const char *const *args);
/* SIGTERM, wait, remove the folder. Returns the exit status (0..255), or
 * -1 when the child died of a signal or could not be waited for. */
int mock_child_stop(mock_child *c);
/* Sends sig to the child: tests of a stop by SIGINT use it. */
int mock_child_kill(const mock_child *c, int sig);

/* One HTTP exchange, usable alone (mock_http) or in a curl multi. */
typedef struct mock_call {
    CURL *easy;
    struct curl_slist *headers;
    char *request_body;
    long status;
    char *body;          /* response body, NUL-terminated */
    size_t len;
    char retry_after[32]; /* the Retry-After header, "" when absent */
    cJSON *json;         /* the response body parsed, or NULL */
} mock_call;

/* Prepares a request. body NULL sends none; header is one extra header
 * line ("Authorization: Bearer x") or NULL. JSON content type for bodies. */
int mock_call_init(mock_call *call, const mock_child *c, const char *method,
                   const char *path, const char *body, const char *header);
/* After the transfer: fills status and json. */
void mock_call_done(mock_call *call);
void mock_call_cleanup(mock_call *call);

/* init + perform + done. The caller cleans up. */
int mock_http(mock_call *call, const mock_child *c, const char *method,
              const char *path, const char *body, const char *header);

/* Drives a multi handle for up to ms milliseconds, or until no transfer
 * runs. Returns the number still running. */
int mock_multi_pump(CURLM *multi, int ms);

/* GET path until the JSON number at key `field` of the answer satisfies
 * value >= want (value <= want with at_most), or 30 s pass (under
 * valgrind everything is slow). The waiting is on the mock's state: a
 * short pause between polls only. multi, when not NULL, is driven
 * meanwhile so that its transfers make progress. */
int mock_wait_number(const mock_child *c, CURLM *multi, const char *path,
                     const char *field, double want, int at_most);

/* The item at a dotted path ("choices.0.message.content"), or NULL. */
const cJSON *mock_json_at(const cJSON *json, const char *path);
/* The string at path, or NULL. */
const char *mock_json_str(const cJSON *json, const char *path);
/* The number at path, or -1. */
double mock_json_num(const cJSON *json, const char *path);

#endif
