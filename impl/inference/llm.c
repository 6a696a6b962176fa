/*
 * llm.c: see llm.h. The usual pairing of libcurl's multi socket API with
 * libevent: curl tells us which sockets to watch (socket callback) and
 * when to wake it (timer callback); we tell curl what happened with
 * curl_multi_socket_action() and then collect finished transfers.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dlfcn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "sg/random.h"

/* ---- libcurl, loaded at the first call ------------------------------------ */

/*
 * libcurl is not linked: it is loaded (dlopen) at the first LLM call. It
 * brings in its TLS and authentication libraries (OpenSSL, GnuTLS,
 * Kerberos, LDAP, ...), and curl_global_init() sets OpenSSL up: about
 * 7 MB of resident pages that a worker which has not called its LLM yet
 * does not need. The functions used here go through this table; the
 * names below are macros for its entries, so that the code reads as
 * plain libcurl.
 */
static struct {
    int state;                  /* 0 not tried, 1 loaded, -1 failed */
    void *lib;
    char error[256];
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    void (*url_cleanup)(CURLU *);
} lc;

#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_init (*lc.easy_init)
#define curl_easy_setopt (*lc.easy_setopt)
#define curl_easy_getinfo (*lc.easy_getinfo)
#define curl_easy_cleanup (*lc.easy_cleanup)
#define curl_easy_reset (*lc.easy_reset)
#define curl_easy_strerror (*lc.easy_strerror)
#define curl_multi_init (*lc.multi_init)
#define curl_multi_setopt (*lc.multi_setopt)
#define curl_multi_add_handle (*lc.multi_add_handle)
#define curl_multi_remove_handle (*lc.multi_remove_handle)
#define curl_multi_assign (*lc.multi_assign)
#define curl_multi_socket_action (*lc.multi_socket_action)
#define curl_multi_info_read (*lc.multi_info_read)
#define curl_multi_cleanup (*lc.multi_cleanup)
#define curl_slist_append (*lc.slist_append)
#define curl_slist_free_all (*lc.slist_free_all)
#define curl_url (*lc.url)
#define curl_url_set (*lc.url_set)
#define curl_url_cleanup (*lc.url_cleanup)

/* One symbol into *fn (a function pointer: copied, as ISO C has no cast
   from an object pointer to a function pointer). */
static int lc_sym(void *fn, size_t size, const char *name)
{
    void *p = dlsym(lc.lib, name);

    if (p == NULL) {
        snprintf(lc.error, sizeof lc.error, "libcurl has no %s", name);
        return -1;
    }
    memcpy(fn, &p, size);
    return 0;
}

#define LC_SYM(field, name) lc_sym(&lc.field, sizeof lc.field, name)

/* Loads and sets up libcurl once per process. 0, or -1 (lc.error). */
static int lc_load(void)
{
    static const char *const names[] = {"libcurl.so.4", "libcurl.so"};
    size_t i;

    if (lc.state != 0)
        return lc.state > 0 ? 0 : -1;
    lc.state = -1;
    for (i = 0; i < sizeof names / sizeof names[0] && lc.lib == NULL; i++)
        lc.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lc.lib == NULL) {
        const char *e = dlerror();

        snprintf(lc.error, sizeof lc.error, "libcurl cannot be loaded: %s",
                 e != NULL ? e : "not found");
        return -1;
    }
    if (LC_SYM(global_init, "curl_global_init") != 0 ||
        LC_SYM(global_cleanup, "curl_global_cleanup") != 0 ||
        LC_SYM(easy_init, "curl_easy_init") != 0 ||
        LC_SYM(easy_setopt, "curl_easy_setopt") != 0 ||
        LC_SYM(easy_getinfo, "curl_easy_getinfo") != 0 ||
        LC_SYM(easy_cleanup, "curl_easy_cleanup") != 0 ||
        LC_SYM(easy_reset, "curl_easy_reset") != 0 ||
        LC_SYM(easy_strerror, "curl_easy_strerror") != 0 ||
        LC_SYM(multi_init, "curl_multi_init") != 0 ||
        LC_SYM(multi_setopt, "curl_multi_setopt") != 0 ||
        LC_SYM(multi_add_handle, "curl_multi_add_handle") != 0 ||
        LC_SYM(multi_remove_handle, "curl_multi_remove_handle") != 0 ||
        LC_SYM(multi_assign, "curl_multi_assign") != 0 ||
        LC_SYM(multi_socket_action, "curl_multi_socket_action") != 0 ||
        LC_SYM(multi_info_read, "curl_multi_info_read") != 0 ||
        LC_SYM(multi_cleanup, "curl_multi_cleanup") != 0 ||
        LC_SYM(slist_append, "curl_slist_append") != 0 ||
        LC_SYM(slist_free_all, "curl_slist_free_all") != 0 ||
        LC_SYM(url, "curl_url") != 0 ||
        LC_SYM(url_set, "curl_url_set") != 0 ||
        LC_SYM(url_cleanup, "curl_url_cleanup") != 0) {
        dlclose(lc.lib);
        lc.lib = NULL;
        return -1;
    }
    if (lc.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(lc.error, sizeof lc.error, "libcurl did not initialise");
        dlclose(lc.lib);
        lc.lib = NULL;
        return -1;
    }
    lc.state = 1;
    return 0;
}

