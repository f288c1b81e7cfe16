/* containerd.services.events.v1.Events through real gRPC: the server (with the namespaces service and the exchange)
 * on this thread's event loop, clients on helper threads. Subscribe streams with filters, Publish (namespace from the
 * header), Forward (timestamp kept), namespace events, and a subscriber that never reads being dropped instead of
 * growing the daemon's memory. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "basic/fileio.h"
#include "containerd/events/namespace.pb-c.h"
#include "containerd/services/events/v1/events.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "events/exchange.h"
#include "services/common.h"
#include "services/services.h"
#include "tap.h"

typedef struct fixture {
        char dir[64];
        char sock[96];
        ev_loop *loop;
        grpc_server *srv;
        meta_db *db;
        event_exchange *x;
        service_context ctx;
        int wake[2];
        ev_source *wake_io;
} fixture;

static int on_wake(ev_source *s, int fd, uint32_t revents, void *userdata) {
        char b[16];
        while (read(fd, b, sizeof b) > 0)
                ;
        return 0;
}

static void fixture_start(fixture *f) {
        memset(f, 0, sizeof *f);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berthd-events-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        _cleanup_free_ char *path = xasprintf("%s/meta.db", f->dir);
        ASSERT_OK(meta_db_open(path, &f->db, &e));
        ASSERT_OK(event_exchange_new(f->loop, &f->x, &e));
        f->ctx = (service_context) {
                .loop = f->loop, .server = f->srv, .root = f->dir, .state = f->dir, .address = f->sock,
                .uuid = "01234567-89ab-4cde-8f01-23456789abcd", .db = f->db, .events = f->x,
        };
        ASSERT_OK(events_service_register(&f->ctx, &e));
        ASSERT_OK(namespaces_service_register(&f->ctx, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->wake_io, f->wake[0], EPOLLIN, on_wake, NULL));
}

static void fixture_stop(fixture *f) {
        f->srv = grpc_server_free(f->srv);
        f->x = event_exchange_free(f->x);
        service_context_done(&f->ctx);
        meta_db_close(f->db);
        ev_source_free(f->wake_io);
        safe_close(f->wake[0]);
        safe_close(f->wake[1]);
        ev_loop_free(f->loop);
        ASSERT_OK(rm_rf(f->dir, NULL));
}

/* ---- unary calls on a helper thread while this thread serves ---- */

typedef struct rpc {
        fixture *f;
        const char *ns;
        const char *path;
        const ProtobufCMessage *req;
        berr *err;
        atomic_bool done;
} rpc;

static void *rpc_thread(void *p) {
        rpc *r = p;
        grpc_client *c = NULL;
        if (grpc_client_connect_unix(r->f->sock, &c, &r->err) == 0) {
                if (r->ns) {
                        grpc_md md = { .name = "containerd-namespace", .value = r->ns };
                        grpc_client_set_default_metadata(c, &md, 1);
                }
                uint8_t *resp = NULL;
                size_t len = 0;
                (void) grpc_client_unary(c, r->path, r->req, 10 * 1000000ULL, &resp, &len, &r->err);
                free(resp);
                grpc_client_free(c);
        }
        atomic_store(&r->done, true);
        (void) !write(r->f->wake[1], "x", 1);
        return NULL;
}

/* 0, or the status code of the failure (its message in *ret_msg if given). */
static int call(fixture *f, const char *ns, const char *path, const ProtobufCMessage *req, char **ret_msg) {
        rpc r = { .f = f, .ns = ns, .path = path, .req = req };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, rpc_thread, &r), 0);
        while (!atomic_load(&r.done))
                (void) ev_loop_run_once(f->loop, 1000);
        pthread_join(th, NULL);
        int code = r.err ? (int) r.err->code : 0;
        if (ret_msg)
                *ret_msg = r.err ? xstrdup(r.err->msg) : NULL;
        berr_free(r.err);
        return code;
}

/* ---- a subscriber on a helper thread ---- */

#define MAX_ENVELOPES 8

typedef struct subscriber {
        fixture *f;
        const char *const *filters;
        size_t n_filters;
        size_t want;      /* envelopes to receive before hanging up (0: read until the server ends the stream) */
        bool never_read;  /* subscribe, then wait for `go` before reading anything */
        atomic_bool go;
        Containerd__Services__Events__V1__Envelope *env[MAX_ENVELOPES];
        size_t n, n_received;
        berr *err; /* how the stream ended, if not by our hanging up */
        atomic_bool done;
} subscriber;

