/* One server call (one HTTP/2 stream): request headers and messages in, handler callbacks, response messages out
 * through a data provider that pulls from the call's queue, and the status as trailers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "basic/log.h"
#include "grpc/server-internal.h"

#define NV(n, v)                                                                                     \
        {                                                                                            \
                (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
        }

grpc_call *grpc_call_new_internal(grpc_conn *conn, int32_t stream_id) {
        grpc_call *call = xcalloc(1, sizeof *call);
        call->n_ref = 2; /* the stream's and the handler's */
        call->handler_ref = true;
        call->conn = conn;
        call->stream_id = stream_id;
        call->next = conn->calls;
        if (conn->calls)
                conn->calls->prev = call;
        conn->calls = call;
        return call;
}

void grpc_call_ref_internal(grpc_call *call) {
        call->n_ref++;
}

/* noinline: GCC cannot follow the count through inlining and warns of a use after free otherwise. */
__attribute__((noinline)) void grpc_call_unref_internal(grpc_call *call) {
        if (!call || --call->n_ref > 0)
                return;
        free(call->path);
        free(call->content_type);
        free(call->timeout);
        for (size_t i = 0; i < call->n_md; i++) {
                free(call->md[i].name);
                free(call->md[i].value);
        }
        free(call->md);
        grpc_msg_reader_done(&call->reader);
        grpc_bufq_done(&call->sendq);
        free(call->status_msg);
        free(call);
}

grpc_call *grpc_call_ref(grpc_call *call) {
        grpc_call_ref_internal(call);
        return call;
}

void grpc_call_unref(grpc_call *call) {
        grpc_call_unref_internal(call);
}

bool grpc_call_is_cancelled(const grpc_call *call) {
        return call->cancelled || !call->conn;
}

void grpc_call_add_header(grpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                          size_t valuelen) {
        char **slot = NULL;
        if (namelen == 5 && memcmp(name, ":path", 5) == 0)
                slot = &call->path;
        else if (namelen == 12 && memcmp(name, "content-type", 12) == 0)
                slot = &call->content_type;
        else if (namelen == 12 && memcmp(name, "grpc-timeout", 12) == 0)
                slot = &call->timeout;
        if (slot) {
                free(*slot);
                *slot = xstrndup((const char *) value, valuelen);
                return;
        }
        if (namelen > 0 && name[0] == ':')
                return; /* :method, :scheme, :authority: nghttp2 has validated them */
        call->md = xrealloc(call->md, (call->n_md + 1) * sizeof *call->md);
        call->md[call->n_md++] = (grpc_md_entry) {
                .name = xstrndup((const char *) name, namelen),
                .value = xstrndup((const char *) value, valuelen),
        };
}

/* ---- response side ---- */

static ssize_t call_read_data(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                              uint32_t *flags, nghttp2_data_source *source, void *user_data) {
        grpc_call *call = source->ptr;
        size_t n = grpc_bufq_pop(&call->sendq, buf, length);
        if (call->on_writable && call->want_writable && call->sendq.bytes < call->low_water && !call->writable_due) {
                call->writable_due = true;
                grpc_conn_schedule_writable(call->conn);
        }
        if (n > 0)
                return (ssize_t) n;
        if (!call->status_sent) {
                call->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
        }
        char code[16];
        snprintf(code, sizeof code, "%d", (int) call->status);
        nghttp2_nv trailers[] = { NV("grpc-status", code), NV("grpc-message", call->status_msg) };
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        int r = nghttp2_submit_trailer(session, stream_id, trailers, call->status_msg[0] ? 2 : 1);
        if (r < 0) {
                log_debug("grpc: cannot submit trailers: %s", nghttp2_strerror(r));
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        }
        return 0;
}

static void call_submit_headers(grpc_call *call) {
        nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
        nghttp2_data_provider provider = { .source.ptr = call, .read_callback = call_read_data };
        int r = nghttp2_submit_response(call->conn->session, call->stream_id, hdrs, ELEMENTSOF(hdrs), &provider);
        if (r < 0)
                log_debug("grpc: cannot submit response headers: %s", nghttp2_strerror(r));
        call->headers_sent = true;
}

static void call_resume(grpc_call *call) {
        if (!call->deferred)
                return;
        call->deferred = false;
        int r = nghttp2_session_resume_data(call->conn->session, call->stream_id);
        if (r < 0)
                log_debug("grpc: cannot resume stream %d: %s", call->stream_id, nghttp2_strerror(r));
}

/* Decides the status. Without response headers yet this is a trailers-only response (one HEADERS frame with
 * END_STREAM); otherwise the data provider sends the trailers once the queue is drained. */
