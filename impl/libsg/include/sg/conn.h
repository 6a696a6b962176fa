/*
 * sg/conn.h: an asynchronous Redis connection that reconnects by itself.
 *
 * Concurrency model. A process runs one libevent event_base, which the
 * caller creates, runs and frees. Every sg_conn lives on that base and
 * talks to Redis through hiredis' asynchronous API and its libevent
 * adapter: a command is written once the callbacks already due in the
 * loop's current iteration have run, and its reply arrives as a callback
 * from the loop. Commands issued back to back leave in one write, a
 * pipeline. Nothing here blocks and nothing here is thread-safe: call
 * every function from the thread that runs the base. sg_event_base_new()
 * makes a base that suits the connections best.
 *
 * A blocking command (XREADGROUP ... BLOCK, BLPOP) holds its connection for
 * the whole block: every command queued behind it waits. Give each blocking
 * reader a connection of its own and send nothing else on it.
 *
 * Life of a connection:
 *
 *     sg_conn_opts o;
 *     sg_conn_opts_init(&o);
 *     o.host = "127.0.0.1"; o.port = 6379; o.name = "commands";
 *     sg_conn *c;
 *     if (sg_conn_new(base, &o, &c) != 0) ...;
 *     sg_conn_command(c, on_reply, ctx, 2, (const char *[]){"XLEN", "s"},
 *                     NULL);
 *     event_base_dispatch(base);   // on_reply runs from here
 *     sg_conn_free(c);
 *
 * sg_conn_new() starts connecting at once and returns. While it connects,
 * commands are accepted and queued; they are sent when the connection is
 * up. When a connection attempt fails, the connection waits and tries
 * again, 100 ms after the first failure, doubling up to 5 s (the opts
 * change these bounds); while it waits, sg_conn_command() fails with
 * SG_ECLOSED and no callback fires. When an established connection
 * drops, every command still waiting for its reply gets SG_ECLOSED through
 * its callback, and the connection reconnects at once, then backs off as
 * above. A command that gets no reply within its timeout gets SG_ETIMEOUT;
 * since Redis answers in order and a command cannot be taken back, the
 * connection is then dropped and re-established, and every other command
 * waiting on it gets SG_ETIMEOUT too.
 *
 * The connection logs each state change once (up, lost, unreachable and
 * why, back), not each retry. Callers that must act when the connection
 * comes back (re-issue a blocking read, resubscribe) set opts.on_state.
 *
 * Replies. A callback receives a borrowed sg_reply, valid until the
 * callback returns: the caller never frees a reply. Copy what must outlive
 * the callback.
 *
 * Scripts. An sg_script is a Lua body and a name. The digest EVALSHA needs
 * is learnt from the server, never computed here: the first call of a
 * script on a connection is sent as EVAL, with a SCRIPT LOAD pipelined
 * ahead of it whose reply is the digest; later calls send EVALSHA. When
 * the server answers NOSCRIPT (after SCRIPT FLUSH, say) the connection
 * sends the same call as EVAL and hands that reply to the callback
 * instead. A connection also loads, with SCRIPT LOAD pipelined ahead of
 * everything else, every script it has run before, each time it
 * (re)connects, so that NOSCRIPT is rare.
 *
 * Counting. Every command written to the connection counts once in
 * sg_conn_commands_sent(), including SCRIPT LOAD and an EVAL fallback, so
 * that a benchmark can report Redis commands per message honestly.
 */
#ifndef SG_CONN_H
#define SG_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "sg/log.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct sg_conn sg_conn;

/*
 * A new event_base for a process of sg_conn connections: libevent's
 * default backend with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, so that the
 * write event hiredis adds and drops around each write costs no system
 * call (the flag's limit: a descriptor must not be dup()ed while it has
 * events). Free with event_base_free(). NULL when libevent cannot make
 * one.
 */
struct event_base *sg_event_base_new(void);

/* ---- replies ---------------------------------------------------------- */

/* A Redis reply, borrowed for the duration of a callback. */
typedef struct sg_reply sg_reply;

