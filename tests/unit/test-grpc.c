/* gRPC over HTTP/2 end to end: the server runs on this thread's event loop on a temp unix socket; the synchronous
 * client runs in a second thread (it blocks in poll while the loop must keep turning). Client-side checks return a
 * message instead of asserting (TAP's longjmp must stay on the test's thread); server-side observations are read
 * on the loop thread after the client is done. Also: Debian's ctr (a grpc-go client) against the server. */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/event.h"
#include "berth/test/echo.pb-c.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tap.h"

extern char **environ;

#define MSEC 1000ULL

/* ---- server side: the test service (loop thread only) ---- */

static struct {
        int cancels;
        int deadline_cancels;
        int count_cancels;
        int live_chats, max_live_chats;
        uint64_t hang_started, first_cancel_after;
        grpc_call *late_call;
        grpc_call *late_ref_call;
} obs;

static void echo_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__Test__EchoRequest *req = berth__test__echo_request__unpack(NULL, len, msg);
        if (!req) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "bad request");
                return;
        }
        if (strcmp(req->text, "hang") == 0) {
                obs.hang_started = now_monotonic_usec(); /* never answered: the deadline ends it */
        } else if (req->code != 0) {
                grpc_call_finish(call, (berr_code) req->code, "%s", req->text);
        } else {
                const char *ns = grpc_call_metadata(call, "containerd-namespace");
                _cleanup_free_ char *text = xasprintf("%s@%s", req->text, ns ? ns : "");
                Berth__Test__EchoResponse resp = BERTH__TEST__ECHO_RESPONSE__INIT;
                resp.text = text;
                resp.payload = req->payload;
                grpc_call_reply(call, &resp.base);
        }
        berth__test__echo_request__free_unpacked(req, NULL);
}

static void echo_cancel(grpc_call *call, void *userdata) {
        obs.cancels++;
        if (grpc_call_deadline_remaining_usec(call) == 0 && obs.deadline_cancels++ == 0)
                obs.first_cancel_after = now_monotonic_usec() - obs.hang_started;
}

typedef struct count_state {
        uint32_t next, total, size;
} count_state;

static void fill_pattern(uint8_t *p, size_t n, uint32_t seq) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seq * 7 + i);
}

/* Produces while less than 1 MiB is queued; on_writable brings it back when the queue drains. */
static void count_produce(grpc_call *call, void *userdata) {
        count_state *st = grpc_call_get_state(call);
        _cleanup_free_ uint8_t *buf = xmalloc(st->size ? st->size : 1);
        while (st->next < st->total && grpc_call_pending_bytes(call) < (1u << 20)) {
                Berth__Test__EchoResponse resp = BERTH__TEST__ECHO_RESPONSE__INIT;
                fill_pattern(buf, st->size, st->next);
                resp.payload.data = buf;
                resp.payload.len = st->size;
                resp.seq = st->next++;
                grpc_call_send(call, &resp.base);
        }
        if (st->next == st->total) {
                free(st);
                grpc_call_set_state(call, NULL);
                grpc_call_finish(call, BERR_OK, NULL);
        }
}

static void count_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__Test__EchoRequest *req = berth__test__echo_request__unpack(NULL, len, msg);
        count_state *st = xcalloc(1, sizeof *st);
        st->total = req ? req->count : 0;
        st->size = req ? req->size : 0;
        berth__test__echo_request__free_unpacked(req, NULL);
        grpc_call_set_state(call, st);
        grpc_call_set_on_writable(call, 256u << 10, count_produce);
        count_produce(call, userdata);
}

static void count_cancel(grpc_call *call, void *userdata) {
        obs.cancels++;
        obs.count_cancels++;
        free(grpc_call_get_state(call));
}

