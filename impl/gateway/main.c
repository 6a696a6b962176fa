/*
 * sg-gateway: the gateway role of the Stargazer bus (README.md).
 *
 * A thin main over the gateway core (gw.h): configuration from the
 * environment, one libevent loop, SIGINT/SIGTERM for a graceful stop.
 * Exit 0 after a clean stop, 1 on a runtime error, 2 on a usage or
 * configuration error.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>

#include "gw.h"
#include "gw_curl.h"
#include "sg/conn.h"

#define PROG "sg-gateway"
#define VERSION "0.1.0"

typedef struct app {
    struct event_base *base;
    gw *g;
    int stopping;
} app;

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

static void usage(FILE *f)
{
    fputs("usage: " PROG " [--help] [--version]\n"
          "\n"
          "The gateway role of the Stargazer bus: reads the outbound stream\n"
          "of every configured platform through its gateway group, sends to\n"
          "the platform, answers RPCs, and publishes the platform's messages\n"
          "on the inbound stream. Configured by the environment:\n"
          "\n"
          "  REDIS_URL                    redis://127.0.0.1:6379/0\n"
          "  SG_PLATFORMS                 webchat (comma list of webchat,\n"
          "                               http, console)\n"
          "  SG_INSTANCE_ID               consumer name; default\n"
          "                               sg-gateway-<hostname>-<pid>\n"
          "  SG_METRICS_LISTEN            127.0.0.1:0 (host:port or off)\n"
          "  SG_WEBCHAT_LISTEN            127.0.0.1:8080\n"
          "  SG_HTTP_PLATFORM_WEBHOOK     URL the http platform POSTs to\n"
          "  SG_HTTP_PLATFORM_LISTEN      127.0.0.1:0 (POST /messages)\n"
          "  SG_HTTP_PLATFORM_TIMEOUT_MS  5000\n"
          "  and the stream names and knobs of the protocol's sections 2\n"
          "  and 13 (SG_INBOUND_STREAM, SG_BLOCK_MS, SG_DRAIN_MS, ...).\n"
          "\n"
          "SIGINT or SIGTERM stops gracefully. Exit 0 after a clean stop,\n"
          "1 on a runtime error, 2 on a configuration error.\n", f);
}

static void on_line(const char *line, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static void on_done(gw *g, void *ud)
{
    app *a = ud;

    (void)g;
    event_base_loopbreak(a->base);
}

static void stop(app *a)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    gw_stop(a->g, on_done, a);
}

static void on_stop_request(void *ud)
{
    stop(ud);
}

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    app *a = ud;

    (void)what;
    if (a->stopping) {
        fprintf(stderr, PROG ": %s again while stopping; still draining\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    stop(a);
}

int main(int argc, char **argv)
{
    struct event *sigint = NULL, *sigterm = NULL;
    char err[512];
    gw_config cfg;
    gw_opts o;
    app a;
    int i, rc = 1;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf(PROG " " VERSION "\n");
            return 0;
        }
        fprintf(stderr, PROG ": unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (gw_config_from_lookup(&cfg, env_lookup, NULL, PROG, err,
                              sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
    /*
     * A burst of calls frees and allocates the same few MB again and
     * again: keep them rather than giving them back to the kernel after
     * each one (brk churn, page faults). Idle RSS is not touched.
     */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
#endif
    /* libcurl is set up by the first webhook call (gw_curl.c). */
    memset(&a, 0, sizeof a);
    memset(&o, 0, sizeof o);
    o.prog = PROG;
    o.line = on_line;
    o.stop_request = on_stop_request;
    o.stop_request_ud = &a;
    o.console_in_fd = 0;
    o.console_out = stdout;
    a.base = sg_event_base_new();
    if (a.base == NULL || gw_new(a.base, &cfg, &o, &a.g) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    sigint = evsignal_new(a.base, SIGINT, on_signal, &a);
    sigterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) ||
        evsignal_add(sigterm, NULL)) {
        fprintf(stderr, PROG ": cannot handle signals\n");
        goto out;
    }
    if (gw_start(a.g, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        goto out;
    }
    event_base_dispatch(a.base);
    rc = gw_failed(a.g) ? 1 : 0;
out:
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    gw_free(a.g);
    if (a.base != NULL)
        event_base_free(a.base);
    gw_curl_global_cleanup();
    return rc;
}
