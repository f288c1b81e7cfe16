/* The Containers gRPC service through real gRPC: an in-process server with the containers service and an event
 * exchange on this thread's loop, the gRPC client on a helper thread. Checks the wire mapping (Any fields, maps,
 * timestamps, Runtime always present), List vs ListStream, Update's FieldMask, containerd's status texts and the
 * /containers/create|update|delete events. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "basic/fileio.h"
#include "containerd/events/container.pb-c.h"
#include "containerd/services/containers/v1/containers.pb-c.h"
#include "events/exchange.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/db.h"
#include "services/services.h"
#include "tap.h"

typedef struct seen_event {
        char topic[64];
        char type_url[64];
        uint8_t value[512];
        size_t len;
} seen_event;

typedef struct fixture {
        char dir[64];
        char sock[96];
        ev_loop *loop;
        grpc_server *srv;
        meta_db *db;
        event_exchange *events;
        event_sub *sub;
        service_context ctx;
        int wake[2];
        ev_source *wake_io;
        seen_event seen[16];
        size_t n_seen;
} fixture;

static int on_wake(ev_source *s, int fd, uint32_t revents, void *userdata) {
        char b[16];
        while (read(fd, b, sizeof b) > 0)
                ;
        return 0;
}

static void on_event(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                     int64_t timestamp_ns, void *userdata) {
        fixture *f = userdata;
        if (f->n_seen >= ELEMENTSOF(f->seen) || len > sizeof f->seen[0].value)
                return;
        seen_event *ev = &f->seen[f->n_seen++];
        snprintf(ev->topic, sizeof ev->topic, "%s", topic);
        snprintf(ev->type_url, sizeof ev->type_url, "%s", type_url);
        memcpy(ev->value, value, len);
        ev->len = len;
}

static void fixture_start(fixture *f) {
        memset(f, 0, sizeof *f);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berthd-containers-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        _cleanup_free_ char *path = xasprintf("%s/meta.db", f->dir);
        ASSERT_OK(meta_db_open(path, &f->db, &e));
        ASSERT_OK(event_exchange_new(f->loop, &f->events, &e));
        const char *filters[] = { "topic~=^/containers/" };
        ASSERT_OK(event_subscribe(f->events, filters, 1, on_event, f, &f->sub, &e));
        f->ctx = (service_context) {
                .loop = f->loop, .server = f->srv, .root = f->dir, .state = f->dir, .address = f->sock,
                .uuid = "01234567-89ab-4cde-8f01-23456789abcd", .db = f->db, .events = f->events,
        };
        ASSERT_OK(containers_service_register(&f->ctx, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->wake_io, f->wake[0], EPOLLIN, on_wake, NULL));
}

static void fixture_stop(fixture *f) {
        f->srv = grpc_server_free(f->srv);
        event_unsubscribe(f->sub);
        f->events = event_exchange_free(f->events);
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
        bool stream;
        uint8_t *resp;
        size_t len;
        uint8_t *msgs[8]; /* stream replies */
        size_t lens[8];
        size_t n_msgs;
        berr *err;
        atomic_bool done;
} rpc;

static void stream_call(rpc *r, grpc_client *c) {
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c, r->path, 10 * 1000000ULL, &s, &r->err) < 0)
                return;
        if (grpc_stream_send(s, r->req, &r->err) == 0 && grpc_stream_close_send(s, &r->err) == 0) {
                uint8_t *m;
                size_t len;
                int k;
                while ((k = grpc_stream_recv(s, &m, &len, &r->err)) > 0) {
                        if (r->n_msgs < ELEMENTSOF(r->msgs)) {
                                r->msgs[r->n_msgs] = m;
                                r->lens[r->n_msgs++] = len;
                        } else
                                free(m);
                }
        }
        grpc_stream_free(s);
}

static void *rpc_thread(void *p) {
        rpc *r = p;
        grpc_client *c = NULL;
        if (grpc_client_connect_unix(r->f->sock, &c, &r->err) == 0) {
                if (r->ns) {
                        grpc_md md = { .name = "containerd-namespace", .value = r->ns };
                        grpc_client_set_default_metadata(c, &md, 1);
                }
                if (r->stream)
                        stream_call(r, c);
                else
                        (void) grpc_client_unary(c, r->path, r->req, 10 * 1000000ULL, &r->resp, &r->len, &r->err);
                grpc_client_free(c);
        }
        atomic_store(&r->done, true);
        (void) !write(r->f->wake[1], "x", 1);
        return NULL;
}

