/* Descriptors, indexes and manifests. The checks follow the OCI image spec and containerd's validateMediaType:
 * a document must be what its descriptor says (an index is not accepted where a manifest was expected), schema1
 * is refused, and the document's own mediaType decides when the registry only said "application/json". */
#include <string.h>

#include "basic/strv.h"
#include "images/manifest-internal.h"
#include "images/reference.h"

void oci_descriptor_done(oci_descriptor *d) {
        if (!d)
                return;
        free(d->media_type);
        free(d->digest);
        strv_free(d->urls);
        oci_map_done(&d->annotations);
        if (d->platform) {
                platform_done(d->platform);
                free(d->platform);
        }
        *d = (oci_descriptor) { 0 };
}

oci_descriptor *oci_descriptor_free(oci_descriptor *d) {
        if (d) {
                oci_descriptor_done(d);
                free(d);
        }
        return NULL;
}

void oci_descriptor_copy(oci_descriptor *dst, const oci_descriptor *src) {
        *dst = (oci_descriptor) {
                .media_type = src->media_type ? xstrdup(src->media_type) : NULL,
                .digest = src->digest ? xstrdup(src->digest) : NULL,
                .size = src->size,
                .urls = src->urls ? strv_copy_n(src->urls, strv_length(src->urls)) : NULL,
        };
        for (size_t i = 0; i < src->annotations.n; i++)
                oci_map_set(&dst->annotations, src->annotations.keys[i], src->annotations.values[i]);
        if (src->platform) {
                dst->platform = xcalloc(1, sizeof *dst->platform);
                platform_copy(dst->platform, src->platform);
        }
}

static int platform_from_json(json_t *obj, oci_platform **ret, berr **err) {
        if (!json_is_object(obj))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"platform\" is not an object");
        oci_platform *p = xcalloc(1, sizeof *p);
        if (manifest_json_string(obj, "architecture", true, &p->architecture, err) < 0 ||
            manifest_json_string(obj, "os", true, &p->os, err) < 0 ||
            manifest_json_string(obj, "variant", false, &p->variant, err) < 0 ||
            manifest_json_string(obj, "os.version", false, &p->os_version, err) < 0 ||
            manifest_json_strv(obj, "os.features", &p->os_features, err) < 0) {
                platform_done(p);
                free(p);
                return berr_wrap(err, "platform");
        }
        if (p->variant && !*p->variant) {
                free(p->variant);
                p->variant = NULL;
        }
        *ret = p;
        return 0;
}

static int descriptor_from_json(json_t *obj, oci_descriptor *d, berr **err) {
        *d = (oci_descriptor) { 0 };
        if (!json_is_object(obj))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "descriptor is not an object");
        if (manifest_json_string(obj, "mediaType", true, &d->media_type, err) < 0 ||
            manifest_json_string(obj, "digest", true, &d->digest, err) < 0)
                return -1;
        if (!*d->media_type)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "empty field \"mediaType\"");
        if (image_digest_validate(d->digest, err) < 0)
                return -1;
        json_t *size = json_object_get(obj, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "descriptor %s: field \"size\" is not a size",
                                d->digest);
        d->size = json_integer_value(size);
        if (manifest_json_strv(obj, "urls", &d->urls, err) < 0 ||
            manifest_json_map(obj, "annotations", &d->annotations, err) < 0)
                return berr_wrap(err, "descriptor %s", d->digest);
        json_t *platform = json_object_get(obj, "platform");
        if (platform && !json_is_null(platform) && platform_from_json(platform, &d->platform, err) < 0)
                return berr_wrap(err, "descriptor %s", d->digest);
        return 0;
}

static int descriptors_from_json(json_t *obj, const char *key, bool required, oci_descriptor **ret, size_t *ret_n,
                                 berr **err) {
        json_t *arr = json_object_get(obj, key);
        if (!arr || json_is_null(arr)) {
                if (required)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "missing field \"%s\"", key);
                return 0;
        }
        if (!json_is_array(arr))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\" is not an array", key);
        size_t n = json_array_size(arr);
        oci_descriptor *ds = xcalloc(n ? n : 1, sizeof *ds);
        for (size_t i = 0; i < n; i++) {
                if (descriptor_from_json(json_array_get(arr, i), &ds[i], err) < 0) {
                        for (size_t j = 0; j <= i; j++)
                                oci_descriptor_done(&ds[j]);
                        free(ds);
                        return berr_wrap(err, "%s[%zu]", key, i);
                }
        }
        *ret = ds;
        *ret_n = n;
        return 0;
}

