/* ttrpc client ↔ server over socketpairs and a unix socket path: round trips, many calls in flight answered out of
 * order, deferred replies, error statuses, deadlines, closed connections. Wire-level checks are in test-ttrpc-wire.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "test-ttrpc-util.h"

TEST(round_trip_sync) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);

        Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
        in.key = "k";
        in.value = "hello";
        const ttrpc_kv md[] = { { "containerd-namespace-ttrpc", "default" } };
        uint8_t *out = NULL;
        size_t out_len = 0;
        berr *e = NULL;
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Echo", &in.base, md, 1, 2000000000, &out, &out_len, &e));
        ASSERT_NULL(e);
        Ttrpc__KeyValue *kv = ttrpc__key_value__unpack(NULL, out_len, out);
        ASSERT_NOT_NULL(kv);
        ASSERT_STREQ(kv->key, "k");
        ASSERT_STREQ(kv->value, "echo:hello");
        ttrpc__key_value__free_unpacked(kv, NULL);
        free(out);
        ASSERT_STREQ(seen.metadata_ns, "default");
        /* timeout_nano carried (2 s), and nothing else touched it */
        ASSERT_EQ(seen.timeout_nano, 2000000000);

        /* Empty result: success, no payload */
        out = (uint8_t *) 1;
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, &out, &out_len, &e));
        ASSERT_NULL(out);
        ASSERT_EQ(out_len, 0);
        /* no deadline → no timeout_nano */
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Echo", &in.base, NULL, 0, 0, &out, &out_len, &e));
        free(out);
        ASSERT_EQ(seen.timeout_nano, 0);
        ASSERT_NULL(seen.metadata_ns);

        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(round_trip_unix_path) {
        fixture f;
        fixture_init(&f);
        char dir[] = "/tmp/berth-ttrpc-XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(dir));
        char *path = xasprintf("%s/s.sock", dir);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(lfd);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        ASSERT_OK(bind(lfd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(listen(lfd, 16));
        ASSERT_OK(ttrpc_server_listen_fd(f.srv, lfd, NULL));

        char *addr = xasprintf("unix://%s", path);
        ttrpc_client *c1 = NULL, *c2 = NULL;
        ASSERT_OK(ttrpc_client_connect(f.loop, addr, &c1, NULL));
        ASSERT_OK(ttrpc_client_connect(f.loop, path, &c2, NULL));
        reply r1 = {}, r2 = {};
        Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
        in.key = "a";
        in.value = "b";
        ASSERT_OK(ttrpc_client_call(c1, TEST_SERVICE, "Echo", &in.base, NULL, 0, 0, reply_cb, &r1, NULL));
        ASSERT_OK(ttrpc_client_call(c2, TEST_SERVICE, "Echo", &in.base, NULL, 0, 0, reply_cb, &r2, NULL));
        PUMP_UNTIL(f.loop, r1.done && r2.done);
        ASSERT_EQ(r1.code, BERR_OK);
        ASSERT_STREQ(r1.value, "echo:b");
        ASSERT_STREQ(r2.value, "echo:b");
        ASSERT_EQ(ttrpc_server_connection_count(f.srv), 2);

        /* a missing socket is UNAVAILABLE */
        ttrpc_client *c3 = NULL;
        berr *e = NULL;
        char *missing = xasprintf("%s/nope.sock", dir);
        ASSERT_TRUE(ttrpc_client_connect(f.loop, missing, &c3, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        berr_free(e);

        ttrpc_client_free(c1);
        ttrpc_client_free(c2);
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        reply_done(&r1);
        reply_done(&r2);
        fixture_done(&f);
        unlink(path);
        rmdir(dir);
        free(path);
        free(addr);
        free(missing);
}

TEST(many_in_flight_reverse_order) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        enum { N = 100 };
        static reply r[N];
        for (int i = 0; i < N; i++) {
                char key[16];
                snprintf(key, sizeof key, "%d", i);
                Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
                in.key = key;
                in.value = key;
                ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", &in.base, NULL, 0, 0, reply_cb, &r[i], NULL));
        }
        PUMP_UNTIL(f.loop, n_held == N);
        /* Answer newest first; each reply names the request it belongs to. */
        for (int i = N - 1; i >= 0; i--) {
                char key[16], value[32];
                snprintf(key, sizeof key, "%d", i);
                snprintf(value, sizeof value, "reply-%d", i);
                ASSERT_STREQ(ttrpc_call_method(held[i]), "Hold");
                ASSERT_STREQ(ttrpc_call_service(held[i]), TEST_SERVICE);
                ASSERT_TRUE(ttrpc_call_connected(held[i]));
                reply_kv(held[i], key, value);
        }
        PUMP_UNTIL(f.loop, r[0].done);
        for (int i = 0; i < N; i++) {
                char key[16], value[32];
                snprintf(key, sizeof key, "%d", i);
                snprintf(value, sizeof value, "reply-%d", i);
                ASSERT_TRUE(r[i].done);
                ASSERT_EQ(r[i].n_cb, 1);
                ASSERT_EQ(r[i].code, BERR_OK);
                ASSERT_STREQ(r[i].key, key);
                ASSERT_STREQ(r[i].value, value);
                reply_done(&r[i]);
        }
        ttrpc_client_free(c);
        fixture_done(&f);
}

static int reply_from_timer(ev_source *s, void *ud) {
        ttrpc_call *call = ud;
        reply_kv(call, "late", "from-timer");
        ev_source_free(s);
        return 0;
}

TEST(deferred_reply_from_timer) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        reply r = {};
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 0, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, n_held == 1);
        ev_source *t = NULL;
        ASSERT_OK(ev_add_timer(f.loop, &t, 30000, reply_from_timer, held[0]));
        /* meanwhile the connection serves other calls */
        uint8_t *out = NULL;
        size_t len = 0;
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, &out, &len, NULL));
        ASSERT_FALSE(r.done);
        PUMP_UNTIL(f.loop, r.done);
        ASSERT_EQ(r.code, BERR_OK);
        ASSERT_STREQ(r.value, "from-timer");
        reply_done(&r);
        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(error_status_reaches_client) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
        in.key = "6";
        in.value = "id ex1: already exists";
        berr *e = NULL;
        uint8_t *out = NULL;
        size_t len = 0;
        ASSERT_TRUE(ttrpc_client_call_sync(c, TEST_SERVICE, "Fail", &in.base, NULL, 0, 0, &out, &len, &e) < 0);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        ASSERT_STREQ(e->msg, "id ex1: already exists");
        berr_free(e);
        e = NULL;

        reply r = {};
        in.key = "5";
        in.value = "container not created: not found";
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Fail", &in.base, NULL, 0, 0, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, r.done);
        ASSERT_EQ(r.code, BERR_NOT_FOUND);
        ASSERT_STREQ(r.msg, "container not created: not found");
        ASSERT_EQ(r.len, 0);
        reply_done(&r);

        /* a reply_error with code 0 must not read as success */
        in.key = "0";
        in.value = "oops";
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Fail", &in.base, NULL, 0, 0, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, r.done);
        ASSERT_EQ(r.code, BERR_UNKNOWN);
        reply_done(&r);

        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(unknown_service_and_method) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        berr *e = NULL;
        ASSERT_TRUE(ttrpc_client_call_sync(c, "no.such.Service", "Echo", NULL, NULL, 0, 0, NULL, NULL, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_STREQ(e->msg, "service no.such.Service");
        berr_free(e);
        e = NULL;
        ASSERT_TRUE(ttrpc_client_call_sync(c, TEST_SERVICE, "Nope", NULL, NULL, 0, 0, NULL, NULL, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_STREQ(e->msg, "method Nope");
        berr_free(e);
        ASSERT_EQ(seen.n_calls, 0);
        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(client_deadline) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        reply r = {};
        uint64_t t0 = now_monotonic_usec();
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 50 * 1000000ll, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, r.done);
        uint64_t elapsed = now_monotonic_usec() - t0;
        ASSERT_EQ(r.code, BERR_DEADLINE_EXCEEDED);
        ASSERT_STREQ(r.msg, "context deadline exceeded");
        ASSERT_TRUE(elapsed >= 50000 && elapsed < 2000000);
        ASSERT_EQ(n_held, 1);
        ASSERT_EQ(seen.timeout_nano, 50 * 1000000ll);
        /* The late reply is dropped: the callback ran once. */
        reply_kv(held[0], "late", "late");
        pump_for(f.loop, 50);
        ASSERT_EQ(r.n_cb, 1);
        ASSERT_EQ(r.code, BERR_DEADLINE_EXCEEDED);
        /* The connection still works, and a sync call times out too. */
        berr *e = NULL;
        ASSERT_TRUE(ttrpc_client_call_sync(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 20 * 1000000ll, NULL, NULL, &e) < 0);
        ASSERT_EQ(e->code, BERR_DEADLINE_EXCEEDED);
        berr_free(e);
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 1000000000, NULL, NULL, NULL));
        ttrpc_call_reply(held[1], NULL);
        reply_done(&r);
        ttrpc_client_free(c);
        fixture_done(&f);
}

