/* ttrpc client: unary calls, many in flight on one connection. Stream ids are odd and strictly increasing from 1
 * (a v1.2 server refuses a re-used id); replies are matched by id in any order. A deadline is both sent as
 * timeout_nano and enforced here with a timer, after which a late reply is dropped. */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "basic/log.h"
#include "google/rpc/status.pb-c.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc-internal.h"

/* Go's texts for the same situations (ttrpc.ErrClosed, context.DeadlineExceeded). */
#define MSG_CLOSED "ttrpc: closed"
#define MSG_DEADLINE "context deadline exceeded"

typedef struct pending {
        struct pending *prev, *next;
        ttrpc_client *client;
        uint32_t stream_id;
        ev_source *timer;
        ttrpc_reply_fn cb;
        void *userdata;
} pending;

struct ttrpc_client {
        unsigned n_ref; /* the owner's, plus one while a callback of ours runs */
        ev_loop *loop;
        ttrpc_channel ch;
        uint64_t next_stream_id;
        pending *pending;
        void (*on_close)(ttrpc_client *c, void *userdata);
        void *on_close_userdata;
};

static ttrpc_client *client_ref(ttrpc_client *c) {
        c->n_ref++;
        return c;
}

static void client_unref(ttrpc_client *c) {
        if (--c->n_ref > 0)
                return;
        ttrpc_channel_done(&c->ch);
        free(c);
}

static void pending_unlink(pending *p) {
        ttrpc_client *c = p->client;
        if (p->prev)
                p->prev->next = p->next;
        else
                c->pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        p->prev = p->next = NULL;
        ev_source_free(p->timer);
        p->timer = NULL;
}

/* Unlinks p and runs its callback exactly once. */
static void pending_complete(pending *p, berr_code code, const char *msg, const uint8_t *payload, size_t len) {
        pending_unlink(p);
        p->cb(code, msg, payload, len, p->userdata);
        free(p);
}

static pending *pending_find(ttrpc_client *c, uint32_t stream_id) {
        for (pending *p = c->pending; p; p = p->next)
                if (p->stream_id == stream_id)
                        return p;
        return NULL;
}

static void client_close(ttrpc_client *c) {
        if (c->ch.closed)
                return;
        client_ref(c);
        ttrpc_channel_close(&c->ch);
        while (c->pending)
                pending_complete(c->pending, BERR_UNAVAILABLE, MSG_CLOSED, NULL, 0);
        void (*on_close)(ttrpc_client *, void *) = c->on_close;
        c->on_close = NULL;
        if (on_close)
                on_close(c, c->on_close_userdata);
        client_unref(c);
}

static void handle_response(ttrpc_client *c, pending *p, const uint8_t *data, size_t len) {
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, len, data);
        if (!resp) {
                pending_complete(p, BERR_INTERNAL, "ttrpc: cannot decode response", NULL, 0);
                return;
        }
        /* Success is an absent status or code 0 (Go checks status != nil && code != 0). */
        if (resp->status && resp->status->code != 0)
                pending_complete(p, (berr_code) resp->status->code, resp->status->message ? resp->status->message : "",
                                 NULL, 0);
        else
                pending_complete(p, BERR_OK, NULL, resp->payload.data, resp->payload.len);
        ttrpc__response__free_unpacked(resp, NULL);
}

static int client_frame(const ttrpc_header *h, const uint8_t *data, bool oversized, void *userdata) {
        ttrpc_client *c = userdata;

        if (c->ch.closed)
                return -1;
        if (!oversized && h->type != TTRPC_TYPE_RESPONSE)
                return 0;
        pending *p = pending_find(c, h->stream_id);
        if (!p) {
                log_debug("ttrpc: dropping response for unknown or expired stream %u", h->stream_id);
                return 0;
        }
        if (oversized) {
                _cleanup_free_ char *msg = ttrpc_oversize_message(h->length);
                pending_complete(p, BERR_RESOURCE_EXHAUSTED, msg, NULL, 0);
        } else
                handle_response(c, p, data, h->length);
        return c->ch.closed ? -1 : 0;
}

