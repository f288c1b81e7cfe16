#include <string.h>

#include "basic/log.h"
#include "metadata/content.h"
#include "metadata/db-internal.h"
#include "metadata/gc.h"
#include "metadata/util.h"

/* Node kinds, as containerd's gc resource types; the upper-case letters are the "flat" variants, which
 * are distinct while marking but count as the lower-case kind when deciding what is reachable. */
enum {
        NODE_CONTENT = 'c',
        NODE_CONTENT_FLAT = 'C',
        NODE_SNAPSHOT = 's',
        NODE_SNAPSHOT_FLAT = 'S',
        NODE_INGEST = 'i',
        NODE_LEASE = 'l',
};

/* ---- a string hash set -------------------------------------------------------------------------------- */

typedef struct strset {
        char **slot;
        size_t cap, n;
} strset;

static uint64_t hash(const char *s) {
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return h;
}

static bool strset_has(const strset *set, const char *s) {
        if (set->cap == 0)
                return false;
        for (size_t i = hash(s) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
                if (!set->slot[i])
                        return false;
                if (strcmp(set->slot[i], s) == 0)
                        return true;
        }
}

/* Takes ownership of s; returns false (and frees s) if it was already there. */
static bool strset_add(strset *set, char *s) {
        if (strset_has(set, s)) {
                free(s);
                return false;
        }
        if ((set->n + 1) * 2 > set->cap) {
                strset bigger = { .cap = set->cap ? set->cap * 2 : 64 };
                bigger.slot = xcalloc(bigger.cap, sizeof *bigger.slot);
                for (size_t i = 0; i < set->cap; i++)
                        if (set->slot[i])
                                strset_add(&bigger, set->slot[i]);
                free(set->slot);
                *set = bigger;
        }
        size_t i = hash(s) & (set->cap - 1);
        while (set->slot[i])
                i = (i + 1) & (set->cap - 1);
        set->slot[i] = s;
        set->n++;
        return true;
}

static void strset_done(strset *set) {
        for (size_t i = 0; i < set->cap; i++)
                free(set->slot[i]);
        free(set->slot);
        *set = (strset) { 0 };
}

/* ---- marking ------------------------------------------------------------------------------------------ */

typedef struct node {
        char kind;
        int64_t ns;
        char *key;
} node;

typedef struct gc_state {
        meta_db *db;
        int64_t now;
        strset seen;
        node *gray;
        size_t n_gray;
} gc_state;

static char *node_name(char kind, int64_t ns, const char *key) {
        return xasprintf("%c%lld/%s", kind, (long long) ns, key);
}

static void push(gc_state *g, char kind, int64_t ns, const char *key) {
        if (!key)
                return;
        if (!strset_add(&g->seen, node_name(kind, ns, key)))
                return;
        g->gray = xrealloc(g->gray, (g->n_gray + 1) * sizeof *g->gray);
        g->gray[g->n_gray++] = (node) { .kind = kind, .ns = ns, .key = xstrdup(key) };
}

static void push_snapshot(gc_state *g, char kind, int64_t ns, const char *snapshotter, const char *key) {
        _cleanup_free_ char *k = xasprintf("%s/%s", snapshotter, key);
        push(g, kind, ns, k);
}

/* containerd's sendLabelRefs. */
static void push_label_refs(gc_state *g, int64_t ns, const meta_labels *l) {
        const size_t clen = strlen(META_LABEL_GC_REF_CONTENT), slen = strlen(META_LABEL_GC_REF_SNAPSHOT);
        for (size_t i = 0; i < l->n; i++) {
                const char *k = l->v[i].key;
                if (strncmp(k, META_LABEL_GC_REF_CONTENT, clen) == 0 &&
                    (k[clen] == '\0' || k[clen] == '.' || k[clen] == '/'))
                        push(g, NODE_CONTENT, ns, l->v[i].value);
                else if (strncmp(k, META_LABEL_GC_REF_SNAPSHOT, slen) == 0) {
                        const char *ss = k + slen;
                        size_t sslen = strcspn(ss, "/");
                        _cleanup_free_ char *snapshotter = xstrndup(ss, sslen);
                        push_snapshot(g, NODE_SNAPSHOT, ns, snapshotter, l->v[i].value);
                }
        }
}

