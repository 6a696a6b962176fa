/*
 * Redis test fixture: see sg_redis_fixture.h for what it promises.
 */

/* mkdtemp, nftw, kill, fdopen and friends: POSIX.1-2008 with XSI. */
#define _XOPEN_SOURCE 700

#include "sg_redis_fixture.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#if defined(__GNUC__)
#define SGT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SGT_PRINTF(f, a)
#endif

#define DIR_PREFIX "sg-redis-"
#define DEFAULT_STARTUP_MS 5000
#define STOP_GRACE_MS 10000
#define POLL_MS 10
/* Bound on the tries when another process takes the port we picked. */
#define PORT_ATTEMPTS 8
/* A folder without owner.pid this old was abandoned mid-creation. */
#define ORPHAN_AGE_S 600
/* How much of the server's log an error message quotes. */
#define LOG_TAIL_BYTES 300
/* Servers one process may have running at once (for the atexit sweep). */
#define LIVE_MAX 32

/*
 * The servers this process started and has not stopped, so that the atexit
 * handler can stop them. Copies, not pointers to the callers' structs: a
 * test may exit while its sgt_redis is out of scope.
 */
typedef struct live_server {
    pid_t owner;
    pid_t pid;
    char dir[SGT_REDIS_PATH_MAX];
} live_server;

_Static_assert(sizeof SGT_REDIS_HOST <= sizeof ((sgt_redis *)0)->host,
               "sgt_redis.host holds SGT_REDIS_HOST");

static live_server live[LIVE_MAX];
static int atexit_registered;

typedef enum wait_result {
    WAIT_READY,
    WAIT_EXITED,    /* the server exited before answering */
    WAIT_STRANGER,  /* another server answered on the port */
    WAIT_TIMEOUT
} wait_result;

static void set_err(sgt_redis *r, const char *fmt, ...) SGT_PRINTF(2, 3);

static void set_err(sgt_redis *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    /* A message cut short is still better than none: ignore truncation. */
    if (vsnprintf(r->errstr, sizeof r->errstr, fmt, ap) < 0) {
        r->errstr[0] = '\0';
    }
    va_end(ap);
}

/* snprintf into a fixed buffer; -1 if it did not fit. */
static int format_path(char *buf, size_t len, const char *dir,
                       const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        continue;
    }
}

/*
 * 1 if pid names a process that has not exited. A zombie has exited, but
 * kill(pid, 0) still finds it until its new parent reaps it, so on Linux
 * its state in /proc decides.
 */
static int pid_alive(pid_t pid)
{
    char path[64];
    char stat_line[512];
    char *close_paren;
    FILE *f;
    int n;

    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) {
        return 0;
    }
    n = snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (n < 0 || (size_t)n >= sizeof path) {
        return 1;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return 1;
    }
    if (fgets(stat_line, sizeof stat_line, f) == NULL) {
        fclose(f);
        return 1;
    }
    fclose(f);
    /* "pid (comm) S ...": comm may hold spaces and parentheses. */
    close_paren = strrchr(stat_line, ')');
    return close_paren == NULL || close_paren[1] != ' '
        || close_paren[2] != 'Z';
}

static const char *tmp_root(const char *tmpdir)
{
    const char *env;

    if (tmpdir != NULL && tmpdir[0] != '\0') {
        return tmpdir;
    }
    env = getenv("TMPDIR");
    return (env != NULL && env[0] != '\0') ? env : "/tmp";
}

/* ---- removing folders ------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    /*
     * Keep going past a failure, to remove as much as can be removed;
     * remove_tree() reports whether the folder is gone in the end.
     */
    remove(path);
    return 0;
}

static int remove_tree(const char *dir)
{
    struct stat st;

    /* FTW_DEPTH: children before their folder; FTW_PHYS: never follow. */
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return (lstat(dir, &st) == 0) ? -1 : 0;
}

/* ---- the live list and the atexit handler ----------------------------- */

static void cleanup_at_exit(void)
{
    pid_t self = getpid();
    size_t i;

    for (i = 0; i < LIVE_MAX; i++) {
        /*
         * A child the test forked also runs atexit handlers when it calls
         * exit(); only the process that started a server may stop it.
         */
        if (live[i].dir[0] == '\0' || live[i].owner != self) {
            continue;
        }
        if (live[i].pid > 0) {
            kill(live[i].pid, SIGKILL);
            waitpid(live[i].pid, NULL, 0);
        }
        remove_tree(live[i].dir);
        live[i].dir[0] = '\0';
    }
}

