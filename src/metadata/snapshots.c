#include <inttypes.h>
#include <string.h>

#include "basic/strv.h"
#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/snapshots.h"
#include "metadata/util.h"

void meta_snapshot_done(meta_snapshot *s) {
        if (!s)
                return;
        free(s->snapshotter);
        free(s->key);
        free(s->parent);
        meta_labels_done(&s->labels);
        *s = (meta_snapshot) { 0 };
}

void meta_snapshots_free(meta_snapshot *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_snapshot_done(&v[i]);
        free(v);
}

const char *meta_snapshot_kind_name(meta_snapshot_kind kind) {
        switch (kind) {
        case META_SNAPSHOT_VIEW:
                return "view";
        case META_SNAPSHOT_ACTIVE:
                return "active";
        case META_SNAPSHOT_COMMITTED:
                return "committed";
        default:
                return "unknown";
        }
}

static int not_found(const char *key, berr **err) {
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "snapshot %s does not exist: not found", key ? key : "");
}

#define SELECT_SNAPSHOT                                                                                    \
        "SELECT s.id, s.snapshotter, s.key, p.key, s.kind, s.backend_id, s.created_at, s.updated_at, s.size, " \
        "s.inodes FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent "

static int load(meta_db *db, sqlite3_stmt *st, meta_snapshot *ret, berr **err) {
        meta_snapshot s = {
                .snapshotter = meta_column_strdup(st, 1),
                .key = meta_column_strdup(st, 2),
                .parent = meta_column_strdup(st, 3),
                .kind = (meta_snapshot_kind) sqlite3_column_int(st, 4),
                .backend_id = sqlite3_column_int64(st, 5),
                .created_at = sqlite3_column_int64(st, 6),
                .updated_at = sqlite3_column_int64(st, 7),
                .size = sqlite3_column_int64(st, 8),
                .inodes = sqlite3_column_int64(st, 9),
        };
        if (meta_labels_load(db, "snapshot_labels", sqlite3_column_int64(st, 0), &s.labels, err) < 0) {
                meta_snapshot_done(&s);
                return -1;
        }
        *ret = s;
        return 0;
}

/* Positions *st on the record; 1 found, 0 absent. */
static int find(meta_db *db, int64_t nsid, const char *snapshotter, const char *key, sqlite3_stmt **st,
                berr **err) {
        if (nsid == 0 || !key)
                return 0;
        if (meta_prepare(db, st, SELECT_SNAPSHOT "WHERE s.ns = ?1 AND s.snapshotter = ?2 AND s.key = ?3", err) < 0)
                return -1;
        sqlite3_bind_int64(*st, 1, nsid);
        meta_bind_text(*st, 2, snapshotter);
        meta_bind_text(*st, 3, key);
        return meta_step(db, *st, err);
}