void sgi_llm_global_cleanup(void)
{
    /* The library stays mapped: its atexit handlers may still run. */
    if (lc.state > 0)
        lc.global_cleanup();
    lc.state = 0;
}

#define EASY_IDLE_MAX 16

/*
 * An easy handle and what it is set up for. A finished call's handle is
 * kept as it is (not reset) for a later call: one to the same URL with
 * the same key and timeout, the steady case, sets only its body and its
 * own pointers; the others reset the handle and set it up again. The
 * URL is parsed once per setup (CURLOPT_CURLU): given as text, libcurl
 * would parse it again for every transfer.
 */
typedef struct handle {
    CURL *easy;
    CURLU *uh;                  /* the URL parsed; NULL: given as text */
    struct curl_slist *headers;
    char *url, *api_key;        /* set up for these; url NULL: not set up */
    int timeout_ms;
    /* The buffers of the call's body and answer, kept with the handle
       (up to BUF_KEEP_MAX bytes each) rather than allocated per call:
       at a kilobyte or more, each allocation is one that makes malloc
       sort its small free chunks first. */
    char *body, *resp;
    size_t body_cap, resp_cap;
} handle;

#define BUF_KEEP_MAX ((size_t)65536)

struct sgi_llm {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    sgi_llm_opts opts;
    sgi_llm_call *calls;        /* every call in flight */
    size_t ncalls;
    struct sock *socks;         /* every watched socket */
    struct sock **ours;         /* the sockets we opened, by descriptor */
    size_t nours;
    int load_logged;            /* libcurl's load failure was logged */
    int no_proxy;               /* the environment names no proxy */
    /* Easy handles of finished calls, for the next ones: a handle is a
       few allocations and buffers not worth making per call. */
    handle *idle[EASY_IDLE_MAX];
    size_t nidle;
};

struct sgi_llm_call {
    sgi_llm *llm;
    sgi_llm_call *prev, *next;
    handle *h;
    CURL *easy;                 /* h->easy */
    char *body;                 /* h->body */
    size_t body_len;
    char log_id[64];
    int timeout_ms;
    int max_retries;
    int attempts;
    int in_multi;               /* the easy handle is added */
    struct event *retry;
    /* The current attempt. */
    char *resp;                 /* h->resp's buffer while the call has h */
    size_t resp_len, resp_cap;
    int resp_over;
    long retry_after_ms;        /* -1: none given */
    double started, attempt_started;
    sgi_llm_fn *fn;
    void *ud;
};

/*
 * The watch of one socket. A connection's socket is watched from its
 * opening to its closing (both through our callbacks), not from curl's
 * first interest in it to its CURL_POLL_REMOVE: curl removes the socket
 * of a connection at the end of every transfer and adds it again at the
 * next, and following it would cost an event_del() and an event_add()
 * (two epoll_ctl calls, an allocation) per call. Between transfers the
 * socket stays watched for reading ("parked"); when it becomes readable
 * then (the server closed it, or sent something unasked), the watch is
 * dropped until curl asks again, and curl's own check finds the
 * connection dead before it reuses it. Sockets curl did not open
 * through us (a resolver's socket pair) may be closed without our
 * knowing, after which the descriptor can come back as another socket:
 * those are watched only while curl asks, as before.
 */
typedef struct sock {
    struct event *ev;
    sgi_llm *llm;
    curl_socket_t fd;
    short kind;                 /* events registered now; 0: none */
    int ours;                   /* opened and closed through our callbacks */
    int wanted;                 /* curl watches it (no POLL_REMOVE since) */
    struct sock *prev, *next;
} sock;

