/* src/logs: options, record encoding, the writer's rotation, the reader (order across files, tail, follow
 * through rotations). test-logs-logger.c drives the berth-logger program the way the shim does. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sys/stat.h>

#include "tap.h"
#include "logs/logs.h"
#include "shim/stdio-internal.h"
#include "basic/fileio.h"
#include "basic/strv.h"

#define T0 1714564800000000000LL /* 2024-05-01T12:00:00Z */

static char *tmpdir(void) {
        char *d = xstrdup("/tmp/berth-t4-logs.XXXXXX");
        if (!mkdtemp(d))
                TAP_FAIL("mkdtemp: %m");
        return d;
}

static char *file_path(const char *dir, const char *id, unsigned k) {
        _cleanup_free_ char *name = log_file_name(id, k);
        return xasprintf("%s/%s", dir, name);
}

static off_t file_size(const char *path) {
        struct stat st;
        return stat(path, &st) < 0 ? -1 : st.st_size;
}

static unsigned count_log_files(const char *dir) {
        DIR *d = opendir(dir);
        unsigned n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strstr(de->d_name, LOG_FILE_SUFFIX))
                        n++;
        if (d)
                closedir(d);
        return n;
}

/* Every line of the file is a whole record: the file ends with "\n" and each line parses. */
static void assert_whole_records(const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file(path, &data, &len, 64 << 20, NULL) < 0)
                TAP_FAIL("read %s", path);
        if (len == 0)
                return;
        if (data[len - 1] != '\n')
                TAP_FAIL("%s does not end with a newline", path);
        for (char *line = data; *line;) {
                char *nl = strchr(line, '\n');
                json_t *j = json_loadb(line, (size_t) (nl - line), 0, NULL);
                if (!j || !json_is_string(json_object_get(j, "log")))
                        TAP_FAIL("%s: a line is not a record: %.*s", path, (int) (nl - line), line);
                json_decref(j);
                line = nl + 1;
        }
}

typedef struct collected {
        char **text;  /* one per record */
        int *stream;
        int *partial;
        int64_t *time;
        size_t n;
} collected;

static void collected_done(collected *c) {
        strv_free(c->text);
        free(c->stream);
        free(c->partial);
        free(c->time);
        *c = (collected) {};
}

static void collect_one(collected *c, const log_entry *e) {
        strv_push(&c->text, xstrndup(e->text, e->len));
        c->stream = xrealloc(c->stream, (c->n + 1) * sizeof(int));
        c->partial = xrealloc(c->partial, (c->n + 1) * sizeof(int));
        c->time = xrealloc(c->time, (c->n + 1) * sizeof(int64_t));
        c->stream[c->n] = (int) e->stream;
        c->partial[c->n] = e->partial;
        c->time[c->n] = e->time_ns;
        c->n++;
}

/* Reads until next() returns 0. */
static void drain(log_reader *r, collected *c) {
        log_entry e;
        int k;
        _cleanup_berr_ berr *err = NULL;
        while ((k = log_reader_next(r, &e, &err)) > 0)
                collect_one(c, &e);
        if (k < 0)
                TAP_FAIL("log_reader_next: %s", err->msg);
}

static void read_all_records(const char *dir, const char *id, int64_t tail, collected *c) {
        log_reader *r;
        _cleanup_berr_ berr *err = NULL;
        if (log_reader_open(dir, id, tail, &r, &err) < 0)
                TAP_FAIL("log_reader_open: %s", err->msg);
        drain(r, c);
        log_reader_free(r);
}

static log_writer *writer(const char *dir, const char *id, int64_t max_size, unsigned max_files) {
        log_opts o = { .max_size = max_size, .max_files = max_files };
        log_writer *w;
        _cleanup_berr_ berr *err = NULL;
        if (log_writer_open(dir, id, &o, &w, &err) < 0)
                TAP_FAIL("log_writer_open: %s", err->msg);
        return w;
}