static int lease_roots(gc_state *g, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *res = NULL;
        int r;
        if (meta_prepare(g->db, &st, "SELECT id, ns, name FROM leases", err) < 0 ||
            meta_prepare(g->db, &res, "SELECT type, rid FROM lease_resources WHERE lease = ?1", err) < 0)
                return -1;
        while ((r = meta_step(g->db, st, err)) > 0) {
                int64_t id = sqlite3_column_int64(st, 0), ns = sqlite3_column_int64(st, 1);
                meta_labels labels = { 0 };
                if (meta_labels_load(g->db, "lease_labels", id, &labels, err) < 0)
                        return -1;
                const char *exp = meta_labels_get(&labels, META_LABEL_GC_EXPIRE);
                bool flat = meta_labels_get(&labels, META_LABEL_GC_FLAT) != NULL, expired = false;
                int64_t exp_ns;
                if (exp) {
                        if (meta_parse_rfc3339(exp, &exp_ns) < 0)
                                log_info("gc: ignoring invalid expiration value \"%s\" of lease %s", exp,
                                         (const char *) sqlite3_column_text(st, 2));
                        else
                                expired = g->now > exp_ns;
                }
                meta_labels_done(&labels);
                if (expired)
                        continue;
                push(g, NODE_LEASE, ns, (const char *) sqlite3_column_text(st, 2));
                sqlite3_reset(res);
                sqlite3_bind_int64(res, 1, id);
                while ((r = meta_step(g->db, res, err)) > 0) {
                        const char *type = (const char *) sqlite3_column_text(res, 0);
                        const char *rid = (const char *) sqlite3_column_text(res, 1);
                        if (strcmp(type, "content") == 0)
                                push(g, flat ? NODE_CONTENT_FLAT : NODE_CONTENT, ns, rid);
                        else if (strcmp(type, "ingests") == 0)
                                push(g, NODE_INGEST, ns, rid);
                        else if (strncmp(type, "snapshots/", 10) == 0)
                                push_snapshot(g, flat ? NODE_SNAPSHOT_FLAT : NODE_SNAPSHOT, ns, type + 10, rid);
                }
                if (r < 0)
                        return -1;
        }
        return r;
}

static int image_roots(gc_state *g, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        if (meta_prepare(g->db, &st, "SELECT id, ns, digest FROM images", err) < 0)
                return -1;
        while ((r = meta_step(g->db, st, err)) > 0) {
                int64_t ns = sqlite3_column_int64(st, 1);
                meta_labels labels = { 0 };
                push(g, NODE_CONTENT, ns, (const char *) sqlite3_column_text(st, 2));
                if (meta_labels_load(g->db, "image_labels", sqlite3_column_int64(st, 0), &labels, err) < 0)
                        return -1;
                push_label_refs(g, ns, &labels);
                meta_labels_done(&labels);
        }
        return r;
}

/* Containers are roots: their snapshot (when they name a snapshotter) and their gc.ref labels. */
static int container_roots(gc_state *g, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;
        if (meta_prepare(g->db, &st, "SELECT id, ns, snapshotter, snapshot_key FROM containers", err) < 0)
                return -1;
        while ((r = meta_step(g->db, st, err)) > 0) {
                int64_t ns = sqlite3_column_int64(st, 1);
                const char *snapshotter = (const char *) sqlite3_column_text(st, 2);
                meta_labels labels = { 0 };
                if (snapshotter && *snapshotter)
                        push_snapshot(g, NODE_SNAPSHOT, ns, snapshotter, (const char *) sqlite3_column_text(st, 3));
                if (meta_labels_load(g->db, "container_labels", sqlite3_column_int64(st, 0), &labels, err) < 0)
                        return -1;
                push_label_refs(g, ns, &labels);
                meta_labels_done(&labels);
        }
        return r;
}

