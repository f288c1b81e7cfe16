/* The gRPC message framing: {u8 compressed, u32 big-endian length} + payload, reassembled across DATA frames of any
 * size, and the send-side queue the HTTP/2 data providers pull from. */
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "grpc/grpc-internal.h"

static size_t prefix_length(const uint8_t p[GRPC_PREFIX_SIZE]) {
        return (size_t) p[1] << 24 | (size_t) p[2] << 16 | (size_t) p[3] << 8 | (size_t) p[4];
}

void grpc_msg_prefix_encode(uint8_t prefix[GRPC_PREFIX_SIZE], size_t len) {
        prefix[0] = 0;
        prefix[1] = (uint8_t) (len >> 24);
        prefix[2] = (uint8_t) (len >> 16);
        prefix[3] = (uint8_t) (len >> 8);
        prefix[4] = (uint8_t) len;
}

static int check_prefix(grpc_msg_reader *r, size_t max, berr **err) {
        if (r->prefix[0] != 0) {
                r->failed = true;
                return berr_set(err, BERR_UNIMPLEMENTED, 0,
                                "grpc: compressed messages are not supported (flag %u)", r->prefix[0]);
        }
        size_t len = prefix_length(r->prefix);
        if (len > max) {
                r->failed = true;
                return berr_set(err, BERR_RESOURCE_EXHAUSTED, 0,
                                "grpc: received message larger than max (%zu vs. %zu)", len, max);
        }
        return 0;
}

int grpc_msg_reader_feed(grpc_msg_reader *r, const uint8_t *data, size_t len, size_t max, grpc_msg_fn cb,
                         void *userdata, berr **err) {
        if (r->failed)
                return 0;
        while (len > 0) {
                if (!r->in_body) {
                        /* Fast path: a whole message inside this payload is delivered without a copy. */
                        if (r->prefix_len == 0 && len >= GRPC_PREFIX_SIZE) {
                                memcpy(r->prefix, data, GRPC_PREFIX_SIZE);
                                if (check_prefix(r, max, err) < 0)
                                        return -1;
                                size_t mlen = prefix_length(r->prefix);
                                if (len - GRPC_PREFIX_SIZE >= mlen) {
                                        int k = cb(data + GRPC_PREFIX_SIZE, mlen, userdata);
                                        if (k < 0)
                                                return k;
                                        data += GRPC_PREFIX_SIZE + mlen;
                                        len -= GRPC_PREFIX_SIZE + mlen;
                                        continue;
                                }
                                r->prefix_len = GRPC_PREFIX_SIZE;
                                data += GRPC_PREFIX_SIZE;
                                len -= GRPC_PREFIX_SIZE;
                        } else {
                                size_t n = GRPC_PREFIX_SIZE - r->prefix_len;
                                if (n > len)
                                        n = len;
                                memcpy(r->prefix + r->prefix_len, data, n);
                                r->prefix_len += n;
                                data += n;
                                len -= n;
                                if (r->prefix_len < GRPC_PREFIX_SIZE)
                                        return 0;
                                if (check_prefix(r, max, err) < 0)
                                        return -1;
                        }
                        r->body_len = prefix_length(r->prefix);
                        r->body_have = 0;
                        r->body = r->body_len > 0 ? xmalloc(r->body_len) : NULL;
                        r->in_body = true;
                }
                size_t n = r->body_len - r->body_have;
                if (n > len)
                        n = len;
                if (n > 0)
                        memcpy(r->body + r->body_have, data, n);
                r->body_have += n;
                data += n;
                len -= n;
                if (r->body_have < r->body_len)
                        return 0;
                uint8_t *body = TAKE_PTR(r->body);
                size_t blen = r->body_len;
                r->in_body = false;
                r->prefix_len = 0;
                int k = cb(body, blen, userdata);
                free(body);
                if (k < 0)
                        return k;
        }
        return 0;
}

bool grpc_msg_reader_partial(const grpc_msg_reader *r) {
        return !r->failed && (r->in_body || r->prefix_len > 0);
}

void grpc_msg_reader_done(grpc_msg_reader *r) {
        free(r->body);
        *r = (grpc_msg_reader) {};
}

/* ---- send queue ---- */

struct grpc_bufq_chunk {
        grpc_bufq_chunk *next;
        size_t len;
        uint8_t data[];
};

static grpc_bufq_chunk *bufq_append(grpc_bufq *q, size_t len) {
        grpc_bufq_chunk *c = xmalloc(sizeof *c + len);
        c->next = NULL;
        c->len = len;
        if (q->tail)
                q->tail->next = c;
        else
                q->head = c;
        q->tail = c;
        q->bytes += len;
        return c;
}

void grpc_bufq_push_message(grpc_bufq *q, const uint8_t *msg, size_t len) {
        grpc_bufq_chunk *c = bufq_append(q, GRPC_PREFIX_SIZE + len);
        grpc_msg_prefix_encode(c->data, len);
        if (len > 0)
                memcpy(c->data + GRPC_PREFIX_SIZE, msg, len);
}

void grpc_bufq_push_protobuf(grpc_bufq *q, const void *protobuf_c_message) {
        const ProtobufCMessage *m = protobuf_c_message;
        size_t len = m ? protobuf_c_message_get_packed_size(m) : 0;
        grpc_bufq_chunk *c = bufq_append(q, GRPC_PREFIX_SIZE + len);
        grpc_msg_prefix_encode(c->data, len);
        if (len > 0)
                protobuf_c_message_pack(m, c->data + GRPC_PREFIX_SIZE);
}

size_t grpc_bufq_pop(grpc_bufq *q, uint8_t *buf, size_t max) {
        size_t done = 0;
        while (done < max && q->head) {
                grpc_bufq_chunk *c = q->head;
                size_t n = c->len - q->head_off;
                if (n > max - done)
                        n = max - done;
                memcpy(buf + done, c->data + q->head_off, n);
                done += n;
                q->head_off += n;
                if (q->head_off == c->len) {
                        q->head = c->next;
                        if (!q->head)
                                q->tail = NULL;
                        q->head_off = 0;
                        free(c);
                }
        }
        q->bytes -= done;
        return done;
}

void grpc_bufq_done(grpc_bufq *q) {
        while (q->head) {
                grpc_bufq_chunk *c = q->head;
                q->head = c->next;
                free(c);
        }
        *q = (grpc_bufq) {};
}

/* ---- content type ---- */

bool grpc_content_type_ok(const char *v) {
        static const char base[] = "application/grpc";
        if (!v || strncasecmp(v, base, sizeof base - 1) != 0)
                return false;
        v += sizeof base - 1;
        /* grpc-go accepts any +subtype here and then fails to find a codec; only proto is served. */
        if (*v == '\0' || *v == ';')
                return true;
        return strncasecmp(v, "+proto", 6) == 0 && (v[6] == '\0' || v[6] == ';');
}
