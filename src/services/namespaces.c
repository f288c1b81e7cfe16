/* containerd.services.namespaces.v1.Namespaces on the metadata store. These calls name their namespace in the
 * request; they do not use the containerd-namespace header. */
#include <string.h>

#include "containerd/events/namespace.pb-c.h"
#include "containerd/services/namespaces/v1/namespace.pb-c.h"
#include "events/exchange.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/namespaces.h"
#include "services/common.h"
#include "services/services.h"

/* A reply message for one namespace, borrowing from n; release with namespace_pb_done. */
static void namespace_pb_init(Containerd__Services__Namespaces__V1__Namespace *m, const meta_namespace *n) {
        containerd__services__namespaces__v1__namespace__init(m);
        m->name = n->name;
        m->labels = service_map_from_labels(
                &n->labels, &containerd__services__namespaces__v1__namespace__labels_entry__descriptor,
                &m->n_labels);
}

static void namespace_pb_done(Containerd__Services__Namespaces__V1__Namespace *m) {
        free(m->labels);
}

static void reply_namespace(grpc_call *call, const ProtobufCMessageDescriptor *resp_desc, const meta_namespace *n) {
        /* Get, Create and Update responses all have one field: `Namespace namespace = 1`. */
        Containerd__Services__Namespaces__V1__GetNamespaceResponse resp;
        protobuf_c_message_init(resp_desc, &resp);
        Containerd__Services__Namespaces__V1__Namespace m;
        namespace_pb_init(&m, n);
        resp.namespace_ = &m;
        grpc_call_reply(call, &resp.base);
        namespace_pb_done(&m);
}

static void namespaces_get(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Namespaces__V1__GetNamespaceRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__get_namespace_request__descriptor, msg, len);
        if (!req)
                return;
        meta_namespace n = { 0 };
        berr *e = NULL;
        if (meta_namespace_get(ctx->db, req->name, &n, &e) < 0) {
                if (e->code != BERR_NOT_FOUND) {
                        service_finish_error(call, e);
                        return;
                }
                /* containerd answers a namespace that does not exist (yet) with its name and no labels; clients
                 * rely on it (Client.GetLabel reads the default-snapshotter label before anything is created). */
                berr_free(e);
                n.name = xstrdup(req->name);
        }
        reply_namespace(call, &containerd__services__namespaces__v1__get_namespace_response__descriptor, &n);
        meta_namespace_done(&n);
}

static void namespaces_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Namespaces__V1__ListNamespacesRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__list_namespaces_request__descriptor, msg, len);
        if (!req)
                return;
        const char *filters[] = { req->filter };
        size_t n_filters = req->filter && *req->filter ? 1 : 0;
        meta_namespace *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_namespace_list(ctx->db, filters, n_filters, &list, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Namespaces__V1__Namespace *msgs = xcalloc(n ? n : 1, sizeof *msgs);
        Containerd__Services__Namespaces__V1__Namespace **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        for (size_t i = 0; i < n; i++) {
                namespace_pb_init(&msgs[i], &list[i]);
                ptrs[i] = &msgs[i];
        }
        Containerd__Services__Namespaces__V1__ListNamespacesResponse resp =
                CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_RESPONSE__INIT;
        resp.namespaces = ptrs;
        resp.n_namespaces = n;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                namespace_pb_done(&msgs[i]);
        free(msgs);
        free(ptrs);
        meta_namespaces_free(list, n);
}

/* The namespace from a Create/Update request, which must name one. */
static int request_namespace(const Containerd__Services__Namespaces__V1__Namespace *m, meta_labels *ret_labels,
                             berr **err) {
        if (!m || !m->name || !*m->name)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "namespace name is required");
        service_map_to_labels((void *const *) m->labels, m->n_labels, ret_labels);
        return 0;
}

/* The namespace an event about namespace `name` is published in: the caller's (containerd publishes in the
 * request's context), or the namespace itself when the caller sent no valid containerd-namespace header (containerd
 * would fail the call after the change; publishing in the namespace concerned keeps the change visible). */
static const char *event_namespace(grpc_call *call, const char *name) {
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        berr_free(e);
        return ns ? ns : name;
}

