/* Image archive import (see import.h). */
#include <archive.h>
#include <inttypes.h>
#include <archive_entry.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "images/archive-lib.h"
#include "images/import.h"
#include "images/mediatype.h"
#include "images/reference.h"

#define JSON_LIMIT (20u << 20) /* containerd's jsonLimit */
#define COPY_CHUNK (256u << 10)
#define OCI_LAYOUT_VERSION "1.0.0"

void import_images_free(import_image *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                oci_descriptor_done(&v[i].target);
        }
        free(v);
}

/* ---- tar entries ---- */

typedef struct blob_entry {
        char *name;
        char digest[DIGEST_STRING_MAX];
        int64_t size;
} blob_entry;

typedef struct archive_state {
        blob_entry *blobs;
        size_t n_blobs;
        char **links; /* alternating name, target (cleaned) */
        char *layout_version;
        json_t *docker_manifests;
} archive_state;

static void archive_state_done(archive_state *s) {
        for (size_t i = 0; i < s->n_blobs; i++)
                free(s->blobs[i].name);
        free(s->blobs);
        strv_free(s->links);
        free(s->layout_version);
        json_decref(s->docker_manifests);
}

static const blob_entry *find_blob(const archive_state *s, const char *name) {
        for (size_t i = s->n_blobs; i > 0; i--) /* the last one of a name wins, as a map */
                if (strcmp(s->blobs[i - 1].name, name) == 0)
                        return &s->blobs[i - 1];
        return NULL;
}

/* Go's path.Clean for slash-separated names, relative ones staying relative. */
static char *clean_path(const char *p) {
        bool abs = p[0] == '/';
        _cleanup_(strv_freep) char **parts = strv_split(p, '/');
        char **out = xcalloc(strv_length(parts) + 1, sizeof *out);
        size_t n = 0;
        for (size_t i = 0; parts && parts[i]; i++) {
                const char *c = parts[i];
                if (!*c || strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0) {
                        if (n > 0 && strcmp(out[n - 1], "..") != 0)
                                n--;
                        else if (!abs)
                                out[n++] = (char *) c;
                        continue;
                }
                out[n++] = (char *) c;
        }
        out[n] = NULL;
        _cleanup_free_ char *joined = strv_join(out, "/");
        free(out);
        if (abs)
                return xasprintf("/%s", joined);
        return *joined ? xstrdup(joined) : xstrdup(".");
}

static int read_json(struct archive *a, const char *name, int64_t size, json_t **ret, berr **err) {
        if (size < 0 || (uint64_t) size > JSON_LIMIT)
                return berr_set(err, BERR_INVALID_ARGUMENT, EFBIG, "%s: larger than %u bytes: invalid argument", name,
                                JSON_LIMIT);
        _cleanup_free_ char *buf = xmalloc((size_t) size + 1);
        la_ssize_t got = 0;
        while (got < size) {
                la_ssize_t n = archive_read_data(a, buf + got, (size_t) (size - got));
                if (n < 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EIO, "read %s: %s", name, archive_error_string(a));
                if (n == 0)
                        break;
                got += n;
        }
        json_error_t je;
        json_t *j = json_loadb(buf, (size_t) got, 0, &je);
        if (!j)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "untar %s: %s: invalid argument", name, je.text);
        *ret = j;
        return 0;
}

