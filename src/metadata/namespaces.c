#include <string.h>

#include "basic/identifier.h"
#include "basic/strv.h"
#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/namespaces.h"
#include "metadata/util.h"

void meta_namespace_done(meta_namespace *n) {
        if (!n)
                return;
        free(n->name);
        meta_labels_done(&n->labels);
        *n = (meta_namespace) { 0 };
}

void meta_namespaces_free(meta_namespace *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_namespace_done(&v[i]);
        free(v);
}

static int not_found(const char *name, berr **err) {
        _cleanup_free_ char *q = meta_quote(name);
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "namespace %s: not found", q);
}

int meta_namespace_create(meta_db *db, const char *name, const meta_labels *labels, berr **err) {
        _cleanup_berr_ berr *verr = NULL;
        if (identifier_validate(name, &verr) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: invalid argument", verr->msg);
        if (meta_labels_validate(labels, "namespace.Labels", err) < 0)
                return -1;
        if (meta_tx_begin(db, err) < 0)
                return -1;
        int64_t id;
        int r = meta_ns_id(db, name, false, &id, err);
        if (r >= 0 && id != 0) {
                _cleanup_free_ char *q = meta_quote(name);
                r = berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "namespace %s: already exists", q);
        }
        if (r >= 0)
                r = meta_ns_id(db, name, true, &id, err);
        if (r >= 0)
                r = meta_labels_store(db, "namespace_labels", id, labels, err);
        return meta_tx_end(db, r, err);
}

static int load(meta_db *db, sqlite3_stmt *st, meta_namespace *ret, berr **err) {
        meta_namespace n = {
                .name = meta_column_strdup(st, 1),
                .created_at = sqlite3_column_int64(st, 2),
        };
        if (meta_labels_load(db, "namespace_labels", sqlite3_column_int64(st, 0), &n.labels, err) < 0) {
                meta_namespace_done(&n);
                return -1;
        }
        *ret = n;
        return 0;
}

static int get_locked(meta_db *db, const char *name, meta_namespace *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "SELECT id, name, created_at FROM namespaces WHERE name = ?1", err) < 0)
                return -1;
        meta_bind_text(st, 1, name);
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return not_found(name, err);
        return load(db, st, ret, err);
}

int meta_namespace_get(meta_db *db, const char *name, meta_namespace *ret, berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, get_locked(db, name, ret, err), err);
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        meta_namespace *ns = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "name") == 0)
                return ns->name && *ns->name ? ns->name : NULL;
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&ns->labels, path + 1, n - 1);
        return NULL;
}

static int list_locked(meta_db *db, const meta_filter *f, meta_namespace **ret, size_t *ret_n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_namespace *v = NULL;
        size_t n = 0;
        int r;
        if (meta_prepare(db, &st, "SELECT id, name, created_at FROM namespaces ORDER BY name", err) < 0)
                return -1;
        while ((r = meta_step(db, st, err)) > 0) {
                meta_namespace ns;
                if (load(db, st, &ns, err) < 0) {
                        r = -1;
                        break;
                }
                if (!meta_filter_match(f, lookup, &ns)) {
                        meta_namespace_done(&ns);
                        continue;
                }
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = ns;
        }
        if (r < 0) {
                meta_namespaces_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_namespace_list(meta_db *db, const char *const *filters, size_t n_filters, meta_namespace **ret,
                        size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, f, ret, ret_n, err), err);
}

static int update_locked(meta_db *db, const char *name, const meta_labels *labels, const char *const *paths,
                         size_t n_paths, berr **err) {
        int64_t id;
        meta_labels cur = { 0 };
        int r = -1;
        if (meta_ns_id(db, name, true, &id, err) < 0)
                return -1;
        if (n_paths > 0) {
                if (meta_labels_load(db, "namespace_labels", id, &cur, err) < 0)
                        return -1;
                for (size_t i = 0; i < n_paths; i++) {
                        if (strncmp(paths[i], "labels.", 7) != 0) {
                                _cleanup_free_ char *q = meta_quote(paths[i]);
                                berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "cannot update %s field", q);
                                goto out;
                        }
                        meta_labels_set(&cur, paths[i] + 7, meta_labels_get(labels, paths[i] + 7));
                }
        } else
                meta_labels_copy(&cur, labels);
        if (meta_labels_validate(&cur, "namespace.Labels", err) < 0)
                goto out;
        r = meta_labels_store(db, "namespace_labels", id, &cur, err);
out:
        meta_labels_done(&cur);
        return r;
}

int meta_namespace_update(meta_db *db, const char *name, const meta_labels *labels, const char *const *paths,
                          size_t n_paths, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, update_locked(db, name, labels, paths, n_paths, err), err);
}

static int count(meta_db *db, const char *sql, int64_t id, int64_t *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, sql, err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        if (meta_step(db, st, err) < 0)
                return -1;
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

/* containerd's listNs: the kinds of objects still in the namespace, in its order and words. */
static int remaining_objects(meta_db *db, int64_t id, char ***ret, berr **err) {
        _cleanup_strv_free_ char **what = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t n;
        int r;
        if (count(db, "SELECT count(*) FROM images WHERE ns = ?1", id, &n, err) < 0)
                return -1;
        if (n > 0)
                strv_extend(&what, "images");
        if (count(db, "SELECT count(*) FROM content WHERE ns = ?1", id, &n, err) < 0)
                return -1;
        if (n > 0)
                strv_extend(&what, "blobs");
        if (count(db, "SELECT count(*) FROM containers WHERE ns = ?1", id, &n, err) < 0)
                return -1;
        if (n > 0)
                strv_extend(&what, "containers");
        if (meta_prepare(db, &st, "SELECT DISTINCT snapshotter FROM snapshots WHERE ns = ?1 ORDER BY snapshotter",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        while ((r = meta_step(db, st, err)) > 0) {
                _cleanup_free_ char *q = meta_quote((const char *) sqlite3_column_text(st, 0));
                strv_push(&what, xasprintf("snapshots on %s snapshotter", q));
        }
        if (r < 0)
                return -1;
        *ret = TAKE_PTR(what);
        return 0;
}

static int delete_locked(meta_db *db, const char *name, berr **err) {
        _cleanup_strv_free_ char **what = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t id;
        if (meta_ns_id(db, name, false, &id, err) < 0)
                return -1;
        if (id == 0)
                return not_found(name, err);
        if (remaining_objects(db, id, &what, err) < 0)
                return -1;
        if (what && what[0]) {
                _cleanup_free_ char *q = meta_quote(name), *joined = strv_join(what, ", ");
                return berr_set(err, BERR_FAILED_PRECONDITION, 0,
                                "namespace %s must be empty, but it still has %s: failed precondition", q, joined);
        }
        if (meta_prepare(db, &st, "DELETE FROM namespaces WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_namespace_delete(meta_db *db, const char *name, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, delete_locked(db, name, err), err);
}
