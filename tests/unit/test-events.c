/* The event exchange (events/exchange.h): publishing, forwarding, containerd's validation, filters over topic,
 * namespace and event fields, in-process subscribers (including changes during delivery), and the ttrpc endpoint
 * shims forward to — driven by the shim's own publisher (src/shim/publisher.c) and by a raw ttrpc client. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/event.h"
#include "basic/fileio.h"
#include "basic/macro.h"
#include "containerd/events/container.pb-c.h"
#include "containerd/events/namespace.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "events/exchange.h"
#include "events/fields.h"
#include "events/ttrpc-endpoint.h"
#include "shim/publisher.h"
#include "tap.h"
#include "ttrpc/ttrpc.h"

#define MAX_SEEN 16

typedef struct seen_event {
        char ns[80], topic[128], type_url[128];
        uint8_t value[256];
        size_t len;
        int64_t ts;
} seen_event;

typedef struct recorder {
        seen_event ev[MAX_SEEN];
        size_t n;
} recorder;

static void record(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                   int64_t timestamp_ns, void *userdata) {
        recorder *r = userdata;
        if (r->n >= MAX_SEEN)
                return;
        seen_event *e = &r->ev[r->n++];
        snprintf(e->ns, sizeof e->ns, "%s", ns);
        snprintf(e->topic, sizeof e->topic, "%s", topic);
        snprintf(e->type_url, sizeof e->type_url, "%s", type_url);
        e->len = len < sizeof e->value ? len : sizeof e->value;
        memcpy(e->value, value, e->len);
        e->ts = timestamp_ns;
}

static event_sub *subscribe(event_exchange *x, recorder *r, const char *const *filters, size_t n) {
        event_sub *s = NULL;
        berr *e = NULL;
        if (event_subscribe(x, filters, n, record, r, &s, &e) < 0) {
                printf("# %s\n", e->msg);
                berr_free(e);
                return NULL;
        }
        return s;
}

static int publish_container_create(event_exchange *x, const char *ns, const char *id, const char *image) {
        Containerd__Events__ContainerCreate ev = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
        Containerd__Events__ContainerCreate__Runtime rt = CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;
        rt.name = (char *) "io.containerd.runc.v2";
        ev.id = (char *) id;
        ev.image = (char *) image;
        ev.runtime = &rt;
        return event_publish(x, ns, "/containers/create", &ev.base, NULL);
}

TEST(publish_delivers_envelope) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        recorder r = { 0 };
        event_sub *s = subscribe(x, &r, NULL, 0);
        ASSERT_NOT_NULL(s);
        int64_t before = now_realtime_nsec();
        ASSERT_OK(publish_container_create(x, "default", "c1", "docker.io/library/busybox:latest"));
        int64_t after = now_realtime_nsec();
        ASSERT_EQ(r.n, 1);
        ASSERT_STREQ(r.ev[0].ns, "default");
        ASSERT_STREQ(r.ev[0].topic, "/containers/create");
        ASSERT_STREQ(r.ev[0].type_url, "containerd.events.ContainerCreate");
        ASSERT_TRUE(r.ev[0].ts >= before && r.ev[0].ts <= after);
        Containerd__Events__ContainerCreate *m = containerd__events__container_create__unpack(NULL, r.ev[0].len,
                                                                                             r.ev[0].value);
        ASSERT_NOT_NULL(m);
        ASSERT_STREQ(m->id, "c1");
        ASSERT_STREQ(m->runtime->name, "io.containerd.runc.v2");
        containerd__events__container_create__free_unpacked(m, NULL);
        event_unsubscribe(s);
        ASSERT_EQ(event_exchange_subscriber_count(x), 0);
        /* Nobody listening: publishing still succeeds. */
        ASSERT_OK(publish_container_create(x, "default", "c2", ""));
        ASSERT_EQ(r.n, 1);
        event_exchange_free(x);
}

TEST(null_exchange_is_a_no_op) {
        Containerd__Events__NamespaceDelete ev = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
        ev.name = (char *) "x";
        ASSERT_OK(event_publish(NULL, "x", "/namespaces/delete", &ev.base, NULL));
        ASSERT_OK(event_forward(NULL, 1, "x", "/a", "t", NULL, 0, NULL));
        ASSERT_NULL(event_exchange_free(NULL));
        event_unsubscribe(NULL);
}

