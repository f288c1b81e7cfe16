/* binary:// loggers (shim-v2.md §5.4): `path k v k2 v2` with only CONTAINER_ID and CONTAINER_NAMESPACE in its
 * environment, fd 3 = stdout pipe, fd 4 = stderr pipe, fd 5 = readiness pipe it writes to or closes. Stopping
 * it is asynchronous (grace period, SIGTERM, 12 s, SIGKILL) and may outlive the process's shim_stdio, so the
 * object frees itself once the loop delivered the logger's exit status. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "shim/stdio-internal.h"
#include "basic/log.h"
#include "basic/strv.h"

#define LOGGER_READY_TIMEOUT_MS 10000
/* Time for the logger to read what is left in its pipes and exit on EOF by itself. */
#define LOGGER_DRAIN_USEC (2000 * 1000ULL)
/* containerd's binaryIOProcTermTimeout. */
#define LOGGER_TERM_USEC (12 * 1000 * 1000ULL)

typedef enum logger_phase {
        LOGGER_RUNNING,
        LOGGER_DRAINING, /* pipes closed on our side, waiting for it to exit by itself */
        LOGGER_TERMINATING,
        LOGGER_KILLED,
        LOGGER_EXITED,
} logger_phase;

struct stdio_logger {
        pid_t pid;
        int ready_fd; /* read end of its readiness pipe until stdio_logger_wait_ready saw it ready; else -1 */
        logger_phase phase;
        bool released;
        ev_source *child;
        ev_source *timer;
};

static unsigned loggers_pending;

unsigned stdio_loggers_pending(void) {
        return loggers_pending;
}

pid_t stdio_logger_pid(const stdio_logger *l) {
        return l ? l->pid : 0;
}

static void logger_free(stdio_logger *l) {
        safe_close(l->ready_fd);
        ev_source_free(l->child);
        ev_source_free(l->timer);
        free(l);
}

static int on_logger_exit(ev_source *s, pid_t pid, int status, void *userdata) {
        stdio_logger *l = userdata;
        log_debug("stdio: logger %d exited (status 0x%x)", pid, (unsigned) status);
        l->phase = LOGGER_EXITED;
        loggers_pending--;
        if (l->released)
                logger_free(l);
        else if (l->timer)
                (void) ev_timer_disarm(l->timer);
        return 0;
}

static int on_logger_timer(ev_source *s, void *userdata) {
        stdio_logger *l = userdata;
        switch (l->phase) {
        case LOGGER_DRAINING:
                log_debug("stdio: logger %d still running, sending SIGTERM", l->pid);
                (void) kill(l->pid, SIGTERM);
                l->phase = LOGGER_TERMINATING;
                return ev_timer_set(l->timer, LOGGER_TERM_USEC);
        case LOGGER_TERMINATING:
                log_warn("stdio: logger %d did not exit after SIGTERM, killing it", l->pid);
                (void) kill(l->pid, SIGKILL);
                l->phase = LOGGER_KILLED;
                return 0;
        case LOGGER_RUNNING:
        case LOGGER_KILLED:
        case LOGGER_EXITED:
                break;
        }
        return 0;
}

static void logger_begin_stop(stdio_logger *l, uint64_t grace_usec) {
        if (l->phase != LOGGER_RUNNING)
                return;
        l->phase = LOGGER_DRAINING;
        int r = ev_timer_set(l->timer, grace_usec);
        if (r < 0) {
                log_debug("stdio: cannot time logger %d's shutdown (%s), killing it", l->pid, strerror(-r));
                (void) kill(l->pid, SIGKILL);
                l->phase = LOGGER_KILLED;
        }
}

void stdio_logger_shutdown(stdio_logger *l) {
        if (l)
                logger_begin_stop(l, LOGGER_DRAIN_USEC);
}

void stdio_logger_release(stdio_logger *l) {
        if (!l)
                return;
        l->released = true;
        if (l->phase == LOGGER_EXITED) {
                logger_free(l);
                return;
        }
        logger_begin_stop(l, LOGGER_DRAIN_USEC);
}

/* Between fork and exec: async-signal-safe calls only. */
static _noreturn_ void logger_exec(const char *path, char *const *argv, char *const *envp, int out_r, int err_r,
                                   int ready_w, int devnull, int exec_err) {
        /* Move everything above the fds we are about to fill, so no dup2 overwrites a source. */
        int src[5] = { out_r, err_r, ready_w, devnull, exec_err };
        for (size_t i = 0; i < ELEMENTSOF(src); i++) {
                src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
                if (src[i] < 0)
                        goto fail;
        }
        exec_err = src[4];
        for (int fd = 0; fd < 3; fd++)
                if (dup2(src[3], fd) < 0)
                        goto fail;
        for (int i = 0; i < 3; i++)
                if (dup2(src[i], 3 + i) < 0)
                        goto fail;

        /* The shim blocks signals it reads through signalfds; a fresh program must not inherit that. */
        sigset_t none;
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) signal(SIGPIPE, SIG_DFL);

        execve(path, argv, envp);
