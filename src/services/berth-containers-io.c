/* FIFOs between a shim and berthd for attached processes: berthd reads stdout/stderr (relaying them to the client's
 * call and to the container's log files) and writes the client's stdin. Our read ends are opened O_NONBLOCK before
 * the shim opens the write ends, and only read when epoll reports them: a FIFO reports hang-up only after a writer
 * came and went, so EOF means the shim closed its side. The relay paces itself by the call's queue: past
 * OUTPUT_HIGH_WATER bytes pending it stops reading (the container then blocks on a full pipe, as under docker). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "services/berth-containers.h"

#define READ_CHUNK (64 * 1024)
#define OUTPUT_HIGH_WATER (4u << 20)
#define OUTPUT_LOW_WATER (1u << 20)
#define STDIN_BUFFER_MAX (16u << 20)

enum { IO_STDIN, IO_STDOUT, IO_STDERR };

struct bc_io {
        ev_loop *loop;
        char *paths[3];
        int in_fd;
        ev_source *in_src;
        uint8_t *in_buf;
        size_t in_len;
        bool in_close_pending;
        int out_fd[2];
        ev_source *out_src[2];
        bool paused;
        grpc_call *call;
        log_writer *log;
        void (*drained_cb)(void *userdata);
        void *drained_ud;
        ev_source *drained_timer;
        bool borrowed; /* bc_io_open_stdin: the FIFO is the container's, not ours to remove */
};

static int make_fifo(const char *path, berr **err) {
        if (mkfifo(path, 0600) < 0 && errno != EEXIST)
                return berr_errno(err, errno, "mkfifo %s", path);
        return 0;
}