/* What the document says about itself, from its fields alone. */
static media_kind kind_from_shape(json_t *root, const char **ret_mt) {
        json_t *mt = json_object_get(root, "mediaType");
        json_t *sv = json_object_get(root, "schemaVersion");
        const char *s = json_is_string(mt) ? json_string_value(mt) : NULL;
        *ret_mt = NULL;
        if (json_object_get(root, "fsLayers") || (json_is_integer(sv) && json_integer_value(sv) == 1))
                return MEDIA_KIND_SCHEMA1;
        if (s && *s) {
                *ret_mt = s;
                return mediatype_kind(s);
        }
        if (json_object_get(root, "manifests")) {
                *ret_mt = MT_OCI_INDEX;
                return MEDIA_KIND_INDEX;
        }
        if (json_object_get(root, "config") || json_object_get(root, "layers")) {
                *ret_mt = MT_OCI_MANIFEST;
                return MEDIA_KIND_MANIFEST;
        }
        return MEDIA_KIND_UNKNOWN;
}

static int detect_root(json_t *root, const char *given, media_kind *ret_kind, char **ret_mt, berr **err) {
        _cleanup_free_ char *norm = mediatype_normalize(given);
        const char *self_mt;
        media_kind self = kind_from_shape(root, &self_mt);
        if (self == MEDIA_KIND_SCHEMA1 || mediatype_kind(norm) == MEDIA_KIND_SCHEMA1)
                return berr_set(err, BERR_UNIMPLEMENTED, 0,
                                "media-type: schema 1 not supported (Docker image manifest v2 schema 1 is deprecated; "
                                "push the image with a schema 2 or OCI manifest): not implemented");
        media_kind kind;
        const char *mt;
        if (!mediatype_is_generic(norm)) {
                kind = mediatype_kind(norm);
                mt = norm;
                if (kind != MEDIA_KIND_INDEX && kind != MEDIA_KIND_MANIFEST)
                        return berr_set(err, BERR_UNIMPLEMENTED, 0,
                                        "unknown media type \"%s\": not a manifest or index: not implemented", norm);
                /* containerd's validateMediaType: an index must not pass as a manifest or the other way. */
                if (kind == MEDIA_KIND_MANIFEST && (self == MEDIA_KIND_INDEX || json_object_get(root, "manifests")))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "media-type: expected manifest but found index (%s)", norm);
                if (kind == MEDIA_KIND_INDEX && (self == MEDIA_KIND_MANIFEST || json_object_get(root, "config") ||
                                                 json_object_get(root, "layers")))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "media-type: expected index but found manifest (%s)", norm);
        } else {
                kind = self;
                mt = self_mt;
                if (kind != MEDIA_KIND_INDEX && kind != MEDIA_KIND_MANIFEST) {
                        if (self_mt)
                                return berr_set(err, BERR_UNIMPLEMENTED, 0,
                                                "unknown media type \"%s\": not a manifest or index: not implemented",
                                                self_mt);
                        return berr_set(err, BERR_UNIMPLEMENTED, 0,
                                        "unknown media type: document%s%s is neither a manifest nor an index: not "
                                        "implemented",
                                        *norm ? " served as " : "", norm);
                }
        }
        json_t *sv = json_object_get(root, "schemaVersion");
        if (sv && (!json_is_integer(sv) || json_integer_value(sv) != 2))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "unsupported schemaVersion (want 2)");
        *ret_kind = kind;
        if (ret_mt)
                *ret_mt = xstrdup(mt);
        return 0;
}

int oci_document_detect(const void *buf, size_t len, const char *media_type, media_kind *ret_kind,
                        char **ret_media_type, berr **err) {
        json_t *root;
        if (manifest_json_load(buf, len, "manifest", &root, err) < 0)
                return -1;
        int r = detect_root(root, media_type, ret_kind, ret_media_type, err);
        json_decref(root);
        return r;
}

oci_index *oci_index_free(oci_index *idx) {
        if (!idx)
                return NULL;
        free(idx->media_type);
        for (size_t i = 0; i < idx->n_manifests; i++)
                oci_descriptor_done(&idx->manifests[i]);
        free(idx->manifests);
        oci_map_done(&idx->annotations);
        free(idx);
        return NULL;
}

