/* The native snapshotter (containerd's snapshots/native): no overlay, every active snapshot is a full copy of its
 * parent and is bind-mounted. Works on any filesystem, at the cost of space and prepare time. */
#include <sys/stat.h>

#include "basic/fileio.h"
#include "snapshots/snapshotter-internal.h"

/* A view of a parent simply mounts the parent read-only; nothing to create. */
static bool native_needs_dir(snapshot_kind kind, size_t n_parents) {
        return kind == SNAPSHOT_KIND_ACTIVE || n_parents == 0;
}

static int native_populate(snapshotter *s, const char *td, snapshot_kind kind, char *const *parent_ids,
                           size_t n_parents, berr **err) {
        _cleanup_free_ char *fs = xasprintf("%s/fs", td);
        if (mkdir(fs, 0755) < 0)
                return berr_errno(err, errno, "mkdir %s", fs);
        if (n_parents == 0)
                return 0;
        _cleanup_free_ char *pfs = snapshot_path(s, parent_ids[0], "fs");
        if (copy_tree(pfs, fs, err) < 0)
                return berr_wrap(err, "copying of parent failed");
        return 0;
}

static int native_mounts(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                         size_t n_parents, berth_mount **ret, size_t *ret_n, berr **err) {
        bool own = n_parents == 0 || kind == SNAPSHOT_KIND_ACTIVE;
        _cleanup_free_ char *source = snapshot_path(s, own ? id : parent_ids[0], "fs");
        const char *const opts[] = { "rbind", kind == SNAPSHOT_KIND_VIEW ? "ro" : "rw", NULL };
        berth_mount *m = xcalloc(1, sizeof *m);
        mount_fill(m, "bind", source, opts);
        *ret = m;
        *ret_n = 1;
        return 0;
}

const snapshotter_ops native_ops = {
        .name = "native",
        .needs_dir = native_needs_dir,
        .populate = native_populate,
        .mounts = native_mounts,
};
