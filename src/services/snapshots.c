/* containerd.services.snapshots.v1.Snapshots: snapshot records in the metadata store (namespaced, leased)
 * over the snapshotters' directories, named by the records' backend ids. Every change is one metadata
 * transaction around the directory work, so a crash leaves the old or the new state: a directory made for a
 * record that never committed is removed (or found and replaced when its id comes round again), and one
 * whose record was removed goes once the removal committed. */
#include <string.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/common.h"
#include "containerd/events/snapshot.pb-c.h"
#include "events/exchange.h"
#include "services/snapshots-internal.h"
#include "services/snapshots-mounts.h"

/* Makes the snapshot's directory. The id was just allocated in our write transaction, so a directory that
 * already has it is the leftover of a transaction that never committed (a crash): replace it. */
static int prepare_backend(snapshotter *sn, const char *id, meta_snapshot_kind kind, char *const *parents,
                           size_t n_parents, berth_mount **ret, size_t *ret_n, berr **err) {
        berr *e = NULL;
        if (snapshotter_prepare(sn, id, (snapshot_kind) kind, parents, n_parents, ret, ret_n, &e) == 0)
                return 0;
        if (e->code != BERR_ALREADY_EXISTS) {
                *err = e;
                return -1;
        }
        log_warn("snapshotter %s: removing stale snapshot directory %s", snapshotter_name(sn), id);
        berr_free(e);
        if (snapshotter_remove(sn, id, err) < 0)
                return -1;
        return snapshotter_prepare(sn, id, (snapshot_kind) kind, parents, n_parents, ret, ret_n, err);
}

/* Prepare and View: the record and the lease in one transaction with the directory. */
static int create_snapshot(service_context *ctx, const snapshot_request *r, const char *key, const char *parent,
                           meta_snapshot_kind kind, const meta_labels *labels, berth_mount **ret_mounts,
                           size_t *ret_n, berr **err) {
        meta_snapshot s = { 0 };
        _cleanup_strv_free_ char **parents = NULL;
        _cleanup_free_ char *id = NULL, *lease_type = snapshot_lease_type(r);
        size_t n_parents = 0;
        bool made = false;

        if (meta_tx_begin(ctx->db, err) < 0)
                return -1;
        if (meta_snapshot_create(ctx->db, r->ns, r->name, key, parent, kind, labels, &s, err) < 0 ||
            meta_lease_hold(ctx->db, r->ns, r->lease, lease_type, key, err) < 0 ||
            snapshot_parent_names(ctx, r, key, &parents, &n_parents, err) < 0)
                goto fail;
        id = snapshot_backend_name(s.backend_id);
        if (prepare_backend(r->sn, id, kind, parents, n_parents, ret_mounts, ret_n, err) < 0)
                goto fail;
        made = true;
        if (meta_tx_commit(ctx->db, err) < 0) {
                berth_mounts_free(*ret_mounts, *ret_n);
                *ret_mounts = NULL;
                *ret_n = 0;
                goto fail;
        }
        meta_snapshot_done(&s);
        return 0;
fail:
        if (meta_tx_depth(ctx->db) > 0)
                meta_tx_rollback(ctx->db);
        if (made)
                snapshot_backend_release(ctx, r->sn, s.backend_id);
        meta_snapshot_done(&s);
        return -1;
}

