/* Snapshotters: the filesystem half of containerd's overlayfs and native snapshotters. The snapshot records
 * (key -> id, parent, kind, labels) live in SQLite (src/metadata); here a snapshot is just a backend id (a
 * plain name such as "17") and the caller hands in the parent chain as ids, nearest parent first.
 *
 * Layout, below the snapshotter root (the daemon uses <root>/snapshots/<name>):
 *   snapshots/<id>/fs     the snapshot's files (overlay: the upper dir; native: a full copy)
 *   snapshots/<id>/work   overlay work dir of active snapshots
 * Creation goes through snapshots/new-XXXXXX and a rename, so a crash never leaves a half-made <id>. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "basic/mount.h"

/* containerd's snapshots.Kind values (and the protobuf enum's). */
typedef enum snapshot_kind {
        SNAPSHOT_KIND_UNKNOWN = 0,
        SNAPSHOT_KIND_VIEW = 1,
        SNAPSHOT_KIND_ACTIVE = 2,
        SNAPSHOT_KIND_COMMITTED = 3,
} snapshot_kind;

typedef struct snapshot_usage {
        int64_t size;   /* bytes allocated (st_blocks * 512), each inode once */
        int64_t inodes; /* distinct inodes, the root dir included */
} snapshot_usage;

typedef struct snapshotter snapshotter;

/* name: "overlayfs" or "native" (BERR_NOT_FOUND otherwise). Creates root/snapshots (0700). overlayfs first
 * checks that the backing filesystem has d_type and that an overlay with two lowerdirs mounts there
 * (BERR_UNIMPLEMENTED with the reason if not, so the daemon can fall back to native). */
int snapshotter_open(const char *name, const char *root, snapshotter **ret, berr **err);
/* The same, remembering a successful overlayfs check in the file check_cache (for the daemon: in its runtime state
 * dir), keyed on the boot, the kernel, root's filesystem and the user namespace: while all of them (and the
 * overlay module) stay, the next open skips the test mount (~2 ms of every daemon start). A failed check is never
 * remembered and removes the file. check_cache NULL: always check. native ignores it. */
int snapshotter_open_cached(const char *name, const char *root, const char *check_cache, snapshotter **ret,
                            berr **err);
snapshotter *snapshotter_free(snapshotter *s);
static inline void snapshotter_freep(snapshotter **s) {
        *s = snapshotter_free(*s);
}
const char *snapshotter_name(const snapshotter *s);
const char *snapshotter_root(const snapshotter *s);
/* Capabilities for introspection (NULL-terminated, never NULL). containerd 1.6 reports none for either. */
char *const *snapshotter_capabilities(const snapshotter *s);

/* The same check snapshotter_open("overlayfs") does, on any directory (a temp dir is made inside it). */
int overlay_supported(const char *dir, berr **err);

/* A valid backend id: non-empty, [A-Za-z0-9._-], not "." or "..", not starting with "new-" or "rm-". */
bool snapshot_id_is_valid(const char *id);

/* Creates snapshot id (kind ACTIVE or VIEW) on top of parents (nearest first, all committed) and returns its
 * mounts (free with berth_mounts_free). BERR_ALREADY_EXISTS if the id's directory exists. overlayfs: an empty
 * upper dir owned like the nearest parent's; native: active snapshots get a copy of the nearest parent
 * (owners, modes, xattrs, hardlinks, devices, times), views of a parent mount that parent read-only. */
int snapshotter_prepare(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                        size_t n_parents, berth_mount **ret_mounts, size_t *ret_n, berr **err);
/* The mounts of an existing snapshot (the Mounts RPC), exactly as prepare returned them. */
int snapshotter_mounts(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                       size_t n_parents, berth_mount **ret_mounts, size_t *ret_n, berr **err);
/* Turns active snapshot id into a committed one: measures its usage (ret_usage may be NULL) and drops the
 * overlay work dir. Renaming key -> name is the metadata layer's job; the id stays. */
int snapshotter_commit(snapshotter *s, const char *id, snapshot_usage *ret_usage, berr **err);
/* Removes the snapshot's directory (renamed to rm-<id> first, then deleted). A missing directory is fine.
 * Never descends into mounts: a still-mounted snapshot fails with BERR_FAILED_PRECONDITION. */
int snapshotter_remove(snapshotter *s, const char *id, berr **err);
/* Disk usage of the snapshot's own files (du of <id>/fs); zero if it has no directory. */
int snapshotter_usage(snapshotter *s, const char *id, snapshot_usage *ret, berr **err);
/* "<root>/snapshots/<id>/fs". */
char *snapshotter_fs_path(const snapshotter *s, const char *id);
/* Removes every directory under snapshots/ whose name is not in live_ids (leftover new-*, rm-*, orphans),
 * like containerd's Cleanup. Mounted ones are skipped with a warning. */
int snapshotter_cleanup(snapshotter *s, char *const *live_ids, size_t n_live, berr **err);

void berth_mounts_free(berth_mount *mounts, size_t n);

/* Disk usage of a tree, containerd's fs.DiskUsage (st_blocks*512 per distinct inode). */
int disk_usage(const char *path, snapshot_usage *ret, berr **err);
/* Copies the contents and attributes of directory src into existing directory dst (containerd's
 * fs.CopyDir): owners, modes, times, xattrs (failures to copy an xattr are logged and ignored), hardlinks
 * within the tree kept as hardlinks, symlinks as they are, device nodes, fifos and sockets recreated. */
int copy_tree(const char *src, const char *dst, berr **err);