static void call_submit_status_http(grpc_call *call, const char *http_status, berr_code code, const char *msg) {
        if (call->status_sent || !call->conn)
                return;
        call->status_sent = true;
        call->status = code;
        call->status_msg = grpc_percent_encode(msg);
        call->on_writable = NULL;
        if (!call->headers_sent) {
                char c[16];
                snprintf(c, sizeof c, "%d", (int) code);
                nghttp2_nv hdrs[] = {
                        NV(":status", http_status), NV("content-type", "application/grpc"), NV("grpc-status", c),
                        NV("grpc-message", call->status_msg),
                };
                int r = nghttp2_submit_response(call->conn->session, call->stream_id, hdrs,
                                                call->status_msg[0] ? 4 : 3, NULL);
                if (r < 0)
                        log_debug("grpc: cannot submit trailers-only response: %s", nghttp2_strerror(r));
                call->headers_sent = true;
        } else
                call_resume(call);
        grpc_conn_schedule(call->conn);
}

static void call_submit_status(grpc_call *call, berr_code code, const char *msg) {
        call_submit_status_http(call, "200", code, msg);
}

/* The handler never saw this call: the library answered it and drops the handler's reference. */
static void call_release_unseen(grpc_call *call) {
        if (!call->handler_ref || call->handler_seen)
                return;
        call->handler_ref = false;
        grpc_call_unref_internal(call);
}

static void call_cancel_handler(grpc_call *call) {
        if (!call->handler_ref || call->cancelled)
                return;
        call->cancelled = true;
        call->on_writable = NULL;
        if (!call->handler_seen) {
                call_release_unseen(call);
                return;
        }
        if (!call->method->on_cancel)
                return; /* the handler still owns its reference and will finish */
        grpc_call_ref_internal(call);
        call->method->on_cancel(call, call->userdata);
        if (call->handler_ref) {
                call->handler_ref = false;
                grpc_call_unref_internal(call);
        }
        grpc_call_unref_internal(call);
}

void grpc_call_abort(grpc_call *call, berr_code code, const char *msg) {
        grpc_call_ref_internal(call);
        call_submit_status(call, code, msg);
        call_cancel_handler(call);
        grpc_call_unref_internal(call);
}

void grpc_call_stream_gone(grpc_call *call) {
        grpc_conn *conn = call->conn;
        if (!conn)
                return;
        if (call->prev)
                call->prev->next = call->next;
        else
                conn->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
        call->conn = NULL;
        grpc_call_orphaned(call);
}

void grpc_call_orphaned(grpc_call *call) {
        call_cancel_handler(call);
        grpc_call_unref_internal(call); /* the stream's reference */
}

/* ---- request side ---- */

void grpc_call_start(grpc_call *call) {
        grpc_conn *conn = call->conn;

        if (!grpc_content_type_ok(call->content_type)) {
                _cleanup_free_ char *msg = xasprintf("invalid gRPC request content-type \"%s\"",
                                                     call->content_type ? call->content_type : "");
                call_submit_status_http(call, "415", BERR_INTERNAL, msg);
                call_release_unseen(call);
                return;
        }
        _cleanup_free_ char *unimplemented = NULL;
        const grpc_registered *reg = grpc_server_lookup(conn->srv, call->path, &unimplemented);
        if (!reg) {
                call_submit_status(call, BERR_UNIMPLEMENTED, unimplemented);
                call_release_unseen(call);
                return;
        }
        call->method = reg->method;
        call->userdata = reg->userdata;
        if (call->timeout) {
                uint64_t usec;
                if (grpc_timeout_parse(call->timeout, &usec) < 0) {
                        _cleanup_free_ char *msg = xasprintf("malformed grpc-timeout: %s", call->timeout);
                        call_submit_status(call, BERR_INTERNAL, msg);
                        call_release_unseen(call);
                        return;
                }
                uint64_t now = now_monotonic_usec();
                call->deadline = usec > UINT64_MAX - now ? UINT64_MAX - 1 : now + usec;
                grpc_server_deadline_added(conn->srv, call->deadline);
        }
}

static bool call_accepts_input(const grpc_call *call) {
        return call->method && call->handler_ref && !call->cancelled && !call->status_sent;
}

static int call_deliver(const uint8_t *msg, size_t len, void *userdata) {
        grpc_call *call = userdata;
        if (!call_accepts_input(call))
                return -1;
        grpc_method_kind kind = call->method->kind;
        if ((kind == GRPC_UNARY || kind == GRPC_SERVER_STREAMING) && call->n_received > 0) {
                grpc_call_abort(call, BERR_INTERNAL,
                                "grpc: client streaming protocol violation: more than one request message");
                return -1;
        }
        call->n_received++;
        call->handler_seen = true;
        call->method->on_message(call, msg, len, call->userdata);
        return 0;
}

