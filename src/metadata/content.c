#include <string.h>

#include "metadata/content.h"
#include "metadata/db-internal.h"
#include "metadata/filters.h"
#include "metadata/leases.h"
#include "metadata/util.h"

void meta_content_info_done(meta_content_info *info) {
        if (!info)
                return;
        free(info->digest);
        meta_labels_done(&info->labels);
        *info = (meta_content_info) { 0 };
}

void meta_content_infos_free(meta_content_info *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_content_info_done(&v[i]);
        free(v);
}

static int not_found(const char *digest, berr **err) {
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "content digest %s: not found", digest);
}

static int validate_digest(const char *digest, berr **err) {
        const char *reason;
        if (meta_digest_check(digest, &reason) < 0) {
                _cleanup_free_ char *q = meta_quote(digest);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid digest %s: %s: invalid argument", q,
                                reason);
        }
        return 0;
}

#define SELECT_CONTENT "SELECT id, digest, size, created_at, updated_at FROM content "

static int load(meta_db *db, sqlite3_stmt *st, meta_content_info *ret, berr **err) {
        meta_content_info info = {
                .digest = meta_column_strdup(st, 1),
                .size = sqlite3_column_int64(st, 2),
                .created_at = sqlite3_column_int64(st, 3),
                .updated_at = sqlite3_column_int64(st, 4),
        };
        if (meta_labels_load(db, "content_labels", sqlite3_column_int64(st, 0), &info.labels, err) < 0) {
                meta_content_info_done(&info);
                return -1;
        }
        *ret = info;
        return 0;
}

/* Positions st on the record's row; returns 1 found, 0 absent. */
static int find(meta_db *db, const char *ns, const char *digest, sqlite3_stmt **st, berr **err) {
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (nsid == 0 || !digest)
                return 0;
        if (meta_prepare(db, st, SELECT_CONTENT "WHERE ns = ?1 AND digest = ?2", err) < 0)
                return -1;
        sqlite3_bind_int64(*st, 1, nsid);
        meta_bind_text(*st, 2, digest);
        return meta_step(db, *st, err);
}

static int get_locked(meta_db *db, const char *ns, const char *digest, meta_content_info *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = find(db, ns, digest, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return not_found(digest, err);
        return load(db, st, ret, err);
}

int meta_content_get(meta_db *db, const char *ns, const char *digest, meta_content_info *ret, berr **err) {
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, get_locked(db, ns, digest, ret, err), err);
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        meta_content_info *info = obj;
        if (n == 0)
                return NULL;
        if (strcmp(path[0], "digest") == 0)
                return info->digest ? info->digest : "";
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&info->labels, path + 1, n - 1);
        return NULL;
}

static int load_row(meta_db *db, sqlite3_stmt *st, void *elem, berr **err) {
        return load(db, st, elem, err);
}

static void done_row(void *elem) {
        meta_content_info_done(elem);
}

static int list_locked(meta_db *db, const char *ns, const meta_filter *f, meta_content_info **ret, size_t *ret_n,
                       berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, SELECT_CONTENT "WHERE ns = ?1 ORDER BY digest", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        return meta_collect_rows(db, st, sizeof(**ret), load_row, done_row, f, lookup, (void **) ret, ret_n, err);
}

int meta_content_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters,
                      meta_content_info **ret, size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_tx_begin_read(db, err) < 0)
                return -1;
        return meta_tx_end(db, list_locked(db, ns, f, ret, ret_n, err), err);
}

static int add_locked(meta_db *db, const char *ns, const meta_content_info *in, meta_content_info *ret,
                      berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (validate_digest(in->digest, err) < 0 || meta_labels_validate(&in->labels, "info.Labels", err) < 0)
                return -1;
        int r = find(db, ns, in->digest, &st, err);
        if (r < 0)
                return -1;
        if (r > 0)
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "content %s: already exists", in->digest);
        sqlite3_finalizep(&st);
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        int64_t now = meta_now_ns();
        if (meta_prepare(db, &st,
                         "INSERT INTO content (ns, digest, size, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        meta_bind_text(st, 2, in->digest);
        sqlite3_bind_int64(st, 3, in->size);
        sqlite3_bind_int64(st, 4, now);
        if (meta_step(db, st, err) < 0)
                return -1;
        if (meta_labels_store(db, "content_labels", sqlite3_last_insert_rowid(db->sql), &in->labels, err) < 0)
                return -1;
        if (ret) {
                *ret = (meta_content_info) {
                        .digest = xstrdup(in->digest), .size = in->size, .created_at = now, .updated_at = now,
                };
                meta_labels_copy(&ret->labels, &in->labels);
        }
        return 0;
}

int meta_content_add(meta_db *db, const char *ns, const meta_content_info *info, meta_content_info *ret,
                     berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, add_locked(db, ns, info, ret, err), err);
}