typedef enum sg_reply_type {
    SG_REPLY_STRING = 1,
    SG_REPLY_ARRAY = 2,
    SG_REPLY_INTEGER = 3,
    SG_REPLY_NIL = 4,
    SG_REPLY_STATUS = 5,
    SG_REPLY_ERROR = 6
} sg_reply_type;

/* The reply's type; 0 for a NULL reply. */
sg_reply_type sg_reply_kind(const sg_reply *r);

/*
 * The bytes of a STRING, STATUS or ERROR reply (NUL-terminated, but may
 * hold NULs; *len, when len is not NULL, gets the length). NULL for other
 * types.
 */
const char *sg_reply_str(const sg_reply *r, size_t *len);

/* The value of an INTEGER reply; 0 for other types. */
long long sg_reply_integer(const sg_reply *r);

/*
 * The reply as an integer: an INTEGER, or a STRING/STATUS holding a
 * decimal integer. 0 and *out set, or SG_EINVAL.
 */
int sg_reply_to_ll(const sg_reply *r, long long *out);

/* Number of elements of an ARRAY reply; 0 for other types. */
size_t sg_reply_len(const sg_reply *r);

/* Element i of an ARRAY reply; NULL when out of range or not an array. */
const sg_reply *sg_reply_at(const sg_reply *r, size_t i);

/*
 * Nonzero when r is a STRING/STATUS equal to s, or, for an ERROR, when
 * its text starts with the word s (e.g. "NOGROUP", "BUSYGROUP").
 */
int sg_reply_is(const sg_reply *r, const char *s);

/* ---- connections -------------------------------------------------------- */

/*
 * A command's reply. status is:
 *   0            reply is the server's answer (never an ERROR reply);
 *   SG_EREDIS    reply is an ERROR reply; sg_reply_str() gives its text;
 *   SG_ECLOSED   the connection dropped or was freed before the reply
 *                came; reply is NULL, and the command may or may not
 *                have run;
 *   SG_ETIMEOUT  no reply within the command's timeout; reply is NULL, and
 *                the command may or may not have run.
 * conn is the connection the command was sent on. When status is
 * SG_ECLOSED because the caller is freeing the connection, conn must not
 * be used. The callback may send further commands, and may free conn.
 */
typedef void sg_reply_fn(sg_conn *conn, int status, const sg_reply *reply,
                         void *ud);

/*
 * Called from the loop (never from inside another sg_conn call) after the
 * connection came up (up = 1) or went down (up = 0). Two changes within
 * one loop iteration may be reported once, with the latest state. The
 * callback may send commands and may free conn.
 */
typedef void sg_conn_state_fn(sg_conn *conn, int up, void *ud);

typedef struct sg_conn_opts {
    const char *host;        /* NULL: "127.0.0.1"; copied */
    int port;                /* 0: 6379 */
    const char *name;        /* role in log lines, e.g. "reader"; copied */
    int connect_timeout_ms;  /* 0: 2000 */
    int command_timeout_ms;  /* 0: 10000; per command, see below */
    int backoff_min_ms;      /* 0: 100 */
    int backoff_max_ms;      /* 0: 5000 */
    const sg_log *log;       /* NULL: stderr, info; must outlive conn */
    const sg_mem *mem;       /* NULL: sg_mem_default(); must outlive conn */
    sg_conn_state_fn *on_state; /* NULL: none */
    void *ud;                /* passed to on_state */
    /*
     * NULL: none. Else every command written to this connection, and to
     * the connections made like it (sg_conn_new_like()), also adds one
     * here: a process's count over all its connections. Must outlive
     * them.
     */
    uint64_t *sent_total;
} sg_conn_opts;

/* Defaults: every field zero or NULL. */
void sg_conn_opts_init(sg_conn_opts *opts);

/*
 * Parses "redis://host[:port][/]" (or "host[:port]") into host (a buffer of
 * hostcap bytes) and *port (6379 when absent). 0, or SG_EINVAL for a URL
 * with a user, password, database number or query, which this library does
 * not support.
 */
int sg_conn_parse_url(const char *url, char *host, size_t hostcap,
                      int *port);

