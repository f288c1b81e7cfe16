/* ttrpc server: accepts connections, reassembles frames, checks stream ids like Go's ttrpc (v1.1 ignores non-Request
 * frames; v1.2 refuses re-used ids), resolves service and method, and hands each request to its handler as a
 * ttrpc_call that may be answered at once or later, in any order (call.c). */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc-internal.h"

typedef struct service {
        char *name;
        const ttrpc_method *methods;
        size_t n_methods;
        void *userdata;
} service;

struct ttrpc_server {
        ev_loop *loop;
        int listen_fd;
        ev_source *listen_io;
        service *services;
        size_t n_services;
        ttrpc_conn *conns; /* newest first */
        size_t n_conns;
        uid_t euid;
        gid_t egid;
        void (*on_request)(void *userdata);
        void *on_request_userdata;
};

void ttrpc_server_set_on_request(ttrpc_server *srv, void (*cb)(void *userdata), void *userdata) {
        srv->on_request = cb;
        srv->on_request_userdata = userdata;
}

int ttrpc_server_new(ev_loop *loop, ttrpc_server **ret, berr **err) {
        ttrpc_server *srv = xcalloc(1, sizeof *srv);
        srv->loop = loop;
        srv->listen_fd = -1;
        srv->euid = geteuid();
        srv->egid = getegid();
        *ret = srv;
        return 0;
}

int ttrpc_server_register(ttrpc_server *srv, const char *name, const ttrpc_method *methods, size_t n_methods,
                          void *userdata, berr **err) {
        for (size_t i = 0; i < srv->n_services; i++)
                if (strcmp(srv->services[i].name, name) == 0)
                        return berr_set(err, BERR_ALREADY_EXISTS, 0, "ttrpc: service %s already registered", name);
        srv->services = xrealloc(srv->services, (srv->n_services + 1) * sizeof *srv->services);
        srv->services[srv->n_services++] = (service) {
                .name = xstrdup(name),
                .methods = methods,
                .n_methods = n_methods,
                .userdata = userdata,
        };
        return 0;
}

ttrpc_conn *ttrpc_conn_ref(ttrpc_conn *conn) {
        conn->n_ref++;
        return conn;
}

/* noinline: inlined twice into one caller, GCC 12 cannot see the refcount and warns of a use after free. */
__attribute__((noinline)) void ttrpc_conn_unref(ttrpc_conn *conn) {
        if (!conn || --conn->n_ref > 0)
                return;
        ttrpc_channel_done(&conn->ch);
        free(conn);
}

static void conn_close(ttrpc_conn *conn) {
        ttrpc_server *srv = conn->srv;
        if (!srv)
                return;
        ttrpc_channel_close(&conn->ch);
        if (conn->prev)
                conn->prev->next = conn->next;
        else
                srv->conns = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        conn->prev = conn->next = NULL;
        srv->n_conns--;
        conn->srv = NULL;
        ttrpc_conn_unref(conn); /* the server's reference */
}

void ttrpc_conn_send_response(ttrpc_conn *conn, uint32_t stream_id, berr_code code, const char *message,
                              const uint8_t *payload, size_t len) {
        if (conn->ch.closed)
                return;
        size_t flen;
        uint8_t *frame = ttrpc_response_frame(stream_id, code, message, payload, len, &flen);
        if (flen - TTRPC_HEADER_LENGTH > TTRPC_MESSAGE_LENGTH_MAX) {
                /* Go would send it and the peer would refuse it; tell the caller instead. */
                _cleanup_free_ char *msg = ttrpc_oversize_message(flen - TTRPC_HEADER_LENGTH);
                free(frame);
                frame = ttrpc_response_frame(stream_id, BERR_RESOURCE_EXHAUSTED, msg, NULL, 0, &flen);
        }
        ttrpc_channel_send(&conn->ch, frame, flen);
}

static const ttrpc_method *resolve(ttrpc_server *srv, const char *svc, const char *method, void **ret_userdata,
                                   ttrpc_conn *conn, uint32_t stream_id) {
        for (size_t i = 0; i < srv->n_services; i++) {
                service *s = &srv->services[i];
                if (strcmp(s->name, svc) != 0)
                        continue;
                for (size_t j = 0; j < s->n_methods; j++)
                        if (strcmp(s->methods[j].name, method) == 0) {
                                *ret_userdata = s->userdata;
                                return &s->methods[j];
                        }
                _cleanup_free_ char *msg = xasprintf("method %s", method);
                ttrpc_conn_send_response(conn, stream_id, BERR_UNIMPLEMENTED, msg, NULL, 0);
                return NULL;
        }
        _cleanup_free_ char *msg = xasprintf("service %s", svc);
        ttrpc_conn_send_response(conn, stream_id, BERR_UNIMPLEMENTED, msg, NULL, 0);
        return NULL;
}

static void conn_handle_request(ttrpc_conn *conn, const ttrpc_header *h, const uint8_t *data) {
        Ttrpc__Request *req = ttrpc__request__unpack(NULL, h->length, data);
        if (!req) {
                ttrpc_conn_send_response(conn, h->stream_id, BERR_INVALID_ARGUMENT,
                                         "unmarshal request error: invalid protobuf encoding", NULL, 0);
                return;
        }
        if (h->stream_id % 2 != 1) {
                ttrpc__request__free_unpacked(req, NULL);
                ttrpc_conn_send_response(conn, h->stream_id, BERR_INVALID_ARGUMENT,
                                         "StreamID must be odd for client initiated streams", NULL, 0);
                return;
        }
        if (h->stream_id <= conn->last_stream_id) {
                ttrpc__request__free_unpacked(req, NULL);
                ttrpc_conn_send_response(conn, h->stream_id, BERR_INVALID_ARGUMENT,
                                         "StreamID cannot be re-used and must increment", NULL, 0);
                return;
        }
        conn->last_stream_id = h->stream_id;

        void *userdata = NULL;
        const ttrpc_method *m = resolve(conn->srv, req->service, req->method, &userdata, conn, h->stream_id);
        if (!m) {
                ttrpc__request__free_unpacked(req, NULL);
                return;
        }

        if (conn->srv->on_request)
                conn->srv->on_request(conn->srv->on_request_userdata);
        ttrpc_call *call = xcalloc(1, sizeof *call);
        call->conn = ttrpc_conn_ref(conn);
        call->stream_id = h->stream_id;
        call->req = req;
        m->handler(call, req->payload.data, req->payload.len, userdata);
}