static int load_by_key(meta_db *db, int64_t nsid, const char *snapshotter, const char *key, int64_t *ret_id,
                       meta_snapshot *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = find(db, nsid, snapshotter, key, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return not_found(key, err);
        if (ret_id)
                *ret_id = sqlite3_column_int64(st, 0);
        return ret ? load(db, st, ret, err) : 0;
}

static int next_backend_id(meta_db *db, const char *snapshotter, int64_t *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st,
                         "INSERT INTO snapshot_sequences (snapshotter, last_id) VALUES (?1, 1) "
                         "ON CONFLICT (snapshotter) DO UPDATE SET last_id = last_id + 1 RETURNING last_id",
                         err) < 0)
                return -1;
        meta_bind_text(st, 1, snapshotter);
        int r = meta_step(db, st, err);
        if (r <= 0)
                return r < 0 ? -1 : berr_set(err, BERR_INTERNAL, 0, "metadata: no snapshot id allocated");
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int create_locked(meta_db *db, const char *ns, const char *snapshotter, const char *key, const char *parent,
                         meta_snapshot_kind kind, const meta_labels *labels, meta_snapshot *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, parent_id = 0, backend_id = 0;
        int r;
        if (kind != META_SNAPSHOT_ACTIVE && kind != META_SNAPSHOT_VIEW)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "snapshot type %s invalid; only snapshots of type Active or View can be created: "
                                "invalid argument",
                                meta_snapshot_kind_name(kind));
        if (!key || !*key)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "snapshot key must not be empty: invalid argument");
        if (meta_labels_validate(labels, "info.Labels", err) < 0)
                return -1;
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        const char *target = meta_labels_get(labels, META_LABEL_SNAPSHOT_REF);
        if (target && *target) {
                if ((r = find(db, nsid, snapshotter, target, &st, err)) < 0)
                        return -1;
                if (r > 0) {
                        _cleanup_free_ char *q = meta_quote(target);
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "target snapshot %s: already exists", q);
                }
                sqlite3_finalizep(&st);
        }
        if ((r = find(db, nsid, snapshotter, key, &st, err)) < 0)
                return -1;
        if (r > 0) {
                _cleanup_free_ char *q = meta_quote(key);
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "snapshot %s: already exists", q);
        }
        sqlite3_finalizep(&st);
        if (parent && *parent) {
                if ((r = find(db, nsid, snapshotter, parent, &st, err)) < 0)
                        return -1;
                if (r == 0)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "parent snapshot %s does not exist: not found",
                                        parent);
                if (sqlite3_column_int(st, 4) != META_SNAPSHOT_COMMITTED) {
                        _cleanup_free_ char *q = meta_quote(parent);
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "parent %s is not committed snapshot: invalid argument", q);
                }
                parent_id = sqlite3_column_int64(st, 0);
                sqlite3_finalizep(&st);
        }
        if (next_backend_id(db, snapshotter, &backend_id, err) < 0)
                return -1;
        int64_t now = meta_now_ns();
        if (meta_prepare(db, &st,
                         "INSERT INTO snapshots (ns, snapshotter, key, kind, parent, backend_id, created_at, "
                         "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, snapshotter);
        meta_bind_text(st, 3, key);
        sqlite3_bind_int(st, 4, kind);
        if (parent_id)
                sqlite3_bind_int64(st, 5, parent_id);
        else
                sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, backend_id);
        sqlite3_bind_int64(st, 7, now);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "snapshot_labels", sqlite3_last_insert_rowid(db->sql), labels, err) < 0)
                return -1;
        if (ret)
                return load_by_key(db, nsid, snapshotter, key, NULL, ret, err);
        return 0;
}

int meta_snapshot_create(meta_db *db, const char *ns, const char *snapshotter, const char *key, const char *parent,
                         meta_snapshot_kind kind, const meta_labels *labels, meta_snapshot *ret, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, create_locked(db, ns, snapshotter, key, parent, kind, labels, ret, err), err);
}

static int get_locked(meta_db *db, const char *ns, const char *snapshotter, const char *key, meta_snapshot *ret,
                      berr **err) {
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        return load_by_key(db, nsid, snapshotter, key, NULL, ret, err);
}

int meta_snapshot_get(meta_db *db, const char *ns, const char *snapshotter, const char *key, meta_snapshot *ret,
                      berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, get_locked(db, ns, snapshotter, key, ret, err), err);
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        meta_snapshot *s = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "kind") == 0)
                return s->kind == META_SNAPSHOT_UNKNOWN ? NULL : meta_snapshot_kind_name(s->kind);
        if (strcmp(path[0], "name") == 0)
                return s->key ? s->key : "";
        if (strcmp(path[0], "parent") == 0)
                return s->parent ? s->parent : "";
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&s->labels, path + 1, n - 1);
        return NULL;
}

