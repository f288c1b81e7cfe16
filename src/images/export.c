/* OCI archive export (see export.h). */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "images/archive-lib.h"
#include "images/export.h"
#include "images/mediatype.h"
#include "images/reference.h"

#define COPY_CHUNK (256u << 10)

char *export_oci_ref_name(const char *name) {
        _cleanup_(image_ref_freep) image_ref *r = NULL;
        if (image_ref_parse(name, &r, NULL) < 0)
                return xstrdup(name);
        if (r->tag && r->digest)
                return xasprintf("%s@%s", r->tag, r->digest);
        if (r->tag)
                return xstrdup(r->tag);
        if (r->digest)
                return xasprintf("@%s", r->digest);
        return xstrdup(name);
}

typedef struct export_blob {
        char *digest;
        int64_t size;
} export_blob;

typedef struct export_manifest {
        char *digest;
        char *config;
        char **layers;
        char **tags;
} export_manifest;

typedef struct export_plan {
        export_blob *blobs;
        size_t n_blobs;
        export_manifest *manifests;
        size_t n_manifests;
        json_t *index; /* the entries of index.json */
} export_plan;

static void plan_done(export_plan *p) {
        for (size_t i = 0; i < p->n_blobs; i++)
                free(p->blobs[i].digest);
        free(p->blobs);
        for (size_t i = 0; i < p->n_manifests; i++) {
                free(p->manifests[i].digest);
                free(p->manifests[i].config);
                strv_free(p->manifests[i].layers);
                strv_free(p->manifests[i].tags);
        }
        free(p->manifests);
        json_decref(p->index);
}

static void add_blob(export_plan *p, const char *digest, int64_t size) {
        for (size_t i = 0; i < p->n_blobs; i++)
                if (strcmp(p->blobs[i].digest, digest) == 0)
                        return;
        p->blobs = xrealloc(p->blobs, (p->n_blobs + 1) * sizeof *p->blobs);
        p->blobs[p->n_blobs++] = (export_blob) { .digest = xstrdup(digest), .size = size };
}

static int need_blob(const unpack_env *env, const char *digest, berr **err) {
        meta_content_info info = { 0 };
        if (meta_content_get(env->db, env->ns, digest, &info, err) < 0)
                return -1;
        meta_content_info_done(&info);
        return 0;
}

static bool have_blob(const unpack_env *env, const char *digest) {
        meta_content_info info = { 0 };
        if (meta_content_get(env->db, env->ns, digest, &info, NULL) < 0)
                return false;
        meta_content_info_done(&info);
        return true;
}

static export_manifest *manifest_entry(export_plan *p, const char *digest) {
        for (size_t i = 0; i < p->n_manifests; i++)
                if (strcmp(p->manifests[i].digest, digest) == 0)
                        return &p->manifests[i];
        return NULL;
}

