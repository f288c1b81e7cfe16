/* Storing images the way containerd's client does it, without going through the gRPC services: blobs into the
 * content store with their per-namespace records and gc.ref labels, layers unpacked into snapshots named by chain
 * ID, everything held by one lease while it is in flight. Pull and import both build on this, so `ctr images ls`,
 * `ctr content ls`, `ctr snapshots ls` and the garbage collector see exactly the records a containerd client leaves:
 *
 *   content  index    containerd.io/gc.ref.content.m.<i> = manifest digests (all entries, as SetChildrenLabels)
 *            manifest containerd.io/gc.ref.content.config = config, containerd.io/gc.ref.content.l.<i> = layers
 *            config   containerd.io/gc.ref.snapshot.<snapshotter> = top chain ID (after unpack)
 *            layer    containerd.io/uncompressed = diff ID (after unpack)
 *            (pulled blobs also containerd.io/distribution.source.<host> = <repository>)
 *   snapshot active "extract-<unique> <chainID>" labelled containerd.io/snapshot.ref = chainID, committed as
 *            chainID with the same labels; parent = the previous chain ID.
 *
 * Everything here blocks (disk, SQLite): call it from worker threads, each with its own meta_db. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "content/content.h"
#include "images/apply.h"
#include "images/manifest.h"
#include "metadata/metadata.h"
#include "snapshots/snapshots.h"

#define UNPACK_LABEL_UNCOMPRESSED "containerd.io/uncompressed"
#define UNPACK_LABEL_DISTRIBUTION_SOURCE "containerd.io/distribution.source."
#define UNPACK_LABEL_IMAGE_NAME "io.containerd.image.name"
#define UNPACK_LABEL_REF_NAME "org.opencontainers.image.ref.name"
#define UNPACK_LEASE_EXPIRY_NS (3600LL * 1000000000) /* a pull's lease outlives a crashed daemon by an hour */

/* Where and for whom an operation stores: not owned. */
typedef struct unpack_env {
        meta_db *db;               /* this thread's connection */
        content_store *content;
        const char *ns;
        const char *lease;         /* holds everything created; NULL: none */
        snapshotter *sn;           /* NULL: do not unpack */
        atomic_bool *cancel;       /* set from another thread: stop at the next check (NULL: never) */
        /* Held from just before a blob is published until its content record is committed, so the garbage
         * collector's sweep never sees it unrecorded (services/gc.h gc_content_lock); NULL: none. */
        void (*content_lock)(void);
        void (*content_unlock)(void);
} unpack_env;

/* BERR_CANCELED "context canceled" once env->cancel is set. */
int unpack_check_cancel(const unpack_env *env, berr **err);

/* Creates a lease for one operation with containerd.io/gc.expire = now + UNPACK_LEASE_EXPIRY_NS; *ret_id is a new
 * "berth-<what>-<random>" id. */
int unpack_lease_create(meta_db *db, const char *ns, const char *what, char **ret_id, berr **err);

/* containerd's remotes.MakeRefKey: "manifest-", "index-", "layer-", "config-" or "unknown-" + digest. */
char *unpack_ingest_ref(const char *media_type, const char *digest);

/* Whether the namespace can use the blob: it has a record and the blob is on disk. A blob on disk without a record
 * in this namespace (another namespace pulled it) gets its record (and the lease) here and counts as present. */
int unpack_content_present(const unpack_env *env, const char *digest, int64_t size, bool *ret, berr **err);
/* Records a committed blob in the namespace (ALREADY_EXISTS is fine: the labels are merged in instead), holds it
 * in the lease and forgets the ingest `ref` (may be NULL). labels may be NULL. */
int unpack_content_record(const unpack_env *env, const char *digest, int64_t size, const meta_labels *labels,
                          const char *ref, berr **err);
/* Sets (merges) labels on an existing record, as content Update with "labels.<k>" paths. */
int unpack_content_label(const unpack_env *env, const char *digest, const meta_labels *labels, berr **err);
/* Writes a small blob under ref and records it (exists already: just recorded). */
int unpack_content_put(const unpack_env *env, const char *ref, const char *digest, const void *buf, size_t len,
                       const meta_labels *labels, berr **err);
