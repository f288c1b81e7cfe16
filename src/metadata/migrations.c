/* Schema migrations. Each step moves the schema from version N-1 to N; all pending steps run in one
 * transaction with the version bump, so a crash leaves either the old or the new schema. Never edit a
 * released step: add a new one and raise META_SCHEMA_VERSION.
 *
 * Shape: every namespaced object references its namespace row (ON DELETE CASCADE, so deleting an empty
 * namespace also drops its leases and ingests, as deleting containerd's namespace bucket does); labels live
 * in one (owner, key, value) table per object kind; times are int64 nanoseconds since the epoch. */
#include "metadata/db-internal.h"

typedef struct migration {
        int version;
        const char *sql;
} migration;

static const migration migrations[] = {
        { 1,
          "CREATE TABLE namespaces ("
          "  id INTEGER PRIMARY KEY,"
          "  name TEXT NOT NULL UNIQUE,"
          "  created_at INTEGER NOT NULL);"
          "CREATE TABLE namespace_labels ("
          "  owner INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"

          "CREATE TABLE images ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  name TEXT NOT NULL,"
          "  media_type TEXT NOT NULL,"
          "  digest TEXT NOT NULL,"
          "  size INTEGER NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  UNIQUE (ns, name));"
          "CREATE TABLE image_labels ("
          "  owner INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"
          "CREATE TABLE image_annotations ("
          "  owner INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"

          "CREATE TABLE content ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  digest TEXT NOT NULL,"
          "  size INTEGER NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  UNIQUE (ns, digest));"
          "CREATE INDEX content_by_digest ON content (digest);"
          "CREATE TABLE content_labels ("
          "  owner INTEGER NOT NULL REFERENCES content(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"

          /* An ingest in progress: ref is the client's name, backend_ref the content store's (unique over
           * all namespaces), expected a digest shared from another namespace, expires_at 0 when a lease
           * holds it instead. */
          "CREATE TABLE ingests ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  ref TEXT NOT NULL,"
          "  backend_ref TEXT NOT NULL UNIQUE,"
          "  expected TEXT,"
          "  expires_at INTEGER NOT NULL DEFAULT 0,"
          "  created_at INTEGER NOT NULL,"
          "  UNIQUE (ns, ref));"

          "CREATE TABLE leases ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  name TEXT NOT NULL,"
          "  created_at INTEGER NOT NULL,"
          "  UNIQUE (ns, name));"
          "CREATE TABLE lease_labels ("
          "  owner INTEGER NOT NULL REFERENCES leases(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"
          "CREATE TABLE lease_resources ("
          "  lease INTEGER NOT NULL REFERENCES leases(id) ON DELETE CASCADE,"
          "  type TEXT NOT NULL,"
          "  rid TEXT NOT NULL,"
          "  PRIMARY KEY (lease, type, rid)) WITHOUT ROWID;"

          /* Snapshot records double as the snapshotters' own metadata: backend_id names the snapshot's
           * directory and is unique per snapshotter across namespaces; parent is the parent's row
           * (same namespace and snapshotter), so a parent with children cannot be deleted. */
          "CREATE TABLE snapshots ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  snapshotter TEXT NOT NULL,"
          "  key TEXT NOT NULL,"
          "  kind INTEGER NOT NULL,"
          "  parent INTEGER REFERENCES snapshots(id),"
          "  backend_id INTEGER NOT NULL,"
          "  size INTEGER NOT NULL DEFAULT 0,"
          "  inodes INTEGER NOT NULL DEFAULT 0,"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  UNIQUE (ns, snapshotter, key),"
          "  UNIQUE (snapshotter, backend_id));"
          "CREATE INDEX snapshots_by_parent ON snapshots (parent);"
          "CREATE TABLE snapshot_labels ("
          "  owner INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"
          /* Backend ids are never reused, even after removal, so a half-removed directory can never be
           * mistaken for a new snapshot's. */
          "CREATE TABLE snapshot_sequences ("
          "  snapshotter TEXT PRIMARY KEY,"
          "  last_id INTEGER NOT NULL);" },

        /* Container records (t2). The Any fields keep their type URL and bytes; a NULL type URL means the
         * Any was not set (runtime options may be absent; a spec never is once validated). */
        { 2,
          "CREATE TABLE containers ("
          "  id INTEGER PRIMARY KEY,"
          "  ns INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,"
          "  name TEXT NOT NULL,"
          "  image TEXT NOT NULL DEFAULT '',"
          "  runtime_name TEXT NOT NULL,"
          "  runtime_options_type TEXT,"
          "  runtime_options BLOB,"
          "  spec_type TEXT,"
          "  spec BLOB,"
          "  snapshotter TEXT NOT NULL DEFAULT '',"
          "  snapshot_key TEXT NOT NULL DEFAULT '',"
          "  sandbox_id TEXT NOT NULL DEFAULT '',"
          "  created_at INTEGER NOT NULL,"
          "  updated_at INTEGER NOT NULL,"
          "  UNIQUE (ns, name));"
          "CREATE TABLE container_labels ("
          "  owner INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,"
          "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (owner, key)) WITHOUT ROWID;"
          "CREATE TABLE container_extensions ("
          "  owner INTEGER NOT NULL REFERENCES containers(id) ON DELETE CASCADE,"
          "  name TEXT NOT NULL, type_url TEXT NOT NULL, value BLOB NOT NULL,"
          "  PRIMARY KEY (owner, name)) WITHOUT ROWID;" },
};

static int read_version(meta_db *db, int *ret, berr **err) {
        if (meta_exec(db,
                      "CREATE TABLE IF NOT EXISTS schema_version ("
                      "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                      "  version INTEGER NOT NULL)",
                      err) < 0)
                return -1;
        return meta_db_schema_version(db, ret, err);
}

static int migrate_locked(meta_db *db, berr **err) {
        int version;
        if (read_version(db, &version, err) < 0)
                return -1;
        if (version > META_SCHEMA_VERSION)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0,
                                "schema version %d is newer than the newest this berthd knows (%d); refusing to "
                                "open it (was it written by a newer berthd?)",
                                version, META_SCHEMA_VERSION);
        int before = version;
        for (size_t i = 0; i < ELEMENTSOF(migrations); i++) {
                if (migrations[i].version <= version)
                        continue;
                if (meta_exec(db, migrations[i].sql, err) < 0)
                        return berr_wrap(err, "migration to schema version %d", migrations[i].version);
                version = migrations[i].version;
        }
        if (version == before)
                return 0;
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        if (meta_prepare(db, &st, "INSERT OR REPLACE INTO schema_version (id, version) VALUES (1, ?1)", err) < 0)
                return -1;
        sqlite3_bind_int(st, 1, version);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

int meta_migrate(meta_db *db, berr **err) {
        if (meta_tx_begin(db, err) < 0)
                return -1;
        return meta_tx_end(db, migrate_locked(db, err), err);
}
