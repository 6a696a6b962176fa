/*
 * sg-gateway's console platform in-process against a real redis-server:
 * input lines published as inbound messages on channel `console`
 * (SG-INENV-001), outbound operations printed (SG-OUT-007), and the end
 * of input asking for a stop when the console is the only platform, after
 * which the gateway stops gracefully (SG-IN-017) with nothing leaked.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <unistd.h>

#include "gwt.h"

typedef struct world {
    gwt w;
    int pipe[2];
    FILE *out;
} world;

static int setup(void **state)
{
    static world x;

    memset(&x, 0, sizeof x);
    /* Close-on-exec: redis-server, started next, must not hold the
     * write end, or the gateway would never see the end of input. */
    if (pipe(x.pipe) != 0 || fcntl(x.pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(x.pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
        (x.out = tmpfile()) == NULL)
        return -1;
    if (gwt_open(&x.w) != 0)
        return -1;
    x.w.console_fd = x.pipe[0];
    x.w.console_out = x.out;
    gwt_setenv(&x.w, "SG_PLATFORMS", "console");
    if (gwt_start_gateway(&x.w) != 0)
        return -1;
    *state = &x;
    return 0;
}

static int teardown(void **state)
{
    world *x = *state;

    gwt_close(&x->w);
    if (x->pipe[1] >= 0)
        close(x->pipe[1]);
    close(x->pipe[0]);
    fclose(x->out);
    return 0;
}

static long long xlen(gwt *w)
{
    redisReply *r = redisCommand(w->sync, "XLEN sg:stream:inbound");
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer
                                                              : -1;

    freeReplyObject(r);
    return n;
}

typedef struct want {
    world *x;
    const char *text;
} want;

/* The console output so far holds text. */
static int printed(void *arg)
{
    want *q = arg;
    char buf[4096];
    size_t n;

    fflush(q->x->out);
    rewind(q->x->out);
    n = fread(buf, 1, sizeof buf - 1, q->x->out);
    buf[n] = '\0';
    fseek(q->x->out, 0, SEEK_END);
    return strstr(buf, q->text) != NULL;
}

static int has_two(void *arg)
{
    return xlen(arg) >= 2;
}

static void test_console_lines_are_published(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    const char lines[] = "first line\n\nsecond line\r\n";
    redisReply *r, *e;
    sg_envelope *env;

    assert_int_equal(write(x->pipe[1], lines, sizeof lines - 1),
                     (ssize_t)(sizeof lines - 1));
    GWT_WAIT(has_two, w);                   /* the empty line is skipped */
    r = redisCommand(w->sync, "XRANGE sg:stream:inbound - +");
    assert_int_equal(r->elements, 2);
    /* env points into the reply e: freed after it. */
    e = gwt_read_inbound(w, r->element[1]->element[0]->str, &env);
    assert_true(gwt_str_eq(env->u.in.platform, "console"));
    assert_true(gwt_str_eq(env->u.in.channel_id, "console"));
    assert_true(gwt_str_eq(env->u.in.content, "second line"));
    sg_envelope_free(env);
    freeReplyObject(e);
    freeReplyObject(r);
}

static void test_console_prints_outbound(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    sg_envelope env;
    want q = { x, NULL };

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_TYPING;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("console");
    gwt_publish_out(w, "console", &env, NULL, 0);
    q.text = "... typing\n";
    GWT_WAIT(printed, &q);
    gwt_message(&env, "console", "hello, person", "mk:console:1");
    gwt_publish_out(w, "console", &env, NULL, 0);
    q.text = "bot: hello, person\n";
    GWT_WAIT(printed, &q);
}

static int stop_requested(void *arg)
{
    return ((gwt *)arg)->stop_requested;
}

static int has_three(void *arg)
{
    return xlen(arg) >= 3;
}

/* Last: closing the input ends the only platform's input. */
static void test_console_eof_asks_for_a_stop(void **state)
{
    world *x = *state;
    gwt *w = &x->w;

    assert_int_equal(write(x->pipe[1], "no newline at the end", 21), 21);
    close(x->pipe[1]);
    x->pipe[1] = -1;
    GWT_WAIT(stop_requested, w);
    GWT_WAIT(has_three, w);                /* the last line counts too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_lines_are_published),
        cmocka_unit_test(test_console_prints_outbound),
        cmocka_unit_test(test_console_eof_asks_for_a_stop),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
