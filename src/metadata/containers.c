/* Container records with containerd's semantics (metadata/containers.go): validation, the field-mask update
 * with its immutable fields, and its error texts. Rows in `containers`, labels in `container_labels`,
 * extensions (name -> Any) in `container_extensions`. */
#include <string.h>

#include "basic/identifier.h"
#include "metadata/containers.h"
#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/util.h"

/* ---- the record in memory ----------------------------------------------------------------------------- */

static char *strdup_or_null(const char *s) {
        return s ? xstrdup(s) : NULL;
}

static uint8_t *memdup_or_null(const uint8_t *p, size_t len) {
        if (!p || len == 0)
                return NULL;
        uint8_t *d = xmalloc(len);
        memcpy(d, p, len);
        return d;
}

static void extension_done(meta_extension *x) {
        free(x->name);
        free(x->type_url);
        free(x->value);
        *x = (meta_extension) { 0 };
}

void meta_container_done(meta_container *c) {
        if (!c)
                return;
        free(c->id);
        meta_labels_done(&c->labels);
        free(c->image);
        free(c->runtime_name);
        free(c->runtime_options_type);
        free(c->runtime_options);
        free(c->spec_type);
        free(c->spec);
        free(c->snapshotter);
        free(c->snapshot_key);
        for (size_t i = 0; i < c->n_extensions; i++)
                extension_done(&c->extensions[i]);
        free(c->extensions);
        free(c->sandbox_id);
        *c = (meta_container) { 0 };
}

void meta_containers_free(meta_container *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_container_done(&v[i]);
        free(v);
}

static void extensions_clear(meta_container *c) {
        for (size_t i = 0; i < c->n_extensions; i++)
                extension_done(&c->extensions[i]);
        free(c->extensions);
        c->extensions = NULL;
        c->n_extensions = 0;
}

static void extensions_copy(meta_container *dst, const meta_container *src) {
        extensions_clear(dst);
        for (size_t i = 0; i < src->n_extensions; i++) {
                const meta_extension *x = &src->extensions[i];
                meta_container_set_extension(dst, x->name, x->type_url ? x->type_url : "", x->value, x->len);
        }
}

void meta_container_copy(meta_container *dst, const meta_container *src) {
        meta_container_done(dst);
        dst->id = strdup_or_null(src->id);
        meta_labels_copy(&dst->labels, &src->labels);
        dst->image = strdup_or_null(src->image);
        dst->runtime_name = strdup_or_null(src->runtime_name);
        dst->runtime_options_type = strdup_or_null(src->runtime_options_type);
        dst->runtime_options = memdup_or_null(src->runtime_options, src->runtime_options_len);
        dst->runtime_options_len = dst->runtime_options ? src->runtime_options_len : 0;
        dst->spec_type = strdup_or_null(src->spec_type);
        dst->spec = memdup_or_null(src->spec, src->spec_len);
        dst->spec_len = dst->spec ? src->spec_len : 0;
        dst->snapshotter = strdup_or_null(src->snapshotter);
        dst->snapshot_key = strdup_or_null(src->snapshot_key);
        extensions_copy(dst, src);
        dst->sandbox_id = strdup_or_null(src->sandbox_id);
        dst->created_at = src->created_at;
        dst->updated_at = src->updated_at;
}

