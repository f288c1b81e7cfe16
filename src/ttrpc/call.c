/* A request in progress on the server. The handler answers it exactly once, at once or later; the call keeps its
 * connection referenced, so answering after the peer went away is safe (the reply is dropped). */
#include <stdarg.h>
#include <strings.h>

#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc-internal.h"

static void call_free(ttrpc_call *call) {
        ttrpc__request__free_unpacked(call->req, NULL);
        ttrpc_conn_unref(call->conn);
        free(call);
}

static void call_finish(ttrpc_call *call, berr_code code, const char *message, const uint8_t *payload, size_t len) {
        ttrpc_conn_send_response(call->conn, call->stream_id, code, message, payload, len);
        call_free(call);
}

void ttrpc_call_reply_bytes(ttrpc_call *call, const uint8_t *payload, size_t len) {
        call_finish(call, BERR_OK, NULL, payload, len);
}

void ttrpc_call_reply(ttrpc_call *call, const ProtobufCMessage *msg) {
        if (!msg) {
                call_finish(call, BERR_OK, NULL, NULL, 0);
                return;
        }
        size_t len = protobuf_c_message_get_packed_size(msg);
        _cleanup_free_ uint8_t *buf = xmalloc(len ? len : 1);
        protobuf_c_message_pack(msg, buf);
        call_finish(call, BERR_OK, NULL, buf, len);
}

/* An error reply must carry a non-zero code, or the client would read it as success. */
static berr_code error_code(berr_code code) {
        return code > BERR_OK && code < _BERR_CODE_MAX ? code : BERR_UNKNOWN;
}

void ttrpc_call_reply_error(ttrpc_call *call, berr_code code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        call_finish(call, error_code(code), msg, NULL, 0);
}

void ttrpc_call_reply_berr(ttrpc_call *call, const berr *e) {
        if (!e) {
                call_finish(call, BERR_UNKNOWN, "unknown error", NULL, 0);
                return;
        }
        call_finish(call, error_code(e->code), e->msg ? e->msg : "", NULL, 0);
}

ProtobufCMessage *ttrpc_call_decode(ttrpc_call *call, const ProtobufCMessageDescriptor *desc, const uint8_t *payload,
                                    size_t len) {
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, payload);
        if (!m)
                ttrpc_call_reply_error(call, BERR_INTERNAL, "ttrpc: error unmarshalling payload: invalid %s",
                                       desc->name);
        return m;
}

const char *ttrpc_call_metadata(const ttrpc_call *call, const char *key) {
        for (size_t i = 0; i < call->req->n_metadata; i++) {
                const Ttrpc__KeyValue *kv = call->req->metadata[i];
                if (kv->key && strcasecmp(kv->key, key) == 0)
                        return kv->value;
        }
        return NULL;
}

int64_t ttrpc_call_timeout_nano(const ttrpc_call *call) {
        return call->req->timeout_nano;
}

const char *ttrpc_call_service(const ttrpc_call *call) {
        return call->req->service;
}

const char *ttrpc_call_method(const ttrpc_call *call) {
        return call->req->method;
}

bool ttrpc_call_connected(const ttrpc_call *call) {
        return call->conn->srv && !call->conn->ch.closed && !call->conn->ch.broken;
}