static int conn_frame(const ttrpc_header *h, const uint8_t *data, bool oversized, void *userdata) {
        ttrpc_conn *conn = userdata;

        if (!conn->srv)
                return -1;
        if (oversized) {
                _cleanup_free_ char *msg = ttrpc_oversize_message(h->length);
                ttrpc_conn_send_response(conn, h->stream_id, BERR_RESOURCE_EXHAUSTED, msg, NULL, 0);
                return 0;
        }
        if (h->type != TTRPC_TYPE_REQUEST)
                return 0; /* v1.1: other types are ignored for future compatibility */

        conn_handle_request(conn, h, data);
        return conn->srv ? 0 : -1; /* a handler may have shut the server down */
}

static int conn_io(ev_source *s, int fd, uint32_t revents, void *userdata) {
        ttrpc_conn *conn = ttrpc_conn_ref(userdata);
        if (ttrpc_channel_dispatch(&conn->ch, revents, conn_frame, conn) == 0)
                conn_close(conn); /* EOF, reset or a broken socket: quietly */
        ttrpc_conn_unref(conn);
        return 0;
}

static bool peer_is_same_user(ttrpc_server *srv, int fd) {
        struct ucred cred;
        socklen_t len = sizeof cred;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_debug("ttrpc: SO_PEERCRED failed: %m");
                return false;
        }
        if (cred.uid != srv->euid || cred.gid != srv->egid) {
                log_debug("ttrpc: dropping connection from uid %u gid %u (pid %d)", (unsigned) cred.uid,
                          (unsigned) cred.gid, (int) cred.pid);
                return false;
        }
        return true;
}

int ttrpc_server_add_connection_fd(ttrpc_server *srv, int fd, berr **err) {
        if (!peer_is_same_user(srv, fd)) {
                safe_close(fd);
                return berr_set(err, BERR_PERMISSION_DENIED, EPERM, "ttrpc: peer is not the same user");
        }
        ttrpc_conn *conn = xcalloc(1, sizeof *conn);
        conn->n_ref = 1;
        if (ttrpc_channel_init(&conn->ch, srv->loop, fd, conn_io, conn, err) < 0) {
                free(conn);
                return -1;
        }
        conn->srv = srv;
        conn->next = srv->conns;
        if (srv->conns)
                srv->conns->prev = conn;
        srv->conns = conn;
        srv->n_conns++;
        return 0;
}

static int on_accept(ev_source *s, int fd, uint32_t revents, void *userdata) {
        ttrpc_server *srv = userdata;

        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                log_debug("ttrpc: accept failed: %m");
                        return 0;
                }
                _cleanup_berr_ berr *e = NULL;
                if (ttrpc_server_add_connection_fd(srv, cfd, &e) < 0)
                        log_debug("%s", e->msg);
        }
}

int ttrpc_server_listen_fd(ttrpc_server *srv, int listen_fd, berr **err) {
        if (srv->listen_fd >= 0) {
                safe_close(listen_fd);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "ttrpc: server is already listening");
        }
        int flags = fcntl(listen_fd, F_GETFL);
        if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                int e = errno;
                safe_close(listen_fd);
                return berr_errno(err, e, "ttrpc: cannot make listening socket nonblocking");
        }
        int r = ev_add_io(srv->loop, &srv->listen_io, listen_fd, EPOLLIN, on_accept, srv);
        if (r < 0) {
                safe_close(listen_fd);
                return berr_errno(err, -r, "ttrpc: cannot watch listening socket");
        }
        srv->listen_fd = listen_fd;
        return 0;
}

void ttrpc_server_shutdown(ttrpc_server *srv) {
        ev_source_free(srv->listen_io);
        srv->listen_io = NULL;
        srv->listen_fd = safe_close(srv->listen_fd);
        while (srv->conns)
                conn_close(srv->conns);
}

ttrpc_server *ttrpc_server_free(ttrpc_server *srv) {
        if (!srv)
                return NULL;
        ttrpc_server_shutdown(srv);
        for (size_t i = 0; i < srv->n_services; i++)
                free(srv->services[i].name);
        free(srv->services);
        free(srv);
        return NULL;
}

size_t ttrpc_server_connection_count(const ttrpc_server *srv) {
        return srv->n_conns;
}

int ttrpc_server_feed_for_fuzzing(ttrpc_server *srv, const uint8_t *data, size_t len) {
        if (!srv->conns)
                return -1;
        ttrpc_conn *conn = ttrpc_conn_ref(srv->conns);
        int r = 1;
        while (len > 0) {
                size_t avail;
                uint8_t *p = ttrpc_reader_space(&conn->ch.reader, &avail);
                size_t n = len < avail ? len : avail;
                memcpy(p, data, n);
                ttrpc_reader_advance(&conn->ch.reader, n);
                data += n;
                len -= n;
                if (ttrpc_reader_process(&conn->ch.reader, conn_frame, conn) < 0 || !conn->srv) {
                        r = 0;
                        break;
                }
        }
        ttrpc_conn_unref(conn);
        return r;
}
