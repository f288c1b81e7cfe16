/* The transfer engine: every registry request is an xfer run on a curl multi handle. An xfer walks its targets
 * (alternative URLs, then mirrors, then the origin), answers 401s by setting up auth and retrying, and for blobs
 * reconnects with a Range request after a dropped connection. Bodies go to memory (manifests, capped) or to
 * the caller's write callback (blobs, in order, with a server that ignores Range handled by skipping). */
#include <inttypes.h>
#include <string.h>

#include "basic/log.h"
#include "remotes/registry-internal.h"

#define ERRBODY_MAX (64u << 10)
#define STREAM_BUFFER_SIZE (512L << 10)

void xfer_init(xfer *x, registry *r, const image_ref *ref, const char *kind, const char *object) {
        *x = (xfer) {
                .reg = r,
                .domain = ref->domain,
                .repo = ref->path,
                .scope = xasprintf("repository:%s:pull", ref->path),
                .kind = kind,
                .object = object,
                .need_caps = REGISTRY_CAP_PULL,
                .total = -1,
                .content_length = -1,
        };
}

static void attempt_reset(xfer *x) {
        if (x->easy)
                curl_easy_cleanup(x->easy);
        x->easy = NULL;
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        free(x->url);
        x->url = NULL;
        free(x->errbody);
        x->errbody = NULL;
        x->errbody_len = 0;
        berr_free(x->cb_error);
        x->cb_error = NULL;
        x->body_started = x->body_is_error = x->sent_auth = false;
        x->skip = 0;
        x->errbuf[0] = '\0';
}

void xfer_done(xfer *x) {
        attempt_reset(x);
        free(x->scope);
        free(x->mem);
        if (x->md)
                EVP_MD_CTX_free(x->md);
        free(x->content_type);
        free(x->docker_digest);
        berr_free(x->first_error);
        berr_free(x->error);
        *x = (xfer) { 0 };
}

static size_t n_urls(const xfer *x) {
        size_t n = 0;
        while (x->urls && x->urls[n])
                n++;
        return n;
}

static bool target_usable(const xfer *x, size_t i) {
        size_t nu = n_urls(x);
        if (i < nu)
                return strncmp(x->urls[i], "http://", 7) == 0 || strncmp(x->urls[i], "https://", 8) == 0;
        return (x->hosts[i - nu].caps & x->need_caps) == x->need_caps;
}

/* Moves x->target to the first usable target at or after `from`; false if there is none. */
static bool target_seek(xfer *x, size_t from) {
        size_t total = n_urls(x) + x->n_hosts;
        for (size_t i = from; i < total; i++)
                if (target_usable(x, i)) {
                        x->target = i;
                        return true;
                }
        return false;
}

static const registry_host *target_host(const xfer *x) {
        size_t nu = n_urls(x);
        return x->target < nu ? NULL : &x->hosts[x->target - nu];
}

static void fail(xfer *x, berr *e) {
        berr_free(x->error);
        x->error = e;
        x->done = true;
}

static void fail_msg(xfer *x, berr_code code, const char *fmt, ...) _printf_(3, 4);
static void fail_msg(xfer *x, berr_code code, const char *fmt, ...) {
        berr *e = NULL;
        va_list ap;
        va_start(ap, fmt);
        berr_setv(&e, code, 0, fmt, ap);
        va_end(ap);
        fail(x, e);
}

static void cb_fail(xfer *x, berr_code code, const char *fmt, ...) _printf_(3, 4);
static void cb_fail(xfer *x, berr_code code, const char *fmt, ...) {
        if (x->cb_error)
                return;
        va_list ap;
        va_start(ap, fmt);
        berr_setv(&x->cb_error, code, 0, fmt, ap);
        va_end(ap);
}

static const char *header_value(CURL *easy, const char *name) {
        struct curl_header *h;
        if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
                return NULL;
        return h->value;
}