static live_server *live_find(const char *dir)
{
    size_t i;

    for (i = 0; i < LIVE_MAX; i++) {
        if (live[i].dir[0] != '\0' && strcmp(live[i].dir, dir) == 0) {
            return &live[i];
        }
    }
    return NULL;
}

static int live_add(sgt_redis *r)
{
    size_t i;

    if (!atexit_registered) {
        if (atexit(cleanup_at_exit) != 0) {
            set_err(r, "atexit: cannot register the cleanup handler");
            return -1;
        }
        atexit_registered = 1;
    }
    for (i = 0; i < LIVE_MAX; i++) {
        if (live[i].dir[0] == '\0') {
            live[i].owner = getpid();
            live[i].pid = -1;
            /* Both buffers are SGT_REDIS_PATH_MAX: this cannot cut. */
            memcpy(live[i].dir, r->dir, sizeof live[i].dir);
            return 0;
        }
    }
    set_err(r, "more than %d Redis fixtures running at once", LIVE_MAX);
    return -1;
}

static void live_set_pid(const char *dir, pid_t pid)
{
    live_server *s = live_find(dir);

    if (s != NULL) {
        s->pid = pid;
    }
}

static void live_remove(const char *dir)
{
    live_server *s = live_find(dir);

    if (s != NULL) {
        s->dir[0] = '\0';
        s->pid = -1;
    }
}

/* ---- stale folders ---------------------------------------------------- */

