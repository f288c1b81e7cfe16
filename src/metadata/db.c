#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/identifier.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "metadata/db-internal.h"
#include "metadata/util.h"

#define BUSY_TIMEOUT_MS 5000

static berr_code code_from_sqlite(int rc) {
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return BERR_UNAVAILABLE;
        case SQLITE_FULL:
        case SQLITE_NOMEM:
                return BERR_RESOURCE_EXHAUSTED;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return BERR_DATA_LOSS;
        case SQLITE_PERM:
        case SQLITE_READONLY:
        case SQLITE_AUTH:
                return BERR_PERMISSION_DENIED;
        default:
                return BERR_INTERNAL;
        }
}

int meta_sql_error(meta_db *db, int rc, const char *what, berr **err) {
        const char *msg = db && db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc);
        return berr_set(err, code_from_sqlite(rc), 0, "metadata: %s: %s", what, msg);
}

int meta_prepare(meta_db *db, sqlite3_stmt **ret, const char *sql, berr **err) {
        int rc = sqlite3_prepare_v2(db->sql, sql, -1, ret, NULL);
        if (rc != SQLITE_OK)
                return meta_sql_error(db, rc, "prepare", err);
        return 0;
}

int meta_exec(meta_db *db, const char *sql, berr **err) {
        int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return meta_sql_error(db, rc, "exec", err);
        return 0;
}

int meta_step(meta_db *db, sqlite3_stmt *st, berr **err) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return meta_sql_error(db, rc, "step", err);
}

int meta_bind_text(sqlite3_stmt *st, int idx, const char *s) {
        if (!s)
                return sqlite3_bind_null(st, idx);
        return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

char *meta_column_strdup(sqlite3_stmt *st, int col) {
        const unsigned char *s = sqlite3_column_text(st, col);
        return s ? xstrdup((const char *) s) : NULL;
}

int meta_collect_rows(meta_db *db, sqlite3_stmt *st, size_t elem_size, meta_row_load_fn load, void (*done)(void *elem),
                      const struct meta_filter *f, meta_filter_lookup_fn lookup, void **ret, size_t *ret_n,
                      berr **err) {
        char *v = NULL;
        size_t n = 0;
        int r;
        while ((r = meta_step(db, st, err)) > 0) {
                v = xrealloc(v, (n + 1) * elem_size);
                void *elem = v + n * elem_size;
                if (load(db, st, elem, err) < 0) {
                        r = -1;
                        break;
                }
                if (!meta_filter_match(f, lookup, elem)) {
                        done(elem);
                        continue;
                }
                n++;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        done(v + i * elem_size);
                free(v);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int tx_begin(meta_db *db, const char *outer, berr **err) {
        char sql[64];
        if (db->tx_depth == 0)
                snprintf(sql, sizeof sql, "%s", outer);
        else
                snprintf(sql, sizeof sql, "SAVEPOINT meta_sp%u", db->tx_depth);
        if (meta_exec(db, sql, err) < 0)
                return -1;
        db->tx_depth++;
        return 0;
}

int meta_tx_begin(meta_db *db, berr **err) {
        return tx_begin(db, "BEGIN IMMEDIATE", err);
}

int meta_tx_begin_read(meta_db *db, berr **err) {
        return tx_begin(db, "BEGIN DEFERRED", err);
}

int meta_tx_commit(meta_db *db, berr **err) {
        if (db->tx_depth == 0)
                return berr_set(err, BERR_INTERNAL, 0, "metadata: commit without a transaction");
        char sql[64];
        if (db->tx_depth == 1)
                snprintf(sql, sizeof sql, "COMMIT");
        else
                snprintf(sql, sizeof sql, "RELEASE meta_sp%u", db->tx_depth - 1);
        if (meta_exec(db, sql, err) < 0) {
                /* A failed COMMIT leaves the transaction open; undo it so the connection stays usable. */
                meta_tx_rollback(db);
                return -1;
        }
        db->tx_depth--;
        return 0;
}

void meta_tx_rollback(meta_db *db) {
        if (db->tx_depth == 0)
                return;
        char sql[96];
        if (db->tx_depth == 1)
                snprintf(sql, sizeof sql, "ROLLBACK");
        else
                snprintf(sql, sizeof sql, "ROLLBACK TO meta_sp%u; RELEASE meta_sp%u", db->tx_depth - 1,
                         db->tx_depth - 1);
        int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK && sqlite3_get_autocommit(db->sql) == 0)
                log_debug("metadata: rollback failed: %s", sqlite3_errmsg(db->sql));
        db->tx_depth--;
        /* SQLite may have rolled the whole transaction back by itself (e.g. after SQLITE_FULL). */
        if (sqlite3_get_autocommit(db->sql))
                db->tx_depth = 0;
}

unsigned meta_tx_depth(meta_db *db) {
        return db->tx_depth;
}

int meta_tx_end(meta_db *db, int r, berr **err) {
        if (r < 0) {
                meta_tx_rollback(db);
                return r;
        }
        return meta_tx_commit(db, err);
}

static int pragma(meta_db *db, const char *sql, const char *expect, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, sql, err) < 0)
                return -1;
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (expect && (r == 0 || sqlite3_stricmp((const char *) sqlite3_column_text(st, 0), expect) != 0))
                return berr_set(err, BERR_INTERNAL, 0, "metadata: %s did not give %s", sql, expect);
        return 0;
}

