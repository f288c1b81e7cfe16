#include <string.h>

#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/images.h"
#include "metadata/util.h"

void meta_descriptor_done(meta_descriptor *d) {
        if (!d)
                return;
        free(d->media_type);
        free(d->digest);
        meta_labels_done(&d->annotations);
        *d = (meta_descriptor) { 0 };
}

void meta_image_done(meta_image *img) {
        if (!img)
                return;
        free(img->name);
        meta_labels_done(&img->labels);
        meta_descriptor_done(&img->target);
        *img = (meta_image) { 0 };
}

void meta_images_free(meta_image *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_image_done(&v[i]);
        free(v);
}

static void image_copy(meta_image *dst, const meta_image *src) {
        meta_image_done(dst);
        dst->name = src->name ? xstrdup(src->name) : NULL;
        meta_labels_copy(&dst->labels, &src->labels);
        dst->target.media_type = src->target.media_type ? xstrdup(src->target.media_type) : NULL;
        dst->target.digest = src->target.digest ? xstrdup(src->target.digest) : NULL;
        dst->target.size = src->target.size;
        meta_labels_copy(&dst->target.annotations, &src->target.annotations);
        dst->created_at = src->created_at;
        dst->updated_at = src->updated_at;
}

static int not_found(const char *name, berr **err) {
        _cleanup_free_ char *q = meta_quote(name);
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "image %s: not found", q);
}

static int validate(const meta_image *img, berr **err) {
        const char *reason;
        if (!img->name || !*img->name)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "image name must not be empty: invalid argument");
        if (meta_labels_validate(&img->labels, "image.Labels", err) < 0)
                return -1;
        if (meta_digest_check(img->target.digest, &reason) < 0) {
                _cleanup_free_ char *q = meta_quote(img->target.digest);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "Target.Digest %s invalid: %s: invalid argument",
                                q, reason);
        }
        if (img->target.size <= 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "Target.Size must be greater than zero: invalid argument");
        if (!img->target.media_type || !*img->target.media_type)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "Target.MediaType must be set: invalid argument");
        return 0;
}

#define SELECT_IMAGE "SELECT id, name, media_type, digest, size, created_at, updated_at FROM images "

static int load(meta_db *db, sqlite3_stmt *st, meta_image *ret, berr **err) {
        int64_t id = sqlite3_column_int64(st, 0);
        meta_image img = {
                .name = meta_column_strdup(st, 1),
                .target = {
                        .media_type = meta_column_strdup(st, 2),
                        .digest = meta_column_strdup(st, 3),
                        .size = sqlite3_column_int64(st, 4),
                },
                .created_at = sqlite3_column_int64(st, 5),
                .updated_at = sqlite3_column_int64(st, 6),
        };
        if (meta_labels_load(db, "image_labels", id, &img.labels, err) < 0 ||
            meta_labels_load(db, "image_annotations", id, &img.target.annotations, err) < 0) {
                meta_image_done(&img);
                return -1;
        }
        *ret = img;
        return 0;
}

/* Finds the image's row; *ret_id 0 when absent. */
static int find(meta_db *db, const char *ns, const char *name, int64_t *ret_id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        *ret_id = 0;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (nsid == 0)
                return 0;
        if (meta_prepare(db, &st, "SELECT id FROM images WHERE ns = ?1 AND name = ?2", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, name);
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (r > 0)
                *ret_id = sqlite3_column_int64(st, 0);
        return 0;
}

static int load_by_id(meta_db *db, int64_t id, meta_image *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, SELECT_IMAGE "WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        int r = meta_step(db, st, err);
        if (r <= 0)
                return r < 0 ? -1 : berr_set(err, BERR_INTERNAL, 0, "image row %lld vanished", (long long) id);
        return load(db, st, ret, err);
}

static int get_locked(meta_db *db, const char *ns, const char *name, meta_image *ret, berr **err) {
        int64_t id;
        if (find(db, ns, name, &id, err) < 0)
                return -1;
        if (id == 0)
                return not_found(name, err);
        return load_by_id(db, id, ret, err);
}

int meta_image_get(meta_db *db, const char *ns, const char *name, meta_image *ret, berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, get_locked(db, ns, name, ret, err), err);
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        meta_image *img = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "name") == 0)
                return img->name && *img->name ? img->name : NULL;
        if (strcmp(path[0], "target") == 0) {
                if (n < 2)
                        return NULL;
                if (strcmp(path[1], "digest") == 0)
                        return img->target.digest && *img->target.digest ? img->target.digest : NULL;
                if (strcmp(path[1], "mediatype") == 0)
                        return img->target.media_type && *img->target.media_type ? img->target.media_type : NULL;
                return NULL;
        }
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&img->labels, path + 1, n - 1);
        if (strcmp(path[0], "annotations") == 0)
                return meta_labels_lookup(&img->target.annotations, path + 1, n - 1);
        return NULL;
}

static int load_row(meta_db *db, sqlite3_stmt *st, void *elem, berr **err) {
        return load(db, st, elem, err);
}

static void done_row(void *elem) {
        meta_image_done(elem);
}

static int list_locked(meta_db *db, const char *ns, const meta_filter *f, meta_image **ret, size_t *ret_n,
                       berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, SELECT_IMAGE "WHERE ns = ?1 ORDER BY name", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        return meta_collect_rows(db, st, sizeof(**ret), load_row, done_row, f, lookup, (void **) ret, ret_n, err);
}

