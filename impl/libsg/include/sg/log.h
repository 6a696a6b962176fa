/*
 * sg/log.h: a small pluggable logger.
 *
 * libsg writes its log lines through an sg_log the caller owns and passes
 * to each object (connection, bus, consumer). There is no global logger:
 * two objects in one process, or two tests in one binary, may log to
 * different places. A NULL sg_log pointer means "the default": lines of
 * level SG_LOG_INFO and above go to stderr with a UTC timestamp.
 *
 *     sg_log log;
 *     sg_log_init(&log);               // stderr, level info
 *     log.level = SG_LOG_DEBUG;
 *     log.fn = my_sink; log.ud = me;   // or keep the stderr sink
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sg_log_level {
    SG_LOG_DEBUG = 0,
    SG_LOG_INFO = 1,
    SG_LOG_WARN = 2,
    SG_LOG_ERROR = 3,
    SG_LOG_OFF = 4 /* as a threshold: log nothing */
} sg_log_level;

/*
 * A sink. `line` is one formatted line without a trailing newline; it is
 * valid only during the call.
 */
typedef void sg_log_fn(sg_log_level level, const char *line, void *ud);

typedef struct sg_log {
    sg_log_level level; /* lines below this level are not formatted */
    sg_log_fn *fn;      /* NULL: sg_log_stderr */
    void *ud;           /* passed to fn */
} sg_log;

/* Level SG_LOG_INFO, sink sg_log_stderr. */
void sg_log_init(sg_log *log);

/*
 * The default sink: writes "2026-01-31T12:00:00.123Z WARN <line>\n" to
 * stderr in one write. ud is ignored.
 */
void sg_log_stderr(sg_log_level level, const char *line, void *ud);

/* "DEBUG", "INFO", "WARN", "ERROR"; "?" for other values. */
const char *sg_log_level_name(sg_log_level level);

/* Nonzero when a line of `level` would be written through log. */
int sg_log_enabled(const sg_log *log, sg_log_level level);

/*
 * Formats a line (printf syntax, cut at 1023 bytes) and hands it to the
 * sink when level is at or above the threshold. log may be NULL.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void sg_logf(const sg_log *log, sg_log_level level, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#endif /* SG_LOG_H */
