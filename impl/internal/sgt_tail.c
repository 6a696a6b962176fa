/* Tailing a stream with XREAD BLOCK, for tests (sgt_tail.h). */
#define _POSIX_C_SOURCE 200809L

#include "sgt_tail.h"

#include "sg/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define MAX_FIELDS 32

struct sgt_tail {
    sg_conn *conn;
    char stream[256];
    char cursor[64];
    sgt_tail_fn *fn;
    void *ud;
    struct event *retry;
    int closing;
    unsigned count;
};

static void read_next(sgt_tail *t);

static void on_read(sg_conn *conn, int status, const sg_reply *reply,
                    void *ud)
{
    sgt_tail *t = ud;
    size_t i, j, k;

    (void)conn;
    if (t->closing)
        return;
    if (status != 0) {
        struct timeval tv = {0, 20000};

        evtimer_add(t->retry, &tv);
        return;
    }
    for (i = 0; i < sg_reply_len(reply); i++) {
        const sg_reply *entries = sg_reply_at(sg_reply_at(reply, i), 1);

        for (j = 0; j < sg_reply_len(entries); j++) {
            const sg_reply *e = sg_reply_at(entries, j);
            const sg_reply *kv = sg_reply_at(e, 1);
            sg_entry_field fields[MAX_FIELDS];
            sg_entry entry;
            size_t idlen;
            const char *id = sg_reply_str(sg_reply_at(e, 0), &idlen);

            if (id == NULL || idlen >= sizeof t->cursor)
                continue;
            memcpy(t->cursor, id, idlen + 1);
            entry.nfields = sg_reply_len(kv) / 2;
            if (entry.nfields > MAX_FIELDS)
                entry.nfields = MAX_FIELDS;
            for (k = 0; k < entry.nfields; k++) {
                fields[k].name.ptr = sg_reply_str(sg_reply_at(kv, 2 * k),
                                                  &fields[k].name.len);
                fields[k].value.ptr = sg_reply_str(
                    sg_reply_at(kv, 2 * k + 1), &fields[k].value.len);
            }
            entry.fields = fields;
            t->count++;
            t->fn(t->cursor, &entry, t->ud);
        }
    }
    read_next(t);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    read_next(arg);
}

static void read_next(sgt_tail *t)
{
    const char *argv[6] = {"XREAD", "BLOCK", "50", "STREAMS", t->stream,
                           t->cursor};

    if (sg_conn_command(t->conn, on_read, t, 6, argv, NULL) != 0) {
        struct timeval tv = {0, 20000};

        evtimer_add(t->retry, &tv);
    }
}

int sgt_tail_new(sg_conn *like, const char *stream, sgt_tail_fn *fn,
                 void *ud, sgt_tail **out)
{
    sgt_tail *t = calloc(1, sizeof *t);
    int rc;

    *out = NULL;
    if (t == NULL)
        return SG_ENOMEM;
    if (snprintf(t->stream, sizeof t->stream, "%s", stream) >=
        (int)sizeof t->stream) {
        free(t);
        return SG_EINVAL;
    }
    memcpy(t->cursor, "0-0", 4);
    t->fn = fn;
    t->ud = ud;
    t->retry = evtimer_new(sg_conn_base(like), on_retry, t);
    rc = t->retry == NULL ? SG_ENOMEM
                          : sg_conn_new_like(like, "tail", NULL, NULL,
                                             &t->conn);
    if (rc != 0) {
        if (t->retry != NULL)
            event_free(t->retry);
        free(t);
        return rc;
    }
    read_next(t);
    *out = t;
    return 0;
}

void sgt_tail_free(sgt_tail *t)
{
    if (t == NULL)
        return;
    t->closing = 1;
    sg_conn_free(t->conn);
    event_free(t->retry);
    free(t);
}

unsigned sgt_tail_count(const sgt_tail *t)
{
    return t->count;
}