/* First body bytes of an attempt: decide what they are (payload, error text, skipped prefix). */
static bool body_begin(xfer *x) {
        x->body_started = true;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status / 100 != 2) {
                x->body_is_error = true;
                return true;
        }
        curl_off_t cl = -1;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (x->sink == XFER_SINK_MEMORY && cl > 0 && (uint64_t) cl > x->mem_limit) {
                cb_fail(x, BERR_INVALID_ARGUMENT, "manifest too large: %s %s is %" PRId64 " bytes, the limit is %zu",
                        x->kind, x->object, (int64_t) cl, x->mem_limit);
                return false;
        }
        if (x->req_offset > 0) {
                if (x->status == 206) {
                        const char *cr = header_value(x->easy, "Content-Range");
                        char want[64];
                        snprintf(want, sizeof want, "bytes %" PRIu64 "-", x->req_offset);
                        if (cr && strncmp(cr, want, strlen(want)) != 0) {
                                cb_fail(x, BERR_UNAVAILABLE, "unhandled content range in response: %s", cr);
                                return false;
                        }
                } else {
                        /* The server ignored Range and sends everything: drop what the caller already has. */
                        x->skip = x->req_offset;
                }
        }
        return true;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        xfer *x = userdata;
        size_t len = size * nmemb;
        if (registry_is_canceled(x->reg)) {
                cb_fail(x, BERR_CANCELED, "context canceled");
                return 0;
        }
        if (!x->body_started && !body_begin(x))
                return 0;
        if (x->body_is_error) {
                size_t take = x->errbody_len + len > ERRBODY_MAX ? ERRBODY_MAX - x->errbody_len : len;
                x->errbody = xrealloc(x->errbody, x->errbody_len + take + 1);
                memcpy(x->errbody + x->errbody_len, ptr, take);
                x->errbody_len += take;
                x->errbody[x->errbody_len] = '\0';
                return len;
        }
        if (x->skip > 0) {
                size_t drop = x->skip < len ? (size_t) x->skip : len;
                x->skip -= drop;
                ptr += drop;
                len -= drop;
                if (len == 0)
                        return size * nmemb;
        }
        if (x->sink == XFER_SINK_MEMORY) {
                if (x->mem_len + len > x->mem_limit) {
                        cb_fail(x, BERR_INVALID_ARGUMENT, "manifest too large: %s %s exceeds %zu bytes", x->kind,
                                x->object, x->mem_limit);
                        return 0;
                }
                x->mem = xrealloc(x->mem, x->mem_len + len + 1);
                memcpy(x->mem + x->mem_len, ptr, len);
                x->mem_len += len;
                x->mem[x->mem_len] = '\0';
                return size * nmemb;
        }
        if (x->sink != XFER_SINK_STREAM)
                return size * nmemb;
        registry_fetch *f = x->fetch;
        if (x->total >= 0 && x->pos + len > (uint64_t) x->total) {
                cb_fail(x, BERR_FAILED_PRECONDITION,
                        "blob %s: server sent more than the expected %" PRId64 " bytes", x->object, x->total);
                return 0;
        }
        if (x->md)
                EVP_DigestUpdate(x->md, ptr, len);
        if (f->write(ptr, len, f->userdata) < 0) {
                if (f->error) {
                        x->cb_error = f->error;
                        f->error = NULL;
                } else {
                        cb_fail(x, BERR_ABORTED, "blob %s: write callback failed", x->object);
                }
                return 0;
        }
        x->pos += len;
        f->received = x->pos;
        if (f->progress)
                f->progress(f, f->userdata);
        return size * nmemb;
}

static char *build_url(const xfer *x, const registry_host *h) {
        if (!h)
                return xstrdup(x->urls[x->target]);
        /* Mirrors learn which registry is meant from ?ns= (containerd's convention). */
        return xasprintf("%s://%s%s/%s/%s/%s%s%s", h->scheme, h->host, h->path, x->repo, x->kind, x->object,
                         h->mirror ? "?ns=" : "", h->mirror ? x->domain : "");
}

/* Prepares the easy handle for the current target. On failure x is done. */
static int xfer_start(xfer *x) {
        attempt_reset(x);
        if (x->sink == XFER_SINK_MEMORY)
                x->mem_len = 0;
        x->req_offset = x->sink == XFER_SINK_STREAM ? x->pos : 0;
        const registry_host *h = target_host(x);
        x->url = build_url(x, h);
        x->easy = curl_easy_init();
        if (!x->easy) {
                fail_msg(x, BERR_INTERNAL, "curl_easy_init failed");
                return -1;
        }
        registry_curl_setup(x->reg, x->easy, h, x->errbuf);
        curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
        /* Blobs: bigger reads mean fewer syscalls, callbacks and ingest writes per byte (curl's default is 16 KiB). */
        if (x->sink == XFER_SINK_STREAM)
                curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, STREAM_BUFFER_SIZE);
        if (x->head)
                curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
        if (x->req_offset > 0) {
                char range[32];
                snprintf(range, sizeof range, "%" PRIu64 "-", x->req_offset);
                curl_easy_setopt(x->easy, CURLOPT_RANGE, range);
        }
        if (x->accept) {
                _cleanup_free_ char *a = xasprintf("Accept: %s", x->accept);
                x->headers = curl_slist_append(x->headers, a);
        }
        for (size_t i = 0; h && h->headers && h->headers[i]; i++)
                x->headers = curl_slist_append(x->headers, h->headers[i]);
        if (h) {
                _cleanup_free_ char *auth = NULL;
                berr *e = NULL;
                if (registry_auth_header(x->reg, h, x->scope, &auth, &e) < 0) {
                        fail(x, e);
                        return -1;
                }
                if (auth) {
                        _cleanup_free_ char *line = xasprintf("Authorization: %s", auth);
                        x->headers = curl_slist_append(x->headers, line);
                        x->sent_auth = true;
                }
        }
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
        log_debug("registry: %s %s%s", x->head ? "HEAD" : "GET", x->url, x->req_offset ? " (resume)" : "");
        return 0;
}

