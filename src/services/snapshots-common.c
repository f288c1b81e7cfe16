/* Helpers shared by the snapshots service's handlers. */
#include <inttypes.h>
#include <string.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "services/common.h"
#include "services/gc.h"
#include "services/snapshots-internal.h"

int snapshot_request_init(grpc_call *call, service_context *ctx, const char *requested,
                          snapshot_request *ret, berr **err) {
        const char *ns = service_namespace(call, err);
        if (!ns)
                return -1;
        snapshotter *sn = service_snapshotter(ctx, requested);
        if (!sn)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "snapshotter not loaded: %s",
                                requested && *requested ? requested : (ctx->default_snapshotter ?: ""));
        const char *lease = grpc_call_metadata(call, SNAPSHOTS_LEASE_HEADER);
        *ret = (snapshot_request) {
                .ns = ns,
                .name = snapshotter_name(sn),
                .sn = sn,
                .lease = lease && *lease ? lease : NULL,
        };
        return 0;
}

char *snapshot_lease_type(const snapshot_request *r) {
        return xasprintf("snapshots/%s", r->name);
}

char *snapshot_backend_name(int64_t backend_id) {
        return xasprintf("%" PRId64, backend_id);
}

int snapshot_parent_names(service_context *ctx, const snapshot_request *r, const char *key, char ***ret,
                          size_t *ret_n, berr **err) {
        _cleanup_free_ int64_t *ids = NULL;
        size_t n = 0;
        if (meta_snapshot_parent_ids(ctx->db, r->ns, r->name, key, &ids, &n, err) < 0)
                return -1;
        char **names = xcalloc(n + 1, sizeof *names);
        for (size_t i = 0; i < n; i++)
                names[i] = snapshot_backend_name(ids[i]);
        *ret = names;
        *ret_n = n;
        return 0;
}

void snapshot_info_pb_init(snapshot_info_pb *m, const meta_snapshot *s) {
        containerd__services__snapshots__v1__info__init(&m->info);
        m->info.name = s->key;
        m->info.parent = s->parent ? s->parent : (char *) "";
        /* containerd's fromKind: anything not active or a view is reported as committed */
        switch (s->kind) {
        case META_SNAPSHOT_ACTIVE:
                m->info.kind = CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE;
                break;
        case META_SNAPSHOT_VIEW:
                m->info.kind = CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__VIEW;
                break;
        default:
                m->info.kind = CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED;
                break;
        }
        service_timestamp_set(&m->created_at, s->created_at);
        service_timestamp_set(&m->updated_at, s->updated_at);
        m->info.created_at = &m->created_at;
        m->info.updated_at = &m->updated_at;
        m->info.labels = service_map_from_labels(
                &s->labels, &containerd__services__snapshots__v1__info__labels_entry__descriptor, &m->info.n_labels);
}

void snapshot_info_pb_done(snapshot_info_pb *m) {
        free(m->info.labels);
        m->info.labels = NULL;
        m->info.n_labels = 0;
}

void snapshot_backend_release(service_context *ctx, snapshotter *sn, int64_t backend_id) {
        _cleanup_free_ char *id = snapshot_backend_name(backend_id);
        _cleanup_berr_ berr *e = NULL;
        if (snapshotter_remove(sn, id, &e) < 0)
                log_warn("snapshotter %s: cannot remove snapshot %s (left for cleanup): %s", snapshotter_name(sn),
                         id, e->msg);
        /* As containerd marks the snapshotter dirty on Remove: the parent chain may now be unreferenced. */
        gc_schedule(ctx);
}