oci_manifest *oci_manifest_free(oci_manifest *m) {
        if (!m)
                return NULL;
        free(m->media_type);
        oci_descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                oci_descriptor_done(&m->layers[i]);
        free(m->layers);
        oci_map_done(&m->annotations);
        free(m);
        return NULL;
}

int oci_index_parse(const void *buf, size_t len, const char *media_type, oci_index **ret, berr **err) {
        json_t *root;
        if (manifest_json_load(buf, len, "index", &root, err) < 0)
                return -1;
        _cleanup_oci_index_ oci_index *idx = xcalloc(1, sizeof *idx);
        media_kind kind;
        int r = detect_root(root, media_type, &kind, &idx->media_type, err);
        if (r >= 0 && kind != MEDIA_KIND_INDEX)
                r = berr_set(err, BERR_INVALID_ARGUMENT, 0, "expected an index but found a manifest (%s)",
                             idx->media_type);
        if (r >= 0)
                r = descriptors_from_json(root, "manifests", true, &idx->manifests, &idx->n_manifests, err);
        if (r >= 0)
                r = manifest_json_map(root, "annotations", &idx->annotations, err);
        json_decref(root);
        if (r < 0)
                return berr_wrap(err, "index");
        *ret = TAKE_PTR(idx);
        return 0;
}

int oci_manifest_parse(const void *buf, size_t len, const char *media_type, oci_manifest **ret, berr **err) {
        json_t *root;
        if (manifest_json_load(buf, len, "manifest", &root, err) < 0)
                return -1;
        _cleanup_oci_manifest_ oci_manifest *m = xcalloc(1, sizeof *m);
        media_kind kind;
        int r = detect_root(root, media_type, &kind, &m->media_type, err);
        if (r >= 0 && kind != MEDIA_KIND_MANIFEST)
                r = berr_set(err, BERR_INVALID_ARGUMENT, 0, "expected a manifest but found an index (%s)",
                             m->media_type);
        if (r >= 0) {
                json_t *config = json_object_get(root, "config");
                if (!config)
                        r = berr_set(err, BERR_INVALID_ARGUMENT, 0, "missing field \"config\"");
                else if (descriptor_from_json(config, &m->config, err) < 0)
                        r = berr_wrap(err, "config");
        }
        if (r >= 0)
                r = descriptors_from_json(root, "layers", true, &m->layers, &m->n_layers, err);
        if (r >= 0)
                r = manifest_json_map(root, "annotations", &m->annotations, err);
        json_decref(root);
        if (r < 0)
                return berr_wrap(err, "manifest");
        *ret = TAKE_PTR(m);
        return 0;
}

size_t oci_index_match(const oci_index *idx, const platform_matcher *m, size_t **ret_order) {
        size_t *order = xcalloc(idx->n_manifests + 1, sizeof *order);
        int *rank = xcalloc(idx->n_manifests + 1, sizeof *rank);
        for (size_t i = 0; i < idx->n_manifests; i++) {
                const oci_descriptor *d = &idx->manifests[i];
                if (!mediatype_is_manifest(d->media_type) && !mediatype_is_index(d->media_type))
                        rank[i] = -1;
                else
                        rank[i] = d->platform ? platform_matcher_rank(m, d->platform) : (int) m->n;
        }
        /* Bucket by rank, document order within a rank (containerd sorts stably); entries without a platform
         * rank after every matching one. */
        size_t n = 0;
        for (int r = 0; r <= (int) m->n; r++)
                for (size_t i = 0; i < idx->n_manifests; i++)
                        if (rank[i] == r)
                                order[n++] = i;
        free(rank);
        if (ret_order)
                *ret_order = order;
        else
                free(order);
        return n;
}

int oci_index_select(const oci_index *idx, const platform_matcher *m, const char *what, const oci_descriptor **ret,
                     berr **err) {
        _cleanup_free_ size_t *order = NULL;
        if (oci_index_match(idx, m, &order) == 0) {
                _cleanup_free_ char *want = m->n ? platform_format(&m->vector[0]) : xstrdup("(none)");
                return berr_set(err, BERR_NOT_FOUND, 0, "no match for platform %s in manifest%s%s: not found", want,
                                what ? " " : "", what ? what : "");
        }
        *ret = &idx->manifests[order[0]];
        return 0;
}