static void expect_invalid(int r, berr *e, const char *msg) {
        /* Called as expect_invalid(f(&e), e, ...) only through EXPECT_INVALID, which sequences the call first. */
        if (r != -1 || !e || e->code != BERR_INVALID_ARGUMENT || strcmp(e->msg, msg) != 0) {
                printf("# got r=%d code=%d msg=%s\n", r, e ? (int) e->code : -1, e ? e->msg : "(none)");
                berr_free(e);
                TAP_FAIL("expected INVALID_ARGUMENT \"%s\"", msg);
        }
        berr_free(e);
}

#define EXPECT_INVALID(call, msg)                 \
        do {                                      \
                int _r = (call);                  \
                expect_invalid(_r, e, msg);       \
        } while (0)

TEST(validation_like_containerd) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        recorder r = { 0 };
        event_sub *s = subscribe(x, &r, NULL, 0);
        Containerd__Events__NamespaceDelete ev = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
        berr *e = NULL;
        EXPECT_INVALID(event_publish(x, "default", "tasks/exit", &ev.base, &e),
                       "envelope topic \"tasks/exit\": must start with '/'");
        e = NULL;
        EXPECT_INVALID(event_publish(x, "default", "", &ev.base, &e), "envelope topic \"\": must not be empty");
        e = NULL;
        EXPECT_INVALID(event_publish(x, "default", "/", &ev.base, &e),
                       "envelope topic \"/\": must have at least one component");
        e = NULL;
        ASSERT_EQ(event_publish(x, "default", "/tasks//exit", &ev.base, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strstr(e->msg, "failed validation on component \"\"") != NULL);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(event_publish(x, "default", "/tasks/ex it", &ev.base, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "failed validation on component \"ex it\"") != NULL);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(event_publish(x, "bad ns", "/namespaces/delete", &ev.base, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strncmp(e->msg, "event envelope has invalid namespace: ", 38) == 0);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(event_forward(x, 123, "", "/a", "t", NULL, 0, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        e = NULL;
        EXPECT_INVALID(event_forward(x, 0, "default", "/tasks/exit", "containerd.events.TaskExit", NULL, 0, &e),
                       "timestamp must be set on forwarded event");
        /* Multi-component topics with ._- inside components are fine. */
        ASSERT_OK(event_forward(x, 42, "k8s.io", "/my-topic/sub_part.x", "t", NULL, 0, NULL));
        ASSERT_EQ(r.n, 1);
        ASSERT_EQ(r.ev[0].ts, 42);
        event_unsubscribe(s);
        event_exchange_free(x);
}

TEST(filters_topic_namespace_or) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        recorder by_topic = { 0 }, by_ns = { 0 }, either = { 0 }, by_re = { 0 }, both = { 0 };
        const char *f1[] = { "topic==\"/containers/create\"" };
        const char *f2[] = { "namespace==other" };
        const char *f3[] = { "topic==\"/tasks/exit\"", "namespace==other" };
        const char *f4[] = { "topic~=\"^/tasks/\"" };
        const char *f5[] = { "topic==\"/containers/create\",namespace==other" };
        event_sub *s[] = { subscribe(x, &by_topic, f1, 1), subscribe(x, &by_ns, f2, 1),
                           subscribe(x, &either, f3, 2), subscribe(x, &by_re, f4, 1), subscribe(x, &both, f5, 1) };
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                ASSERT_NOT_NULL(s[i]);
        ASSERT_OK(publish_container_create(x, "default", "c1", ""));
        ASSERT_OK(publish_container_create(x, "other", "c2", ""));
        ASSERT_OK(event_forward(x, 7, "default", "/tasks/exit", "containerd.events.TaskExit", NULL, 0, NULL));
        ASSERT_OK(event_forward(x, 8, "default", "/tasks/start", "containerd.events.TaskStart", NULL, 0, NULL));
        ASSERT_EQ(by_topic.n, 2);
        ASSERT_EQ(by_ns.n, 1);
        ASSERT_STREQ(by_ns.ev[0].ns, "other");
        ASSERT_EQ(either.n, 2); /* c2 in other, and the exit */
        ASSERT_STREQ(either.ev[1].topic, "/tasks/exit");
        ASSERT_EQ(by_re.n, 2);
        ASSERT_EQ(both.n, 1);
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                event_unsubscribe(s[i]);
        event_exchange_free(x);
}

TEST(filters_on_event_fields) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        recorder by_id = { 0 }, by_runtime = { 0 }, by_label = { 0 }, present = { 0 }, unhandled = { 0 };
        const char *f1[] = { "event.id==c2" };
        const char *f2[] = { "event.runtime.name==io.containerd.runc.v2" };
        const char *f3[] = { "event.labels.\"io.example/app\"==web" };
        const char *f4[] = { "event.image" };
        const char *f5[] = { "event.pid==0" };
        event_sub *s[] = { subscribe(x, &by_id, f1, 1), subscribe(x, &by_runtime, f2, 1),
                           subscribe(x, &by_label, f3, 1), subscribe(x, &present, f4, 1),
                           subscribe(x, &unhandled, f5, 1) };
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                ASSERT_NOT_NULL(s[i]);
        ASSERT_OK(publish_container_create(x, "default", "c1", "busybox"));
        ASSERT_OK(publish_container_create(x, "default", "c2", ""));

        Containerd__Events__ContainerUpdate__LabelsEntry l = CONTAINERD__EVENTS__CONTAINER_UPDATE__LABELS_ENTRY__INIT;
        l.key = (char *) "io.example/app";
        l.value = (char *) "web";
        Containerd__Events__ContainerUpdate__LabelsEntry *lp = &l;
        Containerd__Events__ContainerUpdate up = CONTAINERD__EVENTS__CONTAINER_UPDATE__INIT;
        up.id = (char *) "c1";
        up.labels = &lp;
        up.n_labels = 1;
        ASSERT_OK(event_publish(x, "default", "/containers/update", &up.base, NULL));

        Containerd__Events__TaskExit ex = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        ex.container_id = (char *) "c2";
        ex.id = (char *) "c2";
        ASSERT_OK(event_publish(x, "default", "/tasks/exit", &ex.base, NULL));
        /* An unknown type cannot be decoded: its event fields are absent. */
        ASSERT_OK(event_forward(x, 9, "default", "/custom", "example.Unknown", (const uint8_t *) "\x0a\x02id", 4,
                                NULL));

        ASSERT_EQ(by_id.n, 2); /* the create of c2 and the exit (its id field) */
        ASSERT_STREQ(by_id.ev[0].topic, "/containers/create");
        ASSERT_STREQ(by_id.ev[1].topic, "/tasks/exit");
        ASSERT_EQ(by_runtime.n, 2);
        ASSERT_EQ(by_label.n, 1);
        ASSERT_STREQ(by_label.ev[0].topic, "/containers/update");
        ASSERT_EQ(present.n, 1); /* only c1 has a non-empty image */
        ASSERT_EQ(unhandled.n, 0); /* containerd does not expose pid */
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                event_unsubscribe(s[i]);
        event_exchange_free(x);
}

TEST(type_descriptor_lookup) {
        ASSERT_TRUE(event_type_descriptor("containerd.events.TaskExit") == &containerd__events__task_exit__descriptor);
        ASSERT_TRUE(event_type_descriptor("type.googleapis.com/containerd.events.TaskExit") ==
                    &containerd__events__task_exit__descriptor);
        ASSERT_NOT_NULL(event_type_descriptor("containerd.services.images.v1.ImageCreate"));
        ASSERT_NULL(event_type_descriptor("containerd.events.Nope"));
        ASSERT_NULL(event_type_descriptor(NULL));
}

TEST(bad_filter_rejected) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        const char *f[] = { "topic==" };
        event_sub *s = NULL;
        berr *e = NULL;
        recorder r = { 0 };
        ASSERT_EQ(event_subscribe(x, f, 1, record, &r, &s, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strncmp(e->msg, "failed parsing subscription filters: ", 37) == 0);
        berr_free(e);
        ASSERT_EQ(event_exchange_subscriber_count(x), 0);
        event_exchange_free(x);
}

/* Subscribers that change the subscriber list while an event is being delivered. */
typedef struct reentrant {
        event_exchange *x;
        event_sub *self, *victim, *added;
        recorder *added_rec;
        unsigned calls;
        bool republish;
} reentrant;

static void reentrant_cb(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                         int64_t timestamp_ns, void *userdata) {
        reentrant *r = userdata;
        r->calls++;
        if (r->victim) {
                event_unsubscribe(r->victim);
                r->victim = NULL;
        }
        if (r->added_rec && !r->added) {
                const char *f[] = { "topic==\"/second\"" };
                ASSERT_OK(event_subscribe(r->x, f, 1, record, r->added_rec, &r->added, NULL));
        }
        /* Leaving before the nested publish: a subscriber that unsubscribed gets nothing more, even inside. */
        event_unsubscribe(r->self);
        r->self = NULL;
        if (r->republish) {
                r->republish = false;
                ASSERT_OK(event_forward(r->x, 5, "default", "/second", "t", NULL, 0, NULL));
        }
}

TEST(subscribers_change_during_delivery) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        recorder victim_rec = { 0 }, added_rec = { 0 }, tail_rec = { 0 };
        reentrant r = { .x = x, .added_rec = &added_rec, .republish = true };
        ASSERT_OK(event_subscribe(x, NULL, 0, reentrant_cb, &r, &r.self, NULL));
        r.victim = subscribe(x, &victim_rec, NULL, 0);
        event_sub *tail = subscribe(x, &tail_rec, NULL, 0);
        ASSERT_OK(event_forward(x, 1, "default", "/first", "t", NULL, 0, NULL));
        /* The first subscriber ran once (it left), the victim never, the one added during delivery saw only the
         * nested /second published after it subscribed, and the tail saw both, the nested one first. */
        ASSERT_EQ(r.calls, 1);
        ASSERT_EQ(victim_rec.n, 0);
        ASSERT_EQ(added_rec.n, 1);
        ASSERT_STREQ(added_rec.ev[0].topic, "/second");
        ASSERT_EQ(tail_rec.n, 2);
        ASSERT_STREQ(tail_rec.ev[0].topic, "/second");
        ASSERT_STREQ(tail_rec.ev[1].topic, "/first");
        ASSERT_EQ(event_exchange_subscriber_count(x), 2);
        ASSERT_OK(event_forward(x, 2, "default", "/second", "t", NULL, 0, NULL));
        ASSERT_EQ(added_rec.n, 2);
        event_unsubscribe(r.added);
        event_unsubscribe(tail);
        ASSERT_EQ(event_exchange_subscriber_count(x), 0);
        event_exchange_free(x);
}

