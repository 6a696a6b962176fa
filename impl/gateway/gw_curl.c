/*
 * gw_curl.c: libcurl multi on a libevent loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to wake
 * it (timer callback); we tell it what happened with
 * curl_multi_socket_action() and then collect finished transfers. A
 * transfer's callback runs after it left the multi handle, so it may
 * start or cancel others.
 *
 * Throughput. The multi handle keeps up to max_connections connections
 * alive, as many as calls may run at once, so that a steady stream of
 * calls reuses them instead of opening (and leaving in TIME_WAIT) one
 * connection per call. Finished requests go back to a bounded pool with
 * their easy handle and their body and response buffers; a handle that
 * last POSTed to the same URL keeps its options and only gets the new
 * body (any other use resets it first, curl_easy_reset). Watched sockets
 * keep their event in place, idle connections' sockets too (on_socket()),
 * so a call on a kept connection changes nothing in epoll. A call in the
 * steady state allocates next to nothing here.
 *
 * Work libcurl would repeat for every transfer is done once, or avoided:
 * the URL is parsed once per pooled handle (CURLOPT_CURLU); the
 * environment is searched for a proxy once (CURLOPT_PROXY "" when it
 * names none); a small body goes without the empty "Expect:" header;
 * the receive buffer libcurl allocates per transfer is small enough for
 * malloc's per-thread cache (RECV_BUFFER).
 *
 * Memory. libcurl and what it brings along (OpenSSL, GnuTLS, Kerberos,
 * LDAP, SSH: some thirty libraries) take several MB of resident pages
 * once loaded and initialised, several times what the gateway itself
 * uses. So libcurl is loaded (dlopen) and set up at the first request,
 * not at start: an idle gateway, or one that never calls a webhook
 * (webchat, console), does not carry it.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "gw_curl.h"

typedef struct sock {
    struct sock *next, *prev;
    gw_curl *c;
    curl_socket_t fd;
    int armed;                  /* ev is added */
    int owned;                  /* opened and closed through us */
    int parked;                 /* owned, and libcurl watches it no more */
    struct event ev;
} sock;

struct gw_curl_req {
    gw_curl_req *next, *prev;   /* in flight, or the pool (next only) */
    gw_curl *c;
    CURL *easy;
    char *body;
    size_t body_cap;
    char *resp;
    size_t resp_len, resp_cap;
    char errbuf[CURL_ERROR_SIZE];
    gw_curl_done_fn *done;
    void *ud;
    int used;                   /* options set since the last reset */
    int is_post;                /* set up as a POST to url ... */
    long post_timeout;          /* ... with this timeout */
    char *url;                  /* the URL uh holds, or NULL */
    CURLU *uh;                  /* url, parsed once for every call to it */
};

struct gw_curl {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct curl_slist *json_headers; /* built once, shared by every POST */
    struct curl_slist *json_small;   /* the same for a small body */
    int no_proxy;               /* no proxy variable in the environment */
    gw_curl_req *reqs;          /* in flight */
    gw_curl_req *idle;          /* the pool */
    size_t nidle;
    sock *socks;
    sock *spare;                /* freed sock records, for reuse */
    size_t nspare;
    sock **owned;               /* owned sockets by descriptor */
    size_t nowned;              /* owned's length */
    size_t pending;
    long max_conns;
    uint64_t requests;
    uint64_t connects;
};

static void check_done(gw_curl *c);

/* The libcurl functions used here, from the library loaded at run time. */
static struct curl_api {
    void *lib;
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *m, CURLMoption option, ...);
    CURLMcode (*multi_cleanup)(CURLM *m);
    CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t fd, int ev,
                                     int *running);
    CURLMcode (*multi_assign)(CURLM *m, curl_socket_t fd, void *p);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *e);
    void (*easy_reset)(CURL *e);
    CURLcode (*easy_setopt)(CURL *e, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part,
                         unsigned int flags);
    void (*url_cleanup)(CURLU *u);
} api;

static int global_done;         /* curl_global_init() succeeded */
static char load_error[256];    /* why libcurl could not be loaded */

