/* A process's standard IO (shim-v2.md §5.4): decides the mode from the stdout string, opens what the client
 * asked for, makes the runtime child's ends, and wires up the copying once the process started. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/stdio-internal.h"
#include "basic/log.h"
#include "basic/strv.h"

static const char *const stream_name[3] = { "stdin", "stdout", "stderr" };

/* Copies write into pipes and FIFOs whose readers may vanish. SIG_IGN would be inherited by every program the
 * shim executes (runc, the container); an empty handler is reset by execve, and the write fails with EPIPE. */
static void on_sigpipe(int sig) {
}

static void catch_sigpipe(void) {
        struct sigaction old;
        if (sigaction(SIGPIPE, NULL, &old) < 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
                return;
        struct sigaction sa = { .sa_handler = on_sigpipe, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGPIPE, &sa, NULL);
}

/* "fifo:///p" and "fifo:/p" name the same FIFO as "/p". */
static const char *strip_fifo_scheme(const char *path) {
        if (!path)
                return "";
        if (strncmp(path, "fifo://", 7) == 0)
                return path + 7;
        if (strncmp(path, "fifo:", 5) == 0)
                return path + 5;
        return path;
}

static int make_pipe(int p[2], berr **err) {
        if (pipe2(p, O_CLOEXEC) < 0)
                return berr_errno(err, errno, "stdio: pipe");
        return 0;
}

/* The runtime may run the process as another user (user namespaces): it must be able to use its ends. */
static int chown_child_end(shim_stdio *io, int fd, berr **err) {
        if (io->io_uid == 0 && io->io_gid == 0)
                return 0;
        if (fchown(fd, io->io_uid, io->io_gid) < 0)
                return berr_errno(err, errno, "stdio: chown pipe to %u:%u", (unsigned) io->io_uid,
                                  (unsigned) io->io_gid);
        return 0;
}

/* The stdin FIFO, read nonblocking, plus our own writer so a detaching client does not mean EOF. */
static int open_stdin_fifo(shim_stdio *io, const char *path, berr **err) {
        io->stdin_fifo = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (io->stdin_fifo < 0)
                return berr_errno(err, errno, "stdio: open stdin %s", path);
        struct stat st;
        if (fstat(io->stdin_fifo, &st) < 0)
                return berr_errno(err, errno, "stdio: stat stdin %s", path);
        if (!S_ISFIFO(st.st_mode))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: stdin %s is not a FIFO", path);
        io->stdin_writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (io->stdin_writer < 0)
                return berr_errno(err, errno, "stdio: open stdin %s for writing", path);
        return 0;
}

/* An output FIFO gets our own reader first (so the writer can be opened without a client reader, and writes
 * never fail with EPIPE when a client goes away); anything else is a file appended to. */
static stdio_sink *open_output(const char *path, const char *what, berr **err) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
                _cleanup_close_ int reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (reader < 0) {
                        berr_errno(err, errno, "stdio: open %s FIFO %s for reading", what, path);
                        return NULL;
                }
                int writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                if (writer < 0) {
                        berr_errno(err, errno, "stdio: open %s FIFO %s", what, path);
                        return NULL;
                }
                return stdio_sink_new(writer, TAKE_FD(reader), true);
        }
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                berr_errno(err, errno, "stdio: open %s %s", what, path);
                return NULL;
        }
        return stdio_sink_new(fd, -1, false);
}

static int mkdir_parents(const char *path, berr **err) {
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return berr_errno(err, errno, "stdio: mkdir %s", p);
                *s = '/';
        }
        return 0;
}

static int open_log_file(const char *path, berr **err) {
        if (mkdir_parents(path, err) < 0)
                return -1;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return berr_errno(err, errno, "stdio: open %s", path);
        return fd;
}

