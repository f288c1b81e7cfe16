/* registry_resolve: a reference's tag (or digest) to the descriptor of its root document. */
#include <inttypes.h>
#include <string.h>

#include "remotes/registry-internal.h"

static int check_ref(registry *r, const image_ref *ref, berr **err) {
        if (registry_is_canceled(r))
                return berr_set(err, BERR_CANCELED, 0, "context canceled");
        if (!ref->domain || !*ref->domain)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "reference %s: hostname required", ref->path);
        if (!image_ref_object(ref))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "reference %s/%s: object required", ref->domain,
                                ref->path);
        return 0;
}

static char *digest_of(const char *alg_from, const void *buf, size_t len) {
        const EVP_MD *md = registry_digest_md(alg_from);
        if (!md)
                md = EVP_sha256();
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, md, NULL);
        EVP_DigestUpdate(ctx, buf, len);
        const char *alg = md == EVP_sha256() ? "sha256" : md == EVP_sha384() ? "sha384" : "sha512";
        char *d = registry_digest_final(ctx, alg);
        EVP_MD_CTX_free(ctx);
        return d;
}

/* One resolve attempt against the manifests or blobs endpoint. Returns 1 on success, 0 if not found there. */
static int resolve_at(registry *r, const image_ref *ref, const char *kind, const registry_host *hosts, size_t n,
                      oci_descriptor **ret, berr **err) {
        const char *object = image_ref_object(ref);
        _cleanup_free_ char *refstr = image_ref_to_string(ref);
        xfer head, get;
        xfer_init(&head, r, ref, kind, object);
        head.hosts = hosts;
        head.n_hosts = n;
        head.head = true;
        head.accept = MT_MANIFEST_ACCEPT;
        head.need_caps = REGISTRY_CAP_PULL | (ref->digest ? 0 : REGISTRY_CAP_RESOLVE);
        head.sink = XFER_SINK_NONE;
        xfer_init(&get, r, ref, kind, object);
        int ret_code = -1;
        _cleanup_free_ char *digest = NULL, *mt = NULL;
        xfer *hp = &head;
        if (xfer_run(r, &hp, 1, 1, err) < 0)
                goto out;
        if (head.error) {
                if (head.error->code == BERR_NOT_FOUND) {
                        ret_code = 0;
                        goto out;
                }
                *err = TAKE_PTR(head.error);
                goto out;
        }

        int64_t size = head.content_length;
        mt = mediatype_normalize(head.content_type);
        if (ref->digest)
                digest = xstrdup(ref->digest);
        else if (head.docker_digest && size >= 0) {
                if (!image_digest_is_valid(head.docker_digest)) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0, "\"%s\" in header not a valid digest",
                                 head.docker_digest);
                        goto out;
                }
                digest = xstrdup(head.docker_digest);
        }
        if (size > (int64_t) OCI_DOCUMENT_MAX_SIZE) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "manifest too large: rejecting %" PRId64 " byte manifest for %s",
                         size, refstr);
                goto out;
        }

        media_kind kind_of = mediatype_kind(mt);
        if (!digest || size < 0 || (kind_of != MEDIA_KIND_INDEX && kind_of != MEDIA_KIND_MANIFEST)) {
                /* No usable HEAD answer: fetch the document, digest it and look at it. */
                get.hosts = hosts;
                get.n_hosts = n;
                get.accept = MT_MANIFEST_ACCEPT;
                get.need_caps = head.need_caps;
                get.sink = XFER_SINK_MEMORY;
                get.mem_limit = OCI_DOCUMENT_MAX_SIZE;
                xfer *gp = &get;
                if (xfer_run(r, &gp, 1, 1, err) < 0)
                        goto out;
                if (get.error) {
                        *err = TAKE_PTR(get.error);
                        goto out;
                }
                free(mt);
                mt = mediatype_normalize(get.content_type);
                _cleanup_free_ char *computed = digest_of(digest, get.mem, get.mem_len);
                if (ref->digest && strcmp(computed, ref->digest) != 0) {
                        berr_set(err, BERR_FAILED_PRECONDITION, 0, "digest mismatch for %s: got %s", refstr, computed);
                        goto out;
                }
                if (!digest)
                        digest = TAKE_PTR(computed);
                size = get.mem_len;
                kind_of = mediatype_kind(mt);
                if (kind_of != MEDIA_KIND_INDEX && kind_of != MEDIA_KIND_MANIFEST) {
                        media_kind k;
                        char *detected;
                        if (oci_document_detect(get.mem, get.mem_len, mt, &k, &detected, err) < 0) {
                                berr_wrap(err, "%s", refstr);
                                goto out;
                        }
                        free(mt);
                        mt = detected;
                }
        }
        oci_descriptor *d = xcalloc(1, sizeof *d);
        d->media_type = TAKE_PTR(mt);
        d->digest = TAKE_PTR(digest);
        d->size = size;
        *ret = d;
        ret_code = 1;
out:
        xfer_done(&head);
        xfer_done(&get);
        return ret_code;
}

int registry_resolve(registry *r, const image_ref *ref, oci_descriptor **ret, berr **err) {
        if (check_ref(r, ref, err) < 0)
                return -1;
        const registry_host *hosts;
        size_t n;
        if (registry_hosts_for(r, ref->domain, &hosts, &n, err) < 0)
                return -1;
        /* A digest may name a manifest or, on some registries, only a blob (containerd tries both). */
        const char *kinds[] = { "manifests", "blobs" };
        for (size_t i = 0; i < (ref->digest ? 2u : 1u); i++) {
                int k = resolve_at(r, ref, kinds[i], hosts, n, ret, err);
                if (k != 0)
                        return k < 0 ? -1 : 0;
        }
        _cleanup_free_ char *refstr = image_ref_to_string(ref);
        return berr_set(err, BERR_NOT_FOUND, 0, "%s: not found", refstr);
}
