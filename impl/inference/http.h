/*
 * http.h: the operator's HTTP endpoint of a service (libevent evhttp):
 * GET /healthz (200 "ok" or 503) and GET /metrics (Prometheus text format
 * 0.0.4), and a latency histogram to put there.
 */
#ifndef SGI_HTTP_H
#define SGI_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;

typedef struct sgi_http sgi_http;

/* 1 when healthy. */
typedef int sgi_health_fn(void *ud);
/* Appends the metrics text. */
typedef void sgi_metrics_fn(struct evbuffer *out, void *ud);

/*
 * Listens on listen ("host:port"; port 0: ephemeral) and serves both
 * paths. 0 and *out, *port the bound port; or -1 with err naming
 * SG_METRICS_LISTEN and why.
 */
int sgi_http_new(struct event_base *base, const char *listen,
                 sgi_health_fn *health, sgi_metrics_fn *metrics, void *ud,
                 sgi_http **out, int *port, char *err, size_t errcap);

void sgi_http_free(sgi_http *h);

/* A histogram with fixed buckets, in seconds. */
#define SGI_HIST_BUCKETS 12

typedef struct sgi_hist {
    uint64_t counts[SGI_HIST_BUCKETS]; /* per bucket, not cumulative */
    uint64_t inf;                      /* above the last bound */
    uint64_t count;
    double sum;
} sgi_hist;

void sgi_hist_observe(sgi_hist *h, double seconds);

/* Writes the histogram's HELP, TYPE and series. */
void sgi_hist_write(struct evbuffer *out, const char *name, const char *help,
                    const sgi_hist *h);

#endif /* SGI_HTTP_H */