fail:;
        int e = errno;
        (void) !write(exec_err, &e, sizeof e);
        _exit(127);
}

static int spawn(const char *path, char *const *args, const char *container_id, const char *ns, int out_r,
                 int err_r, int ready_w, pid_t *ret_pid, berr **err) {
        _cleanup_strv_free_ char **argv = NULL;
        strv_extend(&argv, path);
        for (char *const *a = args; a && *a; a++)
                strv_extend(&argv, *a);
        _cleanup_strv_free_ char **envp = NULL;
        strv_push(&envp, xasprintf("CONTAINER_ID=%s", container_id ? container_id : ""));
        strv_push(&envp, xasprintf("CONTAINER_NAMESPACE=%s", ns ? ns : ""));

        _cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0)
                return berr_errno(err, errno, "stdio: open /dev/null");
        int exec_pipe[2];
        if (pipe2(exec_pipe, O_CLOEXEC) < 0)
                return berr_errno(err, errno, "stdio: pipe");
        _cleanup_close_ int exec_r = exec_pipe[0];
        _cleanup_close_ int exec_w = exec_pipe[1];

        pid_t pid = fork();
        if (pid < 0)
                return berr_errno(err, errno, "stdio: fork logger");
        if (pid == 0)
                logger_exec(path, argv, envp, out_r, err_r, ready_w, devnull, exec_w);

        exec_w = safe_close(exec_w);
        int e = 0;
        ssize_t n;
        do
                n = read(exec_r, &e, sizeof e);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t) sizeof e) {
                /* Nothing else waits for it yet, and the loop is not running inside this call. */
                (void) waitpid(pid, NULL, 0);
                return berr_errno(err, e, "stdio: start logger %s", path);
        }
        *ret_pid = pid;
        return 0;
}

/* containerd waits for fd 5 without a bound; a logger that never gets ready should not hang the shim. */
static int wait_ready(int ready_r, pid_t pid, berr **err) {
        uint64_t deadline = now_monotonic_usec() + LOGGER_READY_TIMEOUT_MS * 1000ULL;
        for (;;) {
                uint64_t now = now_monotonic_usec();
                if (now >= deadline)
                        return berr_set(err, BERR_DEADLINE_EXCEEDED, 0, "stdio: logger %d not ready after %d s",
                                        pid, LOGGER_READY_TIMEOUT_MS / 1000);
                struct pollfd pfd = { .fd = ready_r, .events = POLLIN };
                int r = poll(&pfd, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        return berr_errno(err, errno, "stdio: wait for logger");
                if (r > 0)
                        return 0; /* a byte, or fd 5 closed (also by the logger exiting): either is "ready" */
        }
}

int stdio_logger_start(ev_loop *loop, const char *path, char *const *args, const char *container_id,
                       const char *ns, int out_r, int err_r, stdio_logger **ret, berr **err) {
        _cleanup_close_ int out = out_r;
        _cleanup_close_ int errfd = err_r;
        if (!path || path[0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: logger path '%s' is not absolute",
                                path ? path : "");
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) < 0)
                return berr_errno(err, errno, "stdio: pipe");
        _cleanup_close_ int ready_r = ready[0];
        _cleanup_close_ int ready_w = ready[1];

        pid_t pid = 0;
        if (spawn(path, args, container_id, ns, out, errfd, ready_w, &pid, err) < 0)
                return -1;
        /* The logger holds the read ends now; ours would keep the pipes alive after it is gone. */
        out = safe_close(out);
        errfd = safe_close(errfd);
        ready_w = safe_close(ready_w);

        stdio_logger *l = xcalloc(1, sizeof *l);
        l->pid = pid;
        l->ready_fd = -1;
        loggers_pending++;
        int r = ev_add_timer(loop, &l->timer, EV_TIMER_DISARMED, on_logger_timer, l);
        if (r >= 0)
                r = ev_add_child(loop, &l->child, pid, on_logger_exit, l);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                loggers_pending--;
                logger_free(l);
                return berr_errno(err, -r, "stdio: watch logger");
        }
        l->ready_fd = TAKE_FD(ready_r);
        log_debug("stdio: logger %s started as %d", path, pid);
        *ret = l;
        return 0;
}

int stdio_logger_wait_ready(stdio_logger *l, berr **err) {
        if (!l || l->ready_fd < 0)
                return 0;
        int r = wait_ready(l->ready_fd, l->pid, err);
        l->ready_fd = safe_close(l->ready_fd);
        if (r < 0) {
                if (l->phase == LOGGER_RUNNING) {
                        (void) kill(l->pid, SIGKILL);
                        l->phase = LOGGER_KILLED;
                }
                return -1;
        }
        return 0;
}
