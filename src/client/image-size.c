/* An image's size as the client shows it: the config and layer blob sizes of the manifest for this machine's
 * platform, read from the daemon's content store (containerd.services.content.v1.Content/Read) like ctr does. */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "client/client-internal.h"
#include "containerd/services/content/v1/content.pb-c.h"

#define MANIFEST_MAX (4u << 20) /* containerd's limit for manifests and indexes */
#define INDEX_DEPTH_MAX 4

/* Reads a whole (small) blob. */
static int read_blob(berth_client *c, const char *digest, uint8_t **ret, size_t *ret_len, berr **err) {
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/containerd.services.content.v1.Content/Read", 0, &s, err) < 0)
                return -1;
        Containerd__Services__Content__V1__ReadContentRequest req =
                CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
        req.digest = (char *) digest;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int r = grpc_stream_send(s, &req.base, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        while (r >= 0) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t mlen = 0;
                r = grpc_stream_recv(s, &msg, &mlen, err);
                if (r <= 0)
                        break;
                Containerd__Services__Content__V1__ReadContentResponse *resp =
                        containerd__services__content__v1__read_content_response__unpack(NULL, mlen, msg);
                if (!resp) {
                        r = berr_set(err, BERR_INTERNAL, 0, "content %s: undecodable ReadContentResponse", digest);
                        break;
                }
                if (resp->offset != (int64_t) len || len + resp->data.len > MANIFEST_MAX)
                        r = berr_set(err, BERR_OUT_OF_RANGE, 0, "content %s: unexpected chunk at %" PRId64, digest,
                                     resp->offset);
                else {
                        buf = xrealloc(buf, len + resp->data.len + 1);
                        memcpy(buf + len, resp->data.data, resp->data.len);
                        len += resp->data.len;
                }
                containerd__services__content__v1__read_content_response__free_unpacked(resp, NULL);
        }
        grpc_stream_free(s);
        if (r < 0)
                return -1;
        *ret = buf ? TAKE_PTR(buf) : xmalloc(1);
        *ret_len = len;
        return 0;
}

static int64_t json_size(json_t *desc) {
        json_t *v = json_object_get(desc, "size");
        return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

static bool platform_matches(json_t *desc) {
        const char *os, *arch, *variant;
        client_host_platform(&os, &arch, &variant);
        json_t *p = json_object_get(desc, "platform");
        const char *pos = json_string_value(json_object_get(p, "os"));
        const char *parch = json_string_value(json_object_get(p, "architecture"));
        const char *pvariant = json_string_value(json_object_get(p, "variant"));
        if (!pos || !parch || strcmp(pos, os) != 0 || strcmp(parch, arch) != 0)
                return false;
        /* arm64's "v8" is the default: an entry without a variant matches too. */
        return !pvariant || !*pvariant || !*variant || strcmp(pvariant, variant) == 0;
}

static int64_t size_of(berth_client *c, const char *digest, int depth) {
        if (depth > INDEX_DEPTH_MAX)
                return -1;
        _cleanup_free_ uint8_t *blob = NULL;
        size_t len = 0;
        _cleanup_berr_ berr *e = NULL;
        if (read_blob(c, digest, &blob, &len, &e) < 0)
                return -1;
        json_t *doc = json_loadb((const char *) blob, len, 0, NULL);
        if (!json_is_object(doc)) {
                json_decref(doc);
                return -1;
        }
        int64_t size = -1;
        json_t *manifests = json_object_get(doc, "manifests");
        json_t *layers = json_object_get(doc, "layers");
        if (json_is_array(manifests)) {
                /* An index: the manifest for this platform, else the first one. */
                json_t *pick = NULL, *m;
                size_t i;
                json_array_foreach(manifests, i, m) {
                        if (platform_matches(m)) {
                                pick = m;
                                break;
                        }
                }
                if (!pick)
                        pick = json_array_get(manifests, 0);
                const char *d = json_string_value(json_object_get(pick, "digest"));
                if (d)
                        size = size_of(c, d, depth + 1);
        } else if (json_is_array(layers)) {
                size = json_size(json_object_get(doc, "config"));
                json_t *l;
                size_t i;
                json_array_foreach(layers, i, l) {
                        int64_t n = json_size(l);
                        if (size < 0 || n < 0) {
                                size = -1;
                                break;
                        }
                        size += n;
                }
        }
        json_decref(doc);
        return size;
}

int64_t client_image_size(berth_client *c, const char *digest, const char *media_type) {
        if (!digest || !*digest)
                return -1;
        return size_of(c, digest, 0);
}