/* Stores one tar member as a blob (content.WriteBlob with ref "tar-<name>"), digesting it on the way. */
static int ingest_member(const unpack_env *env, struct archive *a, const char *name, int64_t size, blob_entry *ret,
                         berr **err) {
        _cleanup_free_ char *ref = xasprintf("tar-%s", name);
        content_writer *w = NULL;
        if (unpack_writer_open(env, ref, NULL, size, &w, err) < 0)
                return berr_wrap(err, "failed to ingest \"%s\"", name);
        _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
        bool first = true;
        for (;;) {
                if (unpack_check_cancel(env, err) < 0)
                        goto fail;
                la_ssize_t n = archive_read_data(a, buf, COPY_CHUNK);
                if (n < 0) {
                        berr_set(err, BERR_INVALID_ARGUMENT, EIO, "failed to ingest \"%s\": %s", name,
                                 archive_error_string(a));
                        goto fail;
                }
                if (n == 0 && !first)
                        break;
                /* The first write restarts whatever an earlier import left in this ingest. */
                if (content_writer_write_at(w, first ? 0 : content_writer_offset(w), buf, (size_t) n, err) < 0)
                        goto fail;
                first = false;
                if (n == 0)
                        break;
        }
        content_writer_digest(w, ret->digest);
        ret->size = content_writer_offset(w);
        if (ret->size != size) {
                berr_set(err, BERR_INVALID_ARGUMENT, EIO, "failed to ingest \"%s\": short read (%" PRId64 " of %" PRId64
                         " bytes): invalid argument", name, ret->size, size);
                goto fail;
        }
        return unpack_writer_commit(env, w, ref, ret->digest, ret->size, NULL, err);
fail:
        content_writer_close(w);
        return -1;
}

static int read_archive(const unpack_env *env, int fd, archive_state *s, berr **err) {
        if (lseek(fd, 0, SEEK_SET) < 0)
                return berr_errno(err, errno, "seek");
        if (archive_lib_load(err) < 0)
                return -1;
        struct archive *a = archive_read_new();
        if (!a)
                abort();
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        int r = -1;
        if (archive_read_open_fd(a, fd, COPY_CHUNK) != ARCHIVE_OK) {
                berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "not a tar archive: %s: invalid argument",
                         archive_error_string(a));
                goto out;
        }
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid tar archive: %s: invalid argument",
                                 archive_error_string(a));
                        goto out;
                }
                const char *raw = archive_entry_pathname(e);
                if (!raw)
                        continue;
                _cleanup_free_ char *name = clean_path(raw);
                mode_t type = archive_entry_filetype(e);
                if (type == AE_IFLNK && archive_entry_symlink(e)) {
                        _cleanup_free_ char *dir = xstrdup(name);
                        char *slash = strrchr(dir, '/');
                        if (slash)
                                *slash = '\0';
                        _cleanup_free_ char *joined = slash ? xasprintf("%s/%s", dir, archive_entry_symlink(e))
                                                            : xstrdup(archive_entry_symlink(e));
                        strv_extend(&s->links, name);
                        strv_push(&s->links, clean_path(joined));
                        continue;
                }
                if (type != AE_IFREG || archive_entry_hardlink(e)) {
                        if (type != AE_IFDIR)
                                log_debug("import: %s: file type ignored", name);
                        continue;
                }
                int64_t size = archive_entry_size(e);
                if (strcmp(name, "oci-layout") == 0) {
                        json_t *j;
                        if (read_json(a, name, size, &j, err) < 0)
                                goto out;
                        const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
                        free(s->layout_version);
                        s->layout_version = xstrdup(v ? v : "");
                        json_decref(j);
                } else if (strcmp(name, "manifest.json") == 0) {
                        json_decref(s->docker_manifests);
                        s->docker_manifests = NULL;
                        if (read_json(a, name, size, &s->docker_manifests, err) < 0)
                                goto out;
                } else {
                        blob_entry b = { 0 };
                        if (ingest_member(env, a, name, size, &b, err) < 0)
                                goto out;
                        b.name = TAKE_PTR(name);
                        s->blobs = xrealloc(s->blobs, (s->n_blobs + 1) * sizeof *s->blobs);
                        s->blobs[s->n_blobs++] = b;
                }
        }
        r = 0;
out:
        archive_read_free(a);
        return r;
}

/* ---- Docker archives → schema2 manifests + an OCI index ---- */

