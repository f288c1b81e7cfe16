/* ttrpc at the byte level: exact frames from the client and server, the server's answers to bad streams (even or
 * re-used ids, garbage, truncation, oversized frames), frame reassembly, and a slow reader. */
#include <stdlib.h>
#include <string.h>

#include "google/rpc/status.pb-c.h"
#include "test-ttrpc-util.h"
#include "ttrpc/ttrpc-internal.h"

/* Writes everything to a nonblocking socket, pumping the loop while it is full. */
static void raw_send(ev_loop *loop, int fd, const void *buf, size_t len) {
        const uint8_t *p = buf;
        uint64_t end = now_monotonic_usec() + 20 * 1000000ull;
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        ASSERT_TRUE(errno == EAGAIN);
                        ASSERT_TRUE(now_monotonic_usec() < end);
                        (void) ev_loop_run_once(loop, 1);
                        continue;
                }
                p += n;
                len -= (size_t) n;
        }
}

/* A Request frame. */
static uint8_t *raw_request(uint32_t sid, const char *service, const char *method, const uint8_t *payload,
                            size_t plen, size_t *ret_len) {
        Ttrpc__Request req = TTRPC__REQUEST__INIT;
        req.service = (char *) service;
        req.method = (char *) method;
        req.payload.data = (uint8_t *) payload;
        req.payload.len = plen;
        size_t n = ttrpc__request__get_packed_size(&req);
        uint8_t *frame = ttrpc_frame_new(sid, TTRPC_TYPE_REQUEST, n);
        ttrpc__request__pack(&req, frame + TTRPC_HEADER_LENGTH);
        *ret_len = TTRPC_HEADER_LENGTH + n;
        return frame;
}

static void raw_send_request(fixture *f, int fd, uint32_t sid, const char *method, const char *value) {
        size_t plen = 0, len;
        uint8_t *payload = value ? pack_kv("k", value, &plen) : NULL;
        uint8_t *frame = raw_request(sid, TEST_SERVICE, method, payload, plen, &len);
        raw_send(f->loop, fd, frame, len);
        free(frame);
        free(payload);
}

/* Reads exactly len bytes, pumping the loop meanwhile. */
static void raw_recv(ev_loop *loop, int fd, void *buf, size_t len) {
        uint8_t *p = buf;
        uint64_t end = now_monotonic_usec() + 20 * 1000000ull;
        while (len > 0) {
                ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
                if (n < 0) {
                        ASSERT_TRUE(errno == EAGAIN);
                        if (now_monotonic_usec() > end)
                                TAP_FAIL("timed out reading from the server");
                        (void) ev_loop_run_once(loop, 1);
                        continue;
                }
                if (n == 0)
                        TAP_FAIL("unexpected EOF from the server");
                p += n;
                len -= (size_t) n;
        }
}

/* Reads one frame; *ret_data is malloc'd (NULL when empty). */
static void raw_recv_frame(ev_loop *loop, int fd, ttrpc_header *h, uint8_t **ret_data) {
        uint8_t hdr[TTRPC_HEADER_LENGTH];
        raw_recv(loop, fd, hdr, sizeof hdr);
        ttrpc_header_decode(hdr, h);
        *ret_data = NULL;
        if (h->length > 0) {
                ASSERT_TRUE(h->length <= TTRPC_MESSAGE_LENGTH_MAX);
                *ret_data = xmalloc(h->length);
                raw_recv(loop, fd, *ret_data, h->length);
        }
}

/* Reads one Response frame and checks its stream id and status (code 0 = success, status absent). */
static void expect_response(fixture *f, int fd, uint32_t sid, berr_code code, const char *msg) {
        ttrpc_header h;
        uint8_t *data;
        raw_recv_frame(f->loop, fd, &h, &data);
        ASSERT_EQ(h.stream_id, sid);
        ASSERT_EQ(h.type, TTRPC_TYPE_RESPONSE);
        ASSERT_EQ(h.flags, 0);
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, data);
        ASSERT_NOT_NULL(resp);
        if (code == BERR_OK)
                ASSERT_NULL(resp->status);
        else {
                ASSERT_NOT_NULL(resp->status);
                ASSERT_EQ(resp->status->code, code);
                if (msg)
                        ASSERT_STREQ(resp->status->message, msg);
                ASSERT_EQ(resp->payload.len, 0);
        }
        ttrpc__response__free_unpacked(resp, NULL);
        free(data);
}

