/* The shim's stdio module against real FIFOs, files, pipes, a shell-script logger and a pty. The runtime
 * child is simulated with fork(): it puts stdio_child_fd() on 0/1/2, closes the rest (as exec would) and
 * writes/reads known bytes; the test drives the event loop by hand. */
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "basic/event.h"
#include "basic/strv.h"
#include "shim/stdio-internal.h"
#include "tap.h"

/* ---- housekeeping: a temp dir and the processes a test started, cleaned up even when an ASSERT bails out ---- */

static char tmpdir[64];
static pid_t started[8];

static void track(pid_t pid) {
        for (size_t i = 0; i < ELEMENTSOF(started); i++)
                if (started[i] <= 0) {
                        started[i] = pid;
                        return;
                }
}

static void untrack(pid_t pid) {
        for (size_t i = 0; i < ELEMENTSOF(started); i++)
                if (started[i] == pid)
                        started[i] = 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void cleanup_leftovers(void) {
        for (size_t i = 0; i < ELEMENTSOF(started); i++)
                if (started[i] > 0) {
                        (void) kill(started[i], SIGKILL);
                        (void) waitpid(started[i], NULL, 0);
                        started[i] = 0;
                }
        if (tmpdir[0])
                (void) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        tmpdir[0] = 0;
}

__attribute__((constructor)) static void setup_cleanup(void) {
        atexit(cleanup_leftovers);
}

static void begin(void) {
        cleanup_leftovers();
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-stdio-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

static char *tpath(const char *name) {
        return xasprintf("%s/%s", tmpdir, name);
}

static char *make_fifo(const char *name) {
        char *p = tpath(name);
        ASSERT_OK(mkfifo(p, 0600));
        return p;
}

static void loop_freep(ev_loop **l) {
        ev_loop_free(*l);
}
#define _cleanup_loop_ _cleanup_(loop_freep)
static void stdio_freep(shim_stdio **io) {
        stdio_free(*io);
}
#define _cleanup_stdio_ _cleanup_(stdio_freep)

static void on_drained(void *userdata) {
        (*(int *) userdata)++;
}

static uint64_t now_ms(void) {
        return now_monotonic_usec() / 1000;
}

static int count_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 1024; fd++)
                n += fcntl(fd, F_GETFD) >= 0;
        return n;
}

/* Runs body and checks every fd it (and the module) opened was closed again. */
#define TEST_NO_FD_LEAK(name)                                   \
        static void body_##name(void);                          \
        TEST(name) {                                            \
                int fds_before = count_fds();                   \
                body_##name();                                  \
                ASSERT_EQ(count_fds(), fds_before);             \
        }                                                       \
        static void body_##name(void)

/* ---- the simulated runtime child ---- */

typedef void (*child_fn)(void *arg);

static void write_all(int fd, const void *buf, size_t n) {
        const char *p = buf;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        _exit(90);
                p += w;
                n -= (size_t) w;
        }
}

/* keep_fd (if >= 0) arrives as fd 3. */
static pid_t fork_process(shim_stdio *io, child_fn fn, void *arg, int keep_fd) {
        fflush(stdout);
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                int fds[4];
                for (int i = 0; i < 3; i++) {
                        int fd = stdio_child_fd(io, i);
                        fds[i] = fcntl(fd >= 0 ? fd : null, F_DUPFD, 100);
                }
                fds[3] = keep_fd >= 0 ? fcntl(keep_fd, F_DUPFD, 100) : -1;
                for (int i = 0; i < 4; i++)
                        if (fds[i] >= 0 && dup2(fds[i], i) < 0)
                                _exit(91);
                /* What exec would do to the shim's O_CLOEXEC fds (our own FIFO handles among them). */
                close_range(keep_fd >= 0 ? 4 : 3, ~0U, 0);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGPIPE, SIG_DFL);
                fn(arg);
                _exit(0);
        }
        track(pid);
        return pid;
}

/* Returns the exit status once pid exited, running the loop meanwhile; -1 on timeout. */
static int wait_child_looping(ev_loop *loop, pid_t pid, int timeout_ms) {
        uint64_t end = now_ms() + (uint64_t) timeout_ms;
        while (now_ms() < end) {
                int status;
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                        untrack(pid);
                        return status;
                }
                ASSERT_OK(ev_loop_run_once(loop, 10));
        }
        return -1;
}

