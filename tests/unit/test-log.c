#include <fcntl.h>
#include <jansson.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "tap.h"

/* Captures what log_msg writes: the sink is the write end of a pipe, read back after each call. */
static int pipe_fds[2] = { -1, -1 };

static void capture_begin(bool json, log_level level, const char *prefix) {
        if (pipe_fds[0] < 0 && pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
                TAP_FAIL("pipe2: %s", strerror(errno));
        log_set_fd(pipe_fds[1]);
        log_set_json(json);
        log_set_level(level);
        log_set_prefix(prefix);
}

/* Everything written since the last call (NUL-terminated, caller frees). */
static char *captured(void) {
        size_t cap = 1 << 16, len = 0;
        char *buf = xmalloc(cap + 1);
        for (;;) {
                ssize_t n = read(pipe_fds[0], buf + len, cap - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
                if (len == cap)
                        buf = xrealloc(buf, (cap *= 2) + 1);
        }
        buf[len] = '\0';
        return buf;
}

static void capture_end(void) {
        log_set_fd(STDERR_FILENO);
        log_set_json(false);
        log_set_level(LOG_LVL_INFO);
        log_set_prefix(NULL);
}

TEST(level_parsing) {
        static const struct {
                const char *s;
                log_level l;
        } ok[] = {
                { "error", LOG_LVL_ERROR }, { "fatal", LOG_LVL_ERROR }, { "panic", LOG_LVL_ERROR },
                { "warn", LOG_LVL_WARN },   { "warning", LOG_LVL_WARN }, { "info", LOG_LVL_INFO },
                { "debug", LOG_LVL_DEBUG }, { "trace", LOG_LVL_TRACE },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                log_level l = (log_level) 99;
                ASSERT_EQ(log_level_from_string(ok[i].s, &l), 0);
                ASSERT_EQ(l, ok[i].l);
        }
        log_level l = LOG_LVL_INFO;
        ASSERT_EQ(log_level_from_string("verbose", &l), -1);
        ASSERT_EQ(log_level_from_string("", &l), -1);
        ASSERT_EQ(log_level_from_string("INFO", &l), -1);
        ASSERT_EQ(l, LOG_LVL_INFO);
}

TEST(text_line_shape_and_escaping) {
        capture_begin(false, LOG_LVL_INFO, "runtime=io.containerd.berth.v2");
        log_info("said \"hi\"\nthen\\left");
        _cleanup_free_ char *out = captured();
        capture_end();
        /* One line, logrus text shape, quotes/newline/backslash escaped inside msg. */
        ASSERT_TRUE(strncmp(out, "time=\"", 6) == 0);
        ASSERT_TRUE(strstr(out, "\" level=info msg=\"said \\\"hi\\\"\\u000athen\\\\left\" "
                                "runtime=io.containerd.berth.v2\n") != NULL);
        ASSERT_EQ(strchr(out, '\n'), out + strlen(out) - 1);
        /* RFC 3339 UTC with nanoseconds: time="YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" */
        ASSERT_EQ(out[6 + 4], '-');
        ASSERT_EQ(out[6 + 10], 'T');
        ASSERT_EQ(out[6 + 19], '.');
        ASSERT_EQ(out[6 + 29], 'Z');
}

TEST(json_line_is_valid_json) {
        capture_begin(true, LOG_LVL_DEBUG, "\"runtime\":\"io.containerd.berth.v2\"");
        const char *msg = "quote \" backslash \\ newline \n tab \t ctl \x01 utf8 \xc3\xa4";
        log_debug("%s", msg);
        _cleanup_free_ char *out = captured();
        capture_end();
        ASSERT_EQ(strchr(out, '\n'), out + strlen(out) - 1);
        json_error_t jerr;
        json_t *j = json_loads(out, 0, &jerr);
        if (!j)
                TAP_FAIL("not JSON (%s): %s", jerr.text, out);
        ASSERT_STREQ(json_string_value(json_object_get(j, "level")), "debug");
        ASSERT_STREQ(json_string_value(json_object_get(j, "msg")), msg);
        ASSERT_STREQ(json_string_value(json_object_get(j, "runtime")), "io.containerd.berth.v2");
        ASSERT_NOT_NULL(json_string_value(json_object_get(j, "time")));
        json_decref(j);
}

TEST(level_filtering_and_errno) {
        capture_begin(true, LOG_LVL_WARN, NULL);
        errno = ENOENT;
        log_info("hidden");
        log_debug("hidden too");
        log_warn("shown %d", 1);
        log_error("shown %d", 2);
        ASSERT_EQ(errno, ENOENT); /* logging never clobbers errno */
        _cleanup_free_ char *out = captured();
        ASSERT_NULL(strstr(out, "hidden"));
        ASSERT_NOT_NULL(strstr(out, "{\"level\":\"warning\",\"msg\":\"shown 1\""));
        ASSERT_NOT_NULL(strstr(out, "{\"level\":\"error\",\"msg\":\"shown 2\""));
        /* -1 silences entirely. */
        log_set_fd(-1);
        log_error("nowhere");
        log_set_fd(pipe_fds[1]);
        _cleanup_free_ char *none = captured();
        capture_end();
        ASSERT_STREQ(none, "");
}

TEST(long_message_still_one_valid_line) {
        /* Worst case for escaping: every byte becomes \u00XX, six times its size. */
        char big[3000];
        memset(big, '\x01', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        capture_begin(true, LOG_LVL_INFO, NULL);
        log_info("%s", big);
        _cleanup_free_ char *out = captured();
        capture_end();
        size_t n = strlen(out);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(out[n - 1], '\n');
        json_t *j = json_loads(out, 0, NULL);
        ASSERT_NOT_NULL(j);
        json_decref(j);
}