static int plan_manifest(const unpack_env *env, export_plan *p, const char *digest, const char *media_type,
                         int64_t size, const char *tag, berr **err) {
        export_manifest *em = manifest_entry(p, digest);
        if (!em) {
                _cleanup_free_ char *body = NULL;
                size_t len;
                _cleanup_oci_manifest_ oci_manifest *m = NULL;
                if (need_blob(env, digest, err) < 0 ||
                    unpack_content_read(env, digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0 ||
                    oci_manifest_parse(body, len, media_type, &m, err) < 0)
                        return -1;
                if (need_blob(env, m->config.digest, err) < 0)
                        return -1;
                add_blob(p, digest, size);
                add_blob(p, m->config.digest, m->config.size);
                p->manifests = xrealloc(p->manifests, (p->n_manifests + 1) * sizeof *p->manifests);
                em = &p->manifests[p->n_manifests++];
                *em = (export_manifest) { .digest = xstrdup(digest), .config = xstrdup(m->config.digest) };
                for (size_t i = 0; i < m->n_layers; i++) {
                        if (need_blob(env, m->layers[i].digest, err) < 0)
                                return -1;
                        add_blob(p, m->layers[i].digest, m->layers[i].size);
                        strv_extend(&em->layers, m->layers[i].digest);
                }
        }
        if (tag && !strv_contains(em->tags, tag))
                strv_extend(&em->tags, tag);
        return 0;
}

/* docker's familiar form with a tag, for manifest.json's RepoTags (containerd's familiarizeReference). */
static char *familiar_tag(const char *name) {
        _cleanup_(image_ref_freep) image_ref *r = NULL;
        if (image_ref_parse_normalized(name, &r, NULL) < 0 || !r->tag)
                return NULL;
        free(r->digest);
        r->digest = NULL;
        return image_ref_familiar(r);
}

static int plan_target(const unpack_env *env, const export_options *o, export_plan *p, const meta_descriptor *t,
                       const char *tag, unsigned depth, berr **err) {
        if (mediatype_is_manifest(t->media_type))
                return plan_manifest(env, p, t->digest, t->media_type, t->size, tag, err);
        if (!mediatype_is_index(t->media_type))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "only manifests may be exported: invalid argument");
        if (depth > 4)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "indexes nested too deeply: invalid argument");
        _cleanup_free_ char *body = NULL;
        size_t len;
        _cleanup_oci_index_ oci_index *idx = NULL;
        if (need_blob(env, t->digest, err) < 0 ||
            unpack_content_read(env, t->digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0 ||
            oci_index_parse(body, len, t->media_type, &idx, err) < 0)
                return -1;
        add_blob(p, t->digest, t->size);
        size_t kept = 0;
        for (size_t i = 0; i < idx->n_manifests; i++) {
                const oci_descriptor *d = &idx->manifests[i];
                if (o->matcher) {
                        if (d->platform && !platform_matcher_match(o->matcher, d->platform))
                                continue;
                } else if (!have_blob(env, d->digest))
                        continue; /* a platform that was never pulled */
                meta_descriptor md = { .media_type = d->media_type, .digest = d->digest, .size = d->size };
                /* Only the first manifest kept gets the docker tag, as containerd picks one per index. */
                if (plan_target(env, o, p, &md, kept == 0 ? tag : NULL, depth + 1, err) < 0)
                        return -1;
                kept++;
        }
        if (kept == 0)
                return berr_set(err, BERR_NOT_FOUND, 0, "no manifest found for platform: not found");
        return 0;
}

static json_t *index_entry(const meta_image *img) {
        json_t *o = json_object();
        json_object_set_new(o, "mediaType", json_string(img->target.media_type));
        json_object_set_new(o, "digest", json_string(img->target.digest));
        json_object_set_new(o, "size", json_integer(img->target.size));
        meta_labels an = { 0 };
        meta_labels_copy(&an, &img->target.annotations);
        meta_labels_set(&an, UNPACK_LABEL_IMAGE_NAME, img->name);
        _cleanup_free_ char *ref = export_oci_ref_name(img->name);
        meta_labels_set(&an, UNPACK_LABEL_REF_NAME, ref);
        json_t *a = json_object();
        for (size_t i = 0; i < an.n; i++) /* sorted keys, as Go marshals maps */
                json_object_set_new(a, an.v[i].key, json_string(an.v[i].value));
        meta_labels_done(&an);
        json_object_set_new(o, "annotations", a);
        return o;
}

/* ---- tar ---- */

static int tar_fail(struct archive *a, const char *what, berr **err) {
        return berr_set(err, BERR_INTERNAL, archive_errno(a) > 0 ? archive_errno(a) : EIO, "write %s: %s", what,
                        archive_error_string(a) ? archive_error_string(a) : "error");
}

static int tar_header(struct archive *a, const char *name, mode_t type, mode_t mode, int64_t size, berr **err) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, mode);
        archive_entry_set_size(e, type == AE_IFREG ? size : 0);
        archive_entry_set_mtime(e, 0, 0);
        int r = archive_write_header(a, e);
        archive_entry_free(e);
        if (r != ARCHIVE_OK)
                return tar_fail(a, name, err);
        return 0;
}

static int tar_bytes(struct archive *a, const char *name, mode_t mode, const char *data, berr **err) {
        size_t len = strlen(data);
        if (tar_header(a, name, AE_IFREG, mode, (int64_t) len, err) < 0)
                return -1;
        if (len > 0 && archive_write_data(a, data, len) != (la_ssize_t) len)
                return tar_fail(a, name, err);
        return 0;
}

