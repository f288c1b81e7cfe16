/* Running the shim binary's `start` and `delete` actions without blocking the loop (shim-v2.md §3.2, §3.8): the
 * child's stdout (for `start` together with stderr: containerd's CombinedOutput) is read as it comes; the action is done when
 * the child has exited AND the pipe reached EOF (a shim server that kept the pipe would otherwise be waited for
 * forever, so the timeout covers both). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "runtime/runtime-internal.h"

#define OUTPUT_MAX (1u << 20)

typedef struct action {
        char *what; /* "<shim> start" for messages */
        pid_t pid;
        ev_source *child, *out, *timer;
        int out_fd;
        char *buf;
        size_t len;
        bool exited, eof;
        int exit_code;
        shim_action_fn cb;
        void *userdata;
} action;

static void action_free(action *a) {
        ev_source_free(a->child);
        ev_source_free(a->out);
        ev_source_free(a->timer);
        safe_close(a->out_fd);
        free(a->buf);
        free(a->what);
        free(a);
}

/* Reports once; the struct lives on while the child is still to be reaped (after a timeout kill). */
static void action_report(action *a, int exit_code) {
        shim_action_fn cb = a->cb;
        void *userdata = a->userdata;
        a->cb = NULL;
        a->buf = xrealloc(a->buf, a->len + 1);
        a->buf[a->len] = '\0';
        char *out = TAKE_PTR(a->buf);
        size_t len = a->len;
        a->len = 0;
        ev_source_free(a->out);
        a->out = NULL;
        a->out_fd = safe_close(a->out_fd);
        ev_source_free(a->timer);
        a->timer = NULL;
        if (!a->child)
                action_free(a);
        cb(exit_code, out, len, userdata);
        free(out);
}

static void action_maybe_done(action *a) {
        if (a->exited && a->eof)
                action_report(a, a->exit_code);
}

static int on_output(ev_source *s, int fd, uint32_t revents, void *userdata) {
        action *a = userdata;
        char chunk[4096];
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0)
                        break;
                if (a->len + (size_t) n <= OUTPUT_MAX) {
                        a->buf = xrealloc(a->buf, a->len + (size_t) n + 1);
                        memcpy(a->buf + a->len, chunk, (size_t) n);
                        a->len += (size_t) n;
                }
        }
        ev_source_free(a->out);
        a->out = NULL;
        a->out_fd = safe_close(a->out_fd);
        a->eof = true;
        action_maybe_done(a);
        return 0;
}

static int on_child(ev_source *s, pid_t pid, int status, void *userdata) {
        action *a = userdata;
        ev_source_free(a->child);
        a->child = NULL;
        a->pid = 0;
        a->exited = true;
        a->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (!a->cb) { /* already reported (timed out): only the reaping was left */
                action_free(a);
                return 0;
        }
        action_maybe_done(a);
        return 0;
}

static int on_timeout(ev_source *s, void *userdata) {
        action *a = userdata;
        log_warn("%s did not finish in time%s", a->what, a->exited ? " (its output pipe stayed open)" : "");
        if (a->pid > 0)
                kill(a->pid, SIGKILL); /* the child source still reaps it */
        free(a->buf);
        a->buf = xasprintf("%s timed out", a->what);
        a->len = strlen(a->buf);
        action_report(a, -1);
        return 0;
}

extern char **environ;

/* berthd's environment with TTRPC_ADDRESS and GOMAXPROCS set as containerd sets them for its shims, and extra
 * (may be NULL) added. */
static char **shim_environment(const char *ttrpc_address, const char *extra) {
        size_t n = 0;
        for (char **e = environ; e && *e; e++)
                n++;
        char **env = xcalloc(n + 4, sizeof *env);
        size_t k = 0;
        for (char **e = environ; e && *e; e++)
                if (strncmp(*e, "TTRPC_ADDRESS=", 14) != 0 && strncmp(*e, "GOMAXPROCS=", 11) != 0 &&
                    strncmp(*e, "BERTH_SEALED_RUNTIME=", 21) != 0)
                        env[k++] = xstrdup(*e);
        env[k++] = xasprintf("TTRPC_ADDRESS=%s", ttrpc_address ? ttrpc_address : "");
        env[k++] = xstrdup("GOMAXPROCS=2");
        if (extra)
                env[k++] = xstrdup(extra);
        env[k] = NULL;
        return env;
}

