#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/oci-detect.h"
#include "shim/oci.h"
#include "shim/sealed-runtime.h"

const char *oci_default_binary(oci_choice *ret_choice, const char **ret_reason) {
        bool crun;
        const char *binary = oci_detect_default(&crun, ret_reason);
        *ret_choice = crun ? OCI_CHOICE_CRUN : OCI_CHOICE_RUNC;
        return binary;
}

char *oci_default_root(const char *binary) {
        const char *base = strrchr(binary, '/');
        base = base ? base + 1 : binary;
        if (strcmp(base, "runc") == 0 || base[0] == '\0')
                return xstrdup("/run/containerd/runc");
        return xasprintf("/run/containerd/%s", base);
}

void oci_runtime_done(oci_runtime *rt) {
        free(rt->binary);
        free(rt->root);
        free(rt->log_path);
        free(rt->criu_path);
        *rt = (oci_runtime) { 0 };
}

/* The message of the last "level":"error" line in log.json (runc and crun both log JSON lines there). */
static char *last_log_error(const char *log_path) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (!log_path || read_file(log_path, &data, &len, 4u << 20, NULL) < 0)
                return NULL;
        char *found = NULL;
        char *save = NULL;
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *j = json_loads(line, 0, NULL);
                if (!j)
                        continue;
                const char *level = json_string_value(json_object_get(j, "level"));
                const char *msg = json_string_value(json_object_get(j, "msg"));
                if (level && msg && strcmp(level, "error") == 0) {
                        free(found);
                        found = xstrdup(msg);
                }
                json_decref(j);
        }
        return found;
}

/* The runtime binary's absolute path, looked up in PATH once per name for the life of the shim: execvp would
 * try every PATH directory before the right one on each of the several runtime calls per container. */
typedef struct path_cache_entry {
        struct path_cache_entry *next;
        char *name;
        char *path;
} path_cache_entry;

static path_cache_entry *path_cache;

/* NULL when binary already has a slash or is not found (then execvp decides, and reports). */
static const char *resolved_binary(const char *binary) {
        if (!binary || strchr(binary, '/'))
                return NULL;
        for (path_cache_entry *e = path_cache; e; e = e->next)
                if (strcmp(e->name, binary) == 0)
                        return e->path;
        char *found = oci_binary_resolve(binary);
        if (found && found[0] != '/') {
                free(found); /* found through a relative PATH entry, which depends on the cwd: execvp decides */
                return NULL;
        }
        if (!found)
                return NULL;
        path_cache_entry *e = xmalloc(sizeof *e);
        *e = (path_cache_entry) { .next = path_cache, .name = xstrdup(binary), .path = found };
        path_cache = e;
        return e->path;
}

static _noreturn_ void exec_child(const oci_runtime *rt, const char *exec_path, const char *const *argv,
                                  int stdio[3]) {
        /* Die with the shim rather than outlive it half-way through a create. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDWR);
        for (int i = 0; i < 3; i++) {
                int fd = stdio[i] >= 0 ? stdio[i] : devnull;
                if (fd == i) {
                        /* Already in place: just make sure it survives exec. */
                        fcntl(fd, F_SETFD, 0);
                } else if (dup2(fd, i) < 0)
                        _exit(127);
        }
        unsetenv("NOTIFY_SOCKET");

        const char *args[64];
        size_t n = 0;
        args[n++] = rt->binary;
        args[n++] = "--root";
        args[n++] = rt->root;
        if (rt->log_path) {
                args[n++] = "--log";
                args[n++] = rt->log_path;
                args[n++] = "--log-format";
                args[n++] = "json";
        }
        if (rt->systemd_cgroup)
                args[n++] = "--systemd-cgroup";
        for (size_t i = 0; argv[i] && n < ELEMENTSOF(args) - 1; i++)
                args[n++] = argv[i];
        args[n] = NULL;
        /* berthd's sealed copy when it is this very file (sealed-runtime.h); on any failure, the file. */
        int sealed_fd = shim_sealed_runtime_fd(exec_path ? exec_path : rt->binary);
        if (sealed_fd >= 0)
                fexecve(sealed_fd, (char *const *) args, environ);
        /* A cached path that went away since (the runtime was reinstalled elsewhere): fall back to the search. */
        if (exec_path)
                execv(exec_path, (char *const *) args);
        execvp(rt->binary, (char *const *) args);
        dprintf(STDERR_FILENO, "exec %s: %s\n", rt->binary, strerror(errno));
        _exit(127);
}