int meta_image_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_image **ret,
                    size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, ns, f, ret, ret_n, err), err);
}

/* Writes every column of an existing row plus its labels and annotations. */
static int write_image(meta_db *db, int64_t id, const meta_image *img, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st,
                         "UPDATE images SET media_type = ?2, digest = ?3, size = ?4, created_at = ?5, updated_at = ?6 "
                         "WHERE id = ?1",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        meta_bind_text(st, 2, img->target.media_type);
        meta_bind_text(st, 3, img->target.digest);
        sqlite3_bind_int64(st, 4, img->target.size);
        sqlite3_bind_int64(st, 5, img->created_at);
        sqlite3_bind_int64(st, 6, img->updated_at);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "image_labels", id, &img->labels, err) < 0 ||
            meta_labels_store(db, "image_annotations", id, &img->target.annotations, err) < 0)
                return -1;
        return 0;
}

static int create_locked(meta_db *db, const char *ns, const meta_image *in, meta_image *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, id;
        if (validate(in, err) < 0)
                return -1;
        if (find(db, ns, in->name, &id, err) < 0)
                return -1;
        if (id != 0) {
                _cleanup_free_ char *q = meta_quote(in->name);
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "image %s: already exists", q);
        }
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        meta_image img = { 0 };
        image_copy(&img, in);
        img.created_at = img.updated_at = meta_now_ns();
        int r = meta_prepare(db, &st,
                             "INSERT INTO images (ns, name, media_type, digest, size, created_at, updated_at) "
                             "VALUES (?1, ?2, '', '', 0, 0, 0)",
                             err);
        if (r >= 0) {
                sqlite3_bind_int64(st, 1, nsid);
                meta_bind_text(st, 2, img.name);
                r = meta_step(db, st, err);
        }
        if (r >= 0)
                r = write_image(db, sqlite3_last_insert_rowid(db->sql), &img, err);
        if (r >= 0 && ret)
                *ret = img;
        else
                meta_image_done(&img);
        return r < 0 ? -1 : 0;
}

int meta_image_create(meta_db *db, const char *ns, const meta_image *img, meta_image *ret, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, create_locked(db, ns, img, ret, err), err);
}

static int apply_paths(meta_image *cur, const meta_image *in, const char *const *paths, size_t n_paths,
                       berr **err) {
        for (size_t i = 0; i < n_paths; i++) {
                const char *p = paths[i];
                if (meta_labels_apply_path(&cur->labels, &in->labels, p))
                        continue;
                if (strncmp(p, "annotations.", 12) == 0)
                        meta_labels_set(&cur->target.annotations, p + 12,
                                        meta_labels_get(&in->target.annotations, p + 12));
                else if (strcmp(p, "annotations") == 0)
                        meta_labels_copy(&cur->target.annotations, &in->target.annotations);
                else if (strcmp(p, "target") == 0) {
                        meta_descriptor_done(&cur->target);
                        cur->target.media_type = in->target.media_type ? xstrdup(in->target.media_type) : NULL;
                        cur->target.digest = in->target.digest ? xstrdup(in->target.digest) : NULL;
                        cur->target.size = in->target.size;
                        meta_labels_copy(&cur->target.annotations, &in->target.annotations);
                } else {
                        _cleanup_free_ char *qp = meta_quote(p), *qn = meta_quote(in->name);
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "cannot update %s field on image %s: invalid argument", qp, qn);
                }
        }
        return 0;
}

static int update_locked(meta_db *db, const char *ns, const meta_image *in, const char *const *paths,
                         size_t n_paths, meta_image *ret, berr **err) {
        meta_image cur = { 0 };
        int64_t id;
        int r = -1;
        if (find(db, ns, in->name, &id, err) < 0)
                return -1;
        if (id == 0)
                return not_found(in->name, err);
        if (load_by_id(db, id, &cur, err) < 0)
                return -1;
        int64_t created = cur.created_at;
        if (n_paths > 0) {
                if (apply_paths(&cur, in, paths, n_paths, err) < 0)
                        goto out;
        } else
                image_copy(&cur, in);
        free(cur.name);
        cur.name = xstrdup(in->name);
        if (validate(&cur, err) < 0)
                goto out;
        cur.created_at = created;
        cur.updated_at = meta_now_ns();
        r = write_image(db, id, &cur, err);
        if (r >= 0 && ret) {
                *ret = cur;
                cur = (meta_image) { 0 };
        }
out:
        meta_image_done(&cur);
        return r < 0 ? -1 : 0;
}

int meta_image_update(meta_db *db, const char *ns, const meta_image *img, const char *const *paths, size_t n_paths,
                      meta_image *ret, berr **err) {
        if (!img->name || !*img->name)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "image name is required for update: invalid argument");
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, update_locked(db, ns, img, paths, n_paths, ret, err), err);
}

static int delete_locked(meta_db *db, const char *ns, const char *name, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t id;
        if (find(db, ns, name, &id, err) < 0)
                return -1;
        if (id == 0)
                return not_found(name, err);
        if (meta_prepare(db, &st, "DELETE FROM images WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_image_delete(meta_db *db, const char *ns, const char *name, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, delete_locked(db, ns, name, err), err);
}