static void sock_free(sgi_llm *llm, sock *sk)
{
    if (sk->ours && (size_t)sk->fd < llm->nours && llm->ours[sk->fd] == sk)
        llm->ours[sk->fd] = NULL;
    if (sk->prev != NULL)
        sk->prev->next = sk->next;
    else
        llm->socks = sk->next;
    if (sk->next != NULL)
        sk->next->prev = sk->prev;
    if (sk->ev != NULL)
        event_free(sk->ev);
    free(sk);
}

static sock *sock_new(sgi_llm *llm, curl_socket_t fd, int ours)
{
    sock *sk;

    if (fd < 0)
        return NULL;
    if (ours && (size_t)fd >= llm->nours) {
        size_t n = (size_t)fd + 64, i;
        sock **a = realloc(llm->ours, n * sizeof *a);

        if (a == NULL)
            return NULL;
        for (i = llm->nours; i < n; i++)
            a[i] = NULL;
        llm->ours = a;
        llm->nours = n;
    }
    if ((sk = calloc(1, sizeof *sk)) == NULL)
        return NULL;
    if (ours)
        llm->ours[fd] = sk;
    sk->llm = llm;
    sk->fd = fd;
    sk->ours = ours;
    sk->next = llm->socks;
    if (llm->socks != NULL)
        llm->socks->prev = sk;
    llm->socks = sk;
    return sk;
}

/* The watch of a socket we opened; NULL when there is none. */
static sock *sock_find(sgi_llm *llm, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < llm->nours ? llm->ours[fd] : NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_done(sgi_llm *llm);

/* ---- the loop's side ---------------------------------------------------- */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    sock *sk = arg;
    sgi_llm *llm = sk->llm;
    int running, flags = 0;

    if (!sk->wanted) {
        /* Parked, and readable: nothing curl waits for. Unwatched until
           curl asks again (a level-triggered watch would fire on). */
        event_del(sk->ev);
        sk->kind = 0;
        return;
    }
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(llm->multi, fd, flags, &running);
    check_done(llm);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sgi_llm *llm = arg;
    int running;

    (void)fd;
    (void)what;
    curl_multi_socket_action(llm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(llm);
}

/* Registers the events `kind` for sk (0: none); 0 or -1. */
static int sock_watch(sock *sk, short kind)
{
    if (sk->kind == kind)
        return 0;
    if (sk->kind != 0) {
        event_del(sk->ev);
        sk->kind = 0;
    }
    if (kind == 0)
        return 0;
    if (sk->ev == NULL)
        sk->ev = event_new(sk->llm->base, sk->fd, kind | EV_PERSIST,
                           on_socket_event, sk);
    else if (event_assign(sk->ev, sk->llm->base, sk->fd, kind | EV_PERSIST,
                          on_socket_event, sk) != 0)
        return -1;
    if (sk->ev == NULL || event_add(sk->ev, NULL) != 0)
        return -1;
    sk->kind = kind;
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp,
                          void *socketp)
{
    sgi_llm *llm = userp;
    sock *sk = socketp;
    short kind = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL && sk->ours) {
            /* Parked (see struct sock): watched for reading only. */
            sk->wanted = 0;
            if (sk->kind != EV_READ)
                (void)sock_watch(sk, 0);
        } else if (sk != NULL) {
            sock_free(llm, sk);
        }
        curl_multi_assign(llm->multi, s, NULL);
        return 0;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (sk == NULL) {
        sk = sock_find(llm, s);
        if (sk == NULL && (sk = sock_new(llm, s, 0)) == NULL)
            return -1;
        curl_multi_assign(llm->multi, s, sk);
    }
    sk->wanted = 1;
    return sock_watch(sk, kind);
}

/* CURLOPT_OPENSOCKETFUNCTION: the socket of a connection, watched until
   it is closed (see struct sock). */