static void expect_nothing(fixture *f, int fd) {
        pump_for(f->loop, 20);
        uint8_t b;
        ASSERT_TRUE(recv(fd, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);
}

TEST(header_codec) {
        ttrpc_header h = { .length = 0x28, .stream_id = 3, .type = TTRPC_TYPE_REQUEST, .flags = 0 };
        uint8_t b[TTRPC_HEADER_LENGTH];
        ttrpc_header_encode(&h, b);
        static const uint8_t want[] = { 0, 0, 0, 0x28, 0, 0, 0, 3, 1, 0 };
        ASSERT_TRUE(memcmp(b, want, sizeof want) == 0);
        h = (ttrpc_header) { 0x01020304, 0xfffffffe, 0x7f, 0x81 };
        ttrpc_header_encode(&h, b);
        ttrpc_header d;
        ttrpc_header_decode(b, &d);
        ASSERT_EQ(d.length, 0x01020304);
        ASSERT_EQ(d.stream_id, 0xfffffffe);
        ASSERT_EQ(d.type, 0x7f);
        ASSERT_EQ(d.flags, 0x81);
        ASSERT_EQ(b[0], 1);
        ASSERT_EQ(b[4], 0xff);
}

/* shim-v2.md §1.5: Connect request, header 00000028 00000003 01 00. */
static const uint8_t connect_frame[] = {
        0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00,
        0x0a, 0x17, 'c', 'o', 'n', 't', 'a', 'i', 'n', 'e', 'r', 'd', '.', 't', 'a', 's', 'k', '.', 'v', '2', '.',
        'T', 'a', 's', 'k', 0x12, 0x07, 'C', 'o', 'n', 'n', 'e', 'c', 't', 0x1a, 0x04, 0x0a, 0x02, 'p', '1',
};

TEST(connect_request_bytes) {
        /* envelope encoded by hand */
        static const uint8_t payload[] = { 0x0a, 0x02, 'p', '1' };
        size_t len;
        uint8_t *frame = raw_request(3, "containerd.task.v2.Task", "Connect", payload, sizeof payload, &len);
        ASSERT_EQ(len, sizeof connect_frame);
        ASSERT_TRUE(memcmp(frame, connect_frame, len) == 0);
        free(frame);

        /* the client's second call on a connection is byte-identical (ConnectRequest{id} and KeyValue{key} share
         * the encoding) */
        fixture f;
        fixture_init(&f);
        int sv[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv));
        ttrpc_client *c = NULL;
        ASSERT_OK(ttrpc_client_new_from_fd(f.loop, sv[0], &c, NULL));
        Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
        in.key = "p1";
        reply r1 = {}, r2 = {};
        ASSERT_OK(ttrpc_client_call(c, "containerd.task.v2.Task", "Connect", &in.base, NULL, 0, 0, reply_cb, &r1,
                                    NULL));
        ASSERT_OK(ttrpc_client_call(c, "containerd.task.v2.Task", "Connect", &in.base, NULL, 0, 0, reply_cb, &r2,
                                    NULL));
        uint8_t got[2 * sizeof connect_frame];
        raw_recv(f.loop, sv[1], got, sizeof got);
        ASSERT_EQ(got[7], 1); /* first id 1 */
        ASSERT_TRUE(memcmp(got + sizeof connect_frame, connect_frame, sizeof connect_frame) == 0);

        /* §1.5 response: 00000008 00000003 02 00 | 12 06 [08 a8 61 10 c0 61]; answer id 3 first, then id 1 with
         * the empty-result frame */
        static const uint8_t resp3[] = { 0, 0, 0, 8, 0, 0, 0, 3, 2, 0, 0x12, 0x06, 0x08, 0xa8, 0x61, 0x10, 0xc0, 0x61 };
        static const uint8_t resp1[] = { 0, 0, 0, 0, 0, 0, 0, 1, 2, 0 };
        raw_send(f.loop, sv[1], resp3, sizeof resp3);
        raw_send(f.loop, sv[1], resp1, sizeof resp1);
        PUMP_UNTIL(f.loop, r1.done && r2.done);
        ASSERT_EQ(r1.code, BERR_OK);
        ASSERT_EQ(r1.len, 0);
        ASSERT_EQ(r2.code, BERR_OK);
        ASSERT_EQ(r2.len, 6);
        /* a status with code 0 is success too */
        reply r3 = {};
        ASSERT_OK(ttrpc_client_call(c, "s", "m", NULL, NULL, 0, 0, reply_cb, &r3, NULL));
        static const uint8_t resp5[] = { 0, 0, 0, 4, 0, 0, 0, 5, 2, 0, 0x0a, 0x02, 0x12, 0x00 };
        raw_send(f.loop, sv[1], resp5, sizeof resp5);
        PUMP_UNTIL(f.loop, r3.done);
        ASSERT_EQ(r3.code, BERR_OK);
        /* §1.4 error bytes: 0a <len> 08 06 12 <len> "id ex1: already exists" */
        reply r4 = {};
        ASSERT_OK(ttrpc_client_call(c, "s", "m", NULL, NULL, 0, 0, reply_cb, &r4, NULL));
        uint8_t err[64] = { 0, 0, 0, 28, 0, 0, 0, 7, 2, 0, 0x0a, 26, 0x08, 0x06, 0x12, 22 };
        memcpy(err + 16, "id ex1: already exists", 22);
        raw_send(f.loop, sv[1], err, 38);
        PUMP_UNTIL(f.loop, r4.done);
        ASSERT_EQ(r4.code, BERR_ALREADY_EXISTS);
        ASSERT_STREQ(r4.msg, "id ex1: already exists");
        /* a response for an unknown stream and a non-Response frame are ignored */
        static const uint8_t stray[] = { 0, 0, 0, 0, 0, 0, 0, 99, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9, 3, 0 };
        raw_send(f.loop, sv[1], stray, sizeof stray);
        pump_for(f.loop, 10);
        ASSERT_FALSE(ttrpc_client_closed(c));

        reply_done(&r1);
        reply_done(&r2);
        reply_done(&r3);
        reply_done(&r4);
        ttrpc_client_free(c);
        close(sv[1]);
        fixture_done(&f);
}