static void *subscriber_thread(void *p) {
        subscriber *s = p;
        grpc_client *c = NULL;
        grpc_stream *st = NULL;
        if (grpc_client_connect_unix(s->f->sock, &c, &s->err) < 0)
                goto out;
        Containerd__Services__Events__V1__SubscribeRequest req =
                CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        req.filters = (char **) s->filters;
        req.n_filters = s->n_filters;
        if (grpc_client_stream_open(c, "/containerd.services.events.v1.Events/Subscribe", 0, &st, &s->err) < 0 ||
            grpc_stream_send(st, &req.base, &s->err) < 0 || grpc_stream_close_send(st, &s->err) < 0)
                goto out;
        while (s->never_read && !atomic_load(&s->go))
                usleep(10000);
        for (;;) {
                if (s->want && s->n_received >= s->want)
                        break;
                uint8_t *msg = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(st, &msg, &len, &s->err);
                if (r <= 0)
                        break;
                s->n_received++;
                if (s->n < MAX_ENVELOPES)
                        s->env[s->n++] = containerd__services__events__v1__envelope__unpack(NULL, len, msg);
                free(msg);
        }
out:
        grpc_stream_free(st);
        grpc_client_free(c);
        atomic_store(&s->done, true);
        (void) !write(s->f->wake[1], "x", 1);
        return NULL;
}

static void run_until_subscribers(fixture *f, size_t n) {
        for (int i = 0; i < 500 && event_exchange_subscriber_count(f->x) != n; i++)
                (void) ev_loop_run_once(f->loop, 10);
        ASSERT_EQ(event_exchange_subscriber_count(f->x), n);
}

static void run_until_done(fixture *f, subscriber *s) {
        for (int i = 0; i < 1000 && !atomic_load(&s->done); i++)
                (void) ev_loop_run_once(f->loop, 10);
        ASSERT_TRUE(atomic_load(&s->done));
}

static void subscriber_done(subscriber *s) {
        for (size_t i = 0; i < s->n; i++)
                if (s->env[i])
                        containerd__services__events__v1__envelope__free_unpacked(s->env[i], NULL);
        berr_free(s->err);
}

static Google__Protobuf__Any any_of(const char *type_url, const char *value) {
        Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
        a.type_url = (char *) type_url;
        a.value.data = (uint8_t *) value;
        a.value.len = strlen(value);
        return a;
}

TEST(publish_and_forward_reach_a_filtered_subscriber) {
        fixture f;
        fixture_start(&f);
        const char *filters[] = { "topic~=\"^/test/\"", "namespace==k8s.io" };
        subscriber s = { .f = &f, .filters = filters, .n_filters = 2, .want = 3 };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, subscriber_thread, &s), 0);
        run_until_subscribers(&f, 1);

        /* Publish: namespace from the header, stamped by the server. */
        Google__Protobuf__Any a = any_of("example.Thing", "\x0a\x01x");
        Containerd__Services__Events__V1__PublishRequest pub = CONTAINERD__SERVICES__EVENTS__V1__PUBLISH_REQUEST__INIT;
        pub.topic = (char *) "/test/published";
        pub.event = &a;
        int64_t before = now_realtime_nsec();
        ASSERT_EQ(call(&f, "default", "/containerd.services.events.v1.Events/Publish", &pub.base, NULL), 0);
        int64_t after = now_realtime_nsec();
        /* Not matching either filter. */
        pub.topic = (char *) "/other/published";
        ASSERT_EQ(call(&f, "default", "/containerd.services.events.v1.Events/Publish", &pub.base, NULL), 0);
        /* Forward: the envelope's own namespace and timestamp. */
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1000000000;
        ts.nanos = 5;
        Containerd__Services__Events__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = (char *) "k8s.io";
        env.topic = (char *) "/elsewhere";
        env.event = &a;
        Containerd__Services__Events__V1__ForwardRequest fwd = CONTAINERD__SERVICES__EVENTS__V1__FORWARD_REQUEST__INIT;
        fwd.envelope = &env;
        ASSERT_EQ(call(&f, NULL, "/containerd.services.events.v1.Events/Forward", &fwd.base, NULL), 0);
        /* In-daemon publishing reaches gRPC subscribers too. */
        Containerd__Events__NamespaceDelete nd = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
        nd.name = (char *) "gone";
        ASSERT_OK(event_publish(f.x, "gone", "/test/direct", &nd.base, NULL));

        run_until_done(&f, &s);
        pthread_join(th, NULL);
        ASSERT_NULL(s.err);
        ASSERT_EQ(s.n, 3);
        ASSERT_STREQ(s.env[0]->topic, "/test/published");
        ASSERT_STREQ(s.env[0]->namespace_, "default");
        ASSERT_STREQ(s.env[0]->event->type_url, "example.Thing");
        ASSERT_EQ(s.env[0]->event->value.len, 3);
        int64_t t0 = service_timestamp_ns(s.env[0]->timestamp);
        ASSERT_TRUE(t0 >= before && t0 <= after);
        ASSERT_STREQ(s.env[1]->topic, "/elsewhere");
        ASSERT_STREQ(s.env[1]->namespace_, "k8s.io");
        ASSERT_EQ(s.env[1]->timestamp->seconds, 1000000000);
        ASSERT_EQ(s.env[1]->timestamp->nanos, 5);
        ASSERT_STREQ(s.env[2]->event->type_url, "containerd.events.NamespaceDelete");
        subscriber_done(&s);
        /* The client hung up: its subscription is gone. */
        run_until_subscribers(&f, 0);
        fixture_stop(&f);
}

