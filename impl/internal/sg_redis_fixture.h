/*
 * Redis test fixture: a private redis-server per test, on a free loopback
 * port, in a temporary folder of its own.
 *
 *     sgt_redis r;
 *     if (sgt_redis_start(&r, NULL) != 0) {
 *         fprintf(stderr, "%s\n", r.errstr);
 *         ...
 *     }
 *     redisContext *c = sgt_redis_connect(&r);
 *     ...
 *     redisFree(c);
 *     sgt_redis_stop(&r);
 *
 * The server runs from <tmp>/sg-redis-XXXXXX/ (<tmp> is opts->tmpdir, else
 * $TMPDIR, else /tmp), which holds redis.conf, redis.log, redis.stderr,
 * redis.pid, owner.pid (the test process) and any data files.
 *
 * What cleans up:
 *   - sgt_redis_stop() stops the server and removes its folder.
 *   - If the test returns or calls exit() without stopping, an atexit
 *     handler kills every server the process still has and removes their
 *     folders.
 *   - If the test dies by a signal (a crash, an abort, SIGKILL), the kernel
 *     kills its servers (they run with PR_SET_PDEATHSIG = SIGKILL), but
 *     their folders remain. The next sgt_redis_start() under the same <tmp>
 *     removes every sg-redis-* folder whose owner.pid and redis.pid both
 *     name processes that are gone (see sgt_redis_sweep()).
 *
 * Not thread-safe: start and stop servers from one thread. Linux's
 * PR_SET_PDEATHSIG fires when the thread that started the server exits, so
 * start servers from the thread that lives as long as the test.
 *
 * Functions return 0 on success and -1 on failure, with a message in the
 * struct's errstr. This is test support code, not libsg: it has no place in
 * the SG_E error table.
 */
#ifndef SG_REDIS_FIXTURE_H
#define SG_REDIS_FIXTURE_H

#include <stddef.h>

struct redisContext;

#define SGT_REDIS_HOST "127.0.0.1"
#define SGT_REDIS_PATH_MAX 512
#define SGT_REDIS_ERRSTR_MAX 512

/* Options for sgt_redis_start(). A zeroed struct (or NULL) means defaults. */
typedef struct sgt_redis_opts {
    /*
     * Nonzero: append-only file with fsync on every write, so that data
     * survives sgt_redis_restart(). Zero: nothing is written to disk.
     */
    int persistence;
    /*
     * Extra redis.conf lines, such as "maxmemory-policy noeviction", ending
     * with a NULL entry; NULL for none. Each is written after the fixture's
     * own lines, so it may override them. A line may not hold a newline.
     */
    const char *const *extra_config;
    /* The redis-server program; NULL: "redis-server" found on PATH. */
    const char *server;
    /* Folder in which to create sg-redis-XXXXXX; NULL: $TMPDIR or /tmp. */
    const char *tmpdir;
    /* How long to wait for the first PONG, in ms; 0: 5000. */
    int startup_timeout_ms;
} sgt_redis_opts;

/* A running server. Read the public fields; leave the rest alone. */
typedef struct sgt_redis {
    char host[16];                 /* "127.0.0.1" */
    int port;
    char url[64];                  /* "redis://127.0.0.1:<port>" */
    char dir[SGT_REDIS_PATH_MAX];  /* the server's folder; "" if none */
    long pid;                      /* redis-server's pid; -1 if none */
    char errstr[SGT_REDIS_ERRSTR_MAX];

    /* Kept for sgt_redis_restart(). */
    char server_[SGT_REDIS_PATH_MAX];
    int startup_timeout_ms_;
} sgt_redis;

/*
 * Starts a server: sweeps stale folders, creates the folder, picks a free
 * loopback port (trying another if the port is taken before the server
 * binds it), writes redis.conf, runs redis-server and waits until it
 * answers PING with PONG and reports its own pid (so a stranger on the
 * port is never mistaken for it). r needs no initialisation. On failure
 * nothing is left running or on disk, and r->errstr says why, with the
 * end of the server's log when it got that far.
 */
int sgt_redis_start(sgt_redis *r, const sgt_redis_opts *opts);

/*
 * Stops the server (SIGTERM, then SIGKILL if it has not exited within
 * 10 s), reaps it and removes its folder. Stopping a server that is not
 * running is a no-op. Returns -1 only if the folder could not be removed.
 */
int sgt_redis_stop(sgt_redis *r);

/*
 * Stops the server and starts it again on the same port, from the same
 * folder and redis.conf. With opts->persistence the data survives; without
 * it the server comes back empty. Fails if the port was taken meanwhile.
 */
int sgt_redis_restart(sgt_redis *r);

/*
 * Opens a new hiredis connection to the server, with 5 s connect and
 * command timeouts. The caller frees it with redisFree(). NULL on failure.
 */
struct redisContext *sgt_redis_connect(sgt_redis *r);

/*
 * Removes the stale sg-redis-* folders under tmpdir (NULL: $TMPDIR or
 * /tmp): folders owned by this user whose owner.pid and redis.pid name no
 * live process, and folders without owner.pid older than ten minutes.
 * Returns how many it removed. sgt_redis_start() calls it.
 */
int sgt_redis_sweep(const char *tmpdir);

#endif /* SG_REDIS_FIXTURE_H */