static int client_io(ev_source *s, int fd, uint32_t revents, void *userdata) {
        ttrpc_client *c = client_ref(userdata);
        if (ttrpc_channel_dispatch(&c->ch, revents, client_frame, c) == 0)
                client_close(c);
        client_unref(c);
        return 0;
}

static int pending_timeout(ev_source *s, void *userdata) {
        pending *p = userdata;
        ttrpc_client *c = client_ref(p->client);
        pending_complete(p, BERR_DEADLINE_EXCEEDED, MSG_DEADLINE, NULL, 0);
        client_unref(c);
        return 0;
}

int ttrpc_client_new_from_fd(ev_loop *loop, int fd, ttrpc_client **ret, berr **err) {
        ttrpc_client *c = xcalloc(1, sizeof *c);
        c->n_ref = 1;
        c->loop = loop;
        c->next_stream_id = 1;
        if (ttrpc_channel_init(&c->ch, loop, fd, client_io, c, err) < 0) {
                free(c);
                return -1;
        }
        *ret = c;
        return 0;
}

int ttrpc_client_connect(ev_loop *loop, const char *address, ttrpc_client **ret, berr **err) {
        const char *path = address;
        if (strncmp(path, "unix://", 7) == 0)
                path += 7;

        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(path);
        if (n == 0 || n >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "ttrpc: invalid socket address \"%s\"", address);
        memcpy(sa.sun_path, path, n);
        if (path[0] == '@') /* abstract namespace, as Go spells it */
                sa.sun_path[0] = '\0';

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_errno(err, errno, "ttrpc: socket");
        socklen_t salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
        while (connect(fd, (struct sockaddr *) &sa, salen) < 0) {
                if (errno == EINTR)
                        continue;
                return berr_set(err, BERR_UNAVAILABLE, errno, "ttrpc: connect %s: %s", address, strerror(errno));
        }
        return ttrpc_client_new_from_fd(loop, TAKE_FD(fd), ret, err);
}

ttrpc_client *ttrpc_client_free(ttrpc_client *c) {
        if (!c)
                return NULL;
        c->on_close = NULL;
        client_close(c);
        client_unref(c);
        return NULL;
}

bool ttrpc_client_closed(const ttrpc_client *c) {
        return c->ch.closed;
}

void ttrpc_client_set_on_close(ttrpc_client *c, void (*on_close)(ttrpc_client *c, void *userdata), void *userdata) {
        c->on_close = on_close;
        c->on_close_userdata = userdata;
}

/* Encodes the Request frame, or fails (nothing sent) when it would exceed the peer's maximum. */
static uint8_t *request_frame(uint32_t stream_id, const char *service, const char *method, const ProtobufCMessage *msg,
                              const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, size_t *ret_len,
                              berr **err) {
        Ttrpc__Request req = TTRPC__REQUEST__INIT;
        req.service = (char *) service;
        req.method = (char *) method;
        req.timeout_nano = timeout_ns;

        _cleanup_free_ uint8_t *payload = NULL;
        if (msg) {
                req.payload.len = protobuf_c_message_get_packed_size(msg);
                payload = xmalloc(req.payload.len ? req.payload.len : 1);
                protobuf_c_message_pack(msg, payload);
                req.payload.data = payload;
        }

        _cleanup_free_ Ttrpc__KeyValue *kvs = xcalloc(n_metadata ? n_metadata : 1, sizeof *kvs);
        _cleanup_free_ Ttrpc__KeyValue **kvp = xcalloc(n_metadata ? n_metadata : 1, sizeof *kvp);
        for (size_t i = 0; i < n_metadata; i++) {
                ttrpc__key_value__init(&kvs[i]);
                kvs[i].key = (char *) metadata[i].key;
                kvs[i].value = (char *) (metadata[i].value ? metadata[i].value : "");
                kvp[i] = &kvs[i];
        }
        req.n_metadata = n_metadata;
        req.metadata = kvp;

        size_t len = ttrpc__request__get_packed_size(&req);
        if (len > TTRPC_MESSAGE_LENGTH_MAX) {
                _cleanup_free_ char *m = ttrpc_oversize_message(len);
                berr_set(err, BERR_RESOURCE_EXHAUSTED, 0, "%s", m);
                return NULL;
        }
        uint8_t *frame = ttrpc_frame_new(stream_id, TTRPC_TYPE_REQUEST, len);
        ttrpc__request__pack(&req, frame + TTRPC_HEADER_LENGTH);
        *ret_len = TTRPC_HEADER_LENGTH + len;
        return frame;
}