#ifndef GW_CURL_LIBRARY
#define GW_CURL_LIBRARY "libcurl.so"
#endif

/* Resolves one symbol into *fp (a function pointer's storage). */
static int sym(void *lib, const char *name, void *fp)
{
    void *p = dlsym(lib, name);

    if (p == NULL) {
        snprintf(load_error, sizeof load_error, "libcurl has no %s", name);
        return -1;
    }
    memcpy(fp, &p, sizeof p);
    return 0;
}

/* Loads libcurl once. 0, or -1 with the reason in load_error. */
static int load_curl(void)
{
    static const char *const names[] = { "libcurl.so.4", GW_CURL_LIBRARY };
    struct curl_api a;
    size_t i;

    if (api.lib != NULL)
        return 0;
    memset(&a, 0, sizeof a);
    for (i = 0; i < sizeof names / sizeof names[0] && a.lib == NULL; i++)
        a.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (a.lib == NULL) {
        const char *why = dlerror();

        snprintf(load_error, sizeof load_error, "cannot load libcurl: %s",
                 why != NULL ? why : "not found");
        return -1;
    }
    if (sym(a.lib, "curl_global_init", &a.global_init) != 0 ||
        sym(a.lib, "curl_global_cleanup", &a.global_cleanup) != 0 ||
        sym(a.lib, "curl_multi_init", &a.multi_init) != 0 ||
        sym(a.lib, "curl_multi_setopt", &a.multi_setopt) != 0 ||
        sym(a.lib, "curl_multi_cleanup", &a.multi_cleanup) != 0 ||
        sym(a.lib, "curl_multi_socket_action", &a.multi_socket_action) != 0 ||
        sym(a.lib, "curl_multi_assign", &a.multi_assign) != 0 ||
        sym(a.lib, "curl_multi_info_read", &a.multi_info_read) != 0 ||
        sym(a.lib, "curl_multi_add_handle", &a.multi_add_handle) != 0 ||
        sym(a.lib, "curl_multi_remove_handle", &a.multi_remove_handle) != 0 ||
        sym(a.lib, "curl_easy_init", &a.easy_init) != 0 ||
        sym(a.lib, "curl_easy_cleanup", &a.easy_cleanup) != 0 ||
        sym(a.lib, "curl_easy_reset", &a.easy_reset) != 0 ||
        sym(a.lib, "curl_easy_setopt", &a.easy_setopt) != 0 ||
        sym(a.lib, "curl_easy_getinfo", &a.easy_getinfo) != 0 ||
        sym(a.lib, "curl_easy_strerror", &a.easy_strerror) != 0 ||
        sym(a.lib, "curl_slist_append", &a.slist_append) != 0 ||
        sym(a.lib, "curl_slist_free_all", &a.slist_free_all) != 0 ||
        sym(a.lib, "curl_url", &a.url) != 0 ||
        sym(a.lib, "curl_url_set", &a.url_set) != 0 ||
        sym(a.lib, "curl_url_cleanup", &a.url_cleanup) != 0) {
        dlclose(a.lib);
        return -1;
    }
    api = a;
    load_error[0] = '\0';
    return 0;
}

const char *gw_curl_setup_error(void)
{
    return load_error[0] != '\0' ? load_error : NULL;
}

/* Bodies and responses kept in a pooled request up to this capacity. */
#define KEEP_BUF (16 * 1024)

/*
 * libcurl's receive buffer, allocated for every transfer and freed after
 * it. At its default of 16 KiB that is a large-bin request, which makes
 * glibc's malloc first consolidate every small free chunk, at every
 * call. 1 KiB (libcurl's least) is served from malloc's per-thread
 * cache, and still holds a webhook's usual answer, headers and all, in
 * one read; a bigger answer takes more reads.
 */
#define RECV_BUFFER 1024L

/* A body libcurl never sends with "Expect: 100-continue". */
#define SMALL_BODY 1024

