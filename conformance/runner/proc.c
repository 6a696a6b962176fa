/*
 * proc.c: child processes (the implementation's instances, the mocks, the
 * MONITOR recorder), each in a process group of its own so that a signal
 * reaches whatever it spawned.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

long long sgc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sgc_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Is name=... among the K=V strings of env? */
static int env_has(char *const env[], const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t n = eq ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], kv, n) == 0 && env[i][n] == '=')
            return 1;
    return 0;
}

int sgc_proc_start(sgc_proc *p, char *const argv[], const char *cwd,
                   char *const env[])
{
    p->exited = 0;
    p->status = 0;
    p->stopped = 0;
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return -1;
    /* Build the environment in the parent (no allocation after fork). */
    size_t nenv = 0, nadd = 0;
    while (environ[nenv])
        nenv++;
    while (env && env[nadd])
        nadd++;
    char **merged = calloc(nenv + nadd + 1, sizeof *merged);
    if (merged == NULL) {
        close(fd);
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < nenv; i++)
        if (!env_has(env, environ[i]))
            merged[m++] = environ[i];
    for (size_t i = 0; i < nadd; i++)
        merged[m++] = env[i];
    merged[m] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        free(merged);
        close(fd);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* Die with the runner, so that nothing outlives an aborted run. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        if (cwd && cwd[0] && chdir(cwd) != 0) {
            dprintf(2, "sg-conform: chdir %s: %s\n", cwd, strerror(errno));
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(argv[0], argv, merged);
        if (strchr(argv[0], '/') == NULL) {
            environ = merged;
            execvp(argv[0], argv);
        }
        dprintf(2, "sg-conform: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    free(merged);
    close(fd);
    p->pid = pid;
    return 0;
}

int sgc_proc_poll(sgc_proc *p)
{
    if (p->pid <= 0)
        return 1;
    if (p->exited)
        return 1;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->exited = 1;
        p->status = st;
        return 1;
    }
    return 0;
}

void sgc_proc_signal(sgc_proc *p, int sig)
{
    if (p->pid <= 0 || sgc_proc_poll(p))
        return;
    if (kill(-p->pid, sig) != 0)
        kill(p->pid, sig);
    if (sig == SIGSTOP)
        p->stopped = 1;
    else if (sig == SIGCONT)
        p->stopped = 0;
}

int sgc_proc_wait(sgc_proc *p, int ms)
{
    long long end = sgc_now_ms() + ms;
    for (;;) {
        if (sgc_proc_poll(p))
            return 1;
        if (sgc_now_ms() >= end)
            return 0;
        sgc_sleep_ms(10);
    }
}

void sgc_proc_stop(sgc_proc *p, int ms)
{
    if (p->pid <= 0)
        return;
    if (!sgc_proc_poll(p)) {
        if (p->stopped)
            sgc_proc_signal(p, SIGCONT);
        sgc_proc_signal(p, SIGTERM);
        if (!sgc_proc_wait(p, ms)) {
            sgc_proc_signal(p, SIGKILL);
            sgc_proc_wait(p, 5000);
        }
    }
    /* Whatever it spawned in its group goes too. */
    kill(-p->pid, SIGKILL);
}

int sgc_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (strstr(line, needle))
            found = 1;
    fclose(f);
    return found;
}