static int list_locked(meta_db *db, const char *ns, const char *snapshotter, const meta_filter *f,
                       meta_snapshot **ret, size_t *ret_n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_snapshot *v = NULL;
        size_t n = 0;
        int64_t nsid;
        int r;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, SELECT_SNAPSHOT "WHERE s.ns = ?1 AND s.snapshotter = ?2 ORDER BY s.key", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, snapshotter);
        while ((r = meta_step(db, st, err)) > 0) {
                meta_snapshot s;
                if (load(db, st, &s, err) < 0) {
                        r = -1;
                        break;
                }
                if (!meta_filter_match(f, lookup, &s)) {
                        meta_snapshot_done(&s);
                        continue;
                }
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = s;
        }
        if (r < 0) {
                meta_snapshots_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_snapshot_list(meta_db *db, const char *ns, const char *snapshotter, const char *const *filters,
                       size_t n_filters, meta_snapshot **ret, size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, ns, snapshotter, f, ret, ret_n, err), err);
}

static int update_locked(meta_db *db, const char *ns, const char *snapshotter, const meta_snapshot *in,
                         const char *const *paths, size_t n_paths, meta_snapshot *ret, berr **err) {
        meta_snapshot cur = { 0 };
        int64_t nsid, id;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (load_by_key(db, nsid, snapshotter, in->key, &id, &cur, err) < 0)
                return -1;
        int r = meta_labels_update(db, "snapshots", "snapshot_labels", id, &cur.labels, &in->labels, paths, n_paths,
                                   "snapshot", in->key, &cur.updated_at, err);
        if (r == 0 && ret) {
                *ret = cur;
                cur = (meta_snapshot) { 0 };
        }
        meta_snapshot_done(&cur);
        return r;
}

int meta_snapshot_update(meta_db *db, const char *ns, const char *snapshotter, const meta_snapshot *in,
                         const char *const *paths, size_t n_paths, meta_snapshot *ret, berr **err) {
        if (!in->key || !*in->key)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "snapshot name must not be empty: invalid argument");
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, update_locked(db, ns, snapshotter, in, paths, n_paths, ret, err), err);
}

static int commit_locked(meta_db *db, const char *ns, const char *snapshotter, const char *name, const char *key,
                         const meta_labels *labels, int64_t size, int64_t inodes, meta_snapshot *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, id;
        int r;
        if (!name || !*name)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "snapshot name must not be empty: invalid argument");
        if (meta_labels_validate(labels, "info.Labels", err) < 0)
                return -1;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if ((r = find(db, nsid, snapshotter, name, &st, err)) < 0)
                return -1;
        if (r > 0) {
                _cleanup_free_ char *q = meta_quote(name);
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "snapshot %s: already exists", q);
        }
        sqlite3_finalizep(&st);
        if ((r = find(db, nsid, snapshotter, key, &st, err)) < 0)
                return -1;
        if (r == 0)
                return not_found(key, err);
        if (sqlite3_column_int(st, 4) != META_SNAPSHOT_ACTIVE) {
                _cleanup_free_ char *q = meta_quote(key);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "snapshot %s is not active: failed precondition", q);
        }
        id = sqlite3_column_int64(st, 0);
        sqlite3_finalizep(&st);
        int64_t now = meta_now_ns();
        if (meta_prepare(db, &st,
                         "UPDATE snapshots SET key = ?2, kind = ?3, created_at = ?4, updated_at = ?4, size = ?5, "
                         "inodes = ?6 WHERE id = ?1",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        meta_bind_text(st, 2, name);
        sqlite3_bind_int(st, 3, META_SNAPSHOT_COMMITTED);
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, size);
        sqlite3_bind_int64(st, 6, inodes);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "snapshot_labels", id, labels, err) < 0)
                return -1;
        if (ret)
                return load_by_key(db, nsid, snapshotter, name, NULL, ret, err);
        return 0;
}

int meta_snapshot_commit(meta_db *db, const char *ns, const char *snapshotter, const char *name, const char *key,
                         const meta_labels *labels, int64_t size, int64_t inodes, meta_snapshot *ret, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, commit_locked(db, ns, snapshotter, name, key, labels, size, inodes, ret, err), err);
}