static int call_kind(fixture *f, rpc *r, const char *ns, const char *method, const ProtobufCMessage *req,
                     bool stream) {
        static char path[128];
        snprintf(path, sizeof path, "/containerd.services.containers.v1.Containers/%s", method);
        *r = (rpc) { .f = f, .ns = ns, .path = path, .req = req, .stream = stream };
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, rpc_thread, r), 0);
        while (!atomic_load(&r->done))
                (void) ev_loop_run_once(f->loop, 1000);
        pthread_join(th, NULL);
        return r->err ? -1 : 0;
}

static int call(fixture *f, rpc *r, const char *ns, const char *method, const ProtobufCMessage *req) {
        return call_kind(f, r, ns, method, req, false);
}

static void rpc_done(rpc *r) {
        free(r->resp);
        for (size_t i = 0; i < r->n_msgs; i++)
                free(r->msgs[i]);
        berr_free(r->err);
        *r = (rpc) { 0 };
}

#define ASSERT_STATUS(r, want, text)                                                                   \
        do {                                                                                           \
                ASSERT_NOT_NULL((r)->err);                                                             \
                if ((r)->err->code != (want))                                                          \
                        TAP_FAIL("status %s (%s)", berr_code_name((r)->err->code), (r)->err->msg);    \
                ASSERT_STREQ((r)->err->msg, text);                                                     \
        } while (0)

typedef Containerd__Services__Containers__V1__Container container_msg;
static const uint8_t SPEC_JSON[] = "{\"ociVersion\":\"1.0.2\"}";

/* A container message like ctr sends, with one label, runtime options and an extension. */
typedef struct request_container {
        container_msg m;
        Containerd__Services__Containers__V1__Container__Runtime rt;
        Google__Protobuf__Any opts, spec, ext_value;
        Containerd__Services__Containers__V1__Container__LabelsEntry label, *labels[1];
        Containerd__Services__Containers__V1__Container__ExtensionsEntry ext, *exts[1];
} request_container;

static void request_container_init(request_container *rc, const char *id) {
        containerd__services__containers__v1__container__init(&rc->m);
        rc->m.id = (char *) id;
        rc->m.image = (char *) "docker.io/berth/busybox:latest";
        containerd__services__containers__v1__container__runtime__init(&rc->rt);
        rc->rt.name = (char *) "io.containerd.runc.v2";
        google__protobuf__any__init(&rc->opts);
        rc->opts.type_url = (char *) "containerd.runc.v1.Options";
        rc->opts.value = (ProtobufCBinaryData) { .data = (uint8_t *) "\x12\x04runc", .len = 6 };
        rc->rt.options = &rc->opts;
        rc->m.runtime = &rc->rt;
        google__protobuf__any__init(&rc->spec);
        rc->spec.type_url = (char *) "types.containerd.io/opencontainers/runtime-spec/1/Spec";
        rc->spec.value = (ProtobufCBinaryData) { .data = (uint8_t *) SPEC_JSON, .len = sizeof SPEC_JSON - 1 };
        rc->m.spec = &rc->spec;
        rc->m.snapshotter = (char *) "overlayfs";
        rc->m.snapshot_key = (char *) id;
        containerd__services__containers__v1__container__labels_entry__init(&rc->label);
        rc->label.key = (char *) "tier";
        rc->label.value = (char *) "web";
        rc->labels[0] = &rc->label;
        rc->m.labels = rc->labels;
        rc->m.n_labels = 1;
        containerd__services__containers__v1__container__extensions_entry__init(&rc->ext);
        google__protobuf__any__init(&rc->ext_value);
        rc->ext_value.type_url = (char *) "example.com/Ext";
        rc->ext_value.value = (ProtobufCBinaryData) { .data = (uint8_t *) "\x00\x01", .len = 2 };
        rc->ext.key = (char *) "ext";
        rc->ext.value = &rc->ext_value;
        rc->exts[0] = &rc->ext;
        rc->m.extensions = rc->exts;
        rc->m.n_extensions = 1;
}

static void create(fixture *f, const char *ns, const char *id) {
        request_container rc;
        request_container_init(&rc, id);
        Containerd__Services__Containers__V1__CreateContainerRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
        req.container = &rc.m;
        rpc r;
        if (call(f, &r, ns, "Create", &req.base) < 0)
                TAP_FAIL("create %s: %s", id, r.err->msg);
        rpc_done(&r);
}