/* Nonblocking read of everything available; returns 1 on EOF. */
typedef struct sink_buf {
        char *data;
        size_t len, cap;
        bool eof;
} sink_buf;

static void sink_buf_done(sink_buf *b) {
        free(b->data);
}

static void drain_fd(int fd, sink_buf *b) {
        if (b->eof)
                return;
        for (;;) {
                if (b->cap - b->len < 65536) {
                        b->cap = b->cap ? b->cap * 2 : 131072;
                        b->data = xrealloc(b->data, b->cap);
                }
                ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
                if (n > 0) {
                        b->len += (size_t) n;
                        continue;
                }
                if (n == 0)
                        b->eof = true;
                return;
        }
}

static char *read_file(const char *path, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        sink_buf b = { 0 };
        while (!b.eof)
                drain_fd(fd, &b);
        close(fd);
        b.data = xrealloc(b.data, b.len + 1);
        b.data[b.len] = 0;
        if (ret_len)
                *ret_len = b.len;
        return b.data;
}

/* ---- FIFO mode: 1 MiB out with backpressure, stdin through, CloseIO → EOF ---- */

#define OUT_SIZE (1024 * 1024)
#define IN_SIZE 300000

static unsigned char out_byte(size_t i) {
        return (unsigned char) (i * 7 + i / 4096);
}

static unsigned char in_byte(size_t i) {
        return (unsigned char) (i * 13 + 5);
}

static void child_echo(void *arg) {
        static unsigned char buf[OUT_SIZE];
        for (size_t i = 0; i < OUT_SIZE; i++)
                buf[i] = out_byte(i);
        write_all(1, buf, OUT_SIZE / 2);
        size_t count = 0;
        unsigned sum = 0, bad = 0;
        unsigned char in[8192];
        for (;;) {
                ssize_t n = read(0, in, sizeof in);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++) {
                        if (in[i] != in_byte(count + (size_t) i))
                                bad++;
                        sum += in[i];
                }
                count += (size_t) n;
        }
        write_all(1, buf + OUT_SIZE / 2, OUT_SIZE / 2);
        char msg[128];
        int len = snprintf(msg, sizeof msg, "in=%zu bad=%u\n", count, bad);
        write_all(2, msg, (size_t) len);
}