/* Prepare and View requests and responses share their layout (fields 1-4; mounts = 1). */
static void handle_create(grpc_call *call, service_context *ctx,
                          const Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *req,
                          meta_snapshot_kind kind, const ProtobufCMessageDescriptor *resp_desc) {
        snapshot_request r;
        meta_labels labels = { 0 };
        berth_mount *mounts = NULL;
        size_t n = 0;
        berr *e = NULL;
        service_map_to_labels((void *const *) req->labels, req->n_labels, &labels);
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0 ||
            create_snapshot(ctx, &r, req->key, req->parent, kind, &labels, &mounts, &n, &e) < 0) {
                meta_labels_done(&labels);
                service_finish_error(call, e);
                return;
        }
        meta_labels_done(&labels);
        if (kind == META_SNAPSHOT_ACTIVE) {
                Containerd__Events__SnapshotPrepare ev = CONTAINERD__EVENTS__SNAPSHOT_PREPARE__INIT;
                ev.key = req->key;
                ev.parent = req->parent;
                event_publish(ctx->events, r.ns, "/snapshot/prepare", &ev.base, NULL);
        }
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse resp;
        protobuf_c_message_init(resp_desc, &resp);
        resp.mounts = service_mounts_to_pb(mounts, n);
        resp.n_mounts = n;
        grpc_call_reply(call, &resp.base);
        service_mounts_pb_free(resp.mounts, n);
        berth_mounts_free(mounts, n);
}

static void snapshots_prepare(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        _cleanup_pb_ Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__prepare_snapshot_request__descriptor, msg, len);
        if (req)
                handle_create(call, userdata, req, META_SNAPSHOT_ACTIVE,
                              &containerd__services__snapshots__v1__prepare_snapshot_response__descriptor);
}

static void snapshots_view(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        /* ViewSnapshotRequest has the same fields as PrepareSnapshotRequest: decode it as one. */
        _cleanup_pb_ Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__prepare_snapshot_request__descriptor, msg, len);
        if (req)
                handle_create(call, userdata, req, META_SNAPSHOT_VIEW,
                              &containerd__services__snapshots__v1__view_snapshot_response__descriptor);
}

static void snapshots_mounts(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__MountsRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__mounts_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot s = { 0 };
        _cleanup_strv_free_ char **parents = NULL;
        size_t n_parents = 0, n = 0;
        berth_mount *mounts = NULL;
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0 ||
            meta_snapshot_get(ctx->db, r.ns, r.name, req->key, &s, &e) < 0 ||
            snapshot_parent_names(ctx, &r, req->key, &parents, &n_parents, &e) < 0) {
                meta_snapshot_done(&s);
                service_finish_error(call, e);
                return;
        }
        _cleanup_free_ char *id = snapshot_backend_name(s.backend_id);
        int rc = snapshotter_mounts(r.sn, id, (snapshot_kind) s.kind, parents, n_parents, &mounts, &n, &e);
        meta_snapshot_done(&s);
        if (rc < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Snapshots__V1__MountsResponse resp =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;
        resp.mounts = service_mounts_to_pb(mounts, n);
        resp.n_mounts = n;
        grpc_call_reply(call, &resp.base);
        service_mounts_pb_free(resp.mounts, n);
        berth_mounts_free(mounts, n);
}

/* Active `key` becomes committed `name`: the usage is measured and the overlay work dir dropped inside the
 * transaction that renames the record and moves the lease from key to name. */
static int commit_snapshot(service_context *ctx, const snapshot_request *r, const char *name, const char *key,
                           const meta_labels *labels, berr **err) {
        meta_snapshot s = { 0 }, clash = { 0 };
        _cleanup_free_ char *lease_type = snapshot_lease_type(r), *id = NULL;
        if (meta_tx_begin(ctx->db, err) < 0)
                return -1;
        /* Let the metadata layer word every refusal (name taken, key missing or not active) before the
         * directory is touched: commit with no usage, which fails exactly as the real commit would. */
        bool plain = name && *name && meta_snapshot_get(ctx->db, r->ns, r->name, name, &clash, NULL) < 0 &&
                     meta_snapshot_get(ctx->db, r->ns, r->name, key, &s, NULL) == 0 &&
                     s.kind == META_SNAPSHOT_ACTIVE;
        meta_snapshot_done(&clash);
        if (!plain) {
                if (meta_snapshot_commit(ctx->db, r->ns, r->name, name, key, labels, 0, 0, NULL, err) == 0)
                        berr_set(err, BERR_INTERNAL, 0, "snapshot %s cannot be committed", key);
                goto fail;
        }
        id = snapshot_backend_name(s.backend_id);
        snapshot_usage usage = { 0 };
        /* the lease first: a missing one must fail before the directory changes */
        if (meta_lease_hold(ctx->db, r->ns, r->lease, lease_type, name, err) < 0 ||
            snapshotter_commit(r->sn, id, &usage, err) < 0 ||
            meta_snapshot_commit(ctx->db, r->ns, r->name, name, key, labels, usage.size, usage.inodes, NULL,
                                 err) < 0 ||
            meta_lease_release(ctx->db, r->ns, r->lease, lease_type, key, err) < 0)
                goto fail;
        meta_snapshot_done(&s);
        if (meta_tx_commit(ctx->db, err) < 0) {
                log_error("snapshot %s: commit to %s failed after its directory was committed: %s", key, name,
                          (*err)->msg);
                return -1;
        }
        return 0;
fail:
        meta_snapshot_done(&s);
        meta_tx_rollback(ctx->db);
        return -1;
}

