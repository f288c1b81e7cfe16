/* One server connection: a nonblocking socket driving an nghttp2 server session (h2c with prior knowledge, as
 * grpc-go speaks over unix sockets). Reads feed nghttp2_session_mem_recv; frames leave through an output buffer
 * filled from nghttp2_session_mem_send and written until the socket would block. */
#include <string.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "grpc/server-internal.h"

#define OUT_CHUNK (64u << 10)
#define READ_CHUNK (64u << 10)
#define READS_PER_WAKEUP 8

static grpc_call *stream_call(grpc_conn *conn, int32_t stream_id) {
        return nghttp2_session_get_stream_user_data(conn->session, stream_id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        grpc_conn *conn = user_data;
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        grpc_call *call = grpc_call_new_internal(conn, frame->hd.stream_id);
        nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
        return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
        grpc_conn *conn = user_data;
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0; /* request trailers carry nothing gRPC uses */
        grpc_call *call = stream_call(conn, frame->hd.stream_id);
        if (call)
                grpc_call_add_header(call, name, namelen, value, valuelen);
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        grpc_conn *conn = user_data;
        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
                return 0;
        grpc_call *call = stream_call(conn, frame->hd.stream_id);
        if (!call)
                return 0;
        grpc_call_ref_internal(call);
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
                grpc_call_start(call);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                grpc_call_remote_closed(call);
        grpc_call_unref_internal(call);
        return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
                              size_t len, void *user_data) {
        grpc_call *call = stream_call(user_data, stream_id);
        if (call)
                grpc_call_feed(call, data, len);
        return 0;
}

/* After our trailers, a client that has not ended its side gets RST_STREAM(NO_ERROR), as grpc-go does: it frees
 * the stream at once instead of waiting for the client's END_STREAM. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
        if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                return 0;
        if (nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
                (void) nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
        grpc_call *call = stream_call(user_data, stream_id);
        if (!call)
                return 0;
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        grpc_call_stream_gone(call);
        return 0;
}

nghttp2_session_callbacks *grpc_conn_callbacks_new(void) {
        nghttp2_session_callbacks *cbs;
        if (nghttp2_session_callbacks_new(&cbs) != 0)
                abort();
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        return cbs;
}

static void conn_set_events(grpc_conn *conn, uint32_t events) {
        if (conn->io_events == events)
                return;
        if (ev_source_set_io_events(conn->io, events) == 0)
                conn->io_events = events;
}

/* Writes what nghttp2 has to send until the socket would block. Returns -1 when the connection is done (error, or
 * both sides finished after GOAWAY). */
int grpc_conn_flush(grpc_conn *conn) {
        conn->dirty = false;
        for (;;) {
                while (conn->out_off < conn->out_len) {
                        ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
                                         MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                        conn_set_events(conn, EPOLLIN | EPOLLOUT);
                                        return 0;
                                }
                                log_debug("grpc: write failed: %m");
                                return -1;
                        }
                        conn->out_off += (size_t) n;
                }
                conn->out_off = conn->out_len = 0;
                while (conn->out_len < OUT_CHUNK) {
                        const uint8_t *data;
                        ssize_t n = nghttp2_session_mem_send(conn->session, &data);
                        if (n < 0) {
                                log_debug("grpc: nghttp2 send: %s", nghttp2_strerror((int) n));
                                return -1;
                        }
                        if (n == 0)
                                break;
                        if (conn->out_len + (size_t) n > conn->out_cap) {
                                conn->out_cap = conn->out_len + (size_t) n + OUT_CHUNK;
                                conn->out = xrealloc(conn->out, conn->out_cap);
                        }
                        memcpy(conn->out + conn->out_len, data, (size_t) n);
                        conn->out_len += (size_t) n;
                }
                if (conn->out_len == 0)
                        break;
        }
        /* Idle connections keep no output buffer (daemon RSS at rest matters more than one malloc per burst). */
        free(conn->out);
        conn->out = NULL;
        conn->out_cap = 0;
        conn_set_events(conn, EPOLLIN);
        if (!nghttp2_session_want_read(conn->session) && !nghttp2_session_want_write(conn->session))
                return -1;
        return 0;
}

static int conn_io(ev_source *s, int fd, uint32_t revents, void *userdata) {
        grpc_conn *conn = userdata;
        bool eof = false;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                uint8_t buf[READ_CHUNK];
                for (int i = 0; i < READS_PER_WAKEUP; i++) {
                        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                                        log_debug("grpc: read failed: %m");
                                        eof = true;
                                }
                                break;
                        }
                        if (n == 0) {
                                eof = true;
                                break;
                        }
                        conn->in_recv = true;
                        ssize_t r = nghttp2_session_mem_recv(conn->session, buf, (size_t) n);
                        conn->in_recv = false;
                        if (r < 0) {
                                log_debug("grpc: nghttp2 receive: %s", nghttp2_strerror((int) r));
                                eof = true;
                                break;
                        }
                        if ((size_t) n < sizeof buf)
                                break;
                }
        }
        /* Flush even at EOF: nothing to gain, but a GOAWAY for a protocol error is worth trying. */
        if (grpc_conn_flush(conn) < 0 || eof)
                grpc_conn_close(conn);
        return 0;
}

int grpc_conn_new(grpc_server *srv, int fd, berr **err) {
        grpc_conn *conn = xcalloc(1, sizeof *conn);
        conn->srv = srv;
        conn->fd = fd;
        int r = nghttp2_session_server_new(&conn->session, srv->callbacks, conn);
        if (r != 0) {
                safe_close(fd);
                free(conn);
                return berr_set(err, BERR_INTERNAL, 0, "grpc: nghttp2 session: %s", nghttp2_strerror(r));
        }
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, GRPC_MAX_CONCURRENT_STREAMS },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GRPC_STREAM_WINDOW },
        };
        r = nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
        if (r == 0)
                r = nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0,
                                                          GRPC_CONNECTION_WINDOW);
        if (r == 0)
                r = ev_add_io(srv->loop, &conn->io, fd, EPOLLIN, conn_io, conn);
        if (r != 0) {
                nghttp2_session_del(conn->session);
                safe_close(fd);
                free(conn);
                return berr_set(err, BERR_INTERNAL, 0, "grpc: cannot set up connection: %s",
                                r < 0 && r > -4096 ? strerror(-r) : nghttp2_strerror(r));
        }
        conn->io_events = EPOLLIN;
        conn->next = srv->conns;
        if (srv->conns)
                srv->conns->prev = conn;
        srv->conns = conn;
        srv->n_conns++;
        grpc_conn_schedule(conn); /* our SETTINGS */
        return 0;
}

void grpc_conn_close(grpc_conn *conn) {
        grpc_server *srv = conn->srv;
        if (conn->prev)
                conn->prev->next = conn->next;
        else
                srv->conns = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        srv->n_conns--;

        /* Detach every call before telling any handler, so an on_cancel that touches another call of this
         * connection finds it already gone. */
        grpc_call *calls = conn->calls;
        conn->calls = NULL;
        for (grpc_call *call = calls; call; call = call->next)
                call->conn = NULL;
        while (calls) {
                grpc_call *call = calls;
                calls = call->next;
                call->prev = call->next = NULL;
                grpc_call_orphaned(call);
        }
        ev_source_free(conn->io);
        nghttp2_session_del(conn->session);
        safe_close(conn->fd);
        free(conn->out);
        free(conn);
}