TEST_NO_FD_LEAK(fifo_copy_backpressure_stdin_eof) {
        begin();
        _cleanup_free_ char *in = make_fifo("in"), *out = make_fifo("out"), *err_path = make_fifo("err");
        _cleanup_close_ int out_r = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        _cleanup_close_ int err_r = open(err_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_OK(out_r);
        ASSERT_OK(err_r);

        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = in, .stdout_path = out, .stderr_path = err_path };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        /* The shim holds a reader, so a client can open its writer without blocking. */
        _cleanup_close_ int in_w = open(in, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_OK(in_w);
        for (int i = 0; i < 3; i++)
                ASSERT_TRUE(stdio_child_fd(io, i) >= 0);

        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        pid_t pid = fork_process(io, child_echo, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(stdio_child_fd(io, i), -1);

        static unsigned char input[IN_SIZE];
        for (size_t i = 0; i < IN_SIZE; i++)
                input[i] = in_byte(i);
        size_t in_off = 0;
        sink_buf ob = { 0 }, eb = { 0 };

        /* Phase 1: nobody reads stdout. The loop must stay responsive and the child must end up blocked. */
        uint64_t worst = 0, end = now_ms() + 400;
        while (now_ms() < end) {
                uint64_t t0 = now_ms();
                ASSERT_OK(ev_loop_run_once(loop, 10));
                uint64_t took = now_ms() - t0;
                worst = took > worst ? took : worst;
                ssize_t n = write(in_w, input + in_off, IN_SIZE - in_off);
                if (n > 0)
                        in_off += (size_t) n;
        }
        ASSERT_TRUE(worst < 200);
        ASSERT_EQ(waitpid(pid, NULL, WNOHANG), 0);
        ASSERT_EQ(drained, 0);

        /* Phase 2: read everything; once stdin is fully written the client closes it and CloseIO follows. */
        bool stdin_closed = false;
        end = now_ms() + 30000;
        while (now_ms() < end && !(drained && ob.eof && eb.eof)) {
                ASSERT_OK(ev_loop_run_once(loop, 10));
                if (in_off < IN_SIZE) {
                        ssize_t n = write(in_w, input + in_off, IN_SIZE - in_off);
                        if (n > 0)
                                in_off += (size_t) n;
                } else if (!stdin_closed) {
                        in_w = safe_close(in_w);
                        ASSERT_OK(stdio_close_stdin(io));
                        stdin_closed = true;
                }
                drain_fd(out_r, &ob);
                drain_fd(err_r, &eb);
        }
        ASSERT_EQ(drained, 1);
        ASSERT_TRUE(ob.eof && eb.eof);
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);

        ASSERT_EQ(ob.len, OUT_SIZE);
        size_t mismatch = 0;
        for (size_t i = 0; i < OUT_SIZE; i++)
                mismatch += (unsigned char) ob.data[i] != out_byte(i);
        ASSERT_EQ(mismatch, 0);
        eb.data[eb.len] = 0;
        ASSERT_STREQ(eb.data, "in=300000 bad=0\n");
        sink_buf_done(&ob);
        sink_buf_done(&eb);
        cleanup_leftovers();
}

static void child_read_stdin_then_say(void *arg) {
        char c;
        ssize_t n;
        size_t total = 0;
        while ((n = read(0, &c, 1)) > 0 || (n < 0 && errno == EINTR))
                total += n > 0;
        char msg[64];
        int len = snprintf(msg, sizeof msg, "eof after %zu\n", total);
        write_all(1, msg, (size_t) len);
}

/* No client ever opens the stdin FIFO: CloseIO alone must bring EOF to the process. */
TEST(close_stdin_without_client) {
        begin();
        _cleanup_free_ char *in = make_fifo("in"), *out = tpath("out.log");
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = in, .stdout_path = out, .stderr_path = "" };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_EQ(stdio_child_fd(io, 2), -1);
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        pid_t pid = fork_process(io, child_read_stdin_then_say, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));

        ASSERT_EQ(wait_child_looping(loop, pid, 300), -1); /* still waiting for stdin */
        ASSERT_OK(stdio_close_stdin(io));
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (int i = 0; i < 500 && !drained; i++)
                ASSERT_OK(ev_loop_run_once(loop, 10));
        ASSERT_EQ(drained, 1);
        _cleanup_free_ char *content = read_file(out, NULL);
        ASSERT_STREQ(content, "eof after 0\n");
        cleanup_leftovers();
}

/* ---- regular files ---- */

static void child_out_and_err(void *arg) {
        for (int i = 0; i < 1000; i++) {
                write_all(1, "out\n", 4);
                write_all(2, "err\n", 4);
        }
        char c;
        if (read(0, &c, 1) != 0) /* no stdin wanted: /dev/null */
                _exit(3);
}

TEST_NO_FD_LEAK(stdout_and_stderr_same_regular_file) {
        begin();
        _cleanup_free_ char *log = tpath("both.log");
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = "", .stdout_path = log, .stderr_path = log };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_EQ(stdio_child_fd(io, 0), -1);
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        pid_t pid = fork_process(io, child_out_and_err, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        for (int i = 0; i < 500 && !drained; i++)
                ASSERT_OK(ev_loop_run_once(loop, 10));
        ASSERT_EQ(drained, 1);

        size_t len;
        _cleanup_free_ char *content = read_file(log, &len);
        ASSERT_EQ(len, 8000);
        size_t outs = 0, errs = 0;
        for (size_t i = 0; i + 4 <= len; i += 4) {
                outs += memcmp(content + i, "out\n", 4) == 0;
                errs += memcmp(content + i, "err\n", 4) == 0;
        }
        ASSERT_EQ(outs, 1000);
        ASSERT_EQ(errs, 1000);
        cleanup_leftovers();
}

static void child_hello(void *arg) {
        write_all(1, "hello\n", 6);
        write_all(2, "world\n", 6);
}

TEST(file_uri_mode) {
        begin();
        _cleanup_free_ char *uri = xasprintf("file://%s/sub/dir/c.log", tmpdir);
        _cleanup_free_ char *log = tpath("sub/dir/c.log");
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = uri, .stderr_path = uri };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_TRUE(stdio_child_fd(io, 1) >= 0);
        ASSERT_EQ(stdio_child_fd(io, 1), stdio_child_fd(io, 2));
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        pid_t pid = fork_process(io, child_hello, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_OK(ev_loop_run_once(loop, 100));
        ASSERT_EQ(drained, 1);
        _cleanup_free_ char *content = read_file(log, NULL);
        ASSERT_STREQ(content, "hello\nworld\n");
        cleanup_leftovers();
}

