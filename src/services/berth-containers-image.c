/* The image a container runs: its record, the manifest for this host (through an index when there is one), the
 * config and the chain ID of its layers — the snapshot the container's rootfs is prepared on. No pull happens
 * here: a missing image is NOT_FOUND with a hint to pull it. */
#include <string.h>

#include "basic/strv.h"
#include "images/mediatype.h"
#include "images/platform.h"
#include "images/unpack.h"
#include "metadata/images.h"
#include "services/berth-containers.h"

#define MAX_INDEX_DEPTH 4

void bc_image_done(bc_image *img) {
        free(img->name);
        free(img->manifest_digest);
        oci_image_config_free(img->config);
        free(img->chain_id);
        *img = (bc_image) { 0 };
}

static int read_blob(const unpack_env *env, const char *digest, char **ret, size_t *ret_len, berr **err) {
        if (unpack_content_read(env, digest, OCI_DOCUMENT_MAX_SIZE, ret, ret_len, err) < 0)
                return berr_wrap(err, "reading %s", digest);
        return 0;
}

int bc_image_resolve(bc_service *s, const char *ns, const char *name, bc_image *ret, berr **err) {
        meta_image img = { 0 };
        if (!name || !*name)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "an image is required");
        if (meta_image_get(s->ctx->db, ns, name, &img, NULL) < 0)
                return berr_set(err, BERR_NOT_FOUND, 0,
                                "image \"%s\" is not present in namespace \"%s\" (pull it first: berth pull %s): "
                                "not found",
                                name, ns, name);
        const unpack_env env = { .db = s->ctx->db, .content = s->ctx->content, .ns = ns };
        _cleanup_free_ char *digest = xstrdup(img.target.digest), *media_type = xstrdup(img.target.media_type);
        meta_image_done(&img);
        _cleanup_platform_matcher_ platform_matcher *matcher = platform_matcher_default();

        for (int depth = 0;; depth++) {
                _cleanup_free_ char *buf = NULL;
                size_t len = 0;
                if (read_blob(&env, digest, &buf, &len, err) < 0)
                        return -1;
                media_kind kind = MEDIA_KIND_UNKNOWN;
                if (oci_document_detect(buf, len, media_type, &kind, NULL, err) < 0)
                        return berr_wrap(err, "image \"%s\"", name);
                if (kind == MEDIA_KIND_INDEX) {
                        _cleanup_oci_index_ oci_index *idx = NULL;
                        const oci_descriptor *sel = NULL;
                        if (depth >= MAX_INDEX_DEPTH)
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "image \"%s\": indexes nested too deep",
                                                name);
                        if (oci_index_parse(buf, len, media_type, &idx, err) < 0 ||
                            oci_index_select(idx, matcher, digest, &sel, err) < 0)
                                return berr_wrap(err, "image \"%s\"", name);
                        free(digest);
                        free(media_type);
                        digest = xstrdup(sel->digest);
                        media_type = xstrdup(sel->media_type);
                        continue;
                }
                if (kind != MEDIA_KIND_MANIFEST)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "image \"%s\": unexpected media type %s", name,
                                        media_type);
                _cleanup_oci_manifest_ oci_manifest *m = NULL;
                if (oci_manifest_parse(buf, len, media_type, &m, err) < 0)
                        return berr_wrap(err, "image \"%s\"", name);
                _cleanup_free_ char *cbuf = NULL;
                size_t clen = 0;
                oci_image_config *config = NULL;
                if (read_blob(&env, m->config.digest, &cbuf, &clen, err) < 0 ||
                    oci_image_config_parse(cbuf, clen, &config, err) < 0)
                        return berr_wrap(err, "image \"%s\"", name);
                size_t n = strv_length(config->diff_ids);
                if (n != m->n_layers) {
                        oci_image_config_free(config);
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "image \"%s\": %zu layers but %zu diff IDs in its config", name, m->n_layers, n);
                }
                *ret = (bc_image) { .name = xstrdup(name), .manifest_digest = TAKE_PTR(digest), .config = config };
                if (n > 0) {
                        _cleanup_strv_free_ char **chain = unpack_chain_ids(config->diff_ids, n);
                        ret->chain_id = xstrdup(chain[n - 1]);
                }
                return 0;
        }
}
