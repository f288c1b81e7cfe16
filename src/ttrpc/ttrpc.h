/* ttrpc (containerd's RPC over unix sockets), client and server, unary calls only — the mode the shim Task API and the
 * events Forward use (shared/protocol/shim-v2.md §1). Both sides run on the event loop (basic/event.h):
 *   - the server answers many requests in flight on one connection, in any order: a handler receives a ttrpc_call and may
 *     reply at once or keep the call and reply later (a blocking Wait);
 *   - the client keeps many calls in flight on one connection with odd, strictly increasing stream ids, and matches
 *     replies by id.
 * Frames: 10-byte big-endian header {u32 length, u32 stream id, u8 type, u8 flags}; data at most 4 MiB. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "basic/event.h"

#define TTRPC_MESSAGE_LENGTH_MAX (4u << 20)
#define TTRPC_HEADER_LENGTH 10
#define TTRPC_TYPE_REQUEST 0x01
#define TTRPC_TYPE_RESPONSE 0x02
#define TTRPC_TYPE_DATA 0x03

typedef struct ttrpc_header {
        uint32_t length;
        uint32_t stream_id;
        uint8_t type;
        uint8_t flags;
} ttrpc_header;

void ttrpc_header_encode(const ttrpc_header *h, uint8_t out[TTRPC_HEADER_LENGTH]);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LENGTH], ttrpc_header *h);

typedef struct ttrpc_kv {
        const char *key;
        const char *value;
} ttrpc_kv;

/* ---- server ---- */
typedef struct ttrpc_server ttrpc_server;
typedef struct ttrpc_call ttrpc_call;

/* payload is the undecoded method input; it stays valid only during the handler. The handler must eventually reply
 * exactly once (ttrpc_call_reply*), now or later. */
typedef void (*ttrpc_handler_fn)(ttrpc_call *call, const uint8_t *payload, size_t len, void *userdata);

typedef struct ttrpc_method {
        const char *name;
        ttrpc_handler_fn handler;
} ttrpc_method;

int ttrpc_server_new(ev_loop *loop, ttrpc_server **ret, berr **err);
ttrpc_server *ttrpc_server_free(ttrpc_server *srv);
/* methods must outlive the server (static tables). */
int ttrpc_server_register(ttrpc_server *srv, const char *service, const ttrpc_method *methods, size_t n_methods,
                          void *userdata, berr **err);
/* Takes ownership of a listening unix socket. */
int ttrpc_server_listen_fd(ttrpc_server *srv, int listen_fd, berr **err);
/* Serves one already connected socket (e.g. one end of a socketpair); takes ownership of fd. The peer must have our
 * euid/egid (SO_PEERCRED), as for accepted connections; otherwise fd is closed and BERR_PERMISSION_DENIED returned. */
int ttrpc_server_add_connection_fd(ttrpc_server *srv, int fd, berr **err);
/* Stops accepting and closes every connection; calls still held stay valid and their replies are dropped. */
void ttrpc_server_shutdown(ttrpc_server *srv);
size_t ttrpc_server_connection_count(const ttrpc_server *srv);
/* cb runs before each request is dispatched (e.g. to note activity). */
void ttrpc_server_set_on_request(ttrpc_server *srv, void (*cb)(void *userdata), void *userdata);

/* Reply with a message (NULL → empty payload, a header-only frame) and release the call. */
void ttrpc_call_reply(ttrpc_call *call, const ProtobufCMessage *msg);
void ttrpc_call_reply_bytes(ttrpc_call *call, const uint8_t *payload, size_t len);
/* Reply with an error status (code = gRPC code) and release the call. */
void ttrpc_call_reply_error(ttrpc_call *call, berr_code code, const char *fmt, ...) _printf_(3, 4);
void ttrpc_call_reply_berr(ttrpc_call *call, const berr *e);
/* Decodes a handler's payload as desc. On failure it replies Internal "ttrpc: error unmarshalling payload: ..." (as
 * Go's ttrpc does), which releases the call, and returns NULL: the handler must then just return. Free the result
 * with protobuf_c_message_free_unpacked(m, NULL). */
ProtobufCMessage *ttrpc_call_decode(ttrpc_call *call, const ProtobufCMessageDescriptor *desc, const uint8_t *payload,
                                    size_t len);
/* First value of a metadata key (lower-case compare), or NULL. */
const char *ttrpc_call_metadata(const ttrpc_call *call, const char *key);
int64_t ttrpc_call_timeout_nano(const ttrpc_call *call);
const char *ttrpc_call_service(const ttrpc_call *call);
const char *ttrpc_call_method(const ttrpc_call *call);
/* False once the peer's connection is gone (a reply would be dropped). */
bool ttrpc_call_connected(const ttrpc_call *call);

/* ---- client ---- */
typedef struct ttrpc_client ttrpc_client;

/* code == BERR_OK on success (payload = the response payload, maybe empty); otherwise msg holds the status message (or a
 * transport error: BERR_UNAVAILABLE when the connection closed, BERR_DEADLINE_EXCEEDED on timeout). Called exactly once. */
typedef void (*ttrpc_reply_fn)(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *userdata);

/* Connects (blocking connect(2) on a unix socket path; an optional "unix://" prefix is stripped). */
int ttrpc_client_connect(ev_loop *loop, const char *address, ttrpc_client **ret, berr **err);
/* Wraps an already connected socket (takes ownership of fd). */
int ttrpc_client_new_from_fd(ev_loop *loop, int fd, ttrpc_client **ret, berr **err);
/* Fails every pending call with BERR_UNAVAILABLE and frees the client (on_close is not called). Safe from inside a
 * reply callback. */
ttrpc_client *ttrpc_client_free(ttrpc_client *c);
bool ttrpc_client_closed(const ttrpc_client *c);
/* Called once when the connection closes (peer hung up or error). */
void ttrpc_client_set_on_close(ttrpc_client *c, void (*on_close)(ttrpc_client *c, void *userdata), void *userdata);

/* Asynchronous unary call. timeout_ns 0 = no deadline (none sent, none enforced); otherwise sent as timeout_nano and
 * enforced locally with a timer (negative: BERR_INVALID_ARGUMENT). req NULL sends an empty payload. Fails without
 * sending anything (cb not called) when closed (BERR_UNAVAILABLE) or when the request would exceed 4 MiB
 * (BERR_RESOURCE_EXHAUSTED); otherwise cb is called exactly once, never from inside this function. */
int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                      const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, ttrpc_reply_fn cb,
                      void *userdata, berr **err);
/* Synchronous unary call: pumps the loop until the reply arrives. On success *ret_payload (malloc'd, maybe NULL with
 * *ret_len 0) holds the response payload. On a status error returns -1 with *err carrying the code and message. */
int ttrpc_client_call_sync(ttrpc_client *c, const char *service, const char *method, const ProtobufCMessage *req,
                           const ttrpc_kv *metadata, size_t n_metadata, int64_t timeout_ns, uint8_t **ret_payload,
                           size_t *ret_len, berr **err);
