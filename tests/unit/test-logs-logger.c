/* berth-logger, started exactly as the shim starts a binary:// logger (shim-v2.md §5.4): `path k v ...`, env
 * only CONTAINER_ID/CONTAINER_NAMESPACE, fd 3 stdout, fd 4 stderr, fd 5 readiness; once by hand and once
 * through the shim's own stdio_logger_start. Checks rotation bounds, order across files, partial lines,
 * SIGTERM, bad arguments, and a follower that keeps up while the logger rotates. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tap.h"
#include "logs/logs.h"
#include "shim/stdio-internal.h"
#include "basic/event.h"
#include "basic/fileio.h"
#include "basic/strv.h"

static char *logger_path(void) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0)
                TAP_FAIL("readlink /proc/self/exe: %m");
        exe[n] = 0;
        /* <build>/tests/test-logs-logger -> <build>/berth-logger */
        char *p = xasprintf("%s/../berth-logger", dirname(exe));
        if (access(p, X_OK) < 0) {
                free(p);
                TAP_SKIP("berth-logger is not built (make all)");
        }
        return p;
}

static char *tmpdir(void) {
        char *d = xstrdup("/tmp/berth-t4-logger.XXXXXX");
        if (!mkdtemp(d))
                TAP_FAIL("mkdtemp: %m");
        return d;
}

typedef struct logger {
        pid_t pid;
        int out_w, err_w;
} logger;

/* The shim's spawn, step by step: pipes, fds 3/4/5, /dev/null for 0-2, a two-variable environment. Waits for
 * readiness (fd 5 closed or written) like the shim; a logger that exits at once also "gets ready" that way. */
static int start_logger(const char *path, char *const *args, const char *id, const char *ns, logger *ret) {
        int out[2], errp[2], ready[2];
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
                TAP_FAIL("pipe: %m");
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        strv_extend(&argv, path);
        for (char *const *a = args; *a; a++)
                strv_extend(&argv, *a);
        if (id)
                strv_push(&envp, xasprintf("CONTAINER_ID=%s", id));
        strv_push(&envp, xasprintf("CONTAINER_NAMESPACE=%s", ns));
        if (!envp)
                envp = xcalloc(1, sizeof(char *));
        pid_t pid = fork();
        if (pid < 0)
                TAP_FAIL("fork: %m");
        if (pid == 0) {
                int src[3] = { fcntl(out[0], F_DUPFD_CLOEXEC, 10), fcntl(errp[0], F_DUPFD_CLOEXEC, 10),
                                fcntl(ready[1], F_DUPFD_CLOEXEC, 10) };
                int nul = open("/dev/null", O_RDWR);
                for (int fd = 0; fd < 3; fd++)
                        dup2(nul, fd);
                for (int i = 0; i < 3; i++)
                        dup2(src[i], 3 + i);
                execve(path, argv, envp);
                _exit(127);
        }
        close(out[0]);
        close(errp[0]);
        close(ready[1]);
        struct pollfd p = { .fd = ready[0], .events = POLLIN };
        if (poll(&p, 1, 10000) != 1)
                TAP_FAIL("logger not ready after 10 s");
        close(ready[0]);
        *ret = (logger) { .pid = pid, .out_w = out[1], .err_w = errp[1] };
        return 0;
}