/* ---- binary:// loggers ---- */

static char *write_script(const char *name, const char *body) {
        char *p = tpath(name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        ASSERT_OK(fd);
        ASSERT_EQ(write(fd, body, strlen(body)), (ssize_t) strlen(body));
        close(fd);
        return p;
}

static void run_until_no_loggers(ev_loop *loop, int timeout_ms) {
        uint64_t end = now_ms() + (uint64_t) timeout_ms;
        while (stdio_loggers_pending() > 0 && now_ms() < end)
                ASSERT_OK(ev_loop_run_once(loop, 10));
}

TEST_NO_FD_LEAK(binary_logger) {
        begin();
        _cleanup_free_ char *script = write_script(
                "logger.sh",
                "#!/bin/sh\n"
                "echo \"$# $1 $3 $5 [$6]\" > \"$2.info\"\n"
                "/bin/cat /proc/$$/environ > \"$2.env\"\n"
                "exec 5>&-\n"
                "/bin/cat <&3 > \"$2\" &\n"
                "/bin/cat <&4 > \"$4\"\n"
                "wait\n");
        _cleanup_free_ char *uri = xasprintf("binary://%s?out=%s/out%%2Elog&err=%s/err.log&flag", script, tmpdir,
                                             tmpdir);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = uri, .stderr_path = uri, .container_id = "cid", .ns = "ns1" };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        /* stdio_new does not start it: the shim does that while the runtime's create runs. */
        ASSERT_NULL(io->logger);
        ASSERT_EQ(stdio_loggers_pending(), 0);
        ASSERT_OK(stdio_wait_ready(io, &e));
        track(stdio_logger_pid(io->logger));
        ASSERT_EQ(stdio_loggers_pending(), 1);
        ASSERT_OK(stdio_wait_ready(io, &e)); /* seen once: at once */

        /* Ready means it ran up to closing fd 5. */
        _cleanup_free_ char *info_path = tpath("out.log.info"), *env_path = tpath("out.log.env");
        _cleanup_free_ char *info = read_file(info_path, NULL);
        ASSERT_STREQ(info, "6 out err flag []\n");
        size_t env_len;
        _cleanup_free_ char *env = read_file(env_path, &env_len);
        ASSERT_NOT_NULL(env);
        for (size_t i = 0; i < env_len; i++)
                if (env[i] == 0)
                        env[i] = '\n';
        ASSERT_STREQ(env, "CONTAINER_ID=cid\nCONTAINER_NAMESPACE=ns1\n");

        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        pid_t pid = fork_process(io, child_hello, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_OK(ev_loop_run_once(loop, 100));
        ASSERT_EQ(drained, 1); /* nothing to copy in this mode */
        stdio_process_exited(io);
        /* The pipes reached EOF, so the logger exits by itself, well within the grace period. */
        uint64_t t0 = now_ms();
        run_until_no_loggers(loop, 5000);
        ASSERT_EQ(stdio_loggers_pending(), 0);
        ASSERT_TRUE(now_ms() - t0 < 1500);
        untrack(stdio_logger_pid(io->logger));

        _cleanup_free_ char *out_path = tpath("out.log"), *err_path = tpath("err.log");
        _cleanup_free_ char *o = read_file(out_path, NULL), *er = read_file(err_path, NULL);
        ASSERT_STREQ(o, "hello\n");
        ASSERT_STREQ(er, "world\n");
        cleanup_leftovers();
}

/* binary:// with a stdin FIFO (berth's `run -d -i`): what a client writes reaches the process, a client that comes
 * and goes is no EOF (the shim holds a writer), and only CloseIO ends its stdin. */
TEST(binary_logger_with_stdin) {
        begin();
        _cleanup_free_ char *script = write_script("cat-logger.sh", "#!/bin/sh\nexec 5>&-\n/bin/cat <&3 > \"$2\"\n");
        _cleanup_free_ char *in = make_fifo("in"), *out = tpath("stdin-out.log");
        _cleanup_free_ char *uri = xasprintf("binary://%s?out=%s", script, out);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = in, .stdout_path = uri, .stderr_path = uri };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_TRUE(stdio_child_fd(io, 0) >= 0);
        ASSERT_OK(stdio_wait_ready(io, &e));
        track(stdio_logger_pid(io->logger));
        pid_t pid = fork_process(io, child_read_stdin_then_say, NULL, -1);
        ASSERT_OK(stdio_after_start(io, &e));
        /* a client writes three bytes and goes away */
        int w = open(in, O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(w >= 0);
        write_all(w, "abc", 3);
        close(w);
        ASSERT_EQ(wait_child_looping(loop, pid, 300), -1); /* no EOF from that */
        ASSERT_OK(stdio_close_stdin(io));
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        stdio_process_exited(io);
        run_until_no_loggers(loop, 5000);
        ASSERT_EQ(stdio_loggers_pending(), 0);
        untrack(stdio_logger_pid(io->logger));
        _cleanup_free_ char *content = read_file(out, NULL);
        ASSERT_STREQ(content, "eof after 3\n");
        cleanup_leftovers();
}

/* A logger that ignores EOF is stopped in the background after stdio_free: grace period, then SIGTERM. */
TEST(binary_logger_terminated_after_free) {
        begin();
        _cleanup_free_ char *script = write_script("stubborn.sh", "#!/bin/sh\nexec 5>&-\nexec /bin/sleep 60\n");
        _cleanup_free_ char *uri = xasprintf("binary://%s", script);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = uri, .container_id = "c", .ns = "n" };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_OK(stdio_wait_ready(io, &e));
        pid_t logger = stdio_logger_pid(io->logger);
        track(logger);
        ASSERT_OK(stdio_after_start(io, &e));
        io = stdio_free(io);
        ASSERT_EQ(stdio_loggers_pending(), 1);
        uint64_t t0 = now_ms();
        run_until_no_loggers(loop, 8000);
        ASSERT_EQ(stdio_loggers_pending(), 0);
        uint64_t took = now_ms() - t0;
        ASSERT_TRUE(took >= 1500 && took < 6000);
        untrack(logger);
        ASSERT_TRUE(kill(logger, 0) < 0 && errno == ESRCH);
        cleanup_leftovers();
}

