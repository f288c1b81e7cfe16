#include "images/mediatype.h"

#include <ctype.h>
#include <string.h>

#include "basic/macro.h"

static bool streq(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

char *mediatype_normalize(const char *mt) {
        if (!mt)
                return xstrdup("");
        while (isspace((unsigned char) *mt))
                mt++;
        size_t n = strcspn(mt, ";");
        while (n > 0 && isspace((unsigned char) mt[n - 1]))
                n--;
        char *s = xstrndup(mt, n);
        for (char *p = s; *p; p++)
                *p = tolower((unsigned char) *p);
        return s;
}

bool mediatype_is_index(const char *mt) {
        return streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_MANIFEST_LIST);
}

bool mediatype_is_manifest(const char *mt) {
        return streq(mt, MT_OCI_MANIFEST) || streq(mt, MT_DOCKER_MANIFEST);
}

bool mediatype_is_config(const char *mt) {
        return streq(mt, MT_OCI_CONFIG) || streq(mt, MT_DOCKER_CONFIG);
}

static bool has_prefix(const char *s, const char *prefix) {
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool mediatype_is_layer(const char *mt) {
        if (has_prefix(mt, "application/vnd.oci.image.layer."))
                return true;
        /* Docker layer types may carry "+suffix" wrappers; the base decides. */
        if (!mt)
                return false;
        size_t n = strcspn(mt, "+");
        static const char *const docker[] = { MT_DOCKER_LAYER, MT_DOCKER_LAYER_GZIP, MT_DOCKER_LAYER_FOREIGN,
                                              MT_DOCKER_LAYER_FOREIGN_GZIP };
        for (size_t i = 0; i < ELEMENTSOF(docker); i++)
                if (strlen(docker[i]) == n && strncmp(mt, docker[i], n) == 0)
                        return true;
        return false;
}

bool mediatype_is_foreign_layer(const char *mt) {
        return has_prefix(mt, "application/vnd.oci.image.layer.nondistributable.") ||
               has_prefix(mt, "application/vnd.docker.image.rootfs.foreign.");
}

bool mediatype_is_generic(const char *mt) {
        return !mt || !*mt || streq(mt, "application/json") || streq(mt, "application/octet-stream");
}

media_kind mediatype_kind(const char *mt) {
        if (mediatype_is_index(mt))
                return MEDIA_KIND_INDEX;
        if (mediatype_is_manifest(mt))
                return MEDIA_KIND_MANIFEST;
        if (mediatype_is_config(mt))
                return MEDIA_KIND_CONFIG;
        if (mediatype_is_layer(mt))
                return MEDIA_KIND_LAYER;
        /* Registries serve schema1 as text/plain too (containerd maps that the same way). */
        if (streq(mt, MT_DOCKER_SCHEMA1) || streq(mt, MT_DOCKER_SCHEMA1_SIGNED) || streq(mt, "text/plain"))
                return MEDIA_KIND_SCHEMA1;
        return MEDIA_KIND_UNKNOWN;
}

int mediatype_layer_compression(const char *mt, layer_compression *ret, berr **err) {
        if (streq(mt, MT_OCI_LAYER) || streq(mt, MT_OCI_LAYER_ND)) {
                *ret = LAYER_COMPRESSION_NONE;
                return 0;
        }
        if (streq(mt, MT_OCI_LAYER_GZIP) || streq(mt, MT_OCI_LAYER_ND_GZIP) || streq(mt, MT_DOCKER_LAYER_GZIP) ||
            streq(mt, MT_DOCKER_LAYER_FOREIGN_GZIP)) {
                *ret = LAYER_COMPRESSION_GZIP;
                return 0;
        }
        if (streq(mt, MT_OCI_LAYER_ZSTD) || streq(mt, MT_OCI_LAYER_ND_ZSTD)) {
                *ret = LAYER_COMPRESSION_ZSTD;
                return 0;
        }
        if (streq(mt, MT_DOCKER_LAYER) || streq(mt, MT_DOCKER_LAYER_FOREIGN)) {
                *ret = LAYER_COMPRESSION_DETECT;
                return 0;
        }
        if (mediatype_is_layer(mt))
                return berr_set(err, BERR_UNIMPLEMENTED, 0, "unsupported layer media type %s: not implemented", mt);
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "media type %s is not a layer", mt ? mt : "(none)");
}

const char *layer_compression_to_string(layer_compression c) {
        switch (c) {
        case LAYER_COMPRESSION_NONE:
                return "none";
        case LAYER_COMPRESSION_GZIP:
                return "gzip";
        case LAYER_COMPRESSION_ZSTD:
                return "zstd";
        case LAYER_COMPRESSION_DETECT:
                return "detect";
        }
        return "unknown";
}
