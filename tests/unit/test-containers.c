/* Container records: containerd's validation, field masks, immutable fields, filters, error texts, namespace
 * isolation, GC roots and the schema migration that adds them. */
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "metadata/containers.h"
#include "metadata/content.h"
#include "metadata/gc.h"
#include "metadata/namespaces.h"
#include "metadata/snapshots.h"
#include "metadata/util.h"
#include "test-metadata-util.h"

static const uint8_t SPEC[] = { 0x7b, 0x00, 0x22, 0x6f, 0x63, 0x69, 0x00, 0x7d }; /* binary-safe: NULs inside */
static const uint8_t OPTS[] = { 0x0a, 0x03, 'f', 'o', 'o' };

/* A valid record borrowing static strings; free only with container_free_test. */
static meta_container sample(const char *id) {
        meta_container c = {
                .id = xstrdup(id),
                .image = xstrdup("docker.io/berth/busybox:latest"),
                .runtime_name = xstrdup("io.containerd.runc.v2"),
                .spec_type = xstrdup("types.containerd.io/opencontainers/runtime-spec/1/Spec"),
                .spec = xmalloc(sizeof SPEC),
                .spec_len = sizeof SPEC,
                .snapshotter = xstrdup("overlayfs"),
                .snapshot_key = xasprintf("%s-snapshot", id),
        };
        memcpy(c.spec, SPEC, sizeof SPEC);
        return c;
}

static void create_ok(meta_db *db, const char *ns, meta_container *c) {
        berr *e = NULL;
        if (meta_container_create(db, ns, c, NULL, &e) < 0)
                TAP_FAIL("create %s: %s", c->id, e->msg);
}

TEST(create_get_round_trip) {
        _cleanup_meta_db_ meta_db *db = test_db_open("roundtrip");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container c = sample("c1"), got = { 0 }, ret = { 0 };
        meta_labels_set(&c.labels, "a", "b");
        meta_labels_set(&c.labels, "empty", "");
        c.runtime_options_type = xstrdup("containerd.runc.v1.Options");
        c.runtime_options = xmalloc(sizeof OPTS);
        memcpy(c.runtime_options, OPTS, sizeof OPTS);
        c.runtime_options_len = sizeof OPTS;
        meta_container_set_extension(&c, "zz", "type/zz", (const uint8_t *) "\x01\x00\x02", 3);
        meta_container_set_extension(&c, "aa", "type/aa", NULL, 0);
        c.sandbox_id = xstrdup("sb1");
        int64_t before = meta_now_ns();
        ASSERT_META_OK(meta_container_create(db, "default", &c, &ret, &e), e);
        ASSERT_TRUE(ret.created_at >= before);
        ASSERT_EQ(ret.created_at, ret.updated_at);
        ASSERT_META_OK(meta_container_get(db, "default", "c1", &got, &e), e);
        ASSERT_STREQ(got.id, "c1");
        ASSERT_STREQ(got.image, "docker.io/berth/busybox:latest");
        ASSERT_STREQ(got.runtime_name, "io.containerd.runc.v2");
        ASSERT_STREQ(got.runtime_options_type, "containerd.runc.v1.Options");
        ASSERT_EQ(got.runtime_options_len, sizeof OPTS);
        ASSERT_TRUE(memcmp(got.runtime_options, OPTS, sizeof OPTS) == 0);
        ASSERT_STREQ(got.spec_type, "types.containerd.io/opencontainers/runtime-spec/1/Spec");
        ASSERT_EQ(got.spec_len, sizeof SPEC);
        ASSERT_TRUE(memcmp(got.spec, SPEC, sizeof SPEC) == 0);
        ASSERT_STREQ(got.snapshotter, "overlayfs");
        ASSERT_STREQ(got.snapshot_key, "c1-snapshot");
        ASSERT_STREQ(got.sandbox_id, "sb1");
        ASSERT_EQ(got.labels.n, 1u);
        ASSERT_STREQ(meta_labels_get(&got.labels, "a"), "b");
        ASSERT_EQ(got.n_extensions, 2u);
        ASSERT_STREQ(got.extensions[0].name, "aa");
        ASSERT_STREQ(got.extensions[0].type_url, "type/aa");
        ASSERT_EQ(got.extensions[0].len, 0u);
        const meta_extension *zz = meta_container_get_extension(&got, "zz");
        ASSERT_NOT_NULL(zz);
        ASSERT_EQ(zz->len, 3u);
        ASSERT_TRUE(memcmp(zz->value, "\x01\x00\x02", 3) == 0);
        ASSERT_EQ(got.created_at, ret.created_at);
        ASSERT_EQ(got.updated_at, ret.updated_at);
        meta_container_done(&got);

        /* No runtime options: none come back (not an empty Any). */
        meta_container c2 = sample("c2");
        ASSERT_META_OK(meta_container_create(db, "default", &c2, NULL, &e), e);
        ASSERT_META_OK(meta_container_get(db, "default", "c2", &got, &e), e);
        ASSERT_NULL(got.runtime_options_type);
        ASSERT_EQ(got.runtime_options_len, 0u);
        ASSERT_EQ(got.n_extensions, 0u);
        meta_container_done(&got);

        /* A set but empty spec Any is still a spec. */
        meta_container c3 = sample("c3");
        free(c3.spec);
        c3.spec = NULL;
        c3.spec_len = 0;
        free(c3.spec_type);
        c3.spec_type = xstrdup("");
        ASSERT_META_OK(meta_container_create(db, "default", &c3, NULL, &e), e);
        ASSERT_META_OK(meta_container_get(db, "default", "c3", &got, &e), e);
        ASSERT_STREQ(got.spec_type, "");
        ASSERT_EQ(got.spec_len, 0u);
        meta_container_done(&got);

        meta_container_done(&c);
        meta_container_done(&c2);
        meta_container_done(&c3);
        meta_container_done(&ret);
}

