/* What berthd does at start-up and what it defers so that a restart serves sooner: the remembered overlayfs check,
 * the garbage collector's deferred start-up pass (with the snapshot directory cleanup still done at once), and the
 * metadata log's checkpoint (and the one-query backend id list the cleanup uses). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/event.h"
#include "basic/fileio.h"
#include "basic/strv.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "services/gc.h"
#include "snapshots/snapshotter-internal.h"
#include "test-metadata-util.h"

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static char *read_whole(const char *path) {
        char *data = NULL;
        if (read_file(path, &data, NULL, 1 << 16, NULL) < 0)
                return NULL;
        return data;
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        if (!d)
                return -1;
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
        closedir(d);
        return n;
}

TEST(overlay_check_is_remembered_per_boot_and_filesystem) {
        _cleanup_free_ char *root = xasprintf("%s/ovl", test_dir), *cache = xasprintf("%s/overlayfs.check", test_dir);
        snapshotter *s = NULL;
        berr *e = NULL;
        if (snapshotter_open_cached("overlayfs", root, cache, &s, &e) < 0)
                TAP_SKIP("overlayfs unavailable: %s", e->msg);
        ASSERT_FALSE(s->userxattr); /* not in a user namespace */
        snapshotter_free(s);
        _cleanup_free_ char *data = read_whole(cache), *boot = read_whole("/proc/sys/kernel/random/boot_id");
        ASSERT_NOT_NULL(data);
        ASSERT_NOT_NULL(boot);
        boot[strcspn(boot, "\n")] = '\0';
        _cleanup_free_ char *want_boot = xasprintf(" boot=%s ", boot), *want_root = xasprintf(" root=%s ", root);
        ASSERT_TRUE(strncmp(data, "overlay-check v1 ", 17) == 0);
        ASSERT_NOT_NULL(strstr(data, want_boot));
        ASSERT_NOT_NULL(strstr(data, want_root));
        ASSERT_NOT_NULL(strstr(data, "\nuserxattr=0\n"));

        /* A matching file is trusted: its outcome is taken as is (userxattr=1 here, which no check would give). */
        char *nl = strchr(data, '\n');
        *nl = '\0';
        _cleanup_free_ char *forged = xasprintf("%s\nuserxattr=1\n", data);
        ASSERT_OK(write_file_atomic(cache, forged, strlen(forged), 0600, &e));
        ASSERT_OK(snapshotter_open_cached("overlayfs", root, cache, &s, &e));
        ASSERT_TRUE(s->userxattr);
        snapshotter_free(s);

        /* Another boot (or kernel, filesystem, ...): checked again, and the file rewritten for this one. */
        _cleanup_free_ char *other = xasprintf("overlay-check v1 boot=00000000-0000-0000-0000-000000000000 root=%s\n"
                                               "userxattr=1\n",
                                               root);
        ASSERT_OK(write_file_atomic(cache, other, strlen(other), 0600, &e));
        ASSERT_OK(snapshotter_open_cached("overlayfs", root, cache, &s, &e));
        ASSERT_FALSE(s->userxattr);
        snapshotter_free(s);
        _cleanup_free_ char *again = read_whole(cache);
        ASSERT_NOT_NULL(again);
        ASSERT_NOT_NULL(strstr(again, want_boot));
        ASSERT_NOT_NULL(strstr(again, "\nuserxattr=0\n"));
        /* The check leaves nothing behind in the root. */
        ASSERT_EQ(count_prefixed(root, "overlay-check-"), 0);

        /* Without a cache file name nothing is written. */
        ASSERT_OK(unlink(cache));
        ASSERT_OK(snapshotter_open("overlayfs", root, &s, &e));
        snapshotter_free(s);
        ASSERT_FALSE(exists(cache));
}

