/*
 * gw_config.c: the gateway's configuration from the environment.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sg/conn.h"
#include "sg/error.h"

#include "gw_config.h"

static const char *const kind_names[] = { "webchat", "http", "console" };

const char *gw_platform_kind_name(gw_platform_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && cap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The value of name, or NULL when unset or empty. */
static const char *get(sg_lookup_fn *lookup, void *ud, const char *name)
{
    const char *v = lookup(name, ud);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

int gw_parse_listen(const char *v, int allow_off, gw_listen *out)
{
    const char *colon, *h = v;
    size_t hlen;
    char *stop;
    long port;

    memset(out, 0, sizeof *out);
    if (v == NULL)
        return -1;
    if (allow_off && strcmp(v, "off") == 0) {
        out->off = 1;
        return 0;
    }
    colon = strrchr(v, ':');
    if (colon == NULL || colon[1] == '\0')
        return -1;
    hlen = (size_t)(colon - v);
    if (hlen >= 2 && v[0] == '[' && v[hlen - 1] == ']') {
        h = v + 1;
        hlen -= 2;
    } else if (memchr(v, ':', hlen) != NULL) {
        return -1;                  /* a bare IPv6 address needs [] */
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        return -1;
    if (colon[1] < '0' || colon[1] > '9')
        return -1;
    errno = 0;
    port = strtol(colon + 1, &stop, 10);
    if (errno != 0 || *stop != '\0' || port < 0 || port > 65535)
        return -1;
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    out->port = (int)port;
    return 0;
}

int gw_parse_platforms(const char *v, gw_platform_kind *out, int *n,
                       char *err, size_t cap)
{
    const char *p = v;
    int k, count = 0;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t l = len;
        int found = -1;

        while (l > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            l--;
        }
        while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            l--;
        for (k = 0; k < 3; k++)
            if (strlen(kind_names[k]) == l &&
                memcmp(kind_names[k], s, l) == 0)
                found = k;
        if (found < 0)
            return fail(err, cap, "SG_PLATFORMS: unknown platform '%.*s' "
                        "(known: webchat, http, console)", (int)l, s);
        for (k = 0; k < count; k++)
            if ((int)out[k] == found)
                return fail(err, cap, "SG_PLATFORMS: '%s' is named twice",
                            kind_names[found]);
        out[count++] = (gw_platform_kind)found;
        p += len;
        if (*p == ',')
            p++;
    }
    if (count == 0)
        return fail(err, cap, "SG_PLATFORMS: no platform named (known: "
                    "webchat, http, console)");
    *n = count;
    return 0;
}

int gw_config_has(const gw_config *c, gw_platform_kind kind)
{
    int i;

    for (i = 0; i < c->nplatforms; i++)
        if (c->platforms[i] == kind)
            return 1;
    return 0;
}

/* Parses REDIS_URL; "/0" (database 0) is accepted and dropped. */
static int parse_redis(const char *url, gw_config *c, char *err, size_t cap)
{
    char tmp[GW_URL_MAX];
    size_t len = strlen(url);

    if (len >= sizeof tmp)
        return fail(err, cap, "REDIS_URL: longer than %zu bytes",
                    sizeof tmp - 1);
    memcpy(tmp, url, len + 1);
    if (len >= 2 && strcmp(tmp + len - 2, "/0") == 0)
        tmp[len - 2] = '\0';
    if (sg_conn_parse_url(tmp, c->redis_host, sizeof c->redis_host,
                          &c->redis_port) != 0)
        return fail(err, cap, "REDIS_URL: '%s' is not redis://host[:port]"
                    "[/0] (no user, password or database other than 0)",
                    url);
    return 0;
}

static int parse_ms(const char *name, const char *v, int lo, int hi, int *out,
                    char *err, size_t cap)
{
    char *stop;
    long n;

    if (v[0] < '0' || v[0] > '9')
        return fail(err, cap, "%s: '%s' is not a decimal integer", name, v);
    errno = 0;
    n = strtol(v, &stop, 10);
    if (errno != 0 || *stop != '\0' || n < lo || n > hi)
        return fail(err, cap, "%s: '%s' is not an integer from %d to %d",
                    name, v, lo, hi);
    *out = (int)n;
    return 0;
}

int gw_config_from_lookup(gw_config *c, sg_lookup_fn *lookup, void *ud,
                          const char *prog, char *err, size_t cap)
{
    sg_error e;
    const char *v;
    char host[128];

    memset(c, 0, sizeof *c);
    if (parse_redis((v = get(lookup, ud, "REDIS_URL")) != NULL
                        ? v : "redis://127.0.0.1:6379/0", c, err, cap) != 0)
        return -1;
    sg_error_clear(&e);
    if (sg_topology_from_lookup(&c->topo, lookup, ud, &e) != 0 ||
        sg_knobs_from_lookup(&c->knobs, lookup, ud, &e) != 0)
        return fail(err, cap, "%s", e.msg);

    if ((v = get(lookup, ud, "SG_INSTANCE_ID")) != NULL) {
        if (strlen(v) >= sizeof c->instance_id)
            return fail(err, cap, "SG_INSTANCE_ID: longer than %zu bytes",
                        sizeof c->instance_id - 1);
        snprintf(c->instance_id, sizeof c->instance_id, "%s", v);
    } else {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(c->instance_id, sizeof c->instance_id, "%.40s-%.64s-%ld",
                 prog, host, (long)getpid());
    }

    if (gw_parse_platforms((v = get(lookup, ud, "SG_PLATFORMS")) != NULL
                               ? v : "webchat",
                           c->platforms, &c->nplatforms, err, cap) != 0)
        return -1;

    v = get(lookup, ud, "SG_METRICS_LISTEN");
    if (gw_parse_listen(v != NULL ? v : "127.0.0.1:0", 1, &c->metrics) != 0)
        return fail(err, cap, "SG_METRICS_LISTEN: '%s' is not host:port "
                    "(port 0 to 65535) or off", v);
    v = get(lookup, ud, "SG_WEBCHAT_LISTEN");
    if (gw_parse_listen(v != NULL ? v : "127.0.0.1:8080", 0,
                        &c->webchat) != 0)
        return fail(err, cap, "SG_WEBCHAT_LISTEN: '%s' is not host:port "
                    "(port 0 to 65535)", v);
    v = get(lookup, ud, "SG_HTTP_PLATFORM_LISTEN");
    if (gw_parse_listen(v != NULL ? v : "127.0.0.1:0", 0, &c->http) != 0)
        return fail(err, cap, "SG_HTTP_PLATFORM_LISTEN: '%s' is not "
                    "host:port (port 0 to 65535)", v);

    c->http_timeout_ms = 5000;
    if ((v = get(lookup, ud, "SG_HTTP_PLATFORM_TIMEOUT_MS")) != NULL &&
        parse_ms("SG_HTTP_PLATFORM_TIMEOUT_MS", v, 1, 600000,
                 &c->http_timeout_ms, err, cap) != 0)
        return -1;
    if ((v = get(lookup, ud, "SG_HTTP_PLATFORM_WEBHOOK")) != NULL) {
        if (strlen(v) >= sizeof c->http_webhook)
            return fail(err, cap, "SG_HTTP_PLATFORM_WEBHOOK: longer than "
                        "%zu bytes", sizeof c->http_webhook - 1);
        if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
            return fail(err, cap, "SG_HTTP_PLATFORM_WEBHOOK: '%s' is not an "
                        "http:// or https:// URL", v);
        snprintf(c->http_webhook, sizeof c->http_webhook, "%s", v);
    } else if (gw_config_has(c, GW_HTTP)) {
        return fail(err, cap, "SG_HTTP_PLATFORM_WEBHOOK: required when "
                    "SG_PLATFORMS includes http");
    }
    return 0;
}
