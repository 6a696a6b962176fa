/*
 * The HTTP plumbing shared by the mocks (sg-mock-llm, sg-mock-platform).
 *
 * One mock_server is one single-threaded libevent loop with an evhttp
 * listener, the SIGINT/SIGTERM handlers, a bounded journal of recorded
 * requests (the list answered by GET /_mock/requests or /_mock/calls, with
 * long-polling) and the requests held back by latency, hang or a long
 * poll. A mock program only writes the handler that routes a request and
 * decides the answer; everything that outlives one callback lives here.
 *
 * Ownership: the server owns every record, every held request and the
 * log file; mock_server_destroy() frees them all. evhttp owns the
 * evhttp_request objects; a held request gives its evhttp_request back by
 * answering it, or forgets it when the client went away (see
 * mock_server.c, held_closed).
 */
#ifndef SG_MOCK_SERVER_H
#define SG_MOCK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/* Request bodies above this are answered 413 by evhttp itself. */
#define MOCK_MAX_BODY (1024 * 1024)
#define MOCK_MAX_HEADERS (64 * 1024)
/* Requests held at once: by a hang, by latency, by a long poll. Past the
 * bound the request is answered at once (503 for hang/latency, an empty
 * list for a poll) rather than queued without limit. */
#define MOCK_MAX_HUNG 1024
#define MOCK_MAX_DELAYED 65536
#define MOCK_MAX_WAITERS 1024
/* Longest latency, hang-free delay or long-poll a request may ask for. */
#define MOCK_MAX_WAIT_MS 600000L
#define MOCK_DEFAULT_MAX_RECORDS 100000L
#define MOCK_MAX_RECORDS 10000000L
/* The journal also drops its oldest records past this many bytes, so that
 * large bodies at a high rate cannot exhaust memory. */
#define MOCK_MAX_JOURNAL_BYTES ((size_t)256 << 20)

/* Which optional fields a record prints (besides seq, time_ms, path, body
 * and status). */
enum {
    MOCK_REC_AUTHORIZATION = 1u << 0,
    MOCK_REC_OP_CHANNEL = 1u << 1,
};

/* One recorded request. Strings are owned by the record (NULL prints as
 * null); body is compact JSON text or NULL. With body_raw, body holds
 * instead the request's bytes as received (body_len of them, NUL after),
 * parsed and printed compact only when the record is listed or logged
 * (null when they are not JSON): a mock whose requests are many and
 * rarely listed then pays for no second copy of each body's tree. status
 * 0 prints as null: the answer is not sent yet. */
typedef struct mock_record {
    uint64_t seq;
    int64_t time_ms;
    int status;
    bool logged;
    bool body_raw;
    char *path;
    char *authorization;
    char *op;
    char *channel_id;
    char *body;
    size_t body_len;
} mock_record;

typedef struct mock_server mock_server;
typedef struct mock_held mock_held;

typedef void mock_handler_fn(mock_server *s, struct evhttp_request *req,
                             void *arg);

typedef struct mock_config {
    const char *prog;        /* program name for the banner and errors */
    const char *listen;      /* HOST:PORT, port 0 = ephemeral */
    const char *port_file;   /* NULL: none */
    const char *log_path;    /* NULL: no JSON-lines log */
    long max_records;        /* journal bound, >= 1 */
    const char *list_key;    /* "requests" or "calls" */
    unsigned record_fields;  /* MOCK_REC_* */
    mock_handler_fn *handler;
    void *handler_arg;
} mock_config;

struct mock_server {
    mock_config cfg;
    struct event_base *base;
    struct evhttp *http;
    struct event *notify_ev;   /* answers long polls after a callback */
    struct event *sigint_ev;
    struct event *sigterm_ev;
    FILE *log;
    unsigned port;

    /* The journal: a ring of the newest records, oldest at `start`. */
    mock_record **ring;
    size_t cap;
    size_t start;
    size_t count;
    size_t bytes;
    uint64_t next_seq;
    uint64_t dropped;

