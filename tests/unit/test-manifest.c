/* Manifests, indexes, configs, media types and platform matching, on real-shaped documents from
 * tests/fixtures/registry/ (tests run from the repository root). */
#include <string.h>
#include <sys/utsname.h>

#include "basic/fileio.h"
#include "basic/strv.h"
#include "images/manifest.h"
#include "tap.h"

#define FIXTURES "tests/fixtures/registry/"

static char *fixture(const char *name, size_t *len) {
        char *buf = NULL;
        berr *e = NULL;
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s", name);
        if (read_file(path, &buf, len, 1 << 20, &e) < 0) {
                printf("# %s\n", e->msg);
                berr_free(e);
                return NULL;
        }
        return buf;
}

static oci_platform plat(const char *spec) {
        oci_platform p = { 0 };
        berr *e = NULL;
        if (platform_parse(spec, &p, &e) < 0) {
                printf("# %s\n", e->msg);
                berr_free(e);
        }
        return p;
}

TEST(docker_manifest_list) {
        size_t len;
        char *buf = fixture("docker-manifest-list.json", &len);
        ASSERT_NOT_NULL(buf);
        oci_index *idx = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_index_parse(buf, len, MT_DOCKER_MANIFEST_LIST, &idx, &e));
        ASSERT_STREQ(idx->media_type, MT_DOCKER_MANIFEST_LIST);
        ASSERT_EQ(idx->n_manifests, 7);
        ASSERT_STREQ(idx->manifests[1].platform->variant, "v7");
        ASSERT_STREQ(idx->manifests[6].platform->os_version, "10.0.17763.2989");
        ASSERT_EQ(idx->manifests[0].size, 527);

        /* Selection follows containerd's platforms.Only vectors. */
        struct {
                const char *want, *digit;
        } cases[] = {
                { "linux/amd64", "5" },     { "linux/386", "4" },   { "linux/arm64", "3" },
                { "linux/arm/v7", "2" },    { "linux/arm/v6", "1" }, { "linux/arm/v8", "2" },
                { "linux/ppc64le", "6" },   { "windows/amd64", "7" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                oci_platform p = plat(cases[i].want);
                platform_matcher *m = platform_matcher_only(&p);
                const oci_descriptor *d = NULL;
                if (oci_index_select(idx, m, "sha256:test", &d, &e) < 0)
                        TAP_FAIL("%s: %s", cases[i].want, e->msg);
                if (d->digest[7] != cases[i].digit[0])
                        TAP_FAIL("%s picked %s", cases[i].want, d->digest);
                platform_matcher_free(m);
                platform_done(&p);
        }

        oci_platform p = plat("linux/s390x");
        platform_matcher *m = platform_matcher_only(&p);
        const oci_descriptor *d = NULL;
        ASSERT_TRUE(oci_index_select(idx, m, "sha256:abc", &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_STREQ(e->msg, "no match for platform linux/s390x in manifest sha256:abc: not found");
        berr_free(e);
        e = NULL;
        platform_matcher_free(m);
        platform_done(&p);

        /* The list's mediaType field decides when the registry said only application/json. */
        oci_index *idx2 = NULL;
        ASSERT_OK(oci_index_parse(buf, len, "application/json; charset=utf-8", &idx2, &e));
        ASSERT_STREQ(idx2->media_type, MT_DOCKER_MANIFEST_LIST);
        oci_index_free(idx2);

        /* ... but a list is not a manifest. */
        oci_manifest *man = NULL;
        ASSERT_TRUE(oci_manifest_parse(buf, len, MT_DOCKER_MANIFEST, &man, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "expected manifest but found index") != NULL);
        berr_free(e);
        oci_index_free(idx);
        free(buf);
}

TEST(oci_index_order_and_unknown_platforms) {
        size_t len;
        char *buf = fixture("oci-index.json", &len);
        ASSERT_NOT_NULL(buf);
        oci_index *idx = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_index_parse(buf, len, NULL, &idx, &e));
        ASSERT_STREQ(idx->media_type, MT_OCI_INDEX);
        ASSERT_EQ(idx->n_manifests, 4);
        ASSERT_STREQ(oci_map_get(&idx->annotations, "org.opencontainers.image.created"), "2024-01-02T03:04:05Z");
        ASSERT_STREQ(oci_map_get(&idx->manifests[3].annotations, "vnd.docker.reference.type"),
                     "attestation-manifest");

        /* amd64/v3 prefers v2 over plain amd64 (v1), never picks the attestation (unknown/unknown). */
        oci_platform p = plat("linux/amd64/v3");
        platform_matcher *m = platform_matcher_only(&p);
        size_t *order = NULL;
        ASSERT_EQ(oci_index_match(idx, m, &order), 2);
        ASSERT_EQ(order[0], 1);
        ASSERT_EQ(order[1], 2);
        free(order);
        platform_matcher_free(m);
        platform_done(&p);

        p = plat("linux/amd64");
        m = platform_matcher_only(&p);
        const oci_descriptor *d;
        ASSERT_OK(oci_index_select(idx, m, NULL, &d, &e));
        ASSERT_EQ(d - idx->manifests, 2);
        platform_matcher_free(m);
        platform_done(&p);

        /* aarch64 normalizes to arm64 and matches an entry without variant. */
        p = (oci_platform) { .os = xstrdup("Linux"), .architecture = xstrdup("aarch64") };
        m = platform_matcher_only(&p);
        ASSERT_OK(oci_index_select(idx, m, NULL, &d, &e));
        ASSERT_EQ(d - idx->manifests, 0);
        platform_matcher_free(m);
        platform_done(&p);
        oci_index_free(idx);
        free(buf);
}

TEST(index_entries_without_platform_rank_last) {
        const char *doc = "{\"schemaVersion\":2,\"manifests\":["
                          "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":1,\"digest\":\"sha256:"
                          "1111111111111111111111111111111111111111111111111111111111111111\"},"
                          "{\"mediaType\":\"application/vnd.example.thing\",\"size\":1,\"digest\":\"sha256:"
                          "2222222222222222222222222222222222222222222222222222222222222222\","
                          "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                          "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"size\":1,\"digest\":\"sha256:"
                          "3333333333333333333333333333333333333333333333333333333333333333\","
                          "\"platform\":{\"os\":\"linux\",\"architecture\":\"386\"}}]}";
        oci_index *idx = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_index_parse(doc, strlen(doc), MT_OCI_INDEX, &idx, &e));
        oci_platform p = plat("linux/amd64");
        platform_matcher *m = platform_matcher_only(&p);
        size_t *order = NULL;
        /* 386 (rank 1) first, then the platform-less entry; the non-manifest type is skipped. */
        ASSERT_EQ(oci_index_match(idx, m, &order), 2);
        ASSERT_EQ(order[0], 2);
        ASSERT_EQ(order[1], 0);
        free(order);
        platform_matcher_free(m);
        platform_done(&p);
        oci_index_free(idx);
}

