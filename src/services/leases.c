/* containerd.services.leases.v1.Leases on the metadata lease manager. Removing a lease or one of its resources
 * can free content and snapshots: the collector is scheduled, or run before answering with `sync`. */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "containerd/services/leases/v1/leases.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/metadata.h"
#include "services/common.h"
#include "services/gc.h"
#include "services/services.h"

/* containerd's leases.WithRandomID: "<nanoseconds of the current second>-<base64url of 3 random bytes>". */
static char *random_lease_id(void) {
        static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint8_t b[3] = { 0 };
        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b) {
                uint64_t t = now_monotonic_usec();
                memcpy(b, &t, sizeof b);
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char enc[5] = {
                b64[b[0] >> 2],
                b64[((b[0] & 3) << 4) | (b[1] >> 4)],
                b64[((b[1] & 15) << 2) | (b[2] >> 6)],
                b64[b[2] & 63],
                '\0',
        };
        return xasprintf("%ld-%s", (long) ts.tv_nsec, enc);
}

static void lease_pb_init(Containerd__Services__Leases__V1__Lease *m, const meta_lease *l,
                          Google__Protobuf__Timestamp *ts) {
        containerd__services__leases__v1__lease__init(m);
        m->id = l->id;
        service_timestamp_set(ts, l->created_at);
        m->created_at = ts;
        m->labels = service_map_from_labels(&l->labels, &containerd__services__leases__v1__lease__labels_entry__descriptor,
                                            &m->n_labels);
}

static void leases_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Leases__V1__CreateRequest *req =
                service_decode(call, &containerd__services__leases__v1__create_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        _cleanup_free_ char *id = req->id && *req->id ? xstrdup(req->id) : random_lease_id();
        meta_labels labels = { 0 };
        service_map_to_labels((void *const *) req->labels, req->n_labels, &labels);
        meta_lease l = { 0 };
        berr *e = NULL;
        int r = meta_lease_create(ctx->db, ns, id, &labels, &l, &e);
        meta_labels_done(&labels);
        if (r < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Leases__V1__Lease m;
        Google__Protobuf__Timestamp ts;
        lease_pb_init(&m, &l, &ts);
        Containerd__Services__Leases__V1__CreateResponse resp = CONTAINERD__SERVICES__LEASES__V1__CREATE_RESPONSE__INIT;
        resp.lease = &m;
        grpc_call_reply(call, &resp.base);
        free(m.labels);
        meta_lease_done(&l);
}

static void leases_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Leases__V1__DeleteRequest *req =
                service_decode(call, &containerd__services__leases__v1__delete_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        berr *e = NULL;
        if (meta_lease_delete(ctx->db, ns, req->id, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        if (req->sync) {
                if (gc_run_now(ctx, &e) < 0) {
                        service_finish_error(call, e);
                        return;
                }
        } else
                gc_schedule(ctx);
        service_reply_empty(call);
}

static void leases_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Leases__V1__ListRequest *req =
                service_decode(call, &containerd__services__leases__v1__list_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_lease *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_lease_list(ctx->db, ns, (const char *const *) req->filters, req->n_filters, &list, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Leases__V1__Lease *msgs = xcalloc(n ? n : 1, sizeof *msgs);
        Containerd__Services__Leases__V1__Lease **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        Google__Protobuf__Timestamp *ts = xcalloc(n ? n : 1, sizeof *ts);
        for (size_t i = 0; i < n; i++) {
                lease_pb_init(&msgs[i], &list[i], &ts[i]);
                ptrs[i] = &msgs[i];
        }
        Containerd__Services__Leases__V1__ListResponse resp = CONTAINERD__SERVICES__LEASES__V1__LIST_RESPONSE__INIT;
        resp.leases = ptrs;
        resp.n_leases = n;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                free(msgs[i].labels);
        free(msgs);
        free(ptrs);
        free(ts);
        meta_leases_free(list, n);
}

/* AddResource and DeleteResource requests share their layout: id = 1, Resource resource = 2. */
static void leases_resource_change(grpc_call *call, const uint8_t *msg, size_t len, service_context *ctx,
                                   bool add) {
        _cleanup_pb_ Containerd__Services__Leases__V1__AddResourceRequest *req = service_decode(
                call,
                add ? &containerd__services__leases__v1__add_resource_request__descriptor
                    : &containerd__services__leases__v1__delete_resource_request__descriptor,
                msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        const char *type = req->resource ? req->resource->type : "";
        const char *id = req->resource ? req->resource->id : "";
        berr *e = NULL;
        int r = add ? meta_lease_add_resource(ctx->db, ns, req->id, type, id, &e)
                    : meta_lease_delete_resource(ctx->db, ns, req->id, type, id, &e);
        if (r < 0) {
                service_finish_error(call, e);
                return;
        }
        if (!add)
                gc_schedule(ctx);
        service_reply_empty(call);
}

static void leases_add_resource(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        leases_resource_change(call, msg, len, userdata, true);
}

static void leases_delete_resource(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        leases_resource_change(call, msg, len, userdata, false);
}

static void leases_list_resources(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Leases__V1__ListResourcesRequest *req = service_decode(
                call, &containerd__services__leases__v1__list_resources_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_lease_resource *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_lease_list_resources(ctx->db, ns, req->id, &list, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Leases__V1__Resource *msgs = xcalloc(n ? n : 1, sizeof *msgs);
        Containerd__Services__Leases__V1__Resource **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        for (size_t i = 0; i < n; i++) {
                containerd__services__leases__v1__resource__init(&msgs[i]);
                msgs[i].id = list[i].id;
                msgs[i].type = list[i].type;
                ptrs[i] = &msgs[i];
        }
        Containerd__Services__Leases__V1__ListResourcesResponse resp =
                CONTAINERD__SERVICES__LEASES__V1__LIST_RESOURCES_RESPONSE__INIT;
        resp.resources = ptrs;
        resp.n_resources = n;
        grpc_call_reply(call, &resp.base);
        free(msgs);
        free(ptrs);
        meta_lease_resources_free(list, n);
}

#define LEASES_METHOD(name, fn) \
        { .path = "/containerd.services.leases.v1.Leases/" name, .kind = GRPC_UNARY, .on_message = fn }
static const grpc_method leases_methods[] = {
        LEASES_METHOD("Create", leases_create),
        LEASES_METHOD("Delete", leases_delete),
        LEASES_METHOD("List", leases_list),
        LEASES_METHOD("AddResource", leases_add_resource),
        LEASES_METHOD("DeleteResource", leases_delete_resource),
        LEASES_METHOD("ListResources", leases_list_resources),
};

int leases_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "leases", leases_methods, ELEMENTSOF(leases_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
