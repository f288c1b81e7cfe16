/* berthd's metadata database: one SQLite file (WAL) holding namespaces, images, content records, ingests,
 * leases and snapshot records, with containerd's semantics.
 *
 * Threading: a meta_db is one SQLite connection and must be used by one thread at a time. Open one per
 * thread that needs it (the event loop thread, a worker); WAL lets readers run beside the single writer and
 * the busy timeout makes writers wait for each other instead of failing.
 *
 * Transactions nest: meta_tx_begin at depth 0 runs BEGIN IMMEDIATE (the write lock is taken up front, so
 * two connections never deadlock upgrading a read lock), deeper levels are SAVEPOINTs. A rollback of an
 * inner level undoes only that level. Every meta_* call that writes runs inside its own (possibly nested)
 * transaction, so callers may group several calls into one atomic unit by wrapping them:
 *
 *     if (meta_tx_begin(db, err) < 0) return -1;
 *     if (meta_content_add(...) < 0 || meta_lease_hold(...) < 0) { meta_tx_rollback(db); return -1; }
 *     return meta_tx_commit(db, err);
 *
 * Errors: berr with gRPC codes and containerd's message text, including the errdefs class suffix
 * (e.g. `image "x": not found`), ready to be sent as a gRPC status message. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"

typedef struct meta_db meta_db;

/* The schema version this build writes; a database with a newer version is refused (FAILED_PRECONDITION). */
#define META_SCHEMA_VERSION 2

/* Opens (creating if needed) the database file, enables WAL, foreign keys, a busy timeout and full
 * synchronous=NORMAL commits (see db.c), and applies pending migrations in one transaction. */
int meta_db_open(const char *path, meta_db **ret, berr **err);
/* Closes the connection (rolls back an open transaction); accepts NULL. */
void meta_db_close(meta_db *db);
static inline void meta_db_closep(meta_db **db) {
        meta_db_close(*db);
        *db = NULL;
}
#define _cleanup_meta_db_ _cleanup_(meta_db_closep)

/* The schema version stored in the file (after migrations: META_SCHEMA_VERSION). */
int meta_db_schema_version(meta_db *db, int *ret, berr **err);

int meta_tx_begin(meta_db *db, berr **err);
int meta_tx_commit(meta_db *db, berr **err);
void meta_tx_rollback(meta_db *db);
/* Current nesting depth (0: no transaction). */
unsigned meta_tx_depth(meta_db *db);

/* Bytes in the database's write-ahead log (0 when empty or missing). The whole log is read again when the next
 * process opens the database after a crash (SQLite's WAL recovery), so a short log means a faster restart. */
int64_t meta_db_wal_size(meta_db *db);
/* Copies the log into the database and truncates it (a TRUNCATE checkpoint), without waiting: when another
 * connection is writing or reading an older snapshot the checkpoint is not done (*ret_done false, no error) and can
 * be tried later. Not inside a transaction of this connection. Syncs the database file like any checkpoint does
 * (synchronous=NORMAL); commits are unchanged. */
int meta_db_checkpoint(meta_db *db, bool *ret_done, berr **err);
