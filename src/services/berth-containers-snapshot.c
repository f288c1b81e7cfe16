/* A container's rootfs snapshot (key = container id, parent = the image's top chain ID), made the way the snapshots
 * service makes one (record + directory in one transaction), minus the lease: the container record that is
 * created in the same outer transaction holds it for the garbage collector. */
#include <string.h>

#include "basic/strv.h"
#include "containerd/events/snapshot.pb-c.h"
#include "events/exchange.h"
#include "metadata/snapshots.h"
#include "services/berth-containers.h"
#include "services/snapshots-internal.h"
#include "snapshots/snapshots.h"

static int request(bc_service *s, const char *ns, const char *name, snapshot_request *r, berr **err) {
        const char *n = name && *name ? name : s->ctx->default_snapshotter;
        snapshotter *sn = service_snapshotter(s->ctx, n);
        if (!sn)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "snapshotter not loaded: %s", n ? n : "");
        *r = (snapshot_request) { .ns = ns, .name = snapshotter_name(sn), .sn = sn };
        return 0;
}

int bc_snapshot_prepare(bc_service *s, const char *ns, const char *sn_name, const char *key, const char *parent,
                        berth_mount **ret, size_t *ret_n, berr **err) {
        snapshot_request r;
        meta_snapshot snap = { 0 };
        _cleanup_strv_free_ char **parents = NULL;
        _cleanup_free_ char *id = NULL;
        size_t n_parents = 0;
        if (request(s, ns, sn_name, &r, err) < 0)
                return -1;
        if (meta_tx_begin(s->ctx->db, err) < 0)
                return -1;
        if (meta_snapshot_create(s->ctx->db, ns, r.name, key, parent, META_SNAPSHOT_ACTIVE, NULL, &snap, err) < 0) {
                if (parent && (*err)->code == BERR_NOT_FOUND)
                        berr_set(err, BERR_FAILED_PRECONDITION, 0,
                                 "the image is not unpacked in snapshotter %s (snapshot %s is missing): pull or "
                                 "import it again",
                                 r.name, parent);
                goto fail;
        }
        if (snapshot_parent_names(s->ctx, &r, key, &parents, &n_parents, err) < 0)
                goto fail;
        id = snapshot_backend_name(snap.backend_id);
        berr *e = NULL;
        if (snapshotter_prepare(r.sn, id, SNAPSHOT_KIND_ACTIVE, parents, n_parents, ret, ret_n, &e) < 0) {
                if (e->code != BERR_ALREADY_EXISTS) {
                        *err = e;
                        goto fail;
                }
                /* a leftover of a transaction that never committed (crash): replace it */
                berr_free(e);
                if (snapshotter_remove(r.sn, id, err) < 0 ||
                    snapshotter_prepare(r.sn, id, SNAPSHOT_KIND_ACTIVE, parents, n_parents, ret, ret_n, err) < 0)
                        goto fail;
        }
        if (meta_tx_commit(s->ctx->db, err) < 0) {
                berth_mounts_free(*ret, *ret_n);
                *ret = NULL;
                *ret_n = 0;
                snapshot_backend_release(s->ctx, r.sn, snap.backend_id);
                meta_snapshot_done(&snap);
                return -1;
        }
        meta_snapshot_done(&snap);
        Containerd__Events__SnapshotPrepare ev = CONTAINERD__EVENTS__SNAPSHOT_PREPARE__INIT;
        ev.key = (char *) key;
        ev.parent = (char *) (parent ? parent : "");
        event_publish(s->ctx->events, ns, "/snapshot/prepare", &ev.base, NULL);
        return 0;
fail:
        meta_tx_rollback(s->ctx->db);
        meta_snapshot_done(&snap);
        return -1;
}

int bc_snapshot_mounts(bc_service *s, const char *ns, const char *sn_name, const char *key, berth_mount **ret,
                       size_t *ret_n, berr **err) {
        snapshot_request r;
        meta_snapshot snap = { 0 };
        _cleanup_strv_free_ char **parents = NULL;
        size_t n_parents = 0;
        if (request(s, ns, sn_name, &r, err) < 0 ||
            meta_snapshot_get(s->ctx->db, ns, r.name, key, &snap, err) < 0)
                return -1;
        if (snapshot_parent_names(s->ctx, &r, key, &parents, &n_parents, err) < 0) {
                meta_snapshot_done(&snap);
                return -1;
        }
        _cleanup_free_ char *id = snapshot_backend_name(snap.backend_id);
        int rc = snapshotter_mounts(r.sn, id, (snapshot_kind) snap.kind, parents, n_parents, ret, ret_n, err);
        meta_snapshot_done(&snap);
        return rc;
}

int bc_snapshot_remove(bc_service *s, const char *ns, const char *sn_name, const char *key, berr **err) {
        snapshot_request r;
        meta_snapshot removed = { 0 };
        berr *e = NULL;
        if (request(s, ns, sn_name, &r, err) < 0)
                return -1;
        if (meta_snapshot_remove(s->ctx->db, ns, r.name, key, &removed, &e) < 0) {
                if (e->code == BERR_NOT_FOUND) {
                        berr_free(e);
                        return 0;
                }
                *err = e;
                return -1;
        }
        /* never called inside a transaction: the record is gone for good now */
        snapshot_backend_release(s->ctx, r.sn, removed.backend_id);
        meta_snapshot_done(&removed);
        Containerd__Events__SnapshotRemove ev = CONTAINERD__EVENTS__SNAPSHOT_REMOVE__INIT;
        ev.key = (char *) key;
        event_publish(s->ctx->events, ns, "/snapshot/remove", &ev.base, NULL);
        return 0;
}
