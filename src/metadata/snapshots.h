/* Snapshot records, keyed by (namespace, snapshotter, key). They are both containerd's metadata view of
 * snapshots and the snapshotters' own storage: backend_id (unique per snapshotter over all namespaces,
 * never reused) names the snapshot's directory, parent links form the chain a snapshotter stacks.
 *
 * Lease bookkeeping stays with the caller, in the same transaction: after create, hold
 * ("snapshots/<snapshotter>", key); after commit, hold the new name and release the old key; after remove,
 * release the key (meta_lease_hold / meta_lease_release). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

/* The numbers of containerd's snapshots.Kind and the snapshots API's Kind enum. */
typedef enum meta_snapshot_kind {
        META_SNAPSHOT_UNKNOWN = 0,
        META_SNAPSHOT_VIEW = 1,
        META_SNAPSHOT_ACTIVE = 2,
        META_SNAPSHOT_COMMITTED = 3,
} meta_snapshot_kind;

#define META_LABEL_SNAPSHOT_REF "containerd.io/snapshot.ref"

typedef struct meta_snapshot {
        char *snapshotter;
        char *key;    /* the name: an active/view key, or a committed name */
        char *parent; /* the parent's key, NULL for none */
        meta_snapshot_kind kind;
        int64_t backend_id;
        meta_labels labels;
        int64_t created_at; /* ns since the epoch */
        int64_t updated_at;
        int64_t size;   /* usage recorded at commit (bytes), 0 otherwise */
        int64_t inodes; /* likewise */
} meta_snapshot;

void meta_snapshot_done(meta_snapshot *s);
void meta_snapshots_free(meta_snapshot *v, size_t n);
/* "view", "active", "committed" or "unknown": what filters match on `kind`. */
const char *meta_snapshot_kind_name(meta_snapshot_kind kind);

/* Prepare/View: kind is META_SNAPSHOT_ACTIVE or META_SNAPSHOT_VIEW, parent NULL/"" or a committed snapshot.
 * Allocates a new backend id. Errors: ALREADY_EXISTS `snapshot "k": already exists` (or `target snapshot
 * "t": already exists` when the containerd.io/snapshot.ref label names an existing key), NOT_FOUND `parent
 * snapshot p does not exist: not found`, INVALID_ARGUMENT `parent "p" is not committed snapshot`. */
int meta_snapshot_create(meta_db *db, const char *ns, const char *snapshotter, const char *key, const char *parent,
                         meta_snapshot_kind kind, const meta_labels *labels, meta_snapshot *ret, berr **err);
/* NOT_FOUND `snapshot k does not exist: not found`. */
int meta_snapshot_get(meta_db *db, const char *ns, const char *snapshotter, const char *key, meta_snapshot *ret,
                      berr **err);
/* Sorted by key. Filter fields: kind, name, parent, labels.<k>. */
int meta_snapshot_list(meta_db *db, const char *ns, const char *snapshotter, const char *const *filters,
                       size_t n_filters, meta_snapshot **ret, size_t *ret_n, berr **err);
/* Labels only: paths "labels", "labels.<k>"; none replaces them. in->key names the snapshot. */
int meta_snapshot_update(meta_db *db, const char *ns, const char *snapshotter, const meta_snapshot *in,
                         const char *const *paths, size_t n_paths, meta_snapshot *ret, berr **err);
/* Turns active `key` into committed `name`, keeping its backend id and parent; labels are replaced by the
 * given ones, times reset, usage recorded. ALREADY_EXISTS `snapshot "name": already exists`, NOT_FOUND
 * `snapshot key does not exist: not found`, FAILED_PRECONDITION `snapshot "key" is not active`. */
int meta_snapshot_commit(meta_db *db, const char *ns, const char *snapshotter, const char *name, const char *key,
                         const meta_labels *labels, int64_t size, int64_t inodes, meta_snapshot *ret, berr **err);
/* Deletes the record; ret_removed (may be NULL) gets it, so the snapshotter can remove backend_id's
 * directory once the transaction committed. FAILED_PRECONDITION `cannot remove snapshot with child`. */
int meta_snapshot_remove(meta_db *db, const char *ns, const char *snapshotter, const char *key,
                         meta_snapshot *ret_removed, berr **err);
/* The backend ids of key's ancestors, nearest first (overlay's lowerdir order). */
int meta_snapshot_parent_ids(meta_db *db, const char *ns, const char *snapshotter, const char *key,
                             int64_t **ret, size_t *ret_n, berr **err);
/* Whether any namespace has a record with this backend id (the snapshotter removes stray directories). */
int meta_snapshot_backend_in_use(meta_db *db, const char *snapshotter, int64_t backend_id, bool *ret, berr **err);

/* The backend ids (decimal, as the snapshotter names its directories) of every snapshot record of snapshotter,
 * in every namespace: what the snapshotter's Cleanup keeps. One query; *ret is a strv (NULL when none). */
int meta_snapshot_backend_ids(meta_db *db, const char *snapshotter, char ***ret, berr **err);
