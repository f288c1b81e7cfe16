/* berth-logger: the binary:// logger berthd names in a task's stdout URI. The shim starts it (shim-v2.md §5.4)
 * as `berth-logger dir DIR max-size N max-files N` with only CONTAINER_ID and CONTAINER_NAMESPACE in its
 * environment, fd 3 = the container's stdout, fd 4 = its stderr, fd 5 = readiness (closed once the log file is
 * open). It belongs to the shim, not to berthd, so logs keep being written while berthd restarts.
 *
 * It exits when both streams reached EOF, or on SIGTERM/SIGINT after taking what is already in the pipes.
 * A write error (disk full) drops records but never stops the reading: a logger that stopped reading would
 * block the container on its next write. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "basic/memory-trim.h"
#include "logs/logs.h"

#define FD_STDOUT 3
#define FD_STDERR 4
#define FD_READY 5
#define READ_SIZE (64 * 1024)
/* fdatasync after this long without one, or after this long idle. */
#define SYNC_INTERVAL_NS (5 * 1000000000LL)

static volatile sig_atomic_t terminating;

static void on_term(int sig) {
        terminating = 1;
}

static void report(const char *what, berr *e) {
        /* stderr is /dev/null under the shim; still useful when run by hand. */
        fprintf(stderr, "berth-logger: %s: %s\n", what, e ? e->msg : strerror(errno));
}

/* Reads once from fd; returns bytes, 0 at EOF, -1 when nothing is there (EAGAIN) or on error. */
static ssize_t pump(log_writer *w, int fd, log_stream s, char *buf) {
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n > 0) {
                _cleanup_berr_ berr *e = NULL;
                if (log_writer_feed(w, s, buf, (size_t) n, log_now_ns(), &e) < 0)
                        report("write", e);
        }
        return n;
}

static void finish_stream(log_writer *w, int *fd, log_stream s) {
        _cleanup_berr_ berr *e = NULL;
        if (log_writer_flush_stream(w, s, log_now_ns(), &e) < 0)
                report("write", e);
        *fd = safe_close(*fd);
}

int main(int argc, char **argv) {
        _cleanup_berr_ berr *e = NULL;
        _cleanup_free_ char *dir = NULL;
        log_opts opts;
        const char *id = getenv("CONTAINER_ID"), *ns = getenv("CONTAINER_NAMESPACE");
        if (log_logger_args_parse(argc - 1, argv + 1, ns, id, &dir, &opts, &e) < 0) {
                report("invalid arguments", e);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        /* The stop signals stay blocked except inside ppoll(), so one arriving just before the wait is not
         * missed (it interrupts the ppoll instead). */
        sigset_t stop, waitmask;
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        sigprocmask(SIG_BLOCK, &stop, &waitmask);
        sigdelset(&waitmask, SIGTERM);
        sigdelset(&waitmask, SIGINT);
        struct sigaction sa = { .sa_handler = on_term };
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        log_writer *w;
        if (log_writer_open(dir, id, &opts, &w, &e) < 0) {
                report("cannot open the log", e);
                return 1;
        }
        (void) close(FD_READY);

        int fds[_LOG_STREAM_MAX] = { FD_STDOUT, FD_STDERR };
        for (int i = 0; i < _LOG_STREAM_MAX; i++) {
                int fl = fcntl(fds[i], F_GETFL);
                if (fl < 0) {
                        fds[i] = -1; /* not given */
                        continue;
                }
                (void) fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
                (void) fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        }
        char *buf = xmalloc(READ_SIZE);
        /* One logger runs per container for its whole life: drop start-up pages now, and again after each sync
         * (the logger has then been quiet for a while). */
        memory_trim();
        int64_t last_sync = log_now_ns();
        bool dirty = false;
        while ((fds[0] >= 0 || fds[1] >= 0) && !terminating) {
                struct pollfd p[_LOG_STREAM_MAX];
                for (int i = 0; i < _LOG_STREAM_MAX; i++)
                        p[i] = (struct pollfd) { .fd = fds[i], .events = POLLIN };
                struct timespec sync_wait = { .tv_sec = SYNC_INTERVAL_NS / 1000000000LL };
                int r = ppoll(p, _LOG_STREAM_MAX, dirty ? &sync_wait : NULL, &waitmask);
                if (r < 0 && errno != EINTR)
                        break;
                if (r == 0 || (dirty && log_now_ns() - last_sync >= SYNC_INTERVAL_NS)) {
                        (void) log_writer_sync(w, NULL);
                        last_sync = log_now_ns();
                        dirty = false;
                        memory_trim();
                }
                for (int i = 0; r > 0 && i < _LOG_STREAM_MAX; i++) {
                        if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = pump(w, fds[i], (log_stream) i, buf);
                        if (n > 0)
                                dirty = true;
                        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                                finish_stream(w, &fds[i], (log_stream) i);
                }
        }
        /* Asked to stop: take what the pipes already hold, without waiting for more. */
        for (int i = 0; i < _LOG_STREAM_MAX; i++) {
                while (fds[i] >= 0 && pump(w, fds[i], (log_stream) i, buf) > 0)
                        ;
                if (fds[i] >= 0)
                        finish_stream(w, &fds[i], (log_stream) i);
        }
        free(buf);
        if (log_writer_close(w, log_now_ns(), &e) < 0) {
                report("close", e);
                return 1;
        }
        return 0;
}