static void req_destroy(gw_curl_req *r)
{
    if (r->easy != NULL)
        api.easy_cleanup(r->easy);
    if (r->uh != NULL)
        api.url_cleanup(r->uh);
    free(r->url);
    free(r->body);
    free(r->resp);
    free(r);
}

/* Off the in-flight list and into the pool (or freed when it is full). */
static void req_release(gw_curl_req *r)
{
    gw_curl *c = r->c;

    api.multi_remove_handle(c->multi, r->easy);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    c->pending--;
    if (c->nidle >= (size_t)c->max_conns) {
        req_destroy(r);
        return;
    }
    if (r->body_cap > KEEP_BUF) {
        free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    if (r->resp_cap > KEEP_BUF) {
        free(r->resp);
        r->resp = NULL;
        r->resp_cap = 0;
    }
    r->resp_len = 0;
    r->done = NULL;
    r->ud = NULL;
    r->prev = NULL;
    r->next = c->idle;
    c->idle = r;
    c->nidle++;
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    sock *s = arg;
    gw_curl *c = s->c;
    int running = 0, flags = 0;

    if (s->parked) {
        /*
         * An idle connection became readable: the server closed it (or
         * sent something unasked). libcurl finds that out when it next
         * takes the connection; until then we stop watching it.
         */
        event_del(&s->ev);
        s->armed = 0;
        return;
    }
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    /* May free s: nothing of it is used after this. */
    api.multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    gw_curl *c = arg;
    int running = 0;

    (void)fd;
    (void)what;
    api.multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* A record for fd, linked into c->socks; NULL when out of memory. */
static sock *sock_new(gw_curl *c, curl_socket_t fd)
{
    sock *s = c->spare;

    if (s != NULL) {
        c->spare = s->next;
        c->nspare--;
        memset(s, 0, sizeof *s);
    } else {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return NULL;
    }
    s->c = c;
    s->fd = fd;
    s->next = c->socks;
    if (c->socks != NULL)
        c->socks->prev = s;
    c->socks = s;
    return s;
}

static void sock_free(sock *s)
{
    gw_curl *c = s->c;

    if (s->armed)
        event_del(&s->ev);
    s->armed = 0;
    if (s->owned && (size_t)s->fd < c->nowned)
        c->owned[s->fd] = NULL;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (c->nspare < (size_t)c->max_conns) {
        s->next = c->spare;
        c->spare = s;
        c->nspare++;
    } else {
        free(s);
    }
}

static sock *owned_sock(const gw_curl *c, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < c->nowned ? c->owned[fd] : NULL;
}

/*
 * libcurl opens every connection's socket through here
 * (CURLOPT_OPENSOCKETFUNCTION) and closes it through on_close_socket(),
 * so we know when a descriptor stops being that socket. That is what
 * lets an idle connection keep its event (below).
 */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    gw_curl *c = clientp;
    curl_socket_t fd;
    sock *s;

    (void)purpose;
#ifdef SOCK_CLOEXEC
    /* Nothing the gateway might ever start should inherit it. */
    fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
#else
    fd = socket(addr->family, addr->socktype, addr->protocol);
#endif
    if (fd == CURL_SOCKET_BAD)
        return fd;
    if ((size_t)fd >= c->nowned) {
        size_t n = c->nowned != 0 ? c->nowned : 64;
        sock **p;

        while (n <= (size_t)fd)
            n *= 2;
        p = realloc(c->owned, n * sizeof *p);
        if (p == NULL) {
            close(fd);
            return CURL_SOCKET_BAD;
        }
        memset(p + c->nowned, 0, (n - c->nowned) * sizeof *p);
        c->owned = p;
        c->nowned = n;
    }
    s = sock_new(c, fd);
    if (s == NULL) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    s->owned = 1;
    s->parked = 1;              /* not watched for libcurl yet */
    c->owned[fd] = s;
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
    sock *s = owned_sock(clientp, fd);

    if (s != NULL)
        sock_free(s);           /* its event goes before the descriptor */
    return close(fd);
}

/*
 * libcurl says which sockets to watch for what. A connection that goes
 * back to the cache after its transfer is "removed", and watched again
 * when the next transfer takes it, nearly always for reading as before:
 * deleting and adding its event each time was two epoll_ctl calls per
 * webhook call. So an owned socket's read event stays in place while it
 * is idle ("parked"); if it fires then, the event goes (on_event), and
 * on_close_socket() removes it before the descriptor is closed. Other
 * sockets libcurl may announce (its resolver's) are closed without
 * telling us, so their events go as soon as libcurl removes them.
 */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    gw_curl *c = userp;
    sock *s = socketp;
    short kind;

    (void)easy;
    if (s == NULL)
        s = owned_sock(c, fd);
    if (what == CURL_POLL_REMOVE) {
        if (s == NULL)
            return 0;
        api.multi_assign(c->multi, fd, NULL);
        if (!s->owned) {
            sock_free(s);
        } else {
            s->parked = 1;
            if (s->armed && (event_get_events(&s->ev) & EV_WRITE)) {
                event_del(&s->ev);  /* would fire at once, and again */
                s->armed = 0;
            }
        }
        return 0;
    }
    if (s == NULL) {
        s = sock_new(c, fd);
        if (s == NULL)
            return -1;
    }
    if (socketp == NULL)
        api.multi_assign(c->multi, fd, s);
    s->parked = 0;
    kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (s->armed) {
        if (event_get_events(&s->ev) == kind)
            return 0;           /* already watched so: no epoll_ctl */
        event_del(&s->ev);
        s->armed = 0;
    }
    if (event_assign(&s->ev, c->base, fd, kind, on_event, s) != 0 ||
        event_add(&s->ev, NULL) != 0)
        return -1;
    s->armed = 1;
    return 0;
}