TEST(snapshot_backend_ids_cover_every_namespace) {
        meta_db *db = test_db_open("ids");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        char **ids = (char **) 1;
        ASSERT_OK(meta_snapshot_backend_ids(db, "overlayfs", &ids, &e));
        ASSERT_NULL(ids);
        meta_snapshot s = { 0 };
        ASSERT_OK(meta_snapshot_create(db, "a", "overlayfs", "k1", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e));
        meta_snapshot_done(&s);
        ASSERT_OK(meta_snapshot_create(db, "b", "overlayfs", "k1", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e));
        meta_snapshot_done(&s);
        ASSERT_OK(meta_snapshot_create(db, "b", "native", "k2", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e));
        int64_t native_id = s.backend_id;
        meta_snapshot_done(&s);
        ASSERT_OK(meta_snapshot_backend_ids(db, "overlayfs", &ids, &e));
        ASSERT_EQ(strv_length(ids), 2);
        ASSERT_TRUE(strv_contains(ids, "1"));
        ASSERT_TRUE(strv_contains(ids, "2"));
        strv_free(ids);
        ASSERT_OK(meta_snapshot_backend_ids(db, "native", &ids, &e));
        ASSERT_EQ(strv_length(ids), 1);
        _cleanup_free_ char *want = xasprintf("%" PRId64, native_id);
        ASSERT_STREQ(ids[0], want);
        strv_free(ids);
        meta_db_close(db);
}

TEST(checkpoint_truncates_the_log_and_never_waits) {
        meta_db *db = test_db_open("ckpt"), *other = test_db_open("ckpt");
        ASSERT_NOT_NULL(db);
        ASSERT_NOT_NULL(other);
        berr *e = NULL;
        meta_snapshot s = { 0 };
        for (int i = 0; i < 50; i++) {
                _cleanup_free_ char *key = xasprintf("key-%d", i);
                ASSERT_OK(meta_snapshot_create(db, "ns", "native", key, NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e));
                meta_snapshot_done(&s);
        }
        ASSERT_TRUE(meta_db_wal_size(db) > 0);

        /* Another connection holds the write lock: no checkpoint, no error, and no 5 s busy wait. */
        ASSERT_OK(meta_tx_begin(other, &e));
        bool done = true;
        uint64_t start = now_monotonic_usec();
        ASSERT_OK(meta_db_checkpoint(db, &done, &e));
        ASSERT_FALSE(done);
        ASSERT_TRUE(now_monotonic_usec() - start < 1000 * 1000);
        meta_tx_rollback(other);
        /* Its busy timeout is back: a write still waits for the lock instead of failing (checked by its effect). */
        ASSERT_OK(meta_snapshot_create(db, "ns", "native", "after", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e));
        meta_snapshot_done(&s);

        /* Not inside a transaction of its own. */
        ASSERT_OK(meta_tx_begin(db, &e));
        ASSERT_EQ(meta_db_checkpoint(db, &done, &e), -1);
        berr_free(e);
        e = NULL;
        meta_tx_rollback(db);

        ASSERT_OK(meta_db_checkpoint(db, &done, &e));
        ASSERT_TRUE(done);
        ASSERT_EQ(meta_db_wal_size(db), 0);
        meta_db_close(other);
        meta_db_close(db);
        /* Everything is in the database file now. */
        db = test_db_open("ckpt");
        ASSERT_NOT_NULL(db);
        ASSERT_OK(meta_snapshot_get(db, "ns", "native", "key-49", &s, &e));
        meta_snapshot_done(&s);
        ASSERT_OK(meta_snapshot_get(db, "ns", "native", "after", &s, &e));
        meta_snapshot_done(&s);
        meta_db_close(db);
}