static int wait_logger(logger *l) {
        safe_close(l->out_w);
        safe_close(l->err_w);
        l->out_w = l->err_w = -1;
        /* Bounded: a logger that does not exit on EOF is a failure, not a hang. */
        for (int i = 0; i < 1000; i++) {
                int status;
                pid_t r = waitpid(l->pid, &status, WNOHANG);
                if (r == l->pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                usleep(10000);
        }
        kill(l->pid, SIGKILL);
        waitpid(l->pid, NULL, 0);
        TAP_FAIL("logger did not exit within 10 s of EOF");
}

static void put(int fd, const char *s) {
        if (write_all(fd, s, strlen(s)) < 0)
                TAP_FAIL("write to logger: %m");
}

static char *numbered(const char *tag, unsigned i, size_t width) {
        char *s = xmalloc(width + 1);
        int n = snprintf(s, width + 1, "%s-%06u ", tag, i);
        memset(s + n, 'x', width - (size_t) n - 1);
        s[width - 1] = '\n';
        s[width] = 0;
        return s;
}

typedef struct seen {
        unsigned count[_LOG_STREAM_MAX];
        long first[_LOG_STREAM_MAX]; /* first line number per stream */
        long last[_LOG_STREAM_MAX];
        unsigned gaps[_LOG_STREAM_MAX];
        unsigned partial;
        size_t records;
} seen;

/* Checks the numbered lines of each stream come in order; counts gaps (files rotated away). */
static void see(seen *s, const log_entry *e) {
        s->records++;
        if (e->partial) {
                s->partial++;
                return;
        }
        char tag[8];
        unsigned n;
        if (sscanf(e->text, "%7[a-z]-%u", tag, &n) != 2)
                TAP_FAIL("unexpected record: %.*s", (int) e->len, e->text);
        int st = e->stream;
        if (strcmp(tag, st == LOG_STREAM_STDOUT ? "out" : "err") != 0)
                TAP_FAIL("record %s on the wrong stream", tag);
        if (s->count[st] == 0)
                s->first[st] = n;
        else if ((long) n <= s->last[st])
                TAP_FAIL("%s line %u after %ld: out of order or repeated", tag, n, s->last[st]);
        else if ((long) n != s->last[st] + 1)
                s->gaps[st]++;
        s->last[st] = n;
        s->count[st]++;
}

static void read_dir(const char *dir, const char *id, seen *s) {
        *s = (seen) { .first = { -1, -1 }, .last = { -1, -1 } };
        log_reader *r;
        _cleanup_berr_ berr *e = NULL;
        if (log_reader_open(dir, id, -1, &r, &e) < 0)
                TAP_FAIL("log_reader_open: %s", e->msg);
        log_entry ent;
        int k;
        while ((k = log_reader_next(r, &ent, &e)) > 0)
                see(s, &ent);
        log_reader_free(r);
        if (k < 0)
                TAP_FAIL("log_reader_next: %s", e->msg);
}

/* ≤ max_files files, each ≤ max_size, each made of whole records. */
static void check_files(const char *dir, unsigned max_files, off_t max_size) {
        DIR *d = opendir(dir);
        ASSERT_NOT_NULL(d);
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strstr(de->d_name, LOG_FILE_SUFFIX))
                        continue;
                n++;
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name), *data = NULL;
                size_t len;
                ASSERT_OK(read_file(p, &data, &len, 64 << 20, NULL));
                if ((off_t) len > max_size)
                        TAP_FAIL("%s is %zu bytes, over %lld", de->d_name, len, (long long) max_size);
                ASSERT_TRUE(len == 0 || data[len - 1] == '\n');
                for (char *line = data; *line; line = strchr(line, '\n') + 1)
                        ASSERT_TRUE(strncmp(line, "{\"log\":\"", 8) == 0);
        }
        closedir(d);
        if (n > max_files)
                TAP_FAIL("%u log files, over %u", n, max_files);
}

