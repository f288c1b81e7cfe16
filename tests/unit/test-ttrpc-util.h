/* Shared by the ttrpc test binaries: a tiny test service and loop-pumping helpers. Messages are Ttrpc__KeyValue,
 * a handy two-string protobuf message. */
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tap.h"
#include "basic/event.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc.h"

#define TEST_SERVICE "test.v1.Test"

/* Pumps the loop until cond holds; fails the test after 10 s. */
#define PUMP_UNTIL(loop, cond)                                                          \
        do {                                                                            \
                uint64_t _end = now_monotonic_usec() + 10 * 1000000ull;                 \
                while (!(cond)) {                                                       \
                        if (now_monotonic_usec() > _end)                                \
                                TAP_FAIL("timed out waiting for %s", #cond);            \
                        ASSERT_OK(ev_loop_run_once((loop), 10));                        \
                }                                                                       \
        } while (0)

/* Pumps the loop for about ms milliseconds. */
_unused_ static void pump_for(ev_loop *loop, unsigned ms) {
        uint64_t end = now_monotonic_usec() + ms * 1000ull;
        while (now_monotonic_usec() < end)
                (void) ev_loop_run_once(loop, 5);
}

/* What the handlers saw last. */
static struct {
        char *metadata_ns;
        int64_t timeout_nano;
        unsigned n_calls;
} seen;

#define HELD_MAX 256
static ttrpc_call *held[HELD_MAX];
static size_t n_held;

static ttrpc_client *relay_client; /* used by the Relay handler */

static void reset_seen(void) {
        free(seen.metadata_ns);
        seen.metadata_ns = NULL;
        seen.timeout_nano = 0;
        seen.n_calls = 0;
        n_held = 0;
}

static void reply_kv(ttrpc_call *call, const char *key, const char *value) {
        Ttrpc__KeyValue out = TTRPC__KEY_VALUE__INIT;
        out.key = (char *) key;
        out.value = (char *) value;
        ttrpc_call_reply(call, &out.base);
}

/* Echo: replies {key, "echo:" value}; records metadata and timeout. */
static void h_echo(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        seen.n_calls++;
        free(seen.metadata_ns);
        const char *ns = ttrpc_call_metadata(call, "containerd-namespace-ttrpc");
        seen.metadata_ns = ns ? strdup(ns) : NULL;
        seen.timeout_nano = ttrpc_call_timeout_nano(call);
        Ttrpc__KeyValue *in = (Ttrpc__KeyValue *) ttrpc_call_decode(call, &ttrpc__key_value__descriptor, p, n);
        if (!in)
                return;
        char *v = xasprintf("echo:%s", in->value);
        reply_kv(call, in->key, v);
        free(v);
        ttrpc__key_value__free_unpacked(in, NULL);
}

static void h_empty(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        seen.n_calls++;
        ttrpc_call_reply(call, NULL);
}

/* Fail: replies an error whose code is the key (a number) and whose message is the value. */
static void h_fail(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        seen.n_calls++;
        Ttrpc__KeyValue *in = (Ttrpc__KeyValue *) ttrpc_call_decode(call, &ttrpc__key_value__descriptor, p, n);
        if (!in)
                return;
        ttrpc_call_reply_error(call, (berr_code) atoi(in->key), "%s", in->value);
        ttrpc__key_value__free_unpacked(in, NULL);
}

/* Hold: keeps the call; the test replies later. */
static void h_hold(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        seen.n_calls++;
        seen.timeout_nano = ttrpc_call_timeout_nano(call);
        if (n_held >= HELD_MAX)
                abort();
        held[n_held++] = call;
}

/* Relay: a nested synchronous call (pumps the loop from inside a handler) to Echo over relay_client. */
static void h_relay(ttrpc_call *call, const uint8_t *p, size_t n, void *ud) {
        Ttrpc__KeyValue *in = (Ttrpc__KeyValue *) ttrpc_call_decode(call, &ttrpc__key_value__descriptor, p, n);
        if (!in)
                return;
        uint8_t *out = NULL;
        size_t out_len = 0;
        berr *e = NULL;
        if (ttrpc_client_call_sync(relay_client, TEST_SERVICE, "Echo", &in->base, NULL, 0, 0, &out, &out_len, &e) < 0) {
                ttrpc_call_reply_berr(call, e);
                berr_free(e);
        } else {
                ttrpc_call_reply_bytes(call, out, out_len);
                free(out);
        }
        ttrpc__key_value__free_unpacked(in, NULL);
}

static const ttrpc_method test_methods[] = {
        { "Echo", h_echo }, { "Empty", h_empty }, { "Fail", h_fail }, { "Hold", h_hold }, { "Relay", h_relay },
};

/* A loop and a server with the test service. */
typedef struct fixture {
        ev_loop *loop;
        ttrpc_server *srv;
} fixture;

_unused_ static void fixture_init(fixture *f) {
        reset_seen();
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(ttrpc_server_new(f->loop, &f->srv, NULL));
        ASSERT_OK(ttrpc_server_register(f->srv, TEST_SERVICE, test_methods, ELEMENTSOF(test_methods), NULL, NULL));
}

_unused_ static void fixture_done(fixture *f) {
        f->srv = ttrpc_server_free(f->srv);
        f->loop = ev_loop_free(f->loop);
        reset_seen();
}

/* Adds one end of a socketpair to the server; returns the other end (nonblocking). */
_unused_ static int fixture_pair(fixture *f) {
        int sv[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv));
        ASSERT_OK(ttrpc_server_add_connection_fd(f->srv, sv[0], NULL));
        return sv[1];
}

_unused_ static ttrpc_client *fixture_client(fixture *f) {
        ttrpc_client *c = NULL;
        ASSERT_OK(ttrpc_client_new_from_fd(f->loop, fixture_pair(f), &c, NULL));
        return c;
}

/* Packs a KeyValue into a malloc'd buffer. */
_unused_ static uint8_t *pack_kv(const char *key, const char *value, size_t *ret_len) {
        Ttrpc__KeyValue kv = TTRPC__KEY_VALUE__INIT;
        kv.key = (char *) key;
        kv.value = (char *) value;
        size_t n = ttrpc__key_value__get_packed_size(&kv);
        uint8_t *buf = xmalloc(n ? n : 1);
        ttrpc__key_value__pack(&kv, buf);
        *ret_len = n;
        return buf;
}

/* One recorded async reply. */
typedef struct reply {
        bool done;
        unsigned n_cb;
        berr_code code;
        char *msg;
        char *key, *value; /* decoded KeyValue payload on success */
        size_t len;
} reply;

_unused_ static void reply_cb(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *ud) {
        reply *r = ud;
        r->done = true;
        r->n_cb++;
        r->code = code;
        free(r->msg);
        r->msg = msg ? strdup(msg) : NULL;
        r->len = len;
        if (code == BERR_OK && len > 0) {
                Ttrpc__KeyValue *kv = ttrpc__key_value__unpack(NULL, len, payload);
                if (kv) {
                        free(r->key);
                        free(r->value);
                        r->key = strdup(kv->key);
                        r->value = strdup(kv->value);
                        ttrpc__key_value__free_unpacked(kv, NULL);
                }
        }
}

_unused_ static void reply_done(reply *r) {
        free(r->msg);
        free(r->key);
        free(r->value);
        *r = (reply) {};
}