static unsigned closed_calls;
static void on_closed(void *userdata) {
        closed_calls++;
        *(event_sub **) userdata = NULL;
}

static void dummy_cb(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                     int64_t timestamp_ns, void *userdata) {
}

TEST(free_tells_subscribers) {
        event_exchange *x = NULL;
        ASSERT_OK(event_exchange_new(NULL, &x, NULL));
        event_sub *a = NULL, *b = NULL, *c = NULL;
        ASSERT_OK(event_subscribe(x, NULL, 0, dummy_cb, &a, &a, NULL));
        ASSERT_OK(event_subscribe(x, NULL, 0, dummy_cb, &b, &b, NULL));
        ASSERT_OK(event_subscribe(x, NULL, 0, dummy_cb, NULL, &c, NULL)); /* no on_close: just freed */
        event_sub_set_on_close(a, on_closed);
        event_sub_set_on_close(b, on_closed);
        event_unsubscribe(b); /* gone before the free: not told */
        closed_calls = 0;
        event_exchange_free(x);
        ASSERT_EQ(closed_calls, 1);
        ASSERT_NULL(a);
}

/* ---- the ttrpc endpoint ---- */

typedef struct endpoint_fixture {
        char dir[64];
        char path[128];
        ev_loop *loop;
        event_exchange *x;
        events_ttrpc *t;
        recorder rec;
        event_sub *sub;
} endpoint_fixture;

