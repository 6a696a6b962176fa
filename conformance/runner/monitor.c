/*
 * monitor.c: reading back the MONITOR log of a case.
 *
 * A line looks like
 *     1732350000.123456 [0 127.0.0.1:51234] "SET" "k" "v" "NX" "PX" "2000"
 *     1732350000.123456 [0 lua] "XACK" "s" "g" "1-0"
 * with arguments quoted and escaped the way sdscatrepr() does (\" \\ \n
 * \r \t \a \b \xHH).
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Parses the quoted arguments after the closing ']'. */
static int parse_args(const char *p, sgc_mon_cmd *cmd, char *store,
                      size_t storecap)
{
    size_t used = 0;
    int cap = 16;
    cmd->argc = 0;
    cmd->argv = malloc((size_t)cap * sizeof *cmd->argv);
    cmd->lens = malloc((size_t)cap * sizeof *cmd->lens);
    if (cmd->argv == NULL || cmd->lens == NULL)
        return -1;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p != '"')
            break;
        p++;
        char *start = store + used;
        size_t n = 0;
        while (*p && *p != '"') {
            int ch = (unsigned char)*p++;
            if (ch == '\\' && *p) {
                int e = (unsigned char)*p++;
                switch (e) {
                case 'n': ch = '\n'; break;
                case 'r': ch = '\r'; break;
                case 't': ch = '\t'; break;
                case 'a': ch = '\a'; break;
                case 'b': ch = '\b'; break;
                case 'x':
                    if (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
                        ch = hexval(p[0]) * 16 + hexval(p[1]);
                        p += 2;
                    } else {
                        ch = 'x';
                    }
                    break;
                default: ch = e;
                }
            }
            if (used + n + 1 < storecap)
                start[n++] = (char)ch;
        }
        if (*p == '"')
            p++;
        start[n] = '\0';
        used += n + 1;
        if (cmd->argc == cap) {
            cap *= 2;
            char **a = realloc(cmd->argv, (size_t)cap * sizeof *a);
            size_t *l = realloc(cmd->lens, (size_t)cap * sizeof *l);
            if (a == NULL || l == NULL) {
                free(a ? a : cmd->argv);
                free(l ? l : cmd->lens);
                cmd->argv = NULL;
                cmd->lens = NULL;
                return -1;
            }
            cmd->argv = a;
            cmd->lens = l;
        }
        cmd->argv[cmd->argc] = start;
        cmd->lens[cmd->argc] = n;
        cmd->argc++;
    }
    return 0;
}

long sgc_monitor_each(sgc_ctx *c, sgc_mon_fn *fn, void *ud)
{
    FILE *f = fopen(c->monitor_log, "r");
    if (f == NULL)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long seen = 0;
    char *store = NULL;
    size_t storecap = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[0] == '#' || !isdigit((unsigned char)line[0]))
            continue;
        char *br = strchr(line, '[');
        char *close = br ? strchr(br, ']') : NULL;
        if (br == NULL || close == NULL)
            continue;
        sgc_mon_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.t_ms = (long long)(strtod(line, NULL) * 1000.0);
        /* "[0 lua]" or "[0 127.0.0.1:port]" */
        const char *sp = memchr(br, ' ', (size_t)(close - br));
        if (sp) {
            size_t n = (size_t)(close - sp - 1);
            if (n >= sizeof cmd.client)
                n = sizeof cmd.client - 1;
            memcpy(cmd.client, sp + 1, n);
            cmd.client[n] = '\0';
        }
        cmd.lua = strcmp(cmd.client, "lua") == 0;
        if ((size_t)len + 1 > storecap) {
            storecap = (size_t)len + 1;
            char *s = realloc(store, storecap);
            if (s == NULL)
                break;
            store = s;
        }
        int own = 0;
        for (int i = 0; i < c->nrunner_addr; i++)
            own |= strcmp(cmd.client, c->runner_addr[i]) == 0;
        if (own)
            continue;
        if (parse_args(close + 1, &cmd, store, storecap) == 0 &&
            cmd.argc > 0) {
            seen++;
            int stop = fn(&cmd, ud);
            free(cmd.argv);
            free(cmd.lens);
            if (stop)
                break;
        } else {
            free(cmd.argv);
            free(cmd.lens);
        }
    }
    free(store);
    free(line);
    fclose(f);
    return seen;
}

int sgc_mon_is(const sgc_mon_cmd *cmd, int i, const char *s)
{
    return i < cmd->argc && strcasecmp(cmd->argv[i], s) == 0;
}
