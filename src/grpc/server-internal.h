/* The gRPC server's objects: server (listener, method table, two loop timers), connection (one nghttp2 session on
 * one socket) and call (one HTTP/2 stream). server.c owns connections and the session callbacks; call.c owns the
 * call life cycle and the response side.
 *
 * Call life cycle. A call holds one reference for its HTTP/2 stream (dropped when nghttp2 closes the stream or the
 * connection dies) and one for the handler (dropped by grpc_call_finish, or after on_cancel returns). Until the
 * handler has seen the call (its first callback), the library answers and releases it on its own. A handler
 * without on_cancel keeps its reference after a cancellation, so its later grpc_call_finish is a harmless no-op. */
#pragma once

#include <nghttp2/nghttp2.h>

#include "grpc/grpc-internal.h"
#include "grpc/grpc.h"

typedef struct grpc_conn grpc_conn;

typedef struct grpc_registered {
        const grpc_method *method;
        void *userdata;
} grpc_registered;

struct grpc_server {
        ev_loop *loop;
        int listen_fd;
        ev_source *listen_io;
        grpc_registered *methods;
        size_t n_methods;
        grpc_conn *conns;
        size_t n_conns;
        nghttp2_session_callbacks *callbacks;
        /* "Soon" work outside nghttp2 callbacks: flushing sessions written from handlers, on_writable. */
        ev_source *defer;
        bool defer_armed;
        /* One timer for every call deadline: armed for the earliest. */
        ev_source *deadline_timer;
        uint64_t deadline_armed_at; /* 0 = disarmed */
};

struct grpc_conn {
        grpc_server *srv;
        grpc_conn *prev, *next;
        int fd;
        ev_source *io;
        uint32_t io_events;
        nghttp2_session *session;
        uint8_t *out;
        size_t out_len, out_off, out_cap;
        grpc_call *calls; /* calls whose stream is open */
        bool in_recv;     /* inside nghttp2_session_mem_recv: no mem_send now, the io handler flushes */
        bool dirty;       /* frames may be waiting in the session */
};

typedef struct grpc_md_entry {
        char *name;
        char *value;
} grpc_md_entry;

struct grpc_call {
        unsigned n_ref;
        grpc_conn *conn; /* NULL once the stream is gone */
        grpc_call *prev, *next;
        int32_t stream_id;

        /* request */
        char *path;
        char *content_type;
        char *timeout;
        grpc_md_entry *md;
        size_t n_md;
        const grpc_method *method;
        void *userdata;
        uint64_t deadline; /* CLOCK_MONOTONIC usec, 0 = none */
        grpc_msg_reader reader;
        unsigned n_received;
        bool remote_closed;

        /* response */
        grpc_bufq sendq;
        bool headers_sent;
        bool deferred;    /* the data provider said DEFERRED: resume on new data or status */
        bool status_sent; /* the status is decided; trailers go out once the queue drained */
        berr_code status;
        char *status_msg; /* percent-encoded */

        /* handler side */
        bool handler_ref;
        bool handler_seen;
        bool cancelled;
        void *state;
        size_t low_water;
        void (*on_writable)(grpc_call *call, void *userdata);
        bool want_writable;
        bool writable_due;
};

/* call.c */
grpc_call *grpc_call_new_internal(grpc_conn *conn, int32_t stream_id);
void grpc_call_ref_internal(grpc_call *call);
void grpc_call_unref_internal(grpc_call *call);
void grpc_call_add_header(grpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                          size_t valuelen);
void grpc_call_start(grpc_call *call);
void grpc_call_feed(grpc_call *call, const uint8_t *data, size_t len);
void grpc_call_remote_closed(grpc_call *call);
/* The stream is gone (closed by nghttp2 or with the connection): detach and drop the stream's reference. */
void grpc_call_stream_gone(grpc_call *call);
/* The same for a call already unlinked from its connection (conn == NULL): cancel the handler, drop the ref. */
void grpc_call_orphaned(grpc_call *call);
/* Library-side end: sends the status (if none went out yet) and cancels the handler. */
void grpc_call_abort(grpc_call *call, berr_code code, const char *msg);
void grpc_call_dispatch_writable(grpc_call *call);

/* conn.c */
int grpc_conn_new(grpc_server *srv, int fd, berr **err);
void grpc_conn_close(grpc_conn *conn);
/* Writes until the socket would block; -1 when the connection is finished or broken (then close it). */
int grpc_conn_flush(grpc_conn *conn);
nghttp2_session_callbacks *grpc_conn_callbacks_new(void);

/* server.c */
/* Frames were queued outside the io handler: flush soon. */
void grpc_conn_schedule(grpc_conn *conn);
/* A call's on_writable is due. */
void grpc_conn_schedule_writable(grpc_conn *conn);
void grpc_server_deadline_added(grpc_server *srv, uint64_t deadline);
const grpc_registered *grpc_server_lookup(grpc_server *srv, const char *path, char **ret_unimplemented_msg);
