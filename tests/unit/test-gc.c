/* Garbage collection: containerd's reachability rules over real SQLite files. */
#include "metadata/content.h"
#include "metadata/gc.h"
#include "metadata/images.h"
#include "metadata/leases.h"
#include "metadata/snapshots.h"
#include "metadata/util.h"
#include "test-metadata-util.h"

static void add_blob(meta_db *db, const char *ns, const char *digest, const char *const *kv, size_t n_kv) {
        meta_content_info in = { .digest = (char *) digest, .size = 100 };
        berr *e = NULL;
        for (size_t i = 0; i + 1 < n_kv; i += 2)
                meta_labels_set(&in.labels, kv[i], kv[i + 1]);
        if (meta_content_add(db, ns, &in, NULL, &e) < 0)
                TAP_FAIL("content add %s: %s", digest, e->msg);
        meta_labels_done(&in.labels);
}

static bool has_blob(meta_db *db, const char *ns, const char *digest) {
        meta_content_info info = { 0 };
        berr *e = NULL;
        if (meta_content_get(db, ns, digest, &info, &e) < 0) {
                berr_free(e);
                return false;
        }
        meta_content_info_done(&info);
        return true;
}

static bool has_snapshot(meta_db *db, const char *ns, const char *key) {
        meta_snapshot s = { 0 };
        berr *e = NULL;
        if (meta_snapshot_get(db, ns, "overlayfs", key, &s, &e) < 0) {
                berr_free(e);
                return false;
        }
        meta_snapshot_done(&s);
        return true;
}

static bool listed(char **v, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

static void committed(meta_db *db, const char *ns, const char *name, const char *parent) {
        berr *e = NULL;
        _cleanup_free_ char *tmp = xasprintf("extract-%s", name);
        if (meta_snapshot_create(db, ns, "overlayfs", tmp, parent, META_SNAPSHOT_ACTIVE, NULL, NULL, &e) < 0 ||
            meta_snapshot_commit(db, ns, "overlayfs", name, tmp, NULL, 0, 0, NULL, &e) < 0)
                TAP_FAIL("snapshot %s: %s", name, e->msg);
}

static void image(meta_db *db, const char *ns, const char *name, const char *digest) {
        meta_image img = { .name = (char *) name,
                           .target = { .media_type = "application/vnd.oci.image.manifest.v1+json",
                                       .digest = (char *) digest, .size = 100 } };
        berr *e = NULL;
        if (meta_image_create(db, ns, &img, NULL, &e) < 0)
                TAP_FAIL("image %s: %s", name, e->msg);
}

/* image → manifest → config + layers through gc.ref labels, config → snapshot chain */
static void pulled_image(meta_db *db, const char *ns) {
        const char *manifest[] = { "containerd.io/gc.ref.content.config", D2, "containerd.io/gc.ref.content.l.0", D3,
                                   "containerd.io/gc.ref.content.l.1", D4 };
        const char *config[] = { "containerd.io/gc.ref.snapshot.overlayfs", "chain2" };
        add_blob(db, ns, D1, manifest, ELEMENTSOF(manifest));
        add_blob(db, ns, D2, config, ELEMENTSOF(config));
        add_blob(db, ns, D3, NULL, 0);
        add_blob(db, ns, D4, NULL, 0);
        committed(db, ns, "chain1", NULL);
        committed(db, ns, "chain2", "chain1");
        image(db, ns, "docker.io/library/app:1", D1);
}

TEST(image_keeps_manifest_config_layers_and_snapshots) {
        meta_db *db = test_db_open("gc-image");
        berr *e = NULL;
        pulled_image(db, "default");
        add_blob(db, "default", D5, NULL, 0); /* unreferenced */
        committed(db, "default", "orphan", NULL);
        committed(db, "default", "orphan-child", "orphan");

        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_TRUE(has_blob(db, "default", D1) && has_blob(db, "default", D2) && has_blob(db, "default", D3) &&
                    has_blob(db, "default", D4));
        ASSERT_FALSE(has_blob(db, "default", D5));
        ASSERT_EQ(res.n_content_records, 1);
        ASSERT_EQ(res.n_blobs, 1);
        ASSERT_STREQ(res.blobs[0], D5);
        ASSERT_TRUE(has_snapshot(db, "default", "chain1") && has_snapshot(db, "default", "chain2"));
        ASSERT_FALSE(has_snapshot(db, "default", "orphan"));
        ASSERT_EQ(res.n_snapshots, 2);
        ASSERT_STREQ(res.snapshots[0].key, "orphan-child"); /* children first */
        ASSERT_STREQ(res.snapshots[1].key, "orphan");
        ASSERT_STREQ(res.snapshots[1].ns, "default");
        ASSERT_STREQ(res.snapshots[1].snapshotter, "overlayfs");
        ASSERT_TRUE(res.snapshots[1].backend_id > 0);
        meta_gc_result_done(&res);

        /* a second run finds nothing; removing the image frees everything */
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs + res.n_snapshots + res.n_content_records, 0);
        meta_gc_result_done(&res);
        ASSERT_META_OK(meta_image_delete(db, "default", "docker.io/library/app:1", &e), e);
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs, 4);
        ASSERT_EQ(res.n_snapshots, 2);
        ASSERT_STREQ(res.snapshots[0].key, "chain2");
        meta_gc_result_done(&res);
        meta_db_close(db);
}

