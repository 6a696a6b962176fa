/*
 * sg-inference: the inference worker (SPEC section 14 and the worker's
 * side of sections 9, 10, 12 and 19). Configuration from the environment;
 * see README.md and --help.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "llm.h"
#include "worker.h"
#include "sg/conn.h"

#define PROG "sg-inference"
#ifndef SG_VERSION
#define SG_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fputs("usage: " PROG " [--help] [--version]\n"
          "\n"
          "The Stargazer inference worker: reads the inbound stream through\n"
          "the worker group, answers addressed messages with an\n"
          "OpenAI-compatible LLM and publishes the replies on the\n"
          "platform's outbound stream. Configured by the environment:\n"
          "\n"
          "  REDIS_URL              redis://127.0.0.1:6379/0\n"
          "  SG_LLM_BASE_URL        required, e.g. http://127.0.0.1:8000/v1\n"
          "  SG_LLM_API_KEY, SG_LLM_MODEL, SG_LLM_TEMPERATURE,\n"
          "  SG_LLM_MAX_TOKENS, SG_LLM_TOP_P, SG_LLM_TIMEOUT_MS,\n"
          "  SG_LLM_MAX_RETRIES, SG_LLM_SYSTEM_PROMPT, SG_LLM_HISTORY_MAX,\n"
          "  SG_LLM_HISTORY_TTL_MS\n"
          "  SG_INFERENCE_CONFIG    JSON file with the same keys, lowercased\n"
          "                         without SG_LLM_; reloaded on the\n"
          "                         sys:config:updated event\n"
          "  SG_INSTANCE_ID         consumer name (default\n"
          "                         sg-inference-<host>-<pid>)\n"
          "  SG_METRICS_LISTEN      host:port of /healthz and /metrics\n"
          "                         (default 127.0.0.1:0; off: none)\n"
          "  SG_STATUS_INTERVAL_MS  status interval of the status lease\n"
          "  SG_HISTORY_PREFIX      history lists (default <ns>:history)\n"
          "  every name of SPEC section 2 and knob of section 13\n"
          "\n"
          "SIGINT/SIGTERM: stop reading, drain up to SG_DRAIN_MS, exit 0.\n"
          "Exit 1: runtime error; 2: usage or configuration error.\n", f);
}

static const char *env_lookup(const char *name, void *ud)
{
    (void)ud;
    return getenv(name);
}

typedef struct app {
    struct event_base *base;
    sgi_worker *w;
    int signals;
    int stopped;
} app;

static void on_stopped(sgi_worker *w, void *ud)
{
    app *a = ud;

    (void)w;
    a->stopped = 1;
    event_base_loopexit(a->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    app *a = arg;

    (void)what;
    if (a->signals++ == 0) {
        fprintf(stderr, PROG ": signal %d: stopping\n", (int)sig);
        sgi_worker_stop(a->w, on_stopped, a);
    } else {
        /* A second signal: leave now; unfinished entries stay pending
           and are reclaimed (SG-IN-017). */
        fprintf(stderr, PROG ": second signal: leaving at once\n");
        a->stopped = 1;
        event_base_loopexit(a->base, NULL);
    }
}

int main(int argc, char **argv)
{
    sgi_worker_opts o;
    struct event *sigint = NULL, *sigterm = NULL;
    char err[512];
    app a;
    int rc, i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf(PROG " " SG_VERSION "\n");
            return 0;
        }
        fprintf(stderr, PROG ": unknown argument \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof a);
    a.base = sg_event_base_new();
    if (a.base == NULL) {
        fprintf(stderr, PROG ": no event loop\n");
        return 1;
    }
    memset(&o, 0, sizeof o);
    o.base = a.base;
    o.lookup = env_lookup;
    o.prog = PROG;
    o.banner = stderr;
    rc = sgi_worker_new(&o, &a.w, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        event_base_free(a.base);
        return rc;
    }
    sigint = evsignal_new(a.base, SIGINT, on_signal, &a);
    sigterm = evsignal_new(a.base, SIGTERM, on_signal, &a);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0
        || evsignal_add(sigterm, NULL) != 0) {
        fprintf(stderr, PROG ": cannot watch signals\n");
        rc = 1;
    } else if (sgi_worker_start(a.w, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        rc = 1;
    } else {
        event_base_dispatch(a.base);
        rc = a.stopped ? 0 : 1;
        if (!a.stopped)
            fprintf(stderr, PROG ": the event loop ended unexpectedly\n");
    }
    sgi_worker_free(a.w);
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    event_base_free(a.base);
    sgi_llm_global_cleanup();
    return rc;
}