TEST(create_validation_and_duplicates) {
        _cleanup_meta_db_ meta_db *db = test_db_open("validation");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container c = sample("c1");
        create_ok(db, "default", &c);
        ASSERT_BERR(meta_container_create(db, "default", &c, NULL, &e), e, BERR_ALREADY_EXISTS,
                    "container \"c1\": already exists");

        meta_container bad = { 0 };
        meta_container_copy(&bad, &c);
        free(bad.id);
        bad.id = xstrdup("");
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.ID: identifier must not be empty: "
                    "invalid argument");
        free(bad.id);
        bad.id = xstrdup("a/b");
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.ID: identifier \"a/b\" must match "
                    "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument");
        free(bad.id);
        bad.id = xstrdup("c2");

        free(bad.runtime_name);
        bad.runtime_name = NULL;
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.Runtime.Name must be set: invalid argument");
        bad.runtime_name = xstrdup("io.containerd.runc.v2");

        free(bad.spec_type);
        bad.spec_type = NULL;
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.Spec must be set: invalid argument");
        bad.spec_type = xstrdup("x");

        free(bad.snapshotter);
        bad.snapshotter = xstrdup("");
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.Snapshotter must be set if "
                    "container.SnapshotKey is set: invalid argument");
        free(bad.snapshot_key);
        bad.snapshot_key = NULL;

        meta_container_set_extension(&bad, "", "t", NULL, 0);
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: container.Extension keys must not be zero-length: "
                    "invalid argument");
        meta_container_set_extension(&bad, "", NULL, NULL, 0);

        _cleanup_free_ char *big = xmalloc(5000);
        memset(big, 'v', 4999);
        big[4999] = '\0';
        meta_labels_set(&bad.labels, "biglabel", big);
        ASSERT_BERR(meta_container_create(db, "default", &bad, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "create container failed validation: containers.Labels: label key and value greater than "
                    "maximum size (4096 bytes), key: biglabel: invalid argument");
        meta_labels_set(&bad.labels, "biglabel", NULL);

        /* Without snapshot and image it is still a valid container; nothing failed half-way before. */
        ASSERT_META_OK(meta_container_create(db, "default", &bad, NULL, &e), e);
        meta_container *v = NULL;
        size_t n = 0;
        ASSERT_META_OK(meta_container_list(db, "default", NULL, 0, &v, &n, &e), e);
        ASSERT_EQ(n, 2u);
        meta_containers_free(v, n);
        meta_container_done(&bad);
        meta_container_done(&c);
}

