/* Content records, ingests and leases for blobs an image operation stores (see unpack.h). */
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "images/mediatype.h"
#include "images/unpack.h"
#include "metadata/util.h"

int unpack_check_cancel(const unpack_env *env, berr **err) {
        if (env->cancel && atomic_load(env->cancel))
                return berr_set(err, BERR_CANCELED, ECANCELED, "context canceled");
        return 0;
}

static void format_rfc3339(int64_t ns, char *buf, size_t size) {
        time_t t = (time_t) (ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int unpack_lease_create(meta_db *db, const char *ns, const char *what, char **ret_id, berr **err) {
        uint8_t rnd[6] = { 0 };
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                return berr_errno(err, errno, "getrandom");
        _cleanup_free_ char *id = xasprintf("berth-%s-%02x%02x%02x%02x%02x%02x", what, rnd[0], rnd[1], rnd[2],
                                            rnd[3], rnd[4], rnd[5]);
        char expire[64];
        format_rfc3339(meta_now_ns() + UNPACK_LEASE_EXPIRY_NS, expire, sizeof expire);
        meta_labels labels = { 0 };
        meta_labels_set(&labels, META_LABEL_GC_EXPIRE, expire);
        int r = meta_lease_create(db, ns, id, &labels, NULL, err);
        meta_labels_done(&labels);
        if (r < 0)
                return -1;
        *ret_id = TAKE_PTR(id);
        return 0;
}

char *unpack_ingest_ref(const char *media_type, const char *digest) {
        const char *kind = "unknown";
        if (mediatype_is_manifest(media_type))
                kind = "manifest";
        else if (mediatype_is_index(media_type))
                kind = "index";
        else if (mediatype_is_layer(media_type))
                kind = "layer";
        else if (mediatype_is_config(media_type))
                kind = "config";
        return xasprintf("%s-%s", kind, digest);
}

static void content_lock(const unpack_env *env) {
        if (env->content_lock)
                env->content_lock();
}

static void content_unlock(const unpack_env *env) {
        if (env->content_unlock)
                env->content_unlock();
}

static int hold_content(const unpack_env *env, const char *digest, berr **err) {
        return meta_lease_hold(env->db, env->ns, env->lease, "content", digest, err);
}

static int content_present(const unpack_env *env, const char *digest, int64_t size, bool *ret, berr **err) {
        content_info ci;
        _cleanup_berr_ berr *e = NULL;
        if (content_info_get(env->content, digest, &ci, &e) < 0) {
                if (e->code != BERR_NOT_FOUND) {
                        *err = TAKE_PTR(e);
                        return -1;
                }
                *ret = false;
                return 0;
        }
        if (size > 0 && ci.size != size) {
                /* Not what the descriptor promises: never reuse it (a fetch will fail on the digest anyway). */
                *ret = false;
                return 0;
        }
        meta_content_info info = { 0 };
        if (meta_content_get(env->db, env->ns, digest, &info, &e) == 0) {
                meta_content_info_done(&info);
                if (hold_content(env, digest, err) < 0)
                        return -1;
                *ret = true;
                return 0;
        }
        if (e->code != BERR_NOT_FOUND) {
                *err = TAKE_PTR(e);
                return -1;
        }
        if (unpack_content_record(env, digest, ci.size, NULL, NULL, err) < 0)
                return -1;
        *ret = true;
        return 0;
}

int unpack_content_present(const unpack_env *env, const char *digest, int64_t size, bool *ret, berr **err) {
        content_lock(env);
        int r = content_present(env, digest, size, ret, err);
        content_unlock(env);
        return r;
}

/* containerd's appendDistributionSourceLabel: the union of repositories, sorted, comma-separated. */
static char *merge_sources(const char *old, const char *add) {
        _cleanup_(strv_freep) char **l = old && *old ? strv_split(old, ',') : NULL;
        if (!strv_contains(l, add))
                strv_extend(&l, add);
        size_t n = strv_length(l);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(l[j - 1], l[j]) > 0; j--) {
                        char *t = l[j - 1];
                        l[j - 1] = l[j];
                        l[j] = t;
                }
        return strv_join(l, ",");
}

int unpack_content_label(const unpack_env *env, const char *digest, const meta_labels *labels, berr **err) {
        if (!labels || labels->n == 0)
                return 0;
        meta_content_info cur = { 0 };
        if (meta_content_get(env->db, env->ns, digest, &cur, err) < 0)
                return -1;
        meta_content_info info = { .digest = (char *) digest };
        char **paths = xcalloc(labels->n, sizeof *paths);
        for (size_t i = 0; i < labels->n; i++) {
                const char *k = labels->v[i].key, *v = labels->v[i].value;
                if (strncmp(k, UNPACK_LABEL_DISTRIBUTION_SOURCE, strlen(UNPACK_LABEL_DISTRIBUTION_SOURCE)) == 0) {
                        _cleanup_free_ char *merged = merge_sources(meta_labels_get(&cur.labels, k), v);
                        if (strlen(k) + strlen(merged) <= META_LABEL_MAX_SIZE)
                                meta_labels_set(&info.labels, k, merged);
                        else
                                log_warn("skip to append distribution label: %s too long", k);
                } else
                        meta_labels_set(&info.labels, k, v);
                paths[i] = xasprintf("labels.%s", k);
        }
        int r = meta_content_update(env->db, env->ns, &info, (const char *const *) paths, labels->n, NULL, err);
        for (size_t i = 0; i < labels->n; i++)
                free(paths[i]);
        free(paths);
        meta_labels_done(&info.labels);
        meta_content_info_done(&cur);
        return r;
}

int unpack_content_record(const unpack_env *env, const char *digest, int64_t size, const meta_labels *labels,
                          const char *ref, berr **err) {
        if (meta_tx_begin(env->db, err) < 0)
                return -1;
        meta_content_info info = { .digest = (char *) digest, .size = size };
        /* A fresh record gets every label but the distribution sources, which merge like any update. */
        bool has_labels = labels && labels->n > 0;
        _cleanup_berr_ berr *e = NULL;
        if (meta_content_add(env->db, env->ns, &info, NULL, &e) < 0 && e->code != BERR_ALREADY_EXISTS) {
                *err = TAKE_PTR(e);
                goto fail;
        }
        if (has_labels && unpack_content_label(env, digest, labels, err) < 0)
                goto fail;
        if (hold_content(env, digest, err) < 0)
                goto fail;
        if (ref) {
                berr_freep(&e);
                if (meta_ingest_delete(env->db, env->ns, ref, &e) < 0 && e->code != BERR_NOT_FOUND) {
                        *err = TAKE_PTR(e);
                        goto fail;
                }
        }
        return meta_tx_commit(env->db, err);
fail:
        meta_tx_rollback(env->db);
        return -1;
}

int unpack_writer_open(const unpack_env *env, const char *ref, const char *digest, int64_t size,
                       content_writer **ret, berr **err) {
        meta_ingest ing = { 0 };
        if (meta_ingest_open(env->db, env->ns, ref, NULL, env->lease, &ing, err) < 0)
                return -1;
        int r = -1;
        /* Another pull of the same blob holds the ingest: wait for it (containerd's fetcher retries the same way),
         * then find the blob committed or take the ingest over. */
        for (unsigned tries = 0;; tries++) {
                _cleanup_berr_ berr *e = NULL;
                if (content_writer_open(env->content, ing.backend_ref, size, digest, ret, &e) == 0) {
                        r = 0;
                        break;
                }
                if (e->code != BERR_UNAVAILABLE || tries > 20 * 600) {
                        *err = TAKE_PTR(e);
                        break;
                }
                if (unpack_check_cancel(env, err) < 0)
                        break;
                if (tries == 0)
                        log_debug("ingest %s is being written by another pull; waiting", ref);
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        meta_ingest_done(&ing);
        return r;
}

int unpack_writer_commit(const unpack_env *env, content_writer *w, const char *ref, const char *digest,
                         int64_t size, const meta_labels *labels, berr **err) {
        content_status st = { 0 };
        content_writer_status(w, &st);
        _cleanup_berr_ berr *e = NULL;
        content_lock(env);
        int r = content_writer_commit(w, size, digest, NULL, &e);
        content_writer_close(w);
        if (r < 0 && e->code != BERR_ALREADY_EXISTS) {
                content_unlock(env);
                /* Bad data must not be resumed from: drop the ingest. */
                if (e->code == BERR_FAILED_PRECONDITION) {
                        content_abort(env->content, st.ref, NULL);
                        meta_ingest_delete(env->db, env->ns, ref, NULL);
                }
                content_status_done(&st);
                *err = TAKE_PTR(e);
                return -1;
        }
        content_status_done(&st);
        r = unpack_content_record(env, digest, size, labels, ref, err);
        content_unlock(env);
        return r;
}

int unpack_content_put(const unpack_env *env, const char *ref, const char *digest, const void *buf, size_t len,
                       const meta_labels *labels, berr **err) {
        bool present;
        if (unpack_content_present(env, digest, (int64_t) len, &present, err) < 0)
                return -1;
        if (present)
                return unpack_content_record(env, digest, (int64_t) len, labels, NULL, err);
        content_writer *w = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (unpack_writer_open(env, ref, digest, (int64_t) len, &w, &e) < 0) {
                if (e->code != BERR_ALREADY_EXISTS) {
                        *err = TAKE_PTR(e);
                        return -1;
                }
                return unpack_content_record(env, digest, (int64_t) len, labels, ref, err);
        }
        if (content_writer_write_at(w, 0, buf, len, err) < 0) {
                content_writer_close(w);
                return -1;
        }
        return unpack_writer_commit(env, w, ref, digest, (int64_t) len, labels, err);
}

int unpack_content_read(const unpack_env *env, const char *digest, size_t max, char **ret, size_t *ret_len,
                        berr **err) {
        _cleanup_(content_reader_freep) content_reader *r = NULL;
        if (content_reader_open(env->content, digest, &r, err) < 0)
                return -1;
        int64_t size = content_reader_size(r);
        if (size < 0 || (uint64_t) size > max)
                return berr_set(err, BERR_INVALID_ARGUMENT, EFBIG,
                                "content %s: %" PRId64 " bytes is more than the %zu allowed", digest, size, max);
        _cleanup_free_ char *buf = xmalloc((size_t) size + 1);
        int64_t off = 0;
        while (off < size) {
                ssize_t n = content_reader_pread(r, buf + off, (size_t) (size - off), off, err);
                if (n < 0)
                        return -1;
                if (n == 0)
                        return berr_set(err, BERR_DATA_LOSS, EIO, "content %s: short read", digest);
                off += n;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = (size_t) size;
        return 0;
}

static bool is_checkpoint_config(const char *mt) {
        return mt && (strcmp(mt, "application/vnd.containerd.container.criu.checkpoint.criu.tar") == 0 ||
                      strcmp(mt, "application/vnd.containerd.container.checkpoint.config.v1+proto") == 0);
}

void unpack_children_labels(const oci_descriptor *children, size_t n, meta_labels *ret) {
        static const char *const prefixes[] = {
                "containerd.io/gc.ref.content.config",
                "containerd.io/gc.ref.content.m.",
                "containerd.io/gc.ref.content.l.",
                "containerd.io/gc.ref.content.",
        };
        unsigned counts[ELEMENTSOF(prefixes)] = { 0 };
        for (size_t i = 0; i < n; i++) {
                const char *mt = children[i].media_type;
                size_t k = 3;
                if (mediatype_is_config(mt) || is_checkpoint_config(mt))
                        k = 0;
                else if (mediatype_is_manifest(mt))
                        k = 1;
                else if (mediatype_is_layer(mt))
                        k = 2;
                unsigned idx = counts[k]++;
                const char *p = prefixes[k];
                _cleanup_free_ char *key = idx > 0 || p[strlen(p) - 1] == '.' ? xasprintf("%s%u", p, idx)
                                                                              : xstrdup(p);
                meta_labels_set(ret, key, children[i].digest);
        }
}

void unpack_distribution_label(const char *domain, const char *repository, meta_labels *ret) {
        /* url.Hostname(): without the port, IPv6 without brackets. */
        _cleanup_free_ char *host = NULL;
        if (domain[0] == '[') {
                const char *end = strchr(domain, ']');
                host = end ? xstrndup(domain + 1, (size_t) (end - domain - 1)) : xstrdup(domain);
        } else
                host = xstrndup(domain, strcspn(domain, ":"));
        _cleanup_free_ char *key = xasprintf("%s%s", UNPACK_LABEL_DISTRIBUTION_SOURCE, host);
        if (strlen(key) + strlen(repository) <= META_LABEL_MAX_SIZE)
                meta_labels_set(ret, key, repository);
}

char **unpack_chain_ids(char *const *diff_ids, size_t n) {
        char **ret = xcalloc(n + 1, sizeof *ret);
        for (size_t i = 0; i < n; i++) {
                if (i == 0) {
                        ret[i] = xstrdup(diff_ids[i]);
                        continue;
                }
                _cleanup_free_ char *joined = xasprintf("%s %s", ret[i - 1], diff_ids[i]);
                char d[DIGEST_STRING_MAX];
                digest_buffer(joined, strlen(joined), d);
                ret[i] = xstrdup(d);
        }
        return ret;
}
