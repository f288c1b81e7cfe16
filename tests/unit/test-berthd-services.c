/* berthd's services through real gRPC: an in-process server on this thread's event loop, the gRPC client on a
 * helper thread. Covers the shared handler helpers (namespace header, decoding, error text, timestamps, label
 * maps), version, introspection and namespaces. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "basic/fileio.h"
#include "containerd/services/introspection/v1/introspection.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "containerd/services/version/v1/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/berth-version.h"
#include "services/common.h"
#include "services/services.h"
#include "tap.h"

typedef struct fixture {
        char dir[64];
        char sock[96];
        ev_loop *loop;
        grpc_server *srv;
        meta_db *db;
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

/* A method that answers with the call's namespace, for service_namespace. */
static void echo_namespace(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Version__V1__VersionResponse resp =
                CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
        resp.version = (char *) ns;
        grpc_call_reply(call, &resp.base);
}

/* A method that decodes a namespaces Create request, for service_decode. */
static void decode_only(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        _cleanup_pb_ Containerd__Services__Namespaces__V1__CreateNamespaceRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__create_namespace_request__descriptor, msg, len);
        if (!req)
                return;
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

static const grpc_method test_methods[] = {
        { .path = "/test.Helpers/Namespace", .kind = GRPC_UNARY, .on_message = echo_namespace },
        { .path = "/test.Helpers/Decode", .kind = GRPC_UNARY, .on_message = decode_only },
};

static void fixture_start(fixture *f, bool with_db) {
        memset(f, 0, sizeof *f);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berthd-services-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        if (with_db) {
                _cleanup_free_ char *path = xasprintf("%s/meta.db", f->dir);
                ASSERT_OK(meta_db_open(path, &f->db, &e));
        }
        f->ctx = (service_context) {
                .loop = f->loop, .server = f->srv, .root = f->dir, .state = f->dir, .address = f->sock,
                .uuid = "01234567-89ab-4cde-8f01-23456789abcd", .db = f->db,
        };
        service_plugin *p = service_plugin_add(&f->ctx, "io.containerd.snapshotter.v1", "overlayfs");
        service_plugin_platform_host(p);
        service_plugin_export(p, "root", "/x/snapshots/overlayfs");
        p = service_plugin_add(&f->ctx, "io.containerd.snapshotter.v1", "broken");
        berr failure = { .code = BERR_UNIMPLEMENTED, .msg = (char *) "no overlay here" };
        service_plugin_fail(p, &failure);
        service_plugin_capability(p, "test-cap");
        ASSERT_OK(services_register_all(&f->ctx, &e));
        ASSERT_OK(grpc_server_register(f->srv, test_methods, ELEMENTSOF(test_methods), NULL, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->wake_io, f->wake[0], EPOLLIN, on_wake, NULL));
}

static void fixture_stop(fixture *f) {
        f->srv = grpc_server_free(f->srv);
        service_context_done(&f->ctx);
        meta_db_close(f->db);
        ev_source_free(f->wake_io);
        safe_close(f->wake[0]);
        safe_close(f->wake[1]);
        ev_loop_free(f->loop);
        ASSERT_OK(rm_rf(f->dir, NULL));
}

typedef struct rpc {
        fixture *f;
        const char *ns;
        const char *path;
        const ProtobufCMessage *req;
        uint8_t *resp;
        size_t len;
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
                (void) grpc_client_unary(c, r->path, r->req, 10 * 1000000ULL, &r->resp, &r->len, &r->err);
                grpc_client_free(c);
        }
        atomic_store(&r->done, true);
        (void) !write(r->f->wake[1], "x", 1);
        return NULL;
}

/* Calls path with req (namespace header ns unless NULL) while this thread serves; 0 or -1 with r->err. */
static int call(fixture *f, rpc *r, const char *ns, const char *path, const ProtobufCMessage *req) {
        *r = (rpc) { .f = f, .ns = ns, .path = path, .req = req };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, rpc_thread, r), 0);
        while (!atomic_load(&r->done))
                (void) ev_loop_run_once(f->loop, 1000);
        pthread_join(th, NULL);
        return r->err ? -1 : 0;
}

static void rpc_done(rpc *r) {
        free(r->resp);
        berr_free(r->err);
        *r = (rpc) { 0 };
}

/* ---- pure helpers ---- */