static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    gw_curl *c = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    return 0;
}

static void check_done(gw_curl *c)
{
    CURLMsg *m;
    int left;

    while ((m = api.multi_info_read(c->multi, &left)) != NULL) {
        gw_curl_req *r = NULL;
        long status = 0, connects = 0;
        const char *error = NULL;
        CURLcode result;

        if (m->msg != CURLMSG_DONE)
            continue;
        result = m->data.result;
        api.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        if (api.easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects) ==
                CURLE_OK && connects > 0)
            c->connects += (uint64_t)connects;
        if (result == CURLE_OK) {
            api.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        } else {
            error = r->errbuf[0] != '\0' ? r->errbuf
                                         : api.easy_strerror(result);
        }
        /* Off the multi handle before the callback, which may free it. */
        api.multi_remove_handle(c->multi, r->easy);
        if (r->done != NULL)
            r->done(r->ud, error, status, r->resp != NULL ? r->resp : "",
                    r->resp_len);
        req_release(r);
    }
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
    gw_curl_req *r = ud;
    size_t len = size * n, room, cap;
    char *p;

    room = GW_CURL_MAX_RESPONSE - r->resp_len;
    if (len > room)
        len = room;           /* keep what fits; the rest is dropped */
    if (len > 0) {
        if (r->resp_len + len + 1 > r->resp_cap) {
            cap = r->resp_cap != 0 ? r->resp_cap : 256;
            while (cap < r->resp_len + len + 1)
                cap *= 2;
            p = realloc(r->resp, cap);
            if (p == NULL)
                return 0;
            r->resp = p;
            r->resp_cap = cap;
        }
        memcpy(r->resp + r->resp_len, ptr, len);
        r->resp_len += len;
        r->resp[r->resp_len] = '\0';
    }
    return size * n;
}

