/* Logging. One sink per process (stderr by default, or a file descriptor such as the shim's log
 * FIFO), text or JSON lines in logrus' shape so containerd's log copier shows them sensibly.
 * Library code logs at debug level only; the caller that decides what to do logs the error. */
#pragma once

#include <stdbool.h>

#include "basic/macro.h"

typedef enum log_level {
        LOG_LVL_ERROR = 0,
        LOG_LVL_WARN = 1,
        LOG_LVL_INFO = 2,
        LOG_LVL_DEBUG = 3,
        LOG_LVL_TRACE = 4,
} log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "error", "warn"/"warning", "info", "debug", "trace". Returns -1 if unknown. */
int log_level_from_string(const char *s, log_level *ret);
/* Sink fd (not owned; -1 silences). */
void log_set_fd(int fd);
void log_set_json(bool json);
/* A fixed field added to every line, e.g. "runtime"="io.containerd.berth.v2". */
void log_set_prefix(const char *prefix);

void log_msg(log_level level, const char *fmt, ...) _printf_(2, 3);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                        \
        do {                                                  \
                if (log_get_level() >= LOG_LVL_DEBUG)         \
                        log_msg(LOG_LVL_DEBUG, __VA_ARGS__);  \
        } while (0)