TEST(create_get_round_trip_and_event) {
        fixture f;
        fixture_start(&f);
        request_container rc;
        request_container_init(&rc, "c1");
        Containerd__Services__Containers__V1__CreateContainerRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
        req.container = &rc.m;
        rpc r;
        ASSERT_OK(call(&f, &r, "default", "Create", &req.base));
        Containerd__Services__Containers__V1__CreateContainerResponse *cr =
                containerd__services__containers__v1__create_container_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(cr);
        ASSERT_NOT_NULL(cr->container->created_at);
        ASSERT_TRUE(cr->container->created_at->seconds > 1600000000);
        containerd__services__containers__v1__create_container_response__free_unpacked(cr, NULL);
        rpc_done(&r);

        Containerd__Services__Containers__V1__GetContainerRequest get =
                CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
        get.id = (char *) "c1";
        ASSERT_OK(call(&f, &r, "default", "Get", &get.base));
        Containerd__Services__Containers__V1__GetContainerResponse *gr =
                containerd__services__containers__v1__get_container_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(gr);
        container_msg *c = gr->container;
        ASSERT_STREQ(c->id, "c1");
        ASSERT_STREQ(c->image, "docker.io/berth/busybox:latest");
        ASSERT_STREQ(c->runtime->name, "io.containerd.runc.v2");
        ASSERT_STREQ(c->runtime->options->type_url, "containerd.runc.v1.Options");
        ASSERT_EQ(c->runtime->options->value.len, 6u);
        ASSERT_STREQ(c->spec->type_url, "types.containerd.io/opencontainers/runtime-spec/1/Spec");
        ASSERT_EQ(c->spec->value.len, sizeof SPEC_JSON - 1);
        ASSERT_TRUE(memcmp(c->spec->value.data, SPEC_JSON, sizeof SPEC_JSON - 1) == 0);
        ASSERT_STREQ(c->snapshotter, "overlayfs");
        ASSERT_STREQ(c->snapshot_key, "c1");
        ASSERT_EQ(c->n_labels, 1u);
        ASSERT_STREQ(c->labels[0]->key, "tier");
        ASSERT_STREQ(c->labels[0]->value, "web");
        ASSERT_EQ(c->n_extensions, 1u);
        ASSERT_STREQ(c->extensions[0]->key, "ext");
        ASSERT_STREQ(c->extensions[0]->value->type_url, "example.com/Ext");
        ASSERT_EQ(c->extensions[0]->value->value.len, 2u);
        ASSERT_NOT_NULL(c->updated_at);
        containerd__services__containers__v1__get_container_response__free_unpacked(gr, NULL);
        rpc_done(&r);

        ASSERT_EQ(f.n_seen, 1u);
        ASSERT_STREQ(f.seen[0].topic, "/containers/create");
        ASSERT_STREQ(f.seen[0].type_url, "containerd.events.ContainerCreate");
        Containerd__Events__ContainerCreate *ev =
                containerd__events__container_create__unpack(NULL, f.seen[0].len, f.seen[0].value);
        ASSERT_NOT_NULL(ev);
        ASSERT_STREQ(ev->id, "c1");
        ASSERT_STREQ(ev->image, "docker.io/berth/busybox:latest");
        ASSERT_STREQ(ev->runtime->name, "io.containerd.runc.v2");
        ASSERT_STREQ(ev->runtime->options->type_url, "containerd.runc.v1.Options");
        containerd__events__container_create__free_unpacked(ev, NULL);

        /* A failed create publishes nothing. */
        ASSERT_EQ(call(&f, &r, "default", "Create", &req.base), -1);
        ASSERT_STATUS(&r, BERR_ALREADY_EXISTS, "container \"c1\": already exists");
        rpc_done(&r);
        ASSERT_EQ(f.n_seen, 1u);
        fixture_stop(&f);
}

