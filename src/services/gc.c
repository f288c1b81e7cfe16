#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "services/gc.h"
#include "snapshots/snapshots.h"

#define GC_ORPHAN_INGEST_GRACE_SEC 600

struct gc_state {
        service_context *ctx;
        ev_source *timer;
        uint64_t first_request_usec; /* monotonic time of the oldest pending request; 0 when none */
        bool startup_pending;        /* the start-up pass has not run yet: the next pass is it */
};

static pthread_rwlock_t content_lock = PTHREAD_RWLOCK_INITIALIZER;

void gc_content_lock(void) {
        pthread_rwlock_rdlock(&content_lock);
}

void gc_content_unlock(void) {
        pthread_rwlock_unlock(&content_lock);
}

/* Snapshot directories of the records the metadata pass dropped, children first (the order it lists them). */
static void remove_snapshots(service_context *ctx, const meta_gc_result *res, gc_stats *stats) {
        for (size_t i = 0; i < res->n_snapshots; i++) {
                const meta_gc_snapshot *s = &res->snapshots[i];
                snapshotter *sn = service_snapshotter(ctx, s->snapshotter);
                if (!sn) {
                        log_warn("gc: snapshot %s/%s: snapshotter %s not available, directory %" PRId64 " kept",
                                 s->ns, s->key, s->snapshotter, s->backend_id);
                        continue;
                }
                char id[32];
                snprintf(id, sizeof id, "%" PRId64, s->backend_id);
                berr *e = NULL;
                if (snapshotter_remove(sn, id, &e) < 0) {
                        log_warn("gc: cannot remove snapshot %s/%s (%s %s): %s", s->ns, s->key, s->snapshotter, id,
                                 e->msg);
                        berr_free(e);
                        continue;
                }
                log_debug("gc: removed snapshot %s/%s (%s %s)", s->ns, s->key, s->snapshotter, id);
                stats->snapshots++;
        }
}

typedef struct blob_sweep {
        meta_db *db;
        char **unused;
} blob_sweep;

static int collect_unused_blob(const content_info *info, void *userdata, berr **err) {
        blob_sweep *sw = userdata;
        bool used = true;
        if (meta_content_in_use(sw->db, info->digest, &used, err) < 0)
                return -1;
        if (!used)
                strv_extend(&sw->unused, info->digest);
        return 0;
}

/* Ingest directories (<content>/ingest/<hash>/ref names the backend ref) that no ingest record uses, walked
 * directly rather than through content_list_statuses so half-created ones (a crash between mkdir and the data
 * file) go too; one without a ref file is left alone while it is young, as a writer may be creating it. */
static int sweep_ingests(service_context *ctx, gc_stats *stats, berr **err) {
        _cleanup_free_ char *dir = xasprintf("%s/ingest", content_store_dir(ctx->content));
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : berr_errno(err, errno, "open %s", dir);
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
                _cleanup_free_ char *refpath = xasprintf("%s/ref", path), *ref = NULL;
                bool used = true;
                if (read_file(refpath, &ref, NULL, 1 << 20, NULL) == 0) {
                        if (meta_ingest_backend_in_use(ctx->db, ref, &used, err) < 0) {
                                r = -1;
                                break;
                        }
                } else {
                        struct stat st;
                        used = stat(path, &st) < 0 ||
                               st.st_mtime + GC_ORPHAN_INGEST_GRACE_SEC > (time_t) (now_realtime_nsec() / 1000000000);
                }
                if (used)
                        continue;
                berr *e = NULL;
                if (rm_rf(path, &e) < 0)
                        log_warn("gc: cannot remove ingest %s: %s", path, e->msg);
                else {
                        log_debug("gc: aborted ingest %s", ref ? ref : path);
                        stats->ingests++;
                }
                berr_free(e);
        }
        closedir(d);
        return r;
}

/* Blobs no namespace records and ingests no record names: what the metadata pass just freed, and whatever a
 * crash left between writing and recording. */
static int sweep_content(service_context *ctx, gc_stats *stats, berr **err) {
        blob_sweep sw = { .db = ctx->db };
        if (content_walk(ctx->content, collect_unused_blob, &sw, err) < 0) {
                strv_free(sw.unused);
                return -1;
        }
        for (char **d = sw.unused; d && *d; d++) {
                berr *e = NULL;
                if (content_delete(ctx->content, *d, &e) < 0 && e->code != BERR_NOT_FOUND)
                        log_warn("gc: cannot delete blob %s: %s", *d, e->msg);
                else {
                        log_debug("gc: removed content %s", *d);
                        stats->blobs++;
                }
                berr_free(e);
        }
        strv_free(sw.unused);

        return sweep_ingests(ctx, stats, err);
}

