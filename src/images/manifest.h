/* OCI / Docker image documents: descriptors, indexes (manifest lists), manifests and image configs, parsed with
 * jansson into plain structs. Every parser refuses bodies over OCI_DOCUMENT_MAX_SIZE ("manifest too large"),
 * refuses Docker schema1 (BERR_UNIMPLEMENTED) and names unknown media types (BERR_UNIMPLEMENTED). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "images/mediatype.h"
#include "images/platform.h"

/* containerd's MaxManifestSize is 4*1048*1048; we use a round 4 MiB for manifests, indexes and configs. */
#define OCI_DOCUMENT_MAX_SIZE (4u << 20)

/* String → string map in document order (annotations, labels). */
typedef struct oci_map {
        size_t n;
        char **keys;
        char **values;
} oci_map;

const char *oci_map_get(const oci_map *m, const char *key);
void oci_map_set(oci_map *m, const char *key, const char *value);
void oci_map_done(oci_map *m);

typedef struct oci_descriptor {
        char *media_type;
        char *digest;
        int64_t size;
        char **urls;            /* strv, NULL when none */
        oci_map annotations;
        oci_platform *platform; /* NULL when the descriptor has none */
} oci_descriptor;

void oci_descriptor_done(oci_descriptor *d);
void oci_descriptor_copy(oci_descriptor *dst, const oci_descriptor *src);
oci_descriptor *oci_descriptor_free(oci_descriptor *d);
static inline void oci_descriptor_freep(oci_descriptor **d) {
        *d = oci_descriptor_free(*d);
}
#define _cleanup_oci_descriptor_ _cleanup_(oci_descriptor_freep)

typedef struct oci_index {
        char *media_type; /* as resolved: the document's mediaType, else the one the caller gave */
        oci_descriptor *manifests;
        size_t n_manifests;
        oci_map annotations;
} oci_index;

typedef struct oci_manifest {
        char *media_type;
        oci_descriptor config;
        oci_descriptor *layers;
        size_t n_layers;
        oci_map annotations;
} oci_manifest;

typedef struct oci_image_config {
        char *architecture, *os, *variant, *os_version;
        char *created; /* RFC 3339 as written, NULL when absent */
        /* config */
        char *user, *working_dir, *stop_signal;
        char **env, **entrypoint, **cmd; /* strv; NULL when absent or null */
        char **exposed_ports;            /* keys of ExposedPorts, e.g. "80/tcp" */
        char **volumes;                  /* keys of Volumes */
        oci_map labels;
        /* rootfs */
        char **diff_ids; /* strv of digests, one per layer, uncompressed */
} oci_image_config;

/* What a document is: the given media type when it is specific, else the document's own mediaType field, else
 * its shape (manifests → OCI index; config + layers → OCI manifest; fsLayers → schema1). Refuses documents whose
 * mediaType field contradicts a specific given type (index served as manifest and vice versa). *ret_media_type
 * (may be NULL) receives the media type the document will be treated as. */
int oci_document_detect(const void *buf, size_t len, const char *media_type, media_kind *ret_kind,
                        char **ret_media_type, berr **err);

/* Parse an index / manifest. media_type: the descriptor's or Content-Type's type; NULL or generic → detected. */
int oci_index_parse(const void *buf, size_t len, const char *media_type, oci_index **ret, berr **err);
int oci_manifest_parse(const void *buf, size_t len, const char *media_type, oci_manifest **ret, berr **err);
int oci_image_config_parse(const void *buf, size_t len, oci_image_config **ret, berr **err);

oci_index *oci_index_free(oci_index *idx);
oci_manifest *oci_manifest_free(oci_manifest *m);
oci_image_config *oci_image_config_free(oci_image_config *c);
static inline void oci_index_freep(oci_index **p) {
        *p = oci_index_free(*p);
}
static inline void oci_manifest_freep(oci_manifest **p) {
        *p = oci_manifest_free(*p);
}
static inline void oci_image_config_freep(oci_image_config **p) {
        *p = oci_image_config_free(*p);
}
#define _cleanup_oci_index_ _cleanup_(oci_index_freep)
#define _cleanup_oci_manifest_ _cleanup_(oci_manifest_freep)
#define _cleanup_oci_image_config_ _cleanup_(oci_image_config_freep)

/* The index entries a matcher accepts, best first, as containerd's images.Manifest orders them: entries whose
 * platform matches by matcher rank, then entries without a platform (the caller must check those against the
 * config's os/architecture). Entries that are not manifests or indexes are skipped. Returns the count (0 if none)
 * and, if ret_order is non-NULL, a malloc'ed array of positions in idx->manifests. */
size_t oci_index_match(const oci_index *idx, const platform_matcher *m, size_t **ret_order);
/* The best entry for the matcher. BERR_NOT_FOUND "no match for platform in manifest <what>: not found". */
int oci_index_select(const oci_index *idx, const platform_matcher *m, const char *what, const oci_descriptor **ret,
                     berr **err);
/* The platform an image config declares (normalized). */
void oci_image_config_platform(const oci_image_config *c, oci_platform *ret);