TEST(errors_as_containerd_words_them) {
        fixture f;
        fixture_start(&f);
        rpc r;
        Containerd__Services__Containers__V1__GetContainerRequest get =
                CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
        get.id = (char *) "nope";
        ASSERT_EQ(call(&f, &r, NULL, "Get", &get.base), -1);
        ASSERT_STATUS(&r, BERR_FAILED_PRECONDITION, "namespace is required: failed precondition");
        rpc_done(&r);
        ASSERT_EQ(call(&f, &r, "default", "Get", &get.base), -1);
        ASSERT_STATUS(&r, BERR_NOT_FOUND, "container \"nope\" in namespace \"default\": not found");
        rpc_done(&r);

        /* An empty Create: the container field missing altogether. */
        Containerd__Services__Containers__V1__CreateContainerRequest cr =
                CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
        ASSERT_EQ(call(&f, &r, "default", "Create", &cr.base), -1);
        ASSERT_STATUS(&r, BERR_INVALID_ARGUMENT,
                      "create container failed validation: container.ID: identifier must not be empty: invalid "
                      "argument");
        rpc_done(&r);
        request_container rc;
        request_container_init(&rc, "c1");
        rc.m.runtime = NULL;
        cr.container = &rc.m;
        ASSERT_EQ(call(&f, &r, "default", "Create", &cr.base), -1);
        ASSERT_STATUS(&r, BERR_INVALID_ARGUMENT,
                      "create container failed validation: container.Runtime.Name must be set: invalid argument");
        rpc_done(&r);

        Containerd__Services__Containers__V1__UpdateContainerRequest up =
                CONTAINERD__SERVICES__CONTAINERS__V1__UPDATE_CONTAINER_REQUEST__INIT;
        ASSERT_EQ(call(&f, &r, "default", "Update", &up.base), -1);
        ASSERT_STATUS(&r, BERR_INVALID_ARGUMENT, "Container.ID required");
        rpc_done(&r);

        Containerd__Services__Containers__V1__DeleteContainerRequest del =
                CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
        del.id = (char *) "nope";
        create(&f, "default", "c1");
        ASSERT_EQ(call(&f, &r, "default", "Delete", &del.base), -1);
        ASSERT_STATUS(&r, BERR_NOT_FOUND, "container nope: not found");
        rpc_done(&r);

        Containerd__Services__Containers__V1__ListContainersRequest list =
                CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
        char *bad[] = { (char *) "labels.==" };
        list.filters = bad;
        list.n_filters = 1;
        ASSERT_EQ(call(&f, &r, "default", "List", &list.base), -1);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        rpc_done(&r);
        fixture_stop(&f);
}

static size_t list_ids(fixture *f, const char *ns, char **filters, size_t n_filters, bool stream, char *out,
                       size_t size) {
        Containerd__Services__Containers__V1__ListContainersRequest req =
                CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
        req.filters = filters;
        req.n_filters = n_filters;
        rpc r;
        if (call_kind(f, &r, ns, stream ? "ListStream" : "List", &req.base, stream) < 0)
                TAP_FAIL("list: %s", r.err->msg);
        out[0] = '\0';
        size_t n = 0;
        if (stream) {
                for (size_t i = 0; i < r.n_msgs; i++) {
                        Containerd__Services__Containers__V1__ListContainerMessage *m =
                                containerd__services__containers__v1__list_container_message__unpack(NULL, r.lens[i],
                                                                                                    r.msgs[i]);
                        ASSERT_NOT_NULL(m);
                        snprintf(out + strlen(out), size - strlen(out), "%s%s", n++ ? "," : "", m->container->id);
                        containerd__services__containers__v1__list_container_message__free_unpacked(m, NULL);
                }
        } else {
                Containerd__Services__Containers__V1__ListContainersResponse *resp =
                        containerd__services__containers__v1__list_containers_response__unpack(NULL, r.len, r.resp);
                ASSERT_NOT_NULL(resp);
                for (size_t i = 0; i < resp->n_containers; i++)
                        snprintf(out + strlen(out), size - strlen(out), "%s%s", n++ ? "," : "",
                                 resp->containers[i]->id);
                containerd__services__containers__v1__list_containers_response__free_unpacked(resp, NULL);
        }
        rpc_done(&r);
        return n;
}

