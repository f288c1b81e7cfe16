/* Importing image archives as containerd's importer does (images/archive/importer.go + client Import):
 *   - OCI image layouts (oci-layout + index.json + blobs/<alg>/<hex>): index.json is the root;
 *   - docker-archive tarballs (manifest.json + <config>.json + <layer>.tar, `docker save` / skopeo docker-archive:):
 *     each manifest.json entry becomes a Docker schema2 manifest, all of them an OCI index whose entries carry
 *     io.containerd.image.name (the normalized RepoTag) and org.opencontainers.image.ref.name (its tag).
 * Every regular file of the tar is stored as a blob (ingest ref "tar-<name>"); the index and the manifests get the
 * gc.ref labels of their (platform-filtered) children; one image record per named index entry. File names are
 * only used as keys: nothing is extracted onto the filesystem here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"
#include "images/manifest.h"
#include "images/platform.h"
#include "images/unpack.h"

typedef struct import_options {
        /* Names for entries with only an OCI ref name (a tag): "<base_name>:<tag>". NULL/"": "import-<date>". */
        const char *base_name;
        const platform_matcher *matcher; /* which manifests of an index to keep (labels); NULL: all platforms */
} import_options;

typedef struct import_image {
        char *name;
        oci_descriptor target;
} import_image;

void import_images_free(import_image *v, size_t n);

/* Reads the archive from fd (from its start), stores everything and creates (or retargets) the images. */
int image_import(const unpack_env *env, int fd, const import_options *o, import_image **ret, size_t *ret_n,
                 berr **err);

/* The name an index entry gets (containerd's imageName + refTranslator), or NULL for none. Exposed for tests. */
char *import_image_name(const oci_map *annotations, const char *base_name);
/* containerd's Docker-archive conversion, exposed for tests: the schema2 manifest for a config and layers
 * (descriptors with media types set) and an index over manifests, as compact JSON with Go's field order. */
char *import_docker_manifest_json(const oci_descriptor *config, const oci_descriptor *layers, size_t n);
char *import_index_json(const oci_descriptor *manifests, size_t n);
/* Unpacks an image target (manifest, or index resolved with matcher) from the content store (unpack_manifest). */
int import_unpack(const unpack_env *env, const oci_descriptor *target, const platform_matcher *matcher, berr **err);
