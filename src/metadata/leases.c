#include <string.h>

#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/leases.h"
#include "metadata/util.h"

void meta_lease_done(meta_lease *l) {
        if (!l)
                return;
        free(l->id);
        meta_labels_done(&l->labels);
        *l = (meta_lease) { 0 };
}

void meta_leases_free(meta_lease *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_lease_done(&v[i]);
        free(v);
}

void meta_lease_resources_free(meta_lease_resource *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].id);
                free(v[i].type);
        }
        free(v);
}

static int not_found(const char *id, berr **err) {
        _cleanup_free_ char *q = meta_quote(id);
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "lease %s: not found", q);
}

/* The lease's row id, 0 when it (or the namespace) does not exist. */
static int find(meta_db *db, const char *ns, const char *id, int64_t *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        *ret = 0;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (nsid == 0 || !id)
                return 0;
        if (meta_prepare(db, &st, "SELECT id FROM leases WHERE ns = ?1 AND name = ?2", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, id);
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (r > 0)
                *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int create_locked(meta_db *db, const char *ns, const char *id, const meta_labels *labels, meta_lease *ret,
                         berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, lid;
        if (meta_labels_validate(labels, "lease.Labels", err) < 0)
                return -1;
        if (find(db, ns, id, &lid, err) < 0)
                return -1;
        if (lid != 0) {
                _cleanup_free_ char *q = meta_quote(id);
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "lease %s: already exists", q);
        }
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        int64_t now = meta_now_ns();
        if (meta_prepare(db, &st, "INSERT INTO leases (ns, name, created_at) VALUES (?1, ?2, ?3)", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, id);
        sqlite3_bind_int64(st, 3, now);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "lease_labels", sqlite3_last_insert_rowid(db->sql), labels, err) < 0)
                return -1;
        if (ret) {
                *ret = (meta_lease) { .id = xstrdup(id), .created_at = now };
                meta_labels_copy(&ret->labels, labels);
        }
        return 0;
}

int meta_lease_create(meta_db *db, const char *ns, const char *id, const meta_labels *labels, meta_lease *ret,
                      berr **err) {
        if (!id || !*id)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "lease id must be provided: invalid argument");
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, create_locked(db, ns, id, labels, ret, err), err);
}

static int delete_locked(meta_db *db, const char *ns, const char *id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t lid;
        if (find(db, ns, id, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return not_found(id, err);
        if (meta_prepare(db, &st, "DELETE FROM leases WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, lid);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_lease_delete(meta_db *db, const char *ns, const char *id, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, delete_locked(db, ns, id, err), err);
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        meta_lease *l = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "id") == 0)
                return l->id && *l->id ? l->id : NULL;
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&l->labels, path + 1, n - 1);
        return NULL;
}

/* One row of "SELECT id, name, created_at FROM leases" with its labels. */
static int load_row(meta_db *db, sqlite3_stmt *st, void *elem, berr **err) {
        meta_lease l = { .id = meta_column_strdup(st, 1), .created_at = sqlite3_column_int64(st, 2) };
        if (meta_labels_load(db, "lease_labels", sqlite3_column_int64(st, 0), &l.labels, err) < 0) {
                meta_lease_done(&l);
                return -1;
        }
        *(meta_lease *) elem = l;
        return 0;
}

static void done_row(void *elem) {
        meta_lease_done(elem);
}

static int list_locked(meta_db *db, const char *ns, const meta_filter *f, meta_lease **ret, size_t *ret_n,
                       berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, "SELECT id, name, created_at FROM leases WHERE ns = ?1 ORDER BY name", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        return meta_collect_rows(db, st, sizeof(**ret), load_row, done_row, f, lookup, (void **) ret, ret_n, err);
}

int meta_lease_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_lease **ret,
                    size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, ns, f, ret, ret_n, err), err);
}

/* containerd's parseLeaseResource. */
static int check_resource(const char *type, const char *id, berr **err) {
        const char *slash = type ? strchr(type, '/') : NULL;
        size_t head = slash ? (size_t) (slash - type) : (type ? strlen(type) : 0);
        if (type && (strncmp(type, "content", head) == 0 && head == 7)) {
                const char *reason;
                if (slash)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid resource type %s: invalid argument",
                                        type);
                if (meta_digest_check(id, &reason) < 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "invalid content resource id %s: %s: invalid argument", id ? id : "", reason);
                return 0;
        }
        if (type && strncmp(type, "ingests", head) == 0 && head == 7) {
                if (slash)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid resource type %s: invalid argument",
                                        type);
                return 0;
        }
        if (type && strncmp(type, "snapshots", head) == 0 && head == 9) {
                if (!slash || strchr(slash + 1, '/'))
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "invalid snapshot resource type %s: invalid argument", type);
                return 0;
        }
        return berr_set(err, BERR_UNIMPLEMENTED, ENOSYS, "resource type %s not supported yet: not implemented",
                        type ? type : "");
}

static int add_resource_row(meta_db *db, int64_t lid, const char *type, const char *id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "INSERT OR IGNORE INTO lease_resources (lease, type, rid) VALUES (?1, ?2, ?3)",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, lid);
        meta_bind_text(st, 2, type);
        meta_bind_text(st, 3, id);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

static int delete_resource_row(meta_db *db, int64_t lid, const char *type, const char *id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "DELETE FROM lease_resources WHERE lease = ?1 AND type = ?2 AND rid = ?3", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, lid);
        meta_bind_text(st, 2, type);
        meta_bind_text(st, 3, id);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_lease_add_resource(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                            berr **err) {
        int64_t lid;
        if (find(db, ns, lease, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return not_found(lease, err);
        if (check_resource(type, id, err) < 0)
                return -1;
        return add_resource_row(db, lid, type, id, err);
}

int meta_lease_delete_resource(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                               berr **err) {
        int64_t lid;
        if (find(db, ns, lease, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return not_found(lease, err);
        if (check_resource(type, id, err) < 0)
                return -1;
        return delete_resource_row(db, lid, type, id, err);
}

int meta_lease_list_resources(meta_db *db, const char *ns, const char *lease, meta_lease_resource **ret,
                              size_t *ret_n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_lease_resource *v = NULL;
        size_t n = 0;
        int64_t lid;
        int r;
        if (find(db, ns, lease, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return not_found(lease, err);
        if (meta_prepare(db, &st,
                         "SELECT rid, type FROM lease_resources WHERE lease = ?1 ORDER BY "
                         "CASE type WHEN 'content' THEN 0 WHEN 'ingests' THEN 1 ELSE 2 END, type, rid",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, lid);
        while ((r = meta_step(db, st, err)) > 0) {
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = (meta_lease_resource) { .id = meta_column_strdup(st, 0), .type = meta_column_strdup(st, 1) };
        }
        if (r < 0) {
                meta_lease_resources_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_lease_hold(meta_db *db, const char *ns, const char *lease, const char *type, const char *id, berr **err) {
        int64_t lid;
        if (!lease || !*lease)
                return 0;
        if (find(db, ns, lease, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "lease does not exist: not found");
        return add_resource_row(db, lid, type, id, err);
}

int meta_lease_release(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                       berr **err) {
        int64_t lid;
        if (!lease || !*lease)
                return 0;
        if (find(db, ns, lease, &lid, err) < 0)
                return -1;
        if (lid == 0)
                return 0;
        return delete_resource_row(db, lid, type, id, err);
}
