/*
 * The LLM client's connections (llm.h): calls one after another reuse
 * one kept-alive connection; a connection the server closes, after an
 * answer ("Connection: close") or while it waits idle in the client's
 * cache, is replaced by a new one at the next call, which succeeds; the
 * client frees its idle connections and their watches. A kept handle
 * set up for one URL and key still sends a call with another URL or
 * key to that URL with that key, and a proxy named in the environment
 * is still used. The server is an evhttp server on the test's own loop,
 * answering a fixed chat.completion.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "llm.h"

static const char answer[] =
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
    "\"finish_reason\":\"stop\"}]}";

typedef struct world {
    struct event_base *base;
    struct evhttp *http;
    char url[128];
    int port;
    sgi_llm *llm;
    char last_uri[256];         /* the request target of the last request */
    char last_auth[256];        /* its Authorization header, "" if none */
    int close_after;            /* answer with Connection: close */
    int requests;               /* answered by the server */
    int server_closed;          /* server-side connections closed */
    int done, ok;               /* calls ended, and ended well */
    long connects;              /* new connections of the attempts */
} world;

static void on_server_conn_closed(struct evhttp_connection *c, void *arg)
{
    world *w = arg;

    (void)c;
    w->server_closed++;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    world *w = arg;
    struct evbuffer *b = evbuffer_new();
    const char *auth = evhttp_find_header(
        evhttp_request_get_input_headers(req), "Authorization");

    w->requests++;
    snprintf(w->last_uri, sizeof w->last_uri, "%s",
             evhttp_request_get_uri(req));
    snprintf(w->last_auth, sizeof w->last_auth, "%s",
             auth != NULL ? auth : "");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req),
                                  on_server_conn_closed, w);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Content-Type", "application/json");
    if (w->close_after)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Connection", "close");
    evbuffer_add(b, answer, sizeof answer - 1);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_attempt(long status, double seconds, long connects, void *ud)
{
    world *w = ud;

    (void)status;
    (void)seconds;
    w->connects += connects;
}

static void on_done(const sgi_llm_result *res, void *ud)
{
    world *w = ud;

    w->done++;
    if (res->ok && res->reply != NULL &&
        strcmp(res->reply->content, "hi") == 0)
        w->ok++;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    struct evhttp_bound_socket *bs;
    sgi_llm_opts o;
    evutil_socket_t fd;
    struct sockaddr_storage ss;
    ev_socklen_t len = sizeof ss;

    assert_non_null(w);
    w->base = event_base_new();
    w->http = evhttp_new(w->base);
    assert_non_null(w->http);
    evhttp_set_gencb(w->http, on_request, w);
    bs = evhttp_bind_socket_with_handle(w->http, "127.0.0.1", 0);
    assert_non_null(bs);
    fd = evhttp_bound_socket_get_fd(bs);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    w->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d/chat/completions",
             w->port);
    memset(&o, 0, sizeof o);
    o.on_attempt = on_attempt;
    o.ud = w;
    assert_int_equal(sgi_llm_new(w->base, &o, &w->llm), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sgi_llm_free(w->llm);
    evhttp_free(w->http);
    event_base_free(w->base);
    sgi_llm_global_cleanup();
    free(w);
    return 0;
}

/* One call to url with api_key, run on the loop until it ends. */
static void call_to(world *w, const char *url, const char *api_key)
{
    sgi_llm_request rq;
    int before = w->done, i;

    memset(&rq, 0, sizeof rq);
    rq.url = url;
    rq.api_key = api_key;
    rq.body = "{\"messages\":[]}";
    rq.body_len = strlen(rq.body);
    rq.timeout_ms = 5000;
    rq.log_id = "t";
    assert_int_equal(sgi_llm_start(w->llm, &rq, on_done, w, NULL), 0);
    for (i = 0; i < 100000 && w->done == before; i++)
        event_base_loop(w->base, EVLOOP_ONCE);
    assert_int_equal(w->done, before + 1);
}

static void call(world *w)
{
    call_to(w, w->url, NULL);
}

/* Runs the loop until the server has seen n connections closed. */
static void wait_server_closed(world *w, int n)
{
    int i;

    for (i = 0; i < 100000 && w->server_closed < n; i++)
        event_base_loop(w->base, EVLOOP_ONCE);
    assert_int_equal(w->server_closed, n);
}

static void test_llm_conn_calls_reuse_one_connection(void **state)
{
    world *w = *state;
    int i;

    for (i = 0; i < 20; i++)
        call(w);
    assert_int_equal(w->ok, 20);
    assert_int_equal(w->requests, 20);
    assert_int_equal(w->connects, 1);
}

static void test_llm_conn_closed_after_answer_replaced(void **state)
{
    world *w = *state;
    int i;

    w->close_after = 1;
    for (i = 0; i < 5; i++)
        call(w);
    assert_int_equal(w->ok, 5);
    assert_int_equal(w->connects, 5);
}

/* The idle connection's socket stays watched between calls; the server
   closing it then makes it readable, and the next call takes a new one. */
static void test_llm_conn_closed_while_idle_replaced(void **state)
{
    world *w = *state;

    /* The server closes a connection idle for a second. */
    evhttp_set_timeout(w->http, 1);
    call(w);
    wait_server_closed(w, 1);
    call(w);
    call(w);
    assert_int_equal(w->ok, 3);
    assert_int_equal(w->connects, 2);
}

/* The kept handles are set up again for another URL or key. */
static void test_llm_conn_url_and_key_of_each_call(void **state)
{
    world *w = *state;
    char other[160];
    int i;

    snprintf(other, sizeof other, "http://127.0.0.1:%d/v2/chat?x=1&y=%%2F",
             w->port);
    for (i = 0; i < 2; i++) {
        call_to(w, w->url, "k1");
        assert_string_equal(w->last_uri, "/chat/completions");
        assert_string_equal(w->last_auth, "Bearer k1");
        call_to(w, other, "k1");
        assert_string_equal(w->last_uri, "/v2/chat?x=1&y=%2F");
        assert_string_equal(w->last_auth, "Bearer k1");
        call_to(w, other, "k2");
        assert_string_equal(w->last_auth, "Bearer k2");
        call_to(w, other, NULL);
        assert_string_equal(w->last_auth, "");
    }
    assert_int_equal(w->ok, 8);
}

/* A proxy named in the environment at the first call is used: the
   call to a host that does not exist goes to the proxy (this server). */
static void test_llm_conn_proxy_from_environment(void **state)
{
    world *w = *state;
    char proxy[64];

    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", w->port);
    assert_int_equal(setenv("http_proxy", proxy, 1), 0);
    call_to(w, "http://llm.invalid/v1/chat/completions", NULL);
    unsetenv("http_proxy");
    assert_int_equal(w->ok, 1);
    assert_string_equal(w->last_uri,
                        "http://llm.invalid/v1/chat/completions");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_llm_conn_calls_reuse_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_llm_conn_closed_after_answer_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_llm_conn_closed_while_idle_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_llm_conn_url_and_key_of_each_call, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_llm_conn_proxy_from_environment, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