static void chat_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        uint32_t *n = grpc_call_get_state(call);
        if (!n) {
                n = xcalloc(1, sizeof *n);
                grpc_call_set_state(call, n);
                if (++obs.live_chats > obs.max_live_chats)
                        obs.max_live_chats = obs.live_chats;
        }
        Berth__Test__EchoRequest *req = berth__test__echo_request__unpack(NULL, len, msg);
        Berth__Test__EchoResponse resp = BERTH__TEST__ECHO_RESPONSE__INIT;
        resp.text = req ? req->text : (char *) "";
        resp.seq = ++*n;
        grpc_call_send(call, &resp.base);
        berth__test__echo_request__free_unpacked(req, NULL);
}

static void chat_end(grpc_call *call) {
        uint32_t *n = grpc_call_get_state(call);
        if (n) {
                obs.live_chats--;
                free(n);
                grpc_call_set_state(call, NULL);
        }
}

static void chat_half_close(grpc_call *call, void *userdata) {
        chat_end(call);
        grpc_call_finish(call, BERR_OK, NULL);
}

static void chat_cancel(grpc_call *call, void *userdata) {
        obs.cancels++;
        chat_end(call);
}

/* containerd.services.version.v1.Version/Version, hand-encoded: {1: version, 2: revision}. */
static void version_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        static const char version[] = "v9.9.9-berth", revision[] = "testrev";
        uint8_t buf[64];
        size_t n = 0;
        buf[n++] = 0x0a;
        buf[n++] = sizeof version - 1;
        memcpy(buf + n, version, sizeof version - 1);
        n += sizeof version - 1;
        buf[n++] = 0x12;
        buf[n++] = sizeof revision - 1;
        memcpy(buf + n, revision, sizeof revision - 1);
        n += sizeof revision - 1;
        grpc_call_send_bytes(call, buf, n);
        grpc_call_finish(call, BERR_OK, NULL);
}

/* Answered late by a timer, after the client is gone: "Late" has no on_cancel (keeps its call); "LateRef" has
 * one and holds an extra reference. Both must finish harmlessly. */
static void late_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        if (userdata) {
                obs.late_ref_call = grpc_call_ref(call);
        } else
                obs.late_call = call;
}

static void late_cancel(grpc_call *call, void *userdata) {
        obs.cancels++;
}

static const grpc_method echo_methods[] = {
        { "/berth.test.Echo/Echo", GRPC_UNARY, echo_message, NULL, echo_cancel },
        { "/berth.test.Echo/Count", GRPC_SERVER_STREAMING, count_message, NULL, count_cancel },
        { "/berth.test.Echo/Chat", GRPC_BIDI_STREAMING, chat_message, chat_half_close, chat_cancel },
        { "/containerd.services.version.v1.Version/Version", GRPC_UNARY, version_message, NULL, NULL },
        { "/berth.test.Echo/Late", GRPC_UNARY, late_message, NULL, NULL },
};
static const grpc_method late_ref_methods[] = {
        { "/berth.test.Echo/LateRef", GRPC_UNARY, late_message, NULL, late_cancel },
};

/* ---- fixture ---- */

typedef struct fixture {
        ev_loop *loop;
        grpc_server *srv;
        char dir[64];
        char sock[128];
        int wake[2];
        ev_source *wake_io;
        atomic_bool client_done;
} fixture;

static int on_wake(ev_source *s, int fd, uint32_t revents, void *userdata) {
        char b[16];
        while (read(fd, b, sizeof b) > 0)
                ;
        return 0;
}

static void fixture_start(fixture *f) {
        static int marker;
        memset(f, 0, sizeof *f);
        memset(&obs, 0, sizeof obs);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berth-grpc-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/grpc.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        ASSERT_OK(grpc_server_register(f->srv, echo_methods, ELEMENTSOF(echo_methods), NULL, &e));
        ASSERT_OK(grpc_server_register(f->srv, late_ref_methods, ELEMENTSOF(late_ref_methods), &marker, &e));
        ASSERT_OK(grpc_health_register(f->srv, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->wake_io, f->wake[0], EPOLLIN, on_wake, NULL));
}