void grpc_call_feed(grpc_call *call, const uint8_t *data, size_t len) {
        if (!call_accepts_input(call))
                return;
        _cleanup_berr_ berr *e = NULL;
        grpc_call_ref_internal(call);
        if (grpc_msg_reader_feed(&call->reader, data, len, GRPC_MESSAGE_MAX, call_deliver, call, &e) < 0 && e)
                grpc_call_abort(call, e->code, e->msg);
        grpc_call_unref_internal(call);
}

void grpc_call_remote_closed(grpc_call *call) {
        if (call->remote_closed)
                return;
        call->remote_closed = true;
        if (!call_accepts_input(call))
                return;
        grpc_call_ref_internal(call);
        grpc_method_kind kind = call->method->kind;
        if (grpc_msg_reader_partial(&call->reader))
                grpc_call_abort(call, BERR_INTERNAL, "grpc: request ended in the middle of a message");
        else if ((kind == GRPC_UNARY || kind == GRPC_SERVER_STREAMING) && call->n_received == 0)
                grpc_call_abort(call, BERR_INTERNAL, "grpc: request ended without a message");
        else if (call->method->on_half_close) {
                call->handler_seen = true;
                call->method->on_half_close(call, call->userdata);
        } else if (!call->handler_seen) {
                /* A streaming method that only cares about messages and got none: nothing will finish it. */
                call_submit_status(call, BERR_OK, "");
                call_release_unseen(call);
        }
        grpc_call_unref_internal(call);
}

void grpc_call_dispatch_writable(grpc_call *call) {
        if (!call->writable_due)
                return;
        call->writable_due = false;
        if (!call->on_writable || !call->handler_ref || call->cancelled || call->status_sent || !call->conn ||
            call->sendq.bytes >= call->low_water)
                return;
        call->want_writable = false;
        grpc_call_ref_internal(call);
        call->on_writable(call, call->userdata);
        grpc_call_unref_internal(call);
}

/* ---- handler API ---- */

int grpc_call_send_bytes(grpc_call *call, const uint8_t *data, size_t len) {
        if (!call->conn || call->cancelled || call->status_sent)
                return -1;
        grpc_bufq_push_message(&call->sendq, data, len);
        call->want_writable = true;
        if (!call->headers_sent)
                call_submit_headers(call);
        else
                call_resume(call);
        grpc_conn_schedule(call->conn);
        return 0;
}

int grpc_call_send(grpc_call *call, const ProtobufCMessage *msg) {
        if (!call->conn || call->cancelled || call->status_sent)
                return -1;
        grpc_bufq_push_protobuf(&call->sendq, msg);
        call->want_writable = true;
        if (!call->headers_sent)
                call_submit_headers(call);
        else
                call_resume(call);
        grpc_conn_schedule(call->conn);
        return 0;
}

size_t grpc_call_pending_bytes(const grpc_call *call) {
        return call->sendq.bytes;
}

void grpc_call_set_on_writable(grpc_call *call, size_t low_water, void (*cb)(grpc_call *call, void *userdata)) {
        call->low_water = low_water;
        call->on_writable = cb;
        call->want_writable = cb != NULL;
        if (cb && call->conn && call->sendq.bytes < low_water && !call->writable_due) {
                call->writable_due = true;
                grpc_conn_schedule_writable(call->conn);
        }
}

static void call_finish_msg(grpc_call *call, berr_code code, const char *msg) {
        if (!call->handler_ref) {
                log_debug("grpc: %s finished twice", call->path);
                return;
        }
        if (!call->cancelled)
                call_submit_status(call, code, msg);
        call->on_writable = NULL;
        call->handler_ref = false;
        grpc_call_unref_internal(call);
}

void grpc_call_finish(grpc_call *call, berr_code code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&msg, fmt, ap) < 0)
                        abort();
                va_end(ap);
        }
        call_finish_msg(call, code, msg ? msg : "");
}

void grpc_call_finish_berr(grpc_call *call, const berr *e) {
        if (!e)
                call_finish_msg(call, BERR_OK, "");
        else
                call_finish_msg(call, e->code, e->msg ? e->msg : "");
}

void grpc_call_reply(grpc_call *call, const ProtobufCMessage *msg) {
        (void) grpc_call_send(call, msg);
        call_finish_msg(call, BERR_OK, "");
}

const char *grpc_call_metadata(const grpc_call *call, const char *name) {
        for (size_t i = 0; i < call->n_md; i++)
                if (strcmp(call->md[i].name, name) == 0)
                        return call->md[i].value;
        return NULL;
}

uint64_t grpc_call_deadline_remaining_usec(const grpc_call *call) {
        if (call->deadline == 0)
                return UINT64_MAX;
        uint64_t now = now_monotonic_usec();
        return call->deadline > now ? call->deadline - now : 0;
}

const char *grpc_call_path(const grpc_call *call) {
        return call->path;
}

void grpc_call_set_state(grpc_call *call, void *state) {
        call->state = state;
}

void *grpc_call_get_state(const grpc_call *call) {
        return call->state;
}