int bc_io_new(ev_loop *loop, const char *dir, const char *prefix, bool want_stdin, bool tty, bc_io **ret,
              berr **err) {
        if (mkdir_p(dir, 0700, err) < 0)
                return -1;
        bc_io *io = xcalloc(1, sizeof *io);
        io->loop = loop;
        io->in_fd = io->out_fd[0] = io->out_fd[1] = -1;
        if (want_stdin)
                io->paths[IO_STDIN] = xasprintf("%s/%s-stdin", dir, prefix);
        io->paths[IO_STDOUT] = xasprintf("%s/%s-stdout", dir, prefix);
        if (!tty)
                io->paths[IO_STDERR] = xasprintf("%s/%s-stderr", dir, prefix);
        for (int i = 0; i < 3; i++)
                if (io->paths[i] && make_fifo(io->paths[i], err) < 0)
                        goto fail;
        if (want_stdin) {
                /* read-write: the open never blocks and the shim's reader never sees EOF until we close */
                io->in_fd = open(io->paths[IO_STDIN], O_RDWR | O_NONBLOCK | O_CLOEXEC);
                if (io->in_fd < 0) {
                        berr_errno(err, errno, "opening %s", io->paths[IO_STDIN]);
                        goto fail;
                }
        }
        for (int i = 0; i < 2; i++) {
                if (!io->paths[IO_STDOUT + i])
                        continue;
                io->out_fd[i] = open(io->paths[IO_STDOUT + i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                if (io->out_fd[i] < 0) {
                        berr_errno(err, errno, "opening %s", io->paths[IO_STDOUT + i]);
                        goto fail;
                }
        }
        *ret = io;
        return 0;
fail:
        bc_io_free(io);
        return -1;
}

const char *bc_io_stdin_path(const bc_io *io) {
        return io->paths[IO_STDIN];
}
const char *bc_io_stdout_path(const bc_io *io) {
        return io->paths[IO_STDOUT];
}
const char *bc_io_stderr_path(const bc_io *io) {
        return io->paths[IO_STDERR];
}

bool bc_io_is_drained(const bc_io *io) {
        return io->out_fd[0] < 0 && io->out_fd[1] < 0;
}

static int on_drained_timer(ev_source *s, void *userdata) {
        bc_io *io = userdata;
        void (*cb)(void *) = io->drained_cb;
        io->drained_cb = NULL;
        if (cb)
                cb(io->drained_ud);
        return 0;
}

static void maybe_drained(bc_io *io) {
        if (!bc_io_is_drained(io) || !io->drained_cb)
                return;
        if (io->log) {
                berr *e = NULL;
                if (log_writer_close(io->log, log_now_ns(), &e) < 0) {
                        log_warn("container log: %s", e->msg);
                        berr_free(e);
                }
                io->log = NULL;
        }
        if (!io->drained_timer)
                ev_add_timer(io->loop, &io->drained_timer, 0, on_drained_timer, io);
        else
                ev_timer_set(io->drained_timer, 0);
}

void bc_io_on_drained(bc_io *io, void (*cb)(void *userdata), void *userdata) {
        io->drained_cb = cb;
        io->drained_ud = userdata;
        maybe_drained(io);
}

static void close_output(bc_io *io, int i) {
        ev_source_free(io->out_src[i]);
        io->out_src[i] = NULL;
        io->out_fd[i] = safe_close(io->out_fd[i]);
        if (io->log) {
                berr *e = NULL;
                if (log_writer_flush_stream(io->log, i == 0 ? LOG_STREAM_STDOUT : LOG_STREAM_STDERR, log_now_ns(),
                                            &e) < 0) {
                        log_warn("container log: %s", e->msg);
                        berr_free(e);
                }
        }
        maybe_drained(io);
}

static void set_paused(bc_io *io, bool paused) {
        io->paused = paused;
        for (int i = 0; i < 2; i++)
                if (io->out_src[i])
                        ev_source_set_enabled(io->out_src[i], !paused);
}

/* The call's queue went below the low-water mark: read again. The call's state is the session owning the io. */
static void on_writable(grpc_call *call, void *userdata) {
        bc_session *se = grpc_call_get_state(call);
        grpc_call_set_on_writable(call, 0, NULL);
        if (se && se->io)
                set_paused(se->io, false);
}

static int on_output(ev_source *s, int fd, uint32_t revents, void *userdata) {
        bc_io *io = userdata;
        int i = fd == io->out_fd[0] ? 0 : 1;
        uint8_t buf[READ_CHUNK];
        for (int round = 0; round < 16; round++) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        log_warn("reading %s: %m", io->paths[IO_STDOUT + i]);
                        close_output(io, i);
                        return 0;
                }
                if (n == 0) {
                        close_output(io, i);
                        return 0;
                }
                if (io->log) {
                        berr *e = NULL;
                        if (log_writer_feed(io->log, i == 0 ? LOG_STREAM_STDOUT : LOG_STREAM_STDERR, buf, (size_t) n,
                                            log_now_ns(), &e) < 0) {
                                log_warn("container log: %s", e->msg);
                                berr_free(e);
                        }
                }
                if (io->call && !grpc_call_is_cancelled(io->call)) {
                        Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                        ProtobufCBinaryData *d = i == 0 ? &ev.stdout : &ev.stderr;
                        d->data = buf;
                        d->len = (size_t) n;
                        grpc_call_send(io->call, &ev.base);
                        if (grpc_call_pending_bytes(io->call) > OUTPUT_HIGH_WATER) {
                                set_paused(io, true);
                                grpc_call_set_on_writable(io->call, OUTPUT_LOW_WATER, on_writable);
                                return 0;
                        }
                }
        }
        return 0;
}

void bc_io_set_call(bc_io *io, grpc_call *call) {
        if (io->call) {
                grpc_call_set_on_writable(io->call, 0, NULL);
                grpc_call_unref(io->call);
        }
        io->call = call ? grpc_call_ref(call) : NULL;
        if (!io->call && io->paused)
                set_paused(io, false);
        /* start reading once someone takes the output */
        for (int i = 0; i < 2; i++)
                if (io->out_fd[i] >= 0 && !io->out_src[i] &&
                    ev_add_io(io->loop, &io->out_src[i], io->out_fd[i], EPOLLIN, on_output, io) < 0)
                        log_warn("cannot watch %s", io->paths[IO_STDOUT + i]);
}