gw_curl *gw_curl_new(struct event_base *base)
{
    gw_curl *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->base = base;
    c->max_conns = GW_CURL_DEFAULT_CONNECTIONS;
    c->timer = evtimer_new(base, on_timer, c);
    if (c->timer == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

/*
 * Whether the environment names a proxy libcurl would use for an http or
 * https URL. Without one, every request says "no proxy" itself
 * (CURLOPT_PROXY ""), which is what libcurl would find, but it would
 * look up seven variables per transfer to find it (no_proxy among them).
 * Read once: the gateway never changes its environment.
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

/* The multi handle, made at the first request. 0, or -1. */
static int ensure_multi(gw_curl *c)
{
    struct curl_slist *h;

    if (c->multi != NULL)
        return 0;
    if (load_curl() != 0)
        return -1;
    if (!global_done) {
        if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        global_done = 1;
    }
    if (c->json_headers == NULL) {
        h = api.slist_append(NULL, "Content-Type: application/json");
        if (h == NULL)
            return -1;
        /* No "Expect: 100-continue" round trip for big bodies. */
        c->json_headers = api.slist_append(h, "Expect:");
        if (c->json_headers == NULL) {
            api.slist_free_all(h);
            return -1;
        }
    }
    if (c->json_small == NULL) {
        c->json_small = api.slist_append(NULL,
                                         "Content-Type: application/json");
        if (c->json_small == NULL)
            return -1;
    }
    c->no_proxy = !proxy_in_environment();
    c->multi = api.multi_init();
    if (c->multi == NULL)
        return -1;
    api.multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    api.multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    api.multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    api.multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    gw_curl_set_max_connections(c, c->max_conns);
    return 0;
}

void gw_curl_global_cleanup(void)
{
    if (global_done)
        api.global_cleanup();
    global_done = 0;
}

void gw_curl_set_max_connections(gw_curl *c, long n)
{
    if (n < GW_CURL_MIN_CONNECTIONS)
        n = GW_CURL_MIN_CONNECTIONS;
    if (n > GW_CURL_MAX_CONNECTIONS)
        n = GW_CURL_MAX_CONNECTIONS;
    c->max_conns = n;
    if (c->multi == NULL)
        return;                 /* applied when it is made */
    /*
     * The cache holds as many idle connections as calls may run at once;
     * one host gets no more, further calls wait in the multi handle for
     * a connection to come free.
     */
    api.multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, n);
    api.multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
}

void gw_curl_free(gw_curl *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        gw_curl_req *r = c->reqs;

        api.multi_remove_handle(c->multi, r->easy);
        c->reqs = r->next;
        req_destroy(r);
    }
    while (c->idle != NULL) {
        gw_curl_req *r = c->idle;

        c->idle = r->next;
        req_destroy(r);
    }
    if (c->multi != NULL)
        api.multi_cleanup(c->multi);
    while (c->socks != NULL) {
        sock *s = c->socks;

        if (s->armed)
            event_del(&s->ev);
        c->socks = s->next;
        free(s);
    }
    while (c->spare != NULL) {
        sock *s = c->spare;

        c->spare = s->next;
        free(s);
    }
    free(c->owned);
    if (c->json_headers != NULL)
        api.slist_free_all(c->json_headers);
    if (c->json_small != NULL)
        api.slist_free_all(c->json_small);
    event_free(c->timer);
    free(c);
}