static int simple_roots(gc_state *g, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *ing = NULL, *cnt = NULL, *snap = NULL;
        int r;
        if (meta_prepare(g->db, &ing, "SELECT ns, ref FROM ingests WHERE expires_at > ?1", err) < 0)
                return -1;
        sqlite3_bind_int64(ing, 1, g->now);
        while ((r = meta_step(g->db, ing, err)) > 0)
                push(g, NODE_INGEST, sqlite3_column_int64(ing, 0), (const char *) sqlite3_column_text(ing, 1));
        if (r < 0)
                return -1;
        if (meta_prepare(g->db, &cnt,
                         "SELECT c.ns, c.digest FROM content c JOIN content_labels l ON l.owner = c.id "
                         "WHERE l.key = '" META_LABEL_GC_ROOT "'",
                         err) < 0)
                return -1;
        while ((r = meta_step(g->db, cnt, err)) > 0)
                push(g, NODE_CONTENT, sqlite3_column_int64(cnt, 0), (const char *) sqlite3_column_text(cnt, 1));
        if (r < 0)
                return -1;
        if (meta_prepare(g->db, &snap,
                         "SELECT s.ns, s.snapshotter, s.key FROM snapshots s JOIN snapshot_labels l ON l.owner = s.id "
                         "WHERE l.key = '" META_LABEL_GC_ROOT "'",
                         err) < 0)
                return -1;
        while ((r = meta_step(g->db, snap, err)) > 0)
                push_snapshot(g, NODE_SNAPSHOT, sqlite3_column_int64(snap, 0),
                              (const char *) sqlite3_column_text(snap, 1), (const char *) sqlite3_column_text(snap, 2));
        return r;
}

/* containerd's references(): what one node keeps alive. */
static int references(gc_state *g, const node *n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        meta_labels labels = { 0 };
        int r;
        switch (n->kind) {
        case NODE_CONTENT:
                if (meta_prepare(g->db, &st, "SELECT id FROM content WHERE ns = ?1 AND digest = ?2", err) < 0)
                        return -1;
                sqlite3_bind_int64(st, 1, n->ns);
                meta_bind_text(st, 2, n->key);
                if ((r = meta_step(g->db, st, err)) <= 0)
                        return r; /* a dangling reference is fine */
                if (meta_labels_load(g->db, "content_labels", sqlite3_column_int64(st, 0), &labels, err) < 0)
                        return -1;
                push_label_refs(g, n->ns, &labels);
                meta_labels_done(&labels);
                return 0;
        case NODE_SNAPSHOT:
        case NODE_SNAPSHOT_FLAT: {
                const char *slash = strchr(n->key, '/');
                if (!slash)
                        return berr_set(err, BERR_INTERNAL, 0, "invalid snapshot gc key %s", n->key);
                _cleanup_free_ char *snapshotter = xstrndup(n->key, (size_t) (slash - n->key));
                if (meta_prepare(g->db, &st,
                                 "SELECT s.id, p.key FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent "
                                 "WHERE s.ns = ?1 AND s.snapshotter = ?2 AND s.key = ?3",
                                 err) < 0)
                        return -1;
                sqlite3_bind_int64(st, 1, n->ns);
                meta_bind_text(st, 2, snapshotter);
                meta_bind_text(st, 3, slash + 1);
                if ((r = meta_step(g->db, st, err)) <= 0)
                        return r;
                if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                        push_snapshot(g, n->kind, n->ns, snapshotter, (const char *) sqlite3_column_text(st, 1));
                if (n->kind == NODE_SNAPSHOT_FLAT)
                        return 0;
                if (meta_labels_load(g->db, "snapshot_labels", sqlite3_column_int64(st, 0), &labels, err) < 0)
                        return -1;
                push_label_refs(g, n->ns, &labels);
                meta_labels_done(&labels);
                return 0;
        }
        case NODE_INGEST:
                if (meta_prepare(g->db, &st, "SELECT expected FROM ingests WHERE ns = ?1 AND ref = ?2", err) < 0)
                        return -1;
                sqlite3_bind_int64(st, 1, n->ns);
                meta_bind_text(st, 2, n->key);
                if ((r = meta_step(g->db, st, err)) <= 0)
                        return r;
                if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                        push(g, NODE_CONTENT, n->ns, (const char *) sqlite3_column_text(st, 0));
                return 0;
        default:
                return 0;
        }
}