TEST(empty_response_is_header_only) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        raw_send_request(&f, fd, 0x11, "Empty", NULL);
        uint8_t got[TTRPC_HEADER_LENGTH];
        raw_recv(f.loop, fd, got, sizeof got);
        static const uint8_t want[] = { 0, 0, 0, 0, 0, 0, 0, 0x11, 2, 0 };
        ASSERT_TRUE(memcmp(got, want, sizeof want) == 0);
        expect_nothing(&f, fd);
        close(fd);
        fixture_done(&f);
}

TEST(even_stream_id_refused) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        raw_send_request(&f, fd, 2, "Empty", NULL);
        expect_response(&f, fd, 2, BERR_INVALID_ARGUMENT, "StreamID must be odd for client initiated streams");
        raw_send_request(&f, fd, 1, "Empty", NULL);
        expect_response(&f, fd, 1, BERR_OK, NULL);
        ASSERT_EQ(seen.n_calls, 1);
        close(fd);
        fixture_done(&f);
}

TEST(reused_stream_id_refused) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        raw_send_request(&f, fd, 5, "Empty", NULL);
        expect_response(&f, fd, 5, BERR_OK, NULL);
        raw_send_request(&f, fd, 5, "Empty", NULL);
        expect_response(&f, fd, 5, BERR_INVALID_ARGUMENT, "StreamID cannot be re-used and must increment");
        raw_send_request(&f, fd, 3, "Empty", NULL);
        expect_response(&f, fd, 3, BERR_INVALID_ARGUMENT, "StreamID cannot be re-used and must increment");
        raw_send_request(&f, fd, 7, "Empty", NULL);
        expect_response(&f, fd, 7, BERR_OK, NULL);
        ASSERT_EQ(seen.n_calls, 2);
        /* ids are per connection */
        int fd2 = fixture_pair(&f);
        raw_send_request(&f, fd2, 1, "Empty", NULL);
        expect_response(&f, fd2, 1, BERR_OK, NULL);
        close(fd);
        close(fd2);
        fixture_done(&f);
}