static unsigned on_close_calls;
static void count_close(ttrpc_client *c, void *ud) {
        on_close_calls++;
        ASSERT_TRUE(ttrpc_client_closed(c));
}

TEST(server_close_fails_pending_calls) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        on_close_calls = 0;
        ttrpc_client_set_on_close(c, count_close, NULL);
        reply r[3] = {};
        for (int i = 0; i < 3; i++)
                ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, i == 0 ? 5000000000ll : 0,
                                            reply_cb, &r[i], NULL));
        PUMP_UNTIL(f.loop, n_held == 3);
        /* The server goes away with the calls held; they stay valid. */
        ttrpc_server_shutdown(f.srv);
        ASSERT_EQ(ttrpc_server_connection_count(f.srv), 0);
        ASSERT_FALSE(ttrpc_call_connected(held[0]));
        PUMP_UNTIL(f.loop, r[0].done && r[1].done && r[2].done);
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(r[i].code, BERR_UNAVAILABLE);
                ASSERT_EQ(r[i].n_cb, 1);
                reply_done(&r[i]);
        }
        ASSERT_EQ(on_close_calls, 1);
        ASSERT_TRUE(ttrpc_client_closed(c));
        /* new calls fail at once */
        berr *e = NULL;
        ASSERT_TRUE(ttrpc_client_call(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, reply_cb, &r[0], &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        berr_free(e);
        /* replies to the orphaned calls are dropped and free them (ASan checks the leak/use-after-free side) */
        for (size_t i = 0; i < n_held; i++)
                ttrpc_call_reply_error(held[i], BERR_INTERNAL, "too late");
        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(client_gone_while_call_held) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        reply r = {};
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 0, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, n_held == 1);
        ttrpc_client_free(c); /* fails the pending call locally */
        ASSERT_TRUE(r.done);
        ASSERT_EQ(r.code, BERR_UNAVAILABLE);
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        ASSERT_FALSE(ttrpc_call_connected(held[0]));
        ASSERT_STREQ(ttrpc_call_method(held[0]), "Hold");
        reply_kv(held[0], "x", "dropped");
        reply_done(&r);

        /* Same with the server freed before the reply. */
        c = fixture_client(&f);
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 0, reply_cb, &r, NULL));
        PUMP_UNTIL(f.loop, n_held == 2);
        f.srv = ttrpc_server_free(f.srv);
        PUMP_UNTIL(f.loop, r.done);
        ASSERT_EQ(r.code, BERR_UNAVAILABLE);
        ttrpc_call_reply(held[1], NULL);
        reply_done(&r);
        ttrpc_client_free(c);
        fixture_done(&f);
}

