/* Media types of OCI and Docker image documents and layers, and what each one means to a puller. */
#pragma once

#include <stdbool.h>

#include "basic/error.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_MANIFEST_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define MT_DOCKER_LAYER_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* What a puller asks a registry for when resolving a tag (containerd's list, same order). */
#define MT_MANIFEST_ACCEPT                                                                                     \
        MT_DOCKER_MANIFEST ", " MT_DOCKER_MANIFEST_LIST ", " MT_OCI_MANIFEST ", " MT_OCI_INDEX ", */*"

typedef enum media_kind {
        MEDIA_KIND_UNKNOWN = 0,
        MEDIA_KIND_INDEX,    /* OCI index, Docker manifest list */
        MEDIA_KIND_MANIFEST, /* OCI manifest, Docker schema2 manifest */
        MEDIA_KIND_CONFIG,   /* OCI / Docker image config */
        MEDIA_KIND_LAYER,    /* any tar layer, compressed or not, foreign included */
        MEDIA_KIND_SCHEMA1,  /* Docker schema1: recognised only to be refused */
} media_kind;

typedef enum layer_compression {
        LAYER_COMPRESSION_NONE = 0,
        LAYER_COMPRESSION_GZIP,
        LAYER_COMPRESSION_ZSTD,
        /* Docker's plain ".tar" type is sometimes used for gzip data: the unpacker sniffs the magic bytes. */
        LAYER_COMPRESSION_DETECT,
} layer_compression;

/* Strips parameters (";charset=..."), surrounding blanks; lowercases. Returns a new string. */
char *mediatype_normalize(const char *mt);
media_kind mediatype_kind(const char *mt);
bool mediatype_is_index(const char *mt);
bool mediatype_is_manifest(const char *mt);
bool mediatype_is_config(const char *mt);
bool mediatype_is_layer(const char *mt);
/* Layers that registries may not serve (OCI nondistributable, Docker foreign): fetched from desc.urls. */
bool mediatype_is_foreign_layer(const char *mt);
/* True for "", NULL and the generic types a registry may send instead of the real one
 * (application/json, application/octet-stream): the document itself must then say what it is. */
bool mediatype_is_generic(const char *mt);

/* Compression of a layer media type. Encrypted and other unknown layer types fail with BERR_UNIMPLEMENTED
 * ("unsupported layer media type ..."); non-layer types with BERR_INVALID_ARGUMENT. */
int mediatype_layer_compression(const char *mt, layer_compression *ret, berr **err);
const char *layer_compression_to_string(layer_compression c);
