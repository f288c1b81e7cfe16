/* gRPC server: the unix socket listener, the method table, and the timers shared by all calls. Connections and their
 * HTTP/2 sessions live in conn.c, calls in call.c. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/log.h"
#include "grpc/server-internal.h"

static int on_defer(ev_source *s, void *userdata) {
        grpc_server *srv = userdata;
        srv->defer_armed = false;
        grpc_conn *next;
        for (grpc_conn *conn = srv->conns; conn; conn = next) {
                /* on_writable callbacks first, so what they queue leaves in the same flush. */
                for (grpc_call *call = conn->calls; call; call = call->next)
                        if (call->writable_due)
                                grpc_call_dispatch_writable(call);
                next = conn->next;
                if (conn->dirty && grpc_conn_flush(conn) < 0)
                        grpc_conn_close(conn);
        }
        return 0;
}

static void defer_arm(grpc_server *srv) {
        if (srv->defer_armed)
                return;
        if (ev_timer_set(srv->defer, 0) < 0)
                log_error("grpc: cannot arm the defer timer");
        else
                srv->defer_armed = true;
}

void grpc_conn_schedule(grpc_conn *conn) {
        if (!conn)
                return;
        conn->dirty = true;
        /* Inside mem_recv the io handler flushes right after; no need for another round. */
        if (!conn->in_recv)
                defer_arm(conn->srv);
}

void grpc_conn_schedule_writable(grpc_conn *conn) {
        conn->dirty = true;
        defer_arm(conn->srv); /* on_writable callbacks only run from the defer round */
}

static void deadline_rearm(grpc_server *srv) {
        uint64_t next = 0;
        for (grpc_conn *conn = srv->conns; conn; conn = conn->next)
                for (grpc_call *call = conn->calls; call; call = call->next)
                        if (call->deadline && !call->status_sent && (next == 0 || call->deadline < next))
                                next = call->deadline;
        srv->deadline_armed_at = next;
        if (next == 0) {
                (void) ev_timer_disarm(srv->deadline_timer);
                return;
        }
        uint64_t now = now_monotonic_usec();
        (void) ev_timer_set(srv->deadline_timer, next > now ? next - now : 0);
}

void grpc_server_deadline_added(grpc_server *srv, uint64_t deadline) {
        if (srv->deadline_armed_at != 0 && srv->deadline_armed_at <= deadline)
                return;
        srv->deadline_armed_at = deadline;
        uint64_t now = now_monotonic_usec();
        (void) ev_timer_set(srv->deadline_timer, deadline > now ? deadline - now : 0);
}

static int on_deadline(ev_source *s, void *userdata) {
        grpc_server *srv = userdata;
        uint64_t now = now_monotonic_usec();
        for (grpc_conn *conn = srv->conns; conn; conn = conn->next) {
                grpc_call *next;
                for (grpc_call *call = conn->calls; call; call = next) {
                        /* The call stays on the list while its stream is open, whatever the handler does. */
                        next = call->next;
                        if (call->deadline && call->deadline <= now && !call->status_sent)
                                grpc_call_abort(call, BERR_DEADLINE_EXCEEDED, "context deadline exceeded");
                }
        }
        deadline_rearm(srv);
        return 0;
}

int grpc_server_new(ev_loop *loop, grpc_server **ret, berr **err) {
        grpc_server *srv = xcalloc(1, sizeof *srv);
        srv->loop = loop;
        srv->listen_fd = -1;
        srv->callbacks = grpc_conn_callbacks_new();
        int r = ev_add_timer(loop, &srv->defer, EV_TIMER_DISARMED, on_defer, srv);
        if (r >= 0)
                r = ev_add_timer(loop, &srv->deadline_timer, EV_TIMER_DISARMED, on_deadline, srv);
        if (r < 0) {
                grpc_server_free(srv);
                return berr_errno(err, -r, "grpc: cannot create server timers");
        }
        *ret = srv;
        return 0;
}

grpc_server *grpc_server_free(grpc_server *srv) {
        if (!srv)
                return NULL;
        ev_source_free(srv->listen_io);
        safe_close(srv->listen_fd);
        while (srv->conns)
                grpc_conn_close(srv->conns);
        ev_source_free(srv->defer);
        ev_source_free(srv->deadline_timer);
        if (srv->callbacks)
                nghttp2_session_callbacks_del(srv->callbacks);
        free(srv->methods);
        free(srv);
        return NULL;
}