static void fixture_stop(fixture *f) {
        f->srv = grpc_server_free(f->srv);
        ev_source_free(f->wake_io);
        safe_close(f->wake[0]);
        safe_close(f->wake[1]);
        ev_loop_free(f->loop);
        (void) unlink(f->sock);
        (void) rmdir(f->dir);
}

typedef char *(*client_fn)(const char *sock, void *arg);

typedef struct client_run {
        fixture *f;
        client_fn fn;
        void *arg;
        char *result;
} client_run;

static void *client_thread(void *p) {
        client_run *r = p;
        r->result = r->fn(r->f->sock, r->arg);
        atomic_store(&r->f->client_done, true);
        (void) !write(r->f->wake[1], "x", 1);
        return NULL;
}

/* Runs fn on a client thread while this thread turns the loop; returns fn's failure text or NULL. */
static char *run_client(fixture *f, client_fn fn, void *arg) {
        client_run r = { .f = f, .fn = fn, .arg = arg };
        pthread_t th;
        atomic_store(&f->client_done, false);
        if (pthread_create(&th, NULL, client_thread, &r) != 0)
                return xstrdup("pthread_create failed");
        while (!atomic_load(&f->client_done))
                (void) ev_loop_run_once(f->loop, 1000);
        pthread_join(th, NULL);
        return r.result;
}

static void turn_loop_until(fixture *f, const int *value, int want, uint64_t timeout_usec) {
        uint64_t end = now_monotonic_usec() + timeout_usec;
        while (*value < want && now_monotonic_usec() < end)
                (void) ev_loop_run_once(f->loop, 20);
}

#define ASSERT_CLIENT(f, fn, arg)                                                                        \
        do {                                                                                             \
                _cleanup_free_ char *_fail = run_client(f, fn, arg);                                     \
                if (_fail)                                                                               \
                        TAP_FAIL("client: %s", _fail);                                                   \
        } while (0)

/* Client-thread checks: return the failure as text. */
#define CHECK(e)                                                                                         \
        do {                                                                                             \
                if (!(e))                                                                                \
                        return xasprintf("%s:%d: check failed: %s", __FILE__, __LINE__, #e);             \
        } while (0)
#define CHECK_OK(e)                                                                                      \
        do {                                                                                             \
                if ((e) < 0)                                                                             \
                        return xasprintf("%s:%d: %s failed: %s", __FILE__, __LINE__, #e,                 \
                                         err ? err->msg : "(no error)");                                 \
        } while (0)

static char *connect_client(const char *sock, grpc_client **ret) {
        berr *err = NULL;
        CHECK_OK(grpc_client_connect_unix(sock, ret, &err));
        static const grpc_md md[] = { { "containerd-namespace", "testns" } };
        grpc_client_set_default_metadata(*ret, md, ELEMENTSOF(md));
        return NULL;
}

static int echo_call(grpc_client *c, const char *path, const char *text, int32_t code, size_t payload,
                     uint64_t timeout, Berth__Test__EchoResponse **ret, berr **err) {
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        req.text = (char *) text;
        req.code = code;
        _cleanup_free_ uint8_t *p = payload ? xmalloc(payload) : NULL;
        if (p)
                fill_pattern(p, payload, 42);
        req.payload.data = p;
        req.payload.len = payload;
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        if (grpc_client_unary(c, path, &req.base, timeout, &resp, &len, err) < 0)
                return -1;
        if (ret)
                *ret = berth__test__echo_response__unpack(NULL, len, resp);
        return 0;
}

/* ---- tests ---- */

static char *client_unary(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        Berth__Test__EchoResponse *resp = NULL;
        /* 1 MiB: spans many DATA frames each way. */
        CHECK_OK(echo_call(c, "/berth.test.Echo/Echo", "hello", 0, 1u << 20, 0, &resp, &err));
        CHECK(resp);
        CHECK(strcmp(resp->text, "hello@testns") == 0);
        CHECK(resp->payload.len == 1u << 20);
        uint8_t *want = xmalloc(1u << 20);
        fill_pattern(want, 1u << 20, 42);
        bool same = memcmp(want, resp->payload.data, 1u << 20) == 0;
        free(want);
        CHECK(same);
        berth__test__echo_response__free_unpacked(resp, NULL);
        /* Many calls on one connection, with a deadline that is not reached. */
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *text = xasprintf("n%d", i);
                CHECK_OK(echo_call(c, "/berth.test.Echo/Echo", text, 0, 0, 5000 * MSEC, &resp, &err));
                _cleanup_free_ char *expect = xasprintf("n%d@testns", i);
                bool ok = resp && strcmp(resp->text, expect) == 0;
                berth__test__echo_response__free_unpacked(resp, NULL);
                CHECK(ok);
        }
        /* Empty response message: NULL with length 0. */
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        grpc_client_set_default_metadata(c, NULL, 0);
        req.text = (char *) "";
        uint8_t *raw = (uint8_t *) "x";
        size_t rlen = 1;
        CHECK_OK(grpc_client_unary(c, "/berth.test.Echo/Echo", &req.base, 0, &raw, &rlen, &err));
        /* text "@" is the whole response: field 1, length 1. */
        CHECK(rlen == 3 && raw[0] == 0x0a && raw[1] == 1 && raw[2] == '@');
        free(raw);
        grpc_client_free(c);
        return NULL;
}

