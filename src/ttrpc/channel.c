/* One ttrpc connection's socket I/O, shared by client and server: nonblocking reads into the frame reader, and a
 * write queue so a slow reader never blocks the loop (EPOLLOUT is watched only while output is queued). Sends use
 * MSG_NOSIGNAL: a peer that went away must not kill us with SIGPIPE. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "ttrpc/ttrpc-internal.h"

struct ttrpc_wbuf {
        ttrpc_wbuf *next;
        uint8_t *data;
        size_t len;
        size_t off;
};

int ttrpc_channel_init(ttrpc_channel *ch, ev_loop *loop, int fd, ev_io_fn cb, void *userdata, berr **err) {
        *ch = (ttrpc_channel) { .fd = -1 };

        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                int e = errno;
                safe_close(fd);
                return berr_errno(err, e, "ttrpc: cannot make socket nonblocking");
        }
        int r = ev_add_io(loop, &ch->io, fd, EPOLLIN, cb, userdata);
        if (r < 0) {
                safe_close(fd);
                return berr_errno(err, -r, "ttrpc: cannot watch socket");
        }
        ch->fd = fd;
        return 0;
}

static void wqueue_drop(ttrpc_channel *ch) {
        while (ch->whead) {
                ttrpc_wbuf *b = ch->whead;
                ch->whead = b->next;
                free(b->data);
                free(b);
        }
        ch->wtail = NULL;
}

/* The peer is gone or the socket failed: stop writing, and shut the socket down so the read side sees EOF and the
 * owner closes from its io callback (never from under a caller that is still using the connection). */
static void channel_broken(ttrpc_channel *ch, int errnum) {
        log_debug("ttrpc: write failed, closing connection: %s", strerror(errnum));
        wqueue_drop(ch);
        (void) shutdown(ch->fd, SHUT_RDWR);
        if (ch->io)
                (void) ev_source_set_io_events(ch->io, EPOLLIN);
        ch->broken = true;
}

/* Writes as much as the socket takes. Returns the bytes written, or -1 if the socket is broken. */
static ssize_t write_some(ttrpc_channel *ch, const uint8_t *p, size_t len) {
        size_t done = 0;
        while (done < len) {
                ssize_t n = send(ch->fd, p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        channel_broken(ch, errno);
                        return -1;
                }
                done += (size_t) n;
        }
        return (ssize_t) done;
}

void ttrpc_channel_send(ttrpc_channel *ch, uint8_t *frame, size_t len) {
        if (ch->closed || ch->broken) {
                free(frame);
                return;
        }

        size_t off = 0;
        if (!ch->whead) {
                ssize_t n = write_some(ch, frame, len);
                if (n < 0 || (size_t) n == len) {
                        free(frame);
                        return;
                }
                off = (size_t) n;
        }

        ttrpc_wbuf *b = xmalloc(sizeof *b);
        *b = (ttrpc_wbuf) { .data = frame, .len = len, .off = off };
        if (ch->wtail)
                ch->wtail->next = b;
        else {
                ch->whead = b;
                (void) ev_source_set_io_events(ch->io, EPOLLIN | EPOLLOUT);
        }
        ch->wtail = b;
}

void ttrpc_channel_flush(ttrpc_channel *ch) {
        while (ch->whead && !ch->closed && !ch->broken) {
                ttrpc_wbuf *b = ch->whead;
                ssize_t n = write_some(ch, b->data + b->off, b->len - b->off);
                if (n < 0)
                        return;
                b->off += (size_t) n;
                if (b->off < b->len)
                        return; /* socket full; EPOLLOUT stays on */
                ch->whead = b->next;
                if (!ch->whead)
                        ch->wtail = NULL;
                free(b->data);
                free(b);
        }
        if (!ch->closed && !ch->broken)
                (void) ev_source_set_io_events(ch->io, EPOLLIN);
}

int ttrpc_channel_read(ttrpc_channel *ch, ttrpc_frame_fn fn, void *userdata) {
        /* Until the socket would block: correct whether the loop is level- or edge-triggered. */
        for (;;) {
                if (ch->closed)
                        return 0;
                size_t avail;
                uint8_t *p = ttrpc_reader_space(&ch->reader, &avail);
                ssize_t n = recv(ch->fd, p, avail, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 1;
                        if (errno != ECONNRESET)
                                log_debug("ttrpc: read failed, closing connection: %m");
                        return 0;
                }
                if (n == 0)
                        return 0; /* EOF, possibly mid-frame: the peer closed, nothing to answer */
                ttrpc_reader_advance(&ch->reader, (size_t) n);
                int r = ttrpc_reader_process(&ch->reader, fn, userdata);
                if (r < 0)
                        return r;
        }
}

int ttrpc_channel_dispatch(ttrpc_channel *ch, uint32_t revents, ttrpc_frame_fn fn, void *userdata) {
        if (revents & EPOLLOUT)
                ttrpc_channel_flush(ch);
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                return ttrpc_channel_read(ch, fn, userdata);
        return ch->closed ? 0 : 1;
}

void ttrpc_channel_close(ttrpc_channel *ch) {
        if (ch->closed)
                return;
        ch->closed = true;
        ev_source_free(ch->io);
        ch->io = NULL;
        ch->fd = safe_close(ch->fd);
        wqueue_drop(ch);
}

void ttrpc_channel_done(ttrpc_channel *ch) {
        ttrpc_channel_close(ch);
        ttrpc_reader_done(&ch->reader);
}