int grpc_server_register(grpc_server *srv, const grpc_method *methods, size_t n, void *userdata, berr **err) {
        for (size_t i = 0; i < n; i++) {
                if (!methods[i].path || methods[i].path[0] != '/' || !strchr(methods[i].path + 1, '/') ||
                    !methods[i].on_message)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "grpc: invalid method %s",
                                        methods[i].path ? methods[i].path : "(null)");
                for (size_t j = 0; j < srv->n_methods; j++)
                        if (strcmp(srv->methods[j].method->path, methods[i].path) == 0)
                                return berr_set(err, BERR_ALREADY_EXISTS, 0, "grpc: method %s already registered",
                                                methods[i].path);
        }
        srv->methods = xrealloc(srv->methods, (srv->n_methods + n) * sizeof *srv->methods);
        for (size_t i = 0; i < n; i++)
                srv->methods[srv->n_methods++] = (grpc_registered) { .method = &methods[i], .userdata = userdata };
        return 0;
}

/* Resolves "/pkg.Service/Method" with grpc-go's messages for what is not there. */
const grpc_registered *grpc_server_lookup(grpc_server *srv, const char *path, char **ret_unimplemented_msg) {
        for (size_t i = 0; path && i < srv->n_methods; i++)
                if (strcmp(srv->methods[i].method->path, path) == 0)
                        return &srv->methods[i];
        const char *slash = path && path[0] == '/' ? strrchr(path, '/') : NULL;
        if (!slash || slash == path) {
                *ret_unimplemented_msg = xasprintf("malformed method name: \"%s\"", path ? path : "");
                return NULL;
        }
        size_t svc_len = (size_t) (slash - path); /* "/svc" */
        for (size_t i = 0; i < srv->n_methods; i++) {
                const char *p = srv->methods[i].method->path;
                if (strncmp(p, path, svc_len) == 0 && p[svc_len] == '/') {
                        *ret_unimplemented_msg = xasprintf("unknown method %s for service %.*s", slash + 1,
                                                           (int) svc_len - 1, path + 1);
                        return NULL;
                }
        }
        *ret_unimplemented_msg = xasprintf("unknown service %.*s", (int) svc_len - 1, path + 1);
        return NULL;
}

static int on_accept(ev_source *s, int fd, uint32_t revents, void *userdata) {
        grpc_server *srv = userdata;
        for (;;) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                log_debug("grpc: accept failed: %m");
                        return 0;
                }
                _cleanup_berr_ berr *e = NULL;
                if (grpc_conn_new(srv, cfd, &e) < 0)
                        log_debug("%s", e->msg);
        }
}

int grpc_server_listen_fd(grpc_server *srv, int fd, berr **err) {
        if (srv->listen_fd >= 0) {
                safe_close(fd);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "grpc: server is already listening");
        }
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                int e = errno;
                safe_close(fd);
                return berr_errno(err, e, "grpc: cannot make listening socket nonblocking");
        }
        int r = ev_add_io(srv->loop, &srv->listen_io, fd, EPOLLIN, on_accept, srv);
        if (r < 0) {
                safe_close(fd);
                return berr_errno(err, -r, "grpc: cannot watch listening socket");
        }
        srv->listen_fd = fd;
        return 0;
}

int grpc_server_listen_unix(grpc_server *srv, const char *path, berr **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, ENAMETOOLONG, "grpc: socket path too long: %s", path);
        strcpy(sa.sun_path, path);

        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "grpc: %s exists and is not a socket",
                                        path);
                if (unlink(path) < 0)
                        return berr_errno(err, errno, "grpc: cannot remove stale socket %s", path);
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return berr_errno(err, errno, "grpc: socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return berr_errno(err, errno, "grpc: cannot bind %s", path);
        /* Restrict before listen(): nobody can connect in between. */
        if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
                int e = errno;
                (void) unlink(path);
                return berr_errno(err, e, "grpc: cannot listen on %s", path);
        }
        return grpc_server_listen_fd(srv, TAKE_FD(fd), err);
}

size_t grpc_server_connection_count(const grpc_server *srv) {
        return srv->n_conns;
}
