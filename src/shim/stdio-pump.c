/* One copy direction of a process's IO, driven by the event loop: a nonblocking source (pipe, FIFO or pty
 * master) into a sink. Never blocks the loop on a pollable sink: when the sink is full the bytes wait in a
 * bounded buffer, and once that is full the source is not read any more, so the writer blocks instead. */
#include <fcntl.h>
#include <string.h>

#include "shim/stdio-internal.h"
#include "basic/log.h"

struct stdio_pump {
        shim_stdio *io;
        const char *name;
        int src;
        stdio_sink *sink;
        ev_source *src_source;
        ev_source *dst_source; /* exists only while bytes wait for a full pollable sink */
        char *buf;
        size_t off, len;
        bool output;
        bool eof;
        bool broken; /* the sink failed: bytes are read and dropped so the writer never blocks */
        bool done;
};

stdio_sink *stdio_sink_new(int fd, int fifo_reader, bool pollable) {
        stdio_sink *sink = xcalloc(1, sizeof *sink);
        sink->fd = fd;
        sink->fifo_reader = fifo_reader;
        sink->pollable = pollable;
        sink->users = 1;
        return sink;
}

stdio_sink *stdio_sink_ref(stdio_sink *sink) {
        if (sink)
                sink->users++;
        return sink;
}

void stdio_sink_unref(stdio_sink *sink) {
        if (!sink || --sink->users > 0)
                return;
        /* Writer first: with our reader gone as well, a client reader then sees EOF. */
        safe_close(sink->fd);
        safe_close(sink->fifo_reader);
        free(sink);
}

stdio_pump *stdio_pump_new(shim_stdio *io, const char *name, int src, stdio_sink *sink, bool output) {
        stdio_pump *p = xcalloc(1, sizeof *p);
        p->io = io;
        p->name = name;
        p->src = src;
        p->sink = sink;
        p->output = output;
        return p;
}

bool stdio_pump_done(const stdio_pump *p) {
        return !p || p->done;
}

bool stdio_pump_is_output(const stdio_pump *p) {
        return p && p->output;
}

static void pump_release(stdio_pump *p) {
        ev_source_free(p->src_source);
        p->src_source = NULL;
        ev_source_free(p->dst_source);
        p->dst_source = NULL;
        p->src = safe_close(p->src);
        stdio_sink_unref(p->sink);
        p->sink = NULL;
        free(p->buf);
        p->buf = NULL;
        p->off = p->len = 0;
}

stdio_pump *stdio_pump_free(stdio_pump *p) {
        if (!p)
                return NULL;
        pump_release(p);
        free(p);
        return NULL;
}

/* Writes what is buffered. Returns true when everything went out (or was dropped). */
static bool pump_flush(stdio_pump *p) {
        while (p->off < p->len && !p->broken) {
                ssize_t n = write(p->sink->fd, p->buf + p->off, p->len - p->off);
                if (n > 0) {
                        p->off += (size_t) n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN && p->sink->pollable)
                        return false;
                /* EPIPE (the process closed its stdin), ENOSPC, EIO... Keep reading so nothing blocks on us. */
                log_debug("stdio: writing %s failed, dropping its data: %s", p->name,
                          n < 0 ? strerror(errno) : "short write");
                p->broken = true;
        }
        p->off = p->len = 0;
        return true;
}

static int on_src(ev_source *s, int fd, uint32_t revents, void *userdata);
static int on_dst(ev_source *s, int fd, uint32_t revents, void *userdata);

static void pump_finish(stdio_pump *p) {
        pump_release(p);
        p->done = true;
        stdio_pump_finished(p->io, p);
}

/* Brings the sources in line with the state: read while there is room, wait for the sink while bytes wait. */
static int pump_update(stdio_pump *p) {
        bool pending = p->off < p->len;
        if (p->eof && !pending) {
                pump_finish(p);
                return 0;
        }
        /* A stdin pump whose process stopped reading has nothing left to do. */
        if (p->broken && !p->output) {
                pump_finish(p);
                return 0;
        }
        if (pending && !p->dst_source) {
                int r = ev_add_io(p->io->loop, &p->dst_source, p->sink->fd, EPOLLOUT, on_dst, p);
                if (r < 0) {
                        log_debug("stdio: cannot wait for %s to drain: %s", p->name, strerror(-r));
                        p->broken = true;
                        p->off = p->len = 0;
                        pending = false;
                }
        } else if (!pending && p->dst_source) {
                ev_source_free(p->dst_source);
                p->dst_source = NULL;
        }
        if (p->src_source)
                (void) ev_source_set_enabled(p->src_source, !p->eof && p->len < STDIO_PUMP_BUF);
        return 0;
}

static int on_src(ev_source *s, int fd, uint32_t revents, void *userdata) {
        stdio_pump *p = userdata;
        if (p->off > 0) {
                memmove(p->buf, p->buf + p->off, p->len - p->off);
                p->len -= p->off;
                p->off = 0;
        }
        ssize_t n = read(p->src, p->buf + p->len, STDIO_PUMP_BUF - p->len);
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                /* EIO on a pty master: the slave side was closed by everyone; that is its EOF. */
                if (errno != EIO)
                        log_debug("stdio: reading %s failed: %s", p->name, strerror(errno));
                n = 0;
        }
        if (n == 0) {
                p->eof = true;
                ev_source_free(p->src_source);
                p->src_source = NULL;
        } else if (p->broken)
                p->len = 0;
        else
                p->len += (size_t) n;
        pump_flush(p);
        return pump_update(p);
}

static int on_dst(ev_source *s, int fd, uint32_t revents, void *userdata) {
        stdio_pump *p = userdata;
        pump_flush(p);
        return pump_update(p);
}

int stdio_pump_start(stdio_pump *p, berr **err) {
        if (!p || p->done || p->src_source)
                return 0;
        int flags = fcntl(p->src, F_GETFL);
        if (flags < 0 || fcntl(p->src, F_SETFL, flags | O_NONBLOCK) < 0)
                return berr_errno(err, errno, "stdio: make %s nonblocking", p->name);
        if (p->sink->pollable) {
                flags = fcntl(p->sink->fd, F_GETFL);
                if (flags < 0 || fcntl(p->sink->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                        return berr_errno(err, errno, "stdio: make %s nonblocking", p->name);
        }
        p->buf = xmalloc(STDIO_PUMP_BUF);
        int r = ev_add_io(p->io->loop, &p->src_source, p->src, EPOLLIN, on_src, p);
        if (r < 0)
                return berr_errno(err, -r, "stdio: watch %s", p->name);
        return 0;
}