static void endpoint_setup(endpoint_fixture *f) {
        memset(f, 0, sizeof *f);
        snprintf(f->dir, sizeof f->dir, "/tmp/test-events.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/berthd.sock.ttrpc", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(event_exchange_new(f->loop, &f->x, NULL));
        berr *e = NULL;
        if (events_ttrpc_listen(f->loop, f->x, f->path, &f->t, &e) < 0)
                TAP_FAIL("listen: %s", e->msg);
        f->sub = subscribe(f->x, &f->rec, NULL, 0);
}

static void endpoint_teardown(endpoint_fixture *f) {
        event_unsubscribe(f->sub);
        events_ttrpc_free(f->t);
        event_exchange_free(f->x);
        ev_loop_free(f->loop);
        rmdir(f->dir);
}

TEST(ttrpc_endpoint_socket_mode_and_cleanup) {
        endpoint_fixture f;
        endpoint_setup(&f);
        struct stat st;
        ASSERT_OK(stat(f.path, &st));
        ASSERT_TRUE(S_ISSOCK(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        endpoint_teardown(&f);
        ASSERT_TRUE(access(f.path, F_OK) < 0 && errno == ENOENT);
}

TEST(ttrpc_forward_from_shim_publisher) {
        endpoint_fixture f;
        endpoint_setup(&f);
        /* The shims' own publisher (containerd's Forward, with containerd-namespace-ttrpc metadata). */
        publisher *p = publisher_new(f.loop, f.path, "ns1");
        Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
        ev.container_id = (char *) "p1";
        ev.pid = 12480;
        int64_t before = now_realtime_nsec();
        publisher_publish(p, "/tasks/start", containerd__events__task_start__descriptor.name, &ev.base);
        for (int i = 0; i < 200 && (f.rec.n < 1 || !publisher_idle(p)); i++)
                ev_loop_run_once(f.loop, 50);
        ASSERT_EQ(f.rec.n, 1);
        ASSERT_STREQ(f.rec.ev[0].ns, "ns1");
        ASSERT_STREQ(f.rec.ev[0].topic, "/tasks/start");
        ASSERT_STREQ(f.rec.ev[0].type_url, "containerd.events.TaskStart");
        ASSERT_TRUE(f.rec.ev[0].ts >= before - 1000000 && f.rec.ev[0].ts <= now_realtime_nsec());
        Containerd__Events__TaskStart *m = containerd__events__task_start__unpack(NULL, f.rec.ev[0].len,
                                                                                 f.rec.ev[0].value);
        ASSERT_NOT_NULL(m);
        ASSERT_STREQ(m->container_id, "p1");
        ASSERT_EQ(m->pid, 12480);
        containerd__events__task_start__free_unpacked(m, NULL);
        publisher_free(p);
        endpoint_teardown(&f);
}

static int forward_raw(endpoint_fixture *f, ttrpc_client *c, const Google__Protobuf__Timestamp *ts, const char *ns,
                       const char *topic, berr **err) {
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *) "containerd.events.TaskOOM";
        any.value.data = (uint8_t *) "\x0a\x02" "c9";
        any.value.len = 4;
        Containerd__Services__Events__Ttrpc__V1__Envelope env =
                CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
        env.timestamp = (Google__Protobuf__Timestamp *) ts;
        env.namespace_ = (char *) ns;
        env.topic = (char *) topic;
        env.event = &any;
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
                CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
        req.envelope = &env;
        uint8_t *resp = NULL;
        size_t len = 0;
        int r = ttrpc_client_call_sync(c, "containerd.services.events.ttrpc.v1.Events", "Forward", &req.base, NULL,
                                       0, 5000000000, &resp, &len, err);
        free(resp);
        return r;
}

TEST(ttrpc_forward_keeps_timestamp_and_validates) {
        endpoint_fixture f;
        endpoint_setup(&f);
        ttrpc_client *c = NULL;
        ASSERT_OK(ttrpc_client_connect(f.loop, f.path, &c, NULL));
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1000000000;
        ts.nanos = 123;
        ASSERT_OK(forward_raw(&f, c, &ts, "k8s.io", "/tasks/oom", NULL));
        ASSERT_EQ(f.rec.n, 1);
        ASSERT_EQ(f.rec.ev[0].ts, INT64_C(1000000000000000123));
        ASSERT_STREQ(f.rec.ev[0].ns, "k8s.io");
        ASSERT_STREQ(f.rec.ev[0].type_url, "containerd.events.TaskOOM");
        ASSERT_EQ(f.rec.ev[0].len, 4);

        berr *e = NULL;
        ASSERT_EQ(forward_raw(&f, c, NULL, "k8s.io", "/tasks/oom", &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_STREQ(e->msg, "timestamp must be set on forwarded event: invalid argument");
        berr_free(e);
        e = NULL;
        Google__Protobuf__Timestamp go_zero = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        go_zero.seconds = INT64_C(-62135596800);
        ASSERT_EQ(forward_raw(&f, c, &go_zero, "k8s.io", "/tasks/oom", &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(forward_raw(&f, c, &ts, "", "/tasks/oom", &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        e = NULL;
        ASSERT_EQ(forward_raw(&f, c, &ts, "k8s.io", "tasks", &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_STREQ(e->msg, "envelope topic \"tasks\": must start with '/': invalid argument");
        berr_free(e);
        ASSERT_EQ(f.rec.n, 1);
        ttrpc_client_free(c);
        endpoint_teardown(&f);
}

TEST(ttrpc_endpoint_refuses_non_socket) {
        char dir[] = "/tmp/test-events.XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(dir));
        char path[128];
        snprintf(path, sizeof path, "%s/file", dir);
        ASSERT_OK(write_file_atomic(path, "x", 1, 0600, NULL));
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        events_ttrpc *t = NULL;
        berr *e = NULL;
        ASSERT_EQ(events_ttrpc_listen(loop, NULL, path, &t, &e), -1);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        berr_free(e);
        ASSERT_OK(access(path, F_OK)); /* left alone */
        unlink(path);
        rmdir(dir);
        ev_loop_free(loop);
}
