/* gRPC wire codings without a socket: message prefix reassembly, send queue, grpc-message percent coding,
 * grpc-timeout, content types. */
#include <string.h>

#include "grpc/grpc-internal.h"
#include "grpc/grpc.h"
#include "tap.h"

typedef struct collected {
        size_t n;
        size_t lens[16];
        uint8_t first[16];
} collected;

static int collect(const uint8_t *msg, size_t len, void *userdata) {
        collected *c = userdata;
        if (c->n < 16) {
                c->lens[c->n] = len;
                c->first[c->n] = len ? msg[0] : 0;
        }
        c->n++;
        return 0;
}

static size_t frame(uint8_t *out, uint8_t fill, size_t len) {
        grpc_msg_prefix_encode(out, len);
        memset(out + GRPC_PREFIX_SIZE, fill, len);
        return GRPC_PREFIX_SIZE + len;
}

TEST(reader_several_messages_in_one_payload) {
        uint8_t buf[64];
        size_t n = frame(buf, 'a', 3);
        n += frame(buf + n, 'b', 0);
        n += frame(buf + n, 'c', 10);
        grpc_msg_reader r = {};
        collected c = {};
        berr *e = NULL;
        ASSERT_EQ(grpc_msg_reader_feed(&r, buf, n, 100, collect, &c, &e), 0);
        ASSERT_EQ(c.n, 3);
        ASSERT_EQ(c.lens[0], 3);
        ASSERT_EQ(c.first[0], 'a');
        ASSERT_EQ(c.lens[1], 0);
        ASSERT_EQ(c.lens[2], 10);
        ASSERT_EQ(c.first[2], 'c');
        ASSERT_FALSE(grpc_msg_reader_partial(&r));
        grpc_msg_reader_done(&r);
}

TEST(reader_every_split_point) {
        uint8_t buf[64];
        size_t n = frame(buf, 'x', 7);
        n += frame(buf + n, 'y', 20);
        /* Cut the stream at every position, and also feed byte by byte. */
        for (size_t cut = 0; cut <= n; cut++) {
                grpc_msg_reader r = {};
                collected c = {};
                ASSERT_EQ(grpc_msg_reader_feed(&r, buf, cut, 100, collect, &c, NULL), 0);
                ASSERT_EQ(grpc_msg_reader_feed(&r, buf + cut, n - cut, 100, collect, &c, NULL), 0);
                ASSERT_EQ(c.n, 2);
                ASSERT_EQ(c.lens[0], 7);
                ASSERT_EQ(c.first[0], 'x');
                ASSERT_EQ(c.lens[1], 20);
                ASSERT_EQ(c.first[1], 'y');
                grpc_msg_reader_done(&r);
        }
        grpc_msg_reader r = {};
        collected c = {};
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(grpc_msg_reader_feed(&r, buf + i, 1, 100, collect, &c, NULL), 0);
                if (i == 5)
                        ASSERT_TRUE(grpc_msg_reader_partial(&r));
        }
        ASSERT_EQ(c.n, 2);
        ASSERT_FALSE(grpc_msg_reader_partial(&r));
        grpc_msg_reader_done(&r);
}

TEST(reader_rejects_compressed_and_oversized) {
        uint8_t buf[32];
        size_t n = frame(buf, 'z', 4);
        buf[0] = 1;
        grpc_msg_reader r = {};
        collected c = {};
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(grpc_msg_reader_feed(&r, buf, n, 100, collect, &c, &e), -1);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_EQ(c.n, 0);
        /* Once failed, input is ignored. */
        ASSERT_EQ(grpc_msg_reader_feed(&r, buf, n, 100, collect, &c, NULL), 0);
        ASSERT_EQ(c.n, 0);
        grpc_msg_reader_done(&r);

        _cleanup_berr_ berr *e2 = NULL;
        grpc_msg_prefix_encode(buf, GRPC_MESSAGE_MAX + 1);
        r = (grpc_msg_reader) {};
        /* The prefix split in two: the size is checked once the prefix is whole, before any body is buffered. */
        ASSERT_EQ(grpc_msg_reader_feed(&r, buf, 2, GRPC_MESSAGE_MAX, collect, &c, &e2), 0);
        ASSERT_EQ(grpc_msg_reader_feed(&r, buf + 2, 3, GRPC_MESSAGE_MAX, collect, &c, &e2), -1);
        ASSERT_EQ(e2->code, BERR_RESOURCE_EXHAUSTED);
        ASSERT_STREQ(e2->msg, "grpc: received message larger than max (16777217 vs. 16777216)");
        grpc_msg_reader_done(&r);
}