TEST(gc_startup_pass_is_deferred_but_orphan_snapshot_dirs_go_at_once) {
        _cleanup_free_ char *root = xasprintf("%s/gc", test_dir), *cdir = xasprintf("%s/content", root),
                            *sroot = xasprintf("%s/native", root);
        ASSERT_OK(mkdir_p(root, 0700, NULL));
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        meta_db *db = test_db_open("gc");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        service_context ctx = { .loop = loop, .root = root, .state = root, .db = db };
        ASSERT_OK(content_store_open(cdir, &ctx.content, &e));
        ASSERT_OK(snapshotter_open("native", sroot, &ctx.snapshotters[0], &e));
        ctx.n_snapshotters = 1;
        /* A live snapshot, and what a crash leaves: an orphan directory, a half-made one, a stray blob. */
        meta_snapshot s = { 0 };
        meta_labels root_label = { 0 };
        meta_labels_set(&root_label, "containerd.io/gc.root", "1");
        ASSERT_OK(meta_snapshot_create(db, "ns", "native", "live", NULL, META_SNAPSHOT_ACTIVE, &root_label, &s, &e));
        meta_labels_done(&root_label);
        _cleanup_free_ char *live_id = xasprintf("%" PRId64, s.backend_id);
        meta_snapshot_done(&s);
        _cleanup_free_ char *live = xasprintf("%s/snapshots/%s", sroot, live_id),
                            *orphan = xasprintf("%s/snapshots/99", sroot),
                            *half = xasprintf("%s/snapshots/new-abcdef", sroot),
                            *blob = xasprintf("%s/blobs/sha256/%064d", cdir, 0);
        ASSERT_OK(mkdir_p(live, 0700, NULL));
        ASSERT_OK(mkdir_p(orphan, 0700, NULL));
        ASSERT_OK(mkdir_p(half, 0700, NULL));
        ASSERT_OK(mkdir_p(cdir, 0700, NULL));
        _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", cdir);
        ASSERT_OK(mkdir_p(blobs, 0700, NULL));
        ASSERT_OK(write_file_atomic(blob, "x", 1, 0444, NULL));

        uint64_t start = now_monotonic_usec();
        ASSERT_OK(gc_init(&ctx, &e));
        /* The directories no record names went before gc_init returned ... */
        ASSERT_TRUE(exists(live));
        ASSERT_FALSE(exists(orphan));
        ASSERT_FALSE(exists(half));
        /* ... the rest of the pass comes from the loop, GC_STARTUP_DELAY_USEC later. */
        ASSERT_TRUE(exists(blob));
        while (exists(blob) && now_monotonic_usec() - start < 5 * 1000 * 1000)
                ASSERT_TRUE(ev_loop_run_once(loop, 50) >= 0);
        ASSERT_FALSE(exists(blob));
        ASSERT_TRUE(now_monotonic_usec() - start >= GC_STARTUP_DELAY_USEC);
        ASSERT_TRUE(exists(live));

        service_context_done(&ctx); /* the collector, the snapshotters, the content store */
        meta_db_close(db);
        ev_loop_free(loop);
}

TEST(gc_startup_pass_runs_with_an_earlier_requested_pass) {
        _cleanup_free_ char *root = xasprintf("%s/gc2", test_dir), *cdir = xasprintf("%s/content", root),
                            *blobs = xasprintf("%s/blobs/sha256", cdir), *blob = xasprintf("%s/%064d", blobs, 0);
        ASSERT_OK(mkdir_p(blobs, 0700, NULL));
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        meta_db *db = test_db_open("gc2");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        service_context ctx = { .loop = loop, .root = root, .state = root, .db = db };
        ASSERT_OK(content_store_open(cdir, &ctx.content, &e));
        ASSERT_OK(write_file_atomic(blob, "x", 1, 0444, NULL));
        ASSERT_OK(gc_init(&ctx, &e));
        ASSERT_TRUE(exists(blob));
        /* A pass asked for meanwhile (a sync image removal) is the start-up pass. */
        gc_stats stats = { 0 };
        ASSERT_OK(gc_run(&ctx, &stats, &e));
        ASSERT_EQ(stats.blobs, 1);
        ASSERT_FALSE(exists(blob));
        service_context_done(&ctx); /* the collector, the snapshotters, the content store */
        meta_db_close(db);
        ev_loop_free(loop);
}