static int update_locked(meta_db *db, const char *ns, const meta_content_info *in, const char *const *paths,
                         size_t n_paths, meta_content_info *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_content_info cur = { 0 };
        int r = find(db, ns, in->digest, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return not_found(in->digest, err);
        int64_t id = sqlite3_column_int64(st, 0);
        if (load(db, st, &cur, err) < 0)
                return -1;
        r = meta_labels_update(db, "content", "content_labels", id, &cur.labels, &in->labels, paths, n_paths,
                               "content info", in->digest, &cur.updated_at, err);
        if (r == 0 && ret) {
                *ret = cur;
                cur = (meta_content_info) { 0 };
        }
        meta_content_info_done(&cur);
        return r;
}

int meta_content_update(meta_db *db, const char *ns, const meta_content_info *info, const char *const *paths,
                        size_t n_paths, meta_content_info *ret, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, update_locked(db, ns, info, paths, n_paths, ret, err), err);
}

static int delete_locked(meta_db *db, const char *ns, const char *digest, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *del = NULL;
        int r = find(db, ns, digest, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return not_found(digest, err);
        if (meta_prepare(db, &del, "DELETE FROM content WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
        return meta_step(db, del, err) < 0 ? -1 : 0;
}

int meta_content_delete(meta_db *db, const char *ns, const char *digest, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, delete_locked(db, ns, digest, err), err);
}

int meta_content_in_use(meta_db *db, const char *digest, bool *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st,
                         "SELECT EXISTS (SELECT 1 FROM content WHERE digest = ?1) "
                         "OR EXISTS (SELECT 1 FROM ingests WHERE expected = ?1)",
                         err) < 0)
                return -1;
        meta_bind_text(st, 1, digest);
        if (meta_step(db, st, err) < 0)
                return -1;
        *ret = sqlite3_column_int(st, 0) != 0;
        return 0;
}

/* ---- ingests ------------------------------------------------------------------------------------------ */

void meta_ingest_done(meta_ingest *ing) {
        if (!ing)
                return;
        free(ing->ref);
        free(ing->backend_ref);
        free(ing->expected);
        *ing = (meta_ingest) { 0 };
}

void meta_ingests_free(meta_ingest *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                meta_ingest_done(&v[i]);
        free(v);
}

#define SELECT_INGEST "SELECT id, ref, backend_ref, expected, expires_at, created_at FROM ingests "

static void load_ingest(sqlite3_stmt *st, meta_ingest *ret) {
        *ret = (meta_ingest) {
                .ref = meta_column_strdup(st, 1),
                .backend_ref = meta_column_strdup(st, 2),
                .expected = meta_column_strdup(st, 3),
                .expires_at = sqlite3_column_int64(st, 4),
                .created_at = sqlite3_column_int64(st, 5),
        };
}

static int find_ingest(meta_db *db, int64_t nsid, const char *ref, sqlite3_stmt **st, berr **err) {
        if (nsid == 0)
                return 0;
        if (meta_prepare(db, st, SELECT_INGEST "WHERE ns = ?1 AND ref = ?2", err) < 0)
                return -1;
        sqlite3_bind_int64(*st, 1, nsid);
        meta_bind_text(*st, 2, ref);
        return meta_step(db, *st, err);
}

static int ingest_not_found(const char *ref, berr **err) {
        return berr_set(err, BERR_NOT_FOUND, ENOENT, "reference %s: not found", ref);
}