TEST(publish_and_forward_errors) {
        fixture f;
        fixture_start(&f);
        Google__Protobuf__Any a = any_of("example.Thing", "");
        Containerd__Services__Events__V1__PublishRequest pub = CONTAINERD__SERVICES__EVENTS__V1__PUBLISH_REQUEST__INIT;
        pub.topic = (char *) "/test";
        pub.event = &a;
        _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL;
        ASSERT_EQ(call(&f, NULL, "/containerd.services.events.v1.Events/Publish", &pub.base, &m1),
                  BERR_FAILED_PRECONDITION);
        ASSERT_STREQ(m1, "failed publishing event: namespace is required: failed precondition");
        pub.topic = (char *) "no-slash";
        ASSERT_EQ(call(&f, "default", "/containerd.services.events.v1.Events/Publish", &pub.base, &m2),
                  BERR_INVALID_ARGUMENT);
        ASSERT_STREQ(m2, "envelope topic \"no-slash\": must start with '/': invalid argument");
        Containerd__Services__Events__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
        env.namespace_ = (char *) "default";
        env.topic = (char *) "/test";
        env.event = &a;
        Containerd__Services__Events__V1__ForwardRequest fwd = CONTAINERD__SERVICES__EVENTS__V1__FORWARD_REQUEST__INIT;
        fwd.envelope = &env;
        ASSERT_EQ(call(&f, NULL, "/containerd.services.events.v1.Events/Forward", &fwd.base, &m3),
                  BERR_INVALID_ARGUMENT);
        ASSERT_STREQ(m3, "timestamp must be set on forwarded event: invalid argument");

        /* A filter that does not parse ends the stream with INVALID_ARGUMENT. */
        const char *bad[] = { "topic==" };
        subscriber s = { .f = &f, .filters = bad, .n_filters = 1 };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, subscriber_thread, &s), 0);
        run_until_done(&f, &s);
        pthread_join(th, NULL);
        ASSERT_NOT_NULL(s.err);
        ASSERT_EQ(s.err->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strncmp(s.err->msg, "subscription error: failed parsing subscription filters: ", 57) == 0);
        subscriber_done(&s);
        ASSERT_EQ(event_exchange_subscriber_count(f.x), 0);
        fixture_stop(&f);
}

