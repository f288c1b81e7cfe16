/* libFuzzer target for image documents (src/images/manifest*.c, mediatype.c, platform.c): indexes, manifests and
 * image configs. The first input byte picks the media type the document is announced as (a descriptor's type or
 * a registry's Content-Type); the rest is the body. Parsers must not crash, must fail with INVALID_ARGUMENT or
 * UNIMPLEMENTED and a message, and what parses must be usable (platform selection, layer compressions).
 * Build: make fuzz. Regression: build-fuzz/fuzz-manifest -runs=20000 -seed=1 <empty dir> fuzz/corpus/manifest */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/manifest.h"

static const char *const types[] = {
        NULL,
        "",
        "application/json",
        MT_OCI_INDEX,
        MT_OCI_MANIFEST,
        MT_DOCKER_MANIFEST_LIST,
        MT_DOCKER_MANIFEST,
        MT_DOCKER_SCHEMA1_SIGNED,
        "application/vnd.example.unknown",
        "application/octet-stream; charset=utf-8",
};

static void check_error(berr *e) {
        if (!e || !e->msg || !*e->msg)
                abort();
        if (e->code != BERR_INVALID_ARGUMENT && e->code != BERR_UNIMPLEMENTED && e->code != BERR_NOT_FOUND)
                abort();
        berr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        const char *mt = types[data[0] % (sizeof types / sizeof types[0])];
        const char *buf = (const char *) data + 1;
        size_t len = size - 1;
        berr *e = NULL;

        media_kind kind;
        char *detected = NULL;
        if (oci_document_detect(buf, len, mt, &kind, &detected, &e) == 0) {
                if ((kind != MEDIA_KIND_INDEX && kind != MEDIA_KIND_MANIFEST) || !detected)
                        abort();
                free(detected);
        } else {
                check_error(e);
        }

        e = NULL;
        oci_index *idx = NULL;
        if (oci_index_parse(buf, len, mt, &idx, &e) == 0) {
                static const char *const specs[] = { "linux/amd64", "linux/arm/v7", "linux/arm64" };
                for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
                        oci_platform p;
                        if (platform_parse(specs[i], &p, NULL) < 0)
                                abort();
                        platform_matcher *m = platform_matcher_only(&p);
                        size_t *order = NULL;
                        size_t n = oci_index_match(idx, m, &order);
                        for (size_t j = 0; j < n; j++)
                                if (order[j] >= idx->n_manifests)
                                        abort();
                        const oci_descriptor *d = NULL;
                        berr *se = NULL;
                        if (oci_index_select(idx, m, "x", &d, &se) == 0) {
                                if (d != &idx->manifests[order[0]])
                                        abort();
                        } else {
                                check_error(se);
                        }
                        free(order);
                        platform_matcher_free(m);
                        platform_done(&p);
                }
                oci_index_free(idx);
        } else {
                check_error(e);
        }

        e = NULL;
        oci_manifest *man = NULL;
        if (oci_manifest_parse(buf, len, mt, &man, &e) == 0) {
                for (size_t i = 0; i < man->n_layers; i++) {
                        layer_compression c;
                        berr *le = NULL;
                        if (mediatype_layer_compression(man->layers[i].media_type, &c, &le) < 0)
                                check_error(le);
                        oci_descriptor copy;
                        oci_descriptor_copy(&copy, &man->layers[i]);
                        oci_descriptor_done(&copy);
                }
                oci_manifest_free(man);
        } else {
                check_error(e);
        }

        e = NULL;
        oci_image_config *c = NULL;
        if (oci_image_config_parse(buf, len, &c, &e) == 0) {
                oci_platform p;
                oci_image_config_platform(c, &p);
                free(platform_format(&p));
                platform_done(&p);
                oci_image_config_free(c);
        } else {
                check_error(e);
        }
        return 0;
}
