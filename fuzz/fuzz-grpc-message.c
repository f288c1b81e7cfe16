/* libFuzzer target for the gRPC message-prefix decoder and the header codings (src/grpc/message.c, metadata.c).
 * Input: byte 0 picks the chunk size the body is fed in (so messages are split anywhere); the rest is the DATA
 * payload. Properties: chunked feeding yields exactly the messages (count and lengths) of feeding all at once;
 * no message exceeds the limit; percent decoding inverts encoding; timeout parsing never crashes. */
#include <stdint.h>
#include <string.h>

#include "grpc/grpc-internal.h"

#define FUZZ_MAX (64u << 10) /* small limit so the RESOURCE_EXHAUSTED path is reached */
#define MAX_SEEN 256

typedef struct seen {
        size_t n;
        size_t lens[MAX_SEEN];
        uint32_t sums[MAX_SEEN];
} seen;

static int record(const uint8_t *msg, size_t len, void *userdata) {
        seen *s = userdata;
        if (len > FUZZ_MAX)
                __builtin_trap();
        if (s->n < MAX_SEEN) {
                uint32_t sum = 0;
                for (size_t i = 0; i < len; i++)
                        sum = sum * 31 + msg[i];
                s->lens[s->n] = len;
                s->sums[s->n] = sum;
        }
        s->n++;
        return 0;
}

static int feed(const uint8_t *data, size_t size, size_t chunk, seen *s, berr_code *code) {
        grpc_msg_reader r = {};
        berr *e = NULL;
        int ret = 0;
        for (size_t off = 0; off < size; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;
                ret = grpc_msg_reader_feed(&r, data + off, n, FUZZ_MAX, record, s, &e);
                if (ret < 0)
                        break;
        }
        *code = e ? e->code : BERR_OK;
        berr_free(e);
        (void) grpc_msg_reader_partial(&r);
        grpc_msg_reader_done(&r);
        return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        size_t chunk = (size_t) data[0] % 17 + 1;
        data++;
        size--;

        seen whole = {}, split = {};
        berr_code c1, c2;
        int r1 = feed(data, size, size ? size : 1, &whole, &c1);
        int r2 = feed(data, size, chunk, &split, &c2);
        if (r1 != r2 || c1 != c2 || whole.n != split.n)
                __builtin_trap();
        for (size_t i = 0; i < whole.n && i < MAX_SEEN; i++)
                if (whole.lens[i] != split.lens[i] || whole.sums[i] != split.sums[i])
                        __builtin_trap();

        /* Header codings on the same bytes as a C string. */
        char *s = xstrndup((const char *) data, size);
        char *enc = grpc_percent_encode(s);
        char *dec = grpc_percent_decode(enc);
        if (strcmp(dec, s) != 0)
                __builtin_trap();
        for (const char *p = enc; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        __builtin_trap();
        free(grpc_percent_decode(s));
        uint64_t usec;
        if (grpc_timeout_parse(s, &usec) == 0) {
                char buf[16];
                grpc_timeout_format(usec, buf);
        }
        (void) grpc_content_type_ok(s);
        free(dec);
        free(enc);
        free(s);
        return 0;
}