TEST(docker_manifest) {
        size_t len;
        char *buf = fixture("docker-manifest.json", &len);
        ASSERT_NOT_NULL(buf);
        oci_manifest *m = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_manifest_parse(buf, len, MT_DOCKER_MANIFEST, &m, &e));
        ASSERT_STREQ(m->media_type, MT_DOCKER_MANIFEST);
        ASSERT_STREQ(m->config.media_type, MT_DOCKER_CONFIG);
        ASSERT_EQ(m->config.size, 1469);
        ASSERT_EQ(m->n_layers, 3);
        ASSERT_EQ(m->layers[1].size, 31357311);
        ASSERT_STREQ(m->layers[2].urls[0], "https://example.com/layer.tar.gz");
        ASSERT_TRUE(mediatype_is_foreign_layer(m->layers[2].media_type));
        ASSERT_FALSE(mediatype_is_foreign_layer(m->layers[0].media_type));
        layer_compression c;
        ASSERT_OK(mediatype_layer_compression(m->layers[0].media_type, &c, &e));
        ASSERT_EQ(c, LAYER_COMPRESSION_GZIP);

        oci_descriptor copy;
        oci_descriptor_copy(&copy, &m->layers[2]);
        ASSERT_STREQ(copy.digest, m->layers[2].digest);
        ASSERT_STREQ(copy.urls[0], "https://example.com/layer.tar.gz");
        oci_descriptor_done(&copy);

        oci_index *idx = NULL;
        ASSERT_TRUE(oci_index_parse(buf, len, MT_DOCKER_MANIFEST_LIST, &idx, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "expected index but found manifest") != NULL);
        berr_free(e);
        oci_manifest_free(m);
        free(buf);
}

