/* Synchronous gRPC client: one blocking-style unix socket connection running an nghttp2 client session. Callers
 * block in poll(2) inside grpc_stream_recv/send until their stream has progress; frames for other open streams of
 * the same client are buffered on the way, so several streams can be used in turn. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <nghttp2/nghttp2.h>

#include "basic/event.h"
#include "basic/log.h"
#include "grpc/grpc-internal.h"
#include "grpc/grpc.h"

#define CLIENT_STREAM_WINDOW (4u << 20)
#define OUT_CHUNK (64u << 10)

typedef struct rx_msg {
        struct rx_msg *next;
        uint8_t *data;
        size_t len;
} rx_msg;

struct grpc_client {
        int fd;
        nghttp2_session *session;
        grpc_md *md; /* owned copies */
        size_t n_md;
        uint8_t *out;
        size_t out_len, out_off, out_cap;
        char *broken; /* why the connection is unusable, NULL while fine */
        grpc_stream *streams; /* not yet freed */
};

struct grpc_stream {
        grpc_client *c; /* NULL once the client was freed under it */
        grpc_stream *prev, *next;
        int32_t stream_id;
        uint64_t deadline; /* CLOCK_MONOTONIC usec, 0 = none */
        grpc_msg_reader reader;
        rx_msg *rx_head, *rx_tail;
        grpc_bufq sendq;
        bool deferred;
        bool send_closed;
        bool closed; /* nghttp2 closed the stream */
        /* status as it arrives */
        int http_status;
        bool have_grpc_status;
        int grpc_status;
        char *grpc_message;
        /* the final status */
        bool done;
        berr_code code;
        char *msg;
};

static void stream_set_status(grpc_stream *s, berr_code code, const char *msg) {
        if (s->done)
                return;
        s->done = true;
        s->code = code;
        s->msg = xstrdup(msg ? msg : "");
}

static berr_code code_from_http(int status) {
        /* gRPC's HTTP to status mapping for responses without grpc-status. */
        switch (status) {
        case 400:
                return BERR_INTERNAL;
        case 401:
                return BERR_UNAUTHENTICATED;
        case 403:
                return BERR_PERMISSION_DENIED;
        case 404:
                return BERR_UNIMPLEMENTED;
        case 429:
        case 502:
        case 503:
        case 504:
                return BERR_UNAVAILABLE;
        default:
                return BERR_UNKNOWN;
        }
}

/* The server ended its side: the status is in what we have seen. */
static void stream_end(grpc_stream *s) {
        if (s->have_grpc_status) {
                berr_code code = s->grpc_status >= 0 && s->grpc_status < _BERR_CODE_MAX ? (berr_code) s->grpc_status
                                                                                        : BERR_UNKNOWN;
                stream_set_status(s, code, s->grpc_message);
        } else if (s->http_status != 0 && s->http_status != 200) {
                _cleanup_free_ char *m = xasprintf("unexpected HTTP status code received from server: %d",
                                                   s->http_status);
                stream_set_status(s, code_from_http(s->http_status), m);
        } else
                stream_set_status(s, BERR_INTERNAL, "server closed the stream without sending trailers");
}

static void stream_reset(grpc_stream *s, uint32_t error_code) {
        if (s->closed || !s->c || s->c->broken)
                return;
        (void) nghttp2_submit_rst_stream(s->c->session, NGHTTP2_FLAG_NONE, s->stream_id, error_code);
}

/* ---- nghttp2 callbacks ---- */

static grpc_stream *get_stream(nghttp2_session *session, int32_t stream_id) {
        return nghttp2_session_get_stream_user_data(session, stream_id);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
        if (frame->hd.type != NGHTTP2_HEADERS)
                return 0;
        grpc_stream *s = get_stream(session, frame->hd.stream_id);
        if (!s)
                return 0;
        _cleanup_free_ char *v = xstrndup((const char *) value, valuelen);
        if (namelen == 7 && memcmp(name, ":status", 7) == 0)
                s->http_status = atoi(v);
        else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
                s->have_grpc_status = true;
                s->grpc_status = atoi(v);
        } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
                free(s->grpc_message);
                s->grpc_message = grpc_percent_decode(v);
        }
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
                return 0;
        grpc_stream *s = get_stream(session, frame->hd.stream_id);
        if (s && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
                if (grpc_msg_reader_partial(&s->reader))
                        stream_set_status(s, BERR_INTERNAL, "server ended the stream in the middle of a message");
                stream_end(s);
        }
        return 0;
}

