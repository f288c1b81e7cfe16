/* The snapshots service's read side and housekeeping: Stat, Update (labels), List, Usage, Cleanup. */
#include <string.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/namespaces.h"
#include "services/common.h"
#include "services/snapshots-internal.h"

/* containerd's Snapshots.List sends its infos in blocks of this many. */
#define LIST_BATCH 100

static void reply_info(grpc_call *call, const ProtobufCMessageDescriptor *resp_desc, const meta_snapshot *s) {
        /* Stat and Update responses are both `Info info = 1`. */
        Containerd__Services__Snapshots__V1__StatSnapshotResponse resp;
        protobuf_c_message_init(resp_desc, &resp);
        snapshot_info_pb m;
        snapshot_info_pb_init(&m, s);
        resp.info = &m.info;
        grpc_call_reply(call, &resp.base);
        snapshot_info_pb_done(&m);
}

void snapshots_stat(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__StatSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__stat_snapshot_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot s = { 0 };
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0 ||
            meta_snapshot_get(ctx->db, r.ns, r.name, req->key, &s, &e) < 0) {
                meta_snapshot_done(&s);
                service_finish_error(call, e);
                return;
        }
        reply_info(call, &containerd__services__snapshots__v1__stat_snapshot_response__descriptor, &s);
        meta_snapshot_done(&s);
}

void snapshots_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__update_snapshot_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot in = { 0 }, out = { 0 };
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        /* containerd answers a missing info with a bare invalid argument */
        if (!req->info || !req->info->name || !*req->info->name) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "invalid argument");
                return;
        }
        in.key = req->info->name;
        service_map_to_labels((void *const *) req->info->labels, req->info->n_labels, &in.labels);
        const char *const *paths = req->update_mask ? (const char *const *) req->update_mask->paths : NULL;
        size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
        int rc = meta_snapshot_update(ctx->db, r.ns, r.name, &in, paths, n_paths, &out, &e);
        meta_labels_done(&in.labels);
        if (rc < 0) {
                service_finish_error(call, e);
                return;
        }
        reply_info(call, &containerd__services__snapshots__v1__update_snapshot_response__descriptor, &out);
        meta_snapshot_done(&out);
}

static void send_batch(grpc_call *call, snapshot_info_pb *batch, size_t n) {
        Containerd__Services__Snapshots__V1__Info *ptrs[LIST_BATCH];
        for (size_t i = 0; i < n; i++)
                ptrs[i] = &batch[i].info;
        Containerd__Services__Snapshots__V1__ListSnapshotsResponse resp =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_RESPONSE__INIT;
        resp.info = ptrs;
        resp.n_info = n;
        (void) grpc_call_send(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                snapshot_info_pb_done(&batch[i]);
}

void snapshots_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__ListSnapshotsRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__list_snapshots_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0 ||
            meta_snapshot_list(ctx->db, r.ns, r.name, (const char *const *) req->filters, req->n_filters, &list, &n,
                               &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        snapshot_info_pb batch[LIST_BATCH];
        size_t filled = 0;
        for (size_t i = 0; i < n; i++) {
                snapshot_info_pb_init(&batch[filled++], &list[i]);
                if (filled == LIST_BATCH) {
                        send_batch(call, batch, filled);
                        filled = 0;
                }
        }
        if (filled > 0)
                send_batch(call, batch, filled);
        meta_snapshots_free(list, n);
        grpc_call_finish(call, BERR_OK, "%s", "");
}

void snapshots_usage(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__UsageRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__usage_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        meta_snapshot s = { 0 };
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0 ||
            meta_snapshot_get(ctx->db, r.ns, r.name, req->key, &s, &e) < 0) {
                meta_snapshot_done(&s);
                service_finish_error(call, e);
                return;
        }
        /* As containerd's snapshotters: committed snapshots report what was measured at commit, active ones
         * are measured now (their files change), views own nothing. */
        snapshot_usage u = { .size = s.size, .inodes = s.inodes };
        if (s.kind == META_SNAPSHOT_ACTIVE) {
                _cleanup_free_ char *id = snapshot_backend_name(s.backend_id);
                if (snapshotter_usage(r.sn, id, &u, &e) < 0) {
                        meta_snapshot_done(&s);
                        service_finish_error(call, e);
                        return;
                }
        }
        meta_snapshot_done(&s);
        Containerd__Services__Snapshots__V1__UsageResponse resp =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
        resp.size = u.size;
        resp.inodes = u.inodes;
        grpc_call_reply(call, &resp.base);
}

/* The backend ids every namespace's records of this snapshotter use. */
static int live_backend_ids(service_context *ctx, const snapshot_request *r, char ***ret, size_t *ret_n,
                            berr **err) {
        meta_namespace *nss = NULL;
        size_t n_ns = 0;
        _cleanup_strv_free_ char **ids = xcalloc(1, sizeof(char *));
        if (meta_namespace_list(ctx->db, NULL, 0, &nss, &n_ns, err) < 0)
                return -1;
        int rc = 0;
        for (size_t i = 0; i < n_ns && rc == 0; i++) {
                meta_snapshot *list = NULL;
                size_t n = 0;
                rc = meta_snapshot_list(ctx->db, nss[i].name, r->name, NULL, 0, &list, &n, err);
                for (size_t j = 0; rc == 0 && j < n; j++)
                        strv_push(&ids, snapshot_backend_name(list[j].backend_id));
                meta_snapshots_free(list, n);
        }
        meta_namespaces_free(nss, n_ns);
        if (rc < 0)
                return -1;
        *ret_n = strv_length(ids);
        *ret = TAKE_PTR(ids);
        return 0;
}

void snapshots_cleanup(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Snapshots__V1__CleanupRequest *req = service_decode(
                call, &containerd__services__snapshots__v1__cleanup_request__descriptor, msg, len);
        if (!req)
                return;
        snapshot_request r;
        _cleanup_strv_free_ char **ids = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (snapshot_request_init(call, ctx, req->snapshotter, &r, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        /* A write transaction keeps other connections (workers unpacking) from creating a record whose
         * directory we would take for an orphan: their directory and record appear together once we are done. */
        if (meta_tx_begin(ctx->db, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        int rc = live_backend_ids(ctx, &r, &ids, &n, &e);
        if (rc == 0)
                rc = snapshotter_cleanup(r.sn, ids, n, &e);
        meta_tx_rollback(ctx->db);
        if (rc < 0) {
                service_finish_error(call, e);
                return;
        }
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}