TEST(binary_logger_missing) {
        begin();
        _cleanup_free_ char *uri = xasprintf("binary://%s/nope?a=b", tmpdir);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = uri };
        ASSERT_EQ(stdio_new(loop, &cfg, &io, &e), -1);
        ASSERT_NULL(io);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_free(e);
        ASSERT_EQ(stdio_loggers_pending(), 0);
        cleanup_leftovers();
}

/* ---- terminal ---- */

typedef struct term_arg {
        const char *socket_path;
        bool linger; /* leave a grandchild holding the slave open */
} term_arg;

/* What runc does with --console-socket, then what the container does on its terminal. fd 3: sync pipe. */
static void child_terminal(void *arg) {
        const term_arg *ta = arg;
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
                _exit(10);
        int s = open(ptsname(m), O_RDWR | O_NOCTTY);
        struct termios t;
        if (s < 0 || tcgetattr(s, &t) < 0)
                _exit(11);
        cfmakeraw(&t);
        if (tcsetattr(s, TCSANOW, &t) < 0)
                _exit(12);

        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strncpy(addr.sun_path, ta->socket_path, sizeof addr.sun_path - 1);
        if (c < 0 || connect(c, (struct sockaddr *) &addr, sizeof addr) < 0)
                _exit(13);
        char name[] = "/dev/pts/x";
        struct iovec iov = { .iov_base = name, .iov_len = sizeof name };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = { 0 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                              .msg_controllen = sizeof control.buf };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &m, sizeof m);
        if (sendmsg(c, &msg, 0) < 0)
                _exit(14);
        close(c);
        close(m);
        write_all(3, "x", 1); /* "runc create returned" */

        if (ta->linger) {
                pid_t g = fork();
                if (g == 0) {
                        close(3);
                        pause();
                        _exit(0);
                }
                write_all(3, &g, sizeof g);
                write_all(s, "bye\n", 4);
                return;
        }
        char line[64];
        size_t len = 0;
        while (len < 5) {
                ssize_t n = read(s, line + len, sizeof line - len);
                if (n <= 0)
                        _exit(15);
                len += (size_t) n;
        }
        if (memcmp(line, "ping\n", 5) != 0)
                _exit(16);
        struct winsize ws;
        if (ioctl(s, TIOCGWINSZ, &ws) < 0)
                _exit(17);
        char reply[64];
        int rl = snprintf(reply, sizeof reply, "pong %ux%u\n", ws.ws_col, ws.ws_row);
        write_all(s, reply, (size_t) rl);
}