int oci_run(const oci_runtime *rt, const char *const *argv, const oci_exec_opts *opts, char **ret_output, berr **err) {
        int stdio[3] = { opts->stdio[0], opts->stdio[1], opts->stdio[2] };
        int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
        if (opts->stdin_data && pipe2(in_pipe, O_CLOEXEC) < 0)
                return berr_errno(err, errno, "pipe");
        if (opts->capture_stdout && pipe2(out_pipe, O_CLOEXEC) < 0) {
                safe_close(in_pipe[0]);
                safe_close(in_pipe[1]);
                return berr_errno(err, errno, "pipe");
        }
        if (opts->stdin_data)
                stdio[0] = in_pipe[0];
        if (opts->capture_stdout)
                stdio[1] = out_pipe[1];

        const char *exec_path = resolved_binary(rt->binary);
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                safe_close(in_pipe[0]);
                safe_close(in_pipe[1]);
                safe_close(out_pipe[0]);
                safe_close(out_pipe[1]);
                return berr_errno(err, e, "fork %s", rt->binary);
        }
        if (pid == 0)
                exec_child(rt, exec_path, argv, stdio);

        safe_close(in_pipe[0]);
        safe_close(out_pipe[1]);
        if (opts->stdin_data) {
                /* Small payloads (a process spec, resources JSON): well under the pipe buffer or read promptly. */
                (void) write_all(in_pipe[1], opts->stdin_data, opts->stdin_len);
                safe_close(in_pipe[1]);
        }
        /* Work that can overlap the runtime command (it takes tens of ms); its failure is reported after the
         * command was waited for, so the child is always reaped. */
        berr *side_err = NULL;
        int side_r = opts->while_running ? opts->while_running(opts->while_running_data, &side_err) : 0;
        if (side_r < 0 && !side_err)
                berr_set(&side_err, BERR_INTERNAL, 0, "%s: preparing alongside the runtime failed", opts->op);
        char *output = NULL;
        size_t out_len = 0, out_cap = 0;
        if (opts->capture_stdout) {
                for (;;) {
                        if (out_cap - out_len < 4096) {
                                out_cap = out_cap ? out_cap * 2 : 8192;
                                output = xrealloc(output, out_cap);
                        }
                        ssize_t r = read(out_pipe[0], output + out_len, out_cap - out_len - 1);
                        if (r < 0 && errno == EINTR)
                                continue;
                        if (r <= 0)
                                break;
                        out_len += (size_t) r;
                }
                safe_close(out_pipe[0]);
                output[out_len] = '\0';
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR) {
                        free(output);
                        berr_free(side_err);
                        return berr_errno(err, errno, "waitpid %s", rt->binary);
                }
        }
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (side_r < 0 && ok) {
                free(output);
                if (err)
                        *err = side_err;
                else
                        berr_free(side_err);
                return -1;
        }
        /* When both failed, the runtime's own error says more. */
        berr_free(side_err);
        if (ok) {
                if (ret_output)
                        *ret_output = output;
                else
                        free(output);
                return 0;
        }
        free(output);
        _cleanup_free_ char *msg = last_log_error(rt->log_path);
        if (msg)
                return berr_set(err, BERR_UNKNOWN, 0, "OCI runtime %s failed: %s", opts->op, msg);
        if (WIFEXITED(status))
                return berr_set(err, BERR_UNKNOWN, 0, "OCI runtime %s failed: %s exited with status %d", opts->op,
                                rt->binary, WEXITSTATUS(status));
        return berr_set(err, BERR_UNKNOWN, 0, "OCI runtime %s failed: %s killed by signal %d", opts->op, rt->binary,
                        WTERMSIG(status));
}

char *oci_criu_unusable_reason(const char *criu_path) {
        const char *criu = criu_path && criu_path[0] ? criu_path : "criu";
        int out[2];
        if (pipe2(out, O_CLOEXEC) < 0)
                return NULL;
        pid_t pid = fork();
        if (pid < 0) {
                close(out[0]);
                close(out[1]);
                return NULL;
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int devnull = open("/dev/null", O_RDONLY);
                dup2(devnull, 0);
                dup2(out[1], 1);
                dup2(out[1], 2);
                execlp(criu, criu, "check", (char *) NULL);
                dprintf(1, "Error: cannot run %s: %s\n", criu, strerror(errno));
                _exit(127);
        }
        close(out[1]);
        char buf[4096];
        size_t len = 0;
        ssize_t r;
        while (len < sizeof buf - 1 && ((r = read(out[0], buf + len, sizeof buf - 1 - len)) > 0 || (r < 0 && errno == EINTR)))
                if (r > 0)
                        len += (size_t) r;
        close(out[0]);
        buf[len] = '\0';
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return NULL;
        /* The first "Error" line says why (here: criu cannot parse this kernel's vdso). */
        char *line = strstr(buf, "Error");
        if (!line)
                line = buf;
        line[strcspn(line, "\n")] = '\0';
        return xstrdup(line[0] ? line : "criu check failed");
}

int oci_command(const oci_runtime *rt, const char *const *argv, berr **err) {
        oci_exec_opts o = { .stdio = { -1, -1, -1 }, .op = argv[0] };
        return oci_run(rt, argv, &o, NULL, err);
}