TEST(oci_manifest) {
        size_t len;
        char *buf = fixture("oci-manifest.json", &len);
        ASSERT_NOT_NULL(buf);
        oci_manifest *m = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_manifest_parse(buf, len, "application/octet-stream", &m, &e));
        ASSERT_STREQ(m->media_type, MT_OCI_MANIFEST);
        ASSERT_EQ(m->n_layers, 4);
        layer_compression want[] = { LAYER_COMPRESSION_GZIP, LAYER_COMPRESSION_ZSTD, LAYER_COMPRESSION_NONE,
                                     LAYER_COMPRESSION_GZIP };
        for (size_t i = 0; i < 4; i++) {
                layer_compression c;
                ASSERT_OK(mediatype_layer_compression(m->layers[i].media_type, &c, &e));
                ASSERT_EQ(c, want[i]);
                ASSERT_EQ(mediatype_kind(m->layers[i].media_type), MEDIA_KIND_LAYER);
        }
        ASSERT_STREQ(oci_map_get(&m->layers[2].annotations, "org.opencontainers.image.title"), "plain.tar");
        ASSERT_EQ(strv_length(m->layers[3].urls), 2);
        ASSERT_STREQ(oci_map_get(&m->annotations, "com.example.key2"), "value2");
        oci_manifest_free(m);
        free(buf);
}