void bc_io_set_log(bc_io *io, log_writer *w) {
        if (io->log) {
                berr *e = NULL;
                if (log_writer_close(io->log, log_now_ns(), &e) < 0)
                        berr_free(e);
        }
        io->log = w;
        for (int i = 0; i < 2; i++)
                if (io->out_fd[i] >= 0 && !io->out_src[i] &&
                    ev_add_io(io->loop, &io->out_src[i], io->out_fd[i], EPOLLIN, on_output, io) < 0)
                        log_warn("cannot watch %s", io->paths[IO_STDOUT + i]);
}

/* ---- stdin ---- */

static void close_stdin_now(bc_io *io) {
        ev_source_free(io->in_src);
        io->in_src = NULL;
        io->in_fd = safe_close(io->in_fd);
        free(io->in_buf);
        io->in_buf = NULL;
        io->in_len = 0;
}

static int flush_stdin(bc_io *io) {
        while (io->in_len > 0) {
                ssize_t n = write(io->in_fd, io->in_buf, io->in_len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        log_debug("stdin of %s: %m", io->paths[IO_STDIN]);
                        close_stdin_now(io);
                        return -1;
                }
                memmove(io->in_buf, io->in_buf + n, io->in_len - (size_t) n);
                io->in_len -= (size_t) n;
        }
        if (io->in_len == 0 && io->in_close_pending) {
                close_stdin_now(io);
                return 0;
        }
        if (io->in_src)
                ev_source_set_enabled(io->in_src, io->in_len > 0);
        return 0;
}

static int on_stdin_writable(ev_source *s, int fd, uint32_t revents, void *userdata) {
        flush_stdin(userdata);
        return 0;
}

int bc_io_write_stdin(bc_io *io, const uint8_t *data, size_t len) {
        if (io->in_fd < 0 || io->in_close_pending)
                return -1;
        if (io->in_len + len > STDIN_BUFFER_MAX)
                return -1; /* the process does not read its stdin: drop rather than grow without bound */
        io->in_buf = xrealloc(io->in_buf, io->in_len + len);
        memcpy(io->in_buf + io->in_len, data, len);
        io->in_len += len;
        if (!io->in_src && ev_add_io(io->loop, &io->in_src, io->in_fd, EPOLLOUT, on_stdin_writable, io) < 0)
                log_warn("cannot watch %s", io->paths[IO_STDIN]);
        return flush_stdin(io);
}

void bc_io_close_stdin(bc_io *io) {
        if (io->in_fd < 0)
                return;
        io->in_close_pending = true;
        flush_stdin(io);
}

bc_io *bc_io_free(bc_io *io) {
        if (!io)
                return NULL;
        close_stdin_now(io);
        for (int i = 0; i < 2; i++) {
                ev_source_free(io->out_src[i]);
                safe_close(io->out_fd[i]);
        }
        ev_source_free(io->drained_timer);
        if (io->log) {
                berr *e = NULL;
                if (log_writer_close(io->log, log_now_ns(), &e) < 0)
                        berr_free(e);
        }
        if (io->call) {
                grpc_call_set_on_writable(io->call, 0, NULL);
                grpc_call_unref(io->call);
        }
        for (int i = 0; i < 3; i++) {
                if (io->paths[i] && !io->borrowed)
                        unlink(io->paths[i]);
                free(io->paths[i]);
        }
        free(io);
        return NULL;
}

int bc_io_open_stdin(ev_loop *loop, const char *path, bc_io **ret, berr **err) {
        /* Write-only and nonblocking: the open fails (ENXIO) rather than waiting when no shim reads the FIFO, and
         * closing it is no EOF for the container (the shim holds a writer of its own). */
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return berr_errno(err, errno, "opening %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
                close(fd);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s is not a FIFO", path);
        }
        bc_io *io = xcalloc(1, sizeof *io);
        io->loop = loop;
        io->in_fd = fd;
        io->out_fd[0] = io->out_fd[1] = -1;
        io->paths[IO_STDIN] = xstrdup(path);
        io->borrowed = true;
        *ret = io;
        return 0;
}