int gc_run(service_context *ctx, gc_stats *ret, berr **err) {
        gc_stats stats = { 0 };
        gc_state *g = ctx->gc;
        bool startup = false;
        if (g) {
                g->first_request_usec = 0;
                (void) ev_timer_disarm(g->timer);
                startup = g->startup_pending;
                g->startup_pending = false;
        }
        uint64_t start = now_monotonic_usec();
        meta_gc_result res = { 0 };
        if (meta_gc_collect(ctx->db, &res, err) < 0)
                return berr_wrap(err, "garbage collection");
        stats.records = res.n_content_records + res.n_leases + res.n_snapshots + res.n_ingests;
        remove_snapshots(ctx, &res, &stats);
        meta_gc_result_done(&res);

        pthread_rwlock_wrlock(&content_lock);
        int r = sweep_content(ctx, &stats, err);
        pthread_rwlock_unlock(&content_lock);
        if (r < 0)
                return berr_wrap(err, "garbage collection");
        log_debug("gc: %zu records, %zu blobs, %zu ingests, %zu snapshots removed in %" PRIu64 " us", stats.records,
                  stats.blobs, stats.ingests, stats.snapshots, now_monotonic_usec() - start);
        if (startup && stats.blobs + stats.ingests + stats.snapshots + stats.records > 0)
                log_info("startup garbage collection: %zu records, %zu blobs, %zu ingests, %zu snapshots removed",
                         stats.records, stats.blobs, stats.ingests, stats.snapshots);
        if (ret)
                *ret = stats;
        return 0;
}

int gc_run_now(service_context *ctx, berr **err) {
        return gc_run(ctx, NULL, err);
}

static int on_gc_timer(ev_source *s, void *userdata) {
        gc_state *g = userdata;
        _cleanup_berr_ berr *e = NULL;
        bool startup = g->startup_pending;
        if (gc_run(g->ctx, NULL, &e) < 0)
                log_warn("%s%s", startup ? "startup " : "", e->msg);
        return 0;
}

void gc_schedule(service_context *ctx) {
        gc_state *g = ctx->gc;
        if (!g)
                return;
        uint64_t now = now_monotonic_usec();
        if (g->first_request_usec == 0)
                g->first_request_usec = now;
        uint64_t delay = GC_DELAY_USEC;
        uint64_t latest = g->first_request_usec + GC_MAX_DELAY_USEC;
        if (now + delay > latest)
                delay = latest > now ? latest - now : 0;
        int r = ev_timer_set(g->timer, delay);
        if (r < 0)
                log_warn("gc: cannot arm the timer: %s", strerror(-r));
}

/* The backend ids every namespace's records use in sn, for the snapshotter's Cleanup of orphan directories. */
static int live_snapshot_ids(service_context *ctx, snapshotter *sn, char ***ret, berr **err) {
        return meta_snapshot_backend_ids(ctx->db, snapshotter_name(sn), ret, err);
}

/* After a crash: snapshot directories no record names (half-made new-*, half-removed rm-*, removed records). */
static void cleanup_snapshotters(service_context *ctx) {
        for (size_t i = 0; i < ctx->n_snapshotters; i++) {
                snapshotter *sn = ctx->snapshotters[i];
                char **ids = NULL;
                berr *e = NULL;
                if (live_snapshot_ids(ctx, sn, &ids, &e) < 0 ||
                    snapshotter_cleanup(sn, ids, strv_length(ids), &e) < 0) {
                        log_warn("gc: snapshotter %s cleanup: %s", snapshotter_name(sn), e->msg);
                        berr_free(e);
                }
                strv_free(ids);
        }
}

int gc_init(service_context *ctx, berr **err) {
        if (!ctx->db || !ctx->content)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "garbage collection needs metadata and content");
        if (ctx->gc)
                return 0;
        gc_state *g = xcalloc(1, sizeof *g);
        g->ctx = ctx;
        int r = ev_add_timer(ctx->loop, &g->timer, EV_TIMER_DISARMED, on_gc_timer, g);
        if (r < 0) {
                free(g);
                return berr_errno(err, -r, "cannot create the garbage collection timer");
        }
        ctx->gc = g;

        /* Directories no record names go now, before any request can make snapshots (a worker's new-* directory
         * or a record it commits just before its directory would look like an orphan to a later Cleanup) ... */
        cleanup_snapshotters(ctx);
        /* ... the rest of the start-up pass (records, blobs, ingests), which a pass may do at any time, later: it
         * took a few ms of every start with many records, while clients were waiting (containerd's scheduler
         * also runs its first collection after a startup delay). */
        g->startup_pending = true;
        r = ev_timer_set(g->timer, GC_STARTUP_DELAY_USEC);
        if (r < 0) {
                log_warn("gc: cannot arm the timer (%s): start-up pass now", strerror(-r));
                berr *e = NULL;
                if (gc_run(ctx, NULL, &e) < 0) {
                        log_warn("startup %s", e->msg);
                        berr_free(e);
                }
        }
        return 0;
}

gc_state *gc_free(gc_state *g) {
        if (!g)
                return NULL;
        ev_source_free(g->timer);
        free(g);
        return NULL;
}