static json_t *descriptor_json(const oci_descriptor *d) {
        json_t *o = json_object();
        json_object_set_new(o, "mediaType", json_string(d->media_type));
        json_object_set_new(o, "digest", json_string(d->digest));
        json_object_set_new(o, "size", json_integer(d->size));
        if (d->annotations.n > 0) {
                /* Go marshals maps with sorted keys. */
                json_t *an = json_object();
                size_t n = d->annotations.n;
                size_t *order = xcalloc(n, sizeof *order);
                for (size_t i = 0; i < n; i++)
                        order[i] = i;
                for (size_t i = 1; i < n; i++)
                        for (size_t j = i; j > 0 && strcmp(d->annotations.keys[order[j - 1]],
                                                           d->annotations.keys[order[j]]) > 0; j--) {
                                size_t t = order[j - 1];
                                order[j - 1] = order[j];
                                order[j] = t;
                        }
                for (size_t i = 0; i < n; i++)
                        json_object_set_new(an, d->annotations.keys[order[i]],
                                            json_string(d->annotations.values[order[i]]));
                free(order);
                json_object_set_new(o, "annotations", an);
        }
        if (d->platform) {
                json_t *p = json_object();
                json_object_set_new(p, "architecture", json_string(d->platform->architecture));
                json_object_set_new(p, "os", json_string(d->platform->os));
                if (d->platform->variant)
                        json_object_set_new(p, "variant", json_string(d->platform->variant));
                json_object_set_new(o, "platform", p);
        }
        return o;
}

static char *dump(json_t *j) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s)
                abort();
        return s;
}

char *import_docker_manifest_json(const oci_descriptor *config, const oci_descriptor *layers, size_t n) {
        json_t *m = json_object();
        json_object_set_new(m, "schemaVersion", json_integer(2));
        json_object_set_new(m, "mediaType", json_string(MT_DOCKER_MANIFEST));
        json_object_set_new(m, "config", descriptor_json(config));
        json_t *l = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(l, descriptor_json(&layers[i]));
        json_object_set_new(m, "layers", l);
        return dump(m);
}

char *import_index_json(const oci_descriptor *manifests, size_t n) {
        json_t *idx = json_object();
        json_object_set_new(idx, "schemaVersion", json_integer(2));
        json_t *l = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(l, descriptor_json(&manifests[i]));
        json_object_set_new(idx, "manifests", l);
        return dump(idx);
}

static int write_document(const unpack_env *env, const char *json, const char *media_type, oci_descriptor *ret,
                          berr **err) {
        size_t len = strlen(json);
        char digest[DIGEST_STRING_MAX];
        digest_buffer(json, len, digest);
        _cleanup_free_ char *ref = xasprintf("manifest-%s", digest);
        if (unpack_content_put(env, ref, digest, json, len, NULL, err) < 0)
                return -1;
        *ret = (oci_descriptor) { .media_type = xstrdup(media_type), .digest = xstrdup(digest),
                                  .size = (int64_t) len };
        return 0;
}

static int layer_media_type(const unpack_env *env, const blob_entry *b, char **ret, berr **err) {
        _cleanup_(content_reader_freep) content_reader *r = NULL;
        if (content_reader_open(env->content, b->digest, &r, err) < 0)
                return -1;
        uint8_t magic[4] = { 0 };
        ssize_t n = content_reader_pread(r, magic, sizeof magic, 0, err);
        if (n < 0)
                return -1;
        bool gzip = n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        bool zstd = n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd;
        /* containerd labels every compressed layer of a docker archive as gzip. */
        *ret = xstrdup(gzip || zstd ? MT_DOCKER_LAYER_GZIP : MT_DOCKER_LAYER);
        return 0;
}

static const blob_entry *resolve_member(const archive_state *s, const char *name) {
        const blob_entry *b = find_blob(s, name);
        if (b)
                return b;
        for (size_t i = 0; s->links && s->links[i] && s->links[i + 1]; i += 2)
                if (strcmp(s->links[i], name) == 0)
                        return find_blob(s, s->links[i + 1]);
        return NULL;
}