TEST(image_configs) {
        size_t len;
        char *buf = fixture("docker-config.json", &len);
        ASSERT_NOT_NULL(buf);
        oci_image_config *c = NULL;
        berr *e = NULL;
        ASSERT_OK(oci_image_config_parse(buf, len, &c, &e));
        ASSERT_STREQ(c->architecture, "amd64");
        ASSERT_STREQ(c->os, "linux");
        ASSERT_STREQ(c->user, "nginx:nginx");
        ASSERT_STREQ(c->working_dir, "/srv");
        ASSERT_STREQ(c->stop_signal, "SIGQUIT");
        ASSERT_STREQ(c->created, "2023-11-01T05:05:05.123456789Z");
        ASSERT_EQ(strv_length(c->env), 2);
        ASSERT_STREQ(c->env[1], "NGINX_VERSION=1.25.3");
        ASSERT_EQ(strv_length(c->cmd), 3);
        ASSERT_STREQ(c->cmd[2], "daemon off;");
        ASSERT_STREQ(c->entrypoint[0], "/docker-entrypoint.sh");
        ASSERT_EQ(strv_length(c->exposed_ports), 2);
        ASSERT_TRUE(strv_contains(c->exposed_ports, "443/tcp"));
        ASSERT_STREQ(c->volumes[0], "/var/cache/nginx");
        ASSERT_STREQ(oci_map_get(&c->labels, "org.example.equals"), "a=b");
        ASSERT_EQ(strv_length(c->diff_ids), 2);
        oci_platform p;
        oci_image_config_platform(c, &p);
        char *s = platform_format(&p);
        ASSERT_STREQ(s, "linux/amd64");
        free(s);
        platform_done(&p);
        oci_image_config_free(c);
        free(buf);

        buf = fixture("oci-config.json", &len);
        ASSERT_NOT_NULL(buf);
        ASSERT_OK(oci_image_config_parse(buf, len, &c, &e));
        ASSERT_NULL(c->env); /* null is absent */
        ASSERT_NULL(c->cmd);
        ASSERT_NULL(c->user);
        oci_image_config_platform(c, &p);
        s = platform_format(&p);
        ASSERT_STREQ(s, "linux/arm/v7");
        free(s);
        platform_done(&p);
        oci_image_config_free(c);
        free(buf);

        static const char *const bad[][2] = {
                { "{\"architecture\":\"amd64\",\"os\":\"linux\"}", "missing field \"rootfs\"" },
                { "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"x\",\"diff_ids\":[]}}",
                  "unsupported type \"x\"" },
                { "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"x\"]}}",
                  "invalid checksum digest format" },
                { "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":\"x\"},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
                  "field \"Env\" is not an array" },
                { "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", "missing field \"architecture\"" },
                { "[1,2]", "not a JSON object" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                c = NULL;
                if (oci_image_config_parse(bad[i][0], strlen(bad[i][0]), &c, &e) == 0)
                        TAP_FAIL("config %zu parsed", i);
                if (!strstr(e->msg, bad[i][1]))
                        TAP_FAIL("config %zu: %s", i, e->msg);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                berr_free(e);
                e = NULL;
        }
}

TEST(schema1_refused) {
        size_t len;
        char *buf = fixture("schema1.json", &len);
        ASSERT_NOT_NULL(buf);
        const char *types[] = { NULL, "application/json", MT_DOCKER_SCHEMA1_SIGNED, "text/plain" };
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                oci_manifest *m = NULL;
                berr *e = NULL;
                ASSERT_TRUE(oci_manifest_parse(buf, len, types[i], &m, &e) < 0);
                ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
                ASSERT_TRUE(strstr(e->msg, "schema 1 not supported") != NULL);
                berr_free(e);
        }
        /* schema1 even when served with a schema2 type. */
        media_kind k;
        berr *e = NULL;
        ASSERT_TRUE(oci_document_detect(buf, len, MT_DOCKER_MANIFEST, &k, NULL, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        berr_free(e);
        free(buf);
}

TEST(document_errors) {
        berr *e = NULL;
        oci_manifest *m = NULL;
        media_kind k;
        char *mt = NULL;

        /* > 4 MiB: refused before parsing. */
        size_t big = OCI_DOCUMENT_MAX_SIZE + 1;
        char *buf = xmalloc(big);
        memset(buf, ' ', big);
        buf[0] = '{';
        buf[big - 1] = '}';
        ASSERT_TRUE(oci_manifest_parse(buf, big, MT_OCI_MANIFEST, &m, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "manifest too large") != NULL);
        berr_free(e);
        e = NULL;
        oci_index *idx = NULL;
        ASSERT_TRUE(oci_index_parse(buf, big, MT_OCI_INDEX, &idx, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "index too large") != NULL);
        berr_free(e);
        e = NULL;
        oci_image_config *c = NULL;
        ASSERT_TRUE(oci_image_config_parse(buf, big, &c, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "image config too large") != NULL);
        berr_free(e);
        e = NULL;
        free(buf);

        /* Unknown media types, given or self-declared. */
        const char *doc = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
        ASSERT_TRUE(oci_document_detect(doc, strlen(doc), "application/vnd.example.unknown+json", &k, &mt, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_STREQ(e->msg, "unknown media type \"application/vnd.example.unknown+json\": not a manifest or index: "
                             "not implemented");
        berr_free(e);
        e = NULL;
        const char *self = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.x\"}";
        ASSERT_TRUE(oci_document_detect(self, strlen(self), NULL, &k, &mt, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "unknown media type \"application/vnd.example.x\"") != NULL);
        berr_free(e);
        e = NULL;
        const char *shapeless = "{\"hello\":1}";
        ASSERT_TRUE(oci_document_detect(shapeless, strlen(shapeless), "application/json", &k, &mt, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "neither a manifest nor an index") != NULL);
        berr_free(e);
        e = NULL;

        /* Detection by shape. */
        const char *shaped = "{\"schemaVersion\":2,\"manifests\":[]}";
        ASSERT_OK(oci_document_detect(shaped, strlen(shaped), "", &k, &mt, &e));
        ASSERT_EQ(k, MEDIA_KIND_INDEX);
        ASSERT_STREQ(mt, MT_OCI_INDEX);
        free(mt);

        static const char *const bad[][2] = {
                { "{", "invalid manifest JSON" },
                { "{\"schemaVersion\":3,\"config\":{},\"layers\":[]}", "unsupported schemaVersion" },
                { "{\"schemaVersion\":2,\"layers\":[]}", "missing field \"config\"" },
                { "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\"x\","
                  "\"size\":1,\"digest\":\"sha256:abc\"},\"layers\":[]}",
                  "invalid checksum digest length" },
                { "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":\"x\","
                  "\"size\":-1,\"digest\":\"sha256:" "1111111111111111111111111111111111111111111111111111111111111111"
                  "\"},\"layers\":[]}",
                  "field \"size\" is not a size" },
                { "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"size\":1,\"digest\":\"sha256:"
                  "1111111111111111111111111111111111111111111111111111111111111111\"},\"layers\":{}}",
                  "field \"layers\" is not an array" },
                { "{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":{},\"layers\":[]}", "duplicate object key" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                m = NULL;
                if (oci_manifest_parse(bad[i][0], strlen(bad[i][0]), NULL, &m, &e) == 0)
                        TAP_FAIL("doc %zu parsed", i);
                if (!strstr(e->msg, bad[i][1]))
                        TAP_FAIL("doc %zu: %s", i, e->msg);
                berr_free(e);
                e = NULL;
        }
}

TEST(mediatypes) {
        ASSERT_EQ(mediatype_kind(MT_DOCKER_MANIFEST_LIST), MEDIA_KIND_INDEX);
        ASSERT_EQ(mediatype_kind(MT_OCI_INDEX), MEDIA_KIND_INDEX);
        ASSERT_EQ(mediatype_kind(MT_OCI_MANIFEST), MEDIA_KIND_MANIFEST);
        ASSERT_EQ(mediatype_kind(MT_DOCKER_CONFIG), MEDIA_KIND_CONFIG);
        ASSERT_EQ(mediatype_kind(MT_DOCKER_LAYER_FOREIGN_GZIP), MEDIA_KIND_LAYER);
        ASSERT_EQ(mediatype_kind(MT_DOCKER_SCHEMA1_SIGNED), MEDIA_KIND_SCHEMA1);
        ASSERT_EQ(mediatype_kind("application/vnd.example"), MEDIA_KIND_UNKNOWN);
        char *n = mediatype_normalize("  Application/JSON ; charset=utf-8");
        ASSERT_STREQ(n, "application/json");
        ASSERT_TRUE(mediatype_is_generic(n));
        free(n);

        layer_compression c;
        berr *e = NULL;
        ASSERT_OK(mediatype_layer_compression(MT_DOCKER_LAYER, &c, &e));
        ASSERT_EQ(c, LAYER_COMPRESSION_DETECT);
        ASSERT_OK(mediatype_layer_compression(MT_OCI_LAYER_ND_ZSTD, &c, &e));
        ASSERT_EQ(c, LAYER_COMPRESSION_ZSTD);
        ASSERT_TRUE(mediatype_layer_compression(MT_OCI_LAYER_GZIP "+encrypted", &c, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_TRUE(strstr(e->msg, "unsupported layer media type") != NULL);
        berr_free(e);
        e = NULL;
        ASSERT_TRUE(mediatype_layer_compression(MT_OCI_CONFIG, &c, &e) < 0);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        ASSERT_STREQ(layer_compression_to_string(LAYER_COMPRESSION_ZSTD), "zstd");
}

TEST(platform_parse_format_normalize) {
        struct {
                const char *in, *out;
        } cases[] = {
                { "linux/amd64", "linux/amd64" },       { "linux/x86_64", "linux/amd64" },
                { "linux/aarch64", "linux/arm64" },     { "linux/arm64/v8", "linux/arm64/v8" },
                { "linux/arm", "linux/arm" },           { "linux/arm/7", "linux/arm/v7" },
                { "linux/armhf", "linux/arm" },         { "linux/armel", "linux/arm/v6" },
                { "linux/i386", "linux/386" },          { "Linux/AMD64", "linux/amd64" },
                { "macos/arm64", "darwin/arm64" },      { "windows/amd64", "windows/amd64" },
                { "linux/amd64/v1", "linux/amd64" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                oci_platform p = plat(cases[i].in);
                char *s = platform_format(&p);
                if (strcmp(s, cases[i].out) != 0)
                        TAP_FAIL("%s → %s, want %s", cases[i].in, s, cases[i].out);
                free(s);
                platform_done(&p);
        }

        /* A lone OS or architecture is completed from the host. */
        oci_platform host;
        platform_default(&host);
        oci_platform p = plat("linux");
        ASSERT_STREQ(p.architecture, host.architecture);
        platform_done(&p);
        p = plat("arm64");
        ASSERT_STREQ(p.os, "linux");
        ASSERT_STREQ(p.architecture, "arm64");
        platform_done(&p);

        berr *e = NULL;
        const char *bad[] = { "linux/*", "linux//amd64", "a/b/c/d", "nosuchthing", "linux/amd 64" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (platform_parse(bad[i], &p, &e) == 0)
                        TAP_FAIL("%s parsed", bad[i]);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                berr_free(e);
                e = NULL;
        }

        /* The host default comes from uname. */
        struct utsname u;
        ASSERT_OK(uname(&u));
        ASSERT_STREQ(host.os, "linux");
        if (strcmp(u.machine, "x86_64") == 0)
                ASSERT_STREQ(host.architecture, "amd64");
        else if (strcmp(u.machine, "aarch64") == 0)
                ASSERT_STREQ(host.architecture, "arm64");
        platform_done(&host);
}

TEST(platform_vectors) {
        struct {
                const char *in;
                const char *vector[8];
        } cases[] = {
                { "linux/amd64", { "linux/amd64", "linux/386" } },
                { "linux/amd64/v3", { "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386" } },
                { "linux/arm/v7", { "linux/arm/v7", "linux/arm/v6", "linux/arm/v5" } },
                { "linux/arm64", { "linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5" } },
                { "linux/ppc64le", { "linux/ppc64le" } },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                oci_platform p = plat(cases[i].in);
                platform_matcher *m = platform_matcher_only(&p);
                size_t n = 0;
                while (cases[i].vector[n])
                        n++;
                if (m->n != n)
                        TAP_FAIL("%s: vector of %zu, want %zu", cases[i].in, m->n, n);
                for (size_t j = 0; j < n; j++) {
                        char *s = platform_format(&m->vector[j]);
                        if (strcmp(s, cases[i].vector[j]) != 0)
                                TAP_FAIL("%s[%zu] = %s, want %s", cases[i].in, j, s, cases[i].vector[j]);
                        free(s);
                }
                platform_matcher_free(m);
                platform_done(&p);
        }

        oci_platform amd = plat("linux/amd64");
        oci_platform i386 = plat("linux/386");
        platform_matcher *strict = platform_matcher_strict(&amd);
        ASSERT_TRUE(platform_matcher_match(strict, &amd));
        ASSERT_FALSE(platform_matcher_match(strict, &i386));
        platform_matcher_free(strict);
        platform_matcher *def = platform_matcher_default();
        ASSERT_TRUE(def->n >= 1);
        platform_matcher_free(def);
        oci_platform x = { .os = xstrdup("linux"), .architecture = xstrdup("x86_64") };
        ASSERT_TRUE(platform_equal(&x, &amd));
        platform_done(&x);
        platform_done(&amd);
        platform_done(&i386);
}