TEST(unary_round_trip) {
        fixture f;
        fixture_start(&f);
        struct stat st;
        ASSERT_OK(stat(f.sock, &st));
        ASSERT_TRUE(S_ISSOCK(st.st_mode));
        ASSERT_EQ(st.st_mode & 0777, 0600);
        ASSERT_CLIENT(&f, client_unary, NULL);
        ASSERT_EQ(obs.cancels, 0);
        fixture_stop(&f);
}

static char *client_status(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        static const char *texts[] = {
                "image \"docker.io/library/busybox:latest\": not found",
                "na\xc3\xafve 100% \"quoted\"\n\ttab \xe2\x9c\x93 %41 %",
                "",
        };
        static const berr_code codes[] = { BERR_NOT_FOUND, BERR_FAILED_PRECONDITION, BERR_INTERNAL,
                                           BERR_ALREADY_EXISTS, BERR_UNAVAILABLE };
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                const char *text = texts[i % ELEMENTSOF(texts)];
                berr *err = NULL;
                CHECK(echo_call(c, "/berth.test.Echo/Echo", text, (int32_t) codes[i], 0, 0, NULL, &err) < 0);
                CHECK(err && err->code == codes[i]);
                if (strcmp(err->msg, text) != 0)
                        return xasprintf("status message \"%s\" != \"%s\"", err->msg, text);
                berr_free(err);
        }
        struct {
                const char *path;
                const char *msg;
        } unknown[] = {
                { "/berth.test.Echo/Nope", "unknown method Nope for service berth.test.Echo" },
                { "/containerd.services.foo.v1.Foo/Bar", "unknown service containerd.services.foo.v1.Foo" },
                { "/nothing", "malformed method name: \"/nothing\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(unknown); i++) {
                berr *err = NULL;
                CHECK(echo_call(c, unknown[i].path, "x", 0, 0, 0, NULL, &err) < 0);
                CHECK(err->code == BERR_UNIMPLEMENTED);
                if (strcmp(err->msg, unknown[i].msg) != 0)
                        return xasprintf("unimplemented message \"%s\" != \"%s\"", err->msg, unknown[i].msg);
                berr_free(err);
        }
        grpc_client_free(c);
        return NULL;
}

TEST(status_codes_and_unknown_methods) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_status, NULL);
        fixture_stop(&f);
}