TEST(bufq_frames_and_drains) {
        grpc_bufq q = {};
        uint8_t msg[300];
        memset(msg, 7, sizeof msg);
        grpc_bufq_push_message(&q, msg, sizeof msg);
        grpc_bufq_push_message(&q, NULL, 0);
        ASSERT_EQ(q.bytes, 300 + 2 * GRPC_PREFIX_SIZE);
        uint8_t out[400];
        size_t got = 0;
        while (q.bytes > 0)
                got += grpc_bufq_pop(&q, out + got, 7); /* odd sizes: chunk boundaries inside pops */
        ASSERT_EQ(got, 310);
        grpc_msg_reader r = {};
        collected c = {};
        ASSERT_EQ(grpc_msg_reader_feed(&r, out, got, 1000, collect, &c, NULL), 0);
        ASSERT_EQ(c.n, 2);
        ASSERT_EQ(c.lens[0], 300);
        ASSERT_EQ(c.first[0], 7);
        ASSERT_EQ(c.lens[1], 0);
        grpc_msg_reader_done(&r);
        grpc_bufq_push_message(&q, msg, 10);
        grpc_bufq_done(&q); /* frees what is left */
        ASSERT_EQ(q.bytes, 0);
}

TEST(percent_coding) {
        _cleanup_free_ char *a = grpc_percent_encode("plain text: ok");
        ASSERT_STREQ(a, "plain text: ok");
        _cleanup_free_ char *b = grpc_percent_encode("100% \xc3\xbc\n\x7f");
        ASSERT_STREQ(b, "100%25 %C3%BC%0A%7F");
        _cleanup_free_ char *c = grpc_percent_decode(b);
        ASSERT_STREQ(c, "100% \xc3\xbc\n\x7f");
        /* Malformed escapes pass through untouched, as the spec asks of decoders. */
        _cleanup_free_ char *d = grpc_percent_decode("50% off %zz %4");
        ASSERT_STREQ(d, "50% off %zz %4");
        _cleanup_free_ char *f = grpc_percent_decode("%e2%9c%93");
        ASSERT_STREQ(f, "\xe2\x9c\x93");
}

TEST(timeout_parse_and_format) {
        uint64_t u;
        ASSERT_EQ(grpc_timeout_parse("200m", &u), 0);
        ASSERT_EQ(u, 200000);
        ASSERT_EQ(grpc_timeout_parse("1H", &u), 0);
        ASSERT_EQ(u, 3600000000ULL);
        ASSERT_EQ(grpc_timeout_parse("2M", &u), 0);
        ASSERT_EQ(u, 120000000ULL);
        ASSERT_EQ(grpc_timeout_parse("3S", &u), 0);
        ASSERT_EQ(u, 3000000);
        ASSERT_EQ(grpc_timeout_parse("7u", &u), 0);
        ASSERT_EQ(u, 7);
        ASSERT_EQ(grpc_timeout_parse("1500n", &u), 0);
        ASSERT_EQ(u, 2);
        ASSERT_EQ(grpc_timeout_parse("99999999S", &u), 0);
        ASSERT_EQ(grpc_timeout_parse("123456789S", &u), -1); /* 9 digits */
        ASSERT_EQ(grpc_timeout_parse("S", &u), -1);
        ASSERT_EQ(grpc_timeout_parse("10x", &u), -1);
        ASSERT_EQ(grpc_timeout_parse("-1S", &u), -1);
        ASSERT_EQ(grpc_timeout_parse("", &u), -1);

        char buf[16];
        grpc_timeout_format(200000, buf);
        ASSERT_STREQ(buf, "200000u");
        grpc_timeout_format(99999999, buf);
        ASSERT_STREQ(buf, "99999999u");
        grpc_timeout_format(100000000, buf);
        ASSERT_STREQ(buf, "100000m");
        grpc_timeout_format(3600ULL * 1000000 * 1000000, buf); /* a million hours: 60M minutes still fit */
        ASSERT_STREQ(buf, "60000000M");
        ASSERT_EQ(grpc_timeout_parse(buf, &u), 0);
        ASSERT_EQ(u, 3600ULL * 1000000 * 1000000);
}

TEST(content_types) {
        ASSERT_TRUE(grpc_content_type_ok("application/grpc"));
        ASSERT_TRUE(grpc_content_type_ok("application/grpc+proto"));
        ASSERT_TRUE(grpc_content_type_ok("application/grpc; charset=utf-8"));
        ASSERT_FALSE(grpc_content_type_ok("application/grpc+json"));
        ASSERT_FALSE(grpc_content_type_ok("application/grpcx"));
        ASSERT_FALSE(grpc_content_type_ok("application/json"));
        ASSERT_FALSE(grpc_content_type_ok(NULL));
}