/* The reachable set, flat kinds folded into their plain kinds. */
static int mark(gc_state *g, strset *reachable, berr **err) {
        if (lease_roots(g, err) < 0 || image_roots(g, err) < 0 || container_roots(g, err) < 0 ||
            simple_roots(g, err) < 0)
                return -1;
        while (g->n_gray > 0) {
                node n = g->gray[--g->n_gray];
                int r = references(g, &n, err);
                char kind = n.kind == NODE_CONTENT_FLAT ? NODE_CONTENT
                          : n.kind == NODE_SNAPSHOT_FLAT ? NODE_SNAPSHOT
                                                         : n.kind;
                strset_add(reachable, node_name(kind, n.ns, n.key));
                free(n.key);
                if (r < 0)
                        return -1;
        }
        return 0;
}

/* ---- sweeping ----------------------------------------------------------------------------------------- */

static bool is_reachable(const strset *reachable, char kind, int64_t ns, const char *key) {
        _cleanup_free_ char *name = node_name(kind, ns, key);
        return strset_has(reachable, name);
}

static int delete_row(meta_db *db, const char *table, int64_t id, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = xasprintf("DELETE FROM %s WHERE id = ?1", table);
        if (meta_prepare(db, &st, sql, err) < 0)
                return -1;
        sqlite3_bind_int64(st, 1, id);
        return meta_step(db, st, err) < 0 ? -1 : 0;
}

typedef struct victim {
        int64_t id;
        char *a, *b, *c; /* per table: see the sweeps */
        int64_t n;
} victim;

static void victims_free(victim *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].a);
                free(v[i].b);
                free(v[i].c);
        }
        free(v);
}

/* Collects the rows of a query (id, ns, key, [b], [c], [n]) whose node is unreachable, before deleting any:
 * deleting while a SELECT on the same table is open would be fragile. */
