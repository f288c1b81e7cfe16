/* Container records (containerd's metadata container store, metadata/containers.go): an id in a namespace
 * with labels, image name, runtime {name, options Any}, spec (Any), snapshotter + snapshot key and
 * extensions (name -> Any). A record is only metadata: tasks, bundles and snapshots live elsewhere; the
 * garbage collector treats every container as a root holding its snapshot (snapshotter/snapshot_key) and
 * whatever its containerd.io/gc.ref.* labels name. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

/* A google.protobuf.Any kept as its two fields (type URL and the serialized value). */
typedef struct meta_extension {
        char *name; /* the extension's key; never empty */
        char *type_url;
        uint8_t *value;
        size_t len;
} meta_extension;

typedef struct meta_container {
        char *id;
        meta_labels labels;
        char *image; /* may be NULL/empty: containerd does not validate it */
        char *runtime_name;
        char *runtime_options_type; /* NULL: no runtime options (runtime_options ignored) */
        uint8_t *runtime_options;
        size_t runtime_options_len;
        char *spec_type; /* NULL: spec not set (invalid for create/update); "" with bytes is a set Any */
        uint8_t *spec;
        size_t spec_len;
        char *snapshotter; /* NULL/empty: none */
        char *snapshot_key;
        meta_extension *extensions; /* sorted by name, names unique */
        size_t n_extensions;
        char *sandbox_id; /* containerd 1.7's Container.Sandbox; stored but not in the 1.6 API */
        int64_t created_at; /* ns since the epoch */
        int64_t updated_at;
} meta_container;

void meta_container_done(meta_container *c);
void meta_containers_free(meta_container *v, size_t n);
/* Deep copy (dst is freed first). */
void meta_container_copy(meta_container *dst, const meta_container *src);
/* Inserts or replaces an extension (copies everything); a NULL type_url removes it. */
void meta_container_set_extension(meta_container *c, const char *name, const char *type_url, const uint8_t *value,
                                  size_t len);
const meta_extension *meta_container_get_extension(const meta_container *c, const char *name);

/* NOT_FOUND `container "x" in namespace "ns": not found` (containerd's Get text). */
int meta_container_get(meta_db *db, const char *ns, const char *id, meta_container *ret, berr **err);
/* Sorted by id. Filter fields (containerd's adaptContainer plus two extras): id, image, runtime.name,
 * labels.<k>, snapshotter, snapshotkey. A bad filter is INVALID_ARGUMENT. */
int meta_container_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters,
                        meta_container **ret, size_t *ret_n, berr **err);
/* containerd's validateContainer (id an identifier, extension names non-empty, label sizes, runtime name
 * set, spec set, snapshotter set when a snapshot key is), errors prefixed "create container failed
 * validation: "; ALREADY_EXISTS `container "x": already exists`. Stores with fresh timestamps; ret (may be
 * NULL) receives the stored record. */
int meta_container_create(meta_db *db, const char *ns, const meta_container *c, meta_container *ret, berr **err);
/* Field paths as containerd: "labels", "labels.<k>", "spec", "extensions", "extensions.<k>", "image",
 * "snapshotkey"; anything else (runtime, snapshotter, ...) is INVALID_ARGUMENT `cannot update "p" field on
 * "id"`. No paths: labels, spec, extensions, image and snapshotkey are replaced, and a differing snapshotter
 * or runtime name is INVALID_ARGUMENT `container.Snapshotter field is immutable` /
 * `container.Runtime.Name field is immutable`. Empty id: `must specify a container id`; missing:
 * NOT_FOUND `container "x": not found`. The result is validated again ("update failed validation: ..."). */
int meta_container_update(meta_db *db, const char *ns, const meta_container *c, const char *const *paths,
                          size_t n_paths, meta_container *ret, berr **err);
/* NOT_FOUND `container x: not found` (containerd's Delete text, unquoted). */
int meta_container_delete(meta_db *db, const char *ns, const char *id, berr **err);