/* Index of name, or where it would be inserted (with *found false). */
static size_t extension_find(const meta_container *c, const char *name, bool *found) {
        size_t lo = 0, hi = c->n_extensions;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(c->extensions[mid].name, name);
                if (cmp == 0) {
                        *found = true;
                        return mid;
                }
                if (cmp < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

const meta_extension *meta_container_get_extension(const meta_container *c, const char *name) {
        bool found;
        size_t i = extension_find(c, name, &found);
        return found ? &c->extensions[i] : NULL;
}

void meta_container_set_extension(meta_container *c, const char *name, const char *type_url, const uint8_t *value,
                                  size_t len) {
        bool found;
        size_t i = extension_find(c, name, &found);
        if (!type_url) {
                if (found) {
                        extension_done(&c->extensions[i]);
                        memmove(&c->extensions[i], &c->extensions[i + 1],
                                (c->n_extensions - i - 1) * sizeof *c->extensions);
                        c->n_extensions--;
                }
                return;
        }
        meta_extension x = {
                .name = xstrdup(name),
                .type_url = xstrdup(type_url),
                .value = memdup_or_null(value, len),
        };
        x.len = x.value ? len : 0;
        if (found) {
                extension_done(&c->extensions[i]);
                c->extensions[i] = x;
                return;
        }
        c->extensions = xrealloc(c->extensions, (c->n_extensions + 1) * sizeof *c->extensions);
        memmove(&c->extensions[i + 1], &c->extensions[i], (c->n_extensions - i) * sizeof *c->extensions);
        c->extensions[i] = x;
        c->n_extensions++;
}

static bool empty(const char *s) {
        return !s || !*s;
}

/* containerd's validateContainer; messages without the caller's prefix. */
static int validate(const meta_container *c, berr **err) {
        _cleanup_berr_ berr *verr = NULL;
        if (identifier_validate(c->id ? c->id : "", &verr) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "container.ID: %s: invalid argument", verr->msg);
        for (size_t i = 0; i < c->n_extensions; i++)
                if (empty(c->extensions[i].name))
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "container.Extension keys must not be zero-length: invalid argument");
        if (meta_labels_validate(&c->labels, "containers.Labels", err) < 0)
                return -1;
        if (empty(c->runtime_name))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "container.Runtime.Name must be set: invalid argument");
        if (!c->spec_type)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "container.Spec must be set: invalid argument");
        if (!empty(c->snapshot_key) && empty(c->snapshotter))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "container.Snapshotter must be set if container.SnapshotKey is set: invalid argument");
        return 0;
}

/* ---- rows --------------------------------------------------------------------------------------------- */

#define SELECT_CONTAINER                                                                                      \
        "SELECT id, name, image, runtime_name, runtime_options_type, runtime_options, spec_type, spec, "      \
        "snapshotter, snapshot_key, sandbox_id, created_at, updated_at FROM containers "

static uint8_t *column_blob(sqlite3_stmt *st, int col, size_t *ret_len) {
        const void *p = sqlite3_column_blob(st, col);
        int n = sqlite3_column_bytes(st, col);
        *ret_len = p && n > 0 ? (size_t) n : 0;
        return memdup_or_null(p, *ret_len);
}

