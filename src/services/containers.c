/* containerd.services.containers.v1.Containers on the metadata store (containerd's services/containers/local.go):
 * Get, List, ListStream, Create, Update (FieldMask), Delete; /containers/create|update|delete events after each
 * successful change. Records only: deleting a container leaves its snapshot to the garbage collector. */
#include <string.h>

#include "containerd/events/container.pb-c.h"
#include "containerd/services/containers/v1/containers.pb-c.h"
#include "events/exchange.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/containers.h"
#include "services/common.h"
#include "services/gc.h"
#include "services/services.h"

typedef Containerd__Services__Containers__V1__Container container_msg;
typedef Containerd__Services__Containers__V1__Container__ExtensionsEntry extension_entry;

static const char *str_or_empty(const char *s) {
        return s ? s : "";
}

/* ---- protobuf -> record ------------------------------------------------------------------------------- */

static char *dup_nonnull(const char *s) {
        return s ? xstrdup(s) : NULL;
}

static void any_to_fields(const Google__Protobuf__Any *any, char **ret_type, uint8_t **ret_value, size_t *ret_len) {
        *ret_type = xstrdup(str_or_empty(any->type_url));
        *ret_value = NULL;
        *ret_len = 0;
        if (any->value.len > 0) {
                *ret_value = xmalloc(any->value.len);
                memcpy(*ret_value, any->value.data, any->value.len);
                *ret_len = any->value.len;
        }
}

/* As containerd's containerFromProto; a missing message is an empty container (gogo's non-nullable field). */
static void container_from_msg(const container_msg *m, meta_container *c) {
        *c = (meta_container) { 0 };
        if (!m)
                return;
        c->id = dup_nonnull(m->id);
        service_map_to_labels((void *const *) m->labels, m->n_labels, &c->labels);
        c->image = dup_nonnull(m->image);
        if (m->runtime) {
                c->runtime_name = dup_nonnull(m->runtime->name);
                if (m->runtime->options)
                        any_to_fields(m->runtime->options, &c->runtime_options_type, &c->runtime_options,
                                      &c->runtime_options_len);
        }
        if (m->spec)
                any_to_fields(m->spec, &c->spec_type, &c->spec, &c->spec_len);
        c->snapshotter = dup_nonnull(m->snapshotter);
        c->snapshot_key = dup_nonnull(m->snapshot_key);
        for (size_t i = 0; i < m->n_extensions; i++) {
                const extension_entry *x = m->extensions[i];
                const Google__Protobuf__Any *v = x->value;
                /* A map entry without a value is Go's zero Any. */
                meta_container_set_extension(c, str_or_empty(x->key), v ? str_or_empty(v->type_url) : "",
                                             v ? v->value.data : NULL, v ? v->value.len : 0);
        }
}

/* ---- record -> protobuf ------------------------------------------------------------------------------- */

/* A Container message borrowing every string and byte from the record it was built from. */
typedef struct container_pb {
        container_msg msg;
        Containerd__Services__Containers__V1__Container__Runtime runtime;
        Google__Protobuf__Any options, spec;
        Google__Protobuf__Timestamp created_at, updated_at;
        extension_entry *entries;
        extension_entry **entry_ptrs;
        Google__Protobuf__Any *entry_values;
} container_pb;

static void any_init(Google__Protobuf__Any *any, const char *type, const uint8_t *value, size_t len) {
        google__protobuf__any__init(any);
        any->type_url = (char *) str_or_empty(type);
        any->value.data = (uint8_t *) value;
        any->value.len = value ? len : 0;
}