static int enqueue(const uint8_t *msg, size_t len, void *userdata) {
        grpc_stream *s = userdata;
        rx_msg *m = xmalloc(sizeof *m);
        m->next = NULL;
        m->len = len;
        m->data = xmalloc(len > 0 ? len : 1);
        if (len > 0)
                memcpy(m->data, msg, len);
        if (s->rx_tail)
                s->rx_tail->next = m;
        else
                s->rx_head = m;
        s->rx_tail = m;
        return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data) {
        grpc_stream *s = get_stream(session, stream_id);
        if (!s || s->done)
                return 0;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_msg_reader_feed(&s->reader, data, len, GRPC_MESSAGE_MAX, enqueue, s, &e) < 0) {
                stream_set_status(s, e->code, e->msg);
                stream_reset(s, NGHTTP2_CANCEL);
        }
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
        grpc_stream *s = get_stream(session, stream_id);
        if (!s)
                return 0;
        s->closed = true;
        if (!s->done) {
                if (error_code == NGHTTP2_REFUSED_STREAM)
                        stream_set_status(s, BERR_UNAVAILABLE, "stream refused by the server");
                else if (error_code == NGHTTP2_CANCEL)
                        stream_set_status(s, BERR_CANCELED, "stream canceled by the server");
                else if (error_code != NGHTTP2_NO_ERROR) {
                        _cleanup_free_ char *m = xasprintf("stream terminated by RST_STREAM with error code: %s",
                                                           nghttp2_http2_strerror(error_code));
                        stream_set_status(s, BERR_INTERNAL, m);
                } else
                        stream_end(s);
        }
        return 0;
}

static ssize_t stream_read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                                uint32_t *flags, nghttp2_data_source *source, void *user_data) {
        /* Looked up rather than taken from source: a freed stream leaves NULL behind. */
        grpc_stream *s = get_stream(session, stream_id);
        if (!s) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                return 0;
        }
        size_t n = grpc_bufq_pop(&s->sendq, buf, length);
        if (n > 0)
                return (ssize_t) n;
        if (s->send_closed) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                return 0;
        }
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
}

/* ---- socket I/O ---- */

static void client_break(grpc_client *c, const char *why) {
        if (!c->broken)
                c->broken = xstrdup(why);
}

/* Writes what is pending until the socket would block. */
static void client_flush(grpc_client *c) {
        while (!c->broken) {
                while (c->out_off < c->out_len) {
                        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                         MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN || errno == EWOULDBLOCK)
                                        return;
                                _cleanup_free_ char *m = xasprintf("connection error: write: %m");
                                client_break(c, m);
                                return;
                        }
                        c->out_off += (size_t) n;
                }
                c->out_off = c->out_len = 0;
                while (c->out_len < OUT_CHUNK) {
                        const uint8_t *data;
                        ssize_t n = nghttp2_session_mem_send(c->session, &data);
                        if (n < 0) {
                                client_break(c, nghttp2_strerror((int) n));
                                return;
                        }
                        if (n == 0)
                                break;
                        if (c->out_len + (size_t) n > c->out_cap) {
                                c->out_cap = c->out_len + (size_t) n + OUT_CHUNK;
                                c->out = xrealloc(c->out, c->out_cap);
                        }
                        memcpy(c->out + c->out_len, data, (size_t) n);
                        c->out_len += (size_t) n;
                }
                if (c->out_len == 0)
                        return;
        }
}