TEST(garbage_and_unknown_types) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        /* undecodable Request */
        static const uint8_t garbage[] = { 0, 0, 0, 3, 0, 0, 0, 1, 1, 0, 0xff, 0xff, 0xff };
        raw_send(f.loop, fd, garbage, sizeof garbage);
        ttrpc_header h;
        uint8_t *data;
        raw_recv_frame(f.loop, fd, &h, &data);
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, data);
        ASSERT_EQ(h.stream_id, 1);
        ASSERT_EQ(resp->status->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strncmp(resp->status->message, "unmarshal request error: ", 25) == 0);
        ttrpc__response__free_unpacked(resp, NULL);
        free(data);

        /* Data (3), Response (2) and unknown types are ignored; no answer */
        static const uint8_t others[] = { 0, 0, 0, 2, 0, 0, 0, 3, 3, 1, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0,
                                          0, 0, 0, 1, 0, 0, 0, 7, 0x7f, 0xff, 0x00 };
        raw_send(f.loop, fd, others, sizeof others);
        expect_nothing(&f, fd);

        /* an undecodable method payload → Internal, Go's wording */
        static const uint8_t bad_payload[] = { 0x0a, 0x7f, 'x' };
        size_t len;
        uint8_t *frame = raw_request(9, TEST_SERVICE, "Echo", bad_payload, sizeof bad_payload, &len);
        raw_send(f.loop, fd, frame, len);
        free(frame);
        raw_recv_frame(f.loop, fd, &h, &data);
        resp = ttrpc__response__unpack(NULL, h.length, data);
        ASSERT_EQ(h.stream_id, 9);
        ASSERT_EQ(resp->status->code, BERR_INTERNAL);
        ASSERT_TRUE(strncmp(resp->status->message, "ttrpc: error unmarshalling payload: ", 35) == 0);
        ttrpc__response__free_unpacked(resp, NULL);
        free(data);

        /* unknown service / method on the wire */
        frame = raw_request(11, "x.Y", "Z", NULL, 0, &len);
        raw_send(f.loop, fd, frame, len);
        free(frame);
        expect_response(&f, fd, 11, BERR_UNIMPLEMENTED, "service x.Y");
        raw_send_request(&f, fd, 13, "Z", NULL);
        expect_response(&f, fd, 13, BERR_UNIMPLEMENTED, "method Z");

        /* the connection still works */
        raw_send_request(&f, fd, 15, "Echo", "still");
        expect_response(&f, fd, 15, BERR_OK, NULL);
        ASSERT_EQ(ttrpc_server_connection_count(f.srv), 1);
        close(fd);
        fixture_done(&f);
}

TEST(many_frames_in_one_write_and_byte_by_byte) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        /* three requests in one write */
        uint8_t buf[1024];
        size_t off = 0;
        for (uint32_t sid = 1; sid <= 5; sid += 2) {
                size_t plen, len;
                uint8_t *payload = pack_kv("k", "v", &plen);
                uint8_t *frame = raw_request(sid, TEST_SERVICE, "Echo", payload, plen, &len);
                memcpy(buf + off, frame, len);
                off += len;
                free(frame);
                free(payload);
        }
        raw_send(f.loop, fd, buf, off);
        for (uint32_t sid = 1; sid <= 5; sid += 2)
                expect_response(&f, fd, sid, BERR_OK, NULL);

        /* one request a byte at a time, the loop running between bytes */
        size_t plen, len;
        uint8_t *payload = pack_kv("k", "slow", &plen);
        uint8_t *frame = raw_request(7, TEST_SERVICE, "Echo", payload, plen, &len);
        for (size_t i = 0; i < len; i++) {
                raw_send(f.loop, fd, frame + i, 1);
                (void) ev_loop_run_once(f.loop, 0);
        }
        ttrpc_header h;
        uint8_t *data;
        raw_recv_frame(f.loop, fd, &h, &data);
        ASSERT_EQ(h.stream_id, 7);
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, data);
        Ttrpc__KeyValue *kv = ttrpc__key_value__unpack(NULL, resp->payload.len, resp->payload.data);
        ASSERT_STREQ(kv->value, "echo:slow");
        ttrpc__key_value__free_unpacked(kv, NULL);
        ttrpc__response__free_unpacked(resp, NULL);
        free(data);
        free(frame);
        free(payload);
        close(fd);
        fixture_done(&f);
}