static int load_extensions(meta_db *db, int64_t owner, meta_container *c, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        if (meta_prepare(db, &st, "SELECT name, type_url, value FROM container_extensions WHERE owner = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, owner);
        while ((r = meta_step(db, st, err)) > 0) {
                size_t len;
                _cleanup_free_ uint8_t *value = column_blob(st, 2, &len);
                meta_container_set_extension(c, (const char *) sqlite3_column_text(st, 0),
                                             (const char *) sqlite3_column_text(st, 1), value, len);
        }
        return r < 0 ? -1 : 0;
}

static int load(meta_db *db, sqlite3_stmt *st, meta_container *ret, berr **err) {
        int64_t id = sqlite3_column_int64(st, 0);
        meta_container c = {
                .id = meta_column_strdup(st, 1),
                .image = meta_column_strdup(st, 2),
                .runtime_name = meta_column_strdup(st, 3),
                .runtime_options_type = meta_column_strdup(st, 4),
                .spec_type = meta_column_strdup(st, 6),
                .snapshotter = meta_column_strdup(st, 8),
                .snapshot_key = meta_column_strdup(st, 9),
                .sandbox_id = meta_column_strdup(st, 10),
                .created_at = sqlite3_column_int64(st, 11),
                .updated_at = sqlite3_column_int64(st, 12),
        };
        c.runtime_options = column_blob(st, 5, &c.runtime_options_len);
        c.spec = column_blob(st, 7, &c.spec_len);
        if (meta_labels_load(db, "container_labels", id, &c.labels, err) < 0 ||
            load_extensions(db, id, &c, err) < 0) {
                meta_container_done(&c);
                return -1;
        }
        *ret = c;
        return 0;
}

/* The namespace's row (0 if it does not exist) and the container's row in it (0 if absent). */
static int find(meta_db *db, const char *ns, const char *id, int64_t *ret_nsid, int64_t *ret_id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        *ret_id = 0;
        if (meta_ns_id(db, ns, false, ret_nsid, err) < 0)
                return -1;
        if (*ret_nsid == 0)
                return 0;
        if (meta_prepare(db, &st, "SELECT id FROM containers WHERE ns = ?1 AND name = ?2", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, *ret_nsid);
        meta_bind_text(st, 2, id ? id : "");
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (r > 0)
                *ret_id = sqlite3_column_int64(st, 0);
        return 0;
}

static int load_by_row(meta_db *db, int64_t row, meta_container *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, SELECT_CONTAINER "WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, row);
        int r = meta_step(db, st, err);
        if (r <= 0)
                return r < 0 ? -1 : berr_set(err, BERR_INTERNAL, 0, "container row %lld vanished", (long long) row);
        return load(db, st, ret, err);
}

/* An Any column pair: SQL NULLs when the Any is not set; a zero-length blob (not NULL) when set but empty. */
static void bind_any(sqlite3_stmt *st, int idx, const char *type, const uint8_t *value, size_t len) {
        if (!type) {
                sqlite3_bind_null(st, idx);
                sqlite3_bind_null(st, idx + 1);
                return;
        }
        meta_bind_text(st, idx, type);
        if (value && len > 0)
                sqlite3_bind_blob64(st, idx + 1, value, len, SQLITE_TRANSIENT);
        else
                sqlite3_bind_zeroblob(st, idx + 1, 0);
}

static int store_extensions(meta_db *db, int64_t owner, const meta_container *c, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *del = NULL, *ins = NULL;
        if (meta_prepare(db, &del, "DELETE FROM container_extensions WHERE owner = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(del, 1, owner);
        if (meta_step(db, del, err) < 0)
                return -1;
        if (c->n_extensions == 0)
                return 0;
        if (meta_prepare(db, &ins,
                         "INSERT INTO container_extensions (owner, name, type_url, value) VALUES (?1, ?2, ?3, ?4)",
                         err) < 0)
                return -1;
        for (size_t i = 0; i < c->n_extensions; i++) {
                const meta_extension *x = &c->extensions[i];
                sqlite3_reset(ins);
                sqlite3_bind_int64(ins, 1, owner);
                meta_bind_text(ins, 2, x->name);
                bind_any(ins, 3, x->type_url ? x->type_url : "", x->value, x->len);
                if (meta_step(db, ins, err) < 0)
                        return -1;
        }
        return 0;
}

/* Writes every column of an existing row, its labels and its extensions. */
static int write_container(meta_db *db, int64_t row, const meta_container *c, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st,
                         "UPDATE containers SET image = ?2, runtime_name = ?3, runtime_options_type = ?4, "
                         "runtime_options = ?5, spec_type = ?6, spec = ?7, snapshotter = ?8, snapshot_key = ?9, "
                         "sandbox_id = ?10, created_at = ?11, updated_at = ?12 WHERE id = ?1",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, row);
        meta_bind_text(st, 2, c->image ? c->image : "");
        meta_bind_text(st, 3, c->runtime_name ? c->runtime_name : "");
        bind_any(st, 4, c->runtime_options_type, c->runtime_options, c->runtime_options_len);
        bind_any(st, 6, c->spec_type, c->spec, c->spec_len);
        meta_bind_text(st, 8, c->snapshotter ? c->snapshotter : "");
        meta_bind_text(st, 9, c->snapshot_key ? c->snapshot_key : "");
        meta_bind_text(st, 10, c->sandbox_id ? c->sandbox_id : "");
        sqlite3_bind_int64(st, 11, c->created_at);
        sqlite3_bind_int64(st, 12, c->updated_at);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "container_labels", row, &c->labels, err) < 0)
                return -1;
        return store_extensions(db, row, c, err);
}

/* ---- get / list --------------------------------------------------------------------------------------- */

static int get_locked(meta_db *db, const char *ns, const char *id, meta_container *ret, berr **err) {
        int64_t nsid, row;
        if (find(db, ns, id, &nsid, &row, err) < 0)
                return -1;
        if (row == 0) {
                _cleanup_free_ char *qi = meta_quote(id ? id : ""), *qn = meta_quote(ns);
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "container %s in namespace %s: not found", qi, qn);
        }
        return load_by_row(db, row, ret, err);
}

int meta_container_get(meta_db *db, const char *ns, const char *id, meta_container *ret, berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, get_locked(db, ns, id, ret, err), err);
}

