/* Fetching by digest: manifests into memory, blobs streamed (one or many at once). */
#include <inttypes.h>
#include <string.h>

#include "remotes/registry-internal.h"

/* containerd asks the manifests endpoint for manifest-typed descriptors and the blobs endpoint for the rest. */
static const char *endpoint_for(const char *media_type) {
        media_kind k = mediatype_kind(media_type);
        return k == MEDIA_KIND_INDEX || k == MEDIA_KIND_MANIFEST || k == MEDIA_KIND_SCHEMA1 ? "manifests" : "blobs";
}

static int begin(registry *r, const image_ref *ref, const registry_host **hosts, size_t *n, berr **err) {
        if (registry_is_canceled(r))
                return berr_set(err, BERR_CANCELED, 0, "context canceled");
        if (!ref->domain || !*ref->domain)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "reference %s: hostname required", ref->path);
        return registry_hosts_for(r, ref->domain, hosts, n, err);
}

static int verify_digest(const char *digest, const void *buf, size_t len, berr **err) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, registry_digest_md(digest), NULL);
        EVP_DigestUpdate(md, buf ? buf : "", len);
        _cleanup_free_ char *alg = xstrndup(digest, strcspn(digest, ":"));
        _cleanup_free_ char *got = registry_digest_final(md, alg);
        EVP_MD_CTX_free(md);
        if (strcmp(got, digest) != 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "digest mismatch for manifest %s: got %s", digest,
                                got);
        return 0;
}

int registry_fetch_manifest(registry *r, const image_ref *ref, const oci_descriptor *desc, char **ret_body,
                            size_t *ret_len, berr **err) {
        const registry_host *hosts;
        size_t n;
        if (begin(r, ref, &hosts, &n, err) < 0)
                return -1;
        if (image_digest_validate(desc->digest, err) < 0)
                return -1;
        if (desc->size > (int64_t) OCI_DOCUMENT_MAX_SIZE)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "manifest too large: %s is %" PRId64 " bytes, the limit is %u", desc->digest,
                                desc->size, OCI_DOCUMENT_MAX_SIZE);
        xfer x;
        xfer_init(&x, r, ref, endpoint_for(desc->media_type), desc->digest);
        _cleanup_free_ char *accept = desc->media_type ? xasprintf("%s, */*", desc->media_type) : NULL;
        x.hosts = hosts;
        x.n_hosts = n;
        x.accept = accept ? accept : MT_MANIFEST_ACCEPT;
        x.urls = desc->urls;
        x.sink = XFER_SINK_MEMORY;
        x.mem_limit = OCI_DOCUMENT_MAX_SIZE;
        xfer *xp = &x;
        int ret = -1;
        if (xfer_run(r, &xp, 1, 1, err) < 0)
                goto out;
        if (x.error) {
                *err = TAKE_PTR(x.error);
                goto out;
        }
        if (desc->size >= 0 && (int64_t) x.mem_len != desc->size) {
                berr_set(err, BERR_FAILED_PRECONDITION, 0, "size mismatch for %s: got %zu bytes, expected %" PRId64,
                         desc->digest, x.mem_len, desc->size);
                goto out;
        }
        if (verify_digest(desc->digest, x.mem, x.mem_len, err) < 0)
                goto out;
        *ret_body = x.mem ? TAKE_PTR(x.mem) : xstrdup("");
        if (ret_len)
                *ret_len = x.mem_len;
        ret = 0;
out:
        xfer_done(&x);
        return ret;
}

void registry_fetch_done(registry_fetch *f) {
        berr_free(f->error);
        f->error = NULL;
}

static berr *berr_dup(const berr *e) {
        berr *c = NULL;
        berr_set(&c, e->code, e->errnum, "%s", e->msg);
        return c;
}

int registry_fetch_all(registry *r, const image_ref *ref, registry_fetch *const *fetches, size_t n,
                       unsigned max_parallel, berr **err) {
        const registry_host *hosts;
        size_t nh;
        if (begin(r, ref, &hosts, &nh, err) < 0)
                return -1;
        xfer *xs = xcalloc(n ? n : 1, sizeof *xs);
        xfer **xp = xcalloc(n ? n : 1, sizeof *xp);
        char **accepts = xcalloc(n ? n : 1, sizeof *accepts);
        size_t nx = 0;
        for (size_t i = 0; i < n; i++) {
                registry_fetch *f = fetches[i];
                registry_fetch_done(f);
                f->finished = false;
                f->resumes = 0;
                f->received = f->offset;
                if (!f->desc || !f->write) {
                        berr_set(&f->error, BERR_INVALID_ARGUMENT, 0, "fetch without a descriptor or write callback");
                        continue;
                }
                if (image_digest_validate(f->desc->digest, &f->error) < 0)
                        continue;
                xfer *x = &xs[nx];
                xfer_init(x, r, ref, endpoint_for(f->desc->media_type), f->desc->digest);
                accepts[nx] = f->desc->media_type ? xasprintf("%s, */*", f->desc->media_type) : NULL;
                x->hosts = hosts;
                x->n_hosts = nh;
                x->accept = accepts[nx];
                x->urls = f->desc->urls;
                x->sink = XFER_SINK_STREAM;
                x->fetch = f;
                x->total = f->desc->size;
                x->start = f->offset;
                xp[nx++] = x;
        }
        int ret = xfer_run(r, xp, nx, max_parallel, err);
        for (size_t i = 0; i < nx; i++) {
                if (xs[i].error) {
                        registry_fetch_done(xs[i].fetch);
                        xs[i].fetch->error = TAKE_PTR(xs[i].error);
                }
                xfer_done(&xs[i]);
                free(accepts[i]);
        }
        free(xs);
        free(xp);
        free(accepts);
        if (ret < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (fetches[i]->error) {
                        if (err) {
                                berr_free(*err);
                                *err = berr_dup(fetches[i]->error);
                        }
                        return -1;
                }
        return 0;
}

int registry_fetch_blob(registry *r, const image_ref *ref, registry_fetch *f, berr **err) {
        return registry_fetch_all(r, ref, &f, 1, 1, err);
}
