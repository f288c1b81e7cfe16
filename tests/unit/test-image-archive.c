/* Unit tests for the pieces of berth's image import/export/unpack that have exact expected forms: image names from
 * index annotations, containerd's Docker-archive manifest and index JSON (field order and compactness decide the
 * digest), OCI ref names, gc.ref child labels and chain IDs. */
#include <string.h>

#include "basic/strv.h"
#include "images/digest.h"
#include "images/export.h"
#include "images/import.h"
#include "images/unpack.h"
#include "tap.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

TEST(image_name_from_annotations) {
        oci_map m = { 0 };
        ASSERT_TRUE(import_image_name(&m, "base") == NULL);
        oci_map_set(&m, UNPACK_LABEL_REF_NAME, "v1");
        char *n = import_image_name(&m, "example.com/app");
        ASSERT_STREQ(n, "example.com/app:v1");
        free(n);
        n = import_image_name(&m, NULL);
        ASSERT_TRUE(strncmp(n, "import-", 7) == 0 && strstr(n, ":v1") != NULL);
        free(n);
        oci_map_set(&m, UNPACK_LABEL_REF_NAME, "docker.io/library/busybox:1");
        n = import_image_name(&m, "base");
        ASSERT_STREQ(n, "docker.io/library/busybox:1"); /* full references stay as they are */
        free(n);
        oci_map_set(&m, UNPACK_LABEL_IMAGE_NAME, "docker.io/berth/x:latest");
        n = import_image_name(&m, "base");
        ASSERT_STREQ(n, "docker.io/berth/x:latest"); /* the containerd annotation wins */
        free(n);
        oci_map_done(&m);
}

TEST(docker_manifest_json_like_containerd) {
        oci_descriptor config = { .media_type = (char *) "application/vnd.docker.container.image.v1+json",
                                  .digest = (char *) D1, .size = 458 };
        oci_descriptor layers[2] = {
                { .media_type = (char *) "application/vnd.docker.image.rootfs.diff.tar", .digest = (char *) D2,
                  .size = 2048 },
                { .media_type = (char *) "application/vnd.docker.image.rootfs.diff.tar.gzip", .digest = (char *) D3,
                  .size = 10 },
        };
        char *j = import_docker_manifest_json(&config, layers, 2);
        ASSERT_STREQ(j, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                        "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D1
                        "\",\"size\":458},\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\","
                        "\"digest\":\"" D2 "\",\"size\":2048},{\"mediaType\":"
                        "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D3 "\",\"size\":10}]}");
        free(j);
}

TEST(index_json_sorted_annotations_and_platform) {
        oci_platform p = { .os = (char *) "linux", .architecture = (char *) "amd64" };
        oci_descriptor m = { .media_type = (char *) "application/vnd.docker.distribution.manifest.v2+json",
                             .digest = (char *) D1, .size = 422, .platform = &p };
        /* inserted out of order: Go marshals map keys sorted */
        oci_map_set(&m.annotations, UNPACK_LABEL_REF_NAME, "da");
        oci_map_set(&m.annotations, UNPACK_LABEL_IMAGE_NAME, "docker.io/berth/busybox:da");
        char *j = import_index_json(&m, 1);
        ASSERT_STREQ(j, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                        "\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" D1 "\",\"size\":422,"
                        "\"annotations\":{\"io.containerd.image.name\":\"docker.io/berth/busybox:da\","
                        "\"org.opencontainers.image.ref.name\":\"da\"},\"platform\":{\"architecture\":\"amd64\","
                        "\"os\":\"linux\"}}]}");
        free(j);
        oci_map_done(&m.annotations);
        j = import_index_json(NULL, 0);
        ASSERT_STREQ(j, "{\"schemaVersion\":2,\"manifests\":[]}");
        free(j);
}

TEST(oci_ref_name) {
        char *r = export_oci_ref_name("docker.io/library/busybox:latest");
        ASSERT_STREQ(r, "latest");
        free(r);
        r = export_oci_ref_name("127.0.0.1:5000/x@" D1);
        ASSERT_STREQ(r, "@" D1);
        free(r);
        r = export_oci_ref_name("NOT a ref");
        ASSERT_STREQ(r, "NOT a ref");
        free(r);
}

TEST(children_gc_labels_numbered_like_containerd) {
        oci_descriptor ch[4] = {
                { .media_type = (char *) "application/vnd.oci.image.config.v1+json", .digest = (char *) D1 },
                { .media_type = (char *) "application/vnd.oci.image.layer.v1.tar+gzip", .digest = (char *) D2 },
                { .media_type = (char *) "application/vnd.docker.image.rootfs.diff.tar.gzip", .digest = (char *) D3 },
                { .media_type = (char *) "application/vnd.oci.image.manifest.v1+json", .digest = (char *) D1 },
        };
        meta_labels l = { 0 };
        unpack_children_labels(ch, 4, &l);
        ASSERT_EQ(l.n, 4u);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.config"), D1);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.l.0"), D2);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.l.1"), D3);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.m.0"), D1);
        meta_labels_done(&l);
        /* a second config gets a number; unknown types the generic numbered key */
        oci_descriptor two[3] = { ch[0], ch[0], { .media_type = (char *) "application/x-other", .digest = (char *) D3 } };
        unpack_children_labels(two, 3, &l);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.config1"), D1);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/gc.ref.content.0"), D3);
        meta_labels_done(&l);
}

TEST(distribution_source_label_drops_the_port) {
        meta_labels l = { 0 };
        unpack_distribution_label("127.0.0.1:5000", "berth/busybox", &l);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/distribution.source.127.0.0.1"), "berth/busybox");
        unpack_distribution_label("[::1]:5000", "x", &l);
        ASSERT_STREQ(meta_labels_get(&l, "containerd.io/distribution.source.::1"), "x");
        meta_labels_done(&l);
}

TEST(chain_ids) {
        char *diffs[] = { (char *) D1, (char *) D2, NULL };
        char **c = unpack_chain_ids(diffs, 2);
        ASSERT_STREQ(c[0], D1);
        char expect[DIGEST_STRING_MAX];
        const char *joined = D1 " " D2;
        digest_buffer(joined, strlen(joined), expect);
        ASSERT_STREQ(c[1], expect);
        ASSERT_TRUE(c[2] == NULL);
        strv_free(c);
}

TEST(ingest_refs) {
        char *r = unpack_ingest_ref("application/vnd.oci.image.layer.v1.tar+gzip", D1);
        ASSERT_STREQ(r, "layer-" D1);
        free(r);
        r = unpack_ingest_ref("application/vnd.docker.distribution.manifest.list.v2+json", D1);
        ASSERT_STREQ(r, "index-" D1);
        free(r);
        r = unpack_ingest_ref("application/x-foo", D1);
        ASSERT_STREQ(r, "unknown-" D1);
        free(r);
}