static bool finish_stream(xfer *x);

/* Before the first attempt: pick a target, set up digesting, skip empty work. Returns 0 when the easy handle is
 * ready, 1 when there is nothing to transfer, -1 on failure (x is done in both cases). */
static int xfer_begin(xfer *x) {
        if (!target_seek(x, 0)) {
                fail_msg(x, BERR_NOT_FOUND, "%s/%s: no registry host with the needed capabilities: not found",
                         x->domain, x->repo);
                return -1;
        }
        if (x->sink == XFER_SINK_STREAM) {
                registry_fetch *f = x->fetch;
                x->pos = x->start;
                f->received = x->pos;
                if (f->verify && x->start == 0) {
                        const EVP_MD *md = registry_digest_md(f->desc->digest);
                        if (!md) {
                                fail_msg(x, BERR_UNIMPLEMENTED, "blob %s: unsupported digest algorithm", x->object);
                                return -1;
                        }
                        x->md = EVP_MD_CTX_new();
                        EVP_DigestInit_ex(x->md, md, NULL);
                }
                if (x->total >= 0 && x->pos > (uint64_t) x->total) {
                        fail_msg(x, BERR_INVALID_ARGUMENT, "blob %s: offset %" PRIu64 " beyond size %" PRId64,
                                 x->object, x->pos, x->total);
                        return -1;
                }
                /* The caller has it all already (a Range past the end would only earn a 416). */
                if (x->total >= 0 && x->pos == (uint64_t) x->total) {
                        finish_stream(x);
                        return x->error ? -1 : 1;
                }
        }
        return xfer_start(x);
}

static void capture_headers(xfer *x) {
        const char *ct = header_value(x->easy, "Content-Type");
        const char *dcd = header_value(x->easy, "Docker-Content-Digest");
        free(x->content_type);
        x->content_type = ct ? xstrdup(ct) : NULL;
        free(x->docker_digest);
        x->docker_digest = dcd ? xstrdup(dcd) : NULL;
        curl_off_t cl = -1;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        x->content_length = cl;
}

static const char *method(const xfer *x) {
        return x->head ? "HEAD" : "GET";
}

/* Remembers a per-target failure and moves on; false when no target is left (x is then done). */
static bool try_next_target(xfer *x, berr *e) {
        berr_free(x->first_error);
        x->first_error = e;
        if (target_seek(x, x->target + 1))
                return true;
        fail(x, TAKE_PTR(x->first_error));
        return false;
}

static bool finish_stream(xfer *x) {
        registry_fetch *f = x->fetch;
        if (x->md) {
                const char *want = f->desc->digest;
                _cleanup_free_ char *alg = xstrndup(want, strcspn(want, ":"));
                _cleanup_free_ char *got = registry_digest_final(x->md, alg);
                if (strcmp(got, want) != 0) {
                        fail_msg(x, BERR_FAILED_PRECONDITION, "digest mismatch for blob %s: got %s", want, got);
                        return false;
                }
        }
        f->finished = true;
        x->done = true;
        return false;
}