static char *client_health(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        uint8_t *raw = NULL;
        size_t len;
        CHECK_OK(grpc_client_unary(c, "/grpc.health.v1.Health/Check", &req.base, 1000 * MSEC, &raw, &len, &err));
        Grpc__Health__V1__HealthCheckResponse *resp = grpc__health__v1__health_check_response__unpack(NULL, len, raw);
        free(raw);
        CHECK(resp && resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        grpc__health__v1__health_check_response__free_unpacked(resp, NULL);

        grpc_stream *s = NULL;
        CHECK_OK(grpc_client_stream_open(c, "/grpc.health.v1.Health/Watch", 0, &s, &err));
        CHECK_OK(grpc_stream_send(s, &req.base, &err));
        CHECK_OK(grpc_stream_close_send(s, &err));
        int r = grpc_stream_recv(s, &raw, &len, &err);
        CHECK_OK(r);
        CHECK(r == 1);
        resp = grpc__health__v1__health_check_response__unpack(NULL, len, raw);
        free(raw);
        CHECK(resp && resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
        grpc_stream_free(s); /* the watch stays open until we leave */
        grpc_client_free(c);
        return NULL;
}

TEST(health_check_and_watch) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_health, NULL);
        fixture_stop(&f);
}

typedef struct count_arg {
        uint32_t count, size;
} count_arg;

static char *client_count(const char *sock, void *arg) {
        count_arg *a = arg;
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        grpc_stream *s = NULL;
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        req.count = a->count;
        req.size = a->size;
        uint64_t start = now_monotonic_usec();
        CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Count", 60000 * MSEC, &s, &err));
        CHECK_OK(grpc_stream_send(s, &req.base, &err));
        CHECK_OK(grpc_stream_close_send(s, &err));
        uint8_t *want = xmalloc(a->size ? a->size : 1);
        uint64_t total = 0;
        for (uint32_t i = 0;; i++) {
                uint8_t *raw;
                size_t len;
                int r = grpc_stream_recv(s, &raw, &len, &err);
                if (r < 0)
                        free(want);
                CHECK_OK(r);
                if (r == 0) {
                        free(want);
                        CHECK(i == a->count);
                        break;
                }
                Berth__Test__EchoResponse *resp = berth__test__echo_response__unpack(NULL, len, raw);
                free(raw);
                fill_pattern(want, a->size, i);
                bool ok = resp && resp->seq == i && resp->payload.len == a->size &&
                          memcmp(resp->payload.data, want, a->size) == 0;
                total += resp ? resp->payload.len : 0;
                berth__test__echo_response__free_unpacked(resp, NULL);
                if (!ok)
                        free(want);
                CHECK(ok);
        }
        uint64_t usec = now_monotonic_usec() - start;
        printf("# %u messages, %llu bytes in %.3f s (%.0f MiB/s)\n", a->count, (unsigned long long) total,
               usec / 1e6, usec ? total / (usec / 1e6) / (1 << 20) : 0.0);
        grpc_stream_free(s);
        grpc_client_free(c);
        return NULL;
}

TEST(server_streaming_10k_messages) {
        fixture f;
        fixture_start(&f);
        count_arg a = { .count = 10000, .size = 10 };
        ASSERT_CLIENT(&f, client_count, &a);
        ASSERT_EQ(obs.cancels, 0);
        fixture_stop(&f);
}

TEST(server_streaming_64mib_flow_control) {
        fixture f;
        fixture_start(&f);
        count_arg a = { .count = 1024, .size = 64u << 10 };
        ASSERT_CLIENT(&f, client_count, &a);
        ASSERT_EQ(obs.cancels, 0);
        fixture_stop(&f);
}

