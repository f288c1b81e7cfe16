/* runc's `start` without running runc. For runc 1.x, `runc start <id>` of a created container is a handshake on
 * the FIFO <root>/<id>/exec.fifo: the container's init blocks writing one byte into it and execs the process once
 * the byte was read; runc start reads it, removes the FIFO (which is how runc tells "running" from "created"
 * afterwards) and exits. Its poststart hooks run during `runc create`, and NOTIFY_SOCKET is never passed on by
 * this shim. Doing the handshake here saves a runc process (several ms of its start-up) per container start.
 * Anything unexpected falls back to running `runc start`. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/log.h"
#include "shim/oci.h"

#define POLL_SLICE_MS 100

static bool is_runc(const char *binary) {
        const char *base = strrchr(binary, '/');
        return strcmp(base ? base + 1 : binary, "runc") == 0;
}

/* Alive as runc checks it: not gone and not a zombie (it is our child: the shim is a subreaper). */
static bool process_alive(pid_t pid) {
        siginfo_t si = { 0 };
        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
                return false;
        return kill(pid, 0) == 0 || errno != ESRCH;
}

/* 1: read the byte; 0: the writer closed without one; -1: nothing yet. */
static int read_token(int fd) {
        char c;
        ssize_t n;
        do
                n = read(fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n > 0)
                return 1;
        return n == 0 ? 0 : -1;
}

int runc_start_direct(const oci_runtime *rt, const char *id, pid_t init_pid, berr **err) {
        if (!rt->binary || !is_runc(rt->binary) || init_pid <= 0)
                return 0;
        _cleanup_free_ char *path = xasprintf("%s/%s/exec.fifo", rt->root, id);
        /* Nonblocking: opening never waits for the writer, and a dead init cannot hang us here. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                log_debug("start %s: no %s (%s), running runc start", id, path, strerror(errno));
                return 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
                return 0;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int r = poll(&pfd, 1, POLL_SLICE_MS);
                if (r < 0 && errno != EINTR)
                        return berr_errno(err, errno, "start %s: poll %s", id, path);
                if (r > 0) {
                        int t = read_token(fd);
                        if (t > 0)
                                break;
                        if (t == 0)
                                return berr_set(err, BERR_UNKNOWN, 0,
                                                "OCI runtime start failed: cannot start an already running container");
                        continue;
                }
                if (r == 0 && !process_alive(init_pid)) {
                        /* It may have got the byte through and exited since: one last look, as runc does. */
                        if (read_token(fd) > 0)
                                break;
                        return berr_set(err, BERR_UNKNOWN, 0,
                                        "OCI runtime start failed: container process is already dead");
                }
        }
        if (unlink(path) < 0 && errno != ENOENT)
                log_warn("start %s: remove %s: %s", id, path, strerror(errno));
        return 1;
}