/* A transfer ended with curl result res. Returns true if x must be started again (x->target may have moved). */
static bool xfer_finish(xfer *x, CURLcode res) {
        registry *r = x->reg;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        capture_headers(x);
        if (x->cb_error) {
                fail(x, TAKE_PTR(x->cb_error));
                return false;
        }
        if (registry_is_canceled(r)) {
                fail_msg(x, BERR_CANCELED, "context canceled");
                return false;
        }
        bool payload = x->status / 100 == 2;
        bool short_body = x->sink == XFER_SINK_STREAM && payload && x->total >= 0 && x->pos < (uint64_t) x->total;
        if (res != CURLE_OK || short_body) {
                const char *why = res != CURLE_OK ? (*x->errbuf ? x->errbuf : curl_easy_strerror(res))
                                                  : "unexpected EOF";
                if (x->sink == XFER_SINK_STREAM && payload && x->body_started) {
                        if (x->fetch->resumes < (unsigned) r->auto_resume) {
                                x->fetch->resumes++;
                                log_debug("registry: %s: %s after %" PRIu64 " bytes, resuming", x->url, why, x->pos);
                                return true;
                        }
                        fail_msg(x, BERR_UNAVAILABLE, "blob %s: connection lost after %" PRIu64 " of %" PRId64
                                 " bytes: %s", x->object, x->pos, x->total, why);
                        return false;
                }
                berr *e = NULL;
                berr_set(&e, BERR_UNAVAILABLE, 0, "%s %s: %s", method(x), x->url, why);
                return (x->body_started && payload) ? (fail(x, e), false) : try_next_target(x, e);
        }
        if (payload) {
                if (x->sink == XFER_SINK_STREAM)
                        return finish_stream(x);
                x->done = true;
                return false;
        }

        _cleanup_free_ char *text = registry_error_text(x->errbody, x->errbody_len);
        const registry_host *h = target_host(x);
        if (x->status == 401 && h) {
                if (x->auth_retries >= 2) {
                        fail_msg(x, BERR_UNAUTHENTICATED, "pull access denied for %s/%s: %s", x->domain, x->repo,
                                 text && strstr(text, "unauthorized") ? text : "unauthorized: authentication required");
                        return false;
                }
                size_t n = 0;
                char **vals = NULL;
                struct curl_header *hd;
                while (curl_easy_header(x->easy, "WWW-Authenticate", n, CURLH_HEADER, -1, &hd) == CURLHE_OK) {
                        vals = xrealloc(vals, (n + 1) * sizeof *vals);
                        vals[n++] = xstrdup(hd->value);
                }
                berr *e = NULL;
                int rr = registry_auth_challenge(r, h, vals, n, x->scope, x->sent_auth, text, &e);
                for (size_t i = 0; i < n; i++)
                        free(vals[i]);
                free(vals);
                if (rr < 0) {
                        fail(x, e);
                        return false;
                }
                x->auth_retries++;
                return true;
        }
        berr *e = NULL;
        if (x->status == 404)
                berr_set(&e, BERR_NOT_FOUND, 0, "%s/%s: %s %s: not found", x->domain, x->repo, x->kind, x->object);
        else
                berr_set(&e,
                         x->status == 401   ? BERR_UNAUTHENTICATED
                         : x->status == 403 ? BERR_PERMISSION_DENIED
                         : x->status == 429 || x->status >= 500 ? BERR_UNAVAILABLE
                                                                : BERR_UNKNOWN,
                         0, "%s %s: unexpected status code %ld%s%s", method(x), x->url, x->status,
                         text ? " - server message: " : "", text ? text : "");
        return try_next_target(x, e);
}

static void active_add(registry *r, CURLM *multi) {
        pthread_mutex_lock(&r->lock);
        r->active = xrealloc(r->active, (r->n_active + 1) * sizeof *r->active);
        r->active[r->n_active++] = multi;
        pthread_mutex_unlock(&r->lock);
}

static void active_remove(registry *r, CURLM *multi) {
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_active; i++)
                if (r->active[i] == multi) {
                        r->active[i] = r->active[--r->n_active];
                        break;
                }
        pthread_mutex_unlock(&r->lock);
}

int xfer_run(registry *r, xfer *const *xs, size_t n, unsigned parallel, berr **err) {
        if (parallel == 0)
                parallel = 4;
        CURLM *multi = curl_multi_init();
        if (!multi)
                return berr_set(err, BERR_INTERNAL, ENOMEM, "curl_multi_init failed");
        curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
        active_add(r, multi);

        size_t next = 0;
        unsigned running = 0;
        for (;;) {
                while (!registry_is_canceled(r) && running < parallel && next < n) {
                        xfer *x = xs[next++];
                        if (xfer_begin(x) == 0) {
                                curl_multi_add_handle(multi, x->easy);
                                running++;
                        }
                }
                if (registry_is_canceled(r)) {
                        for (size_t i = 0; i < n; i++) {
                                xfer *x = xs[i];
                                if (x->done)
                                        continue;
                                if (x->easy && i < next)
                                        curl_multi_remove_handle(multi, x->easy);
                                fail_msg(x, BERR_CANCELED, "context canceled");
                        }
                        break;
                }
                if (running == 0 && next >= n)
                        break;

                int still;
                curl_multi_perform(multi, &still);
                CURLMsg *m;
                int queued;
                while ((m = curl_multi_info_read(multi, &queued))) {
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        CURL *easy = m->easy_handle;
                        CURLcode res = m->data.result;
                        xfer *x = NULL;
                        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);
                        curl_multi_remove_handle(multi, easy);
                        running--;
                        if (xfer_finish(x, res) && xfer_start(x) == 0) {
                                curl_multi_add_handle(multi, x->easy);
                                running++;
                        }
                }
                if (running > 0)
                        curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        active_remove(r, multi);
        for (size_t i = 0; i < n; i++)
                attempt_reset(xs[i]);
        curl_multi_cleanup(multi);
        return 0;
}
