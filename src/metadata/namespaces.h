/* Namespaces (containerd's namespaces store). Objects created in a namespace that does not exist yet
 * create it implicitly, as in containerd. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

typedef struct meta_namespace {
        char *name;
        meta_labels labels;
        int64_t created_at; /* ns since the epoch */
} meta_namespace;

void meta_namespace_done(meta_namespace *n);
void meta_namespaces_free(meta_namespace *v, size_t n);

/* INVALID_ARGUMENT for a bad identifier or oversized label; ALREADY_EXISTS `namespace "x": already exists`. */
int meta_namespace_create(meta_db *db, const char *name, const meta_labels *labels, berr **err);
/* NOT_FOUND `namespace "x": not found`. */
int meta_namespace_get(meta_db *db, const char *name, meta_namespace *ret, berr **err);
/* All namespaces sorted by name; filters (fields: name, labels.<key>) may be NULL/0. */
int meta_namespace_list(meta_db *db, const char *const *filters, size_t n_filters, meta_namespace **ret,
                        size_t *ret_n, berr **err);
/* containerd's Update: with paths, each must be "labels.<key>" (set to labels[key], or removed when absent
 * or empty), anything else INVALID_ARGUMENT `cannot update "x" field`; without paths the labels are
 * replaced. Creates the namespace if needed (containerd's SetLabel does). */
int meta_namespace_update(meta_db *db, const char *name, const meta_labels *labels, const char *const *paths,
                          size_t n_paths, berr **err);
/* FAILED_PRECONDITION `namespace "x" must be empty, but it still has images, blobs, snapshots on
 * "overlayfs" snapshotter: failed precondition`; NOT_FOUND if missing. Leases and ingests go with it. */
int meta_namespace_delete(meta_db *db, const char *name, berr **err);