/* A pipe whose read end we copy from and whose write end the child gets. */
static int setup_output_pipe(shim_stdio *io, int which, stdio_sink *sink, berr **err) {
        int p[2];
        if (make_pipe(p, err) < 0) {
                stdio_sink_unref(sink);
                return -1;
        }
        io->child_fd[which] = p[1];
        io->pump[which] = stdio_pump_new(io, stream_name[which], p[0], sink, true);
        return chown_child_end(io, p[1], err);
}

static int setup_stdin_pipe(shim_stdio *io, const char *path, berr **err) {
        if (!path[0])
                return 0;
        if (open_stdin_fifo(io, path, err) < 0)
                return -1;
        int p[2];
        if (make_pipe(p, err) < 0)
                return -1;
        io->child_fd[0] = p[0];
        io->pump[0] = stdio_pump_new(io, "stdin", TAKE_FD(io->stdin_fifo), stdio_sink_new(p[1], -1, true), false);
        return chown_child_end(io, p[0], err);
}

static int setup_pipe_mode(shim_stdio *io, const char *in, const char *out, const char *errp, berr **err) {
        if (setup_stdin_pipe(io, in, err) < 0)
                return -1;
        stdio_sink *out_sink = NULL;
        if (out[0]) {
                out_sink = open_output(out, "stdout", err);
                if (!out_sink || setup_output_pipe(io, 1, out_sink, err) < 0)
                        return -1;
        }
        if (errp[0]) {
                stdio_sink *sink;
                /* One file, one fd: both pipes append through it (containerd's countingWriteCloser). */
                if (out_sink && !out_sink->pollable && strcmp(out, errp) == 0)
                        sink = stdio_sink_ref(out_sink);
                else
                        sink = open_output(errp, "stderr", err);
                if (!sink || setup_output_pipe(io, 2, sink, err) < 0)
                        return -1;
        }
        return 0;
}