static curl_socket_t on_curl_open(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *a)
{
    sgi_llm *llm = clientp;
    curl_socket_t s;
    sock *sk;

    (void)purpose;
    s = socket(a->family, a->socktype, a->protocol);
    if (s == CURL_SOCKET_BAD)
        return s;
    /* A watch left on this descriptor (its socket closed without
       on_curl_close(), which libcurl does not do) goes first. */
    if ((sk = sock_find(llm, s)) != NULL)
        sock_free(llm, sk);
    if (sock_new(llm, s, 1) == NULL) {
        close(s);
        return CURL_SOCKET_BAD;
    }
    return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the watch goes before the descriptor. */
static int on_curl_close(void *clientp, curl_socket_t s)
{
    sgi_llm *llm = clientp;
    sock *sk = sock_find(llm, s);

    if (sk != NULL)
        sock_free(llm, sk);
    return close(s);
}

/* CURLMOPT_TIMERFUNCTION */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    sgi_llm *llm = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(llm->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(llm->timer, &tv) == 0 ? 0 : -1;
}

/* ---- a transfer --------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sgi_llm_call *call = ud;
    size_t n = size * nmemb, cap;
    char *p;

    if (n > SGI_LLM_REPLY_MAX_BYTES - call->resp_len) {
        call->resp_over = 1;
        return 0;               /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (call->resp_len + n + 1 > call->resp_cap) {
        cap = call->resp_cap ? call->resp_cap : 4096;
        while (cap < call->resp_len + n + 1)
            cap *= 2;
        p = realloc(call->resp, cap);
        if (p == NULL)
            return 0;
        call->resp = p;
        call->resp_cap = cap;
    }
    memcpy(call->resp + call->resp_len, ptr, n);
    call->resp_len += n;
    call->resp[call->resp_len] = '\0';
    return n;
}

long sgi_retry_after_ms(const char *value, size_t len, long max_ms)
{
    size_t i, first;
    long v = 0;
    int digits = 0;

    if (max_ms < 0)
        max_ms = 0;
    for (i = 0; i < len && (value[i] == ' ' || value[i] == '\t'); i++)
        ;
    first = i;
    for (; i < len && value[i] == '0'; i++)
        ;
    for (; i < len && value[i] >= '0' && value[i] <= '9'; i++) {
        if (digits < 9)
            v = v * 10 + (value[i] - '0');
        else
            v = 999999999L;     /* 10^9 s or more: the most there is */
        digits++;
    }
    if (i == first)
        return -1;
    for (; i < len; i++)
        if (value[i] != ' ' && value[i] != '\t' && value[i] != '\r' &&
            value[i] != '\n')
            return -1;
    /* min(v * 1000, max_ms) without v * 1000, which a 32-bit long lacks. */
    return v > max_ms / 1000 ? max_ms : v * 1000;
}

/* Retry-After in delta-seconds; an HTTP date is not honoured (backoff). */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sgi_llm_call *call = ud;
    size_t n = size * nmemb, i;
    static const char name[] = "retry-after:";
    long ms;

    if (n > sizeof name - 1) {
        for (i = 0; i < sizeof name - 1; i++) {
            char c = ptr[i];

            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != name[i])
                return n;
        }
        ms = sgi_retry_after_ms(ptr + i, n - i,
                                call->llm->opts.retry_after_max_ms);
        if (ms >= 0)
            call->retry_after_ms = ms;
    }
    return n;
}

static int attempt(sgi_llm_call *call)
{
    sgi_llm *llm = call->llm;

    call->resp_len = 0;
    call->resp_over = 0;
    call->retry_after_ms = -1;
    call->attempts++;
    call->attempt_started = now_s();
    if (curl_multi_add_handle(llm->multi, call->easy) != CURLM_OK)
        return -1;
    call->in_multi = 1;
    return 0;
}

/* Frees what h holds after a setup, and not h; h is not set up then. */
static void handle_clear(handle *h)
{
    if (h->uh != NULL)
        curl_url_cleanup(h->uh);
    curl_slist_free_all(h->headers);
    free(h->url);
    free(h->api_key);
    h->uh = NULL;
    h->headers = NULL;
    h->url = h->api_key = NULL;
}

static void handle_free(handle *h)
{
    if (h == NULL)
        return;
    if (h->easy != NULL)
        curl_easy_cleanup(h->easy);
    handle_clear(h);
    free(h->body);
    free(h->resp);
    free(h);
}