TEST(not_found_texts) {
        _cleanup_meta_db_ meta_db *db = test_db_open("notfound");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container got = { 0 }, c = sample("c1");
        ASSERT_BERR(meta_container_get(db, "default", "nope", &got, &e), e, BERR_NOT_FOUND,
                    "container \"nope\" in namespace \"default\": not found");
        ASSERT_BERR(meta_container_delete(db, "default", "nope", &e), e, BERR_NOT_FOUND,
                    "cannot delete container \"nope\" in namespace \"default\": not found");
        ASSERT_BERR(meta_container_update(db, "default", &c, NULL, 0, NULL, &e), e, BERR_NOT_FOUND,
                    "cannot update container \"c1\" in namespace \"default\": not found");
        create_ok(db, "default", &c);
        ASSERT_BERR(meta_container_delete(db, "default", "nope", &e), e, BERR_NOT_FOUND,
                    "container nope: not found");
        free(c.id);
        c.id = xstrdup("nope");
        ASSERT_BERR(meta_container_update(db, "default", &c, NULL, 0, NULL, &e), e, BERR_NOT_FOUND,
                    "container \"nope\": not found");
        free(c.id);
        c.id = xstrdup("");
        ASSERT_BERR(meta_container_update(db, "default", &c, NULL, 0, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "must specify a container id: invalid argument");
        ASSERT_META_OK(meta_container_delete(db, "default", "c1", &e), e);
        ASSERT_BERR(meta_container_get(db, "default", "c1", &got, &e), e, BERR_NOT_FOUND,
                    "container \"c1\" in namespace \"default\": not found");
        meta_container_done(&c);
}

static void ids(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, char *out, size_t size) {
        meta_container *v = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_container_list(db, ns, filters, n_filters, &v, &n, &e) < 0)
                TAP_FAIL("list: %s", e->msg);
        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strncat(out, ",", size - strlen(out) - 1);
                strncat(out, v[i].id, size - strlen(out) - 1);
        }
        meta_containers_free(v, n);
}

#define ASSERT_IDS(db, ns, want, ...)                                                                  \
        do {                                                                                           \
                const char *const f_[] = { __VA_ARGS__ };                                              \
                char buf_[256];                                                                        \
                ids(db, ns, f_, ELEMENTSOF(f_), buf_, sizeof buf_);                                    \
                ASSERT_STREQ(buf_, want);                                                              \
        } while (0)

