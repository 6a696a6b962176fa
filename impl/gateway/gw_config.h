/*
 * gw_config.h: sg-gateway's configuration from the environment (the
 * services' common contract plus the gateway's own variables; see
 * README.md). Plain caller storage, nothing to free.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>

#include "sg/config.h"

#define GW_MAX_PLATFORMS 3
#define GW_HOST_MAX 256
#define GW_URL_MAX 2048

typedef enum gw_platform_kind {
    GW_WEBCHAT,
    GW_HTTP,
    GW_CONSOLE
} gw_platform_kind;

/* "webchat", "http", "console". */
const char *gw_platform_kind_name(gw_platform_kind k);

typedef struct gw_listen {
    int off;                        /* "off" */
    char host[GW_HOST_MAX];
    int port;                       /* 0: ephemeral */
} gw_listen;

typedef struct gw_config {
    char redis_host[GW_HOST_MAX];   /* REDIS_URL */
    int redis_port;
    sg_topology topo;               /* SPEC section 2 */
    sg_knobs knobs;                 /* SPEC section 13 */
    char instance_id[128];          /* SG_INSTANCE_ID */
    gw_platform_kind platforms[GW_MAX_PLATFORMS]; /* SG_PLATFORMS */
    int nplatforms;
    gw_listen metrics;              /* SG_METRICS_LISTEN */
    gw_listen webchat;              /* SG_WEBCHAT_LISTEN */
    gw_listen http;                 /* SG_HTTP_PLATFORM_LISTEN */
    char http_webhook[GW_URL_MAX];  /* SG_HTTP_PLATFORM_WEBHOOK */
    int http_timeout_ms;            /* SG_HTTP_PLATFORM_TIMEOUT_MS */
} gw_config;

/*
 * Fills c from lookup (getenv's shape; see sg/config.h). prog names the
 * default instance id "<prog>-<hostname>-<pid>". 0, or -1 with a message
 * in err naming the variable and the limit (the program exits 2).
 */
int gw_config_from_lookup(gw_config *c, sg_lookup_fn *lookup, void *ud,
                          const char *prog, char *err, size_t cap);

/*
 * Parses "host:port" (port 0..65535; "[v6]:port" allowed) or "off" (when
 * allow_off). 0, or -1.
 */
int gw_parse_listen(const char *v, int allow_off, gw_listen *out);

/* Parses a comma list of platform names, no repeats. 0, or -1 with err. */
int gw_parse_platforms(const char *v, gw_platform_kind *out, int *n,
                       char *err, size_t cap);

/* 1 when kind is configured. */
int gw_config_has(const gw_config *c, gw_platform_kind kind);

#endif /* GW_CONFIG_H */