static void strv_free_all(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

/* posix_spawn (a vfork-style clone in glibc): no copy of berthd's page tables on every container start. The
 * child gets its own process group, as containerd does, so a terminal's signals to berthd do not reach shims;
 * an empty signal mask and default dispositions (berthd blocks the signals it reads through signalfds); the
 * bundle as its working directory. */
static int spawn_shim(const char *shim, char *const *argv, const char *bundle, int in_fd, int out_fd, int err_fd,
                      const char *ttrpc_address, int sealed_fd, const char *sealed_env, pid_t *ret_pid) {
        posix_spawnattr_t attr;
        posix_spawn_file_actions_t fa;
        int r = posix_spawnattr_init(&attr);
        if (r != 0)
                return r;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                posix_spawnattr_destroy(&attr);
                return r;
        }
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        char **env = shim_environment(ttrpc_address, sealed_fd >= 0 ? sealed_env : NULL);
        if ((r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                         POSIX_SPAWN_SETSIGDEF)) == 0 &&
            (r = posix_spawnattr_setpgroup(&attr, 0)) == 0 && (r = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
            (r = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO)) == 0 &&
            (r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO)) == 0 &&
            (r = err_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO)
                             : posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0)) == 0 &&
            /* dup2 onto itself clears close-on-exec in the child only (glibc >= 2.29) */
            (r = sealed_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, sealed_fd, sealed_fd) : 0) == 0 &&
            (r = posix_spawn_file_actions_addchdir_np(&fa, bundle)) == 0)
                r = posix_spawn(ret_pid, shim, &fa, &attr, argv, env);
        strv_free_all(env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

int shim_action_run(runtime *rt, const char *shim, const char *ns, const char *id, const char *bundle,
                    const char *action_name, const uint8_t *stdin_data, size_t stdin_len, int stderr_fd,
                    int64_t timeout_ns, shim_action_fn cb, void *userdata, berr **err) {
        /* Runtime options are a few hundred bytes; they must fit the pipe so writing them cannot block. */
        if (stdin_len > 16384)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "runtime options too large (%zu bytes)",
                                stdin_len);
        int in_pipe[2], out_pipe[2];
        if (pipe2(in_pipe, O_CLOEXEC) < 0)
                return berr_errno(err, errno, "pipe");
        if (pipe2(out_pipe, O_CLOEXEC) < 0) {
                int e = errno;
                close(in_pipe[0]);
                close(in_pipe[1]);
                return berr_errno(err, e, "pipe");
        }
        if (stdin_len > 0)
                (void) write_all(in_pipe[1], stdin_data, stdin_len);
        in_pipe[1] = safe_close(in_pipe[1]);

        const char *argv[16];
        size_t n = 0;
        argv[n++] = shim;
        argv[n++] = "-namespace";
        argv[n++] = ns;
        argv[n++] = "-address";
        argv[n++] = rt->address;
        argv[n++] = "-publish-binary";
        argv[n++] = rt->self_path;
        argv[n++] = "-id";
        argv[n++] = id;
        if (bundle && strcmp(action_name, "delete") == 0) {
                argv[n++] = "-bundle";
                argv[n++] = bundle;
        }
        argv[n++] = action_name;
        argv[n] = NULL;

        /* Our own shim's server runs the OCI runtime from berthd's sealed copy (sealed-runtime.c). */
        _cleanup_free_ char *sealed_env = NULL;
        const char *base = strrchr(shim, '/');
        int sealed_fd = strcmp(action_name, "start") == 0 && strcmp(base ? base + 1 : shim, SHIM_BERTH_BINARY) == 0
                                ? runtime_sealed_oci(rt, &sealed_env)
                                : -1;
        pid_t pid = 0;
        int e = spawn_shim(shim, (char *const *) argv, bundle, in_pipe[0], out_pipe[1],
                           stderr_fd == SHIM_STDERR_COMBINED ? out_pipe[1] : stderr_fd, rt->ttrpc_address, sealed_fd,
                           sealed_env, &pid);
        if (e != 0) {
                close(in_pipe[0]);
                close(out_pipe[0]);
                close(out_pipe[1]);
                return berr_errno(err, e, "start %s %s (in %s)", shim, action_name, bundle);
        }
        close(in_pipe[0]);
        close(out_pipe[1]);
        fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);

        action *a = xcalloc(1, sizeof *a);
        a->what = xasprintf("%s %s (%s/%s)", shim, action_name, ns, id);
        a->pid = pid;
        a->out_fd = out_pipe[0];
        a->cb = cb;
        a->userdata = userdata;
        int r;
        if ((r = ev_add_child(rt->loop, &a->child, pid, on_child, a)) < 0 ||
            (r = ev_add_io(rt->loop, &a->out, a->out_fd, EPOLLIN, on_output, a)) < 0 ||
            (r = ev_add_timer(rt->loop, &a->timer, (uint64_t) (timeout_ns / 1000), on_timeout, a)) < 0) {
                kill(pid, SIGKILL);
                if (!a->child)
                        (void) waitpid(pid, NULL, 0);
                action_free(a);
                return berr_errno(err, -r, "watch %s", shim);
        }
        return 0;
}