    /* Held answers (hung, delayed) and held long polls, in two lists. */
    mock_held *held;
    mock_held *waiters;
    size_t n_hung;
    size_t n_delayed;
    size_t n_waiting;
};

/* Binds, writes the port file and prints the banner. On failure prints
 * the reason on stderr and returns -2 for a bad --listen or --log (the
 * caller exits 2) or -1 otherwise (exit 1); *s can then still be given to
 * mock_server_destroy(). */
int mock_server_init(mock_server *s, const mock_config *cfg);
/* Runs the loop until SIGINT or SIGTERM. Returns 0, or -1 on a loop
 * error. */
int mock_server_run(mock_server *s);
/* Frees everything, held requests and records included; flushes the log
 * (records never answered are logged with status null). */
void mock_server_destroy(mock_server *s);

/* Parses HOST:PORT ("[::1]:0" for IPv6). 0 or -1. */
int mock_parse_listen(const char *text, char *host, size_t hostlen,
                      unsigned *port);
/* Parses a decimal integer in [min, max]: 0 or -1. */
int mock_parse_long(const char *text, long min, long max, long *out);

int64_t mock_now_ms(void);

/* The request's body as a NUL-terminated heap string (free()), or NULL
 * when memory ran out. *len gets its length. */
char *mock_body(struct evhttp_request *req, size_t *len);
/* The path of the request URI without the query ("/" when empty). */
const char *mock_path(struct evhttp_request *req);
/* Parses the query into *q (free with evhttp_clear_headers). 0 or -1. */
int mock_query(struct evhttp_request *req, struct evkeyvalq *q);

/* Answers with the JSON text of obj, which it frees. */
void mock_reply_json(struct evhttp_request *req, int status, cJSON *obj);
/* Answers with a ready body (copied) and content type. */
void mock_reply_raw(struct evhttp_request *req, int status,
                    const char *ctype, const char *body, size_t len,
                    bool retry_after_zero);
/* The usual reason phrase of an HTTP status. */
const char *mock_reason(int status);
/* Appends s as a JSON string literal. */
void mock_json_string(struct evbuffer *b, const char *s);

/* Starts a record with the next seq and the current time; the caller
 * fills its fields and gives it to mock_record_commit() before starting
 * another. NULL when memory ran out. */
mock_record *mock_record_new(mock_server *s);
/* Adds the record to the journal (taking it), drops the oldest past the
 * bounds and answers the long polls that now have something. */
void mock_record_commit(mock_server *s, mock_record *rec);
/* Sets the status of record seq, once its answer was sent, and logs it.
 * A record already dropped is left alone. */
void mock_record_finish(mock_server *s, uint64_t seq, int status);

/* Answers req with status/body after delay_ms (0: now; -1: hang until
 * mock_release()), then finishes record seq (0: none). Takes body (heap,
 * NUL-terminated JSON). Past MOCK_MAX_HUNG/MOCK_MAX_DELAYED the request
 * is answered 503 with err_body_503 (copied). */
void mock_reply_later(mock_server *s, struct evhttp_request *req,
                      int status, char *body, bool retry_after_zero,
                      uint64_t seq, long delay_ms, const char *body_503);
/* Answers every hung request; returns how many. */
size_t mock_release(mock_server *s);

/* GET of the journal list: query since, wait_ms, limit and, for records
 * with MOCK_REC_OP_CHANNEL, op and channel_id filters. Answers now or
 * holds the request as a long poll. */
void mock_list(mock_server *s, struct evhttp_request *req);
/* DELETE of the journal list: drops every record (seq keeps counting). */
void mock_clear(mock_server *s, struct evhttp_request *req);
/* GET /_mock/stats: counts of held requests and records. */
void mock_stats(mock_server *s, struct evhttp_request *req);

#endif