static int remove_locked(meta_db *db, const char *ns, const char *snapshotter, const char *key,
                         meta_snapshot *ret_removed, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_snapshot s = { 0 };
        int64_t nsid, id;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (load_by_key(db, nsid, snapshotter, key, &id, &s, err) < 0)
                return -1;
        int r = meta_prepare(db, &st, "SELECT EXISTS (SELECT 1 FROM snapshots WHERE parent = ?1)", err);
        if (r >= 0) {
                sqlite3_bind_int64(st, 1, id);
                r = meta_step(db, st, err);
        }
        if (r >= 0 && sqlite3_column_int(st, 0))
                r = berr_set(err, BERR_FAILED_PRECONDITION, 0, "cannot remove snapshot with child: failed precondition");
        sqlite3_finalizep(&st);
        if (r >= 0)
                r = meta_prepare(db, &st, "DELETE FROM snapshots WHERE id = ?1", err);
        if (r >= 0) {
                sqlite3_bind_int64(st, 1, id);
                r = meta_step(db, st, err);
        }
        if (r >= 0 && ret_removed)
                *ret_removed = s;
        else
                meta_snapshot_done(&s);
        return r < 0 ? -1 : 0;
}

int meta_snapshot_remove(meta_db *db, const char *ns, const char *snapshotter, const char *key,
                         meta_snapshot *ret_removed, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, remove_locked(db, ns, snapshotter, key, ret_removed, err), err);
}

static int parent_ids_locked(meta_db *db, const char *ns, const char *snapshotter, const char *key, int64_t **ret,
                             size_t *ret_n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid, id, *v = NULL;
        size_t n = 0;
        int r;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (load_by_key(db, nsid, snapshotter, key, &id, NULL, err) < 0)
                return -1;
        if (meta_prepare(db, &st,
                         "WITH RECURSIVE chain(id, parent, backend_id, depth) AS ("
                         "  SELECT id, parent, backend_id, 0 FROM snapshots WHERE id = ?1"
                         "  UNION ALL"
                         "  SELECT s.id, s.parent, s.backend_id, c.depth + 1 FROM snapshots s JOIN chain c "
                         "  ON s.id = c.parent) "
                         "SELECT backend_id FROM chain WHERE depth > 0 ORDER BY depth",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        while ((r = meta_step(db, st, err)) > 0) {
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = sqlite3_column_int64(st, 0);
        }
        if (r < 0) {
                free(v);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int meta_snapshot_parent_ids(meta_db *db, const char *ns, const char *snapshotter, const char *key,
                             int64_t **ret, size_t *ret_n, berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, parent_ids_locked(db, ns, snapshotter, key, ret, ret_n, err), err);
}

int meta_snapshot_backend_in_use(meta_db *db, const char *snapshotter, int64_t backend_id, bool *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st,
                         "SELECT EXISTS (SELECT 1 FROM snapshots WHERE snapshotter = ?1 AND backend_id = ?2)", err) < 0)
                return -1;
        meta_bind_text(st, 1, snapshotter);
        sqlite3_bind_int64(st, 2, backend_id);
        if (meta_step(db, st, err) < 0)
                return -1;
        *ret = sqlite3_column_int(st, 0) != 0;
        return 0;
}

int meta_snapshot_backend_ids(meta_db *db, const char *snapshotter, char ***ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "SELECT backend_id FROM snapshots WHERE snapshotter = ?1", err) < 0)
                return -1;
        meta_bind_text(st, 1, snapshotter);
        char **ids = NULL;
        int r;
        while ((r = meta_step(db, st, err)) > 0)
                strv_push(&ids, xasprintf("%" PRId64, (int64_t) sqlite3_column_int64(st, 0)));
        if (r < 0) {
                strv_free(ids);
                return -1;
        }
        *ret = ids;
        return 0;
}
