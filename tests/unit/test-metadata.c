/* The SQLite metadata store against real database files: CRUD, namespace isolation, containerd's error
 * codes and texts, field-path updates, filters in List, migrations/reopen, transactions and crashes. */
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "metadata/content.h"
#include "metadata/images.h"
#include "metadata/leases.h"
#include "metadata/namespaces.h"
#include "metadata/snapshots.h"
#include "metadata/util.h"
#include "test-metadata-util.h"

static meta_image make_image(const char *name, const char *digest) {
        meta_image img = {
                .name = xstrdup(name),
                .target = { .media_type = xstrdup("application/vnd.oci.image.manifest.v1+json"),
                            .digest = xstrdup(digest), .size = 1234 },
        };
        return img;
}

TEST(open_creates_schema_and_reopens) {
        meta_db *db = test_db_open("schema");
        berr *e = NULL;
        int v = -1;
        ASSERT_NOT_NULL(db);
        ASSERT_META_OK(meta_db_schema_version(db, &v, &e), e);
        ASSERT_EQ(v, META_SCHEMA_VERSION);
        ASSERT_META_OK(meta_namespace_create(db, "default", NULL, &e), e);
        meta_db_close(db);

        /* reopening applies nothing and keeps the data; the file is in WAL mode */
        db = test_db_open("schema");
        ASSERT_NOT_NULL(db);
        ASSERT_META_OK(meta_db_schema_version(db, &v, &e), e);
        ASSERT_EQ(v, META_SCHEMA_VERSION);
        meta_namespace ns = { 0 };
        ASSERT_META_OK(meta_namespace_get(db, "default", &ns, &e), e);
        ASSERT_STREQ(ns.name, "default");
        ASSERT_TRUE(ns.created_at > 0);
        meta_namespace_done(&ns);
        meta_db_close(db);

        _cleanup_free_ char *path = test_db_path("schema");
        sqlite3 *raw;
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        sqlite3_stmt *st;
        ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        ASSERT_STREQ((const char *) sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        sqlite3_close(raw);
}

TEST(refuses_newer_schema) {
        meta_db *db = test_db_open("newer");
        ASSERT_NOT_NULL(db);
        meta_db_close(db);
        _cleanup_free_ char *path = test_db_path("newer");
        sqlite3 *raw;
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 999", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(raw);

        berr *e = NULL;
        db = NULL;
        ASSERT_EQ(meta_db_open(path, &db, &e), -1);
        ASSERT_NULL(db);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        _cleanup_free_ char *want =
                xasprintf("schema version 999 is newer than the newest this berthd knows (%d)", META_SCHEMA_VERSION);
        ASSERT_TRUE(strstr(e->msg, want) != NULL);
        berr_free(e);
}

TEST(opens_garbage_file_with_error) {
        _cleanup_free_ char *path = test_db_path("garbage");
        berr *e = NULL;
        static const char junk[] = "this is not a database, just text that is long enough to fail\n";
        ASSERT_OK(write_file_atomic(path, junk, strlen(junk), 0600, &e));
        meta_db *db = NULL;
        ASSERT_EQ(meta_db_open(path, &db, &e), -1);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, BERR_DATA_LOSS);
        berr_free(e);
}

