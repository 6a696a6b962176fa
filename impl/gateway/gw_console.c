/*
 * gw_console.c: the `console` platform: each line on standard input is an
 * inbound message on channel `console`; outbound operations are printed
 * on standard output ("bot: <text>", "... typing").
 *
 * Input is read by an event on the input descriptor. A regular file or
 * /dev/null cannot be watched by epoll, so such input is read in chunks
 * from a zero-delay timer instead (reading it never blocks for long).
 * Lines longer than MAX_LINE bytes are cut. End of input stops the
 * gateway only when the console is its only platform.
 *
 * Output goes through stdio and is flushed per line: the console is for a
 * person at a terminal, where a write does not block for long.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <event2/event.h>

#include "gw.h"
#include "gw_text.h"

#define MAX_LINE 4096
#define CHANNEL "console"

typedef struct console {
    gw_platform base;
    int fd;
    FILE *out;
    struct event *ev;
    int polled;                     /* a timer instead of a watch */
    int accepting;
    int eof;
    char line[MAX_LINE + 1];
    size_t len;
    int cut;                        /* dropping the rest of a long line */
    unsigned long seq;
    unsigned pending;               /* publishes not yet answered */
} console;

static void on_published(int status, const char *entry_id, void *ud)
{
    console *c = ud;

    c->pending--;
    if (status != 0)
        sg_logf(gw_log(c->base.gw), SG_LOG_WARN, "console: the message "
                "was not published: %s", sg_strerror(status));
    else
        sg_logf(gw_log(c->base.gw), SG_LOG_DEBUG, "console: published %s",
                entry_id);
}

static void take_line(console *c, const char *s, size_t len)
{
    char id[48];
    sg_envelope env;
    sg_error err;
    const char *user;

    while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    user = getenv("USER");
    snprintf(id, sizeof id, "console-%lu", ++c->seq);
    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.platform = SG_STR("console");
    env.u.in.channel_id = SG_STR(CHANNEL);
    env.u.in.user_id = SG_STR("console-user");
    env.u.in.username.ptr = user != NULL && user[0] != '\0' ? user
                                                            : "console";
    env.u.in.username.len = strlen(env.u.in.username.ptr);
    env.u.in.content.ptr = s;
    env.u.in.content.len = len;
    env.u.in.is_dm = true;
    env.u.in.timestamp = gw_now_s();
    env.u.in.message_id.ptr = id;
    env.u.in.message_id.len = strlen(id);
    if (gw_publish_inbound(&c->base, &env, on_published, c, &err) == 0) {
        c->pending++;
        return;
    }
    fprintf(c->out, "! not sent: %s\n",
            err.msg[0] != '\0' ? err.msg : "redis is unavailable");
    fflush(c->out);
}

static void feed(console *c, const char *buf, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (!c->cut)
                take_line(c, c->line, c->len);
            c->len = 0;
            c->cut = 0;
        } else if (c->len < MAX_LINE) {
            c->line[c->len++] = buf[i];
        } else if (!c->cut) {
            sg_logf(gw_log(c->base.gw), SG_LOG_WARN, "console: a line "
                    "longer than %d bytes was cut", MAX_LINE);
            take_line(c, c->line, c->len);
            c->cut = 1;
        }
    }
}

static void at_eof(console *c)
{
    gw *g = c->base.gw;
    const gw_config *cfg = gw_cfg(g);

    if (c->len > 0 && !c->cut)
        take_line(c, c->line, c->len);
    c->len = 0;
    c->eof = 1;
    event_del(c->ev);
    sg_logf(gw_log(g), SG_LOG_INFO, "console: end of input");
    if (cfg->nplatforms == 1)
        gw_request_stop(g);
}

static void on_input(evutil_socket_t fd, short what, void *ud)
{
    console *c = ud;
    char buf[4096];
    ssize_t n;

    (void)fd;
    (void)what;
    if (!c->accepting || c->eof)
        return;
    n = read(c->fd, buf, sizeof buf);
    if (n > 0) {
        feed(c, buf, (size_t)n);
        if (c->polled) {
            struct timeval tv = { 0, 0 };

            event_add(c->ev, &tv);
        }
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        at_eof(c);
    } else if (c->polled) {
        struct timeval tv = { 0, 10000 };

        event_add(c->ev, &tv);
    }
}

/* ---- outbound ----------------------------------------------------------- */

static void say(console *c, const char *prefix, sg_str s, const char *suffix)
{
    fprintf(c->out, "%s%.*s%s\n", prefix, (int)s.len,
            s.ptr != NULL ? s.ptr : "", suffix);
    fflush(c->out);
}

static void record(console *c, const sg_outbound *m, gw_rec_kind kind,
                   const char *id)
{
    gw_rec_in r;

    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.is_bot = true;
    r.timestamp = gw_now_s();
    r.user_id = "bot";
    r.user_id_len = 3;
    r.user_name = "bot";
    r.user_name_len = 3;
    r.text = m->text.ptr;
    r.text_len = m->text.len;
    r.message_id = id;
    r.message_id_len = strlen(id);
    gw_record_add(c->base.record, m->channel_id.ptr, m->channel_id.len, &r);
}