/* /namespaces/create and /namespaces/update carry the same fields: name and labels. */
static void publish_namespace(grpc_call *call, service_context *ctx, const char *topic,
                              const ProtobufCMessageDescriptor *event_desc,
                              const ProtobufCMessageDescriptor *entry_desc, const meta_namespace *n) {
        Containerd__Events__NamespaceCreate ev;
        protobuf_c_message_init(event_desc, &ev);
        ev.name = n->name;
        ev.labels = service_map_from_labels(&n->labels, entry_desc, &ev.n_labels);
        event_publish(ctx->events, event_namespace(call, n->name), topic, &ev.base, NULL);
        free(ev.labels);
}

static void reply_current(grpc_call *call, service_context *ctx, const ProtobufCMessageDescriptor *resp_desc,
                          const char *name, const char *topic) {
        meta_namespace n = { 0 };
        berr *e = NULL;
        if (meta_namespace_get(ctx->db, name, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        if (strcmp(topic, "/namespaces/create") == 0)
                publish_namespace(call, ctx, topic, &containerd__events__namespace_create__descriptor,
                                  &containerd__events__namespace_create__labels_entry__descriptor, &n);
        else
                publish_namespace(call, ctx, topic, &containerd__events__namespace_update__descriptor,
                                  &containerd__events__namespace_update__labels_entry__descriptor, &n);
        reply_namespace(call, resp_desc, &n);
        meta_namespace_done(&n);
}

static void namespaces_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Namespaces__V1__CreateNamespaceRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__create_namespace_request__descriptor, msg, len);
        if (!req)
                return;
        meta_labels labels = { 0 };
        berr *e = NULL;
        if (request_namespace(req->namespace_, &labels, &e) < 0 ||
            meta_namespace_create(ctx->db, req->namespace_->name, &labels, &e) < 0) {
                meta_labels_done(&labels);
                service_finish_error(call, e);
                return;
        }
        meta_labels_done(&labels);
        reply_current(call, ctx, &containerd__services__namespaces__v1__create_namespace_response__descriptor,
                      req->namespace_->name, "/namespaces/create");
}

static void namespaces_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Namespaces__V1__UpdateNamespaceRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__update_namespace_request__descriptor, msg, len);
        if (!req)
                return;
        meta_labels labels = { 0 };
        berr *e = NULL;
        const char *const *paths = req->update_mask ? (const char *const *) req->update_mask->paths : NULL;
        size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
        if (request_namespace(req->namespace_, &labels, &e) < 0 ||
            meta_namespace_update(ctx->db, req->namespace_->name, &labels, paths, n_paths, &e) < 0) {
                meta_labels_done(&labels);
                service_finish_error(call, e);
                return;
        }
        meta_labels_done(&labels);
        /* containerd leaves the response empty; the namespace as stored now is more useful and decodes the same. */
        reply_current(call, ctx, &containerd__services__namespaces__v1__update_namespace_response__descriptor,
                      req->namespace_->name, "/namespaces/update");
}

static void namespaces_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Namespaces__V1__DeleteNamespaceRequest *req = service_decode(
                call, &containerd__services__namespaces__v1__delete_namespace_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        if (meta_namespace_delete(ctx->db, req->name, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        /* containerd publishes the deletion in the deleted namespace itself. */
        Containerd__Events__NamespaceDelete ev = CONTAINERD__EVENTS__NAMESPACE_DELETE__INIT;
        ev.name = req->name;
        event_publish(ctx->events, req->name, "/namespaces/delete", &ev.base, NULL);
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

#define NS_METHOD(name, fn) \
        { .path = "/containerd.services.namespaces.v1.Namespaces/" name, .kind = GRPC_UNARY, .on_message = fn }
static const grpc_method namespaces_methods[] = {
        NS_METHOD("Get", namespaces_get),       NS_METHOD("List", namespaces_list),
        NS_METHOD("Create", namespaces_create), NS_METHOD("Update", namespaces_update),
        NS_METHOD("Delete", namespaces_delete),
};

int namespaces_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "namespaces", namespaces_methods, ELEMENTSOF(namespaces_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