/* One round: flush, wait (at most until deadline, 0 = forever) for the socket, read what arrived. */
static void client_pump(grpc_client *c, uint64_t deadline) {
        client_flush(c);
        if (c->broken)
                return;
        int timeout = -1;
        if (deadline) {
                uint64_t now = now_monotonic_usec();
                timeout = deadline > now ? (int) ((deadline - now + 999) / 1000) : 0;
        }
        struct pollfd p = { .fd = c->fd, .events = POLLIN | (c->out_len > c->out_off ? POLLOUT : 0) };
        int r = poll(&p, 1, timeout);
        if (r < 0) {
                if (errno != EINTR) {
                        _cleanup_free_ char *m = xasprintf("connection error: poll: %m");
                        client_break(c, m);
                }
                return;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[64 << 10];
                for (;;) {
                        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                                        _cleanup_free_ char *m = xasprintf("connection error: read: %m");
                                        client_break(c, m);
                                }
                                break;
                        }
                        if (n == 0) {
                                client_break(c, "error reading from server: EOF");
                                break;
                        }
                        ssize_t k = nghttp2_session_mem_recv(c->session, buf, (size_t) n);
                        if (k < 0) {
                                client_break(c, nghttp2_strerror((int) k));
                                break;
                        }
                        if ((size_t) n < sizeof buf)
                                break;
                }
        }
        client_flush(c);
}

/* Settles the stream's status when it cannot progress: dead connection or passed deadline. */
static bool stream_check_stuck(grpc_stream *s) {
        if (s->done)
                return true;
        if (!s->c) {
                stream_set_status(s, BERR_UNAVAILABLE, "grpc: the client connection is closed");
                return true;
        }
        if (s->c->broken) {
                stream_set_status(s, BERR_UNAVAILABLE, s->c->broken);
                return true;
        }
        if (s->deadline && now_monotonic_usec() >= s->deadline) {
                stream_set_status(s, BERR_DEADLINE_EXCEEDED, "context deadline exceeded");
                stream_reset(s, NGHTTP2_CANCEL);
                client_flush(s->c);
                return true;
        }
        return false;
}

static int stream_status_error(grpc_stream *s, berr **err) {
        if (s->code == BERR_OK)
                return 0;
        return berr_set(err, s->code, 0, "%s", s->msg);
}

/* ---- API ---- */

int grpc_client_connect_unix(const char *path, grpc_client **ret, berr **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, ENAMETOOLONG, "grpc: socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_errno(err, errno, "grpc: socket");
        int r;
        do
                r = connect(fd, (struct sockaddr *) &sa, sizeof sa);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                int e = errno;
                return berr_set(err, BERR_UNAVAILABLE, e, "connection error: dial unix %s: connect: %s", path,
                                strerror(e));
        }
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return berr_errno(err, errno, "grpc: fcntl");

        nghttp2_session_callbacks *cbs;
        if (nghttp2_session_callbacks_new(&cbs) != 0)
                abort();
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);

        grpc_client *c = xcalloc(1, sizeof *c);
        r = nghttp2_session_client_new(&c->session, cbs, c);
        nghttp2_session_callbacks_del(cbs);
        if (r != 0) {
                free(c);
                return berr_set(err, BERR_INTERNAL, 0, "grpc: nghttp2 session: %s", nghttp2_strerror(r));
        }
        c->fd = TAKE_FD(fd);
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, CLIENT_STREAM_WINDOW },
        };
        r = nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
        if (r == 0)
                r = nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, GRPC_CONNECTION_WINDOW);
        if (r != 0) {
                grpc_client_free(c);
                return berr_set(err, BERR_INTERNAL, 0, "grpc: nghttp2 settings: %s", nghttp2_strerror(r));
        }
        client_flush(c); /* preface + SETTINGS now; the server's SETTINGS are read with the first call */
        if (c->broken) {
                berr_set(err, BERR_UNAVAILABLE, 0, "%s", c->broken);
                grpc_client_free(c);
                return -1;
        }
        *ret = c;
        return 0;
}