static const char *nonempty(const char *s) {
        return empty(s) ? NULL : s;
}

/* containerd's adaptContainer, plus snapshotter and snapshotkey. */
static const char *lookup(const char *const *path, size_t n, void *obj) {
        const meta_container *c = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "id") == 0)
                return nonempty(c->id);
        if (strcmp(path[0], "image") == 0)
                return nonempty(c->image);
        if (strcmp(path[0], "runtime") == 0)
                return n >= 2 && strcmp(path[1], "name") == 0 ? nonempty(c->runtime_name) : NULL;
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&c->labels, path + 1, n - 1);
        if (strcmp(path[0], "snapshotter") == 0)
                return nonempty(c->snapshotter);
        if (strcmp(path[0], "snapshotkey") == 0)
                return nonempty(c->snapshot_key);
        return NULL;
}

static int load_row(meta_db *db, sqlite3_stmt *st, void *elem, berr **err) {
        return load(db, st, elem, err);
}

static void done_row(void *elem) {
        meta_container_done(elem);
}

static int list_locked(meta_db *db, const char *ns, const meta_filter *f, meta_container **ret, size_t *ret_n,
                       berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, SELECT_CONTAINER "WHERE ns = ?1 ORDER BY name", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        return meta_collect_rows(db, st, sizeof(**ret), load_row, done_row, f, lookup, (void **) ret, ret_n, err);
}

int meta_container_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters,
                        meta_container **ret, size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, ns, f, ret, ret_n, err), err);
}

/* ---- create / update / delete ------------------------------------------------------------------------- */

static int create_locked(meta_db *db, const char *ns, const meta_container *in, meta_container *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, row;
        if (find(db, ns, in->id, &nsid, &row, err) < 0)
                return -1;
        if (row != 0) {
                _cleanup_free_ char *q = meta_quote(in->id);
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "container %s: already exists", q);
        }
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        meta_container c = { 0 };
        meta_container_copy(&c, in);
        c.created_at = c.updated_at = meta_now_ns();
        int r = meta_prepare(db, &st,
                             "INSERT INTO containers (ns, name, runtime_name, created_at, updated_at) "
                             "VALUES (?1, ?2, '', 0, 0)",
                             err);
        if (r >= 0) {
                sqlite3_bind_int64(st, 1, nsid);
                meta_bind_text(st, 2, c.id);
                r = meta_step(db, st, err);
        }
        if (r >= 0)
                r = write_container(db, sqlite3_last_insert_rowid(db->sql), &c, err);
        if (r >= 0 && ret)
                *ret = c;
        else
                meta_container_done(&c);
        return r < 0 ? -1 : 0;
}

int meta_container_create(meta_db *db, const char *ns, const meta_container *c, meta_container *ret, berr **err) {
        if (validate(c, err) < 0)
                return berr_wrap(err, "create container failed validation");
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, create_locked(db, ns, c, ret, err), err);
}

static bool str_equal(const char *a, const char *b) {
        return strcmp(a ? a : "", b ? b : "") == 0;
}

static void replace_str(char **dst, const char *src) {
        free(*dst);
        *dst = strdup_or_null(src);
}