TEST(list_filters) {
        _cleanup_meta_db_ meta_db *db = test_db_open("filters");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container a = sample("web"), b = sample("db"), c = sample("cache");
        meta_labels_set(&a.labels, "tier", "front");
        meta_labels_set(&b.labels, "tier", "back");
        meta_labels_set(&b.labels, "io.example.role", "primary");
        free(b.runtime_name);
        b.runtime_name = xstrdup("io.containerd.berth.v2");
        free(c.image);
        c.image = NULL;
        free(c.snapshotter);
        c.snapshotter = xstrdup("native");
        create_ok(db, "default", &a);
        create_ok(db, "default", &b);
        create_ok(db, "default", &c);
        char buf[256];
        ids(db, "default", NULL, 0, buf, sizeof buf);
        ASSERT_STREQ(buf, "cache,db,web");
        ASSERT_IDS(db, "default", "web", "id==web");
        ASSERT_IDS(db, "default", "cache,db", "id~=^[cd]");
        ASSERT_IDS(db, "default", "db,web", "image==docker.io/berth/busybox:latest");
        ASSERT_IDS(db, "default", "db,web", "image");
        ASSERT_IDS(db, "default", "db", "runtime.name==io.containerd.berth.v2");
        ASSERT_IDS(db, "default", "cache,web", "runtime.name!=io.containerd.berth.v2");
        ASSERT_IDS(db, "default", "db", "labels.tier==back");
        ASSERT_IDS(db, "default", "db", "labels.\"io.example.role\"==primary");
        ASSERT_IDS(db, "default", "db,web", "labels.tier");
        ASSERT_IDS(db, "default", "cache", "snapshotter==native");
        ASSERT_IDS(db, "default", "web", "snapshotkey==web-snapshot");
        /* Filters are OR-ed, conditions inside one filter AND-ed. */
        ASSERT_IDS(db, "default", "cache,web", "id==web", "id==cache");
        ASSERT_IDS(db, "default", "", "id==web,labels.tier==back");
        meta_container *v = NULL;
        size_t n = 0;
        const char *bad[] = { "id==" "\"unterminated" };
        ASSERT_EQ(meta_container_list(db, "default", bad, 1, &v, &n, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        meta_container_done(&a);
        meta_container_done(&b);
        meta_container_done(&c);
}

TEST(namespace_isolation) {
        _cleanup_meta_db_ meta_db *db = test_db_open("isolation");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container a = sample("same"), got = { 0 };
        create_ok(db, "ns1", &a);
        free(a.image);
        a.image = xstrdup("other");
        create_ok(db, "ns2", &a);
        ASSERT_META_OK(meta_container_get(db, "ns1", "same", &got, &e), e);
        ASSERT_STREQ(got.image, "docker.io/berth/busybox:latest");
        meta_container_done(&got);
        ASSERT_META_OK(meta_container_get(db, "ns2", "same", &got, &e), e);
        ASSERT_STREQ(got.image, "other");
        meta_container_done(&got);
        char buf[64];
        ids(db, "ns3", NULL, 0, buf, sizeof buf);
        ASSERT_STREQ(buf, "");
        ASSERT_META_OK(meta_container_delete(db, "ns1", "same", &e), e);
        ASSERT_META_OK(meta_container_get(db, "ns2", "same", &got, &e), e);
        meta_container_done(&got);
        /* A namespace holding containers cannot be deleted (containerd's listNs). */
        ASSERT_BERR(meta_namespace_delete(db, "ns2", &e), e, BERR_FAILED_PRECONDITION,
                    "namespace \"ns2\" must be empty, but it still has containers: failed precondition");
        ASSERT_META_OK(meta_container_delete(db, "ns2", "same", &e), e);
        ASSERT_META_OK(meta_namespace_delete(db, "ns2", &e), e);
        meta_container_done(&a);
}

TEST(update_field_paths) {
        _cleanup_meta_db_ meta_db *db = test_db_open("update-paths");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container c = sample("c1"), in = { 0 }, ret = { 0 }, got = { 0 };
        meta_labels_set(&c.labels, "keep", "1");
        meta_labels_set(&c.labels, "drop", "2");
        meta_container_set_extension(&c, "ext1", "t/1", (const uint8_t *) "a", 1);
        meta_container_set_extension(&c, "ext2", "t/2", (const uint8_t *) "b", 1);
        ASSERT_META_OK(meta_container_create(db, "default", &c, &ret, &e), e);
        int64_t created = ret.created_at;
        meta_container_done(&ret);
        usleep(2000);

        /* Only the masked paths change: the request's other fields (here all empty) are ignored. */
        in.id = xstrdup("c1");
        meta_labels_set(&in.labels, "new", "x");
        in.image = xstrdup("docker.io/berth/other:1");
        in.snapshot_key = xstrdup("rekeyed");
        meta_container_set_extension(&in, "ext1", "t/1b", (const uint8_t *) "zz", 2);
        const char *paths[] = { "labels.new", "labels.drop", "image", "snapshotkey", "extensions.ext1",
                                "extensions.ext3" };
        ASSERT_META_OK(meta_container_update(db, "default", &in, paths, ELEMENTSOF(paths), &ret, &e), e);
        ASSERT_EQ(ret.created_at, created);
        ASSERT_TRUE(ret.updated_at > created);
        meta_container_done(&ret);
        ASSERT_META_OK(meta_container_get(db, "default", "c1", &got, &e), e);
        ASSERT_STREQ(meta_labels_get(&got.labels, "keep"), "1");
        ASSERT_STREQ(meta_labels_get(&got.labels, "new"), "x");
        ASSERT_NULL(meta_labels_get(&got.labels, "drop"));
        ASSERT_STREQ(got.image, "docker.io/berth/other:1");
        ASSERT_STREQ(got.snapshot_key, "rekeyed");
        ASSERT_STREQ(got.snapshotter, "overlayfs");
        ASSERT_STREQ(got.runtime_name, "io.containerd.runc.v2");
        ASSERT_EQ(got.spec_len, sizeof SPEC);
        ASSERT_EQ(got.n_extensions, 3u);
        const meta_extension *x = meta_container_get_extension(&got, "ext1");
        ASSERT_STREQ(x->type_url, "t/1b");
        ASSERT_EQ(x->len, 2u);
        ASSERT_STREQ(meta_container_get_extension(&got, "ext2")->type_url, "t/2");
        /* containerd stores an empty Any for a masked extension the request lacks. */
        x = meta_container_get_extension(&got, "ext3");
        ASSERT_NOT_NULL(x);
        ASSERT_STREQ(x->type_url, "");
        meta_container_done(&got);

        /* Whole-map paths replace. */
        const char *whole[] = { "labels", "extensions", "spec" };
        in.spec_type = xstrdup("t/spec2");
        ASSERT_META_OK(meta_container_update(db, "default", &in, whole, ELEMENTSOF(whole), NULL, &e), e);
        ASSERT_META_OK(meta_container_get(db, "default", "c1", &got, &e), e);
        ASSERT_EQ(got.labels.n, 1u);
        ASSERT_STREQ(meta_labels_get(&got.labels, "new"), "x");
        ASSERT_EQ(got.n_extensions, 1u);
        ASSERT_STREQ(got.extensions[0].name, "ext1");
        ASSERT_STREQ(got.spec_type, "t/spec2");
        ASSERT_EQ(got.spec_len, 0u);
        meta_container_done(&got);

        /* Immutable or unknown fields by mask. */
        const char *runtime[] = { "runtime" }, *snapshotter[] = { "snapshotter" }, *bogus[] = { "labels.a", "id" };
        ASSERT_BERR(meta_container_update(db, "default", &in, runtime, 1, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"runtime\" field on \"c1\": invalid argument");
        ASSERT_BERR(meta_container_update(db, "default", &in, snapshotter, 1, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"snapshotter\" field on \"c1\": invalid argument");
        ASSERT_BERR(meta_container_update(db, "default", &in, bogus, 2, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "cannot update \"id\" field on \"c1\": invalid argument");
        /* The failed update changed nothing (labels.a was applied in memory only). */
        ASSERT_META_OK(meta_container_get(db, "default", "c1", &got, &e), e);
        ASSERT_EQ(got.labels.n, 1u);
        meta_container_done(&got);

        /* A mask that leaves the record invalid is refused. */
        const char *spec[] = { "spec" };
        free(in.spec_type);
        in.spec_type = NULL;
        ASSERT_BERR(meta_container_update(db, "default", &in, spec, 1, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "update failed validation: container.Spec must be set: invalid argument");
        meta_container_done(&in);
        meta_container_done(&c);
}

TEST(update_full_replace_and_immutables) {
        _cleanup_meta_db_ meta_db *db = test_db_open("update-full");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_container c = sample("c1"), in = { 0 }, got = { 0 };
        meta_labels_set(&c.labels, "old", "1");
        c.runtime_options_type = xstrdup("t/opts");
        create_ok(db, "default", &c);

        meta_container_copy(&in, &c);
        free(in.snapshotter);
        in.snapshotter = xstrdup("native");
        ASSERT_BERR(meta_container_update(db, "default", &in, NULL, 0, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "container.Snapshotter field is immutable: invalid argument");
        free(in.snapshotter);
        in.snapshotter = xstrdup("overlayfs");
        free(in.runtime_name);
        in.runtime_name = xstrdup("io.containerd.berth.v2");
        ASSERT_BERR(meta_container_update(db, "default", &in, NULL, 0, NULL, &e), e, BERR_INVALID_ARGUMENT,
                    "container.Runtime.Name field is immutable: invalid argument");
        free(in.runtime_name);
        in.runtime_name = xstrdup("io.containerd.runc.v2");

        /* Full replace: labels, spec, extensions, image, snapshot key; runtime options are kept. */
        meta_labels_done(&in.labels);
        meta_labels_set(&in.labels, "new", "2");
        free(in.image);
        in.image = NULL;
        free(in.snapshot_key);
        in.snapshot_key = xstrdup("k2");
        free(in.runtime_options_type);
        in.runtime_options_type = NULL;
        meta_container_set_extension(&in, "e", "t/e", NULL, 0);
        ASSERT_META_OK(meta_container_update(db, "default", &in, NULL, 0, NULL, &e), e);
        ASSERT_META_OK(meta_container_get(db, "default", "c1", &got, &e), e);
        ASSERT_EQ(got.labels.n, 1u);
        ASSERT_STREQ(meta_labels_get(&got.labels, "new"), "2");
        ASSERT_STREQ(got.image, "");
        ASSERT_STREQ(got.snapshot_key, "k2");
        ASSERT_STREQ(got.runtime_options_type, "t/opts");
        ASSERT_EQ(got.n_extensions, 1u);
        meta_container_done(&got);
        meta_container_done(&in);
        meta_container_done(&c);
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

TEST(gc_keeps_container_snapshot_and_label_refs) {
        _cleanup_meta_db_ meta_db *db = test_db_open("gc");
        ASSERT_NOT_NULL(db);
        berr *e = NULL;
        meta_gc_result res = { 0 };
        /* base (committed) <- c1-snapshot (active), as `ctr containers create` leaves them. */
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "extract", NULL, META_SNAPSHOT_ACTIVE, NULL,
                                            NULL, &e),
                       e);
        ASSERT_META_OK(meta_snapshot_commit(db, "default", "overlayfs", "base", "extract", NULL, 0, 0, NULL, &e), e);
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "c1-snapshot", "base", META_SNAPSHOT_ACTIVE,
                                            NULL, NULL, &e),
                       e);
        ASSERT_META_OK(meta_snapshot_create(db, "default", "overlayfs", "stray", NULL, META_SNAPSHOT_ACTIVE, NULL,
                                            NULL, &e),
                       e);
        meta_content_info blob = { .digest = (char *) D1, .size = 10 };
        ASSERT_META_OK(meta_content_add(db, "default", &blob, NULL, &e), e);

        meta_container c = sample("c1");
        meta_labels_set(&c.labels, "containerd.io/gc.ref.content.cfg", D1);
        create_ok(db, "default", &c);
        /* Same key in another namespace does not protect this one's snapshot. */
        meta_container other = sample("c1");
        free(other.snapshot_key);
        other.snapshot_key = xstrdup("stray");
        create_ok(db, "elsewhere", &other);

        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_TRUE(has_snapshot(db, "default", "c1-snapshot"));
        ASSERT_TRUE(has_snapshot(db, "default", "base"));
        ASSERT_FALSE(has_snapshot(db, "default", "stray"));
        ASSERT_TRUE(has_blob(db, "default", D1));
        meta_gc_result_done(&res);

        ASSERT_META_OK(meta_container_delete(db, "default", "c1", &e), e);
        ASSERT_META_OK(meta_gc_collect(db, &res, &e), e);
        ASSERT_FALSE(has_snapshot(db, "default", "c1-snapshot"));
        ASSERT_FALSE(has_snapshot(db, "default", "base"));
        ASSERT_FALSE(has_blob(db, "default", D1));
        ASSERT_EQ(res.n_snapshots, 2u);
        ASSERT_STREQ(res.snapshots[0].key, "c1-snapshot"); /* children first */
        meta_gc_result_done(&res);
        meta_container_done(&c);
        meta_container_done(&other);
}

TEST(migration_from_schema_1) {
        _cleanup_free_ char *path = test_db_path("migrate");
        meta_db *db = test_db_open("migrate");
        ASSERT_NOT_NULL(db);
        meta_db_close(db);
        /* Make it look like a database written by a berthd before containers existed. */
        sqlite3 *raw = NULL;
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw,
                               "DROP TABLE container_extensions; DROP TABLE container_labels; DROP TABLE containers;"
                               "UPDATE schema_version SET version = 1",
                               NULL, NULL, NULL),
                  SQLITE_OK);
        sqlite3_close(raw);
        berr *e = NULL;
        db = NULL;
        ASSERT_META_OK(meta_db_open(path, &db, &e), e);
        int v = 0;
        ASSERT_META_OK(meta_db_schema_version(db, &v, &e), e);
        ASSERT_EQ(v, 2);
        meta_container c = sample("after-upgrade");
        create_ok(db, "default", &c);
        meta_container_done(&c);
        meta_db_close(db);
}
