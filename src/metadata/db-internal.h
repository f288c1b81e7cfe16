/* Shared plumbing of the metadata modules (not for users of the metadata API). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/filters.h"
#include "metadata/labels.h"

struct meta_db {
        sqlite3 *sql;
        char *path;
        unsigned tx_depth;
};

static inline void sqlite3_finalizep(sqlite3_stmt **st) {
        if (*st)
                sqlite3_finalize(*st);
        *st = NULL;
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Turns the connection's last error into a berr ("<what>: <sqlite message>"); returns -1. */
int meta_sql_error(meta_db *db, int rc, const char *what, berr **err);
int meta_prepare(meta_db *db, sqlite3_stmt **ret, const char *sql, berr **err);
/* Runs statements without results. */
int meta_exec(meta_db *db, const char *sql, berr **err);
/* sqlite3_step expecting SQLITE_DONE (returns 0) or SQLITE_ROW (returns 1). */
int meta_step(meta_db *db, sqlite3_stmt *st, berr **err);
/* Binds a C string (NULL binds SQL NULL). */
int meta_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Column as a new string (NULL for SQL NULL). */
char *meta_column_strdup(sqlite3_stmt *st, int col);

/* The loop every List shares: steps st, loads each row into an elem_size-byte element (load leaves nothing to free
 * when it fails), keeps those that match f (lookup reads their fields) and releases the others with done. On success
 * *ret is a malloc'd array of *ret_n elements; on failure everything is released. */
typedef int (*meta_row_load_fn)(meta_db *db, sqlite3_stmt *st, void *elem, berr **err);
int meta_collect_rows(meta_db *db, sqlite3_stmt *st, size_t elem_size, meta_row_load_fn load, void (*done)(void *elem),
                      const struct meta_filter *f, meta_filter_lookup_fn lookup, void **ret, size_t *ret_n,
                      berr **err);

/* A read transaction (BEGIN DEFERRED at depth 0) so a multi-statement read sees one snapshot. */
int meta_tx_begin_read(meta_db *db, berr **err);
/* Ends a transaction opened by the caller: commits if r >= 0, else rolls back and returns r. */
int meta_tx_end(meta_db *db, int r, berr **err);

/* The namespace's row id. With create, a missing namespace is created (validated as an identifier), as
 * containerd creates namespace buckets implicitly; without, *ret_id is 0 when it does not exist. */
int meta_ns_id(meta_db *db, const char *ns, bool create, int64_t *ret_id, berr **err);

/* Label tables all have the columns (owner INTEGER, key TEXT, value TEXT). */
int meta_labels_load(meta_db *db, const char *table, int64_t owner, meta_labels *ret, berr **err);
/* Replaces the owner's labels (empty values are not stored). */
int meta_labels_store(meta_db *db, const char *table, int64_t owner, const meta_labels *l, berr **err);

/* A labels-only update (containerd's content and snapshot Update): the field mask (no paths: the whole map) applied
 * from in to *cur, validated, stored in labels_table, and updated_at of row id in table set to now (also returned).
 * Any path but labels is InvalidArgument "cannot update <path> field on <what> <name>". */
int meta_labels_update(meta_db *db, const char *table, const char *labels_table, int64_t id, meta_labels *cur,
                       const meta_labels *in, const char *const *paths, size_t n_paths, const char *what,
                       const char *name, int64_t *ret_updated_at, berr **err);

/* The schema migrations, applied by meta_db_open. */
int meta_migrate(meta_db *db, berr **err);
