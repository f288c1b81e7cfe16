#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"

static log_level current_level = LOG_LVL_INFO;
static int sink_fd = STDERR_FILENO;
static bool json_lines;
static char *line_prefix;

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };

void log_set_level(log_level level) {
        current_level = level;
}
log_level log_get_level(void) {
        return current_level;
}
void log_set_fd(int fd) {
        sink_fd = fd;
}
void log_set_json(bool json) {
        json_lines = json;
}
void log_set_prefix(const char *prefix) {
        free(line_prefix);
        line_prefix = prefix ? xstrdup(prefix) : NULL;
}

int log_level_from_string(const char *s, log_level *ret) {
        static const struct {
                const char *name;
                log_level level;
        } names[] = {
                { "error", LOG_LVL_ERROR }, { "fatal", LOG_LVL_ERROR }, { "panic", LOG_LVL_ERROR },
                { "warn", LOG_LVL_WARN },   { "warning", LOG_LVL_WARN }, { "info", LOG_LVL_INFO },
                { "debug", LOG_LVL_DEBUG }, { "trace", LOG_LVL_TRACE },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i].name) == 0) {
                        *ret = names[i].level;
                        return 0;
                }
        return -1;
}

/* Appends s to buf as a JSON string body (without quotes). */
static size_t json_escape(char *buf, size_t size, size_t off, const char *s) {
        for (; *s && off + 7 < size; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\') {
                        buf[off++] = '\\';
                        buf[off++] = (char) c;
                } else if (c < 0x20) {
                        off += (size_t) snprintf(buf + off, size - off, "\\u%04x", c);
                } else
                        buf[off++] = (char) c;
        }
        return off;
}

void log_msg(log_level level, const char *fmt, ...) {
        if (level > current_level || sink_fd < 0)
                return;
        int saved_errno = errno;
        char msg[2048], line[4608];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        char when[64];
        size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + w, sizeof when - w, ".%09ldZ", ts.tv_nsec);

        /* Escaping can grow msg sixfold; stop it early enough that the closing fields and "\n" always fit. */
        size_t tail = 128 + (line_prefix ? strlen(line_prefix) : 0);
        size_t msg_room = tail < sizeof line / 2 ? sizeof line - tail : sizeof line / 2;
        size_t off;
        if (json_lines) {
                off = (size_t) snprintf(line, sizeof line, "{\"level\":\"%s\",\"msg\":\"", level_names[level]);
                off = json_escape(line, msg_room, off, msg);
                off += (size_t) snprintf(line + off, sizeof line - off, "\",\"time\":\"%s\"", when);
                if (line_prefix)
                        off += (size_t) snprintf(line + off, sizeof line - off, ",%s", line_prefix);
                off += (size_t) snprintf(line + off, sizeof line - off, "}\n");
        } else {
                off = (size_t) snprintf(line, sizeof line, "time=\"%s\" level=%s msg=\"", when, level_names[level]);
                off = json_escape(line, msg_room, off, msg);
                off += (size_t) snprintf(line + off, sizeof line - off, "\"%s%s\n", line_prefix ? " " : "",
                                         line_prefix ? line_prefix : "");
        }
        if (off >= sizeof line)
                off = sizeof line - 1;
        /* One write per line so concurrent writers to a FIFO never interleave inside a line. */
        (void) !write(sink_fd, line, off);
        errno = saved_errno;
}