static int config_platform(const unpack_env *env, const char *digest, oci_platform **ret, berr **err) {
        _cleanup_free_ char *body = NULL;
        size_t len;
        if (unpack_content_read(env, digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0)
                return -1;
        _cleanup_oci_image_config_ oci_image_config *c = NULL;
        if (oci_image_config_parse(body, len, &c, err) < 0)
                return -1;
        *ret = NULL;
        if (!c->os || !c->architecture)
                return 0;
        oci_platform *p = xcalloc(1, sizeof *p);
        p->os = xstrdup(c->os);
        p->architecture = xstrdup(c->architecture);
        platform_normalize(p);
        *ret = p;
        return 0;
}

static int convert_docker_archive(const unpack_env *env, const archive_state *s, oci_descriptor *ret, berr **err) {
        if (!json_is_array(s->docker_manifests))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "untar manifest \"manifest.json\": not a list");
        oci_descriptor *entries = NULL;
        size_t ne = 0;
        int r = -1;
        size_t i;
        json_t *mf;
        json_array_foreach(s->docker_manifests, i, mf) {
                const char *cname = json_string_value(json_object_get(mf, "Config"));
                _cleanup_free_ char *ccfg = cname ? clean_path(cname) : NULL;
                const blob_entry *cb = ccfg ? resolve_member(s, ccfg) : NULL;
                if (!cb) {
                        berr_set(err, BERR_NOT_FOUND, 0, "image config \"%s\" not found", cname ? cname : "");
                        goto out;
                }
                oci_descriptor config = { .media_type = (char *) MT_DOCKER_CONFIG, .digest = (char *) cb->digest,
                                          .size = cb->size };
                json_t *jl = json_object_get(mf, "Layers");
                size_t nl = json_array_size(jl);
                oci_descriptor *layers = xcalloc(nl ? nl : 1, sizeof *layers);
                bool ok = true;
                for (size_t k = 0; k < nl; k++) {
                        const char *ln = json_string_value(json_array_get(jl, k));
                        _cleanup_free_ char *cl = ln ? clean_path(ln) : NULL;
                        const blob_entry *lb = cl ? resolve_member(s, cl) : NULL;
                        if (!lb) {
                                berr_set(err, BERR_NOT_FOUND, 0, "failed to resolve layers: layer \"%s\" not found",
                                         ln ? ln : "");
                                ok = false;
                                break;
                        }
                        layers[k].digest = xstrdup(lb->digest);
                        layers[k].size = lb->size;
                        if (layer_media_type(env, lb, &layers[k].media_type, err) < 0) {
                                ok = false;
                                break;
                        }
                }
                oci_descriptor mdesc = { 0 };
                if (ok) {
                        _cleanup_free_ char *json = import_docker_manifest_json(&config, layers, nl);
                        ok = write_document(env, json, MT_DOCKER_MANIFEST, &mdesc, err) == 0 &&
                             config_platform(env, cb->digest, &mdesc.platform, err) == 0;
                }
                for (size_t k = 0; k < nl; k++)
                        oci_descriptor_done(&layers[k]);
                free(layers);
                if (!ok) {
                        oci_descriptor_done(&mdesc);
                        goto out;
                }
                json_t *tags = json_object_get(mf, "RepoTags");
                size_t nt = json_array_size(tags);
                if (nt == 0) {
                        entries = xrealloc(entries, (ne + 1) * sizeof *entries);
                        entries[ne++] = mdesc;
                        continue;
                }
                for (size_t t = 0; t < nt; t++) {
                        const char *tag = json_string_value(json_array_get(tags, t));
                        _cleanup_(image_ref_freep) image_ref *ref = NULL;
                        if (!tag || image_ref_parse_normalized(tag, &ref, err) < 0) {
                                berr_wrap(err, "normalize image ref \"%s\"", tag ? tag : "");
                                oci_descriptor_done(&mdesc);
                                goto out;
                        }
                        if (ref->tag && ref->digest) { /* ParseDockerRef drops the tag of name:tag@digest */
                                free(ref->tag);
                                ref->tag = NULL;
                        }
                        _cleanup_free_ char *normalized = image_ref_to_string(ref);
                        oci_descriptor e = { 0 };
                        oci_descriptor_copy(&e, &mdesc);
                        oci_map_set(&e.annotations, UNPACK_LABEL_IMAGE_NAME, normalized);
                        oci_map_set(&e.annotations, UNPACK_LABEL_REF_NAME, image_ref_object(ref));
                        entries = xrealloc(entries, (ne + 1) * sizeof *entries);
                        entries[ne++] = e;
                }
                oci_descriptor_done(&mdesc);
        }
        {
                char *json = import_index_json(entries, ne);
                r = write_document(env, json, MT_OCI_INDEX, ret, err);
                free(json);
        }
out:
        for (size_t k = 0; k < ne; k++)
                oci_descriptor_done(&entries[k]);
        free(entries);
        return r;
}