static void free_client_in_cb(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *ud) {
        ttrpc_client **c = ud;
        *c = ttrpc_client_free(*c);
}

static unsigned n_unavailable;
static void count_unavailable(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *ud) {
        if (code == BERR_UNAVAILABLE)
                n_unavailable++;
}

TEST(client_freed_in_reply_callback) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        n_unavailable = 0;
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, free_client_in_cb, &c, NULL));
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Hold", NULL, NULL, 0, 0, count_unavailable, NULL, NULL));
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, count_unavailable, NULL, NULL));
        PUMP_UNTIL(f.loop, c == NULL);
        ASSERT_EQ(n_unavailable, 2);
        PUMP_UNTIL(f.loop, ttrpc_server_connection_count(f.srv) == 0);
        for (size_t i = 0; i < n_held; i++)
                ttrpc_call_reply(held[i], NULL);
        fixture_done(&f);
}

TEST(nested_sync_call_inside_handler) {
        fixture f;
        fixture_init(&f);
        ttrpc_client *c = fixture_client(&f);
        relay_client = fixture_client(&f);
        /* Several relays in flight on one connection: each handler pumps the loop while the others arrive. */
        reply r[4] = {};
        for (int i = 0; i < 4; i++) {
                char v[8];
                snprintf(v, sizeof v, "r%d", i);
                Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
                in.key = "k";
                in.value = v;
                ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Relay", &in.base, NULL, 0, 0, reply_cb, &r[i], NULL));
        }
        PUMP_UNTIL(f.loop, r[0].done && r[1].done && r[2].done && r[3].done);
        for (int i = 0; i < 4; i++) {
                char v[16];
                snprintf(v, sizeof v, "echo:r%d", i);
                ASSERT_EQ(r[i].code, BERR_OK);
                ASSERT_STREQ(r[i].value, v);
                reply_done(&r[i]);
        }
        relay_client = ttrpc_client_free(relay_client);
        ttrpc_client_free(c);
        fixture_done(&f);
}