grpc_client *grpc_client_free(grpc_client *c) {
        if (!c)
                return NULL;
        for (grpc_stream *s = c->streams; s; s = s->next) {
                stream_set_status(s, BERR_UNAVAILABLE, "grpc: the client connection is closed");
                s->c = NULL;
        }
        if (!c->broken) {
                /* Polite goodbye, best effort. */
                (void) nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
                client_flush(c);
        }
        nghttp2_session_del(c->session);
        safe_close(c->fd);
        for (size_t i = 0; i < c->n_md; i++) {
                free((char *) c->md[i].name);
                free((char *) c->md[i].value);
        }
        free(c->md);
        free(c->out);
        free(c->broken);
        free(c);
        return NULL;
}

void grpc_client_set_default_metadata(grpc_client *c, const grpc_md *md, size_t n) {
        for (size_t i = 0; i < c->n_md; i++) {
                free((char *) c->md[i].name);
                free((char *) c->md[i].value);
        }
        free(c->md);
        c->md = n > 0 ? xcalloc(n, sizeof *c->md) : NULL;
        c->n_md = n;
        for (size_t i = 0; i < n; i++)
                c->md[i] = (grpc_md) { .name = xstrdup(md[i].name), .value = xstrdup(md[i].value) };
}

#define NV(n, v)                                                                                                 \
        (nghttp2_nv) {                                                                                           \
                (uint8_t *) (n), (uint8_t *) (v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                     \
        }

int grpc_client_stream_open(grpc_client *c, const char *path, uint64_t timeout_usec, grpc_stream **ret,
                            berr **err) {
        if (c->broken)
                return berr_set(err, BERR_UNAVAILABLE, 0, "%s", c->broken);
        char timeout[16];
        size_t n = 0;
        _cleanup_free_ nghttp2_nv *nv = xcalloc(8 + c->n_md, sizeof *nv);
        nv[n++] = NV(":method", "POST");
        nv[n++] = NV(":scheme", "http");
        nv[n++] = NV(":path", path);
        nv[n++] = NV(":authority", "localhost");
        nv[n++] = NV("content-type", "application/grpc");
        nv[n++] = NV("user-agent", GRPC_USER_AGENT);
        nv[n++] = NV("te", "trailers");
        if (timeout_usec > 0) {
                grpc_timeout_format(timeout_usec, timeout);
                nv[n++] = NV("grpc-timeout", timeout);
        }
        for (size_t i = 0; i < c->n_md; i++)
                nv[n++] = NV(c->md[i].name, c->md[i].value);

        grpc_stream *s = xcalloc(1, sizeof *s);
        s->c = c;
        if (timeout_usec > 0)
                s->deadline = now_monotonic_usec() + timeout_usec;
        nghttp2_data_provider provider = { .source.ptr = s, .read_callback = stream_read_data };
        int32_t id = nghttp2_submit_request(c->session, NULL, nv, n, &provider, s);
        if (id < 0) {
                free(s);
                return berr_set(err, BERR_UNAVAILABLE, 0, "grpc: cannot open stream: %s", nghttp2_strerror(id));
        }
        s->stream_id = id;
        s->next = c->streams;
        if (c->streams)
                c->streams->prev = s;
        c->streams = s;
        *ret = s;
        return 0;
}

static void stream_resume(grpc_stream *s) {
        if (!s->deferred || s->closed || !s->c)
                return;
        s->deferred = false;
        (void) nghttp2_session_resume_data(s->c->session, s->stream_id);
}

int grpc_stream_send(grpc_stream *s, const ProtobufCMessage *msg, berr **err) {
        if (s->send_closed)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "grpc: send after close_send");
        if (s->done || stream_check_stuck(s)) {
                if (stream_status_error(s, err) < 0)
                        return -1;
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "grpc: stream already finished");
        }
        grpc_bufq_push_protobuf(&s->sendq, msg);
        stream_resume(s);
        /* Block while the queue drains into HTTP/2 flow control: big uploads pace themselves by the server. Flush
         * before the first wait: a small message leaves the queue at once, and waiting for the server then would
         * wait forever (it has nothing to say until the upload ends). */
        client_flush(s->c);
        while (s->sendq.bytes > 0 && !stream_check_stuck(s))
                client_pump(s->c, s->deadline);
        if (s->done && s->code != BERR_OK)
                return stream_status_error(s, err);
        return 0;
}