static void call_unlink_free(sgi_llm_call *call)
{
    sgi_llm *llm = call->llm;

    if (call->in_multi)
        curl_multi_remove_handle(llm->multi, call->easy);
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        llm->calls = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    llm->ncalls--;
    if (call->retry != NULL)
        event_free(call->retry);
    if (call->h != NULL) {
        handle *h = call->h;

        /* The answer's buffer back to the handle (on_body may have
           moved it); a large one goes. */
        h->resp = call->resp;
        h->resp_cap = call->resp_cap;
        if (h->resp_cap > BUF_KEEP_MAX) {
            free(h->resp);
            h->resp = NULL;
            h->resp_cap = 0;
        }
        if (h->body_cap > BUF_KEEP_MAX) {
            free(h->body);
            h->body = NULL;
            h->body_cap = 0;
        }
        if (llm->nidle < EASY_IDLE_MAX)
            llm->idle[llm->nidle++] = h;
        else
            handle_free(h);
    }
    free(call);
}

static void finish(sgi_llm_call *call, int ok, const sgi_llm_reply *reply,
                   long status, const char *error)
{
    sgi_llm_result res;

    memset(&res, 0, sizeof res);
    res.ok = ok;
    res.reply = reply;
    res.status = status;
    res.error = error;
    res.attempts = call->attempts;
    res.seconds = now_s() - call->started;
    if (call->fn != NULL)
        call->fn(&res, call->ud);
    call_unlink_free(call);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    sgi_llm_call *call = arg;

    (void)fd;
    (void)what;
    if (attempt(call) != 0)
        finish(call, 0, NULL, 0, "LLM: curl refused the retry");
}

/* Delay before retry number k (1-based). */
static long backoff_ms(const sgi_llm_call *call)
{
    const sgi_llm_opts *o = &call->llm->opts;
    long d = o->backoff_min_ms;
    int k;
    uint32_t r = 0;

    if (call->retry_after_ms >= 0)
        return call->retry_after_ms;    /* capped by sgi_retry_after_ms() */
    for (k = 1; k < call->attempts && d < o->backoff_max_ms; k++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    /* Up to a quarter more, so that workers do not retry in step. */
    if (sg_random_bytes(&r, sizeof r) == 0 && d >= 4)
        d += (long)(r % (uint32_t)(d / 4));
    return d;
}

static void transfer_done(sgi_llm_call *call, CURLcode code)
{
    sgi_llm *llm = call->llm;
    sgi_llm_reply reply;
    char err[256], msg[512];
    long status = 0, delay, connects = 0;
    struct timeval tv;

    curl_multi_remove_handle(llm->multi, call->easy);
    call->in_multi = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(call->easy, CURLINFO_NUM_CONNECTS, &connects);
    if (llm->opts.on_attempt != NULL)
        llm->opts.on_attempt(code == CURLE_OK ? status : 0,
                             now_s() - call->attempt_started, connects,
                             llm->opts.ud);
    if (code != CURLE_OK) {
        if (call->resp_over)
            snprintf(msg, sizeof msg, "LLM: response body over the limit of "
                     "%zu bytes", SGI_LLM_REPLY_MAX_BYTES);
        else
            snprintf(msg, sizeof msg, "LLM: %s (%s)",
                     curl_easy_strerror(code),
                     code == CURLE_OPERATION_TIMEDOUT ? "timeout_ms"
                                                      : "transport");
        finish(call, 0, NULL, 0, msg);
        return;
    }
    if (status == 429 || (status >= 500 && status <= 599)) {
        if (call->attempts <= call->max_retries) {
            delay = backoff_ms(call);
            sg_logf(llm->opts.log, SG_LOG_WARN,
                    "llm: entry %s: HTTP %ld, retry %d of %d in %ld ms",
                    call->log_id, status, call->attempts, call->max_retries,
                    delay);
            tv.tv_sec = delay / 1000;
            tv.tv_usec = (delay % 1000) * 1000;
            if (call->retry == NULL)
                call->retry = evtimer_new(llm->base, on_retry, call);
            if (call->retry != NULL && evtimer_add(call->retry, &tv) == 0)
                return;
        }
        snprintf(msg, sizeof msg, "LLM: HTTP %ld after %d attempts: %.200s",
                 status, call->attempts,
                 call->resp != NULL ? call->resp : "");
        finish(call, 0, NULL, status, msg);
        return;
    }
    if (status < 200 || status > 299) {
        snprintf(msg, sizeof msg, "LLM: HTTP %ld: %.200s", status,
                 call->resp != NULL ? call->resp : "");
        finish(call, 0, NULL, status, msg);
        return;
    }
    if (sgi_llm_reply_parse(call->resp != NULL ? call->resp : "",
                            call->resp_len, 0, &reply, err,
                            sizeof err) != 0) {
        snprintf(msg, sizeof msg, "LLM: malformed reply: %s", err);
        finish(call, 0, NULL, status, msg);
        return;
    }
    finish(call, 1, &reply, status, NULL);
    sgi_llm_reply_clear(&reply);
}

static void check_done(sgi_llm *llm)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(llm->multi, &left)) != NULL) {
        sgi_llm_call *call = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        if (call != NULL)
            transfer_done(call, m->data.result);
    }
}