TEST(truncated_frame_then_close) {
        fixture f;
        fixture_init(&f);
        /* a header promising 100 bytes, 20 sent */
        int fd = fixture_pair(&f);
        uint8_t buf[30] = { 0, 0, 0, 100, 0, 0, 0, 1, 1, 0 };
        raw_send(f.loop, fd, buf, sizeof buf);
        pump_for(f.loop, 10);
        close(fd);
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        /* half a header */
        fd = fixture_pair(&f);
        raw_send(f.loop, fd, buf, 5);
        pump_for(f.loop, 10);
        close(fd);
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        /* a complete request whose peer vanished before the answer: the write fails quietly */
        fd = fixture_pair(&f);
        raw_send_request(&f, fd, 1, "Hold", NULL);
        PUMP_UNTIL(f.loop, n_held == 1);
        close(fd);
        ttrpc_call_reply(held[0], NULL); /* may hit EPIPE or a closed connection; no SIGPIPE */
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        ASSERT_EQ(seen.n_calls, 1);
        fixture_done(&f);
}

TEST(oversized_frame_discarded_then_served) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        const size_t big = 5u << 20;
        uint8_t hdr[TTRPC_HEADER_LENGTH];
        ttrpc_header h = { (uint32_t) big, 1, TTRPC_TYPE_REQUEST, 0 };
        ttrpc_header_encode(&h, hdr);
        raw_send(f.loop, fd, hdr, sizeof hdr);
        uint8_t *junk = xmalloc(big);
        memset(junk, 0x0a, big); /* would look like protobuf if it were ever parsed */
        raw_send(f.loop, fd, junk, big);
        free(junk);
        raw_send_request(&f, fd, 3, "Echo", "after");
        expect_response(&f, fd, 1, BERR_RESOURCE_EXHAUSTED,
                        "message length 5242880 exceed maximum message size of 4194304");
        expect_response(&f, fd, 3, BERR_OK, NULL);
        ASSERT_EQ(seen.n_calls, 1);
        /* exactly 4 MiB of data is allowed (it is then just an undecodable request) */
        h = (ttrpc_header) { TTRPC_MESSAGE_LENGTH_MAX, 5, TTRPC_TYPE_REQUEST, 0 };
        ttrpc_header_encode(&h, hdr);
        raw_send(f.loop, fd, hdr, sizeof hdr);
        junk = xcalloc(1, TTRPC_MESSAGE_LENGTH_MAX);
        junk[0] = 0xff;
        raw_send(f.loop, fd, junk, TTRPC_MESSAGE_LENGTH_MAX);
        free(junk);
        expect_response(&f, fd, 5, BERR_INVALID_ARGUMENT, NULL);
        close(fd);
        fixture_done(&f);
}

/* The reader itself: frames split at every boundary; an oversized frame is skipped without being buffered. */
typedef struct collected {
        unsigned n, n_oversized;
        uint32_t last_sid;
        uint32_t last_len;
        uint8_t first_byte;
} collected;

static int collect(const ttrpc_header *h, const uint8_t *data, bool oversized, void *ud) {
        collected *c = ud;
        if (oversized)
                c->n_oversized++;
        else {
                c->n++;
                if (h->length > 0)
                        c->first_byte = data[0];
        }
        c->last_sid = h->stream_id;
        c->last_len = h->length;
        return 0;
}

static void reader_feed(ttrpc_reader *r, const uint8_t *p, size_t n, collected *c) {
        while (n > 0) {
                size_t avail;
                uint8_t *dst = ttrpc_reader_space(r, &avail);
                size_t k = n < avail ? n : avail;
                memcpy(dst, p, k);
                ttrpc_reader_advance(r, k);
                ASSERT_OK(ttrpc_reader_process(r, collect, c));
                p += k;
                n -= k;
        }
}