int grpc_stream_close_send(grpc_stream *s, berr **err) {
        if (s->send_closed)
                return 0;
        s->send_closed = true;
        if (s->done || stream_check_stuck(s))
                return 0; /* nothing to tell the server any more; recv reports the status */
        stream_resume(s);
        client_flush(s->c);
        if (s->c->broken && !s->done)
                return berr_set(err, BERR_UNAVAILABLE, 0, "%s", s->c->broken);
        return 0;
}

int grpc_stream_recv(grpc_stream *s, uint8_t **ret, size_t *ret_len, berr **err) {
        for (;;) {
                if (s->rx_head) {
                        rx_msg *m = s->rx_head;
                        s->rx_head = m->next;
                        if (!s->rx_head)
                                s->rx_tail = NULL;
                        *ret = m->data;
                        *ret_len = m->len;
                        free(m);
                        return 1;
                }
                if (s->done || stream_check_stuck(s))
                        return stream_status_error(s, err);
                client_pump(s->c, s->deadline);
        }
}

int grpc_stream_recv_timeout(grpc_stream *s, uint64_t timeout_usec, uint8_t **ret, size_t *ret_len, berr **err) {
        uint64_t until = now_monotonic_usec() + timeout_usec;
        for (bool pumped = false;; pumped = true) {
                if (s->rx_head || s->done || stream_check_stuck(s))
                        return grpc_stream_recv(s, ret, ret_len, err); /* does not block in these cases */
                if (pumped && now_monotonic_usec() >= until)
                        return 2;
                client_pump(s->c, s->deadline && s->deadline < until ? s->deadline : until);
        }
}

int grpc_client_pollfd(const grpc_client *c, short *ret_events) {
        *ret_events = POLLIN | (c->out_len > c->out_off ? POLLOUT : 0);
        return c->fd;
}

grpc_stream *grpc_stream_free(grpc_stream *s) {
        if (!s)
                return NULL;
        grpc_client *c = s->c;
        if (c) {
                if (!s->closed && !c->broken)
                        stream_reset(s, NGHTTP2_CANCEL);
                /* Frames still arriving for it, and the data provider, find nothing from now on. */
                nghttp2_session_set_stream_user_data(c->session, s->stream_id, NULL);
                if (!c->broken)
                        client_flush(c);
                if (s->prev)
                        s->prev->next = s->next;
                else
                        c->streams = s->next;
                if (s->next)
                        s->next->prev = s->prev;
        }
        while (s->rx_head) {
                rx_msg *m = s->rx_head;
                s->rx_head = m->next;
                free(m->data);
                free(m);
        }
        grpc_msg_reader_done(&s->reader);
        grpc_bufq_done(&s->sendq);
        free(s->grpc_message);
        free(s->msg);
        free(s);
        return NULL;
}

int grpc_client_unary(grpc_client *c, const char *path, const ProtobufCMessage *req, uint64_t timeout_usec,
                      uint8_t **ret_resp, size_t *ret_len, berr **err) {
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c, path, timeout_usec, &s, err) < 0)
                return -1;
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        int r = grpc_stream_send(s, req, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        if (r >= 0)
                r = grpc_stream_recv(s, &resp, &len, err);
        if (r == 0) {
                r = berr_set(err, BERR_INTERNAL, 0, "grpc: server sent no response message");
        } else if (r > 0) {
                uint8_t *extra = NULL;
                size_t elen;
                r = grpc_stream_recv(s, &extra, &elen, err);
                if (r > 0) {
                        free(extra);
                        r = berr_set(err, BERR_INTERNAL, 0, "grpc: server sent more than one response message");
                }
        }
        grpc_stream_free(s);
        if (r < 0)
                return -1;
        if (len == 0) {
                free(resp);
                resp = NULL;
        }
        *ret_resp = TAKE_PTR(resp);
        *ret_len = len;
        return 0;
}