static void container_pb_init(container_pb *pb, const meta_container *c) {
        container_msg *m = &pb->msg;
        containerd__services__containers__v1__container__init(m);
        m->id = (char *) str_or_empty(c->id);
        m->labels = service_map_from_labels(
                &c->labels, &containerd__services__containers__v1__container__labels_entry__descriptor, &m->n_labels);
        m->image = (char *) str_or_empty(c->image);
        /* containerd always fills Runtime. */
        containerd__services__containers__v1__container__runtime__init(&pb->runtime);
        pb->runtime.name = (char *) str_or_empty(c->runtime_name);
        if (c->runtime_options_type) {
                any_init(&pb->options, c->runtime_options_type, c->runtime_options, c->runtime_options_len);
                pb->runtime.options = &pb->options;
        }
        m->runtime = &pb->runtime;
        if (c->spec_type) {
                any_init(&pb->spec, c->spec_type, c->spec, c->spec_len);
                m->spec = &pb->spec;
        }
        m->snapshotter = (char *) str_or_empty(c->snapshotter);
        m->snapshot_key = (char *) str_or_empty(c->snapshot_key);
        service_timestamp_set(&pb->created_at, c->created_at);
        service_timestamp_set(&pb->updated_at, c->updated_at);
        m->created_at = &pb->created_at;
        m->updated_at = &pb->updated_at;
        pb->entries = NULL;
        pb->entry_ptrs = NULL;
        pb->entry_values = NULL;
        if (c->n_extensions > 0) {
                pb->entries = xcalloc(c->n_extensions, sizeof *pb->entries);
                pb->entry_ptrs = xcalloc(c->n_extensions, sizeof *pb->entry_ptrs);
                pb->entry_values = xcalloc(c->n_extensions, sizeof *pb->entry_values);
                for (size_t i = 0; i < c->n_extensions; i++) {
                        const meta_extension *x = &c->extensions[i];
                        containerd__services__containers__v1__container__extensions_entry__init(&pb->entries[i]);
                        pb->entries[i].key = x->name;
                        any_init(&pb->entry_values[i], x->type_url, x->value, x->len);
                        pb->entries[i].value = &pb->entry_values[i];
                        pb->entry_ptrs[i] = &pb->entries[i];
                }
                m->extensions = pb->entry_ptrs;
                m->n_extensions = c->n_extensions;
        }
}

static void container_pb_done(container_pb *pb) {
        free(pb->msg.labels);
        free(pb->entries);
        free(pb->entry_ptrs);
        free(pb->entry_values);
}

/* Get, Create and Update responses (and ListContainerMessage) share one layout: `Container container = 1`. */
static void send_container(grpc_call *call, const ProtobufCMessageDescriptor *resp_desc, const meta_container *c,
                           bool finish) {
        Containerd__Services__Containers__V1__GetContainerResponse resp;
        protobuf_c_message_init(resp_desc, &resp);
        container_pb pb;
        container_pb_init(&pb, c);
        resp.container = &pb.msg;
        if (finish)
                grpc_call_reply(call, &resp.base);
        else
                grpc_call_send(call, &resp.base);
        container_pb_done(&pb);
}

/* ---- handlers ----------------------------------------------------------------------------------------- */