static int ingest_open_locked(meta_db *db, const char *ns, const char *ref, const char *expected, const char *lease,
                              meta_ingest *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *up = NULL;
        int64_t nsid, id;
        bool leased = lease && *lease;
        if (!ref || !*ref)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "ref must not be empty: invalid argument");
        if (expected && validate_digest(expected, err) < 0)
                return -1;
        if (meta_ns_id(db, ns, true, &nsid, err) < 0)
                return -1;
        int r = find_ingest(db, nsid, ref, &st, err);
        if (r < 0)
                return -1;
        if (r > 0)
                id = sqlite3_column_int64(st, 0);
        else {
                sqlite3_finalizep(&st);
                /* The row id makes the backend ref unique even when a ref is reused after an abort. */
                if (meta_prepare(db, &st,
                                 "INSERT INTO ingests (ns, ref, backend_ref, created_at) "
                                 "VALUES (?1, ?2, lower(hex(randomblob(16))), ?3)",
                                 err) < 0)
                        return -1;
                sqlite3_bind_int64(st, 1, nsid);
                meta_bind_text(st, 2, ref);
                sqlite3_bind_int64(st, 3, meta_now_ns());
                if (meta_step(db, st, err) < 0)
                        return -1;
                id = sqlite3_last_insert_rowid(db->sql);
                _cleanup_free_ char *bref = xasprintf("%s/%lld/%s", ns, (long long) id, ref);
                if (meta_prepare(db, &up, "UPDATE ingests SET backend_ref = ?2 WHERE id = ?1", err) < 0)
                        return -1;
                sqlite3_bind_int64(up, 1, id);
                meta_bind_text(up, 2, bref);
                if (meta_step(db, up, err) < 0)
                        return -1;
                sqlite3_finalizep(&up);
        }
        if (leased && meta_lease_hold(db, ns, lease, "ingests", ref, err) < 0)
                return -1;
        if (meta_prepare(db, &up,
                         "UPDATE ingests SET expires_at = CASE WHEN ?2 THEN expires_at ELSE ?3 END, "
                         "expected = coalesce(?4, expected) WHERE id = ?1",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(up, 1, id);
        sqlite3_bind_int(up, 2, leased);
        sqlite3_bind_int64(up, 3, meta_now_ns() + META_INGEST_EXPIRY_NS);
        meta_bind_text(up, 4, expected);
        if (meta_step(db, up, err) < 0)
                return -1;
        sqlite3_finalizep(&st);
        r = find_ingest(db, nsid, ref, &st, err);
        if (r <= 0)
                return r < 0 ? -1 : ingest_not_found(ref, err);
        load_ingest(st, ret);
        return 0;
}

int meta_ingest_open(meta_db *db, const char *ns, const char *ref, const char *expected, const char *lease,
                     meta_ingest *ret, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, ingest_open_locked(db, ns, ref, expected, lease, ret, err), err);
}

int meta_ingest_get(meta_db *db, const char *ns, const char *ref, meta_ingest *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        int r = find_ingest(db, nsid, ref, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return ingest_not_found(ref, err);
        load_ingest(st, ret);
        return 0;
}

static const char *ingest_lookup(const char *const *path, size_t n, void *obj) {
        meta_ingest *ing = obj;
        if (n > 0 && strcmp(path[0], "ref") == 0)
                return ing->ref ? ing->ref : "";
        return NULL;
}

int meta_ingest_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_ingest **ret,
                     size_t *ret_n, berr **err) {
        _cleanup_meta_filter_ meta_filter *f = NULL;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_ingest *v = NULL;
        size_t n = 0;
        int64_t nsid;
        int r;
        if (meta_filter_parse(filters, n_filters, &f, err) < 0)
                return -1;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        if (meta_prepare(db, &st, SELECT_INGEST "WHERE ns = ?1 ORDER BY ref", err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, nsid);
        while ((r = meta_step(db, st, err)) > 0) {
                meta_ingest ing;
                load_ingest(st, &ing);
                if (!meta_filter_match(f, ingest_lookup, &ing)) {
                        meta_ingest_done(&ing);
                        continue;
                }
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = ing;
        }
        if (r < 0) {
                meta_ingests_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int ingest_delete_locked(meta_db *db, const char *ns, const char *ref, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *del = NULL;
        int64_t nsid;
        if (meta_ns_id(db, ns, false, &nsid, err) < 0)
                return -1;
        int r = find_ingest(db, nsid, ref, &st, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return ingest_not_found(ref, err);
        if (meta_prepare(db, &del, "DELETE FROM ingests WHERE id = ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
        if (meta_step(db, del, err) < 0)
                return -1;
        sqlite3_finalizep(&del);
        /* containerd removes the ingest from the caller's lease only; a ref names one ingest per namespace, so
         * dropping it from every lease of the namespace is the same thing without needing the lease id. */
        if (meta_prepare(db, &del,
                         "DELETE FROM lease_resources WHERE type = 'ingests' AND rid = ?2 "
                         "AND lease IN (SELECT id FROM leases WHERE ns = ?1)",
                         err) < 0)
                return -1;
        sqlite3_bind_int64(del, 1, nsid);
        meta_bind_text(del, 2, ref);
        return meta_step(db, del, err) < 0 ? -1 : 0;
}

int meta_ingest_delete(meta_db *db, const char *ns, const char *ref, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, ingest_delete_locked(db, ns, ref, err), err);
}

int meta_ingest_backend_in_use(meta_db *db, const char *backend_ref, bool *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "SELECT EXISTS (SELECT 1 FROM ingests WHERE backend_ref = ?1)", err) < 0)
                return -1;
        meta_bind_text(st, 1, backend_ref);
        if (meta_step(db, st, err) < 0)
                return -1;
        *ret = sqlite3_column_int(st, 0) != 0;
        return 0;
}
