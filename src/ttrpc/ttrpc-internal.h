/* Pieces shared by the ttrpc client and server: frame reassembly (pure, no I/O), a nonblocking socket channel with a
 * write queue, and the Response envelope. Not for use outside src/ttrpc (and the fuzz target). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttrpc/ttrpc.h"

/* ---- frame reassembly ---- */

/* Called once per complete frame; data (h->length bytes) stays valid for the whole callback, even if the callback
 * re-enters the reader. An oversized frame (length > TTRPC_MESSAGE_LENGTH_MAX) is reported with data NULL and
 * oversized true, after its bytes have all been skipped. Return negative to stop processing at once (the owner
 * closed). */
typedef int (*ttrpc_frame_fn)(const ttrpc_header *h, const uint8_t *data, bool oversized, void *userdata);

typedef struct ttrpc_reader {
        uint8_t *buf;
        size_t start; /* first byte not yet consumed */
        size_t len;   /* end of the bytes held */
        size_t cap;
        uint64_t discard;  /* bytes of an oversized frame still to skip; they are never buffered */
        ttrpc_header discard_header;
} ttrpc_reader;

/* A writable area after the held bytes, big enough for the frame being assembled (or a chunk). */
uint8_t *ttrpc_reader_space(ttrpc_reader *r, size_t *ret_avail);
/* n bytes were written into the area returned by ttrpc_reader_space(). */
void ttrpc_reader_advance(ttrpc_reader *r, size_t n);
/* Emits every complete frame held, keeps the partial rest. Returns 0, or the callback's negative value. */
int ttrpc_reader_process(ttrpc_reader *r, ttrpc_frame_fn fn, void *userdata);
/* Bytes held that belong to an incomplete frame (0 at a frame boundary). */
size_t ttrpc_reader_pending(const ttrpc_reader *r);
void ttrpc_reader_done(ttrpc_reader *r);

/* ---- channel: one nonblocking unix stream socket ---- */

typedef struct ttrpc_wbuf ttrpc_wbuf;

typedef struct ttrpc_channel {
        int fd;
        ev_source *io;
        ttrpc_reader reader;
        ttrpc_wbuf *whead, *wtail;
        bool broken; /* a write failed: output is dropped until the owner closes */
        bool closed;
} ttrpc_channel;

/* Takes ownership of fd (made nonblocking) and watches it for EPOLLIN; EPOLLOUT is added while output is queued. */
int ttrpc_channel_init(ttrpc_channel *ch, ev_loop *loop, int fd, ev_io_fn cb, void *userdata, berr **err);
/* Reads until the socket would block, delivering frames. Returns 1 while open, 0 on EOF or a socket error (the
 * caller closes), or the callback's negative value (the owner closed). */
int ttrpc_channel_read(ttrpc_channel *ch, ttrpc_frame_fn fn, void *userdata);
/* Queues one frame (takes ownership of the malloc'd buffer, header included) and writes what the socket takes now.
 * A broken socket is shut down so the reader side sees EOF and the owner closes from its io callback. */
void ttrpc_channel_send(ttrpc_channel *ch, uint8_t *frame, size_t len);
/* On EPOLLOUT: writes queued output. */
void ttrpc_channel_flush(ttrpc_channel *ch);
/* Frees the io source, closes the fd and drops queued output; the reader stays valid until ttrpc_channel_done(). */
void ttrpc_channel_close(ttrpc_channel *ch);
void ttrpc_channel_done(ttrpc_channel *ch);
/* The io callback body both sides share: flush on EPOLLOUT, read on EPOLLIN/HUP/ERR. Returns 1 while open. */
int ttrpc_channel_dispatch(ttrpc_channel *ch, uint32_t revents, ttrpc_frame_fn fn, void *userdata);

/* A malloc'd frame (header + data) for data of len bytes, header filled in; data goes at frame + TTRPC_HEADER_LENGTH. */
uint8_t *ttrpc_frame_new(uint32_t stream_id, uint8_t type, size_t len);

/* ---- envelope ---- */

/* A Response frame: status absent when code is BERR_OK (then payload, if non-empty), else {code, message} and no
 * payload. */
uint8_t *ttrpc_response_frame(uint32_t stream_id, berr_code code, const char *message, const uint8_t *payload,
                              size_t payload_len, size_t *ret_len);

/* "message length N exceed maximum message size of 4194304", as Go's ttrpc words it. */
char *ttrpc_oversize_message(uint64_t length);

/* ---- server internals (server.c, call.c) ---- */

struct Ttrpc__Request;

/* One accepted connection. References: the server holds one while the connection is open, every call in progress
 * holds one, and the io callback holds one while it runs, so a call stays valid after its connection closed. */
typedef struct ttrpc_conn {
        unsigned n_ref;
        ttrpc_server *srv; /* NULL once closed */
        ttrpc_channel ch;
        uint32_t last_stream_id;
        struct ttrpc_conn *prev, *next;
} ttrpc_conn;

struct ttrpc_call {
        ttrpc_conn *conn;
        uint32_t stream_id;
        struct Ttrpc__Request *req;
};

ttrpc_conn *ttrpc_conn_ref(ttrpc_conn *conn);
void ttrpc_conn_unref(ttrpc_conn *conn);
/* Sends a Response on the connection unless it is closed. */
void ttrpc_conn_send_response(ttrpc_conn *conn, uint32_t stream_id, berr_code code, const char *message,
                              const uint8_t *payload, size_t len);

/* ---- fuzzing ---- */

/* Feeds bytes to the server's newest connection as if read from its socket (reassembly, decoding, dispatch).
 * Returns 1 while the connection stays open, 0 once closed, -1 if there is no connection. */
int ttrpc_server_feed_for_fuzzing(ttrpc_server *srv, const uint8_t *data, size_t len);