static int tar_blob(const unpack_env *env, struct archive *a, const export_blob *b, berr **err) {
        _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", b->digest + strlen("sha256:"));
        _cleanup_(content_reader_freep) content_reader *r = NULL;
        if (content_reader_open(env->content, b->digest, &r, err) < 0)
                return -1;
        int64_t size = content_reader_size(r);
        if (tar_header(a, name, AE_IFREG, 0444, size, err) < 0)
                return -1;
        _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
        _cleanup_digester_ digester *d = digester_new();
        for (int64_t off = 0; off < size;) {
                if (unpack_check_cancel(env, err) < 0)
                        return -1;
                ssize_t n = content_reader_pread(r, buf, COPY_CHUNK, off, err);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return berr_set(err, BERR_DATA_LOSS, EIO, "content %s: short read", b->digest);
                digester_update(d, buf, (size_t) n);
                if (archive_write_data(a, buf, (size_t) n) != n)
                        return tar_fail(a, name, err);
                off += n;
        }
        char got[DIGEST_STRING_MAX];
        digester_digest(d, got);
        if (strcmp(got, b->digest) != 0)
                return berr_set(err, BERR_DATA_LOSS, 0, "unexpected digest %s copied", got);
        return 0;
}

static char *manifests_json(const export_plan *p) {
        json_t *l = json_array();
        for (size_t i = 0; i < p->n_manifests; i++) {
                const export_manifest *m = &p->manifests[i];
                json_t *o = json_object();
                _cleanup_free_ char *cfg = xasprintf("blobs/sha256/%s", m->config + strlen("sha256:"));
                json_object_set_new(o, "Config", json_string(cfg));
                json_t *tags = json_array();
                for (size_t k = 0; m->tags && m->tags[k]; k++)
                        json_array_append_new(tags, json_string(m->tags[k]));
                json_object_set_new(o, "RepoTags", tags);
                json_t *layers = json_array();
                for (size_t k = 0; m->layers && m->layers[k]; k++) {
                        _cleanup_free_ char *ln = xasprintf("blobs/sha256/%s", m->layers[k] + strlen("sha256:"));
                        json_array_append_new(layers, json_string(ln));
                }
                json_object_set_new(o, "Layers", layers);
                json_array_append_new(l, o);
        }
        char *s = json_dumps(l, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(l);
        return s;
}

static int write_archive(const unpack_env *env, const export_plan *p, const export_options *o, int fd, berr **err) {
        if (archive_lib_load(err) < 0)
                return -1;
        struct archive *a = archive_write_new();
        if (!a)
                abort();
        archive_write_set_format_pax_restricted(a);
        archive_write_set_bytes_in_last_block(a, 1);
        int r = -1;
        _cleanup_free_ char *mj = manifests_json(p);
        if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
                tar_fail(a, "archive", err);
                goto out;
        }
        if (!o->docker_only) {
                json_t *idx = json_object();
                json_object_set_new(idx, "schemaVersion", json_integer(2));
                json_object_set_new(idx, "manifests", json_incref(p->index));
                _cleanup_free_ char *ij = json_dumps(idx, JSON_COMPACT | JSON_PRESERVE_ORDER);
                json_decref(idx);
                if (tar_bytes(a, "oci-layout", 0444, "{\"imageLayoutVersion\":\"1.0.0\"}", err) < 0 ||
                    tar_bytes(a, "index.json", 0644, ij, err) < 0)
                        goto out;
        }
        if (tar_header(a, "blobs/", AE_IFDIR, 0755, 0, err) < 0 ||
            tar_header(a, "blobs/sha256/", AE_IFDIR, 0755, 0, err) < 0)
                goto out;
        for (size_t i = 0; i < p->n_blobs; i++)
                if (tar_blob(env, a, &p->blobs[i], err) < 0)
                        goto out;
        if (p->n_manifests > 0 && tar_bytes(a, "manifest.json", 0644, mj, err) < 0)
                goto out;
        if (archive_write_close(a) != ARCHIVE_OK) {
                tar_fail(a, "archive", err);
                goto out;
        }
        r = 0;
out:
        archive_write_free(a);
        return r;
}

int image_export(const unpack_env *env, char *const *names, size_t n, const export_options *o, int out_fd,
                 berr **err) {
        export_plan p = { .index = json_array() };
        int r = -1;
        if (n == 0) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "no image to export: invalid argument");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                meta_image img = { 0 };
                if (meta_image_get(env->db, env->ns, names[i], &img, err) < 0)
                        goto out;
                _cleanup_free_ char *tag = familiar_tag(img.name);
                int pr = plan_target(env, o, &p, &img.target, tag, 0, err);
                if (pr == 0)
                        json_array_append_new(p.index, index_entry(&img));
                meta_image_done(&img);
                if (pr < 0)
                        goto out;
        }
        r = write_archive(env, &p, o, out_fd, err);
out:
        plan_done(&p);
        return r;
}