TEST(launched_like_the_shim_nothing_lost) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        _cleanup_free_ char *logdir = xasprintf("%s/containers/default/web", dir);
        char *args[] = { "dir", logdir, "max-size", "65536", "max-files", "5", NULL };
        logger l;
        ASSERT_OK(start_logger(path, args, "web", "default", &l));
        for (unsigned i = 0; i < 1000; i++) {
                _cleanup_free_ char *o = numbered("out", i, 100);
                put(l.out_w, o);
                if (i % 2 == 0) {
                        _cleanup_free_ char *e = numbered("err", i / 2, 80);
                        put(l.err_w, e);
                }
        }
        ASSERT_EQ(wait_logger(&l), 0);
        check_files(logdir, 5, 65536);
        seen s;
        read_dir(logdir, "web", &s);
        ASSERT_EQ(s.count[LOG_STREAM_STDOUT], 1000);
        ASSERT_EQ(s.count[LOG_STREAM_STDERR], 500);
        ASSERT_EQ(s.first[LOG_STREAM_STDOUT], 0);
        ASSERT_EQ(s.gaps[LOG_STREAM_STDOUT] + s.gaps[LOG_STREAM_STDERR], 0);
        ASSERT_EQ(s.partial, 0);
        /* It rotated: more than one file. */
        _cleanup_free_ char *rot = xasprintf("%s/web-json.log.1", logdir);
        ASSERT_OK(access(rot, F_OK));
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(rotation_bounds_under_volume) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        char *args[] = { "max-files", "3", "root", dir, "max-size", "16k", NULL };
        logger l;
        ASSERT_OK(start_logger(path, args, "busy", "ns1", &l));
        for (unsigned i = 0; i < 20000; i++) { /* ~2 MB */
                _cleanup_free_ char *o = numbered("out", i, 100);
                put(l.out_w, o);
        }
        ASSERT_EQ(wait_logger(&l), 0);
        _cleanup_free_ char *logdir = xasprintf("%s/containers/ns1/busy", dir);
        check_files(logdir, 3, 16384);
        seen s;
        read_dir(logdir, "busy", &s);
        ASSERT_EQ(s.last[LOG_STREAM_STDOUT], 19999);
        ASSERT_EQ(s.gaps[LOG_STREAM_STDOUT], 0); /* a contiguous suffix */
        ASSERT_TRUE(s.count[LOG_STREAM_STDOUT] > 200);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(partial_and_long_lines) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        char *args[] = { "dir", dir, NULL };
        logger l;
        ASSERT_OK(start_logger(path, args, "c", "default", &l));
        size_t n = 40000;
        char *big = xmalloc(n + 2);
        memset(big, 'y', n);
        big[n] = '\n';
        big[n + 1] = 0;
        put(l.out_w, big);
        put(l.err_w, "no newline at the end");
        ASSERT_EQ(wait_logger(&l), 0);
        log_reader *r;
        ASSERT_OK(log_reader_open(dir, "c", -1, &r, NULL));
        log_entry e;
        _cleanup_strv_free_ char **out = NULL;
        char *err_text = NULL;
        unsigned partial_out = 0;
        while (log_reader_next(r, &e, NULL) > 0) {
                if (e.stream == LOG_STREAM_STDOUT) {
                        strv_push(&out, xstrndup(e.text, e.len));
                        partial_out += e.partial;
                } else {
                        ASSERT_NULL(err_text);
                        ASSERT_TRUE(e.partial);
                        err_text = xstrndup(e.text, e.len);
                }
        }
        log_reader_free(r);
        ASSERT_EQ(strv_length(out), 3);
        ASSERT_EQ(partial_out, 2);
        _cleanup_free_ char *joined = strv_join(out, "");
        ASSERT_STREQ(joined, big);
        ASSERT_STREQ(err_text, "no newline at the end");
        free(err_text);
        free(big);
        ASSERT_OK(rm_rf(dir, NULL));
}

/* The shim sends SIGTERM when the logger does not exit after the process did: what is in the pipes is still
 * written, then it exits 0 although the write ends are open. */
TEST(sigterm_takes_what_is_buffered) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        char *args[] = { "dir", dir, NULL };
        logger l;
        ASSERT_OK(start_logger(path, args, "c", "default", &l));
        for (unsigned i = 0; i < 300; i++) {
                _cleanup_free_ char *o = numbered("out", i, 100);
                put(l.out_w, o);
        }
        ASSERT_OK(kill(l.pid, SIGTERM));
        int status;
        ASSERT_EQ(waitpid(l.pid, &status, 0), l.pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        close(l.out_w);
        close(l.err_w);
        seen s;
        read_dir(dir, "c", &s);
        ASSERT_EQ(s.count[LOG_STREAM_STDOUT], 300);
        ASSERT_OK(rm_rf(dir, NULL));
}

static int start_fails(const char *path, char *const *args, const char *id) {
        logger l;
        ASSERT_OK(start_logger(path, args, id, "default", &l));
        return wait_logger(&l);
}

TEST(bad_arguments_exit_before_ready) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        char *bad_size[] = { "dir", dir, "max-size", "lots", NULL };
        char *no_dir[] = { "max-size", "1m", NULL };
        char *odd[] = { "dir", NULL };
        char *files_no_size[] = { "dir", dir, "max-files", "3", NULL };
        char *ok[] = { "dir", dir, NULL };
        /* Exit code 2 on bad arguments (a good start would exit 0 on the EOF wait_logger gives it). */
        ASSERT_EQ(start_fails(path, bad_size, "c"), 2);
        ASSERT_EQ(start_fails(path, no_dir, "c"), 2);
        ASSERT_EQ(start_fails(path, odd, "c"), 2);
        ASSERT_EQ(start_fails(path, files_no_size, "c"), 2);
        ASSERT_EQ(start_fails(path, ok, NULL), 2); /* no CONTAINER_ID */
        /* Nothing was created by the failed ones. */
        _cleanup_free_ char *f = xasprintf("%s/c-json.log", dir);
        ASSERT_EQ(access(f, F_OK), -1);
        /* A directory it cannot create: exits 1. */
        char *unwritable[] = { "dir", "/proc/berth-t4/x", NULL };
        ASSERT_EQ(start_fails(path, unwritable, "c"), 1);
        ASSERT_OK(rm_rf(dir, NULL));
}