TEST(error_message_gets_the_errdefs_class_once) {
        berr e = { .code = BERR_NOT_FOUND, .msg = (char *) "image \"x\"" };
        _cleanup_free_ char *a = service_error_message(&e);
        ASSERT_STREQ(a, "image \"x\": not found");
        e.msg = (char *) "image \"x\": not found";
        _cleanup_free_ char *b = service_error_message(&e);
        ASSERT_STREQ(b, "image \"x\": not found");
        e = (berr) { .code = BERR_INTERNAL, .msg = (char *) "disk on fire" };
        _cleanup_free_ char *c = service_error_message(&e);
        ASSERT_STREQ(c, "disk on fire");
        e = (berr) { .code = BERR_ALREADY_EXISTS, .msg = NULL };
        _cleanup_free_ char *d = service_error_message(&e);
        ASSERT_STREQ(d, "already exists");
}

TEST(timestamps) {
        Google__Protobuf__Timestamp ts;
        service_timestamp_set(&ts, 1700000000123456789LL);
        ASSERT_EQ(ts.seconds, 1700000000);
        ASSERT_EQ(ts.nanos, 123456789);
        ASSERT_EQ(service_timestamp_ns(&ts), 1700000000123456789LL);
        service_timestamp_set(&ts, -1); /* before the epoch: nanos stay non-negative */
        ASSERT_EQ(ts.seconds, -1);
        ASSERT_EQ(ts.nanos, 999999999);
        ASSERT_EQ(service_timestamp_ns(&ts), -1);
        ASSERT_EQ(service_timestamp_ns(NULL), 0);
}

#define NS_LABELS_ENTRY (&containerd__services__namespaces__v1__namespace__labels_entry__descriptor)

TEST(label_maps_round_trip_through_the_wire) {
        meta_labels l = { 0 };
        meta_labels_set(&l, "b", "2");
        meta_labels_set(&l, "a", "1");
        Containerd__Services__Namespaces__V1__Namespace m = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
        m.name = (char *) "n";
        m.labels = service_map_from_labels(&l, NS_LABELS_ENTRY, &m.n_labels);
        ASSERT_EQ(m.n_labels, 2);
        uint8_t buf[256];
        size_t n = containerd__services__namespaces__v1__namespace__pack(&m, buf);
        free(m.labels);
        meta_labels_done(&l);

        Containerd__Services__Namespaces__V1__Namespace *back =
                containerd__services__namespaces__v1__namespace__unpack(NULL, n, buf);
        ASSERT_NOT_NULL(back);
        meta_labels got = { 0 };
        service_map_to_labels((void *const *) back->labels, back->n_labels, &got);
        ASSERT_EQ(got.n, 2);
        ASSERT_STREQ(meta_labels_get(&got, "a"), "1");
        ASSERT_STREQ(meta_labels_get(&got, "b"), "2");
        meta_labels_done(&got);
        containerd__services__namespaces__v1__namespace__free_unpacked(back, NULL);

        size_t none = 7;
        ASSERT_NULL(service_map_from_labels(&got, NS_LABELS_ENTRY, &none));
        ASSERT_EQ(none, 0);
}

/* ---- through gRPC ---- */

TEST(namespace_header) {
        fixture f;
        fixture_start(&f, false);
        Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
        rpc r;
        ASSERT_OK(call(&f, &r, "team-a", "/test.Helpers/Namespace", &empty.base));
        Containerd__Services__Version__V1__VersionResponse *v =
                containerd__services__version__v1__version_response__unpack(NULL, r.len, r.resp);
        ASSERT_STREQ(v->version, "team-a");
        containerd__services__version__v1__version_response__free_unpacked(v, NULL);
        rpc_done(&r);

        ASSERT_EQ(call(&f, &r, NULL, "/test.Helpers/Namespace", &empty.base), -1);
        ASSERT_EQ(r.err->code, BERR_FAILED_PRECONDITION);
        ASSERT_STREQ(r.err->msg, "namespace is required: failed precondition");
        rpc_done(&r);

        ASSERT_EQ(call(&f, &r, "bad..name", "/test.Helpers/Namespace", &empty.base), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strncmp(r.err->msg, "namespace validation: identifier \"bad..name\" must match", 55) == 0);
        ASSERT_NOT_NULL(strstr(r.err->msg, ": invalid argument"));
        rpc_done(&r);
        fixture_stop(&f);
}