static void read_exact(int fd, void *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t r = read(fd, (char *) buf + got, n - got);
                if (r < 0 && errno == EINTR)
                        continue;
                ASSERT_TRUE(r > 0);
                got += (size_t) r;
        }
}

TEST_NO_FD_LEAK(terminal_console_socket_copy_resize) {
        begin();
        _cleanup_free_ char *in = make_fifo("in"), *out = make_fifo("out");
        _cleanup_close_ int out_r = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = in, .stdout_path = out, .stderr_path = "", .terminal = true };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        ASSERT_EQ(stdio_child_fd(io, 0), -1);
        ASSERT_EQ(stdio_child_fd(io, 1), -1);
        const char *sock;
        ASSERT_OK(stdio_console_socket(io, &sock, &e));
        _cleanup_free_ char *sock_copy = xstrdup(sock);
        ASSERT_TRUE(strncmp(sock, "/tmp/pty-", 9) == 0 || getenv("XDG_RUNTIME_DIR"));

        int sync[2];
        ASSERT_OK(pipe2(sync, O_CLOEXEC));
        _cleanup_close_ int sync_r = sync[0];
        term_arg ta = { .socket_path = sock };
        pid_t pid = fork_process(io, child_terminal, &ta, sync[1]);
        close(sync[1]);
        char x;
        read_exact(sync_r, &x, 1);

        ASSERT_OK(stdio_console_receive(io, &e));
        ASSERT_TRUE(access(sock_copy, F_OK) < 0); /* socket and its dir are gone */
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        ASSERT_OK(stdio_after_start(io, &e));
        ASSERT_OK(stdio_resize(io, 123, 45, &e));
        _cleanup_close_ int in_w = open(in, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        ASSERT_OK(in_w);
        ASSERT_EQ(write(in_w, "ping\n", 5), 5);

        sink_buf ob = { 0 };
        uint64_t end = now_ms() + 10000;
        while (now_ms() < end && !(drained && ob.eof)) {
                ASSERT_OK(ev_loop_run_once(loop, 10));
                drain_fd(out_r, &ob);
        }
        ASSERT_EQ(drained, 1);
        ASSERT_TRUE(ob.eof);
        ob.data[ob.len] = 0;
        ASSERT_STREQ(ob.data, "pong 123x45\n");
        sink_buf_done(&ob);
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        cleanup_leftovers();
}

/* Someone else keeps the slave open after the process exited: drained anyway, after the grace period. */
TEST_NO_FD_LEAK(terminal_grace_after_exit) {
        begin();
        _cleanup_free_ char *out = make_fifo("out");
        _cleanup_close_ int out_r = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = out, .terminal = true };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        const char *sock;
        ASSERT_OK(stdio_console_socket(io, &sock, &e));
        int sync[2];
        ASSERT_OK(pipe2(sync, O_CLOEXEC));
        _cleanup_close_ int sync_r = sync[0];
        term_arg ta = { .socket_path = sock, .linger = true };
        pid_t pid = fork_process(io, child_terminal, &ta, sync[1]);
        close(sync[1]);
        char x;
        read_exact(sync_r, &x, 1);
        ASSERT_OK(stdio_console_receive(io, &e));
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        ASSERT_OK(stdio_after_start(io, &e));
        pid_t grandchild;
        read_exact(sync_r, &grandchild, sizeof grandchild);
        int status = wait_child_looping(loop, pid, 5000);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        sink_buf ob = { 0 };
        uint64_t t0 = now_ms();
        stdio_process_exited(io);
        while (now_ms() - t0 < 5000 && !drained) {
                ASSERT_OK(ev_loop_run_once(loop, 10));
                drain_fd(out_r, &ob);
        }
        uint64_t took = now_ms() - t0;
        (void) kill(grandchild, SIGKILL);
        ASSERT_EQ(drained, 1);
        ASSERT_TRUE(took >= 1000 && took < 4000);
        ASSERT_TRUE(ob.len == 4 && memcmp(ob.data, "bye\n", 4) == 0);
        sink_buf_done(&ob);
        cleanup_leftovers();
}