/* The pid in <dir>/<name>: > 0, 0 if the file is missing, -1 if garbled. */
static long read_pid_file(const char *dir, const char *name)
{
    char path[SGT_REDIS_PATH_MAX + 32];
    char line[32];
    char *end;
    long pid;
    FILE *f;

    if (format_path(path, sizeof path, dir, name) != 0) {
        return -1;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return errno == ENOENT ? 0 : -1;
    }
    if (fgets(line, sizeof line, f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    errno = 0;
    pid = strtol(line, &end, 10);
    if (errno != 0 || end == line || (*end != '\n' && *end != '\0')
        || pid <= 0) {
        return -1;
    }
    return pid;
}

static int is_stale(const char *dir, const struct stat *st)
{
    long owner = read_pid_file(dir, "owner.pid");
    long server = read_pid_file(dir, "redis.pid");

    if (owner == 0) {
        return time(NULL) - st->st_mtime > ORPHAN_AGE_S;
    }
    if (owner < 0 || pid_alive((pid_t)owner)) {
        return 0;
    }
    /*
     * The owner is gone. A server still running from here (one the shell
     * fixture started without PR_SET_PDEATHSIG) is left alone: a pid file
     * is no proof that the pid still names that server, so killing it
     * could hit an unrelated process.
     */
    return server <= 0 || !pid_alive((pid_t)server);
}

int sgt_redis_sweep(const char *tmpdir)
{
    const char *root = tmp_root(tmpdir);
    size_t prefix_len = strlen(DIR_PREFIX);
    struct dirent *entry;
    int removed = 0;
    DIR *d;

    d = opendir(root);
    if (d == NULL) {
        return 0;
    }
    while ((entry = readdir(d)) != NULL) {
        char path[SGT_REDIS_PATH_MAX];
        struct stat st;

        /* mkdtemp's six X's follow the prefix. */
        if (strncmp(entry->d_name, DIR_PREFIX, prefix_len) != 0
            || strlen(entry->d_name) != prefix_len + 6) {
            continue;
        }
        if (format_path(path, sizeof path, root, entry->d_name) != 0
            || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode)
            || st.st_uid != geteuid()) {
            continue;
        }
        if (is_stale(path, &st) && remove_tree(path) == 0) {
            removed++;
        }
    }
    closedir(d);
    return removed;
}

/* ---- configuration ---------------------------------------------------- */

static int write_file(sgt_redis *r, const char *name, const char *text)
{
    char path[SGT_REDIS_PATH_MAX + 32];
    FILE *f;
    int ok;

    if (format_path(path, sizeof path, r->dir, name) != 0) {
        set_err(r, "path too long: %s/%s", r->dir, name);
        return -1;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        set_err(r, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok) {
        set_err(r, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * redis.conf quotes paths in double quotes, where '"' and '\' are special;
 * a folder name with either (or a newline) is refused rather than escaped.
 */
static int check_conf_text(sgt_redis *r, const char *what, const char *s,
                           const char *forbidden)
{
    if (strpbrk(s, forbidden) != NULL) {
        set_err(r, "%s may not contain any of \"%s\": %s", what,
                forbidden, s);
        return -1;
    }
    return 0;
}

static int write_conf(sgt_redis *r, const sgt_redis_opts *opts)
{
    const char *const *line;
    char *text = NULL;
    size_t len = 0;
    FILE *mem;
    int failed;

    /* open_memstream is POSIX.1-2008 and saves computing the size. */
    mem = open_memstream(&text, &len);
    if (mem == NULL) {
        set_err(r, "open_memstream: %s", strerror(errno));
        return -1;
    }
    fprintf(mem,
            "# Written by the sg Redis test fixture; removed on stop.\n"
            "port %d\n"
            "bind %s\n"
            "dir \"%s\"\n"
            "daemonize no\n"
            "pidfile \"%s/redis.pid\"\n"
            "logfile \"%s/redis.log\"\n"
            "save \"\"\n",
            r->port, r->host, r->dir, r->dir, r->dir);
    if (opts->persistence) {
        fputs("appendonly yes\nappendfsync always\n", mem);
    } else {
        fputs("appendonly no\n", mem);
    }
    for (line = opts->extra_config; line != NULL && *line != NULL; line++) {
        fprintf(mem, "%s\n", *line);
    }
    failed = ferror(mem);
    if (fclose(mem) != 0 || failed) {
        free(text);
        set_err(r, "cannot build redis.conf in memory");
        return -1;
    }
    failed = write_file(r, "redis.conf", text);
    free(text);
    return failed;
}

/* ---- ports ------------------------------------------------------------ */

/*
 * Asks the kernel for a free loopback port. Closing the socket frees the
 * port for redis-server, and for anyone else: the caller retries when
 * someone else wins.
 */
static int pick_port(sgt_redis *r)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof addr;
    int fd;
    int port = -1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        set_err(r, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        set_err(r, "bind 127.0.0.1:0: %s", strerror(errno));
    } else if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        set_err(r, "getsockname: %s", strerror(errno));
    } else {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

/* ---- the server process ----------------------------------------------- */

static int spawn_server(sgt_redis *r)
{
    char conf[SGT_REDIS_PATH_MAX + 32];
    char out[SGT_REDIS_PATH_MAX + 32];
    char *argv[3];
    pid_t parent = getpid();
    pid_t pid;
    int out_fd;
    int null_fd;

    if (format_path(conf, sizeof conf, r->dir, "redis.conf") != 0
        || format_path(out, sizeof out, r->dir, "redis.stderr") != 0) {
        set_err(r, "path too long under %s", r->dir);
        return -1;
    }
    /*
     * Everything the child needs is prepared before fork(): between fork
     * and exec only async-signal-safe calls are allowed.
     */
    out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (out_fd < 0) {
        set_err(r, "cannot open %s: %s", out, strerror(errno));
        return -1;
    }
    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0) {
        set_err(r, "cannot open /dev/null: %s", strerror(errno));
        close(out_fd);
        return -1;
    }
    argv[0] = r->server_;
    argv[1] = conf;
    argv[2] = NULL;

    pid = fork();
    if (pid < 0) {
        set_err(r, "fork: %s", strerror(errno));
        close(out_fd);
        close(null_fd);
        return -1;
    }
    if (pid == 0) {
        sigset_t none;

#if defined(__linux__)
        /* Die with the test, whatever kills it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
            _exit(126);
        }
        /* The test may have died before prctl() took effect. */
        if (getppid() != parent) {
            _exit(126);
        }
#else
        (void)parent;
#endif
        /* A mask the test set must not keep SIGTERM from the server. */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(null_fd, STDIN_FILENO) < 0
            || dup2(out_fd, STDOUT_FILENO) < 0
            || dup2(out_fd, STDERR_FILENO) < 0) {
            _exit(126);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out_fd);
    close(null_fd);
    r->pid = pid;
    live_set_pid(r->dir, pid);
    return 0;
}

/* Appends the last LOG_TAIL_BYTES of <dir>/<name> to r->errstr. */
static void append_log_tail(sgt_redis *r, const char *name)
{
    char path[SGT_REDIS_PATH_MAX + 32];
    char tail[LOG_TAIL_BYTES + 1];
    size_t used = strlen(r->errstr);
    size_t n;
    long size;
    FILE *f;
    char *p;

    if (format_path(path, sizeof path, r->dir, name) != 0) {
        return;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
        fclose(f);
        return;
    }
    if (fseek(f, size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0,
              SEEK_SET) != 0) {
        fclose(f);
        return;
    }
    n = fread(tail, 1, LOG_TAIL_BYTES, f);
    fclose(f);
    tail[n] = '\0';
    /* One line of text reads better in a test report. */
    for (p = tail; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    if (n > 0 && used < sizeof r->errstr) {
        /* Truncation only shortens the quote. */
        if (snprintf(r->errstr + used, sizeof r->errstr - used,
                     "; %s: ...%s", name, tail) < 0) {
            r->errstr[used] = '\0';
        }
    }
}

/* Reaps the server if it has exited; 1 if it had. */
static int reap_if_exited(sgt_redis *r, int *status)
{
    pid_t got = waitpid((pid_t)r->pid, status, WNOHANG);

    if (got == (pid_t)r->pid || (got < 0 && errno == ECHILD)) {
        r->pid = -1;
        live_set_pid(r->dir, -1);
        return 1;
    }
    return 0;
}

/* The process_id INFO reports, or -1. */
static long server_pid(redisContext *c)
{
    redisReply *reply = redisCommand(c, "INFO server");
    long pid = -1;
    const char *field;
    char *end;

    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        field = strstr(reply->str, "process_id:");
        if (field != NULL) {
            errno = 0;
            pid = strtol(field + strlen("process_id:"), &end, 10);
            if (errno != 0 || (*end != '\r' && *end != '\n')) {
                pid = -1;
            }
        }
    }
    freeReplyObject(reply);
    return pid;
}

/* 1 if c answers PING with PONG (not, say, -LOADING). */
static int answers_pong(redisContext *c)
{
    redisReply *reply = redisCommand(c, "PING");
    int ok = reply != NULL && reply->type == REDIS_REPLY_STATUS
        && strcmp(reply->str, "PONG") == 0;

    freeReplyObject(reply);
    return ok;
}

/*
 * Polls until the server answers. Polling is acceptable here: there is no
 * state to wait on before the server listens, and start-up is bounded.
 */
static wait_result wait_ready(sgt_redis *r, int *status)
{
    long deadline = now_ms() + r->startup_timeout_ms_;
    struct timeval tv = {0, 200 * 1000};

    for (;;) {
        redisContext *c;

        if (reap_if_exited(r, status)) {
            return WAIT_EXITED;
        }
        c = redisConnectWithTimeout(r->host, r->port, tv);
        if (c != NULL && c->err == 0) {
            redisSetTimeout(c, tv);
            if (answers_pong(c)) {
                long pid = server_pid(c);

                redisFree(c);
                return pid == r->pid ? WAIT_READY : WAIT_STRANGER;
            }
        }
        redisFree(c);
        if (now_ms() >= deadline) {
            return WAIT_TIMEOUT;
        }
        pause_ms(POLL_MS);
    }
}

static void stop_process(sgt_redis *r)
{
    long deadline;
    int status;

    if (r->pid <= 0) {
        return;
    }
    /* SIGTERM: Redis shuts down cleanly and flushes its append-only file. */
    kill((pid_t)r->pid, SIGTERM);
    deadline = now_ms() + STOP_GRACE_MS;
    while (!reap_if_exited(r, &status)) {
        if (now_ms() >= deadline) {
            kill((pid_t)r->pid, SIGKILL);
            waitpid((pid_t)r->pid, NULL, 0);
            r->pid = -1;
            live_set_pid(r->dir, -1);
            return;
        }
        pause_ms(POLL_MS);
    }
}

static void describe_exit(sgt_redis *r, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        set_err(r, "cannot run %s (not on PATH? install redis-server)",
                r->server_);
    } else if (WIFEXITED(status)) {
        set_err(r, "redis-server on port %d exited with status %d",
                r->port, WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        set_err(r, "redis-server on port %d killed by signal %d",
                r->port, WTERMSIG(status));
    } else {
        set_err(r, "redis-server on port %d stopped", r->port);
    }
    append_log_tail(r, "redis.stderr");
    append_log_tail(r, "redis.log");
}

/*
 * Runs the server from r->dir and waits for it. *retry is set when the
 * port was taken by someone else, which a fresh port may cure.
 */
static int launch(sgt_redis *r, int *retry)
{
    int status = 0;

    *retry = 0;
    if (spawn_server(r) != 0) {
        return -1;
    }
    switch (wait_ready(r, &status)) {
    case WAIT_READY:
        return 0;
    case WAIT_STRANGER:
        stop_process(r);
        set_err(r, "another server answers on port %d", r->port);
        *retry = 1;
        return -1;
    case WAIT_EXITED:
        describe_exit(r, status);
        *retry = strstr(r->errstr, "already in use") != NULL;
        return -1;
    case WAIT_TIMEOUT:
    default:
        stop_process(r);
        set_err(r, "redis-server on port %d did not answer PING within "
                "%d ms", r->port, r->startup_timeout_ms_);
        append_log_tail(r, "redis.log");
        return -1;
    }
}

static int set_address(sgt_redis *r, int port)
{
    int n = snprintf(r->url, sizeof r->url, "redis://%s:%d", r->host, port);

    if (n < 0 || (size_t)n >= sizeof r->url) {
        set_err(r, "URL too long for port %d", port);
        return -1;
    }
    r->port = port;
    return 0;
}

static int make_dir(sgt_redis *r, const char *tmpdir)
{
    const char *root = tmp_root(tmpdir);
    char owner[32];
    int n;

    n = snprintf(r->dir, sizeof r->dir, "%s/" DIR_PREFIX "XXXXXX", root);
    if (n < 0 || (size_t)n >= sizeof r->dir) {
        set_err(r, "temporary folder name too long under %s", root);
        r->dir[0] = '\0';
        return -1;
    }
    if (check_conf_text(r, "the temporary folder", r->dir, "\"\\\n\r")
        != 0) {
        r->dir[0] = '\0';
        return -1;
    }
    if (mkdtemp(r->dir) == NULL) {
        set_err(r, "mkdtemp under %s: %s", root, strerror(errno));
        r->dir[0] = '\0';
        return -1;
    }
    if (live_add(r) != 0) {
        remove_tree(r->dir);
        r->dir[0] = '\0';
        return -1;
    }
    /* owner.pid tells a later sweep whether this folder is still used. */
    n = snprintf(owner, sizeof owner, "%ld\n", (long)getpid());
    if (n < 0 || (size_t)n >= sizeof owner
        || write_file(r, "owner.pid", owner) != 0) {
        live_remove(r->dir);
        remove_tree(r->dir);
        r->dir[0] = '\0';
        return -1;
    }
    return 0;
}

int sgt_redis_start(sgt_redis *r, const sgt_redis_opts *opts)
{
    static const sgt_redis_opts defaults;
    const char *const *line;
    const char *server;
    int attempt;
    int n;

    memset(r, 0, sizeof *r);
    r->pid = -1;
    if (opts == NULL) {
        opts = &defaults;
    }
    memcpy(r->host, SGT_REDIS_HOST, sizeof SGT_REDIS_HOST);
    server = opts->server != NULL ? opts->server : "redis-server";
    n = snprintf(r->server_, sizeof r->server_, "%s", server);
    if (n < 0 || (size_t)n >= sizeof r->server_) {
        set_err(r, "server path too long: %s", server);
        return -1;
    }
    r->startup_timeout_ms_ = opts->startup_timeout_ms > 0
        ? opts->startup_timeout_ms : DEFAULT_STARTUP_MS;
    for (line = opts->extra_config; line != NULL && *line != NULL; line++) {
        if (check_conf_text(r, "an extra config line", *line, "\n\r")
            != 0) {
            return -1;
        }
    }

    sgt_redis_sweep(opts->tmpdir);
    if (make_dir(r, opts->tmpdir) != 0) {
        return -1;
    }

    for (attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
        int port = pick_port(r);
        int retry;

        if (port < 0) {
            break;
        }
        if (set_address(r, port) != 0 || write_conf(r, opts) != 0) {
            break;
        }
        if (launch(r, &retry) == 0) {
            return 0;
        }
        if (!retry) {
            break;
        }
    }
    live_remove(r->dir);
    remove_tree(r->dir);
    r->dir[0] = '\0';
    return -1;
}

int sgt_redis_stop(sgt_redis *r)
{
    int rc = 0;

    stop_process(r);
    if (r->dir[0] != '\0') {
        live_remove(r->dir);
        if (remove_tree(r->dir) != 0) {
            set_err(r, "cannot remove %s", r->dir);
            rc = -1;
        }
        r->dir[0] = '\0';
    }
    return rc;
}

int sgt_redis_restart(sgt_redis *r)
{
    int retry;

    if (r->dir[0] == '\0') {
        set_err(r, "restart: no server was started");
        return -1;
    }
    stop_process(r);
    /* Same folder, same redis.conf, hence the same port and data. */
    return launch(r, &retry);
}

redisContext *sgt_redis_connect(sgt_redis *r)
{
    struct timeval tv = {5, 0};
    redisContext *c;

    c = redisConnectWithTimeout(r->host, r->port, tv);
    if (c == NULL) {
        set_err(r, "connect to %s: out of memory", r->url);
        return NULL;
    }
    if (c->err != 0) {
        set_err(r, "connect to %s: %s", r->url, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        set_err(r, "set timeout on %s: %s", r->url, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}