int meta_db_open(const char *path, meta_db **ret, berr **err) {
        meta_db *db = xcalloc(1, sizeof *db);
        db->path = xstrdup(path);
        int rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 NULL);
        if (rc != SQLITE_OK) {
                berr_set(err, code_from_sqlite(rc), 0, "metadata: open %s: %s", path,
                         db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
                meta_db_close(db);
                return -1;
        }
        sqlite3_extended_result_codes(db->sql, 1);
        sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
        /* WAL with synchronous=NORMAL: a commit appends to the WAL without an fdatasync; the WAL is synced at
         * checkpoints. The database stays consistent across any crash (a berthd crash loses nothing: the WAL is
         * in the page cache); a power loss may drop the last commits, never corrupt: at worst a blob or a
         * snapshot directory is left without its record. FULL cost one fdatasync (0.3-5 ms on a busy disk) per
         * transaction, several of them on every container start and removal. */
        if (pragma(db, "PRAGMA journal_mode=WAL", "wal", err) < 0 ||
            pragma(db, "PRAGMA foreign_keys=ON", NULL, err) < 0 ||
            pragma(db, "PRAGMA synchronous=NORMAL", NULL, err) < 0 || meta_migrate(db, err) < 0) {
                berr_wrap(err, "metadata database %s", path);
                meta_db_close(db);
                return -1;
        }
        *ret = db;
        return 0;
}

void meta_db_close(meta_db *db) {
        if (!db)
                return;
        if (db->sql) {
                if (!sqlite3_get_autocommit(db->sql))
                        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
                sqlite3_close_v2(db->sql);
        }
        free(db->path);
        free(db);
}

int meta_ns_id(meta_db *db, const char *ns, bool create, int64_t *ret_id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (!ns || !*ns)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0,
                                "namespace is required: failed precondition");
        _cleanup_berr_ berr *verr = NULL;
        if (identifier_validate(ns, &verr) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "namespace validation: %s: invalid argument",
                                verr->msg);
        if (meta_prepare(db, &st, "SELECT id FROM namespaces WHERE name = ?1", err) < 0)
                return -1;
        meta_bind_text(st, 1, ns);
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        if (r > 0) {
                *ret_id = sqlite3_column_int64(st, 0);
                return 0;
        }
        if (!create) {
                *ret_id = 0;
                return 0;
        }
        sqlite3_finalizep(&st);
        if (meta_prepare(db, &st, "INSERT INTO namespaces (name, created_at) VALUES (?1, ?2)", err) < 0)
                return -1;
        meta_bind_text(st, 1, ns);
        sqlite3_bind_int64(st, 2, meta_now_ns());
        if (meta_step(db, st, err) < 0)
                return -1;
        *ret_id = sqlite3_last_insert_rowid(db->sql);
        return 0;
}