/* The shim's own code path: stdio_logger_start (src/shim/stdio-logger.c) with its event loop. */
TEST(through_the_shims_logger_code) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        _cleanup_free_ char *uri = NULL;
        log_opts o = { .max_size = 8192, .max_files = 20 }; /* room for everything: ~60 KiB in ~8 files */
        uri = log_binary_uri(path, dir, &o);
        const char *rest;
        _cleanup_free_ char *scheme = stdio_uri_scheme(uri, &rest), *bin = NULL, *query = NULL;
        ASSERT_OK(stdio_uri_split(rest, &bin, &query));
        _cleanup_strv_free_ char **args = NULL;
        ASSERT_OK(stdio_uri_query_args(query, &args));

        ev_loop *loop;
        ASSERT_OK(ev_loop_new(&loop));
        int out[2], errp[2];
        ASSERT_OK(pipe2(out, O_CLOEXEC));
        ASSERT_OK(pipe2(errp, O_CLOEXEC));
        stdio_logger *lg;
        _cleanup_berr_ berr *e = NULL;
        if (stdio_logger_start(loop, bin, args, "ctr", "default", out[0], errp[0], &lg, &e) < 0)
                TAP_FAIL("stdio_logger_start: %s", e->msg);
        ASSERT_TRUE(stdio_logger_pid(lg) > 0);
        for (unsigned i = 0; i < 400; i++) {
                _cleanup_free_ char *l = numbered("out", i, 60);
                put(out[1], l);
                _cleanup_free_ char *m = numbered("err", i, 40);
                put(errp[1], m);
        }
        close(out[1]);
        close(errp[1]);
        stdio_logger_release(lg);
        for (int i = 0; i < 1000 && stdio_loggers_pending() > 0; i++)
                ASSERT_OK(ev_loop_run_once(loop, 20));
        ASSERT_EQ(stdio_loggers_pending(), 0);
        ev_loop_free(loop);
        check_files(dir, 20, 8192);
        seen s;
        read_dir(dir, "ctr", &s);
        ASSERT_EQ(s.count[LOG_STREAM_STDOUT], 400);
        ASSERT_EQ(s.count[LOG_STREAM_STDERR], 400);
        ASSERT_EQ(s.last[LOG_STREAM_STDOUT], 399);
        ASSERT_EQ(s.gaps[LOG_STREAM_STDOUT] + s.gaps[LOG_STREAM_STDERR], 0);
        ASSERT_OK(rm_rf(dir, NULL));
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `berth logs -f` against a running logger: every line arrives, in order, across many rotations. */
TEST(follow_a_running_logger_through_rotations) {
        _cleanup_free_ char *path = logger_path(), *dir = tmpdir();
        char *args[] = { "dir", dir, "max-size", "4k", "max-files", "4", NULL };
        logger l;
        ASSERT_OK(start_logger(path, args, "f", "default", &l));
        log_reader *r;
        ASSERT_OK(log_reader_open(dir, "f", 0, &r, NULL));
        ASSERT_OK(log_reader_follow(r, NULL));
        seen s = { .first = { -1, -1 }, .last = { -1, -1 } };
        unsigned sent = 0;
        for (int round = 0; round < 30; round++) {
                for (unsigned i = 0; i < 20; i++) { /* ~1.5 files per round */
                        _cleanup_free_ char *o = numbered("out", sent++, 200);
                        put(l.out_w, o);
                }
                int64_t deadline = mono_ms() + 5000;
                while (s.count[LOG_STREAM_STDOUT] < sent) {
                        int left = (int) (deadline - mono_ms());
                        if (left <= 0)
                                TAP_FAIL("round %d: have %u of %u lines", round, s.count[LOG_STREAM_STDOUT], sent);
                        struct pollfd p = { .fd = log_reader_fd(r), .events = POLLIN };
                        (void) poll(&p, 1, left);
                        log_entry e;
                        int k;
                        while ((k = log_reader_next(r, &e, NULL)) > 0)
                                see(&s, &e);
                        ASSERT_OK(k);
                }
        }
        ASSERT_EQ(s.first[LOG_STREAM_STDOUT], 0);
        ASSERT_EQ(s.gaps[LOG_STREAM_STDOUT], 0);
        ASSERT_EQ(s.count[LOG_STREAM_STDOUT], 600);
        ASSERT_EQ(wait_logger(&l), 0);
        log_reader_free(r);
        check_files(dir, 4, 4096);
        ASSERT_OK(rm_rf(dir, NULL));
}
