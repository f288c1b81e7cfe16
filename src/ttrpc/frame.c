/* ttrpc frame header and frame reassembly. The reader is pure (no I/O) so the server, the client and the fuzz target
 * share it. It keeps its position in the struct at every callback, so a callback that re-enters it (a handler that
 * pumps the loop for a sync call) continues where it left off instead of delivering a frame twice. */
#include <string.h>

#include "ttrpc/ttrpc-internal.h"

/* Read granularity and the size above which an idle buffer is given back (a 4 MiB frame should not pin 4 MiB per
 * connection forever). */
#define READ_CHUNK (64u * 1024u)
#define IDLE_BUFFER_MAX (4u * READ_CHUNK)

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

void ttrpc_header_encode(const ttrpc_header *h, uint8_t out[TTRPC_HEADER_LENGTH]) {
        put_be32(out, h->length);
        put_be32(out + 4, h->stream_id);
        out[8] = h->type;
        out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LENGTH], ttrpc_header *h) {
        h->length = get_be32(in);
        h->stream_id = get_be32(in + 4);
        h->type = in[8];
        h->flags = in[9];
}

uint8_t *ttrpc_frame_new(uint32_t stream_id, uint8_t type, size_t len) {
        uint8_t *frame = xmalloc(TTRPC_HEADER_LENGTH + len);
        ttrpc_header h = {
                .length = (uint32_t) len,
                .stream_id = stream_id,
                .type = type,
                .flags = 0,
        };
        ttrpc_header_encode(&h, frame);
        return frame;
}

/* Moves the unconsumed bytes to the front, and gives an idle oversized buffer back. */
static void reader_compact(ttrpc_reader *r) {
        if (r->start == 0)
                return;
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
        if (r->len == 0 && r->cap > IDLE_BUFFER_MAX) {
                free(r->buf);
                r->buf = NULL;
                r->cap = 0;
        }
}

uint8_t *ttrpc_reader_space(ttrpc_reader *r, size_t *ret_avail) {
        reader_compact(r);

        size_t want = r->len + READ_CHUNK;
        /* Room for the whole frame whose header we already hold, so it arrives in one contiguous buffer. */
        if (r->discard == 0 && r->len >= TTRPC_HEADER_LENGTH) {
                ttrpc_header h;
                ttrpc_header_decode(r->buf, &h);
                if (h.length <= TTRPC_MESSAGE_LENGTH_MAX && want < TTRPC_HEADER_LENGTH + (size_t) h.length)
                        want = TTRPC_HEADER_LENGTH + (size_t) h.length;
        }
        if (r->cap < want) {
                r->buf = xrealloc(r->buf, want);
                r->cap = want;
        }
        *ret_avail = r->cap - r->len;
        return r->buf + r->len;
}

void ttrpc_reader_advance(ttrpc_reader *r, size_t n) {
        r->len += n;
}

int ttrpc_reader_process(ttrpc_reader *r, ttrpc_frame_fn fn, void *userdata) {
        for (;;) {
                size_t avail = r->len - r->start;

                if (r->discard > 0) {
                        size_t k = avail < r->discard ? avail : (size_t) r->discard;
                        r->start += k;
                        r->discard -= k;
                        if (r->discard > 0)
                                break;
                        ttrpc_header h = r->discard_header;
                        int ret = fn(&h, NULL, true, userdata);
                        if (ret < 0)
                                return ret;
                        continue;
                }
                if (avail < TTRPC_HEADER_LENGTH)
                        break;

                ttrpc_header h;
                ttrpc_header_decode(r->buf + r->start, &h);
                if (h.length > TTRPC_MESSAGE_LENGTH_MAX) {
                        /* Skip the data as it streams in (never buffered); answer once it is all gone. */
                        r->discard = h.length;
                        r->discard_header = h;
                        r->start += TTRPC_HEADER_LENGTH;
                        continue;
                }
                if (avail - TTRPC_HEADER_LENGTH < h.length)
                        break;

                /* The frame is detached from the buffer before the callback runs: a callback may re-enter this
                 * reader (a handler pumping the loop for a sync call reads more into it), and its data must stay
                 * put meanwhile. When the buffer holds exactly this frame, the buffer itself is handed over. */
                size_t flen = TTRPC_HEADER_LENGTH + (size_t) h.length;
                uint8_t *frame;
                if (r->start == 0 && r->len == flen) {
                        frame = TAKE_PTR(r->buf);
                        r->len = r->cap = 0;
                } else {
                        frame = xmalloc(flen);
                        memcpy(frame, r->buf + r->start, flen);
                        r->start += flen;
                }
                int ret = fn(&h, frame + TTRPC_HEADER_LENGTH, false, userdata);
                free(frame);
                if (ret < 0)
                        return ret;
        }
        reader_compact(r);
        return 0;
}

size_t ttrpc_reader_pending(const ttrpc_reader *r) {
        return r->len - r->start;
}

void ttrpc_reader_done(ttrpc_reader *r) {
        free(r->buf);
        *r = (ttrpc_reader) {};
}