TEST(client_refuses_oversized_request) {
        fixture f;
        fixture_init(&f);
        int sv[2];
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv));
        ttrpc_client *c = NULL;
        ASSERT_OK(ttrpc_client_new_from_fd(f.loop, sv[0], &c, NULL));
        size_t big = TTRPC_MESSAGE_LENGTH_MAX;
        char *v = xmalloc(big + 1);
        memset(v, 'a', big);
        v[big] = 0;
        Ttrpc__KeyValue in = TTRPC__KEY_VALUE__INIT;
        in.key = "k";
        in.value = v;
        reply r = {};
        berr *e = NULL;
        ASSERT_TRUE(ttrpc_client_call(c, TEST_SERVICE, "Echo", &in.base, NULL, 0, 0, reply_cb, &r, &e) < 0);
        ASSERT_EQ(e->code, BERR_RESOURCE_EXHAUSTED);
        ASSERT_TRUE(strstr(e->msg, "exceed maximum message size of 4194304") != NULL);
        berr_free(e);
        pump_for(f.loop, 20);
        ASSERT_FALSE(r.done);
        uint8_t b;
        ASSERT_TRUE(recv(sv[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN); /* nothing was sent */
        /* the next call uses id 1: the refused one consumed nothing */
        ASSERT_OK(ttrpc_client_call(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, reply_cb, &r, NULL));
        uint8_t hdr[TTRPC_HEADER_LENGTH];
        pump_for(f.loop, 5);
        ASSERT_EQ(recv(sv[1], hdr, sizeof hdr, MSG_DONTWAIT), TTRPC_HEADER_LENGTH);
        ttrpc_header h;
        ttrpc_header_decode(hdr, &h);
        ASSERT_EQ(h.stream_id, 1);
        free(v);
        close(sv[1]);
        PUMP_UNTIL(f.loop, r.done);
        ASSERT_EQ(r.code, BERR_UNAVAILABLE);
        reply_done(&r);
        ttrpc_client_free(c);
        fixture_done(&f);
}

/* A client from another uid is dropped without a byte (SO_PEERCRED, like UnixSocketRequireSameUser). */
TEST(peer_credentials_checked) {
        if (geteuid() != 0)
                TAP_SKIP("needs root to connect as another user");
        fixture f;
        fixture_init(&f);
        char dir[] = "/tmp/berth-ttrpc-XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(dir));
        ASSERT_OK(chmod(dir, 0777));
        char *path = xasprintf("%s/s.sock", dir);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        ASSERT_OK(bind(lfd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(chmod(path, 0777));
        ASSERT_OK(listen(lfd, 16));
        ASSERT_OK(ttrpc_server_listen_fd(f.srv, lfd, NULL));

        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                /* child: nobody; connect, send a valid Empty request, expect EOF and no reply */
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(10);
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                        _exit(11);
                Ttrpc__Request req = TTRPC__REQUEST__INIT;
                req.service = TEST_SERVICE;
                req.method = "Empty";
                uint8_t buf[256];
                size_t n = ttrpc__request__pack(&req, buf + 10);
                ttrpc_header h = { (uint32_t) n, 1, TTRPC_TYPE_REQUEST, 0 };
                ttrpc_header_encode(&h, buf);
                (void) send(fd, buf, 10 + n, MSG_NOSIGNAL);
                struct timeval tv = { 5, 0 };
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                _exit(r == 0 || (r < 0 && errno == ECONNRESET) ? 0 : 12);
        }
        int status = 0;
        PUMP_UNTIL(f.loop, waitpid(pid, &status, WNOHANG) == pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        ASSERT_EQ(seen.n_calls, 0);
        ASSERT_EQ(ttrpc_server_connection_count(f.srv), 0);

        /* same user is served over the same listener */
        ttrpc_client *c = NULL;
        ASSERT_OK(ttrpc_client_connect(f.loop, path, &c, NULL));
        ASSERT_OK(ttrpc_client_call_sync(c, TEST_SERVICE, "Empty", NULL, NULL, 0, 0, NULL, NULL, NULL));
        ASSERT_EQ(seen.n_calls, 1);
        ttrpc_client_free(c);
        fixture_done(&f);
        unlink(path);
        rmdir(dir);
        free(path);
}