int meta_labels_load(meta_db *db, const char *table, int64_t owner, meta_labels *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = xasprintf("SELECT key, value FROM %s WHERE owner = ?1 ORDER BY key", table);
        meta_labels l = { 0 };
        if (meta_prepare(db, &st, sql, err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, owner);
        int r;
        while ((r = meta_step(db, st, err)) > 0) {
                l.v = xrealloc(l.v, (l.n + 1) * sizeof *l.v);
                l.v[l.n++] = (meta_label) { .key = meta_column_strdup(st, 0), .value = meta_column_strdup(st, 1) };
        }
        if (r < 0) {
                meta_labels_done(&l);
                return -1;
        }
        meta_labels_done(ret);
        *ret = l;
        return 0;
}

int meta_labels_store(meta_db *db, const char *table, int64_t owner, const meta_labels *l, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *del = NULL, *ins = NULL;
        _cleanup_free_ char *del_sql = xasprintf("DELETE FROM %s WHERE owner = ?1", table);
        _cleanup_free_ char *ins_sql = xasprintf("INSERT OR REPLACE INTO %s (owner, key, value) VALUES (?1, ?2, ?3)",
                                                 table);
        if (meta_prepare(db, &del, del_sql, err) < 0)
                return -1;
        sqlite3_bind_int64(del, 1, owner);
        if (meta_step(db, del, err) < 0)
                return -1;
        if (!l || l->n == 0)
                return 0;
        if (meta_prepare(db, &ins, ins_sql, err) < 0)
                return -1;
        for (size_t i = 0; i < l->n; i++) {
                if (!l->v[i].value || !*l->v[i].value)
                        continue;
                sqlite3_reset(ins);
                sqlite3_bind_int64(ins, 1, owner);
                meta_bind_text(ins, 2, l->v[i].key);
                meta_bind_text(ins, 3, l->v[i].value);
                if (meta_step(db, ins, err) < 0)
                        return -1;
        }
        return 0;
}

int meta_labels_update(meta_db *db, const char *table, const char *labels_table, int64_t id, meta_labels *cur,
                       const meta_labels *in, const char *const *paths, size_t n_paths, const char *what,
                       const char *name, int64_t *ret_updated_at, berr **err) {
        for (size_t i = 0; i < n_paths; i++)
                if (!meta_labels_apply_path(cur, in, paths[i])) {
                        _cleanup_free_ char *qp = meta_quote(paths[i]), *qn = meta_quote(name);
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "cannot update %s field on %s %s: invalid argument", qp, what, qn);
                }
        if (n_paths == 0)
                meta_labels_copy(cur, in);
        if (meta_labels_validate(cur, "info.Labels", err) < 0)
                return -1;
        int64_t now = meta_now_ns();
        _cleanup_stmt_ sqlite3_stmt *up = NULL;
        _cleanup_free_ char *sql = xasprintf("UPDATE %s SET updated_at = ?2 WHERE id = ?1", table);
        if (meta_prepare(db, &up, sql, err) < 0)
                return -1;
        sqlite3_bind_int64(up, 1, id);
        sqlite3_bind_int64(up, 2, now);
        if (meta_step(db, up, err) < 0 || meta_labels_store(db, labels_table, id, cur, err) < 0)
                return -1;
        *ret_updated_at = now;
        return 0;
}

int meta_db_schema_version(meta_db *db, int *ret, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "SELECT version FROM schema_version WHERE id = 1", err) < 0)
                return -1;
        int r = meta_step(db, st, err);
        if (r < 0)
                return -1;
        *ret = r > 0 ? sqlite3_column_int(st, 0) : 0;
        return 0;
}

int64_t meta_db_wal_size(meta_db *db) {
        _cleanup_free_ char *wal = xasprintf("%s-wal", db->path);
        struct stat st;
        return stat(wal, &st) == 0 ? (int64_t) st.st_size : 0;
}

int meta_db_checkpoint(meta_db *db, bool *ret_done, berr **err) {
        *ret_done = false;
        if (db->tx_depth > 0 || !sqlite3_get_autocommit(db->sql))
                return berr_set(err, BERR_INTERNAL, 0, "metadata: checkpoint inside a transaction");
        /* No busy wait: the caller is the event loop, which must not block on a worker's transaction. */
        sqlite3_busy_timeout(db->sql, 0);
        int rc = sqlite3_wal_checkpoint_v2(db->sql, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                return 0;
        if (rc != SQLITE_OK)
                return meta_sql_error(db, rc, "checkpoint", err);
        *ret_done = true;
        return 0;
}