static void containers_get(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Containers__V1__GetContainerRequest *req = service_decode(
                call, &containerd__services__containers__v1__get_container_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        meta_container c = { 0 };
        if (!ns || meta_container_get(ctx->db, ns, req->id, &c, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        send_container(call, &containerd__services__containers__v1__get_container_response__descriptor, &c, true);
        meta_container_done(&c);
}

static int list_request(grpc_call *call, service_context *ctx, const uint8_t *msg, size_t len, meta_container **ret,
                        size_t *ret_n) {
        _cleanup_pb_ Containerd__Services__Containers__V1__ListContainersRequest *req = service_decode(
                call, &containerd__services__containers__v1__list_containers_request__descriptor, msg, len);
        if (!req)
                return -1;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns || meta_container_list(ctx->db, ns, (const char *const *) req->filters, req->n_filters, ret, ret_n,
                                       &e) < 0) {
                service_finish_error(call, e);
                return -1;
        }
        return 0;
}

static void containers_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        meta_container *list = NULL;
        size_t n = 0;
        if (list_request(call, userdata, msg, len, &list, &n) < 0)
                return;
        container_pb *pbs = xcalloc(n ? n : 1, sizeof *pbs);
        container_msg **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        for (size_t i = 0; i < n; i++) {
                container_pb_init(&pbs[i], &list[i]);
                ptrs[i] = &pbs[i].msg;
        }
        Containerd__Services__Containers__V1__ListContainersResponse resp =
                CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_RESPONSE__INIT;
        resp.containers = ptrs;
        resp.n_containers = n;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                container_pb_done(&pbs[i]);
        free(pbs);
        free(ptrs);
        meta_containers_free(list, n);
}

/* One ListContainerMessage per container: clients use it to avoid the message size limit of a single List reply. */
static void containers_list_stream(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        meta_container *list = NULL;
        size_t n = 0;
        if (list_request(call, userdata, msg, len, &list, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                send_container(call, &containerd__services__containers__v1__list_container_message__descriptor,
                               &list[i], false);
        grpc_call_finish(call, BERR_OK, NULL);
        meta_containers_free(list, n);
}

static void publish_create(service_context *ctx, const char *ns, const meta_container *c) {
        Containerd__Events__ContainerCreate ev = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
        Containerd__Events__ContainerCreate__Runtime rt = CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;
        Google__Protobuf__Any opts;
        ev.id = (char *) str_or_empty(c->id);
        ev.image = (char *) str_or_empty(c->image);
        rt.name = (char *) str_or_empty(c->runtime_name);
        if (c->runtime_options_type) {
                any_init(&opts, c->runtime_options_type, c->runtime_options, c->runtime_options_len);
                rt.options = &opts;
        }
        ev.runtime = &rt;
        event_publish(ctx->events, ns, "/containers/create", &ev.base, NULL);
}

static void containers_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Containers__V1__CreateContainerRequest *req = service_decode(
                call, &containerd__services__containers__v1__create_container_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        meta_container in, created = { 0 };
        container_from_msg(req->container, &in);
        if (!ns || meta_container_create(ctx->db, ns, &in, &created, &e) < 0) {
                meta_container_done(&in);
                service_finish_error(call, e);
                return;
        }
        meta_container_done(&in);
        send_container(call, &containerd__services__containers__v1__create_container_response__descriptor, &created,
                       true);
        publish_create(ctx, ns, &created);
        meta_container_done(&created);
}

static void publish_update(service_context *ctx, const char *ns, const meta_container *c) {
        Containerd__Events__ContainerUpdate ev = CONTAINERD__EVENTS__CONTAINER_UPDATE__INIT;
        ev.id = (char *) str_or_empty(c->id);
        ev.image = (char *) str_or_empty(c->image);
        ev.snapshot_key = (char *) str_or_empty(c->snapshot_key);
        ev.labels = service_map_from_labels(&c->labels, &containerd__events__container_update__labels_entry__descriptor,
                                            &ev.n_labels);
        event_publish(ctx->events, ns, "/containers/update", &ev.base, NULL);
        free(ev.labels);
}

static void containers_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Containers__V1__UpdateContainerRequest *req = service_decode(
                call, &containerd__services__containers__v1__update_container_request__descriptor, msg, len);
        if (!req)
                return;
        if (!req->container || !req->container->id || !*req->container->id) {
                /* containerd answers this one with a plain status, no errdefs class suffix. */
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "Container.ID required");
                return;
        }
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        const char *const *paths = req->update_mask ? (const char *const *) req->update_mask->paths : NULL;
        size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
        meta_container in, updated = { 0 };
        container_from_msg(req->container, &in);
        if (!ns || meta_container_update(ctx->db, ns, &in, paths, n_paths, &updated, &e) < 0) {
                meta_container_done(&in);
                service_finish_error(call, e);
                return;
        }
        meta_container_done(&in);
        send_container(call, &containerd__services__containers__v1__update_container_response__descriptor, &updated,
                       true);
        publish_update(ctx, ns, &updated);
        meta_container_done(&updated);
}

static void containers_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Containers__V1__DeleteContainerRequest *req = service_decode(
                call, &containerd__services__containers__v1__delete_container_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns || meta_container_delete(ctx->db, ns, req->id, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
        Containerd__Events__ContainerDelete ev = CONTAINERD__EVENTS__CONTAINER_DELETE__INIT;
        ev.id = req->id;
        event_publish(ctx->events, ns, "/containers/delete", &ev.base, NULL);
        /* The container's snapshot (and what its labels referenced) may be unreferenced now. */
        gc_schedule(ctx);
}

#define CONTAINERS_METHOD(name, k, fn) \
        { .path = "/containerd.services.containers.v1.Containers/" name, .kind = k, .on_message = fn }
static const grpc_method containers_methods[] = {
        CONTAINERS_METHOD("Get", GRPC_UNARY, containers_get),
        CONTAINERS_METHOD("List", GRPC_UNARY, containers_list),
        CONTAINERS_METHOD("ListStream", GRPC_SERVER_STREAMING, containers_list_stream),
        CONTAINERS_METHOD("Create", GRPC_UNARY, containers_create),
        CONTAINERS_METHOD("Update", GRPC_UNARY, containers_update),
        CONTAINERS_METHOD("Delete", GRPC_UNARY, containers_delete),
};

int containers_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "containers", containers_methods, ELEMENTSOF(containers_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
