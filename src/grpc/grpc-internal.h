/* Pieces shared by the gRPC server and client: the 5-byte message prefix codec, the byte queue a stream sends from,
 * the grpc-message percent coding and the grpc-timeout header. Nothing here touches nghttp2, so the fuzz target can
 * build message.c on its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define GRPC_PREFIX_SIZE 5
#define GRPC_USER_AGENT "berth-grpc/0.1"
/* HTTP/2 tuning: many concurrent streams and large windows so one stream can carry a big blob at speed. */
#define GRPC_MAX_CONCURRENT_STREAMS 1000
#define GRPC_STREAM_WINDOW (1u << 20)
#define GRPC_CONNECTION_WINDOW (16u << 20)

/* Reassembles length-prefixed messages from DATA payloads cut anywhere. */
typedef struct grpc_msg_reader {
        uint8_t prefix[GRPC_PREFIX_SIZE];
        size_t prefix_len;
        uint8_t *body; /* only when a message spans several payloads */
        size_t body_len;
        size_t body_have;
        bool in_body;
        bool failed; /* a bad prefix was seen: everything after it is ignored */
} grpc_msg_reader;

/* Called for every complete message; a negative return stops the feed (returned as is). */
typedef int (*grpc_msg_fn)(const uint8_t *msg, size_t len, void *userdata);

/* Feeds bytes. Returns 0, the callback's negative return, or -1 with *err set for a compressed message
 * (UNIMPLEMENTED) or one larger than max (RESOURCE_EXHAUSTED); the reader then refuses further input. */
int grpc_msg_reader_feed(grpc_msg_reader *r, const uint8_t *data, size_t len, size_t max, grpc_msg_fn cb,
                         void *userdata, berr **err);
/* True when input ended inside a message. */
bool grpc_msg_reader_partial(const grpc_msg_reader *r);
void grpc_msg_reader_done(grpc_msg_reader *r);

void grpc_msg_prefix_encode(uint8_t prefix[GRPC_PREFIX_SIZE], size_t len);

/* A FIFO of byte chunks (framed messages waiting for HTTP/2 flow control). */
typedef struct grpc_bufq_chunk grpc_bufq_chunk;
typedef struct grpc_bufq {
        grpc_bufq_chunk *head, *tail;
        size_t head_off;
        size_t bytes;
} grpc_bufq;

/* Queues prefix + msg as one framed gRPC message. */
void grpc_bufq_push_message(grpc_bufq *q, const uint8_t *msg, size_t len);
/* Queues a protobuf message framed, packing it straight into the chunk. */
void grpc_bufq_push_protobuf(grpc_bufq *q, const void *protobuf_c_message);
/* Copies up to max bytes out; returns how many. */
size_t grpc_bufq_pop(grpc_bufq *q, uint8_t *buf, size_t max);
void grpc_bufq_done(grpc_bufq *q);

/* grpc-message: bytes outside 0x20..0x7e and '%' as %XX (gRPC spec); decoding keeps malformed escapes as they are. */
char *grpc_percent_encode(const char *s);
char *grpc_percent_decode(const char *s);

/* grpc-timeout "<1..8 digits><H|M|S|m|u|n>" → microseconds (rounded up). -1 if malformed. */
int grpc_timeout_parse(const char *s, uint64_t *ret_usec);
/* Formats usec into buf (at least 16 bytes) picking the finest unit that fits 8 digits. */
void grpc_timeout_format(uint64_t usec, char buf[static 16]);

/* Content types gRPC accepts: application/grpc, application/grpc+proto, application/grpc;... */
bool grpc_content_type_ok(const char *v);