static void op_send(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;
    char id[48];

    snprintf(id, sizeof id, "console-bot-%lu", ++c->seq);
    say(c, "bot: ", m->text, "");
    record(c, m, GW_REC_MESSAGE, id);
    gw_finish(&c->base, job, GW_OP_SEND, id, NULL);
}

static void op_send_file(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;
    char id[48];

    snprintf(id, sizeof id, "console-bot-%lu", ++c->seq);
    fprintf(c->out, "bot: [file %.*s, %zu bytes, %.*s]%s%.*s\n",
            (int)m->filename.len, m->filename.ptr, m->file_data.len,
            (int)m->mimetype.len, m->mimetype.ptr, m->text.len ? " " : "",
            (int)m->text.len, m->text.ptr != NULL ? m->text.ptr : "");
    fflush(c->out);
    record(c, m, GW_REC_FILE, id);
    gw_finish(&c->base, job, GW_OP_SEND_FILE, id, NULL);
}

static void op_send_buttons(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;
    char id[48];

    snprintf(id, sizeof id, "console-bot-%lu", ++c->seq);
    fprintf(c->out, "bot: %.*s (%zu buttons)\n", (int)m->text.len,
            m->text.ptr != NULL ? m->text.ptr : "", m->nbuttons);
    fflush(c->out);
    record(c, m, GW_REC_BUTTONS, id);
    gw_finish(&c->base, job, GW_OP_SEND_BUTTONS, id, NULL);
}

static void op_start_typing(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;

    (void)m;
    fputs("... typing\n", c->out);
    fflush(c->out);
    gw_finish(&c->base, job, GW_OP_START_TYPING, NULL, NULL);
}

static void op_stop_typing(void *ud, sg_job *job, const sg_outbound *m)
{
    (void)m;
    gw_finish(ud, job, GW_OP_STOP_TYPING, NULL, NULL);
}

static void op_add_reaction(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;

    fprintf(c->out, "bot reacted %.*s to %.*s\n", (int)m->emoji.len,
            m->emoji.ptr, (int)m->message_id.len, m->message_id.ptr);
    fflush(c->out);
    gw_record_react(c->base.record, m->channel_id.ptr, m->channel_id.len,
                    m->message_id.ptr, m->message_id.len, m->emoji.ptr,
                    m->emoji.len);
    gw_finish(&c->base, job, GW_OP_ADD_REACTION, NULL, NULL);
}

static void op_set_presence(void *ud, sg_job *job, const sg_outbound *m)
{
    console *c = ud;

    say(c, "bot status: ", m->text, "");
    gw_finish(&c->base, job, GW_OP_SET_PRESENCE, NULL, NULL);
}

static const sg_platform_adapter console_adapter = {
    op_send, op_send_file, op_send_buttons, op_start_typing,
    op_stop_typing, op_add_reaction, op_set_presence,
};

/* ---- the platform ------------------------------------------------------- */

static int co_open(gw_platform *p, char *err, size_t cap)
{
    console *c = (console *)p;
    struct stat st;

    c->fd = gw_console_in_fd(p->gw) >= 0 ? gw_console_in_fd(p->gw) : 0;
    c->out = gw_console_out(p->gw) != NULL ? gw_console_out(p->gw) : stdout;
    c->polled = fstat(c->fd, &st) == 0 &&
                (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode));
    if (c->polled && S_ISCHR(st.st_mode) && isatty(c->fd))
        c->polled = 0;             /* a terminal can be watched */
    c->ev = event_new(gw_base(p->gw), c->polled ? -1 : c->fd,
                      c->polled ? 0 : EV_READ | EV_PERSIST, on_input, c);
    if (c->ev == NULL) {
        snprintf(err, cap, "console: cannot watch the input");
        return -1;
    }
    return 0;
}

static void co_ready(gw_platform *p)
{
    console *c = (console *)p;
    struct timeval tv = { 0, 0 };

    c->accepting = 1;
    if (event_add(c->ev, c->polled ? &tv : NULL) != 0) {
        sg_logf(gw_log(p->gw), SG_LOG_WARN, "console: cannot watch the "
                "input; reading it by polling");
        event_free(c->ev);
        c->polled = 1;
        c->ev = event_new(gw_base(p->gw), -1, 0, on_input, c);
        if (c->ev != NULL)
            event_add(c->ev, &tv);
    }
    fprintf(c->out, "console: type a message and press enter\n");
    fflush(c->out);
}

static void co_close(gw_platform *p)
{
    console *c = (console *)p;

    c->accepting = 0;
    if (c->ev != NULL)
        event_del(c->ev);
}

static void co_free(gw_platform *p)
{
    console *c = (console *)p;

    if (c->ev != NULL)
        event_free(c->ev);
    free(c);
}

static const gw_platform_vt console_vt = {
    "console", &console_adapter, co_open, co_ready, co_close, co_free, NULL,
    NULL,
};

int gw_console_new(gw *g, gw_platform **out)
{
    console *c = calloc(1, sizeof *c);

    (void)g;
    if (c == NULL)
        return -1;
    c->base.vt = &console_vt;
    c->fd = -1;
    *out = &c->base;
    return 0;
}