/* Reads a blob of at most max bytes into memory (NUL-terminated). */
int unpack_content_read(const unpack_env *env, const char *digest, size_t max, char **ret, size_t *ret_len,
                        berr **err);
/* Opens (resuming) the content writer for an ingest: the ingest record (in the lease) maps ref to the store's
 * backend ref. A writer locked by another pull is waited for (polling, cancellable); if the blob got committed
 * meanwhile, ALREADY_EXISTS. */
int unpack_writer_open(const unpack_env *env, const char *ref, const char *digest, int64_t size,
                       content_writer **ret, berr **err);
/* Commits the writer (size and digest verified) and records the blob (unpack_content_record). A blob that
 * another writer committed first counts as success. The writer is closed and freed. */
int unpack_writer_commit(const unpack_env *env, content_writer *w, const char *ref, const char *digest,
                         int64_t size, const meta_labels *labels, berr **err);

/* The gc.ref labels a parent carries for its children, numbered as containerd's SetChildrenMappedLabels. */
void unpack_children_labels(const oci_descriptor *children, size_t n, meta_labels *ret);
/* "containerd.io/distribution.source.<hostname>" = repository, or nothing if it would be too long. */
void unpack_distribution_label(const char *domain, const char *repository, meta_labels *ret);

/* Chain IDs of the diff IDs (identity.ChainIDs): ret[i] = sha256(ret[i-1] + " " + diff_ids[i]). Free with
 * strv_free. */
char **unpack_chain_ids(char *const *diff_ids, size_t n);

/* One layer being unpacked into a new active snapshot. */
typedef struct unpack_layer {
        char *key;      /* "extract-<unique> <chainID>" */
        char *chain_id;
        char *parent;   /* chain ID of the parent, NULL for the first layer */
        int64_t backend_id;
        apply_target target;
        bool target_open;
        meta_labels labels;
        void *lock; /* the per-chain lock held while extracting */
} unpack_layer;

/* Prepares the extraction snapshot for chain_id on parent (NULL: none). Holds a process-wide lock on the chain
 * while it extracts (a second pull of the same chain waits); stale extraction snapshots of the chain left by a
 * killed berthd are removed first. *ret_exists is set (and nothing prepared) when the chain's snapshot is already
 * committed. annotations: the layer descriptor's (containerd.io/snapshot/ ones are inherited as labels). */
int unpack_layer_begin(const unpack_env *env, const char *chain_id, const char *parent, const oci_map *annotations,
                       unpack_layer *l, bool *ret_exists, berr **err);
/* Where to extract. The options trust the compressed bytes (compressed_verified): feed them only a blob of the
 * content store or bytes whose ingest is committed with its expected digest before unpack_layer_commit. */
apply_options unpack_layer_apply_options(const unpack_layer *l);
/* Applies the blob from the content store (cancellable). */
int unpack_layer_apply_blob(const unpack_env *env, unpack_layer *l, const char *digest, apply_result *ret,
                            berr **err);
/* Checks the diff ID against the config's, commits the snapshot as chain_id, sets containerd.io/uncompressed on
 * the layer's content record. Releases l (on failure after aborting it). */
int unpack_layer_commit(const unpack_env *env, unpack_layer *l, const char *layer_digest, const char *diff_id,
                        const apply_result *res, berr **err);
/* Removes the extraction snapshot and releases l. */
void unpack_layer_abort(const unpack_env *env, unpack_layer *l);

/* Unpacks a manifest's layers from the content store (import, and pulls whose layers all exist): prepares,
 * applies and commits each missing chain, then labels the config with containerd.io/gc.ref.snapshot.<sn>.
 * ret_chain_id (may be NULL) receives the top chain ID. */
int unpack_manifest(const unpack_env *env, const oci_manifest *m, const oci_image_config *config,
                    char **ret_chain_id, berr **err);
/* Labels the config blob with the snapshotter's gc.ref.snapshot label = top chain ID (what keeps the snapshots). */
int unpack_label_config(const unpack_env *env, const char *config_digest, const char *top_chain_id, berr **err);
