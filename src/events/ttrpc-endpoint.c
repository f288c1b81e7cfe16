#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "events/ttrpc-endpoint.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "ttrpc/ttrpc.h"

#define GO_ZERO_TIME_SECONDS INT64_C(-62135596800) /* time.Time{} as a protobuf Timestamp */

struct events_ttrpc {
        ttrpc_server *server;
        event_exchange *x;
        char *path;
        dev_t dev;
        ino_t ino;
};

int64_t event_envelope_timestamp_ns(const Google__Protobuf__Timestamp *ts) {
        if (!ts || (ts->seconds == GO_ZERO_TIME_SECONDS && ts->nanos == 0))
                return 0;
        if (ts->seconds > INT64_MAX / 1000000000 - 1 || ts->seconds < INT64_MIN / 1000000000 + 1)
                return 0; /* outside what berthd represents (years ±292): treated as unset */
        return ts->seconds * 1000000000 + ts->nanos;
}

static void on_forward(ttrpc_call *call, const uint8_t *payload, size_t len, void *userdata) {
        events_ttrpc *t = userdata;
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest *req =
                (Containerd__Services__Events__Ttrpc__V1__ForwardRequest *) ttrpc_call_decode(
                        call, &containerd__services__events__ttrpc__v1__forward_request__descriptor, payload, len);
        if (!req)
                return;
        const Containerd__Services__Events__Ttrpc__V1__Envelope *env = req->envelope;
        const Google__Protobuf__Any *any = env ? env->event : NULL;
        berr *e = NULL;
        if (event_forward(t->x, env ? event_envelope_timestamp_ns(env->timestamp) : 0, env ? env->namespace_ : "",
                          env ? env->topic : "", any ? any->type_url : "", any ? any->value.data : NULL,
                          any ? any->value.len : 0, &e) < 0) {
                log_warn("rejected event forwarded by a shim: %s", e->msg);
                /* As errdefs.ToGRPC words it: the message with its class ("invalid argument"). */
                const char *class = berr_code_class(e->code);
                ttrpc_call_reply_error(call, e->code, "%s%s%s", e->msg, class ? ": " : "", class ? class : "");
                berr_free(e);
        } else
                ttrpc_call_reply(call, NULL);
        protobuf_c_message_free_unpacked(&req->base, NULL);
}

static const ttrpc_method forward_methods[] = {
        { .name = "Forward", .handler = on_forward },
};

static int bind_socket(const char *path, struct stat *ret_st, berr **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, ENAMETOOLONG, "ttrpc socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        struct stat st;
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "%s exists and is not a socket", path);
                if (unlink(path) < 0)
                        return berr_errno(err, errno, "cannot remove stale socket %s", path);
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return berr_errno(err, errno, "socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return berr_errno(err, errno, "cannot bind %s", path);
        /* Restricted before listen(): nobody can connect in between. */
        if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0 || stat(path, ret_st) < 0) {
                int e = errno;
                (void) unlink(path);
                return berr_errno(err, e, "cannot listen on %s", path);
        }
        return TAKE_FD(fd);
}

int events_ttrpc_listen(ev_loop *loop, event_exchange *x, const char *path, events_ttrpc **ret, berr **err) {
        events_ttrpc *t = xcalloc(1, sizeof *t);
        t->x = x;
        if (ttrpc_server_new(loop, &t->server, err) < 0 ||
            ttrpc_server_register(t->server, "containerd.services.events.ttrpc.v1.Events", forward_methods,
                                  ELEMENTSOF(forward_methods), t, err) < 0)
                goto fail;
        struct stat st;
        int fd = bind_socket(path, &st, err);
        if (fd < 0)
                goto fail;
        t->path = xstrdup(path);
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        if (ttrpc_server_listen_fd(t->server, fd, err) < 0)
                goto fail;
        *ret = t;
        return 0;
fail:
        events_ttrpc_free(t);
        return -1;
}

events_ttrpc *events_ttrpc_free(events_ttrpc *t) {
        if (!t)
                return NULL;
        t->server = ttrpc_server_free(t->server);
        struct stat st;
        /* Only our own socket file: a successor daemon may already have bound the path. */
        if (t->path && stat(t->path, &st) == 0 && st.st_dev == t->dev && st.st_ino == t->ino && unlink(t->path) < 0)
                log_warn("cannot remove %s: %m", t->path);
        free(t->path);
        free(t);
        return NULL;
}