TEST(lease_protects_blob_and_snapshot_until_deleted) {
        meta_db *db = test_db_open("gc-lease");
        berr *e = NULL;
        ASSERT_META_OK(meta_lease_create(db, "default", "pull", NULL, NULL, &e), e);
        const char *refs[] = { "containerd.io/gc.ref.content", D6 };
        add_blob(db, "default", D5, refs, 2);
        add_blob(db, "default", D6, NULL, 0);
        committed(db, "default", "base", NULL);
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "work", "base", META_SNAPSHOT_ACTIVE, NULL,
                                            NULL, &e),
                       e);
        ASSERT_META_OK(meta_lease_hold(db, "default", "pull", "content", D5, &e), e);
        ASSERT_META_OK(meta_lease_hold(db, "default", "pull", "snapshots/overlayfs", "work", &e), e);

        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs + res.n_snapshots + res.n_leases, 0);
        ASSERT_TRUE(has_blob(db, "default", D6)); /* through the leased blob's label */
        ASSERT_TRUE(has_snapshot(db, "default", "base")); /* parent of the leased active snapshot */
        meta_gc_result_done(&res);

        ASSERT_META_OK(meta_lease_delete(db, "default", "pull", &e), e);
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs, 2);
        ASSERT_EQ(res.n_snapshots, 2);
        ASSERT_STREQ(res.snapshots[0].key, "work");
        meta_gc_result_done(&res);
        meta_db_close(db);
}

TEST(expired_lease_does_not_protect) {
        meta_db *db = test_db_open("gc-expire");
        berr *e = NULL;
        meta_labels past = { 0 }, future = { 0 }, junk = { 0 };
        meta_labels_set(&past, META_LABEL_GC_EXPIRE, "2001-02-03T04:05:06Z");
        meta_labels_set(&future, META_LABEL_GC_EXPIRE, "2199-01-01T00:00:00.5+02:00");
        meta_labels_set(&junk, META_LABEL_GC_EXPIRE, "tomorrow");
        ASSERT_META_OK(meta_lease_create(db, "default", "old", &past, NULL, &e), e);
        ASSERT_META_OK(meta_lease_create(db, "default", "new", &future, NULL, &e), e);
        ASSERT_META_OK(meta_lease_create(db, "default", "junk", &junk, NULL, &e), e);
        add_blob(db, "default", D1, NULL, 0);
        add_blob(db, "default", D2, NULL, 0);
        add_blob(db, "default", D3, NULL, 0);
        ASSERT_META_OK(meta_lease_hold(db, "default", "old", "content", D1, &e), e);
        ASSERT_META_OK(meta_lease_hold(db, "default", "new", "content", D2, &e), e);
        ASSERT_META_OK(meta_lease_hold(db, "default", "junk", "content", D3, &e), e);

        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_leases, 1); /* the expired lease itself goes */
        ASSERT_EQ(res.n_blobs, 1);
        ASSERT_STREQ(res.blobs[0], D1);
        ASSERT_TRUE(has_blob(db, "default", D2));
        ASSERT_TRUE(has_blob(db, "default", D3)); /* unparsable expiry: ignored, the lease still holds */
        meta_gc_result_done(&res);
        meta_lease *lv;
        size_t n;
        ASSERT_META_OK(meta_lease_list(db, "default", NULL, 0, &lv, &n, &e), e);
        ASSERT_EQ(n, 2);
        meta_leases_free(lv, n);

        /* "now" past the future lease's expiry: it goes too */
        int64_t later;
        ASSERT_OK(meta_parse_rfc3339("2200-01-01T00:00:00Z", &later));
        ASSERT_META_OK(meta_gc_collect_at(db, later, &res, &e), e);
        ASSERT_EQ(res.n_leases, 1);
        ASSERT_TRUE(listed(res.blobs, res.n_blobs, D2));
        meta_gc_result_done(&res);
        meta_labels_done(&past);
        meta_labels_done(&future);
        meta_labels_done(&junk);
        meta_db_close(db);
}

