/* libFuzzer target for ttrpc. Input: one control byte, then bytes as a peer would send them.
 *   control & 0x80 clear: server side. The bytes go through the server's frame reassembly, Request decoding,
 *       stream id checks and dispatch to a test service (ttrpc_server_feed_for_fuzzing), in chunks of
 *       (control & 0x7f) bytes (0 = all at once). Every frame the server sends back must be a well-formed Response
 *       on an odd or echoed stream; calls held by a handler are answered before and after the connection closes.
 *   control & 0x80 set: client side. A client with four calls in flight reads the bytes from its socket as the
 *       server's replies; every call must complete exactly once.
 * Build: make fuzz. Regression: build-fuzz/fuzz-ttrpc -runs=2000 -seed=1 <empty dir> fuzz/corpus/ttrpc */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "basic/log.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc-internal.h"

#define HELD_MAX 64
static ttrpc_call *held[HELD_MAX];
static size_t n_held;

static void h_echo(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        (void) ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
        (void) ttrpc_call_timeout_nano(call);
        Ttrpc__KeyValue *in = (Ttrpc__KeyValue *) ttrpc_call_decode(call, &ttrpc__key_value__descriptor, p, n);
        if (!in)
                return;
        ttrpc_call_reply(call, &in->base);
        ttrpc__key_value__free_unpacked(in, NULL);
}

static void h_empty(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        ttrpc_call_reply_bytes(call, p, n);
}

static void h_fail(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        ttrpc_call_reply_error(call, (berr_code) (n % 20), "failed %zu %s", n, ttrpc_call_method(call));
}

static void h_hold(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        if (n_held == HELD_MAX) {
                ttrpc_call_reply(call, NULL);
                return;
        }
        held[n_held++] = call;
}

static const ttrpc_method methods[] = {
        { "Echo", h_echo }, { "Empty", h_empty }, { "Fail", h_fail }, { "Hold", h_hold },
};

static int check_reply_frame(const ttrpc_header *h, const uint8_t *data, bool oversized, void *ud) {
        if (oversized || h->type != TTRPC_TYPE_RESPONSE || h->flags != 0)
                abort();
        Ttrpc__Response *resp = ttrpc__response__unpack(NULL, h->length, data);
        if (!resp)
                abort();
        if (resp->status && (resp->status->code == 0 || resp->payload.len != 0))
                abort();
        ttrpc__response__free_unpacked(resp, NULL);
        return 0;
}

/* Reads and checks everything the server wrote so far. */
static void drain(int fd, ttrpc_reader *r) {
        for (;;) {
                size_t avail;
                uint8_t *p = ttrpc_reader_space(r, &avail);
                ssize_t n = recv(fd, p, avail, MSG_DONTWAIT);
                if (n <= 0)
                        return;
                ttrpc_reader_advance(r, (size_t) n);
                (void) ttrpc_reader_process(r, check_reply_frame, NULL);
        }
}

static void fuzz_server(ev_loop *loop, const uint8_t *data, size_t size, size_t chunk) {
        ttrpc_server *srv = NULL;
        int sv[2];

        if (ttrpc_server_new(loop, &srv, NULL) < 0 ||
            ttrpc_server_register(srv, "s", methods, sizeof methods / sizeof methods[0], NULL, NULL) < 0 ||
            ttrpc_server_register(srv, "containerd.task.v2.Task", methods, 4, NULL, NULL) < 0)
                abort();
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        if (ttrpc_server_add_connection_fd(srv, sv[0], NULL) < 0)
                abort();

        ttrpc_reader replies = {};
        n_held = 0;
        if (chunk == 0)
                chunk = size;
        while (size > 0) {
                size_t k = size < chunk ? size : chunk;
                if (ttrpc_server_feed_for_fuzzing(srv, data, k) != 1)
                        abort(); /* nothing in the input may make the server drop the connection */
                data += k;
                size -= k;
                drain(sv[1], &replies);
        }
        /* Half the held calls are answered on the live connection, the rest after it is gone. */
        size_t half = n_held / 2;
        for (size_t i = 0; i < half; i++)
                ttrpc_call_reply(held[i], NULL);
        drain(sv[1], &replies);
        ttrpc_server_shutdown(srv);
        for (size_t i = half; i < n_held; i++)
                ttrpc_call_reply_error(held[i], BERR_UNAVAILABLE, "gone");
        n_held = 0;
        ttrpc_server_free(srv);
        ttrpc_reader_done(&replies);
        close(sv[1]);
}

static unsigned completed;
static void count_reply(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *ud) {
        if ((code == BERR_OK) != (msg == NULL))
                abort();
        completed++;
}

static void fuzz_client(ev_loop *loop, const uint8_t *data, size_t size) {
        ttrpc_client *c = NULL;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                abort();
        if (ttrpc_client_new_from_fd(loop, sv[0], &c, NULL) < 0)
                abort();
        completed = 0;
        for (int i = 0; i < 4; i++)
                if (ttrpc_client_call(c, "s", "Echo", NULL, NULL, 0, 0, count_reply, NULL, NULL) < 0)
                        abort();
        /* Fits the socket buffer: libFuzzer's default inputs are small. */
        if (size > 0 && send(sv[1], data, size, MSG_NOSIGNAL) < 0)
                abort();
        while (ev_loop_run_once(loop, 0) > 0)
                ;
        if (completed > 4)
                abort();
        ttrpc_client_free(c); /* fails the rest */
        if (completed != 4)
                abort();
        close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static ev_loop *loop;

        if (!loop) {
                log_set_fd(-1);
                if (ev_loop_new(&loop) < 0)
                        abort();
        }
        if (size < 1)
                return 0;
        uint8_t control = data[0];
        if (control & 0x80) {
                if (size - 1 <= 64 * 1024)
                        fuzz_client(loop, data + 1, size - 1);
        } else
                fuzz_server(loop, data + 1, size - 1, control & 0x7f);
        return 0;
}
