/* Exporting images as an OCI archive the way `ctr images export` writes one (images/archive/exporter.go):
 *   oci-layout                  {"imageLayoutVersion":"1.0.0"}
 *   index.json                  one entry per image: its target, annotated with io.containerd.image.name (the full
 *                               name) and org.opencontainers.image.ref.name (the tag)
 *   blobs/sha256/<hex>          every blob the images reference (digests verified while copying)
 *   manifest.json               docker-archive compatibility (Config, RepoTags, Layers per manifest)
 * so `ctr images import`, skopeo (oci-archive: and docker-archive:) and `docker load` accept it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"
#include "images/platform.h"
#include "images/unpack.h"

typedef struct export_options {
        /* Manifests of an index to include: matching ones (and ones without a platform). NULL: every manifest
         * whose blob the namespace has. */
        const platform_matcher *matcher;
        bool docker_only; /* only manifest.json + blobs (a docker-archive), no OCI layout files */
} export_options;

/* Writes the archive of the named images (env->db/content/ns) to out_fd. NOT_FOUND for an unknown image or a
 * missing blob; nothing is written before every image was resolved. */
int image_export(const unpack_env *env, char *const *names, size_t n, const export_options *o, int out_fd,
                 berr **err);

/* containerd's ociReferenceName: the tag (or "@digest") of a full name; the name itself if unparsable. */
char *export_oci_ref_name(const char *name);