TEST(namespaces_crud) {
        meta_db *db = test_db_open("ns");
        berr *e = NULL;
        meta_labels l = { 0 };
        meta_labels_set(&l, "team", "a");
        ASSERT_META_OK(meta_namespace_create(db, "alpha", &l, &e), e);
        ASSERT_BERR(meta_namespace_create(db, "alpha", NULL, &e), e, BERR_ALREADY_EXISTS,
                    "namespace \"alpha\": already exists");
        ASSERT_BERR(meta_namespace_create(db, "bad name", NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "identifier \"bad name\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument");
        ASSERT_BERR(meta_namespace_get(db, "nope", &(meta_namespace) { 0 }, &e), e, BERR_NOT_FOUND,
                    "namespace \"nope\": not found");
        ASSERT_META_OK(meta_namespace_create(db, "beta", NULL, &e), e);

        /* field-path update: only labels.<key> */
        meta_labels in = { 0 };
        meta_labels_set(&in, "color", "blue");
        const char *paths[] = { "labels.color", "labels.team" };
        ASSERT_META_OK(meta_namespace_update(db, "alpha", &in, paths, 2, &e), e);
        meta_namespace ns = { 0 };
        ASSERT_META_OK(meta_namespace_get(db, "alpha", &ns, &e), e);
        ASSERT_EQ(ns.labels.n, 1); /* team removed: absent from the request */
        ASSERT_STREQ(meta_labels_get(&ns.labels, "color"), "blue");
        meta_namespace_done(&ns);
        const char *bad[] = { "name" };
        ASSERT_BERR(meta_namespace_update(db, "alpha", &in, bad, 1, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"name\" field");

        meta_namespace *v = NULL;
        size_t n = 0;
        ASSERT_META_OK(meta_namespace_list(db, NULL, 0, &v, &n, &e), e);
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(v[0].name, "alpha");
        ASSERT_STREQ(v[1].name, "beta");
        meta_namespaces_free(v, n);
        const char *f = "labels.color==blue";
        ASSERT_META_OK(meta_namespace_list(db, &f, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_namespaces_free(v, n);

        /* not empty: images, blobs and snapshots are named like containerd does */
        meta_image img = make_image("docker.io/library/x:1", D1);
        ASSERT_META_OK(meta_image_create(db, "alpha", &img, NULL, &e), e);
        meta_content_info ci = { .digest = D1, .size = 10 };
        ASSERT_META_OK(meta_content_add(db, "alpha", &ci, NULL, &e), e);
        ASSERT_META_OK(meta_snapshot_create(db, "alpha", "overlayfs", "k", NULL, META_SNAPSHOT_ACTIVE, NULL, NULL, &e),
                       e);
        ASSERT_META_OK(meta_lease_create(db, "alpha", "l1", NULL, NULL, &e), e);
        ASSERT_BERR(meta_namespace_delete(db, "alpha", &e), e, BERR_FAILED_PRECONDITION,
                    "namespace \"alpha\" must be empty, but it still has images, blobs, snapshots on \"overlayfs\" "
                    "snapshotter: failed precondition");
        ASSERT_META_OK(meta_image_delete(db, "alpha", img.name, &e), e);
        ASSERT_META_OK(meta_content_delete(db, "alpha", D1, &e), e);
        ASSERT_META_OK(meta_snapshot_remove(db, "alpha", "overlayfs", "k", NULL, &e), e);
        ASSERT_META_OK(meta_namespace_delete(db, "alpha", &e), e); /* leases go with it */
        ASSERT_BERR(meta_namespace_delete(db, "alpha", &e), e, BERR_NOT_FOUND, "namespace \"alpha\": not found");
        meta_lease *lv = NULL;
        ASSERT_META_OK(meta_lease_list(db, "alpha", NULL, 0, &lv, &n, &e), e);
        ASSERT_EQ(n, 0);
        meta_leases_free(lv, n);

        meta_image_done(&img);
        meta_labels_done(&l);
        meta_labels_done(&in);
        meta_db_close(db);
}

TEST(images_crud_and_isolation) {
        meta_db *db = test_db_open("images");
        berr *e = NULL;
        meta_image img = make_image("docker.io/library/busybox:latest", D1), got = { 0 };
        meta_labels_set(&img.labels, "a", "1");
        meta_labels_set(&img.target.annotations, "ann", "x");

        ASSERT_META_OK(meta_image_create(db, "ns1", &img, &got, &e), e);
        ASSERT_TRUE(got.created_at > 0);
        ASSERT_EQ(got.created_at, got.updated_at);
        meta_image_done(&got);
        ASSERT_BERR(meta_image_create(db, "ns1", &img, NULL, &e), e, BERR_ALREADY_EXISTS,
                    "image \"docker.io/library/busybox:latest\": already exists");

        /* the same name in another namespace is another image (and creates that namespace) */
        meta_image other = make_image("docker.io/library/busybox:latest", D2);
        ASSERT_META_OK(meta_image_create(db, "ns2", &other, NULL, &e), e);
        ASSERT_META_OK(meta_image_get(db, "ns1", img.name, &got, &e), e);
        ASSERT_STREQ(got.target.digest, D1);
        ASSERT_EQ(got.target.size, 1234);
        ASSERT_STREQ(got.target.media_type, "application/vnd.oci.image.manifest.v1+json");
        ASSERT_STREQ(meta_labels_get(&got.labels, "a"), "1");
        ASSERT_STREQ(meta_labels_get(&got.target.annotations, "ann"), "x");
        meta_image_done(&got);
        ASSERT_META_OK(meta_image_get(db, "ns2", img.name, &got, &e), e);
        ASSERT_STREQ(got.target.digest, D2);
        ASSERT_EQ(got.labels.n, 0);
        meta_image_done(&got);
        meta_namespace ns = { 0 };
        ASSERT_META_OK(meta_namespace_get(db, "ns2", &ns, &e), e);
        meta_namespace_done(&ns);

        ASSERT_BERR(meta_image_get(db, "ns1", "missing", &got, &e), e, BERR_NOT_FOUND, "image \"missing\": not found");
        ASSERT_BERR(meta_image_get(db, "nons", "missing", &got, &e), e, BERR_NOT_FOUND,
                    "image \"missing\": not found");
        ASSERT_BERR(meta_image_get(db, "", "x", &got, &e), e, BERR_FAILED_PRECONDITION,
                    "namespace is required: failed precondition");
        ASSERT_BERR(meta_image_get(db, "-bad", "x", &got, &e), e, BERR_INVALID_ARGUMENT,
                    "namespace validation: identifier \"-bad\" must match "
                    "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument");

        /* validation, with containerd's texts */
        meta_image bad = make_image("x", "sha256:abc");
        ASSERT_BERR(meta_image_create(db, "ns1", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "Target.Digest \"sha256:abc\" invalid: invalid checksum digest length: invalid argument");
        free(bad.target.digest);
        bad.target.digest = xstrdup("md5:abc");
        ASSERT_BERR(meta_image_create(db, "ns1", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "Target.Digest \"md5:abc\" invalid: unsupported digest algorithm: invalid argument");
        free(bad.target.digest);
        bad.target.digest = xstrdup(D3);
        bad.target.size = 0;
        ASSERT_BERR(meta_image_create(db, "ns1", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "Target.Size must be greater than zero: invalid argument");
        free(bad.name);
        bad.name = xstrdup("");
        ASSERT_BERR(meta_image_create(db, "ns1", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "image name must not be empty: invalid argument");
        meta_image_done(&bad);
        meta_image big = make_image("big", D3);
        char *huge = xmalloc(5000);
        memset(huge, 'v', 4999);
        huge[4999] = '\0';
        meta_labels_set(&big.labels, "key", huge);
        free(huge);
        ASSERT_BERR(meta_image_create(db, "ns1", &big, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "image.Labels: label key and value greater than maximum size (4096 bytes), key: key: "
                    "invalid argument");
        meta_image_done(&big);

        /* list with filters */
        meta_image more = make_image("docker.io/library/alpine:3", D3);
        meta_labels_set(&more.labels, "a", "2");
        ASSERT_META_OK(meta_image_create(db, "ns1", &more, NULL, &e), e);
        meta_image *v = NULL;
        size_t n;
        ASSERT_META_OK(meta_image_list(db, "ns1", NULL, 0, &v, &n, &e), e);
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(v[0].name, "docker.io/library/alpine:3"); /* sorted */
        meta_images_free(v, n);
        const char *f1[] = { "labels.a==1" };
        ASSERT_META_OK(meta_image_list(db, "ns1", f1, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(v[0].name, img.name);
        meta_images_free(v, n);
        const char *f2[] = { "target.digest==" D3, "name~=busybox" };
        ASSERT_META_OK(meta_image_list(db, "ns1", f2, 2, &v, &n, &e), e);
        ASSERT_EQ(n, 2);
        meta_images_free(v, n);
        const char *f3[] = { "annotations.ann==x,target.mediatype~=manifest" };
        ASSERT_META_OK(meta_image_list(db, "ns1", f3, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_images_free(v, n);
        const char *f4[] = { "name==" };
        v = NULL;
        ASSERT_BERR(meta_image_list(db, "ns1", f4, 1, &v, &n, &e), e, BERR_INVALID_ARGUMENT,
                    "filters: parse error: [name==]: expected value or quoted: invalid argument");
        ASSERT_META_OK(meta_image_list(db, "empty-ns", NULL, 0, &v, &n, &e), e);
        ASSERT_EQ(n, 0);
        meta_images_free(v, n);

        ASSERT_META_OK(meta_image_delete(db, "ns1", img.name, &e), e);
        ASSERT_BERR(meta_image_delete(db, "ns1", img.name, &e), e, BERR_NOT_FOUND,
                    "image \"docker.io/library/busybox:latest\": not found");
        ASSERT_META_OK(meta_image_get(db, "ns2", img.name, &got, &e), e); /* untouched */
        meta_image_done(&got);

        meta_image_done(&img);
        meta_image_done(&other);
        meta_image_done(&more);
        meta_db_close(db);
}

TEST(image_field_path_updates) {
        meta_db *db = test_db_open("imgupdate");
        berr *e = NULL;
        meta_image img = make_image("r/x:1", D1), got = { 0 };
        meta_labels_set(&img.labels, "keep", "k");
        meta_labels_set(&img.labels, "drop", "d");
        meta_labels_set(&img.target.annotations, "a1", "v1");
        ASSERT_META_OK(meta_image_create(db, "default", &img, &got, &e), e);
        int64_t created = got.created_at;
        meta_image_done(&got);

        meta_image req = make_image("r/x:1", D2);
        req.target.size = 99;
        meta_labels_set(&req.labels, "new", "n");
        meta_labels_set(&req.target.annotations, "a2", "v2");
        const char *p1[] = { "labels.new", "labels.drop", "annotations.a2" };
        ASSERT_META_OK(meta_image_update(db, "default", &req, p1, 3, &got, &e), e);
        ASSERT_STREQ(meta_labels_get(&got.labels, "keep"), "k");
        ASSERT_STREQ(meta_labels_get(&got.labels, "new"), "n");
        ASSERT_NULL(meta_labels_get(&got.labels, "drop"));
        ASSERT_STREQ(meta_labels_get(&got.target.annotations, "a1"), "v1");
        ASSERT_STREQ(meta_labels_get(&got.target.annotations, "a2"), "v2");
        ASSERT_STREQ(got.target.digest, D1); /* target not in the mask */
        ASSERT_EQ(got.created_at, created);
        ASSERT_TRUE(got.updated_at >= created);
        meta_image_done(&got);

        const char *p2[] = { "target" };
        ASSERT_META_OK(meta_image_update(db, "default", &req, p2, 1, &got, &e), e);
        ASSERT_STREQ(got.target.digest, D2);
        ASSERT_EQ(got.target.size, 99);
        ASSERT_STREQ(meta_labels_get(&got.labels, "keep"), "k");
        meta_image_done(&got);

        const char *p3[] = { "labels" };
        ASSERT_META_OK(meta_image_update(db, "default", &req, p3, 1, &got, &e), e);
        ASSERT_EQ(got.labels.n, 1);
        ASSERT_STREQ(meta_labels_get(&got.labels, "new"), "n");
        meta_image_done(&got);

        const char *p4[] = { "name" };
        ASSERT_BERR(meta_image_update(db, "default", &req, p4, 1, &got, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"name\" field on image \"r/x:1\": invalid argument");
        /* no paths: everything replaced */
        meta_image full = make_image("r/x:1", D3);
        ASSERT_META_OK(meta_image_update(db, "default", &full, NULL, 0, &got, &e), e);
        ASSERT_STREQ(got.target.digest, D3);
        ASSERT_EQ(got.labels.n, 0);
        ASSERT_EQ(got.target.annotations.n, 0);
        ASSERT_EQ(got.created_at, created);
        meta_image_done(&got);
        /* an update that fails validation changes nothing */
        meta_image broken = make_image("r/x:1", "nope");
        ASSERT_BERR(meta_image_update(db, "default", &broken, NULL, 0, &got, &e), e, BERR_INVALID_ARGUMENT,
                    "Target.Digest \"nope\" invalid: invalid checksum digest format: invalid argument");
        ASSERT_META_OK(meta_image_get(db, "default", "r/x:1", &got, &e), e);
        ASSERT_STREQ(got.target.digest, D3);
        meta_image_done(&got);
        meta_image missing = make_image("r/none", D1);
        ASSERT_BERR(meta_image_update(db, "default", &missing, NULL, 0, &got, &e), e, BERR_NOT_FOUND,
                    "image \"r/none\": not found");

        meta_image_done(&img);
        meta_image_done(&req);
        meta_image_done(&full);
        meta_image_done(&broken);
        meta_image_done(&missing);
        meta_db_close(db);
}

TEST(content_records) {
        meta_db *db = test_db_open("content");
        berr *e = NULL;
        meta_content_info in = { .digest = xstrdup(D1), .size = 42 }, got = { 0 };
        meta_labels_set(&in.labels, "containerd.io/gc.ref.content.config", D2);
        ASSERT_META_OK(meta_content_add(db, "default", &in, &got, &e), e);
        ASSERT_EQ(got.size, 42);
        meta_content_info_done(&got);
        ASSERT_BERR(meta_content_add(db, "default", &in, NULL, &e), e, BERR_ALREADY_EXISTS,
                    "content " D1 ": already exists");
        ASSERT_BERR(meta_content_get(db, "other", D1, &got, &e), e, BERR_NOT_FOUND,
                    "content digest " D1 ": not found");
        meta_content_info bad = { .digest = "sha256:zz" };
        ASSERT_BERR(meta_content_add(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "invalid digest \"sha256:zz\": invalid checksum digest length: invalid argument");

        meta_content_info upd = { .digest = D1 };
        meta_labels_set(&upd.labels, "x", "y");
        const char *p[] = { "labels.x" };
        ASSERT_META_OK(meta_content_update(db, "default", &upd, p, 1, &got, &e), e);
        ASSERT_EQ(got.labels.n, 2);
        ASSERT_EQ(got.size, 42);
        ASSERT_TRUE(got.updated_at >= got.created_at);
        meta_content_info_done(&got);
        const char *pbad[] = { "size" };
        ASSERT_BERR(meta_content_update(db, "default", &upd, pbad, 1, &got, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"size\" field on content info \"" D1 "\": invalid argument");
        ASSERT_META_OK(meta_content_update(db, "default", &upd, NULL, 0, &got, &e), e);
        ASSERT_EQ(got.labels.n, 1);
        meta_content_info_done(&got);

        meta_content_info in2 = { .digest = D2, .size = 7 };
        ASSERT_META_OK(meta_content_add(db, "default", &in2, NULL, &e), e);
        ASSERT_META_OK(meta_content_add(db, "other", &in2, NULL, &e), e);
        meta_content_info *v;
        size_t n;
        const char *f[] = { "labels.x" };
        ASSERT_META_OK(meta_content_list(db, "default", f, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(v[0].digest, D1);
        meta_content_infos_free(v, n);
        const char *f2[] = { "digest~=^sha256:2" };
        ASSERT_META_OK(meta_content_list(db, "default", f2, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_content_infos_free(v, n);
        const char *f3[] = { "size" }; /* never present, as in containerd */
        ASSERT_META_OK(meta_content_list(db, "default", f3, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 0);
        meta_content_infos_free(v, n);

        bool used;
        ASSERT_META_OK(meta_content_delete(db, "default", D2, &e), e);
        ASSERT_META_OK(meta_content_in_use(db, D2, &used, &e), e);
        ASSERT_TRUE(used); /* "other" still has it */
        ASSERT_META_OK(meta_content_delete(db, "other", D2, &e), e);
        ASSERT_META_OK(meta_content_in_use(db, D2, &used, &e), e);
        ASSERT_FALSE(used);
        ASSERT_BERR(meta_content_delete(db, "other", D2, &e), e, BERR_NOT_FOUND, "content digest " D2 ": not found");

        meta_content_info_done(&in);
        meta_labels_done(&upd.labels);
        meta_db_close(db);
}

TEST(ingests_and_leases) {
        meta_db *db = test_db_open("ingests");
        berr *e = NULL;
        meta_ingest ing = { 0 }, again = { 0 };
        ASSERT_META_OK(meta_ingest_open(db, "default", "layer-1", NULL, NULL, &ing, &e), e);
        ASSERT_TRUE(strncmp(ing.backend_ref, "default/", 8) == 0);
        ASSERT_TRUE(ing.expires_at > meta_now_ns());
        ASSERT_META_OK(meta_ingest_open(db, "default", "layer-1", NULL, NULL, &again, &e), e);
        ASSERT_STREQ(again.backend_ref, ing.backend_ref); /* resumable: the same backend ref */
        meta_ingest_done(&again);
        ASSERT_BERR(meta_ingest_open(db, "default", "layer-2", NULL, "nolease", &again, &e), e, BERR_NOT_FOUND,
                    "lease does not exist: not found");
        ASSERT_BERR(meta_ingest_get(db, "default", "layer-2", &again, &e), e, BERR_NOT_FOUND,
                    "reference layer-2: not found"); /* the failed open left nothing behind */

        ASSERT_META_OK(meta_lease_create(db, "default", "pull-1", NULL, NULL, &e), e);
        ASSERT_BERR(meta_lease_create(db, "default", "pull-1", NULL, NULL, &e), e, BERR_ALREADY_EXISTS,
                    "lease \"pull-1\": already exists");
        ASSERT_BERR(meta_lease_create(db, "default", "", NULL, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "lease id must be provided: invalid argument");
        ASSERT_META_OK(meta_ingest_open(db, "default", "layer-2", D5, "pull-1", &again, &e), e);
        ASSERT_EQ(again.expires_at, 0);
        ASSERT_STREQ(again.expected, D5);
        meta_ingest_done(&again);

        meta_lease_resource *rv;
        size_t n;
        ASSERT_META_OK(meta_lease_add_resource(db, "default", "pull-1", "snapshots/overlayfs", "sn-1", &e), e);
        ASSERT_META_OK(meta_lease_add_resource(db, "default", "pull-1", "content", D1, &e), e);
        ASSERT_META_OK(meta_lease_add_resource(db, "default", "pull-1", "content", D1, &e), e); /* idempotent */
        ASSERT_META_OK(meta_lease_list_resources(db, "default", "pull-1", &rv, &n, &e), e);
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(rv[0].type, "content");
        ASSERT_STREQ(rv[0].id, D1);
        ASSERT_STREQ(rv[1].type, "ingests");
        ASSERT_STREQ(rv[1].id, "layer-2");
        ASSERT_STREQ(rv[2].type, "snapshots/overlayfs");
        meta_lease_resources_free(rv, n);
        ASSERT_BERR(meta_lease_add_resource(db, "default", "pull-1", "content", "xyz", &e), e, BERR_INVALID_ARGUMENT,
                    "invalid content resource id xyz: invalid checksum digest format: invalid argument");
        ASSERT_BERR(meta_lease_add_resource(db, "default", "pull-1", "snapshots", "k", &e), e, BERR_INVALID_ARGUMENT,
                    "invalid snapshot resource type snapshots: invalid argument");
        ASSERT_BERR(meta_lease_add_resource(db, "default", "pull-1", "containers", "c", &e), e, BERR_UNIMPLEMENTED,
                    "resource type containers not supported yet: not implemented");
        ASSERT_BERR(meta_lease_add_resource(db, "default", "nope", "content", D1, &e), e, BERR_NOT_FOUND,
                    "lease \"nope\": not found");
        ASSERT_META_OK(meta_lease_delete_resource(db, "default", "pull-1", "content", D1, &e), e);

        /* deleting the ingest drops it from the lease */
        ASSERT_META_OK(meta_ingest_delete(db, "default", "layer-2", &e), e);
        ASSERT_META_OK(meta_lease_list_resources(db, "default", "pull-1", &rv, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_lease_resources_free(rv, n);
        ASSERT_BERR(meta_ingest_delete(db, "default", "layer-2", &e), e, BERR_NOT_FOUND,
                    "reference layer-2: not found");

        meta_ingest *iv;
        const char *f[] = { "ref~=^layer" };
        ASSERT_META_OK(meta_ingest_list(db, "default", f, 1, &iv, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_ingests_free(iv, n);
        bool used;
        ASSERT_META_OK(meta_ingest_backend_in_use(db, ing.backend_ref, &used, &e), e);
        ASSERT_TRUE(used);

        meta_labels l = { 0 };
        meta_labels_set(&l, "containerd.io/gc.expire", "2030-01-01T00:00:00Z");
        ASSERT_META_OK(meta_lease_create(db, "default", "pull-2", &l, NULL, &e), e);
        meta_lease *lv;
        const char *lf[] = { "labels.\"containerd.io/gc.expire\"" };
        ASSERT_META_OK(meta_lease_list(db, "default", lf, 1, &lv, &n, &e), e);
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(lv[0].id, "pull-2");
        meta_leases_free(lv, n);
        ASSERT_META_OK(meta_lease_delete(db, "default", "pull-2", &e), e);
        ASSERT_BERR(meta_lease_delete(db, "default", "pull-2", &e), e, BERR_NOT_FOUND, "lease \"pull-2\": not found");
        ASSERT_META_OK(meta_lease_list(db, "default", NULL, 0, &lv, &n, &e), e);
        ASSERT_EQ(n, 1);
        meta_leases_free(lv, n);

        /* hold/release: no-ops without a lease */
        ASSERT_META_OK(meta_lease_hold(db, "default", NULL, "content", D1, &e), e);
        ASSERT_META_OK(meta_lease_release(db, "default", "missing", "content", D1, &e), e);

        meta_labels_done(&l);
        meta_ingest_done(&ing);
        meta_db_close(db);
}

TEST(snapshots_records) {
        meta_db *db = test_db_open("snapshots");
        berr *e = NULL;
        meta_snapshot s = { 0 };
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "extract-1", NULL, META_SNAPSHOT_ACTIVE, NULL,
                                            &s, &e),
                       e);
        ASSERT_EQ(s.kind, META_SNAPSHOT_ACTIVE);
        ASSERT_EQ(s.backend_id, 1);
        ASSERT_NULL(s.parent);
        meta_snapshot_done(&s);
        ASSERT_BERR(meta_snapshot_create(db, "default", "overlayfs", "extract-1", NULL, META_SNAPSHOT_ACTIVE, NULL, &s,
                                         &e),
                    e, BERR_ALREADY_EXISTS, "snapshot \"extract-1\": already exists");
        ASSERT_BERR(meta_snapshot_create(db, "default", "overlayfs", "c2", "extract-1", META_SNAPSHOT_ACTIVE, NULL, &s,
                                         &e),
                    e, BERR_INVALID_ARGUMENT, "parent \"extract-1\" is not committed snapshot: invalid argument");
        ASSERT_BERR(meta_snapshot_create(db, "default", "overlayfs", "c2", "nope", META_SNAPSHOT_ACTIVE, NULL, &s, &e),
                    e, BERR_NOT_FOUND, "parent snapshot nope does not exist: not found");
        ASSERT_BERR(meta_snapshot_create(db, "default", "overlayfs", "c2", NULL, META_SNAPSHOT_COMMITTED, NULL, &s, &e),
                    e, BERR_INVALID_ARGUMENT,
                    "snapshot type committed invalid; only snapshots of type Active or View can be created: invalid "
                    "argument");

        meta_labels cl = { 0 };
        meta_labels_set(&cl, "containerd.io/snapshot.ref", "sha256:chain1");
        ASSERT_META_OK(meta_snapshot_commit(db, "default", "overlayfs", "sha256:chain1", "extract-1", &cl, 4096, 3, &s,
                                            &e),
                       e);
        ASSERT_EQ(s.kind, META_SNAPSHOT_COMMITTED);
        ASSERT_EQ(s.backend_id, 1); /* the directory stays */
        ASSERT_EQ(s.size, 4096);
        ASSERT_STREQ(s.key, "sha256:chain1");
        meta_snapshot_done(&s);
        ASSERT_BERR(meta_snapshot_get(db, "default", "overlayfs", "extract-1", &s, &e), e, BERR_NOT_FOUND,
                    "snapshot extract-1 does not exist: not found");
        ASSERT_BERR(meta_snapshot_commit(db, "default", "overlayfs", "sha256:chain1", "x", NULL, 0, 0, &s, &e), e,
                    BERR_ALREADY_EXISTS, "snapshot \"sha256:chain1\": already exists");
        ASSERT_BERR(meta_snapshot_commit(db, "default", "overlayfs", "n", "x", NULL, 0, 0, &s, &e), e, BERR_NOT_FOUND,
                    "snapshot x does not exist: not found");
        ASSERT_BERR(meta_snapshot_commit(db, "default", "overlayfs", "n", "sha256:chain1", NULL, 0, 0, &s, &e), e,
                    BERR_FAILED_PRECONDITION, "snapshot \"sha256:chain1\" is not active: failed precondition");

        /* a second layer on top; the target-ref label of an existing snapshot is AlreadyExists */
        meta_labels tl = { 0 };
        meta_labels_set(&tl, "containerd.io/snapshot.ref", "sha256:chain1");
        ASSERT_BERR(meta_snapshot_create(db, "default", "overlayfs", "extract-2", NULL, META_SNAPSHOT_ACTIVE, &tl, &s,
                                         &e),
                    e, BERR_ALREADY_EXISTS, "target snapshot \"sha256:chain1\": already exists");
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "extract-2", "sha256:chain1",
                                            META_SNAPSHOT_ACTIVE, NULL, &s, &e),
                       e);
        ASSERT_STREQ(s.parent, "sha256:chain1");
        ASSERT_EQ(s.backend_id, 2);
        meta_snapshot_done(&s);
        ASSERT_META_OK(meta_snapshot_commit(db, "default", "overlayfs", "sha256:chain2", "extract-2", NULL, 0, 0, NULL,
                                            &e),
                       e);
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "ctr-rootfs", "sha256:chain2",
                                            META_SNAPSHOT_VIEW, NULL, NULL, &e),
                       e);
        int64_t *ids;
        size_t n;
        ASSERT_META_OK(meta_snapshot_parent_ids(db, "default", "overlayfs", "ctr-rootfs", &ids, &n, &e), e);
        ASSERT_EQ(n, 2);
        ASSERT_EQ(ids[0], 2);
        ASSERT_EQ(ids[1], 1);
        free(ids);

        /* backend ids are per snapshotter and never reused */
        ASSERT_META_OK(meta_snapshot_create(db, "other", "native", "a", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e), e);
        ASSERT_EQ(s.backend_id, 1);
        meta_snapshot_done(&s);
        ASSERT_META_OK(meta_snapshot_remove(db, "other", "native", "a", &s, &e), e);
        ASSERT_EQ(s.backend_id, 1);
        meta_snapshot_done(&s);
        ASSERT_META_OK(meta_snapshot_create(db, "other", "native", "a", NULL, META_SNAPSHOT_ACTIVE, NULL, &s, &e), e);
        ASSERT_EQ(s.backend_id, 2);
        meta_snapshot_done(&s);
        bool used;
        ASSERT_META_OK(meta_snapshot_backend_in_use(db, "native", 1, &used, &e), e);
        ASSERT_FALSE(used);
        ASSERT_META_OK(meta_snapshot_backend_in_use(db, "overlayfs", 1, &used, &e), e);
        ASSERT_TRUE(used);

        /* list + filters (kind, name, parent, labels) */
        meta_snapshot *v;
        ASSERT_META_OK(meta_snapshot_list(db, "default", "overlayfs", NULL, 0, &v, &n, &e), e);
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(v[0].key, "ctr-rootfs");
        meta_snapshots_free(v, n);
        const char *f1[] = { "kind==committed" };
        ASSERT_META_OK(meta_snapshot_list(db, "default", "overlayfs", f1, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 2);
        meta_snapshots_free(v, n);
        const char *f2[] = { "parent==sha256:chain2", "labels.\"containerd.io/snapshot.ref\"" };
        ASSERT_META_OK(meta_snapshot_list(db, "default", "overlayfs", f2, 2, &v, &n, &e), e);
        ASSERT_EQ(n, 2);
        meta_snapshots_free(v, n);
        const char *f3[] = { "kind==view,name==ctr-rootfs" };
        ASSERT_META_OK(meta_snapshot_list(db, "default", "overlayfs", f3, 1, &v, &n, &e), e);
        ASSERT_EQ(n, 1);
        ASSERT_EQ(v[0].kind, META_SNAPSHOT_VIEW);
        meta_snapshots_free(v, n);

        /* label updates */
        meta_snapshot in = { .key = "sha256:chain2" };
        meta_labels_set(&in.labels, "x", "1");
        const char *p[] = { "labels.x" };
        ASSERT_META_OK(meta_snapshot_update(db, "default", "overlayfs", &in, p, 1, &s, &e), e);
        ASSERT_STREQ(meta_labels_get(&s.labels, "x"), "1");
        meta_snapshot_done(&s);
        const char *pbad[] = { "parent" };
        ASSERT_BERR(meta_snapshot_update(db, "default", "overlayfs", &in, pbad, 1, &s, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"parent\" field on snapshot \"sha256:chain2\": invalid argument");
        meta_labels_done(&in.labels);

        /* children block removal */
        ASSERT_BERR(meta_snapshot_remove(db, "default", "overlayfs", "sha256:chain1", NULL, &e), e,
                    BERR_FAILED_PRECONDITION, "cannot remove snapshot with child: failed precondition");
        ASSERT_META_OK(meta_snapshot_remove(db, "default", "overlayfs", "ctr-rootfs", NULL, &e), e);
        ASSERT_META_OK(meta_snapshot_remove(db, "default", "overlayfs", "sha256:chain2", NULL, &e), e);
        ASSERT_META_OK(meta_snapshot_remove(db, "default", "overlayfs", "sha256:chain1", NULL, &e), e);
        ASSERT_BERR(meta_snapshot_remove(db, "default", "overlayfs", "sha256:chain1", NULL, &e), e, BERR_NOT_FOUND,
                    "snapshot sha256:chain1 does not exist: not found");

        meta_labels_done(&cl);
        meta_labels_done(&tl);
        meta_db_close(db);
}

TEST(nested_transactions) {
        meta_db *db = test_db_open("tx");
        berr *e = NULL;
        meta_image a = make_image("a", D1), b = make_image("b", D2), got = { 0 };
        ASSERT_META_OK(meta_tx_begin(db, &e), e);
        ASSERT_EQ(meta_tx_depth(db), 1);
        ASSERT_META_OK(meta_image_create(db, "default", &a, NULL, &e), e);
        ASSERT_META_OK(meta_tx_begin(db, &e), e);
        ASSERT_META_OK(meta_image_create(db, "default", &b, NULL, &e), e);
        meta_tx_rollback(db); /* only b goes */
        ASSERT_EQ(meta_tx_depth(db), 1);
        /* a failing call inside the transaction undoes only itself */
        ASSERT_BERR(meta_image_create(db, "default", &a, NULL, &e), e, BERR_ALREADY_EXISTS,
                    "image \"a\": already exists");
        ASSERT_EQ(meta_tx_depth(db), 1);
        ASSERT_META_OK(meta_tx_commit(db, &e), e);
        ASSERT_EQ(meta_tx_depth(db), 0);
        ASSERT_META_OK(meta_image_get(db, "default", "a", &got, &e), e);
        meta_image_done(&got);
        ASSERT_BERR(meta_image_get(db, "default", "b", &got, &e), e, BERR_NOT_FOUND, "image \"b\": not found");

        /* an outer rollback undoes committed inner levels */
        ASSERT_META_OK(meta_tx_begin(db, &e), e);
        ASSERT_META_OK(meta_image_create(db, "default", &b, NULL, &e), e);
        meta_tx_rollback(db);
        ASSERT_BERR(meta_image_get(db, "default", "b", &got, &e), e, BERR_NOT_FOUND, "image \"b\": not found");
        ASSERT_BERR(meta_tx_commit(db, &e), e, BERR_INTERNAL, "metadata: commit without a transaction");

        meta_image_done(&a);
        meta_image_done(&b);
        meta_db_close(db);
}

/* A writer that dies mid-transaction (SIGKILL: no atexit, no rollback) leaves the old state. */
TEST(crash_mid_transaction_keeps_old_state) {
        meta_db *db = test_db_open("crash");
        berr *e = NULL;
        meta_image a = make_image("before", D1);
        ASSERT_META_OK(meta_image_create(db, "default", &a, NULL, &e), e);
        meta_db_close(db);

        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                meta_db *cdb = test_db_open("crash");
                berr *ce = NULL;
                meta_image b = make_image("during", D2);
                if (!cdb || meta_tx_begin(cdb, &ce) < 0 || meta_image_create(cdb, "default", &b, NULL, &ce) < 0 ||
                    meta_image_delete(cdb, "default", "before", &ce) < 0)
                        _exit(1);
                raise(SIGKILL);
                _exit(2);
        }
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        db = test_db_open("crash");
        ASSERT_NOT_NULL(db);
        meta_image got = { 0 };
        ASSERT_META_OK(meta_image_get(db, "default", "before", &got, &e), e);
        meta_image_done(&got);
        ASSERT_BERR(meta_image_get(db, "default", "during", &got, &e), e, BERR_NOT_FOUND,
                    "image \"during\": not found");
        /* and the database is writable again (no stale lock) */
        meta_image c = make_image("after", D3);
        ASSERT_META_OK(meta_image_create(db, "default", &c, NULL, &e), e);
        meta_image_done(&c);
        meta_image_done(&a);
        meta_db_close(db);
}

/* Two connections (as two threads would have): the second writer waits for the first's transaction. */
TEST(two_connections_wal) {
        meta_db *w = test_db_open("two"), *r = test_db_open("two");
        berr *e = NULL;
        meta_image a = make_image("x", D1), got = { 0 };
        ASSERT_META_OK(meta_tx_begin(w, &e), e);
        ASSERT_META_OK(meta_image_create(w, "default", &a, NULL, &e), e);
        /* readers are not blocked by the open write transaction and do not see it */
        ASSERT_BERR(meta_image_get(r, "default", "x", &got, &e), e, BERR_NOT_FOUND, "image \"x\": not found");
        ASSERT_META_OK(meta_tx_commit(w, &e), e);
        ASSERT_META_OK(meta_image_get(r, "default", "x", &got, &e), e);
        meta_image_done(&got);
        meta_image_done(&a);
        meta_db_close(w);
        meta_db_close(r);
}