static void feed(log_writer *w, log_stream s, const char *text, int64_t t) {
        _cleanup_berr_ berr *err = NULL;
        if (log_writer_feed(w, s, text, strlen(text), t, &err) < 0)
                TAP_FAIL("feed: %s", err->msg);
}

/* "line-000042 xxxx...\n", width bytes with the newline. */
static char *numbered(unsigned i, size_t width) {
        char *s = xmalloc(width + 1);
        int n = snprintf(s, width + 1, "line-%06u ", i);
        memset(s + n, 'x', width - (size_t) n - 1);
        s[width - 1] = '\n';
        s[width] = 0;
        return s;
}

static unsigned line_number(const char *text) {
        unsigned v = 0;
        if (sscanf(text, "line-%u", &v) != 1)
                TAP_FAIL("not a numbered line: %s", text);
        return v;
}

TEST(options_parse_and_validate) {
        log_opts o;
        log_opts_init(&o);
        ASSERT_EQ(o.max_size, 0);
        ASSERT_EQ(o.max_files, 1);
        ASSERT_OK(log_opts_parse(&o, "max-size=10m,max-files=3", NULL));
        ASSERT_EQ(o.max_size, 10 << 20);
        ASSERT_EQ(o.max_files, 3);
        ASSERT_OK(log_opts_validate(&o, NULL));
        ASSERT_OK(log_opts_parse(&o, "max-file=5", NULL));
        ASSERT_EQ(o.max_files, 5);
        ASSERT_OK(log_opts_parse(&o, "max-size=64k", NULL));
        ASSERT_EQ(o.max_size, 64 << 10);
        static const char *bad[] = { "", "max-size", "max-size=", "max-size=abc", "max-size=0", "max-size=-1k",
                                     "max-files=0", "max-files=x", "max-files=-2", "max-files=1001",
                                     "max-files=99999999999999999999", "compress=true", "max-size=1m,bogus=1",
                                     "max-size=1m,,max-files=2" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                log_opts before = o;
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(log_opts_parse(&o, bad[i], &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                /* A failed parse leaves the options as they were. */
                ASSERT_EQ(o.max_size, before.max_size);
                ASSERT_EQ(o.max_files, before.max_files);
        }
        log_opts v = { .max_size = 0, .max_files = 3 };
        _cleanup_berr_ berr *e1 = NULL;
        ASSERT_EQ(log_opts_validate(&v, &e1), -1);
        ASSERT_TRUE(strstr(e1->msg, "needs max-size"));
        v = (log_opts) { .max_size = 100, .max_files = 1 };
        _cleanup_berr_ berr *e2 = NULL;
        ASSERT_EQ(log_opts_validate(&v, &e2), -1);
        ASSERT_TRUE(strstr(e2->msg, "minimum"));
        v = (log_opts) { .max_size = 4096, .max_files = 0 };
        ASSERT_EQ(log_opts_validate(&v, NULL), -1);
}

TEST(time_format_and_parse) {
        char buf[48];
        log_time_format(T0 + 123456789, buf, sizeof buf);
        ASSERT_STREQ(buf, "2024-05-01T12:00:00.123456789Z");
        log_time_format(T0 + 1, buf, sizeof buf);
        ASSERT_STREQ(buf, "2024-05-01T12:00:00.000000001Z");
        int64_t t;
        ASSERT_OK(log_time_parse("2024-05-01T12:00:00.123456789Z", &t));
        ASSERT_EQ(t, T0 + 123456789);
        ASSERT_OK(log_time_parse("2024-05-01T12:00:00Z", &t));
        ASSERT_EQ(t, T0);
        ASSERT_OK(log_time_parse("2024-05-01T12:00:00.5Z", &t)); /* Go trims trailing zeros */
        ASSERT_EQ(t, T0 + 500000000);
        ASSERT_OK(log_time_parse("2024-05-01T14:00:00+02:00", &t));
        ASSERT_EQ(t, T0);
        ASSERT_OK(log_time_parse("2024-05-01T11:30:00.25-00:30", &t));
        ASSERT_EQ(t, T0 + 250000000);
        static const char *bad[] = { "", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T12:00:00Z",
                                     "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00Zjunk", "2024-05-01T12:00:00+0200" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_EQ(log_time_parse(bad[i], &t), -1);
}

TEST(record_encoding_is_docker_json) {
        char *buf = NULL;
        size_t len = 0, cap = 0;
        const char text[] = "tab\there \"q\" back\\slash \x01 caf\xc3\xa9 bad\xff\xfe end\n";
        log_record_encode(&buf, &len, &cap, LOG_STREAM_STDERR, text, sizeof text - 1, T0);
        buf = xrealloc(buf, cap = len + 1);
        buf[len] = 0;
        ASSERT_STREQ(buf, "{\"log\":\"tab\\there \\\"q\\\" back\\\\slash \\u0001 caf\xc3\xa9 bad\\ufffd\\ufffd end\\n\","
                          "\"stream\":\"stderr\",\"time\":\"2024-05-01T12:00:00.000000000Z\"}\n");
        json_t *j = json_loadb(buf, len, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "log")),
                     "tab\there \"q\" back\\slash \x01 caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd end\n");
        json_decref(j);
        /* NUL bytes, overlong forms and surrogates. */
        len = 0;
        const char odd[] = "a\0b \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xf0\x9f\x98\x80";
        log_record_encode(&buf, &len, &cap, LOG_STREAM_STDOUT, odd, sizeof odd - 1, T0);
        ASSERT_TRUE(memmem(buf, len, "\"a\\u0000b \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\\ufffd "
                                     "\xf0\x9f\x98\x80\"", 60) != NULL);
        free(buf);
}

TEST(writer_reader_basic) {
        _cleanup_free_ char *dir = tmpdir();
        _cleanup_free_ char *sub = xasprintf("%s/containers/default/c1", dir);
        log_writer *w = writer(sub, "c1", 0, 1);
        feed(w, LOG_STREAM_STDOUT, "hello\nworld\n", T0);
        feed(w, LOG_STREAM_STDERR, "oops: ", T0 + 1);
        feed(w, LOG_STREAM_STDOUT, "no newline", T0 + 2);
        feed(w, LOG_STREAM_STDERR, "bad thing\n", T0 + 3);
        ASSERT_OK(log_writer_close(w, T0 + 4, NULL)); /* writes the held stdout tail as partial */
        collected c = {};
        read_all_records(sub, "c1", -1, &c);
        ASSERT_EQ(c.n, 4);
        ASSERT_STREQ(c.text[0], "hello\n");
        ASSERT_STREQ(c.text[1], "world\n");
        ASSERT_STREQ(c.text[2], "oops: bad thing\n");
        ASSERT_EQ(c.stream[2], LOG_STREAM_STDERR);
        ASSERT_EQ(c.time[2], T0 + 3);
        ASSERT_FALSE(c.partial[2]);
        ASSERT_STREQ(c.text[3], "no newline");
        ASSERT_TRUE(c.partial[3]);
        ASSERT_EQ(c.stream[3], LOG_STREAM_STDOUT);
        ASSERT_EQ(c.time[0], T0);
        collected_done(&c);
        _cleanup_free_ char *p = file_path(sub, "c1", 0);
        struct stat st;
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ(st.st_mode & 0777, 0640);

        /* Appending later (a restarted task's new logger) continues the same file. */
        w = writer(sub, "c1", 0, 1);
        feed(w, LOG_STREAM_STDOUT, "again\n", T0 + 5);
        ASSERT_OK(log_writer_close(w, T0 + 6, NULL));
        read_all_records(sub, "c1", -1, &c);
        ASSERT_EQ(c.n, 5);
        ASSERT_STREQ(c.text[4], "again\n");
        collected_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(long_lines_split_into_partial_records) {
        _cleanup_free_ char *dir = tmpdir();
        log_writer *w = writer(dir, "c", 0, 1);
        size_t n = 40000;
        char *big = xmalloc(n + 2);
        for (size_t i = 0; i < n; i++)
                big[i] = (char) ('a' + i % 26);
        big[n] = '\n';
        big[n + 1] = 0;
        /* Byte-sized and odd-sized pieces give the same records as one big write. */
        for (size_t off = 0; off < n + 1;) {
                size_t piece = off < 100 ? 1 : 777;
                if (piece > n + 1 - off)
                        piece = n + 1 - off;
                ASSERT_OK(log_writer_feed(w, LOG_STREAM_STDOUT, big + off, piece, T0, NULL));
                off += piece;
        }
        ASSERT_OK(log_writer_close(w, T0, NULL));
        collected c = {};
        read_all_records(dir, "c", -1, &c);
        ASSERT_EQ(c.n, 3);
        ASSERT_EQ(strlen(c.text[0]), LOG_RECORD_MAX);
        ASSERT_EQ(strlen(c.text[1]), LOG_RECORD_MAX);
        ASSERT_EQ(strlen(c.text[2]), n + 1 - 2 * LOG_RECORD_MAX);
        ASSERT_TRUE(c.partial[0] && c.partial[1] && !c.partial[2]);
        _cleanup_free_ char *joined = strv_join(c.text, "");
        ASSERT_STREQ(joined, big);
        free(big);
        collected_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(rotation_keeps_n_files_of_max_size) {
        _cleanup_free_ char *dir = tmpdir();
        const int64_t max = 8192;
        log_writer *w = writer(dir, "c", max, 3);
        for (unsigned i = 0; i < 2000; i++) {
                _cleanup_free_ char *l = numbered(i, 50 + i % 70);
                feed(w, LOG_STREAM_STDOUT, l, T0 + i);
                ASSERT_TRUE(log_writer_size(w) <= max);
        }
        ASSERT_OK(log_writer_close(w, T0, NULL));
        ASSERT_EQ(count_log_files(dir), 3);
        for (unsigned k = 0; k < 3; k++) {
                _cleanup_free_ char *p = file_path(dir, "c", k);
                off_t sz = file_size(p);
                /* Rotated files were filled up to within a record of max; the current one may be young. */
                ASSERT_TRUE(sz > 0 && sz <= max);
                if (k > 0)
                        ASSERT_TRUE(sz > max - 300);
                assert_whole_records(p);
        }
        /* All three files, oldest first: a contiguous run of lines ending with the last one written. */
        collected c = {};
        read_all_records(dir, "c", -1, &c);
        ASSERT_TRUE(c.n > 100);
        unsigned first = line_number(c.text[0]);
        for (size_t i = 0; i < c.n; i++) {
                ASSERT_EQ(line_number(c.text[i]), first + i);
                ASSERT_EQ(c.time[i], T0 + first + (int64_t) i);
        }
        ASSERT_EQ(first + c.n, 2000);
        collected_done(&c);

        /* Reopened with fewer files: the surplus goes at once. */
        w = writer(dir, "c", max, 2);
        ASSERT_EQ(count_log_files(dir), 2);
        ASSERT_OK(log_writer_close(w, T0, NULL));
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(rotation_with_one_file) {
        _cleanup_free_ char *dir = tmpdir();
        log_writer *w = writer(dir, "c", 4096, 1);
        for (unsigned i = 0; i < 300; i++) {
                _cleanup_free_ char *l = numbered(i, 60);
                feed(w, LOG_STREAM_STDERR, l, T0);
        }
        ASSERT_OK(log_writer_close(w, T0, NULL));
        ASSERT_EQ(count_log_files(dir), 1);
        _cleanup_free_ char *p = file_path(dir, "c", 0);
        ASSERT_TRUE(file_size(p) <= 4096);
        assert_whole_records(p);
        collected c = {};
        read_all_records(dir, "c", -1, &c);
        ASSERT_EQ(line_number(c.text[c.n - 1]), 299);
        ASSERT_EQ(c.stream[0], LOG_STREAM_STDERR);
        collected_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(tail_across_files) {
        _cleanup_free_ char *dir = tmpdir();
        log_writer *w = writer(dir, "c", 4096, 4);
        for (unsigned i = 0; i < 150; i++) { /* 100-byte lines (~160 bytes encoded): 25 per file */
                _cleanup_free_ char *l = numbered(i, 100);
                feed(w, LOG_STREAM_STDOUT, l, T0);
        }
        ASSERT_OK(log_writer_close(w, T0, NULL));
        collected all = {};
        read_all_records(dir, "c", -1, &all);
        ASSERT_TRUE(all.n > 60);
        static const int64_t tails[] = { 0, 1, 5, 30, 60 };
        for (size_t t = 0; t < ELEMENTSOF(tails); t++) {
                collected c = {};
                read_all_records(dir, "c", tails[t], &c);
                ASSERT_EQ(c.n, tails[t]);
                for (size_t i = 0; i < c.n; i++)
                        ASSERT_EQ(line_number(c.text[i]), 150 - tails[t] + i);
                collected_done(&c);
        }
        collected c = {};
        read_all_records(dir, "c", 100000, &c);
        ASSERT_EQ(c.n, all.n);
        collected_done(&c);
        collected_done(&all);

        /* An unfinished last line (a writer mid-write) is neither counted nor returned. */
        _cleanup_free_ char *p = file_path(dir, "c", 0);
        int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        const char *half = "{\"log\":\"unfinished";
        ASSERT_OK(write_all(fd, half, strlen(half)));
        close(fd);
        read_all_records(dir, "c", 2, &c);
        ASSERT_EQ(c.n, 2);
        ASSERT_EQ(line_number(c.text[1]), 149);
        collected_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(reader_edge_cases) {
        log_reader *r;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(log_reader_open("/nonexistent/berth-t4", "c", -1, &r, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);

        _cleanup_free_ char *dir = tmpdir();
        collected c = {};
        read_all_records(dir, "c", -1, &c);
        ASSERT_EQ(c.n, 0);
        read_all_records(dir, "c", 3, &c);
        ASSERT_EQ(c.n, 0);

        /* Garbage, a wrong stream, a bad time and an overlong line are skipped; the records around them read. */
        _cleanup_free_ char *p = file_path(dir, "c", 0);
        size_t big = 2 * 1024 * 1024;
        char *content = xmalloc(big + 1024);
        int n = sprintf(content, "{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T12:00:00Z\"}\n"
                                 "not json\n"
                                 "{\"log\":\"x\\n\",\"stream\":\"stdin\",\"time\":\"2024-05-01T12:00:00Z\"}\n"
                                 "{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"yesterday\"}\n");
        memset(content + n, 'z', big);
        n += (int) big;
        n += sprintf(content + n, "\n{\"log\":\"two\\u0000\\n\",\"stream\":\"stderr\",\"time\":\"2024-05-01T12:00:01Z\"}\n");
        ASSERT_OK(write_file_atomic(p, content, (size_t) n, 0640, NULL));
        free(content);
        read_all_records(dir, "c", -1, &c);
        ASSERT_EQ(c.n, 2);
        ASSERT_STREQ(c.text[0], "one\n");
        ASSERT_EQ(c.time[1], T0 + 1000000000LL);
        ASSERT_EQ(c.stream[1], LOG_STREAM_STDERR);
        ASSERT_EQ(c.text[1][3], 0); /* the NUL survives */
        collected_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

static bool wait_readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, ms) > 0;
}

TEST(follow_sees_new_lines_and_rotations) {
        _cleanup_free_ char *dir = tmpdir();
        /* Following starts before the first file exists. */
        log_reader *r;
        ASSERT_OK(log_reader_open(dir, "c", 0, &r, NULL));
        ASSERT_OK(log_reader_follow(r, NULL));
        ASSERT_TRUE(log_reader_fd(r) >= 0);
        collected c = {};
        drain(r, &c);
        ASSERT_EQ(c.n, 0);

        log_writer *w = writer(dir, "c", 4096, 5);
        unsigned next = 0;
        for (int round = 0; round < 40; round++) {
                /* 1 to 3 rotations' worth per round: 25 lines of 100 bytes per file. */
                unsigned lines = 10 + (unsigned) round * 3 % 60;
                for (unsigned i = 0; i < lines; i++) {
                        _cleanup_free_ char *l = numbered(next++, 100);
                        feed(w, LOG_STREAM_STDOUT, l, T0);
                }
                ASSERT_TRUE(wait_readable(log_reader_fd(r), 2000));
                drain(r, &c);
                ASSERT_EQ(c.n, next);
        }
        for (size_t i = 0; i < c.n; i++)
                ASSERT_EQ(line_number(c.text[i]), i);
        collected_done(&c);

        /* Nothing new: the fd stays quiet and next() says 0. */
        ASSERT_FALSE(wait_readable(log_reader_fd(r), 100));
        drain(r, &c);
        ASSERT_EQ(c.n, 0);

        /* A partial line is returned as written, the rest when it comes. */
        feed(w, LOG_STREAM_STDERR, "abc", T0);
        ASSERT_OK(log_writer_flush_stream(w, LOG_STREAM_STDERR, T0, NULL));
        feed(w, LOG_STREAM_STDERR, "def\n", T0);
        ASSERT_TRUE(wait_readable(log_reader_fd(r), 2000));
        drain(r, &c);
        ASSERT_EQ(c.n, 2);
        ASSERT_STREQ(c.text[0], "abc");
        ASSERT_TRUE(c.partial[0]);
        ASSERT_STREQ(c.text[1], "def\n");
        collected_done(&c);
        ASSERT_OK(log_writer_close(w, T0, NULL));
        log_reader_free(r);
        ASSERT_OK(rm_rf(dir, NULL));
}

/* A follower that does not read while several rotations happen continues with the oldest file it has not
 * read, in order and without repeats; what was deleted before it got there is gone. */
TEST(follow_falls_behind_rotations) {
        _cleanup_free_ char *dir = tmpdir();
        log_writer *w = writer(dir, "c", 4096, 3);
        unsigned next = 0;
        for (; next < 10; next++) {
                _cleanup_free_ char *l = numbered(next, 100);
                feed(w, LOG_STREAM_STDOUT, l, T0);
        }
        log_reader *r;
        ASSERT_OK(log_reader_open(dir, "c", -1, &r, NULL));
        ASSERT_OK(log_reader_follow(r, NULL));
        collected c = {};
        drain(r, &c);
        ASSERT_EQ(c.n, 10);
        for (; next < 500; next++) { /* ~20 rotations while nobody reads */
                _cleanup_free_ char *l = numbered(next, 100);
                feed(w, LOG_STREAM_STDOUT, l, T0);
        }
        drain(r, &c);
        ASSERT_TRUE(c.n > 10 + 25);
        ASSERT_EQ(line_number(c.text[c.n - 1]), 499);
        /* The file it held is read to its end (no gap after line 9); then one gap at most (the deleted
         * files), never backwards or repeated. */
        ASSERT_EQ(line_number(c.text[10]), 10);
        unsigned gaps = 0;
        for (size_t i = 1; i < c.n; i++) {
                unsigned a = line_number(c.text[i - 1]), b = line_number(c.text[i]);
                ASSERT_TRUE(b > a);
                gaps += b != a + 1;
        }
        ASSERT_EQ(gaps, 1);
        collected_done(&c);

        /* max-files=1 (unlink and recreate) while following. */
        log_writer_close(w, T0, NULL);
        log_reader_free(r);
        ASSERT_OK(rm_rf(dir, NULL));
        ASSERT_OK(mkdir(dir, 0700));
        w = writer(dir, "c", 4096, 1);
        ASSERT_OK(log_reader_open(dir, "c", -1, &r, NULL));
        ASSERT_OK(log_reader_follow(r, NULL));
        for (next = 0; next < 200; next++) {
                _cleanup_free_ char *l = numbered(next, 100);
                feed(w, LOG_STREAM_STDOUT, l, T0);
                if (next % 7 == 0)
                        drain(r, &c);
        }
        drain(r, &c);
        ASSERT_EQ(c.n, 200);
        for (size_t i = 0; i < c.n; i++)
                ASSERT_EQ(line_number(c.text[i]), i);
        collected_done(&c);
        log_writer_close(w, T0, NULL);
        log_reader_free(r);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(binary_uri_round_trips_through_the_shim_parser) {
        log_opts o = { .max_size = 10 << 20, .max_files = 3 };
        _cleanup_free_ char *uri = log_binary_uri("/usr/lib/berth/berth-logger", "/var/lib/berth/containers/default/c+1 x",
                                                 &o);
        ASSERT_STREQ(uri, "binary:///usr/lib/berth/berth-logger?dir=/var/lib/berth/containers/default/c%2B1%20x"
                          "&max-size=10485760&max-files=3");
        /* What the shim does with it (src/shim/stdio-uri.c). */
        const char *rest;
        _cleanup_free_ char *scheme = stdio_uri_scheme(uri, &rest);
        ASSERT_STREQ(scheme, "binary");
        _cleanup_free_ char *path = NULL, *query = NULL;
        ASSERT_OK(stdio_uri_split(rest, &path, &query));
        ASSERT_STREQ(path, "/usr/lib/berth/berth-logger");
        _cleanup_strv_free_ char **args = NULL;
        ASSERT_OK(stdio_uri_query_args(query, &args));
        _cleanup_free_ char *dir = NULL;
        log_opts back;
        ASSERT_OK(log_logger_args_parse((int) strv_length(args), args, "default", "c1", &dir, &back, NULL));
        ASSERT_STREQ(dir, "/var/lib/berth/containers/default/c+1 x");
        ASSERT_EQ(back.max_size, o.max_size);
        ASSERT_EQ(back.max_files, 3);

        /* root= instead of dir=. */
        char *a2[] = { "root", "/var/lib/berth", "max-file", "2", "max-size", "1m", NULL };
        _cleanup_free_ char *dir2 = NULL;
        ASSERT_OK(log_logger_args_parse(6, a2, "ns1", "c2", &dir2, &back, NULL));
        ASSERT_STREQ(dir2, "/var/lib/berth/containers/ns1/c2");
        ASSERT_EQ(back.max_files, 2);

        char *bad1[] = { "dir", "relative", NULL };
        char *bad2[] = { "dir", "/x", "max-files", NULL };
        char *bad3[] = { "dir", "/x", "max-files", "3", NULL };     /* needs max-size */
        char *bad4[] = { "dir", "/x", "colour", "blue", NULL };
        char *bad5[] = { "root", "/x", NULL };                      /* with ns ".." */
        char *bad6[] = { NULL };
        struct { char **argv; int argc; const char *ns, *id; } cases[] = {
                { bad1, 2, "ns", "c" }, { bad2, 3, "ns", "c" }, { bad3, 4, "ns", "c" }, { bad4, 4, "ns", "c" },
                { bad5, 2, "..", "c" }, { bad6, 0, "ns", "c" }, { a2, 6, "ns", "../c" }, { a2, 6, "ns", NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *d = NULL;
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(log_logger_args_parse(cases[i].argc, cases[i].argv, cases[i].ns, cases[i].id, &d, &back, &e),
                          -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        }
        _cleanup_free_ char *dp = log_dir_path("/r", "default", "c1");
        ASSERT_STREQ(dp, "/r/containers/default/c1");
}