static int apply_path(meta_container *cur, const meta_container *in, const char *p, berr **err) {
        if (meta_labels_apply_path(&cur->labels, &in->labels, p))
                return 0;
        if (strncmp(p, "extensions.", 11) == 0) {
                /* containerd copies the request's value even when it has none: an empty Any is then stored. */
                const meta_extension *x = meta_container_get_extension(in, p + 11);
                meta_container_set_extension(cur, p + 11, x && x->type_url ? x->type_url : "", x ? x->value : NULL,
                                             x ? x->len : 0);
                return 0;
        }
        if (strcmp(p, "spec") == 0) {
                replace_str(&cur->spec_type, in->spec_type);
                free(cur->spec);
                cur->spec = memdup_or_null(in->spec, in->spec_len);
                cur->spec_len = cur->spec ? in->spec_len : 0;
        } else if (strcmp(p, "extensions") == 0)
                extensions_copy(cur, in);
        else if (strcmp(p, "image") == 0)
                replace_str(&cur->image, in->image);
        else if (strcmp(p, "snapshotkey") == 0)
                replace_str(&cur->snapshot_key, in->snapshot_key);
        else {
                _cleanup_free_ char *qp = meta_quote(p), *qi = meta_quote(in->id);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "cannot update %s field on %s: invalid argument",
                                qp, qi);
        }
        return 0;
}

static int update_locked(meta_db *db, const char *ns, const meta_container *in, const char *const *paths,
                         size_t n_paths, meta_container *ret, berr **err) {
        static const char *const full_replace[] = { "labels", "spec", "extensions", "image", "snapshotkey" };
        meta_container cur = { 0 };
        int64_t nsid, row;
        int r = -1;
        if (find(db, ns, in->id, &nsid, &row, err) < 0)
                return -1;
        if (nsid == 0) {
                /* containerd: the namespace has no containers bucket at all. */
                _cleanup_free_ char *qi = meta_quote(in->id), *qn = meta_quote(ns);
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "cannot update container %s in namespace %s: not found",
                                qi, qn);
        }
        if (row == 0) {
                _cleanup_free_ char *q = meta_quote(in->id);
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "container %s: not found", q);
        }
        if (load_by_row(db, row, &cur, err) < 0)
                return -1;
        int64_t created = cur.created_at;
        if (n_paths == 0) {
                /* Immutable fields must be unchanged on a full replace, so they can become mutable later. */
                if (!str_equal(cur.snapshotter, in->snapshotter)) {
                        berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                 "container.Snapshotter field is immutable: invalid argument");
                        goto out;
                }
                if (!str_equal(cur.runtime_name, in->runtime_name)) {
                        berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                 "container.Runtime.Name field is immutable: invalid argument");
                        goto out;
                }
                paths = full_replace;
                n_paths = ELEMENTSOF(full_replace);
        }
        for (size_t i = 0; i < n_paths; i++)
                if (apply_path(&cur, in, paths[i], err) < 0)
                        goto out;
        if (validate(&cur, err) < 0) {
                berr_wrap(err, "update failed validation");
                goto out;
        }
        cur.created_at = created;
        cur.updated_at = meta_now_ns();
        r = write_container(db, row, &cur, err);
        if (r >= 0 && ret) {
                *ret = cur;
                cur = (meta_container) { 0 };
        }
out:
        meta_container_done(&cur);
        return r < 0 ? -1 : 0;
}

int meta_container_update(meta_db *db, const char *ns, const meta_container *c, const char *const *paths,
                          size_t n_paths, meta_container *ret, berr **err) {
        if (empty(c->id))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "must specify a container id: invalid argument");
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, update_locked(db, ns, c, paths, n_paths, ret, err), err);
}

static int delete_locked(meta_db *db, const char *ns, const char *id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, row;
        if (find(db, ns, id, &nsid, &row, err) < 0)
                return -1;
        if (nsid == 0) {
                _cleanup_free_ char *qi = meta_quote(id ? id : ""), *qn = meta_quote(ns);
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "cannot delete container %s in namespace %s: not found",
                                qi, qn);
        }
        if (row == 0)
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "container %s: not found", id ? id : "");
        if (meta_prepare(db, &st, "DELETE FROM containers WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, row);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_container_delete(meta_db *db, const char *ns, const char *id, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, delete_locked(db, ns, id, err), err);
}
