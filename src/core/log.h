/*
 * log: one event per line on stderr, `key=value` fields, CR/LF scrubbed.
 *
 *   ts=2026-11-26T17:45:00.123Z level=info event=deployment.ready endpoint=ep ...
 *
 * The level check happens in the macro, before arguments are evaluated.
 * Any thread; each line is written with a single write(2).
 */
#ifndef INF_CORE_LOG_H
#define INF_CORE_LOG_H

enum inf_log_level { INF_LOG_DEBUG = 0, INF_LOG_INFO, INF_LOG_WARN, INF_LOG_ERROR };

/* Sets the minimum level written. Call before starting threads. */
void inf_log_set_level(enum inf_log_level level);

/* Parses "debug|info|warn|error"; returns 0, or -1 for an unknown name. */
int inf_log_parse_level(const char *name, enum inf_log_level *out);

/* Nonzero when lines at `level` are written. */
int inf_log_enabled(enum inf_log_level level);

/* Writes one line: the timestamp, level and event, then the printf-style
 * fields (conventionally "k=%s k2=%d"). Newlines in the result become spaces. */
void inf_log_write(enum inf_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define inf_log(level, event, ...)                                                                 \
    do {                                                                                           \
        if (inf_log_enabled(level))                                                                \
            inf_log_write(level, event, __VA_ARGS__);                                              \
    } while (0)

#define inf_debug(event, ...) inf_log(INF_LOG_DEBUG, event, __VA_ARGS__)
#define inf_info(event, ...) inf_log(INF_LOG_INFO, event, __VA_ARGS__)
#define inf_warn(event, ...) inf_log(INF_LOG_WARN, event, __VA_ARGS__)
#define inf_error(event, ...) inf_log(INF_LOG_ERROR, event, __VA_ARGS__)

#endif