/* ---- the API ------------------------------------------------------------ */

int sgi_llm_new(struct event_base *base, const sgi_llm_opts *opts,
                sgi_llm **out)
{
    sgi_llm *llm = calloc(1, sizeof *llm);

    *out = NULL;
    if (llm == NULL)
        return -1;
    llm->base = base;
    if (opts != NULL)
        llm->opts = *opts;
    if (llm->opts.backoff_min_ms <= 0)
        llm->opts.backoff_min_ms = 200;
    if (llm->opts.backoff_max_ms <= 0)
        llm->opts.backoff_max_ms = 5000;
    if (llm->opts.retry_after_max_ms <= 0)
        llm->opts.retry_after_max_ms = 30000;
    if (llm->opts.max_connections <= 0)
        llm->opts.max_connections = 64;
    llm->timer = evtimer_new(base, on_timer, llm);
    if (llm->timer == NULL) {
        sgi_llm_free(llm);
        return -1;
    }
    *out = llm;
    return 0;
}

/*
 * Whether the environment names a proxy that libcurl would use for an
 * http or https URL. When none does, every request says "no proxy"
 * itself (CURLOPT_PROXY ""), which is what libcurl would find, but it
 * would look up the variables again for every transfer. Read once: the
 * worker never changes its environment.
 */
static int proxy_in_environment(void)
{
    static const char *const names[] = {
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
        "all_proxy", "ALL_PROXY",
    };
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]) != NULL)
            return 1;
    return 0;
}