/* ---- names, labels, images ---- */

char *import_image_name(const oci_map *annotations, const char *base_name) {
        const char *name = oci_map_get(annotations, UNPACK_LABEL_IMAGE_NAME);
        if (name && *name)
                return xstrdup(name);
        name = oci_map_get(annotations, UNPACK_LABEL_REF_NAME);
        if (!name || !*name)
                return NULL;
        if (strpbrk(name, "/:@"))
                return xstrdup(name);
        if (base_name && *base_name)
                return xasprintf("%s:%s", base_name, name);
        char date[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        return xasprintf("import-%s:%s", date, name);
}

static bool platform_kept(const import_options *o, const oci_descriptor *d) {
        return !o->matcher || !d->platform || platform_matcher_match(o->matcher, d->platform);
}

/* images.SetChildrenLabels over a walk filtered by platform. */
static int label_tree(const unpack_env *env, const import_options *o, const oci_descriptor *d, unsigned depth,
                      berr **err) {
        if (depth > 4)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "indexes nested too deeply: invalid argument");
        bool index = mediatype_is_index(d->media_type), manifest = mediatype_is_manifest(d->media_type);
        if (!index && !manifest)
                return 0;
        _cleanup_free_ char *body = NULL;
        size_t len;
        if (unpack_content_read(env, d->digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0)
                return -1;
        meta_labels labels = { 0 };
        int r = -1;
        if (index) {
                _cleanup_oci_index_ oci_index *idx = NULL;
                if (oci_index_parse(body, len, d->media_type, &idx, err) < 0)
                        goto out;
                oci_descriptor *kept = xcalloc(idx->n_manifests ? idx->n_manifests : 1, sizeof *kept);
                size_t nk = 0;
                for (size_t i = 0; i < idx->n_manifests; i++)
                        if (platform_kept(o, &idx->manifests[i]))
                                kept[nk++] = idx->manifests[i];
                unpack_children_labels(kept, nk, &labels);
                r = unpack_content_label(env, d->digest, &labels, err);
                for (size_t i = 0; r == 0 && i < nk; i++)
                        r = label_tree(env, o, &kept[i], depth + 1, err);
                free(kept);
        } else {
                _cleanup_oci_manifest_ oci_manifest *m = NULL;
                if (oci_manifest_parse(body, len, d->media_type, &m, err) < 0)
                        goto out;
                oci_descriptor *ch = xcalloc(m->n_layers + 1, sizeof *ch);
                ch[0] = m->config;
                for (size_t i = 0; i < m->n_layers; i++)
                        ch[i + 1] = m->layers[i];
                unpack_children_labels(ch, m->n_layers + 1, &labels);
                free(ch);
                r = unpack_content_label(env, d->digest, &labels, err);
        }
out:
        meta_labels_done(&labels);
        return r;
}

static int save_image(const unpack_env *env, const char *name, const oci_descriptor *target, berr **err) {
        meta_image img = {
                .name = (char *) name,
                .target = { .media_type = target->media_type, .digest = target->digest, .size = target->size },
        };
        for (size_t i = 0; i < target->annotations.n; i++)
                meta_labels_set(&img.target.annotations, target->annotations.keys[i], target->annotations.values[i]);
        static const char *const paths[] = { "target" };
        _cleanup_berr_ berr *e = NULL;
        int r = meta_image_update(env->db, env->ns, &img, paths, 1, NULL, &e);
        if (r < 0 && e->code == BERR_NOT_FOUND) {
                berr_freep(&e);
                r = meta_image_create(env->db, env->ns, &img, NULL, &e);
        }
        meta_labels_done(&img.target.annotations);
        if (r < 0)
                *err = TAKE_PTR(e);
        return r;
}

int image_import(const unpack_env *env, int fd, const import_options *o, import_image **ret, size_t *ret_n,
                 berr **err) {
        archive_state s = { 0 };
        oci_descriptor root = { 0 };
        _cleanup_free_ char *body = NULL;
        size_t len;
        _cleanup_oci_index_ oci_index *idx = NULL;
        import_image *imgs = NULL;
        size_t n = 0;
        int r = -1;
        if (read_archive(env, fd, &s, err) < 0)
                goto out;
        if (s.layout_version) {
                if (strcmp(s.layout_version, OCI_LAYOUT_VERSION) != 0) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0, "unsupported OCI version %s", s.layout_version);
                        goto out;
                }
                const blob_entry *b = find_blob(&s, "index.json");
                if (!b) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0, "missing index.json in OCI layout %s",
                                 OCI_LAYOUT_VERSION);
                        goto out;
                }
                root = (oci_descriptor) { .media_type = xstrdup(MT_OCI_INDEX), .digest = xstrdup(b->digest),
                                          .size = b->size };
        } else if (s.docker_manifests) {
                if (convert_docker_archive(env, &s, &root, err) < 0)
                        goto out;
        } else {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "unrecognized image format");
                goto out;
        }

        if (unpack_content_read(env, root.digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0 ||
            oci_index_parse(body, len, root.media_type, &idx, err) < 0)
                goto out;
        for (size_t i = 0; i < idx->n_manifests; i++) {
                _cleanup_free_ char *name = import_image_name(&idx->manifests[i].annotations, o->base_name);
                if (!name)
                        continue;
                imgs = xrealloc(imgs, (n + 1) * sizeof *imgs);
                imgs[n] = (import_image) { .name = TAKE_PTR(name) };
                oci_descriptor_copy(&imgs[n].target, &idx->manifests[i]);
                n++;
        }
        if (label_tree(env, o, &root, 0, err) < 0)
                goto out;
        for (size_t i = 0; i < n; i++)
                if (save_image(env, imgs[i].name, &imgs[i].target, err) < 0)
                        goto out;
        *ret = TAKE_PTR(imgs);
        *ret_n = n;
        n = 0;
        r = 0;
out:
        import_images_free(imgs, n);
        oci_descriptor_done(&root);
        archive_state_done(&s);
        return r;
}