TEST(undecodable_request_is_invalid_argument) {
        fixture f;
        fixture_start(&f, false);
        /* A Timestamp whose field 1 is sent as a length-delimited string: field 1 of CreateNamespaceRequest is a
         * message, so feed bytes that are not one (a varint with the wrong wire type for field 1). */
        Google__Protobuf__Timestamp bogus = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        bogus.seconds = 5;
        rpc r;
        ASSERT_EQ(call(&f, &r, NULL, "/test.Helpers/Decode", &bogus.base), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        ASSERT_NOT_NULL(strstr(r.err->msg, "containerd.services.namespaces.v1.CreateNamespaceRequest"));
        rpc_done(&r);
        fixture_stop(&f);
}

TEST(version) {
        fixture f;
        fixture_start(&f, false);
        Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
        rpc r;
        ASSERT_OK(call(&f, &r, NULL, "/containerd.services.version.v1.Version/Version", &empty.base));
        Containerd__Services__Version__V1__VersionResponse *v =
                containerd__services__version__v1__version_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(v);
        ASSERT_STREQ(v->version, BERTH_CONTAINERD_VERSION);
        ASSERT_STREQ(v->version, "1.6.20+berth." BERTH_VERSION);
        ASSERT_STREQ(v->revision, BERTH_REVISION);
        containerd__services__version__v1__version_response__free_unpacked(v, NULL);
        rpc_done(&r);
        fixture_stop(&f);
}

static Containerd__Services__Introspection__V1__PluginsResponse *plugins(fixture *f, const char *filter) {
        Containerd__Services__Introspection__V1__PluginsRequest req =
                CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_REQUEST__INIT;
        char *filters[] = { (char *) filter };
        req.filters = filters;
        req.n_filters = filter ? 1 : 0;
        rpc r;
        ASSERT_OK(call(f, &r, NULL, "/containerd.services.introspection.v1.Introspection/Plugins", &req.base));
        Containerd__Services__Introspection__V1__PluginsResponse *resp =
                containerd__services__introspection__v1__plugins_response__unpack(NULL, r.len, r.resp);
        rpc_done(&r);
        ASSERT_NOT_NULL(resp);
        return resp;
}

TEST(introspection_plugins) {
        fixture f;
        fixture_start(&f, false);
        Containerd__Services__Introspection__V1__PluginsResponse *all = plugins(&f, NULL);
        /* overlayfs, broken, then the services in registration order. */
        ASSERT_EQ(all->n_plugins, 5);
        const Containerd__Services__Introspection__V1__Plugin *p = all->plugins[0];
        ASSERT_STREQ(p->type, "io.containerd.snapshotter.v1");
        ASSERT_STREQ(p->id, "overlayfs");
        ASSERT_EQ(p->n_platforms, 1);
        ASSERT_STREQ(p->platforms[0]->os, "linux");
        ASSERT_TRUE(*p->platforms[0]->architecture);
        ASSERT_EQ(p->n_exports, 1);
        ASSERT_STREQ(p->exports[0]->key, "root");
        ASSERT_STREQ(p->exports[0]->value, "/x/snapshots/overlayfs");
        ASSERT_NULL(p->init_err);
        p = all->plugins[1];
        ASSERT_NOT_NULL(p->init_err);
        ASSERT_EQ(p->init_err->code, BERR_UNIMPLEMENTED);
        ASSERT_STREQ(p->init_err->message, "no overlay here");
        ASSERT_EQ(p->n_capabilities, 1);
        ASSERT_STREQ(p->capabilities[0], "test-cap");
        ASSERT_STREQ(all->plugins[2]->id, "version");
        ASSERT_STREQ(all->plugins[2]->type, "io.containerd.grpc.v1");
        ASSERT_STREQ(all->plugins[3]->id, "introspection");
        ASSERT_STREQ(all->plugins[4]->id, "healthcheck");
        containerd__services__introspection__v1__plugins_response__free_unpacked(all, NULL);

        Containerd__Services__Introspection__V1__PluginsResponse *snap =
                plugins(&f, "type==io.containerd.snapshotter.v1");
        ASSERT_EQ(snap->n_plugins, 2);
        containerd__services__introspection__v1__plugins_response__free_unpacked(snap, NULL);
        snap = plugins(&f, "type==io.containerd.grpc.v1,id~=^(version|health)");
        ASSERT_EQ(snap->n_plugins, 2);
        containerd__services__introspection__v1__plugins_response__free_unpacked(snap, NULL);
        snap = plugins(&f, "platforms==linux/amd64"); /* containerd cannot filter on platforms either */
        ASSERT_EQ(snap->n_plugins, 0);
        containerd__services__introspection__v1__plugins_response__free_unpacked(snap, NULL);

        Containerd__Services__Introspection__V1__PluginsRequest req =
                CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_REQUEST__INIT;
        char *bad[] = { (char *) "id==" };
        req.filters = bad;
        req.n_filters = 1;
        rpc r;
        ASSERT_EQ(call(&f, &r, NULL, "/containerd.services.introspection.v1.Introspection/Plugins", &req.base), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        rpc_done(&r);
        fixture_stop(&f);
}

TEST(introspection_server) {
        fixture f;
        fixture_start(&f, false);
        Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
        rpc r;
        ASSERT_OK(call(&f, &r, NULL, "/containerd.services.introspection.v1.Introspection/Server", &empty.base));
        Containerd__Services__Introspection__V1__ServerResponse *s =
                containerd__services__introspection__v1__server_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(s);
        ASSERT_STREQ(s->uuid, "01234567-89ab-4cde-8f01-23456789abcd");
        ASSERT_EQ(s->pid, getpid());
        ASSERT_TRUE(s->pidns > 0);
        ASSERT_EQ(s->n_deprecations, 0);
        containerd__services__introspection__v1__server_response__free_unpacked(s, NULL);
        rpc_done(&r);
        fixture_stop(&f);
}

/* ---- namespaces ---- */

static Containerd__Services__Namespaces__V1__Namespace *ns_get(fixture *f, const char *name, rpc *r) {
        Containerd__Services__Namespaces__V1__GetNamespaceRequest req =
                CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_REQUEST__INIT;
        req.name = (char *) name;
        ASSERT_OK(call(f, r, NULL, "/containerd.services.namespaces.v1.Namespaces/Get", &req.base));
        Containerd__Services__Namespaces__V1__GetNamespaceResponse *resp =
                containerd__services__namespaces__v1__get_namespace_response__unpack(NULL, r->len, r->resp);
        ASSERT_NOT_NULL(resp);
        ASSERT_NOT_NULL(resp->namespace_);
        Containerd__Services__Namespaces__V1__Namespace *n = resp->namespace_;
        resp->namespace_ = NULL;
        containerd__services__namespaces__v1__get_namespace_response__free_unpacked(resp, NULL);
        return n;
}

static void ns_free(Containerd__Services__Namespaces__V1__Namespace *n) {
        containerd__services__namespaces__v1__namespace__free_unpacked(n, NULL);
}

static const char *label_of(const Containerd__Services__Namespaces__V1__Namespace *n, const char *key) {
        for (size_t i = 0; i < n->n_labels; i++)
                if (strcmp(n->labels[i]->key, key) == 0)
                        return n->labels[i]->value;
        return NULL;
}

static int ns_create(fixture *f, const char *name, char **kv, size_t n_kv, rpc *r) {
        Containerd__Services__Namespaces__V1__Namespace__LabelsEntry entries[4], *ptrs[4];
        for (size_t i = 0; i < n_kv; i++) {
                containerd__services__namespaces__v1__namespace__labels_entry__init(&entries[i]);
                entries[i].key = kv[2 * i];
                entries[i].value = kv[2 * i + 1];
                ptrs[i] = &entries[i];
        }
        Containerd__Services__Namespaces__V1__Namespace ns = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
        ns.name = (char *) name;
        ns.labels = ptrs;
        ns.n_labels = n_kv;
        Containerd__Services__Namespaces__V1__CreateNamespaceRequest req =
                CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;
        req.namespace_ = &ns;
        return call(f, r, NULL, "/containerd.services.namespaces.v1.Namespaces/Create", &req.base);
}

TEST(namespaces_lifecycle) {
        fixture f;
        fixture_start(&f, true);
        rpc r;
        char *kv[] = { (char *) "team", (char *) "a", (char *) "tier", (char *) "gold" };
        ASSERT_OK(ns_create(&f, "alpha", kv, 2, &r));
        Containerd__Services__Namespaces__V1__CreateNamespaceResponse *cr =
                containerd__services__namespaces__v1__create_namespace_response__unpack(NULL, r.len, r.resp);
        ASSERT_STREQ(cr->namespace_->name, "alpha");
        ASSERT_EQ(cr->namespace_->n_labels, 2);
        containerd__services__namespaces__v1__create_namespace_response__free_unpacked(cr, NULL);
        rpc_done(&r);

        ASSERT_EQ(ns_create(&f, "alpha", NULL, 0, &r), -1);
        ASSERT_EQ(r.err->code, BERR_ALREADY_EXISTS);
        ASSERT_STREQ(r.err->msg, "namespace \"alpha\": already exists");
        rpc_done(&r);
        ASSERT_EQ(ns_create(&f, "no good", NULL, 0, &r), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        rpc_done(&r);
        ASSERT_EQ(ns_create(&f, "", NULL, 0, &r), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        rpc_done(&r);
        ASSERT_OK(ns_create(&f, "beta", NULL, 0, &r));
        rpc_done(&r);

        Containerd__Services__Namespaces__V1__Namespace *n = ns_get(&f, "alpha", &r);
        ASSERT_STREQ(label_of(n, "team"), "a");
        ASSERT_STREQ(label_of(n, "tier"), "gold");
        ns_free(n);
        rpc_done(&r);
        /* A namespace that does not exist reads as empty, as in containerd. */
        n = ns_get(&f, "ghost", &r);
        ASSERT_STREQ(n->name, "ghost");
        ASSERT_EQ(n->n_labels, 0);
        ns_free(n);
        rpc_done(&r);

        /* Update with a mask: set one label, remove another (absent from the request). */
        Containerd__Services__Namespaces__V1__Namespace__LabelsEntry e =
                CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__LABELS_ENTRY__INIT;
        e.key = (char *) "team";
        e.value = (char *) "b";
        Containerd__Services__Namespaces__V1__Namespace__LabelsEntry *ep = &e;
        Containerd__Services__Namespaces__V1__Namespace ns = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
        ns.name = (char *) "alpha";
        ns.labels = &ep;
        ns.n_labels = 1;
        char *paths[] = { (char *) "labels.team", (char *) "labels.tier" };
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        mask.paths = paths;
        mask.n_paths = 2;
        Containerd__Services__Namespaces__V1__UpdateNamespaceRequest ureq =
                CONTAINERD__SERVICES__NAMESPACES__V1__UPDATE_NAMESPACE_REQUEST__INIT;
        ureq.namespace_ = &ns;
        ureq.update_mask = &mask;
        ASSERT_OK(call(&f, &r, NULL, "/containerd.services.namespaces.v1.Namespaces/Update", &ureq.base));
        rpc_done(&r);
        n = ns_get(&f, "alpha", &r);
        ASSERT_EQ(n->n_labels, 1);
        ASSERT_STREQ(label_of(n, "team"), "b");
        ns_free(n);
        rpc_done(&r);
        /* A path outside labels is refused with containerd's words. */
        char *bad_paths[] = { (char *) "name" };
        mask.paths = bad_paths;
        mask.n_paths = 1;
        ASSERT_EQ(call(&f, &r, NULL, "/containerd.services.namespaces.v1.Namespaces/Update", &ureq.base), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        ASSERT_NOT_NULL(strstr(r.err->msg, "cannot update \"name\" field"));
        rpc_done(&r);

        Containerd__Services__Namespaces__V1__ListNamespacesRequest lreq =
                CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
        ASSERT_OK(call(&f, &r, NULL, "/containerd.services.namespaces.v1.Namespaces/List", &lreq.base));
        Containerd__Services__Namespaces__V1__ListNamespacesResponse *lr =
                containerd__services__namespaces__v1__list_namespaces_response__unpack(NULL, r.len, r.resp);
        ASSERT_EQ(lr->n_namespaces, 2);
        ASSERT_STREQ(lr->namespaces[0]->name, "alpha");
        ASSERT_STREQ(lr->namespaces[1]->name, "beta");
        containerd__services__namespaces__v1__list_namespaces_response__free_unpacked(lr, NULL);
        rpc_done(&r);

        Containerd__Services__Namespaces__V1__DeleteNamespaceRequest dreq =
                CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
        dreq.name = (char *) "beta";
        ASSERT_OK(call(&f, &r, NULL, "/containerd.services.namespaces.v1.Namespaces/Delete", &dreq.base));
        rpc_done(&r);
        ASSERT_EQ(call(&f, &r, NULL, "/containerd.services.namespaces.v1.Namespaces/Delete", &dreq.base), -1);
        ASSERT_EQ(r.err->code, BERR_NOT_FOUND);
        ASSERT_STREQ(r.err->msg, "namespace \"beta\": not found");
        rpc_done(&r);
        fixture_stop(&f);
}