/* libcurl and the multi handle, made at the first call. 0 or -1. */
static int llm_ready(sgi_llm *llm)
{
    if (llm->multi != NULL)
        return 0;
    if (lc_load() != 0) {
        if (!llm->load_logged)
            sg_logf(llm->opts.log, SG_LOG_ERROR, "LLM: %s", lc.error);
        llm->load_logged = 1;
        return -1;
    }
    llm->multi = curl_multi_init();
    if (llm->multi == NULL)
        return -1;
    llm->no_proxy = !proxy_in_environment();
    curl_multi_setopt(llm->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(llm->multi, CURLMOPT_SOCKETDATA, llm);
    curl_multi_setopt(llm->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(llm->multi, CURLMOPT_TIMERDATA, llm);
    curl_multi_setopt(llm->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      llm->opts.max_connections);
    /* Keep as many idle connections as may be busy: the default cache
       (four per easy handle added) shrinks whenever few calls are in
       flight, and every connection it closes is a new one later. */
    curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS,
                      llm->opts.max_connections);
    return 0;
}

void sgi_llm_free(sgi_llm *llm)
{
    if (llm == NULL)
        return;
    while (llm->calls != NULL)
        call_unlink_free(llm->calls);
    while (llm->nidle > 0)
        handle_free(llm->idle[--llm->nidle]);
    if (llm->multi != NULL)
        curl_multi_cleanup(llm->multi);
    /* The cleanup closed the cached connections through on_curl_close();
       what is left are watches curl did not remove. */
    while (llm->socks != NULL)
        sock_free(llm, llm->socks);
    free(llm->ours);
    if (llm->timer != NULL)
        event_free(llm->timer);
    free(llm);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        if (n > 0)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/*
 * Sets h up for calls to url with api_key and timeout_ms, unless it is
 * already: everything but the call's body and pointers. 0, or -1 (h is
 * then not set up).
 */
static int handle_setup(sgi_llm *llm, handle *h, const char *url,
                        const char *api_key, int timeout_ms)
{
    struct curl_slist *l;
    char auth[1100];

    if (api_key == NULL)
        api_key = "";
    if (h->url != NULL && strcmp(h->url, url) == 0 &&
        strcmp(h->api_key, api_key) == 0 && h->timeout_ms == timeout_ms)
        return 0;
    if (h->url != NULL)
        curl_easy_reset(h->easy);
    handle_clear(h);
    h->url = dup_n(url, strlen(url));
    h->api_key = dup_n(api_key, strlen(api_key));
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for larger bodies. */
    l = h->headers != NULL ? curl_slist_append(h->headers, "Expect:") : NULL;
    if (l != NULL && api_key[0] != '\0') {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", api_key);
        l = curl_slist_append(h->headers, auth);
    }
    if (h->url == NULL || h->api_key == NULL || l == NULL) {
        handle_clear(h);
        return -1;
    }
    /* A URL the parser refuses is given as text: the call then fails as
       it always did, with libcurl's own message. The flags are the ones
       libcurl parses CURLOPT_URL with. */
    h->uh = curl_url();
    if (h->uh != NULL &&
        curl_url_set(h->uh, CURLUPART_URL, url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
            CURLUE_OK) {
        curl_url_cleanup(h->uh);
        h->uh = NULL;
    }
    h->timeout_ms = timeout_ms;
    if (h->uh != NULL)
        curl_easy_setopt(h->easy, CURLOPT_CURLU, h->uh);
    else
        curl_easy_setopt(h->easy, CURLOPT_URL, h->url);
    if (llm->no_proxy)
        curl_easy_setopt(h->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(h->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h->easy, CURLOPT_OPENSOCKETFUNCTION, on_curl_open);
    curl_easy_setopt(h->easy, CURLOPT_OPENSOCKETDATA, llm);
    curl_easy_setopt(h->easy, CURLOPT_CLOSESOCKETFUNCTION, on_curl_close);
    curl_easy_setopt(h->easy, CURLOPT_CLOSESOCKETDATA, llm);
    curl_easy_setopt(h->easy, CURLOPT_USERAGENT, "sg-inference");
    return 0;
}

int sgi_llm_start(sgi_llm *llm, const sgi_llm_request *rq, sgi_llm_fn *fn,
                 void *ud, sgi_llm_call **out)
{
    sgi_llm_call *call;
    handle *h;
    size_t n;

    if (out != NULL)
        *out = NULL;
    if (llm_ready(llm) != 0)
        return -1;
    call = calloc(1, sizeof *call);
    if (call == NULL)
        return -1;
    call->llm = llm;
    call->fn = fn;
    call->ud = ud;
    call->timeout_ms = rq->timeout_ms > 0 ? rq->timeout_ms : 60000;
    call->max_retries = rq->max_retries > 0 ? rq->max_retries : 0;
    call->started = now_s();
    n = strlen(rq->log_id != NULL ? rq->log_id : "-");
    if (n >= sizeof call->log_id)
        n = sizeof call->log_id - 1;
    memcpy(call->log_id, rq->log_id != NULL ? rq->log_id : "-", n);
    call->log_id[n] = '\0';
    if (llm->nidle > 0) {
        h = llm->idle[--llm->nidle];
    } else if ((h = calloc(1, sizeof *h)) != NULL &&
               (h->easy = curl_easy_init()) == NULL) {
        free(h);
        h = NULL;
    }
    if (h != NULL && h->body_cap < rq->body_len + 1) {
        char *b = realloc(h->body, rq->body_len + 1);

        if (b != NULL) {
            h->body = b;
            h->body_cap = rq->body_len + 1;
        }
    }
    if (h == NULL || h->body_cap < rq->body_len + 1 ||
        handle_setup(llm, h, rq->url, rq->api_key, call->timeout_ms) != 0) {
        handle_free(h);
        free(call);
        return -1;
    }
    if (rq->body_len > 0)
        memcpy(h->body, rq->body, rq->body_len);
    h->body[rq->body_len] = '\0';
    call->h = h;
    call->easy = h->easy;
    call->body = h->body;
    call->body_len = rq->body_len;
    call->resp = h->resp;
    call->resp_cap = h->resp_cap;
    /* The call's own: the handle may have served another call. */
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)call->body_len);
    curl_easy_setopt(call->easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(call->easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(call->easy, CURLOPT_PRIVATE, call);

    call->next = llm->calls;
    if (llm->calls != NULL)
        llm->calls->prev = call;
    llm->calls = call;
    llm->ncalls++;
    if (attempt(call) != 0) {
        call->fn = NULL;
        call_unlink_free(call);
        return -1;
    }
    if (out != NULL)
        *out = call;
    return 0;
}

void sgi_llm_cancel(sgi_llm_call *call)
{
    if (call != NULL)
        call_unlink_free(call);
}

size_t sgi_llm_pending(const sgi_llm *llm)
{
    return llm->ncalls;
}