/*
 * Creates a connection on base and starts connecting. On success *out owns
 * the connection; free it with sg_conn_free() before freeing base.
 * SG_ENOMEM or SG_EINVAL (a bad option) otherwise. A server that cannot be
 * reached is not an error: the connection keeps retrying.
 */
int sg_conn_new(struct event_base *base, const sg_conn_opts *opts,
                sg_conn **out);

/*
 * A new connection to the same server with the same options, but another
 * name in the log lines and no state callback (on_state, ud given here,
 * may be NULL). For giving a blocking reader its own connection.
 */
int sg_conn_new_like(const sg_conn *like, const char *name,
                     sg_conn_state_fn *on_state, void *ud, sg_conn **out);

/*
 * Closes the connection and frees it. Every command still waiting gets
 * SG_ECLOSED through its callback, synchronously, before this returns.
 * May be called from any callback, including this connection's own.
 * NULL is a no-op.
 */
void sg_conn_free(sg_conn *conn);

/* Nonzero while the connection is established. */
int sg_conn_is_up(const sg_conn *conn);

/* Commands written to this connection since it was created. */
uint64_t sg_conn_commands_sent(const sg_conn *conn);

/* "host:port", for log lines. Valid while conn lives. */
const char *sg_conn_address(const sg_conn *conn);

/* The loop this connection runs on. */
struct event_base *sg_conn_base(const sg_conn *conn);

/* The logger the connection writes to (opts.log; may be NULL). */
const sg_log *sg_conn_log(const sg_conn *conn);

/* The allocator the connection allocates through. */
const sg_mem *sg_conn_mem(const sg_conn *conn);

/*
 * Sends one command: argv[0..argc) with byte lengths argvlen (NULL: every
 * argument is a C string). The arguments are copied before this returns.
 * fn (may be NULL) gets the reply. The command times out after
 * opts.command_timeout_ms.
 *
 * 0 on success: fn will be called exactly once. SG_ECLOSED while the
 * connection waits to reconnect, SG_ENOMEM, or SG_EINVAL (argc < 1): then
 * fn is never called.
 */
int sg_conn_command(sg_conn *conn, sg_reply_fn *fn, void *ud, int argc,
                    const char *const *argv, const size_t *argvlen);

/*
 * As sg_conn_command() with a timeout of its own, in ms (> 0). A blocking
 * command passes its block time plus a margin, e.g. BLOCK 5000 with a
 * timeout of 5000 + the connection's command timeout.
 */
int sg_conn_command_timeout(sg_conn *conn, int timeout_ms, sg_reply_fn *fn,
                            void *ud, int argc, const char *const *argv,
                            const size_t *argvlen);

/* ---- scripts ------------------------------------------------------------ */

/*
 * A Lua script. Caller storage, nothing to free. name and body are read
 * during calls only: a connection keeps its own copy of every script it
 * ran.
 */
typedef struct sg_script {
    const char *name;  /* for log lines */
    const char *body;
    size_t body_len;   /* strlen(body) */
} sg_script;

/* Fills s with name and body. */
void sg_script_init(sg_script *s, const char *name, const char *body);

/*
 * Runs script s: EVALSHA <sha> <nkeys> args[0..nargs), where the first
 * nkeys arguments are the script's KEYS and the rest its ARGV, with byte
 * lengths lens (NULL: C strings); EVAL <body> ... while the connection
 * does not know the script's digest yet. Falls back to EVAL on NOSCRIPT
 * (see the top of this file); fn sees only the final reply. The
 * connection remembers the script (a copy of s and its body, known by its
 * body) and loads it again on every reconnect; the first call of a script
 * on a connection also sends its SCRIPT LOAD, in the same write. Returns
 * and calls back as sg_conn_command().
 */
int sg_conn_eval(sg_conn *conn, const sg_script *s, sg_reply_fn *fn,
                 void *ud, int nkeys, int nargs, const char *const *args,
                 const size_t *lens);

#ifdef __cplusplus
}
#endif

#endif /* SG_CONN_H */
