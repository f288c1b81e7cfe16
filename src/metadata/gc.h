/* Garbage collection of metadata records, with containerd's reachability rules (metadata/gc.go):
 *
 * Roots, in every namespace:
 *   - leases not expired (label containerd.io/gc.expire, RFC 3339; an unparsable value is ignored) and
 *     everything they hold: content, snapshots, ingests. A lease labelled containerd.io/gc.flat holds its
 *     content and snapshots "flat": labels of what it holds are not followed (snapshot parents still are);
 *   - images: their target digest, and the gc.ref labels on the image;
 *   - ingests whose expiry is in the future;
 *   - content and snapshots labelled containerd.io/gc.root.
 * References:
 *   - containerd.io/gc.ref.content, or containerd.io/gc.ref.content.<x> / .../<x>, = <digest> (content in the
 *     same namespace), on images, content and snapshots;
 *   - containerd.io/gc.ref.snapshot.<snapshotter>[/<x>] = <key>, on the same;
 *   - a snapshot's parent; an ingest's expected (shared) digest.
 * Everything not reached is removed in one transaction: leases (expired ones), snapshot records, ingest
 * records and content records. The caller then deletes what the result lists from disk. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"

#define META_LABEL_GC_ROOT "containerd.io/gc.root"
#define META_LABEL_GC_REF_CONTENT "containerd.io/gc.ref.content"
#define META_LABEL_GC_REF_SNAPSHOT "containerd.io/gc.ref.snapshot."
#define META_LABEL_GC_EXPIRE "containerd.io/gc.expire"
#define META_LABEL_GC_FLAT "containerd.io/gc.flat"

typedef struct meta_gc_snapshot {
        char *ns;
        char *snapshotter;
        char *key;
        int64_t backend_id;
} meta_gc_snapshot;

typedef struct meta_gc_result {
        char **blobs; /* digests no namespace has a record of (nor expects) any more: delete the blobs */
        size_t n_blobs;
        meta_gc_snapshot *snapshots; /* removed snapshot records, children before parents: remove backends */
        size_t n_snapshots;
        char **ingests; /* backend refs of removed ingest records: abort those ingests */
        size_t n_ingests;
        size_t n_content_records; /* per-namespace content records removed */
        size_t n_leases;          /* (expired) leases removed */
} meta_gc_result;

void meta_gc_result_done(meta_gc_result *r);

/* Marks and sweeps in one write transaction (nested in the caller's if one is open). */
int meta_gc_collect(meta_db *db, meta_gc_result *ret, berr **err);
/* The same with an explicit "now" (ns since the epoch) for expiry decisions. */
int meta_gc_collect_at(meta_db *db, int64_t now_ns, meta_gc_result *ret, berr **err);