/* A pooled request, or a new one; NULL when out of memory. */
static gw_curl_req *req_get(gw_curl *c)
{
    gw_curl_req *r = c->idle;

    if (r != NULL) {
        c->idle = r->next;
        c->nidle--;
        r->next = NULL;
        r->errbuf[0] = '\0';
        return r;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->c = c;
    r->easy = api.easy_init();
    if (r->easy == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

/*
 * The URL into r->uh, parsed once for all the calls to it: given as text
 * (CURLOPT_URL), libcurl parses it again for every transfer and prints
 * it back out, a tenth of a webhook call's CPU. The flags are the ones
 * libcurl parses CURLOPT_URL with. A URL the parser rejects leaves uh
 * NULL, and the request takes the text: it then fails as it always did,
 * with libcurl's own message. Called while no transfer uses r->uh.
 */
static void req_parse_url(gw_curl_req *r, const char *url)
{
    if (r->url != NULL && strcmp(r->url, url) == 0)
        return;
    free(r->url);
    r->url = NULL;
    /* A fresh handle: setting a URL on a used one resolves it relatively. */
    if (r->uh != NULL)
        api.url_cleanup(r->uh);
    r->uh = api.url();
    if (r->uh != NULL &&
        api.url_set(r->uh, CURLUPART_URL, url,
                    CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
            CURLUE_OK)
        r->url = strdup(url);
    if (r->url == NULL && r->uh != NULL) {
        api.url_cleanup(r->uh);
        r->uh = NULL;
    }
}

int gw_curl_request(gw_curl *c, const char *method, const char *url,
                    const char *body, size_t len, long timeout_ms,
                    gw_curl_done_fn *done, void *ud, gw_curl_req **out)
{
    int is_post = strcmp(method, "POST") == 0;
    gw_curl_req *r;
    CURL *e;

    if (ensure_multi(c) != 0)
        return -1;
    r = req_get(c);
    if (r == NULL)
        return -1;
    e = r->easy;
    r->done = done;
    r->ud = ud;
    r->resp_len = 0;
    if (is_post && len + 1 > r->body_cap) {
        char *p = realloc(r->body, len + 1);

        if (p == NULL) {
            req_destroy(r);
            return -1;
        }
        r->body = p;
        r->body_cap = len + 1;
    }
    if (is_post && r->is_post && r->post_timeout == timeout_ms &&
        r->url != NULL && strcmp(r->url, url) == 0) {
        /* Set up like the last call on this handle: the body only. */
    } else {
        if (r->used)
            api.easy_reset(e);
        r->used = 1;
        if (api.easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER) != CURLE_OK) {
            /*
             * libcurl refuses a buffer size while the handle still holds
             * a receive buffer (a transfer that failed early leaves it),
             * and curl_easy_reset() has put the size back to 16 KiB
             * without freeing that 1 KiB buffer: the next transfer would
             * read 16 KiB into it. Such a handle is replaced.
             */
            CURL *fresh = api.easy_init();

            if (fresh == NULL) {
                req_destroy(r);
                return -1;
            }
            api.easy_cleanup(e);
            r->easy = e = fresh;
            api.easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
        }
        r->is_post = 0;
        req_parse_url(r, url);
        if (r->uh != NULL)
            api.easy_setopt(e, CURLOPT_CURLU, r->uh);
        else
            api.easy_setopt(e, CURLOPT_URL, url);
        api.easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
        api.easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
        api.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        api.easy_setopt(e, CURLOPT_WRITEDATA, r);
        api.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        api.easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
        api.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        api.easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        api.easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        api.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        api.easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        api.easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
        api.easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
        api.easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
        if (c->no_proxy) {
            /* And no_proxy, which only matters with a proxy, unread. */
            api.easy_setopt(e, CURLOPT_PROXY, "");
            api.easy_setopt(e, CURLOPT_NOPROXY, "");
        }
        if (is_post) {
            api.easy_setopt(e, CURLOPT_POST, 1L);
            r->is_post = 1;
            r->post_timeout = timeout_ms;
        } else if (strcmp(method, "GET") != 0) {
            api.easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    if (is_post) {
        if (len > 0)
            memcpy(r->body, body, len);
        r->body[len] = '\0';
        /*
         * libcurl asks for "100-continue" only above a threshold (1 KiB
         * before 7.69, 1 MiB since): below it the empty "Expect:" that
         * turns that off changes nothing on the wire, but libcurl looks
         * at every header in the list for every request it writes.
         */
        api.easy_setopt(e, CURLOPT_HTTPHEADER, len <= SMALL_BODY
                                                   ? c->json_small
                                                   : c->json_headers);
        api.easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        api.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    r->prev = NULL;
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    c->pending++;
    c->requests++;
    if (api.multi_add_handle(c->multi, e) != CURLM_OK) {
        r->done = NULL;
        req_release(r);
        return -1;
    }
    if (out != NULL)
        *out = r;
    return 0;
}

void gw_curl_cancel(gw_curl_req *r)
{
    if (r != NULL)
        req_release(r);
}

size_t gw_curl_pending(const gw_curl *c)
{
    return c->pending;
}

uint64_t gw_curl_requests(const gw_curl *c)
{
    return c->requests;
}

uint64_t gw_curl_connections(const gw_curl *c)
{
    return c->connects;
}