int import_unpack(const unpack_env *env, const oci_descriptor *target, const platform_matcher *matcher, berr **err) {
        oci_descriptor cur = { 0 };
        oci_descriptor_copy(&cur, target);
        int r = -1;
        _cleanup_free_ char *body = NULL;
        size_t len;
        _cleanup_oci_manifest_ oci_manifest *m = NULL;
        _cleanup_oci_image_config_ oci_image_config *c = NULL;
        _cleanup_free_ char *cbody = NULL;
        size_t clen;
        for (unsigned depth = 0; mediatype_is_index(cur.media_type); depth++) {
                _cleanup_oci_index_ oci_index *idx = NULL;
                const oci_descriptor *sel;
                if (depth > 4) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0, "indexes nested too deeply: invalid argument");
                        goto out;
                }
                free(body);
                body = NULL;
                if (unpack_content_read(env, cur.digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0 ||
                    oci_index_parse(body, len, cur.media_type, &idx, err) < 0 ||
                    oci_index_select(idx, matcher, cur.digest, &sel, err) < 0)
                        goto out;
                oci_descriptor next = { 0 };
                oci_descriptor_copy(&next, sel);
                oci_descriptor_done(&cur);
                cur = next;
        }
        free(body);
        body = NULL;
        if (unpack_content_read(env, cur.digest, OCI_DOCUMENT_MAX_SIZE, &body, &len, err) < 0 ||
            oci_manifest_parse(body, len, cur.media_type, &m, err) < 0 ||
            unpack_content_read(env, m->config.digest, OCI_DOCUMENT_MAX_SIZE, &cbody, &clen, err) < 0 ||
            oci_image_config_parse(cbody, clen, &c, err) < 0)
                goto out;
        r = unpack_manifest(env, m, c, NULL, err);
out:
        oci_descriptor_done(&cur);
        return r;
}
