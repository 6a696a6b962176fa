/* The pluggable logger of sg/log.h. */
#define _POSIX_C_SOURCE 200809L

#include "sg/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SG_LOG_LINE_MAX 1024

void sg_log_init(sg_log *log)
{
    log->level = SG_LOG_INFO;
    log->fn = sg_log_stderr;
    log->ud = NULL;
}

const char *sg_log_level_name(sg_log_level level)
{
    switch (level) {
    case SG_LOG_DEBUG: return "DEBUG";
    case SG_LOG_INFO: return "INFO";
    case SG_LOG_WARN: return "WARN";
    case SG_LOG_ERROR: return "ERROR";
    default: return "?";
    }
}

void sg_log_stderr(sg_log_level level, const char *line, void *ud)
{
    char out[SG_LOG_LINE_MAX + 64];
    struct timespec ts;
    struct tm tm;
    int n;

    (void)ud;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(out, sizeof out,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                 sg_log_level_name(level), line);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof out) {
        /* Cut short: still end the line, so lines never run together. */
        n = (int)sizeof out - 1;
        out[n - 1] = '\n';
    }
    /* One write per line, so lines of two processes do not interleave. */
    if (write(STDERR_FILENO, out, (size_t)n) < 0)
        return;
}

int sg_log_enabled(const sg_log *log, sg_log_level level)
{
    sg_log_level threshold = log != NULL ? log->level : SG_LOG_INFO;

    return level >= threshold && level < SG_LOG_OFF;
}

void sg_logf(const sg_log *log, sg_log_level level, const char *fmt, ...)
{
    char line[SG_LOG_LINE_MAX];
    va_list ap;
    int n;

    if (!sg_log_enabled(log, level))
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* A longer line is cut at the buffer; vsnprintf already ended it. */
    if (log != NULL && log->fn != NULL)
        log->fn(level, line, log->ud);
    else
        sg_log_stderr(level, line, NULL);
}