/* Like ttrpc_client_call; also returns the stream id used. */
static int client_call(ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                       const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, ttrpc_reply_fn cb,
                       void *userdata, uint32_t *ret_stream_id, berr **err) {
        if (c->ch.closed)
                return berr_set(err, BERR_UNAVAILABLE, 0, MSG_CLOSED);
        if (timeout_ns < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "ttrpc: negative timeout");
        if (c->next_stream_id > UINT32_MAX)
                return berr_set(err, BERR_UNAVAILABLE, 0, "ttrpc: stream ids exhausted on this connection");

        uint32_t stream_id = (uint32_t) c->next_stream_id;
        size_t len;
        uint8_t *frame = request_frame(stream_id, service, method, req, metadata, n_metadata, timeout_ns, &len, err);
        if (!frame)
                return -1;

        pending *p = xcalloc(1, sizeof *p);
        *p = (pending) { .client = c, .stream_id = stream_id, .cb = cb, .userdata = userdata };
        if (timeout_ns > 0) {
                uint64_t usec = (uint64_t) timeout_ns / 1000 + ((uint64_t) timeout_ns % 1000 != 0);
                int r = ev_add_timer(c->loop, &p->timer, usec, pending_timeout, p);
                if (r < 0) {
                        free(p);
                        free(frame);
                        return berr_errno(err, -r, "ttrpc: cannot add deadline timer");
                }
        }
        p->next = c->pending;
        if (c->pending)
                c->pending->prev = p;
        c->pending = p;
        c->next_stream_id += 2;

        /* A write failure shuts the socket down; the call then fails with UNAVAILABLE from the io callback. */
        ttrpc_channel_send(&c->ch, frame, len);
        if (ret_stream_id)
                *ret_stream_id = stream_id;
        return 0;
}

int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                      const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, ttrpc_reply_fn cb,
                      void *userdata, berr **err) {
        return client_call(c, service, method, req, metadata, n_metadata, timeout_ns, cb, userdata, NULL, err);
}

typedef struct sync_result {
        bool done;
        berr_code code;
        char *msg;
        uint8_t *payload;
        size_t len;
} sync_result;

static void sync_reply(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *userdata) {
        sync_result *res = userdata;
        res->done = true;
        res->code = code;
        if (code != BERR_OK)
                res->msg = xstrdup(msg ? msg : "");
        else if (len > 0) {
                res->payload = xmalloc(len);
                memcpy(res->payload, payload, len);
                res->len = len;
        }
}

int ttrpc_client_call_sync(ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                           const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, uint8_t **ret_payload,
                           size_t *ret_len, berr **err) {
        sync_result res = {};
        ev_loop *loop = c->loop;
        uint32_t stream_id;

        if (client_call(c, service, method, req, metadata, n_metadata, timeout_ns, sync_reply, &res, &stream_id,
                        err) < 0)
                return -1;

        /* The client may be freed by another callback meanwhile; that completes our call, so c is only touched
         * while the call is still pending. */
        while (!res.done) {
                int r = ev_loop_run_once(loop, -1);
                if (r < 0 && r != -EINTR && !res.done) {
                        pending *p = pending_find(c, stream_id);
                        if (p) {
                                pending_unlink(p);
                                free(p);
                        }
                        return berr_errno(err, -r, "ttrpc: event loop failed while waiting for %s/%s", service,
                                          method);
                }
        }

        if (res.code != BERR_OK) {
                berr_set(err, res.code, 0, "%s", res.msg);
                free(res.msg);
                return -1;
        }
        if (ret_payload)
                *ret_payload = res.payload;
        else
                free(res.payload);
        if (ret_len)
                *ret_len = res.len;
        return 0;
}