TEST(rfc3339_parsing) {
        int64_t t;
        ASSERT_OK(meta_parse_rfc3339("1970-01-01T00:00:01Z", &t));
        ASSERT_EQ(t, 1000000000);
        ASSERT_OK(meta_parse_rfc3339("1970-01-01T01:00:01.25+01:00", &t));
        ASSERT_EQ(t, 1250000000);
        ASSERT_EQ(meta_parse_rfc3339("1970-01-01 00:00:01Z", &t), -1);
        ASSERT_EQ(meta_parse_rfc3339("1970-02-30T00:00:01Z", &t), -1);
        ASSERT_EQ(meta_parse_rfc3339("1970-01-01T00:00:01", &t), -1);
        ASSERT_OK(meta_parse_rfc3339("9999-12-31T23:59:59Z", &t)); /* past int64 ns: clamped */
        ASSERT_EQ(t, INT64_MAX);
}

TEST(snapshot_chain_kept_alive_by_child) {
        meta_db *db = test_db_open("gc-chain");
        berr *e = NULL;
        committed(db, "default", "l1", NULL);
        committed(db, "default", "l2", "l1");
        committed(db, "default", "l3", "l2");
        committed(db, "default", "other", "l1");
        meta_snapshot in = { .key = "l3" };
        meta_labels_set(&in.labels, META_LABEL_GC_ROOT, "x");
        ASSERT_META_OK(meta_snapshot_update(db, "default", "overlayfs", &in, NULL, 0, NULL, &e), e);
        meta_labels_done(&in.labels);

        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_snapshots, 1);
        ASSERT_STREQ(res.snapshots[0].key, "other");
        ASSERT_TRUE(has_snapshot(db, "default", "l1") && has_snapshot(db, "default", "l2") &&
                    has_snapshot(db, "default", "l3"));
        meta_gc_result_done(&res);
        meta_db_close(db);
}

TEST(shared_blobs_and_namespaces) {
        meta_db *db = test_db_open("gc-ns");
        berr *e = NULL;
        /* ns1's image keeps ns1's record only: ns2's record of the same digest is collected, but the blob
         * stays because ns1 still has it */
        add_blob(db, "ns1", D1, NULL, 0);
        add_blob(db, "ns2", D1, NULL, 0);
        image(db, "ns1", "img", D1);
        /* ns1's D2 record is unreferenced, but an ingest in ns2 expects it (shared content) */
        add_blob(db, "ns1", D2, NULL, 0);
        ASSERT_META_OK(meta_lease_create(db, "ns2", "l", NULL, NULL, &e), e);
        meta_ingest ing = { 0 };
        ASSERT_META_OK(meta_ingest_open(db, "ns2", "ref", D2, "l", &ing, &e), e);
        meta_ingest_done(&ing);
        /* a content gc.root keeps itself and what it references */
        const char *root[] = { META_LABEL_GC_ROOT, "2020-01-01T00:00:00Z", "containerd.io/gc.ref.content/x", D4 };
        add_blob(db, "ns2", D3, root, 4);
        add_blob(db, "ns2", D4, NULL, 0);

        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_content_records, 2);
        ASSERT_EQ(res.n_blobs, 0);
        ASSERT_TRUE(has_blob(db, "ns1", D1));
        ASSERT_FALSE(has_blob(db, "ns2", D1));
        ASSERT_FALSE(has_blob(db, "ns1", D2));
        ASSERT_TRUE(has_blob(db, "ns2", D3) && has_blob(db, "ns2", D4));
        meta_gc_result_done(&res);

        /* once the ingest is gone, nothing holds D2 */
        ASSERT_META_OK(meta_ingest_delete(db, "ns2", "ref", &e), e);
        bool used;
        ASSERT_META_OK(meta_content_in_use(db, D2, &used, &e), e);
        ASSERT_FALSE(used);
        meta_db_close(db);
}