static int parse_file_uri(const char *rest, char **ret_path, berr **err) {
        _cleanup_free_ char *path = NULL;
        if (stdio_uri_split(rest, &path, NULL) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: malformed file URI");
        if (path[0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: file URI path '%s' is not absolute", path);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* file://: stdout and stderr both append to the file; the child writes it directly, nothing to copy. */
static int setup_file_mode(shim_stdio *io, const char *in, const char *rest, berr **err) {
        _cleanup_free_ char *path = NULL;
        if (parse_file_uri(rest, &path, err) < 0)
                return -1;
        if (setup_stdin_pipe(io, in, err) < 0)
                return -1;
        int fd = open_log_file(path, err);
        if (fd < 0)
                return -1;
        io->child_fd[1] = io->child_fd[2] = fd;
        return 0;
}

/* A binary:// logger is started by stdio_wait_ready, so that the shim can start it while the runtime's create
 * runs; until then its pipe ends and command line wait here. */
struct stdio_pending_logger {
        char *path;
        char **args;
        char *container_id;
        char *ns;
        int out_r;
        int err_r;
};

static void pending_logger_free(stdio_pending_logger *pl) {
        if (!pl)
                return;
        free(pl->path);
        strv_free(pl->args);
        free(pl->container_id);
        free(pl->ns);
        safe_close(pl->out_r);
        safe_close(pl->err_r);
        free(pl);
}

static int start_logger(shim_stdio *io, const stdio_config *cfg, const char *rest, int out_r, int err_r,
                        berr **err) {
        _cleanup_close_ int o = out_r, e = err_r;
        _cleanup_free_ char *path = NULL, *query = NULL;
        _cleanup_strv_free_ char **args = NULL;
        if (stdio_uri_split(rest, &path, &query) < 0 || stdio_uri_query_args(query, &args) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: malformed binary URI");
        if (path[0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "stdio: logger path '%s' is not absolute", path);
        /* What the exec would say, said now, before anything else is started for this process. */
        if (access(path, X_OK) < 0)
                return berr_errno(err, errno, "stdio: start logger %s", path);
        stdio_pending_logger *pl = xmalloc(sizeof *pl);
        *pl = (stdio_pending_logger) {
                .path = TAKE_PTR(path),
                .args = TAKE_PTR(args),
                .container_id = xstrdup(cfg->container_id ? cfg->container_id : ""),
                .ns = xstrdup(cfg->ns ? cfg->ns : ""),
                .out_r = TAKE_FD(o),
                .err_r = TAKE_FD(e),
        };
        io->pending_logger = pl;
        return 0;
}

/* binary://: the logger reads the child's stdout/stderr pipes itself. containerd's shim gives such a process no
 * stdin; ours takes a stdin FIFO too (berth's `run -d -i`: stdin stays open for later attaches), held open by our
 * own writer as in the other modes, so the process sees EOF only on CloseIO. */
static int setup_binary_mode(shim_stdio *io, const stdio_config *cfg, const char *rest, berr **err) {
        int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
        if (make_pipe(out, err) < 0)
                return -1;
        io->child_fd[1] = out[1];
        if (make_pipe(errp, err) < 0) {
                safe_close(out[0]);
                return -1;
        }
        io->child_fd[2] = errp[1];
        if (start_logger(io, cfg, rest, out[0], errp[0], err) < 0)
                return -1;
        if (setup_stdin_pipe(io, strip_fifo_scheme(cfg->stdin_path), err) < 0)
                return -1;
        if (chown_child_end(io, out[1], err) < 0 || chown_child_end(io, errp[1], err) < 0)
                return -1;
        return 0;
}

/* Terminal: stdin and the output destination are opened now; the pty master arrives later. */
static int setup_terminal(shim_stdio *io, const stdio_config *cfg, const char *scheme, const char *rest,
                          berr **err) {
        const char *in = strip_fifo_scheme(cfg->stdin_path);
        if (in[0] && open_stdin_fifo(io, in, err) < 0)
                return -1;
        if (!scheme || strcmp(scheme, "fifo") == 0) {
                const char *out = strip_fifo_scheme(cfg->stdout_path);
                if (out[0] && !(io->term_out = open_output(out, "stdout", err)))
                        return -1;
        } else if (strcmp(scheme, "file") == 0) {
                _cleanup_free_ char *path = NULL;
                if (parse_file_uri(rest, &path, err) < 0)
                        return -1;
                int fd = open_log_file(path, err);
                if (fd < 0)
                        return -1;
                io->term_out = stdio_sink_new(fd, -1, false);
        } else {
                /* The logger's stdout pipe is fed from the master; its stderr pipe stays empty (EOF at once). */
                int out[2], errp[2];
                if (make_pipe(out, err) < 0)
                        return -1;
                io->term_out = stdio_sink_new(out[1], -1, true);
                if (make_pipe(errp, err) < 0) {
                        safe_close(out[0]);
                        return -1;
                }
                safe_close(errp[1]);
                if (start_logger(io, cfg, rest, out[0], errp[0], err) < 0)
                        return -1;
        }
        return 0;
}

shim_stdio *stdio_free(shim_stdio *io) {
        if (!io)
                return NULL;
        for (int i = 0; i < 3; i++)
                io->pump[i] = stdio_pump_free(io->pump[i]);
        if (io->child_fd[2] != io->child_fd[1])
                safe_close(io->child_fd[2]);
        safe_close(io->child_fd[1]);
        safe_close(io->child_fd[0]);
        safe_close(io->stdin_fifo);
        safe_close(io->stdin_writer);
        stdio_sink_unref(io->term_out);
        stdio_console_cleanup(io);
        safe_close(io->master);
        ev_source_free(io->drained_defer);
        ev_source_free(io->grace_timer);
        pending_logger_free(io->pending_logger);
        stdio_logger_release(io->logger);
        free(io);
        return NULL;
}

int stdio_new(ev_loop *loop, const stdio_config *cfg, shim_stdio **ret, berr **err) {
        const char *rest = NULL;
        _cleanup_free_ char *scheme = stdio_uri_scheme(cfg->stdout_path, &rest);
        stdio_mode mode = STDIO_MODE_PIPE;
        if (!scheme || strcmp(scheme, "fifo") == 0)
                mode = STDIO_MODE_PIPE;
        else if (strcmp(scheme, "file") == 0)
                mode = STDIO_MODE_FILE;
        else if (strcmp(scheme, "binary") == 0)
                mode = STDIO_MODE_BINARY;
        else
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "unknown STDIO scheme %s", scheme);

        catch_sigpipe();
        shim_stdio *io = xcalloc(1, sizeof *io);
        *io = (shim_stdio) {
                .loop = loop, .mode = mode, .terminal = cfg->terminal, .io_uid = cfg->io_uid, .io_gid = cfg->io_gid,
                .child_fd = { -1, -1, -1 }, .stdin_fifo = -1, .stdin_writer = -1, .console_listen = -1, .master = -1,
        };
        int r;
        if (cfg->terminal)
                r = setup_terminal(io, cfg, scheme, rest, err);
        else if (mode == STDIO_MODE_FILE)
                r = setup_file_mode(io, strip_fifo_scheme(cfg->stdin_path), rest, err);
        else if (mode == STDIO_MODE_BINARY)
                r = setup_binary_mode(io, cfg, rest, err);
        else
                r = setup_pipe_mode(io, strip_fifo_scheme(cfg->stdin_path), strip_fifo_scheme(cfg->stdout_path),
                                    strip_fifo_scheme(cfg->stderr_path), err);
        if (r < 0) {
                stdio_free(io);
                return -1;
        }
        *ret = io;
        return 0;
}

int stdio_start_logger(shim_stdio *io, berr **err) {
        stdio_pending_logger *pl = io ? TAKE_PTR(io->pending_logger) : NULL;
        if (!pl)
                return 0;
        int r = stdio_logger_start(io->loop, pl->path, pl->args, pl->container_id, pl->ns, TAKE_FD(pl->out_r),
                                   TAKE_FD(pl->err_r), &io->logger, err);
        pending_logger_free(pl);
        return r;
}

int stdio_wait_ready(shim_stdio *io, berr **err) {
        if (!io)
                return 0;
        if (stdio_start_logger(io, err) < 0)
                return -1;
        return stdio_logger_wait_ready(io->logger, err);
}

int stdio_child_fd(const shim_stdio *io, int which) {
        if (!io || io->terminal || which < 0 || which > 2)
                return -1;
        return io->child_fd[which];
}

static int on_drained_defer(ev_source *s, void *userdata) {
        shim_stdio *io = userdata;
        if (io->drained_fired || !io->drained_cb)
                return 0;
        io->drained_fired = true;
        /* Last thing: the callback may free io. */
        io->drained_cb(io->drained_userdata);
        return 0;
}

/* Callbacks run from a zero timer, never from inside a pump or an API call, so they may free io. */
static void schedule_drained(shim_stdio *io) {
        if (!io->drained || io->drained_fired || !io->drained_cb)
                return;
        int r;
        if (io->drained_defer)
                r = ev_timer_set(io->drained_defer, 0);
        else
                r = ev_add_timer(io->loop, &io->drained_defer, 0, on_drained_defer, io);
        if (r < 0)
                log_error("stdio: cannot schedule the drained notification: %s", strerror(-r));
}

static void check_drained(shim_stdio *io) {
        if (!io->started || io->drained)
                return;
        for (int i = 0; i < 3; i++)
                if (stdio_pump_is_output(io->pump[i]) && !stdio_pump_done(io->pump[i]))
                        return;
        io->drained = true;
        ev_source_free(io->grace_timer);
        io->grace_timer = NULL;
        schedule_drained(io);
}

void stdio_pump_finished(shim_stdio *io, stdio_pump *p) {
        if (p == io->pump[0])
                log_debug("stdio: stdin reached EOF, closed the process's stdin");
        check_drained(io);
}

void stdio_on_drained(shim_stdio *io, void (*cb)(void *userdata), void *userdata) {
        io->drained_cb = cb;
        io->drained_userdata = userdata;
        io->drained_fired = false;
        schedule_drained(io);
}

static int dup_master(shim_stdio *io, berr **err) {
        int fd = fcntl(io->master, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return berr_errno(err, errno, "stdio: dup console");
        return fd;
}

/* Terminal: master → stdout destination, stdin FIFO → master (through separate fds: epoll wants one
 * registration per fd, and each direction has its own). */
static int make_terminal_pumps(shim_stdio *io, berr **err) {
        if (io->master < 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdio: terminal process without a console");
        int flags = fcntl(io->master, F_GETFL);
        if (flags < 0 || fcntl(io->master, F_SETFL, flags | O_NONBLOCK) < 0)
                return berr_errno(err, errno, "stdio: make console nonblocking");
        if (io->stdin_fifo >= 0) {
                int fd = dup_master(io, err);
                if (fd < 0)
                        return -1;
                io->pump[0] = stdio_pump_new(io, "stdin", TAKE_FD(io->stdin_fifo), stdio_sink_new(fd, -1, true),
                                             false);
        }
        if (io->term_out) {
                int fd = dup_master(io, err);
                if (fd < 0)
                        return -1;
                io->pump[1] = stdio_pump_new(io, "console", fd, TAKE_PTR(io->term_out), true);
        } else {
                /* Nobody wants the output, but the pty must still be read or the process blocks on it. */
                int fd = dup_master(io, err);
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || null < 0) {
                        safe_close(fd);
                        safe_close(null);
                        return fd < 0 ? -1 : berr_errno(err, errno, "stdio: open /dev/null");
                }
                io->pump[1] = stdio_pump_new(io, "console", fd, stdio_sink_new(null, -1, false), true);
        }
        return 0;
}

int stdio_after_start(shim_stdio *io, berr **err) {
        if (io->started)
                return 0;
        /* Normally done already; without a logger the pipes would only fill up. */
        if (stdio_wait_ready(io, err) < 0)
                return -1;
        if (io->child_fd[2] != io->child_fd[1])
                io->child_fd[2] = safe_close(io->child_fd[2]);
        io->child_fd[2] = -1;
        io->child_fd[1] = safe_close(io->child_fd[1]);
        io->child_fd[0] = safe_close(io->child_fd[0]);
        if (io->terminal && make_terminal_pumps(io, err) < 0)
                return -1;
        for (int i = 0; i < 3; i++)
                if (stdio_pump_start(io->pump[i], err) < 0)
                        return -1;
        io->started = true;
        check_drained(io);
        return 0;
}

int stdio_close_stdin(shim_stdio *io) {
        io->stdin_writer = safe_close(io->stdin_writer);
        return 0;
}

static int on_grace_expired(ev_source *s, void *userdata) {
        shim_stdio *io = userdata;
        if (io->drained)
                return 0;
        log_debug("stdio: console output still open %llu ms after exit, not waiting for it any more",
                  STDIO_TERMINAL_GRACE_USEC / 1000);
        io->drained = true;
        schedule_drained(io);
        return 0;
}

void stdio_process_exited(shim_stdio *io) {
        if (io->exited)
                return;
        io->exited = true;
        stdio_logger_shutdown(io->logger);
        if (!io->terminal || io->drained || io->grace_timer)
                return;
        int r = ev_add_timer(io->loop, &io->grace_timer, STDIO_TERMINAL_GRACE_USEC, on_grace_expired, io);
        if (r < 0) {
                log_debug("stdio: cannot time the console drain (%s), not waiting for it", strerror(-r));
                io->drained = true;
                schedule_drained(io);
        }
}