static char *client_chat(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        grpc_stream *s = NULL;
        CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Chat", 0, &s, &err));
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        uint32_t seq = 0;
        /* Ping-pong, then bursts of 10 before reading. */
        for (int round = 0; round < 20; round++) {
                int burst = round < 10 ? 1 : 10;
                for (int i = 0; i < burst; i++) {
                        _cleanup_free_ char *text = xasprintf("r%d-%d", round, i);
                        req.text = text;
                        CHECK_OK(grpc_stream_send(s, &req.base, &err));
                }
                for (int i = 0; i < burst; i++) {
                        uint8_t *raw;
                        size_t len;
                        int r = grpc_stream_recv(s, &raw, &len, &err);
                        CHECK_OK(r);
                        CHECK(r == 1);
                        Berth__Test__EchoResponse *resp = berth__test__echo_response__unpack(NULL, len, raw);
                        free(raw);
                        _cleanup_free_ char *text = xasprintf("r%d-%d", round, i);
                        bool ok = resp && strcmp(resp->text, text) == 0 && resp->seq == ++seq;
                        berth__test__echo_response__free_unpacked(resp, NULL);
                        CHECK(ok);
                }
        }
        CHECK_OK(grpc_stream_close_send(s, &err));
        uint8_t *raw;
        size_t len;
        CHECK(grpc_stream_recv(s, &raw, &len, &err) == 0);
        grpc_stream_free(s);
        grpc_client_free(c);
        return NULL;
}

TEST(bidi_echo) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_chat, NULL);
        ASSERT_EQ(obs.cancels, 0);
        ASSERT_EQ(obs.live_chats, 0);
        fixture_stop(&f);
}

static char *client_deadline(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        grpc_stream *s = NULL;
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        req.text = (char *) "hang";
        uint64_t start = now_monotonic_usec();
        CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Echo", 200 * MSEC, &s, &err));
        CHECK_OK(grpc_stream_send(s, &req.base, &err));
        CHECK_OK(grpc_stream_close_send(s, &err));
        /* Not reading for a while: the cancellation the server sees can only come from its own deadline. */
        usleep(500 * 1000);
        uint8_t *raw;
        size_t len;
        CHECK(grpc_stream_recv(s, &raw, &len, &err) < 0);
        CHECK(err->code == BERR_DEADLINE_EXCEEDED);
        CHECK(strcmp(err->msg, "context deadline exceeded") == 0);
        berr_free(err);
        err = NULL;
        grpc_stream_free(s);

        /* The plain unary way: the client gives up after 200 ms. */
        start = now_monotonic_usec();
        CHECK(echo_call(c, "/berth.test.Echo/Echo", "hang", 0, 0, 200 * MSEC, NULL, &err) < 0);
        uint64_t took = now_monotonic_usec() - start;
        CHECK(err->code == BERR_DEADLINE_EXCEEDED);
        CHECK(took >= 190 * MSEC && took < 2000 * MSEC);
        berr_free(err);
        grpc_client_free(c);
        return NULL;
}

TEST(deadline_exceeded) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_deadline, NULL);
        turn_loop_until(&f, &obs.cancels, 2, 2000 * MSEC);
        ASSERT_EQ(obs.cancels, 2);
        /* The first call's cancellation can only have come from the server's deadline; the second races the
         * client's own RST_STREAM (the client's clock started first), so either is right there. */
        ASSERT_TRUE(obs.deadline_cancels >= 1);
        ASSERT_TRUE(obs.first_cancel_after >= 150 * MSEC && obs.first_cancel_after < 450 * MSEC);
        fixture_stop(&f);
}