TEST(reader_reassembly) {
        uint8_t stream[64];
        size_t len = 0;
        /* frame A: sid 1, 3 bytes; frame B: sid 3, header only; frame C: sid 5, 1 byte */
        static const uint8_t a[] = { 0, 0, 0, 3, 0, 0, 0, 1, 1, 0, 0xa1, 0xa2, 0xa3 };
        static const uint8_t b[] = { 0, 0, 0, 0, 0, 0, 0, 3, 2, 0 };
        static const uint8_t c5[] = { 0, 0, 0, 1, 0, 0, 0, 5, 1, 0, 0xc1 };
        memcpy(stream + len, a, sizeof a), len += sizeof a;
        memcpy(stream + len, b, sizeof b), len += sizeof b;
        memcpy(stream + len, c5, sizeof c5), len += sizeof c5;

        for (size_t cut1 = 0; cut1 <= len; cut1++)
                for (size_t cut2 = cut1; cut2 <= len; cut2++) {
                        ttrpc_reader r = {};
                        collected c = {};
                        reader_feed(&r, stream, cut1, &c);
                        reader_feed(&r, stream + cut1, cut2 - cut1, &c);
                        reader_feed(&r, stream + cut2, len - cut2, &c);
                        ASSERT_EQ(c.n, 3);
                        ASSERT_EQ(c.last_sid, 5);
                        ASSERT_EQ(c.first_byte, 0xc1);
                        ASSERT_EQ(ttrpc_reader_pending(&r), 0);
                        ttrpc_reader_done(&r);
                }

        /* 5 MiB oversized frame in 64 KiB pieces: the buffer never grows past a few chunks */
        ttrpc_reader r = {};
        collected c = {};
        uint8_t hdr[TTRPC_HEADER_LENGTH];
        ttrpc_header h = { 5u << 20, 9, 1, 0 };
        ttrpc_header_encode(&h, hdr);
        reader_feed(&r, hdr, sizeof hdr, &c);
        uint8_t *chunk = xcalloc(1, 65536);
        size_t max_cap = 0;
        for (size_t sent = 0; sent < (5u << 20); sent += 65536) {
                reader_feed(&r, chunk, 65536, &c);
                if (r.cap > max_cap)
                        max_cap = r.cap;
        }
        free(chunk);
        ASSERT_EQ(c.n_oversized, 1);
        ASSERT_EQ(c.last_sid, 9);
        ASSERT_EQ(c.last_len, 5u << 20);
        ASSERT_TRUE(max_cap <= 256 * 1024);
        reader_feed(&r, a, sizeof a, &c);
        ASSERT_EQ(c.n, 1);
        ttrpc_reader_done(&r);
}

/* A peer that stops reading must not block the loop: the server queues its output and keeps serving others. */
TEST(slow_reader_does_not_block) {
        fixture f;
        fixture_init(&f);
        int fd = fixture_pair(&f);
        enum { N = 40 };
        char *value = xmalloc(200 * 1024 + 1);
        memset(value, 'v', 200 * 1024);
        value[200 * 1024] = 0;
        for (uint32_t i = 0; i < N; i++)
                raw_send_request(&f, fd, 2 * i + 1, "Echo", value);
        /* ~8 MB of answers are now queued behind a socket nobody reads; another client is still served */
        ttrpc_client *c = fixture_client(&f);
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 1000000000, NULL, NULL, NULL));
        ttrpc_client_free(c);
        /* and every answer arrives, in order, intact */
        for (uint32_t i = 0; i < N; i++) {
                ttrpc_header h;
                uint8_t *data;
                raw_recv_frame(f.loop, fd, &h, &data);
                ASSERT_EQ(h.stream_id, 2 * i + 1);
                Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h.length, data);
                Ttrpc__KeyValue *kv = ttrpc__key_value__unpack(NULL, resp->payload.len, resp->payload.data);
                ASSERT_EQ(strlen(kv->value), 200 * 1024 + 5);
                ttrpc__key_value__free_unpacked(kv, NULL);
                ttrpc__response__free_unpacked(resp, NULL);
                free(data);
        }
        free(value);
        close(fd);
        fixture_done(&f);
}