static int collect(gc_state *g, const strset *reachable, const char *sql, char kind, bool snapshot,
                   victim **ret, size_t *ret_n, berr **err) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        victim *v = NULL;
        size_t n = 0;
        int r;
        if (meta_prepare(g->db, &st, sql, err) < 0)
                return -1;
        while ((r = meta_step(g->db, st, err)) > 0) {
                int64_t ns = sqlite3_column_int64(st, 1);
                const char *key = (const char *) sqlite3_column_text(st, 2);
                bool live;
                if (snapshot) {
                        _cleanup_free_ char *k = xasprintf("%s/%s", (const char *) sqlite3_column_text(st, 3), key);
                        live = is_reachable(reachable, kind, ns, k);
                } else
                        live = is_reachable(reachable, kind, ns, key);
                if (live)
                        continue;
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = (victim) {
                        .id = sqlite3_column_int64(st, 0),
                        .a = xstrdup(key),
                        .b = meta_column_strdup(st, 3),
                        .c = meta_column_strdup(st, 4),
                        .n = sqlite3_column_int64(st, 5),
                };
        }
        if (r < 0) {
                victims_free(v, n);
                return -1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int sweep(gc_state *g, const strset *reachable, meta_gc_result *res, berr **err) {
        victim *v = NULL;
        size_t n = 0;
        int r = 0;

        if (collect(g, reachable, "SELECT id, ns, name, NULL, NULL, 0 FROM leases", NODE_LEASE, false, &v, &n,
                    err) < 0)
                return -1;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = delete_row(g->db, "leases", v[i].id, err);
        res->n_leases = n;
        victims_free(v, n);
        if (r < 0)
                return -1;

        /* Deepest first, so a parent row goes after its children (the parent foreign key) and the caller
         * removes backends in an order a snapshotter can follow. */
        if (collect(g, reachable,
                    "WITH RECURSIVE d(id, depth) AS ("
                    "  SELECT id, 0 FROM snapshots WHERE parent IS NULL"
                    "  UNION ALL SELECT s.id, d.depth + 1 FROM snapshots s JOIN d ON s.parent = d.id) "
                    "SELECT s.id, s.ns, s.key, s.snapshotter, n.name, s.backend_id FROM snapshots s "
                    "JOIN d ON d.id = s.id JOIN namespaces n ON n.id = s.ns ORDER BY d.depth DESC, s.id",
                    NODE_SNAPSHOT, true, &v, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = delete_row(g->db, "snapshots", v[i].id, err);
                if (r < 0)
                        break;
                res->snapshots = xrealloc(res->snapshots, (res->n_snapshots + 1) * sizeof *res->snapshots);
                res->snapshots[res->n_snapshots++] = (meta_gc_snapshot) {
                        .ns = TAKE_PTR(v[i].c), .snapshotter = TAKE_PTR(v[i].b), .key = TAKE_PTR(v[i].a),
                        .backend_id = v[i].n,
                };
        }
        victims_free(v, n);
        if (r < 0)
                return -1;

        if (collect(g, reachable, "SELECT id, ns, ref, backend_ref, NULL, 0 FROM ingests", NODE_INGEST, false, &v,
                    &n, err) < 0)
                return -1;
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = delete_row(g->db, "ingests", v[i].id, err);
                if (r >= 0) {
                        res->ingests = xrealloc(res->ingests, (res->n_ingests + 1) * sizeof *res->ingests);
                        res->ingests[res->n_ingests++] = TAKE_PTR(v[i].b);
                }
        }
        victims_free(v, n);
        if (r < 0)
                return -1;

        if (collect(g, reachable, "SELECT id, ns, digest, NULL, NULL, 0 FROM content", NODE_CONTENT, false, &v, &n,
                    err) < 0)
                return -1;
        for (size_t i = 0; i < n && r >= 0; i++)
                r = delete_row(g->db, "content", v[i].id, err);
        res->n_content_records = n;
        /* A blob goes only when no namespace keeps a record of it (content is shared between namespaces). */
        strset blobs = { 0 };
        for (size_t i = 0; i < n && r >= 0; i++) {
                bool used;
                r = meta_content_in_use(g->db, v[i].a, &used, err);
                if (r >= 0 && !used && strset_add(&blobs, xstrdup(v[i].a))) {
                        res->blobs = xrealloc(res->blobs, (res->n_blobs + 1) * sizeof *res->blobs);
                        res->blobs[res->n_blobs++] = xstrdup(v[i].a);
                }
        }
        strset_done(&blobs);
        victims_free(v, n);
        return r < 0 ? -1 : 0;
}

void meta_gc_result_done(meta_gc_result *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_blobs; i++)
                free(r->blobs[i]);
        free(r->blobs);
        for (size_t i = 0; i < r->n_snapshots; i++) {
                free(r->snapshots[i].ns);
                free(r->snapshots[i].snapshotter);
                free(r->snapshots[i].key);
        }
        free(r->snapshots);
        for (size_t i = 0; i < r->n_ingests; i++)
                free(r->ingests[i]);
        free(r->ingests);
        *r = (meta_gc_result) { 0 };
}

static int collect_locked(meta_db *db, int64_t now, meta_gc_result *ret, berr **err) {
        gc_state g = { .db = db, .now = now };
        strset reachable = { 0 };
        meta_gc_result res = { 0 };
        int r = mark(&g, &reachable, err);
        if (r >= 0)
                r = sweep(&g, &reachable, &res, err);
        for (size_t i = 0; i < g.n_gray; i++)
                free(g.gray[i].key);
        free(g.gray);
        strset_done(&g.seen);
        strset_done(&reachable);
        if (r < 0) {
                meta_gc_result_done(&res);
                return -1;
        }
        log_debug("gc: removed %zu content records (%zu blobs), %zu snapshots, %zu ingests, %zu leases",
                  res.n_content_records, res.n_blobs, res.n_snapshots, res.n_ingests, res.n_leases);
        *ret = res;
        return 0;
}

int meta_gc_collect_at(meta_db *db, int64_t now_ns, meta_gc_result *ret, berr **err) {
        meta_gc_result res = { 0 };
        if (meta_tx_begin(db, err) < 0)
                return -1;
        if (meta_tx_end(db, collect_locked(db, now_ns, &res, err), err) < 0) {
                /* Nothing was removed: report nothing for the caller to delete. */
                meta_gc_result_done(&res);
                return -1;
        }
        *ret = res;
        return 0;
}

int meta_gc_collect(meta_db *db, meta_gc_result *ret, berr **err) {
        return meta_gc_collect_at(db, meta_now_ns(), ret, err);
}