static void snapshots_commit(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__CommitSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__commit_snapshot_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_labels labels = { 0 };
        berr *e = NULL;
        service_map_to_labels((void *const *) req->labels, req->n_labels, &labels);
        int rc = snapshot_request_init(call, ctx, req->snapshotter, &r, &e);
        if (rc == 0)
                rc = commit_snapshot(ctx, &r, req->name, req->key, &labels, &e);
        meta_labels_done(&labels);
        if (rc < 0) {
                service_finish_error(call, e);
                return;
        }
        Containerd__Events__SnapshotCommit ev = CONTAINERD__EVENTS__SNAPSHOT_COMMIT__INIT;
        ev.key = req->key;
        ev.name = req->name;
        event_publish(ctx->events, r.ns, "/snapshot/commit", &ev.base, NULL);
        service_reply_empty(call);
}

static void snapshots_remove(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__remove_snapshot_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot removed = { 0 };
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        _cleanup_free_ char *lease_type = snapshot_lease_type(&r);
        if (meta_tx_begin(ctx->db, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        if (meta_snapshot_remove(ctx->db, r.ns, r.name, req->key, &removed, &e) < 0 ||
            meta_lease_release(ctx->db, r.ns, r.lease, lease_type, req->key, &e) < 0) {
                meta_tx_rollback(ctx->db);
                meta_snapshot_done(&removed);
                service_finish_error(call, e);
                return;
        }
        if (meta_tx_commit(ctx->db, &e) < 0) {
                meta_snapshot_done(&removed);
                service_finish_error(call, e);
                return;
        }
        snapshot_backend_release(ctx, r.sn, removed.backend_id);
        meta_snapshot_done(&removed);
        Containerd__Events__SnapshotRemove ev = CONTAINERD__EVENTS__SNAPSHOT_REMOVE__INIT;
        ev.key = req->key;
        event_publish(ctx->events, r.ns, "/snapshot/remove", &ev.base, NULL);
        service_reply_empty(call);
}

#define SN_METHOD(name, kind_, fn) \
        { .path = "/containerd.services.snapshots.v1.Snapshots/" name, .kind = kind_, .on_message = fn }
static const grpc_method snapshots_methods[] = {
        SN_METHOD("Prepare", GRPC_UNARY, snapshots_prepare),
        SN_METHOD("View", GRPC_UNARY, snapshots_view),
        SN_METHOD("Mounts", GRPC_UNARY, snapshots_mounts),
        SN_METHOD("Commit", GRPC_UNARY, snapshots_commit),
        SN_METHOD("Remove", GRPC_UNARY, snapshots_remove),
        SN_METHOD("Stat", GRPC_UNARY, snapshots_stat),
        SN_METHOD("Update", GRPC_UNARY, snapshots_update),
        SN_METHOD("List", GRPC_SERVER_STREAMING, snapshots_list),
        SN_METHOD("Usage", GRPC_UNARY, snapshots_usage),
        SN_METHOD("Cleanup", GRPC_UNARY, snapshots_cleanup),
};

int snapshots_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "snapshots", snapshots_methods, ELEMENTSOF(snapshots_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.service.v1");
        return 0;
}