TEST(namespace_changes_are_published) {
        fixture f;
        fixture_start(&f);
        const char *filters[] = { "topic~=\"^/namespaces/\"" };
        subscriber s = { .f = &f, .filters = filters, .n_filters = 1, .want = 3 };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, subscriber_thread, &s), 0);
        run_until_subscribers(&f, 1);

        Containerd__Services__Namespaces__V1__Namespace__LabelsEntry l =
                CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__LABELS_ENTRY__INIT;
        l.key = (char *) "team";
        l.value = (char *) "a";
        Containerd__Services__Namespaces__V1__Namespace__LabelsEntry *lp = &l;
        Containerd__Services__Namespaces__V1__Namespace ns = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
        ns.name = (char *) "x1";
        ns.labels = &lp;
        ns.n_labels = 1;
        Containerd__Services__Namespaces__V1__CreateNamespaceRequest cr =
                CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;
        cr.namespace_ = &ns;
        ASSERT_EQ(call(&f, "default", "/containerd.services.namespaces.v1.Namespaces/Create", &cr.base, NULL), 0);
        l.value = (char *) "b";
        Containerd__Services__Namespaces__V1__UpdateNamespaceRequest ur =
                CONTAINERD__SERVICES__NAMESPACES__V1__UPDATE_NAMESPACE_REQUEST__INIT;
        ur.namespace_ = &ns;
        ASSERT_EQ(call(&f, NULL, "/containerd.services.namespaces.v1.Namespaces/Update", &ur.base, NULL), 0);
        Containerd__Services__Namespaces__V1__DeleteNamespaceRequest dr =
                CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
        dr.name = (char *) "x1";
        ASSERT_EQ(call(&f, "default", "/containerd.services.namespaces.v1.Namespaces/Delete", &dr.base, NULL), 0);

        run_until_done(&f, &s);
        pthread_join(th, NULL);
        ASSERT_EQ(s.n, 3);
        ASSERT_STREQ(s.env[0]->topic, "/namespaces/create");
        ASSERT_STREQ(s.env[0]->namespace_, "default"); /* the caller's namespace, as containerd */
        ASSERT_STREQ(s.env[0]->event->type_url, "containerd.events.NamespaceCreate");
        Containerd__Events__NamespaceCreate *c = containerd__events__namespace_create__unpack(
                NULL, s.env[0]->event->value.len, s.env[0]->event->value.data);
        ASSERT_NOT_NULL(c);
        ASSERT_STREQ(c->name, "x1");
        ASSERT_EQ(c->n_labels, 1);
        ASSERT_STREQ(c->labels[0]->key, "team");
        ASSERT_STREQ(c->labels[0]->value, "a");
        containerd__events__namespace_create__free_unpacked(c, NULL);
        ASSERT_STREQ(s.env[1]->topic, "/namespaces/update");
        ASSERT_STREQ(s.env[1]->namespace_, "x1"); /* no header: the namespace concerned */
        ASSERT_STREQ(s.env[1]->event->type_url, "containerd.events.NamespaceUpdate");
        ASSERT_STREQ(s.env[2]->topic, "/namespaces/delete");
        ASSERT_STREQ(s.env[2]->namespace_, "x1"); /* containerd publishes deletions in the deleted namespace */
        ASSERT_STREQ(s.env[2]->event->type_url, "containerd.events.NamespaceDelete");
        subscriber_done(&s);
        fixture_stop(&f);
}

TEST(subscriber_that_never_reads_is_dropped) {
        fixture f;
        fixture_start(&f);
        subscriber s = { .f = &f, .never_read = true };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, subscriber_thread, &s), 0);
        run_until_subscribers(&f, 1);
        /* 64 KiB events; far more than the subscriber's bound plus every socket and HTTP/2 window in between. */
        size_t big = 64 * 1024;
        uint8_t *payload = xmalloc(big);
        memset(payload, 'e', big);
        size_t published = 0;
        for (; published < 400 && event_exchange_subscriber_count(f.x) > 0; published++) {
                ASSERT_OK(event_forward(f.x, 1, "default", "/test/flood", "example.Big", payload, big, NULL));
                for (int i = 0; i < 3; i++)
                        (void) ev_loop_run_once(f.loop, 0);
        }
        free(payload);
        printf("# dropped after %zu events of %zu bytes\n", published, big);
        ASSERT_EQ(event_exchange_subscriber_count(f.x), 0);
        ASSERT_TRUE(published < 100); /* about 1 MiB queued plus what the sockets hold */
        atomic_store(&s.go, true);
        run_until_done(&f, &s);
        pthread_join(th, NULL);
        /* It gets what was queued, then the error. */
        ASSERT_TRUE(s.n_received > 0 && s.n_received < published);
        ASSERT_NOT_NULL(s.err);
        ASSERT_EQ(s.err->code, BERR_RESOURCE_EXHAUSTED);
        subscriber_done(&s);
        fixture_stop(&f);
}

TEST(exchange_closing_ends_streams) {
        fixture f;
        fixture_start(&f);
        subscriber s = { .f = &f };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, subscriber_thread, &s), 0);
        run_until_subscribers(&f, 1);
        f.x = event_exchange_free(f.x);
        run_until_done(&f, &s);
        pthread_join(th, NULL);
        ASSERT_NOT_NULL(s.err);
        ASSERT_EQ(s.err->code, BERR_UNAVAILABLE);
        subscriber_done(&s);
        fixture_stop(&f);
}