static char *client_disconnect(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        req.count = 1000000;
        req.size = 1024;
        /* 1: the stream is reset, the connection lives on. */
        grpc_stream *s = NULL;
        CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Count", 0, &s, &err));
        CHECK_OK(grpc_stream_send(s, &req.base, &err));
        CHECK_OK(grpc_stream_close_send(s, &err));
        for (int i = 0; i < 10; i++) {
                uint8_t *raw;
                size_t len;
                CHECK(grpc_stream_recv(s, &raw, &len, &err) == 1);
                free(raw);
        }
        grpc_stream_free(s);
        Berth__Test__EchoResponse *resp = NULL;
        CHECK_OK(echo_call(c, "/berth.test.Echo/Echo", "still", 0, 0, 0, &resp, &err));
        CHECK(resp && strcmp(resp->text, "still@testns") == 0);
        berth__test__echo_response__free_unpacked(resp, NULL);

        /* 2: the whole connection goes away under an open stream. */
        CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Count", 0, &s, &err));
        CHECK_OK(grpc_stream_send(s, &req.base, &err));
        for (int i = 0; i < 10; i++) {
                uint8_t *raw;
                size_t len;
                CHECK(grpc_stream_recv(s, &raw, &len, &err) == 1);
                free(raw);
        }
        grpc_client_free(c);
        /* The stream outlives its client: it reports the loss and frees cleanly. */
        uint8_t *raw;
        size_t len;
        int r;
        while ((r = grpc_stream_recv(s, &raw, &len, &err)) == 1)
                free(raw); /* what had arrived before is still delivered */
        CHECK(r < 0 && err->code == BERR_UNAVAILABLE);
        berr_free(err);
        grpc_stream_free(s);

        /* 3: late finishers. */
        CHECK_OK(grpc_client_connect_unix(sock, &c, &err));
        err = NULL;
        CHECK(echo_call(c, "/berth.test.Echo/Late", "x", 0, 0, 100 * MSEC, NULL, &err) < 0);
        CHECK(err->code == BERR_DEADLINE_EXCEEDED);
        berr_free(err);
        err = NULL;
        CHECK(echo_call(c, "/berth.test.Echo/LateRef", "x", 0, 0, 100 * MSEC, NULL, &err) < 0);
        CHECK(err->code == BERR_DEADLINE_EXCEEDED);
        berr_free(err);
        grpc_client_free(c);
        return NULL;
}

TEST(client_disconnect_cancels) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_disconnect, NULL);
        turn_loop_until(&f, &obs.count_cancels, 2, 2000 * MSEC);
        ASSERT_EQ(obs.count_cancels, 2);
        turn_loop_until(&f, &obs.cancels, 3, 2000 * MSEC);
        ASSERT_EQ(obs.cancels, 3); /* two Count streams and LateRef; Late has no on_cancel */
        /* Finish both after their peers are gone: no crash, no leak, nothing sent. */
        ASSERT_NOT_NULL(obs.late_call);
        ASSERT_NOT_NULL(obs.late_ref_call);
        ASSERT_TRUE(grpc_call_is_cancelled(obs.late_call));
        ASSERT_TRUE(grpc_call_is_cancelled(obs.late_ref_call));
        ASSERT_EQ(grpc_call_send_bytes(obs.late_call, (const uint8_t *) "x", 1), -1);
        grpc_call_finish(obs.late_call, BERR_OK, NULL);
        grpc_call_finish(obs.late_ref_call, BERR_OK, NULL);
        grpc_call_unref(obs.late_ref_call);
        ASSERT_EQ(grpc_server_connection_count(f.srv), 0);
        fixture_stop(&f);
}

#define N_STREAMS 50

static char *client_concurrent(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        grpc_stream *s[N_STREAMS];
        Berth__Test__EchoRequest req = BERTH__TEST__ECHO_REQUEST__INIT;
        for (int i = 0; i < N_STREAMS; i++) {
                CHECK_OK(grpc_client_stream_open(c, "/berth.test.Echo/Chat", 10000 * MSEC, &s[i], &err));
                _cleanup_free_ char *text = xasprintf("s%d", i);
                req.text = text;
                CHECK_OK(grpc_stream_send(s[i], &req.base, &err));
        }
        /* Answers are read in reverse order: the others wait buffered meanwhile. */
        for (int i = N_STREAMS - 1; i >= 0; i--) {
                uint8_t *raw;
                size_t len;
                CHECK(grpc_stream_recv(s[i], &raw, &len, &err) == 1);
                Berth__Test__EchoResponse *resp = berth__test__echo_response__unpack(NULL, len, raw);
                free(raw);
                _cleanup_free_ char *text = xasprintf("s%d", i);
                bool ok = resp && strcmp(resp->text, text) == 0 && resp->seq == 1;
                berth__test__echo_response__free_unpacked(resp, NULL);
                CHECK(ok);
        }
        for (int i = 0; i < N_STREAMS; i++)
                CHECK_OK(grpc_stream_close_send(s[i], &err));
        for (int i = 0; i < N_STREAMS; i++) {
                uint8_t *raw;
                size_t len;
                CHECK(grpc_stream_recv(s[i], &raw, &len, &err) == 0);
                grpc_stream_free(s[i]);
        }
        grpc_client_free(c);
        return NULL;
}