TEST(list_and_list_stream_with_filters) {
        fixture f;
        fixture_start(&f);
        create(&f, "default", "b");
        create(&f, "default", "a");
        create(&f, "other", "z");
        char buf[128];
        ASSERT_EQ(list_ids(&f, "default", NULL, 0, false, buf, sizeof buf), 2u);
        ASSERT_STREQ(buf, "a,b");
        ASSERT_EQ(list_ids(&f, "default", NULL, 0, true, buf, sizeof buf), 2u);
        ASSERT_STREQ(buf, "a,b");
        char *by_id[] = { (char *) "id==b" };
        ASSERT_EQ(list_ids(&f, "default", by_id, 1, true, buf, sizeof buf), 1u);
        ASSERT_STREQ(buf, "b");
        char *by_label[] = { (char *) "labels.tier==web,runtime.name==io.containerd.runc.v2" };
        ASSERT_EQ(list_ids(&f, "other", by_label, 1, false, buf, sizeof buf), 1u);
        ASSERT_STREQ(buf, "z");
        ASSERT_EQ(list_ids(&f, "empty", NULL, 0, true, buf, sizeof buf), 0u);
        ASSERT_EQ(list_ids(&f, "empty", NULL, 0, false, buf, sizeof buf), 0u);
        fixture_stop(&f);
}

TEST(update_with_field_mask_then_delete) {
        fixture f;
        fixture_start(&f);
        create(&f, "default", "c1");
        f.n_seen = 0;

        Containerd__Services__Containers__V1__Container m = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
        m.id = (char *) "c1";
        Containerd__Services__Containers__V1__Container__LabelsEntry l =
                CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__LABELS_ENTRY__INIT;
        l.key = (char *) "a";
        l.value = (char *) "b";
        Containerd__Services__Containers__V1__Container__LabelsEntry *ls[] = { &l };
        m.labels = ls;
        m.n_labels = 1;
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        char *paths[] = { (char *) "labels.a" };
        mask.paths = paths;
        mask.n_paths = 1;
        Containerd__Services__Containers__V1__UpdateContainerRequest up =
                CONTAINERD__SERVICES__CONTAINERS__V1__UPDATE_CONTAINER_REQUEST__INIT;
        up.container = &m;
        up.update_mask = &mask;
        rpc r;
        ASSERT_OK(call(&f, &r, "default", "Update", &up.base));
        Containerd__Services__Containers__V1__UpdateContainerResponse *ur =
                containerd__services__containers__v1__update_container_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(ur);
        ASSERT_EQ(ur->container->n_labels, 2u); /* a=b next to tier=web */
        ASSERT_STREQ(ur->container->runtime->name, "io.containerd.runc.v2");
        ASSERT_NOT_NULL(ur->container->spec);
        containerd__services__containers__v1__update_container_response__free_unpacked(ur, NULL);
        rpc_done(&r);
        ASSERT_EQ(f.n_seen, 1u);
        ASSERT_STREQ(f.seen[0].topic, "/containers/update");
        Containerd__Events__ContainerUpdate *ue =
                containerd__events__container_update__unpack(NULL, f.seen[0].len, f.seen[0].value);
        ASSERT_NOT_NULL(ue);
        ASSERT_STREQ(ue->id, "c1");
        ASSERT_EQ(ue->n_labels, 2u);
        ASSERT_STREQ(ue->snapshot_key, "c1");
        containerd__events__container_update__free_unpacked(ue, NULL);

        /* No mask: a full replace, which must keep the runtime name and snapshotter. */
        up.update_mask = NULL;
        ASSERT_EQ(call(&f, &r, "default", "Update", &up.base), -1);
        ASSERT_STATUS(&r, BERR_INVALID_ARGUMENT, "container.Snapshotter field is immutable: invalid argument");
        rpc_done(&r);
        char *runtime[] = { (char *) "runtime" };
        mask.paths = runtime;
        up.update_mask = &mask;
        ASSERT_EQ(call(&f, &r, "default", "Update", &up.base), -1);
        ASSERT_STATUS(&r, BERR_INVALID_ARGUMENT, "cannot update \"runtime\" field on \"c1\": invalid argument");
        rpc_done(&r);
        ASSERT_EQ(f.n_seen, 1u);

        Containerd__Services__Containers__V1__DeleteContainerRequest del =
                CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
        del.id = (char *) "c1";
        ASSERT_OK(call(&f, &r, "default", "Delete", &del.base));
        rpc_done(&r);
        ASSERT_EQ(f.n_seen, 2u);
        ASSERT_STREQ(f.seen[1].topic, "/containers/delete");
        ASSERT_STREQ(f.seen[1].type_url, "containerd.events.ContainerDelete");
        char buf[64];
        ASSERT_EQ(list_ids(&f, "default", NULL, 0, false, buf, sizeof buf), 0u);
        fixture_stop(&f);
}
