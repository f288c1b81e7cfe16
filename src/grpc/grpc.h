/* gRPC over HTTP/2 (nghttp2) on a unix socket: the server berthd serves containerd's API with, and the client the CLI
 * and libberth use. Wire facts: HTTP/2 with content-type application/grpc; each message is a 5-byte prefix
 * {u8 compressed=0, u32 big-endian length} + protobuf bytes; the status travels in trailers grpc-status / grpc-message
 * (percent-encoded); deadlines arrive as grpc-timeout ("<n><unit>", unit H M S m u n); metadata are HTTP/2 headers
 * (containerd puts the namespace in "containerd-namespace").
 *
 * Server model (one event loop, basic/event.h): a method has up to four callbacks. Every request message arrives
 * through on_message; on_half_close when the client ended its side; on_cancel when the client reset the stream, the
 * deadline passed or the connection died (after on_cancel returns the call must not be used, unless the handler holds
 * a grpc_call_ref; a method without on_cancel keeps its call until its grpc_call_finish, which is then a harmless
 * no-op). Handlers run on the loop thread and use calls only there. The handler answers with any
 * number of grpc_call_send() and exactly one grpc_call_finish(). Unary, server-streaming, client-streaming and
 * bidirectional calls all use this one model; for unary methods the library enforces exactly one request message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "basic/event.h"

#define GRPC_MESSAGE_MAX (16u << 20) /* containerd's default max receive size */

typedef struct grpc_server grpc_server;
typedef struct grpc_call grpc_call;

typedef enum grpc_method_kind {
        GRPC_UNARY,
        GRPC_SERVER_STREAMING,
        GRPC_CLIENT_STREAMING,
        GRPC_BIDI_STREAMING,
} grpc_method_kind;

typedef struct grpc_method {
        const char *path; /* "/containerd.services.version.v1.Version/Version" */
        grpc_method_kind kind;
        void (*on_message)(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
        void (*on_half_close)(grpc_call *call, void *userdata); /* may be NULL */
        void (*on_cancel)(grpc_call *call, void *userdata);     /* may be NULL */
} grpc_method;

int grpc_server_new(ev_loop *loop, grpc_server **ret, berr **err);
grpc_server *grpc_server_free(grpc_server *srv);
/* methods must outlive the server (static tables). userdata is passed to every callback of these methods. */
int grpc_server_register(grpc_server *srv, const grpc_method *methods, size_t n, void *userdata, berr **err);
/* Binds path (removing a stale socket), mode 0600, and serves it. */
int grpc_server_listen_unix(grpc_server *srv, const char *path, berr **err);
/* Also serves an already listening fd (taken over). */
int grpc_server_listen_fd(grpc_server *srv, int fd, berr **err);

/* Sends one response message (queued; HTTP/2 flow control respected; never blocks the loop). */
int grpc_call_send(grpc_call *call, const ProtobufCMessage *msg);
int grpc_call_send_bytes(grpc_call *call, const uint8_t *data, size_t len);
/* Bytes queued but not yet written to the socket: producers of large streams (content Read) pace themselves by it. */
size_t grpc_call_pending_bytes(const grpc_call *call);
/* cb runs when pending bytes drop below low_water (to produce more of a large stream). */
void grpc_call_set_on_writable(grpc_call *call, size_t low_water, void (*cb)(grpc_call *call, void *userdata));
/* Ends the call with a status (BERR_OK for success) and releases it. */
void grpc_call_finish(grpc_call *call, berr_code code, const char *fmt, ...) _printf_(3, 4);
void grpc_call_finish_berr(grpc_call *call, const berr *e);
/* Convenience: send msg then finish OK. */
void grpc_call_reply(grpc_call *call, const ProtobufCMessage *msg);

/* First value of a request header (lower-case name), or NULL. */
const char *grpc_call_metadata(const grpc_call *call, const char *name);
/* Remaining deadline in microseconds, or UINT64_MAX when there is none. */
uint64_t grpc_call_deadline_remaining_usec(const grpc_call *call);
const char *grpc_call_path(const grpc_call *call);
/* Per-call state for handlers of streaming methods. */
void grpc_call_set_state(grpc_call *call, void *state);
void *grpc_call_get_state(const grpc_call *call);
/* For handlers that may still touch a call after on_cancel (work finishing on another path): while a reference is
 * held the call stays valid; send/finish after a cancellation are harmless no-ops. A handler whose method has no
 * on_cancel keeps the call until its grpc_call_finish anyway. */
grpc_call *grpc_call_ref(grpc_call *call);
void grpc_call_unref(grpc_call *call);
/* True once the client reset the stream, the deadline passed or the connection died. */
bool grpc_call_is_cancelled(const grpc_call *call);

size_t grpc_server_connection_count(const grpc_server *srv);
/* Registers grpc.health.v1.Health (Check, Watch) answering SERVING for every service name. */
int grpc_health_register(grpc_server *srv, berr **err);

/* ---- client (synchronous; for the CLI and libberth) ---- */
typedef struct grpc_client grpc_client;
typedef struct grpc_stream grpc_stream;

typedef struct grpc_md {
        const char *name;
        const char *value;
} grpc_md;

int grpc_client_connect_unix(const char *path, grpc_client **ret, berr **err);
grpc_client *grpc_client_free(grpc_client *c);
/* Headers sent with every call (e.g. containerd-namespace). */
void grpc_client_set_default_metadata(grpc_client *c, const grpc_md *md, size_t n);

/* Unary call. timeout_usec 0 = none. On a non-OK status returns -1 with err->code = the status code and err->msg = the
 * status message. *ret_resp is malloc'd (may be NULL when empty). */
int grpc_client_unary(grpc_client *c, const char *path, const ProtobufCMessage *req, uint64_t timeout_usec,
                      uint8_t **ret_resp, size_t *ret_len, berr **err);

/* Streaming calls. */
int grpc_client_stream_open(grpc_client *c, const char *path, uint64_t timeout_usec, grpc_stream **ret, berr **err);
int grpc_stream_send(grpc_stream *s, const ProtobufCMessage *msg, berr **err);
int grpc_stream_close_send(grpc_stream *s, berr **err);
/* Blocks for the next message: 1 with a message (*ret malloc'd), 0 at the end of the stream with an OK status,
 * -1 on a non-OK status or a transport error. */
int grpc_stream_recv(grpc_stream *s, uint8_t **ret, size_t *ret_len, berr **err);
/* For callers that wait for a stream together with other fds (an interactive process's stdin): grpc_stream_recv
 * waiting at most timeout_usec (0: only what has arrived or is readable now); 2 when no message came in time. */
int grpc_stream_recv_timeout(grpc_stream *s, uint64_t timeout_usec, uint8_t **ret, size_t *ret_len, berr **err);
/* The connection's socket and the poll(2) events it waits for now (POLLIN, plus POLLOUT while output is queued). */
int grpc_client_pollfd(const grpc_client *c, short *ret_events);
grpc_stream *grpc_stream_free(grpc_stream *s);