TEST(fifty_concurrent_streams) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_concurrent, NULL);
        ASSERT_EQ(obs.max_live_chats, N_STREAMS);
        ASSERT_EQ(obs.live_chats, 0);
        ASSERT_EQ(obs.cancels, 0);
        fixture_stop(&f);
}

static char *client_oversize(const char *sock, void *arg) {
        grpc_client *c = NULL;
        char *fail = connect_client(sock, &c);
        if (fail)
                return fail;
        berr *err = NULL;
        CHECK(echo_call(c, "/berth.test.Echo/Echo", "big", 0, GRPC_MESSAGE_MAX, 0, NULL, &err) < 0);
        CHECK(err->code == BERR_RESOURCE_EXHAUSTED);
        CHECK(strstr(err->msg, "received message larger than max"));
        berr_free(err);
        err = NULL;
        Berth__Test__EchoResponse *resp = NULL;
        CHECK_OK(echo_call(c, "/berth.test.Echo/Echo", "after", 0, 0, 0, &resp, &err));
        CHECK(resp && strcmp(resp->text, "after@testns") == 0);
        berth__test__echo_response__free_unpacked(resp, NULL);
        grpc_client_free(c);
        return NULL;
}

TEST(oversized_message_resource_exhausted) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_oversize, NULL);
        fixture_stop(&f);
}

static char *client_refused(const char *sock, void *arg) {
        grpc_client *c = NULL;
        berr *err = NULL;
        CHECK(grpc_client_connect_unix("/nonexistent/berth.sock", &c, &err) < 0);
        CHECK(err->code == BERR_UNAVAILABLE);
        berr_free(err);
        return NULL;
}

TEST(connect_refused_is_unavailable) {
        fixture f;
        fixture_start(&f);
        ASSERT_CLIENT(&f, client_refused, NULL);
        fixture_stop(&f);
}

/* ---- interop with a real grpc-go client ---- */

static char *read_all(int fd) {
        size_t cap = 4096, len = 0;
        char *buf = xmalloc(cap);
        for (;;) {
                if (len + 1 >= cap)
                        buf = xrealloc(buf, cap *= 2);
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        return buf;
}

typedef struct ctr_result {
        char *out;
        int status;
} ctr_result;

static char *client_ctr(const char *sock, void *arg) {
        ctr_result *res = arg;
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        char *argv[] = { (char *) "ctr", (char *) "--connect-timeout", (char *) "2s", (char *) "-a", (char *) sock,
                         (char *) "version", NULL };
        pid_t pid;
        int r = posix_spawn(&pid, "/usr/bin/ctr", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return xasprintf("posix_spawn ctr: %s", strerror(r));
        }
        res->out = read_all(p[0]);
        close(p[0]);
        CHECK(waitpid(pid, &res->status, 0) == pid);
        return NULL;
}

TEST(interop_ctr_version) {
        if (access("/usr/bin/ctr", X_OK) < 0)
                TAP_SKIP("ctr not installed");
        fixture f;
        fixture_start(&f);
        ctr_result res = {};
        ASSERT_CLIENT(&f, client_ctr, &res);
        printf("# ctr said:\n# %s\n", res.out);
        ASSERT_NOT_NULL(strstr(res.out, "Server:\n  Version:  v9.9.9-berth\n  Revision: testrev\n"));
        /* ctr then asks introspection for the server UUID, which this server does not have. */
        ASSERT_NOT_NULL(strstr(res.out, "unknown service containerd.services.introspection.v1.Introspection"));
        free(res.out);
        fixture_stop(&f);
}