TEST(ingests_expire_unless_leased) {
        meta_db *db = test_db_open("gc-ingest");
        berr *e = NULL;
        meta_ingest a = { 0 }, b = { 0 };
        ASSERT_META_OK(meta_lease_create(db, "default", "l", NULL, NULL, &e), e);
        ASSERT_META_OK(meta_ingest_open(db, "default", "unleased", NULL, NULL, &a, &e), e);
        ASSERT_META_OK(meta_ingest_open(db, "default", "leased", NULL, "l", &b, &e), e);
        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_ingests, 0); /* the unleased one has a day to live */
        meta_gc_result_done(&res);
        ASSERT_META_OK(meta_gc_collect_at(db, meta_now_ns() + META_INGEST_EXPIRY_NS + 1000000000, &res, &e), e);
        ASSERT_EQ(res.n_ingests, 1);
        ASSERT_STREQ(res.ingests[0], a.backend_ref);
        meta_gc_result_done(&res);
        meta_ingest got = { 0 };
        ASSERT_META_OK(meta_ingest_get(db, "default", "leased", &got, &e), e);
        meta_ingest_done(&got);
        meta_ingest_done(&a);
        meta_ingest_done(&b);
        meta_db_close(db);
}

TEST(flat_lease_does_not_follow_labels) {
        meta_db *db = test_db_open("gc-flat");
        berr *e = NULL;
        meta_labels flat = { 0 };
        meta_labels_set(&flat, META_LABEL_GC_FLAT, "1");
        ASSERT_META_OK(meta_lease_create(db, "default", "flat", &flat, NULL, &e), e);
        const char *refs[] = { "containerd.io/gc.ref.content.x", D2 };
        add_blob(db, "default", D1, refs, 2);
        add_blob(db, "default", D2, NULL, 0);
        committed(db, "default", "p", NULL);
        committed(db, "default", "c", "p");
        ASSERT_META_OK(meta_lease_hold(db, "default", "flat", "content", D1, &e), e);
        ASSERT_META_OK(meta_lease_hold(db, "default", "flat", "snapshots/overlayfs", "c", &e), e);
        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs, 1);
        ASSERT_STREQ(res.blobs[0], D2);
        ASSERT_EQ(res.n_snapshots, 0); /* parents are still followed */
        meta_gc_result_done(&res);
        meta_labels_done(&flat);
        meta_db_close(db);
}

TEST(image_label_snapshot_ref_with_suffix) {
        meta_db *db = test_db_open("gc-imglabel");
        berr *e = NULL;
        committed(db, "default", "s1", NULL);
        committed(db, "default", "s2", NULL);
        add_blob(db, "default", D1, NULL, 0);
        meta_image img = { .name = "x",
                           .target = { .media_type = "m", .digest = D1, .size = 1 } };
        meta_labels_set(&img.labels, "containerd.io/gc.ref.snapshot.overlayfs/rootfs", "s1");
        ASSERT_META_OK(meta_image_create(db, "default", &img, NULL, &e), e);
        meta_labels_done(&img.labels);
        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_snapshots, 1);
        ASSERT_STREQ(res.snapshots[0].key, "s2");
        meta_gc_result_done(&res);
        meta_db_close(db);
}

TEST(gc_inside_rolled_back_transaction_changes_nothing) {
        meta_db *db = test_db_open("gc-rollback");
        berr *e = NULL;
        add_blob(db, "default", D1, NULL, 0);
        meta_gc_result res = { 0 };
        ASSERT_META_OK(meta_tx_begin(db, &e), e);
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_EQ(res.n_blobs, 1);
        meta_gc_result_done(&res);
        meta_tx_rollback(db);
        ASSERT_TRUE(has_blob(db, "default", D1));
        meta_db_close(db);
}