TEST(console_receive_without_runtime) {
        begin();
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdout_path = "", .terminal = true };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        const char *sock;
        ASSERT_OK(stdio_console_socket(io, &sock, &e));
        ASSERT_EQ(stdio_console_receive(io, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(stdio_after_start(io, &e), -1); /* no console */
        berr_free(e);
        cleanup_leftovers();
}

/* ---- modes, errors, parsing ---- */

TEST(null_io_drains_at_start) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        _cleanup_stdio_ shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = "", .stdout_path = "", .stderr_path = NULL };
        ASSERT_OK(stdio_new(loop, &cfg, &io, &e));
        for (int i = 0; i < 3; i++)
                ASSERT_EQ(stdio_child_fd(io, i), -1);
        int drained = 0;
        stdio_on_drained(io, on_drained, &drained);
        ASSERT_EQ(drained, 0);
        ASSERT_OK(stdio_after_start(io, &e));
        ASSERT_EQ(drained, 0); /* never synchronously */
        ASSERT_OK(ev_loop_run_once(loop, 100));
        ASSERT_EQ(drained, 1);
        ASSERT_OK(stdio_resize(io, 10, 10, &e)); /* no terminal: nothing to do */
        ASSERT_OK(stdio_close_stdin(io));
        stdio_process_exited(io);
}

TEST(bad_schemes_and_paths) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        const char *bad[] = { "http://example.com/x", "tcp://127.0.0.1:1", "file://hostonly", "file:x",
                              "binary:relative", "file:///a/%zz" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                shim_stdio *io = NULL;
                berr *e = NULL;
                stdio_config cfg = { .stdout_path = bad[i] };
                if (stdio_new(loop, &cfg, &io, &e) != -1)
                        TAP_FAIL("%s accepted", bad[i]);
                ASSERT_NULL(io);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                berr_free(e);
        }
        /* A stdin that is not a FIFO, and one that does not exist. */
        shim_stdio *io = NULL;
        berr *e = NULL;
        stdio_config cfg = { .stdin_path = "/dev/null", .stdout_path = "" };
        ASSERT_EQ(stdio_new(loop, &cfg, &io, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        e = NULL;
        cfg.stdin_path = "/nonexistent/stdin";
        ASSERT_EQ(stdio_new(loop, &cfg, &io, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_free(e);
}

TEST(uri_parsing) {
        const char *rest;
        ASSERT_NULL(stdio_uri_scheme("/run/containerd/fifo/1/x-stdout", &rest));
        ASSERT_NULL(stdio_uri_scheme("", &rest));
        ASSERT_NULL(stdio_uri_scheme("a b:c", &rest));
        ASSERT_NULL(stdio_uri_scheme("1x:y", &rest));
        _cleanup_free_ char *s1 = stdio_uri_scheme("FILE:///x", &rest);
        ASSERT_STREQ(s1, "file");
        ASSERT_STREQ(rest, "///x");
        _cleanup_free_ char *s2 = stdio_uri_scheme("my+log.v2://x", &rest);
        ASSERT_STREQ(s2, "my+log.v2");

        _cleanup_free_ char *path = NULL, *query = NULL;
        ASSERT_OK(stdio_uri_split("//host/usr/bin/my%20logger?a=1&b=x%26y&c&&d=e+f#frag", &path, &query));
        ASSERT_STREQ(path, "/usr/bin/my logger");
        ASSERT_STREQ(query, "a=1&b=x%26y&c&&d=e+f");
        _cleanup_strv_free_ char **args = NULL;
        ASSERT_OK(stdio_uri_query_args(query, &args));
        ASSERT_EQ(strv_length(args), 8);
        const char *want[] = { "a", "1", "b", "x&y", "c", "", "d", "e f" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                ASSERT_STREQ(args[i], want[i]);

        _cleanup_free_ char *p2 = NULL, *q2 = NULL;
        ASSERT_OK(stdio_uri_split("///var/log/x.log", &p2, &q2));
        ASSERT_STREQ(p2, "/var/log/x.log");
        ASSERT_STREQ(q2, "");
        char *p3 = NULL;
        ASSERT_EQ(stdio_uri_split("///a%2", &p3, NULL), -1);
        ASSERT_NULL(p3);
}
