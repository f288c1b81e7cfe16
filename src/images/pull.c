/* The pull worker: resolve, documents, concurrent layer fetches streamed into ingests (and into apply streams
 * when the parent snapshot is ready), the unpacker thread, the image record (see pull.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "basic/event.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "images/mediatype.h"
#include "images/platform.h"
#include "images/pull.h"
#include "images/reference.h"
#include "images/unpack.h"

#define NOTIFY_INTERVAL_USEC (100 * 1000)
#define MAX_PARALLEL_FETCHES 4
/* How long a layer's first bytes wait for the unpacker to offer them an apply stream (see layer_write). */
#define OFFER_WAIT_USEC (1000 * 1000)
#define MAX_INDEX_DEPTH 4

typedef enum stream_state {
        STREAM_NONE,
        STREAM_OFFERED,  /* the unpacker prepared an apply stream for the layer's bytes */
        STREAM_ATTACHED, /* the fetch feeds it from the first byte on */
        STREAM_BROKEN,   /* extraction failed while fed: apply_stream_finish reports why */
} stream_state;

typedef struct pull_layer {
        puller *p;
        size_t index;
        size_t blob; /* index in the progress list */
        const oci_descriptor *desc;
        char *ref;
        content_writer *w;
        registry_fetch f;
        /* shared with the unpacker, under p->mu */
        bool present;    /* committed in the content store */
        bool fetch_done; /* nothing more will happen to the content (present or failed) */
        bool bytes_seen; /* the fetch started delivering (or resumes): too late to attach a stream */
        stream_state stream_state;
        apply_stream *stream;
        bool offer_settled; /* the unpacker will not offer this layer a stream later than now */
        /* fetch thread only */
        bool first_write_seen;
} pull_layer;

struct puller {
        char *db_path;
        content_store *content;
        snapshotter *sn;
        char *ns;
        image_ref *ref;
        platform_matcher *matcher;
        meta_labels labels;
        registry *reg;
        void (*notify)(void *userdata);
        void *userdata;
        void (*content_lock)(void);
        void (*content_unlock)(void);
        int64_t rate_limit; /* bytes/s, 0: none (test knob BERTHD_PULL_RATE_LIMIT) */
        bool unpacking;     /* the unpacker thread runs for the current pull */

        pthread_t thread;
        bool started;
        atomic_bool cancel;

        pthread_mutex_t mu;
        pthread_cond_t cond;
        pull_blob_progress *blobs;
        size_t n_blobs;
        const char *phase;
        bool finished;
        berr *error;
        char *res_name, *res_digest, *res_media_type;
        int64_t res_size;
        int64_t started_usec;
        int64_t elapsed_ms;
        uint64_t last_notify_usec;
        atomic_int_fast64_t fetched_bytes;
        atomic_int_fast64_t resumed_bytes;

        /* the current pull (worker and unpacker threads) */
        unpack_env *fetch_env;
        pull_layer *layers;
        size_t n_layers;
        char **diff_ids;
        char **chain;
        const char *config_digest;
        berr *unpack_error;
        bool unpack_missed_layer; /* unpack_error only says a layer's download failed */
};

const char *pull_blob_status_to_string(pull_blob_status s) {
        static const char *const names[] = { "waiting", "downloading", "unpacking", "done", "exists" };
        return (unsigned) s < ELEMENTSOF(names) ? names[s] : "unknown";
}

void pull_progress_done(pull_progress *p) {
        for (size_t i = 0; i < p->n_blobs; i++) {
                free(p->blobs[i].digest);
                free(p->blobs[i].media_type);
        }
        free(p->blobs);
        berr_free(p->error);
        free(p->name);
        free(p->digest);
        free(p->media_type);
        *p = (pull_progress) { 0 };
}

static berr *berr_copy(const berr *e) {
        berr *c = NULL;
        if (e)
                berr_set(&c, e->code, e->errnum, "%s", e->msg);
        return c;
}

/* ---- progress ---- */

static void notify_locked(puller *p, bool force) {
        uint64_t now = now_monotonic_usec();
        if (!force && now - p->last_notify_usec < NOTIFY_INTERVAL_USEC)
                return;
        p->last_notify_usec = now;
        if (p->notify)
                p->notify(p->userdata);
}

static size_t blob_add(puller *p, const oci_descriptor *d) {
        pthread_mutex_lock(&p->mu);
        size_t i;
        for (i = 0; i < p->n_blobs; i++)
                if (strcmp(p->blobs[i].digest, d->digest) == 0)
                        goto out;
        p->blobs = xrealloc(p->blobs, (p->n_blobs + 1) * sizeof *p->blobs);
        p->blobs[i] = (pull_blob_progress) {
                .digest = xstrdup(d->digest),
                .media_type = xstrdup(d->media_type ? d->media_type : ""),
                .total = d->size,
        };
        p->n_blobs++;
        notify_locked(p, false);
out:
        pthread_mutex_unlock(&p->mu);
        return i;
}

static void blob_set_locked(puller *p, size_t i, pull_blob_status st, int64_t offset) {
        p->blobs[i].status = st;
        if (offset >= 0)
                p->blobs[i].offset = offset;
        notify_locked(p, st != PULL_BLOB_DOWNLOADING);
}

static void blob_set(puller *p, size_t i, pull_blob_status st, int64_t offset) {
        pthread_mutex_lock(&p->mu);
        blob_set_locked(p, i, st, offset);
        pthread_mutex_unlock(&p->mu);
}

static void set_phase(puller *p, const char *phase) {
        pthread_mutex_lock(&p->mu);
        p->phase = phase;
        notify_locked(p, true);
        pthread_mutex_unlock(&p->mu);
}

void puller_progress(puller *p, pull_progress *ret) {
        *ret = (pull_progress) { 0 };
        pthread_mutex_lock(&p->mu);
        ret->blobs = xcalloc(p->n_blobs ? p->n_blobs : 1, sizeof *ret->blobs);
        for (size_t i = 0; i < p->n_blobs; i++) {
                ret->blobs[i] = p->blobs[i];
                ret->blobs[i].digest = xstrdup(p->blobs[i].digest);
                ret->blobs[i].media_type = xstrdup(p->blobs[i].media_type);
        }
        ret->n_blobs = p->n_blobs;
        ret->phase = p->phase;
        ret->finished = p->finished;
        ret->error = berr_copy(p->error);
        ret->name = p->res_name ? xstrdup(p->res_name) : NULL;
        ret->digest = p->res_digest ? xstrdup(p->res_digest) : NULL;
        ret->media_type = p->res_media_type ? xstrdup(p->res_media_type) : NULL;
        ret->size = p->res_size;
        ret->elapsed_ms = p->elapsed_ms;
        ret->fetched_bytes = atomic_load(&p->fetched_bytes);
        ret->resumed_bytes = atomic_load(&p->resumed_bytes);
        pthread_mutex_unlock(&p->mu);
}

/* ---- documents ---- */

/* The document's bytes: from the content store when the namespace has it, else from the registry. */
static int get_document(puller *p, const unpack_env *env, const oci_descriptor *d, size_t blob, char **ret,
                        size_t *ret_len, bool *ret_existed, berr **err) {
        bool present;
        if (unpack_content_present(env, d->digest, d->size, &present, err) < 0)
                return -1;
        *ret_existed = present;
        if (present)
                return unpack_content_read(env, d->digest, OCI_DOCUMENT_MAX_SIZE, ret, ret_len, err);
        blob_set(p, blob, PULL_BLOB_DOWNLOADING, 0);
        if (registry_fetch_manifest(p->reg, p->ref, d, ret, ret_len, err) < 0)
                return -1;
        atomic_fetch_add(&p->fetched_bytes, (int64_t) *ret_len);
        return 0;
}

static int store_document(puller *p, const unpack_env *env, const oci_descriptor *d, size_t blob, const char *body,
                          size_t len, bool existed, const meta_labels *labels, berr **err) {
        if (existed) {
                if (unpack_content_label(env, d->digest, labels, err) < 0)
                        return -1;
                blob_set(p, blob, PULL_BLOB_EXISTS, (int64_t) len);
                return 0;
        }
        _cleanup_free_ char *ref = unpack_ingest_ref(d->media_type, d->digest);
        if (unpack_content_put(env, ref, d->digest, body, len, labels, err) < 0)
                return -1;
        blob_set(p, blob, PULL_BLOB_DONE, (int64_t) len);
        return 0;
}

static void add_source_label(const puller *p, meta_labels *l) {
        unpack_distribution_label(p->ref->domain, p->ref->path, l);
}

/* ---- layer fetches (the worker thread, inside registry_fetch_all) ---- */

static void throttle(puller *p, size_t len) {
        if (p->rate_limit <= 0)
                return;
        int64_t fetched = atomic_load(&p->fetched_bytes);
        int64_t due_usec = fetched * 1000000 / p->rate_limit;
        int64_t elapsed = (int64_t) now_monotonic_usec() - p->started_usec;
        if (due_usec > elapsed) {
                int64_t d = due_usec - elapsed;
                nanosleep(&(struct timespec) { .tv_sec = d / 1000000, .tv_nsec = (d % 1000000) * 1000 }, NULL);
        }
}

static int layer_commit(pull_layer *L, berr **err) {
        puller *p = L->p;
        meta_labels labels = { 0 };
        add_source_label(p, &labels);
        content_writer *w = TAKE_PTR(L->w);
        int r = unpack_writer_commit(p->fetch_env, w, L->ref, L->desc->digest, L->desc->size, &labels, err);
        meta_labels_done(&labels);
        pthread_mutex_lock(&p->mu);
        L->fetch_done = true;
        L->present = r == 0;
        if (r == 0)
                blob_set_locked(p, L->blob, L->stream_state == STREAM_ATTACHED ? PULL_BLOB_UNPACKING : PULL_BLOB_DONE,
                                L->desc->size);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
        return r;
}

static bool earlier_layers_fetched_locked(const puller *p, size_t i) {
        for (size_t j = 0; j < i; j++)
                if (!p->layers[j].fetch_done)
                        return false;
        return true;
}

/* The first bytes of a layer whose predecessors are all downloaded: give the unpacker (finishing the previous
 * layer's extraction) a moment to offer an apply stream, so this layer is extracted while it downloads instead
 * of read back from the content store afterwards. Waiting cannot deadlock: the unpacker needs nothing more from
 * this thread for the earlier layers, and it settles the offer whatever happens (bounded by OFFER_WAIT_USEC
 * anyway: another pull may hold the chain lock, or the previous layer, not streamed because it resumed, is
 * still being extracted from the store). */
static void wait_for_offer_locked(puller *p, pull_layer *L) {
        if (!p->unpacking || L->offer_settled || !earlier_layers_fetched_locked(p, L->index))
                return;
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += (OFFER_WAIT_USEC % 1000000) * 1000;
        deadline.tv_sec += OFFER_WAIT_USEC / 1000000 + deadline.tv_nsec / 1000000000;
        deadline.tv_nsec %= 1000000000;
        while (!L->offer_settled && !atomic_load(&p->cancel))
                if (pthread_cond_timedwait(&p->cond, &p->mu, &deadline) == ETIMEDOUT)
                        break;
}

static int layer_write(const void *buf, size_t len, void *userdata) {
        pull_layer *L = userdata;
        puller *p = L->p;
        if (!L->first_write_seen) {
                L->first_write_seen = true;
                pthread_mutex_lock(&p->mu);
                if (L->f.offset == 0)
                        wait_for_offer_locked(p, L);
                L->bytes_seen = true;
                /* Only a download from the first byte can feed an extraction. */
                if (L->stream_state == STREAM_OFFERED && L->f.offset == 0)
                        L->stream_state = STREAM_ATTACHED;
                pthread_mutex_unlock(&p->mu);
        }
        if (!L->w)
                return berr_set(&L->f.error, BERR_INTERNAL, 0, "blob %s: no writer", L->desc->digest);
        if (content_writer_write(L->w, buf, len, &L->f.error) < 0)
                return -1;
        atomic_fetch_add(&p->fetched_bytes, (int64_t) len);
        if (L->stream_state == STREAM_ATTACHED) {
                _cleanup_berr_ berr *e = NULL;
                if (apply_stream_feed(L->stream, buf, len, &e) < 0) {
                        /* Keep downloading: the content is still good; the unpacker reports the extraction error. */
                        log_debug("extraction of %s failed while streaming: %s", L->desc->digest, e->msg);
                        pthread_mutex_lock(&p->mu);
                        L->stream_state = STREAM_BROKEN;
                        pthread_mutex_unlock(&p->mu);
                }
        }
        int64_t off = content_writer_offset(L->w);
        pthread_mutex_lock(&p->mu);
        blob_set_locked(p, L->blob, PULL_BLOB_DOWNLOADING, off);
        pthread_mutex_unlock(&p->mu);
        throttle(p, len);
        /* The last byte: commit now, so the unpacker need not wait for the other downloads. */
        if (off == L->desc->size && layer_commit(L, &L->f.error) < 0)
                return -1;
        return 0;
}

/* ---- the unpacker thread ---- */

/* Layers from `from` on will not be offered a stream (beyond what they have now): stop waiting for one. */
static void offers_settle(puller *p, size_t from, size_t to) {
        pthread_mutex_lock(&p->mu);
        for (size_t i = from; i < to; i++)
                p->layers[i].offer_settled = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
}

static int unpack_one(puller *p, const unpack_env *env, size_t i, berr **err) {
        pull_layer *L = &p->layers[i];
        unpack_layer ul;
        bool exists;
        if (unpack_layer_begin(env, p->chain[i], i ? p->chain[i - 1] : NULL, &L->desc->annotations, &ul, &exists,
                               err) < 0)
                return -1;
        if (exists) {
                offers_settle(p, i, i + 1);
                return 0;
        }

        /* Offer an apply stream while the layer's download has not delivered anything yet. */
        apply_stream *s = NULL;
        pthread_mutex_lock(&p->mu);
        bool can_stream = !L->present && !L->bytes_seen && !L->fetch_done;
        pthread_mutex_unlock(&p->mu);
        if (can_stream) {
                apply_options o = unpack_layer_apply_options(&ul);
                if (apply_stream_start(ul.target.root_fd, &o, &s, err) < 0) {
                        unpack_layer_abort(env, &ul);
                        return -1;
                }
                pthread_mutex_lock(&p->mu);
                if (!L->bytes_seen && !L->fetch_done) {
                        L->stream = s;
                        L->stream_state = STREAM_OFFERED;
                        s = NULL;
                }
                pthread_mutex_unlock(&p->mu);
                if (s) {
                        apply_stream_abort(s);
                        s = NULL;
                }
        }
        offers_settle(p, i, i + 1);

        pthread_mutex_lock(&p->mu);
        while (!L->fetch_done)
                pthread_cond_wait(&p->cond, &p->mu);
        stream_state st = L->stream_state;
        bool present = L->present;
        s = TAKE_PTR(L->stream);
        L->stream_state = STREAM_NONE;
        if (present && st != STREAM_ATTACHED && st != STREAM_BROKEN)
                blob_set_locked(p, L->blob, PULL_BLOB_UNPACKING, -1);
        pthread_mutex_unlock(&p->mu);

        if (!present) {
                if (s)
                        apply_stream_abort(s);
                unpack_layer_abort(env, &ul);
                p->unpack_missed_layer = true;
                return berr_set(err, BERR_ABORTED, 0, "layer %s was not fetched", L->desc->digest);
        }
        apply_result res;
        int r;
        if (st == STREAM_ATTACHED || st == STREAM_BROKEN)
                r = apply_stream_finish(s, &res, err);
        else {
                if (s)
                        apply_stream_abort(s);
                r = unpack_layer_apply_blob(env, &ul, L->desc->digest, &res, err);
        }
        if (r < 0) {
                berr_wrap(err, "failed to extract layer %s", p->diff_ids[i]);
                unpack_layer_abort(env, &ul);
                return -1;
        }
        if (unpack_layer_commit(env, &ul, L->desc->digest, p->diff_ids[i], &res, err) < 0)
                return -1;
        blob_set(p, L->blob, PULL_BLOB_DONE, -1);
        log_debug("unpacked layer %s as %s (%s)", L->desc->digest, p->chain[i],
                  st == STREAM_ATTACHED ? "streamed" : "from the content store");
        return 0;
}

static void *unpacker_main(void *arg) {
        puller *p = arg;
        berr *e = NULL;
        _cleanup_meta_db_ meta_db *db = NULL;
        if (meta_db_open(p->db_path, &db, &e) == 0) {
                unpack_env env = *p->fetch_env;
                env.db = db;
                size_t i;
                for (i = 0; i < p->n_layers; i++)
                        if (unpack_one(p, &env, i, &e) < 0)
                                break;
                if (i == p->n_layers && p->n_layers > 0)
                        unpack_label_config(&env, p->config_digest, p->chain[p->n_layers - 1], &e);
        }
        offers_settle(p, 0, p->n_layers);
        p->unpack_error = e;
        /* Nothing will use the remaining downloads: stop them. */
        if (e)
                registry_cancel(p->reg);
        return NULL;
}

/* ---- the worker ---- */

static void layers_free(puller *p) {
        for (size_t i = 0; i < p->n_layers; i++) {
                pull_layer *L = &p->layers[i];
                content_writer_close(L->w);
                if (L->stream)
                        apply_stream_abort(L->stream);
                registry_fetch_done(&L->f);
                free(L->ref);
        }
        free(p->layers);
        p->layers = NULL;
        p->n_layers = 0;
        p->diff_ids = strv_free(p->diff_ids);
        p->chain = strv_free(p->chain);
        berr_free(p->unpack_error);
        p->unpack_error = NULL;
        p->unpack_missed_layer = false;
}

/* Nothing more will happen to the layer's content. */
static void layer_settle(pull_layer *L, bool present) {
        pthread_mutex_lock(&L->p->mu);
        L->present = present;
        L->fetch_done = true;
        pthread_cond_broadcast(&L->p->cond);
        pthread_mutex_unlock(&L->p->mu);
}

static int fetch_layers(puller *p, const unpack_env *env, const oci_manifest *m, const oci_image_config *config,
                        berr **err) {
        pthread_t unpacker;
        bool unpacking = false;
        p->n_layers = m->n_layers;
        p->layers = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *p->layers);
        if (env->sn) {
                size_t nd = strv_length(config->diff_ids);
                if (nd != m->n_layers)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "number of layers and diffIDs don't match: %zu != %zu: invalid argument",
                                        m->n_layers, nd);
                p->diff_ids = strv_copy_n(config->diff_ids, nd);
                p->chain = unpack_chain_ids(config->diff_ids, nd);
        }
        registry_fetch **fetches = xcalloc(m->n_layers ? m->n_layers : 1, sizeof *fetches);
        size_t nf = 0;
        int r = -1;
        _cleanup_berr_ berr *fe = NULL;
        for (size_t i = 0; i < m->n_layers; i++) {
                pull_layer *L = &p->layers[i];
                *L = (pull_layer) { .p = p, .index = i, .desc = &m->layers[i] };
                L->blob = blob_add(p, L->desc);
        }
        /* The unpacker starts first, so it can offer the first layer an apply stream before its bytes arrive. */
        unpacking = env->sn && m->n_layers > 0;
        if (unpacking && pthread_create(&unpacker, NULL, unpacker_main, p) != 0) {
                berr_errno(err, errno, "cannot start the unpacker thread");
                unpacking = false;
                goto out;
        }
        p->unpacking = unpacking;
        for (size_t i = 0; i < m->n_layers; i++) {
                pull_layer *L = &p->layers[i];
                layer_compression c;
                if (mediatype_layer_compression(L->desc->media_type, &c, err) < 0)
                        goto out;
                bool present;
                if (unpack_content_present(env, L->desc->digest, L->desc->size, &present, err) < 0)
                        goto out;
                meta_labels labels = { 0 };
                add_source_label(p, &labels);
                if (present) {
                        int lr = unpack_content_label(env, L->desc->digest, &labels, err);
                        meta_labels_done(&labels);
                        if (lr < 0)
                                goto out;
                        layer_settle(L, true);
                        blob_set(p, L->blob, PULL_BLOB_EXISTS, L->desc->size);
                        continue;
                }
                L->ref = unpack_ingest_ref(L->desc->media_type, L->desc->digest);
                _cleanup_berr_ berr *e = NULL;
                if (unpack_writer_open(env, L->ref, L->desc->digest, L->desc->size, &L->w, &e) < 0) {
                        if (e->code != BERR_ALREADY_EXISTS) {
                                meta_labels_done(&labels);
                                *err = TAKE_PTR(e);
                                goto out;
                        }
                        /* Committed by a concurrent pull between our check and the open. */
                        int lr = unpack_content_record(env, L->desc->digest, L->desc->size, &labels, L->ref, err);
                        meta_labels_done(&labels);
                        if (lr < 0)
                                goto out;
                        layer_settle(L, true);
                        blob_set(p, L->blob, PULL_BLOB_EXISTS, L->desc->size);
                        continue;
                }
                meta_labels_done(&labels);
                int64_t off = content_writer_offset(L->w);
                if (off > 0) {
                        pthread_mutex_lock(&p->mu);
                        L->bytes_seen = true; /* the prefix is on disk only: apply this one from the store */
                        pthread_mutex_unlock(&p->mu);
                        atomic_fetch_add(&p->resumed_bytes, off);
                        log_info("resuming %s at %" PRId64 " of %" PRId64 " bytes", L->desc->digest, off,
                                 L->desc->size);
                }
                blob_set(p, L->blob, PULL_BLOB_WAITING, off);
                L->f = (registry_fetch) {
                        .desc = L->desc,
                        .offset = (uint64_t) off,
                        .write = layer_write,
                        .userdata = L,
                        /* No digest in the fetch: the ingest hashes the same bytes, and its commit (with the
                         * expected digest and size) rejects a mismatch before the blob becomes visible, and
                         * before the unpacker may commit a snapshot made from the streamed bytes. */
                        .verify = false,
                };
                if (off == L->desc->size) {
                        /* Everything is already on disk: just commit. */
                        if (layer_commit(L, err) < 0)
                                goto out;
                        continue;
                }
                fetches[nf++] = &L->f;
        }

        /* While unpacking, one layer at a time, in order: the pull is then limited by CPU (hashing, writing,
         * extracting), not by the network, and in-order downloads let each layer stream into its extraction
         * (see wait_for_offer_locked) while the next one downloads, where concurrent downloads all finish
         * together and leave most layers to be extracted afterwards. */
        unsigned parallel = unpacking ? 1 : MAX_PARALLEL_FETCHES;
        int fr = nf > 0 ? registry_fetch_all(p->reg, p->ref, fetches, nf, parallel, &fe) : 0;
        /* Settle every layer: commit what completed without a final write (empty blobs), keep the rest as ingests
         * to resume from, and tell the unpacker. */
        for (size_t i = 0; i < nf; i++) {
                pull_layer *L = (pull_layer *) fetches[i]->userdata;
                if (L->w && L->f.finished) {
                        berr *ce = NULL;
                        if (layer_commit(L, &ce) < 0) {
                                if (fr == 0) {
                                        fe = ce;
                                        fr = -1;
                                } else
                                        berr_free(ce);
                        }
                }
                pthread_mutex_lock(&p->mu);
                L->w = content_writer_close(L->w);
                L->fetch_done = true;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->mu);
        }
        if (fr == 0 && unpacking)
                set_phase(p, "unpacking");
        if (unpacking) {
                pthread_join(unpacker, NULL);
                unpacking = p->unpacking = false;
        }
        if (atomic_load(&p->cancel)) {
                berr_set(err, BERR_CANCELED, ECANCELED, "context canceled");
                goto out;
        }
        /* An extraction failure stopped the downloads: it is the cause, the fetch error its consequence. Unless
         * the unpacker only gave up on a layer whose download failed ("was not fetched"): then the
         * download's error (e.g. a digest mismatch) is the cause. */
        if (p->unpack_error && !(fr < 0 && p->unpack_missed_layer)) {
                *err = TAKE_PTR(p->unpack_error);
                berr_wrap(err, "unpack");
                goto out;
        }
        if (fr < 0) {
                *err = TAKE_PTR(fe);
                goto out;
        }
        r = 0;
out:
        if (unpacking) {
                /* Failed before the downloads ran: release the unpacker. */
                for (size_t i = 0; i < p->n_layers; i++)
                        if (!p->layers[i].present)
                                layer_settle(&p->layers[i], false);
                pthread_join(unpacker, NULL);
        }
        p->unpacking = false;
        free(fetches);
        return r;
}

static int resolve_manifest(puller *p, const unpack_env *env, const oci_descriptor *root, oci_manifest **ret_m,
                            oci_descriptor *ret_desc, berr **err) {
        oci_descriptor cur = { 0 };
        oci_descriptor_copy(&cur, root);
        int r = -1;
        for (unsigned depth = 0;; depth++) {
                size_t blob = blob_add(p, &cur);
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                bool existed = false;
                if (get_document(p, env, &cur, blob, &body, &len, &existed, err) < 0)
                        goto out;
                meta_labels labels = { 0 };
                add_source_label(p, &labels);
                if (mediatype_is_index(cur.media_type) || (mediatype_is_generic(cur.media_type) && depth == 0 &&
                                                           strstr(body, "\"manifests\""))) {
                        _cleanup_oci_index_ oci_index *idx = NULL;
                        if (oci_index_parse(body, len, cur.media_type, &idx, err) < 0) {
                                meta_labels_done(&labels);
                                goto out;
                        }
                        unpack_children_labels(idx->manifests, idx->n_manifests, &labels);
                        int sr = store_document(p, env, &cur, blob, body, len, existed, &labels, err);
                        meta_labels_done(&labels);
                        if (sr < 0)
                                goto out;
                        if (depth >= MAX_INDEX_DEPTH) {
                                berr_set(err, BERR_INVALID_ARGUMENT, 0, "indexes nested too deeply: invalid argument");
                                goto out;
                        }
                        const oci_descriptor *sel;
                        if (oci_index_select(idx, p->matcher, cur.digest, &sel, err) < 0)
                                goto out;
                        oci_descriptor next = { 0 };
                        oci_descriptor_copy(&next, sel);
                        oci_descriptor_done(&cur);
                        cur = next;
                        continue;
                }
                oci_manifest *m = NULL;
                if (oci_manifest_parse(body, len, cur.media_type, &m, err) < 0) {
                        meta_labels_done(&labels);
                        goto out;
                }
                size_t nch = m->n_layers + 1;
                oci_descriptor *children = xcalloc(nch, sizeof *children);
                children[0] = m->config;
                for (size_t i = 0; i < m->n_layers; i++)
                        children[i + 1] = m->layers[i];
                unpack_children_labels(children, nch, &labels);
                free(children); /* shallow copies */
                int sr = store_document(p, env, &cur, blob, body, len, existed, &labels, err);
                meta_labels_done(&labels);
                if (sr < 0) {
                        oci_manifest_free(m);
                        goto out;
                }
                *ret_m = m;
                *ret_desc = cur;
                cur = (oci_descriptor) { 0 };
                r = 0;
                break;
        }
out:
        oci_descriptor_done(&cur);
        return r;
}

static int save_image(puller *p, const unpack_env *env, const char *name, const oci_descriptor *root, berr **err) {
        meta_image img = {
                .name = (char *) name,
                .target = { .media_type = root->media_type, .digest = root->digest, .size = root->size },
        };
        meta_labels_copy(&img.labels, &p->labels);
        _cleanup_berr_ berr *e = NULL;
        int r = meta_image_create(env->db, env->ns, &img, NULL, &e);
        if (r < 0 && e->code == BERR_ALREADY_EXISTS) {
                berr_freep(&e);
                r = meta_image_update(env->db, env->ns, &img, NULL, 0, NULL, &e);
        }
        meta_labels_done(&img.labels);
        if (r < 0)
                *err = TAKE_PTR(e);
        return r;
}

static int pull_run(puller *p, berr **err) {
        _cleanup_meta_db_ meta_db *db = NULL;
        if (meta_db_open(p->db_path, &db, err) < 0)
                return -1;
        _cleanup_free_ char *lease = NULL;
        if (unpack_lease_create(db, p->ns, "pull", &lease, err) < 0)
                return -1;
        unpack_env env = {
                .db = db, .content = p->content, .ns = p->ns, .lease = lease, .sn = p->sn, .cancel = &p->cancel,
                .content_lock = p->content_lock, .content_unlock = p->content_unlock,
        };
        p->fetch_env = &env;
        _cleanup_free_ char *name = image_ref_to_string(p->ref);

        set_phase(p, "resolving");
        _cleanup_oci_descriptor_ oci_descriptor *root = NULL;
        if (registry_resolve(p->reg, p->ref, &root, err) < 0)
                return berr_wrap(err, "failed to resolve reference \"%s\"", name);

        set_phase(p, "fetching");
        oci_manifest *m = NULL;
        oci_descriptor mdesc = { 0 };
        _cleanup_oci_image_config_ oci_image_config *config = NULL;
        _cleanup_free_ char *cbody = NULL;
        _cleanup_berr_ berr *le = NULL;
        int r = -1;
        if (resolve_manifest(p, &env, root, &m, &mdesc, err) < 0)
                goto out;
        size_t cblob = blob_add(p, &m->config);
        size_t clen = 0;
        bool existed;
        if (get_document(p, &env, &m->config, cblob, &cbody, &clen, &existed, err) < 0)
                goto out;
        meta_labels clabels = { 0 };
        add_source_label(p, &clabels);
        r = store_document(p, &env, &m->config, cblob, cbody, clen, existed, &clabels, err);
        meta_labels_done(&clabels);
        if (r < 0)
                goto out;
        r = -1;
        if (oci_image_config_parse(cbody, clen, &config, err) < 0)
                goto out;
        p->config_digest = m->config.digest;
        if (fetch_layers(p, &env, m, config, err) < 0)
                goto out;
        if (save_image(p, &env, name, root, err) < 0)
                goto out;
        if (meta_lease_delete(db, p->ns, lease, &le) < 0)
                log_warn("cannot delete lease %s: %s", lease, le->msg);
        pthread_mutex_lock(&p->mu);
        p->res_name = xstrdup(name);
        p->res_digest = xstrdup(root->digest);
        p->res_media_type = xstrdup(root->media_type);
        p->res_size = root->size;
        pthread_mutex_unlock(&p->mu);
        r = 0;
out:
        if (r < 0 && unpack_check_cancel(&env, NULL) < 0)
                berr_set(err, BERR_CANCELED, ECANCELED, "context canceled");
        /* On failure the lease stays until it expires: it keeps the partial ingests for a resumed pull. */
        layers_free(p);
        p->fetch_env = NULL;
        oci_manifest_free(m);
        oci_descriptor_done(&mdesc);
        return r;
}

static void *pull_main(void *arg) {
        puller *p = arg;
        berr *e = NULL;
        int r = pull_run(p, &e);
        if (r < 0)
                log_info("pull %s failed: %s", p->ref ? p->ref->path : "", e->msg);
        pthread_mutex_lock(&p->mu);
        p->finished = true;
        p->error = r < 0 ? e : NULL;
        p->phase = r < 0 ? p->phase : "done";
        p->elapsed_ms = ((int64_t) now_monotonic_usec() - p->started_usec) / 1000;
        notify_locked(p, true);
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

/* ---- lifecycle ---- */

int puller_new(const pull_config *cfg, puller **ret, berr **err) {
        puller *p = xcalloc(1, sizeof *p);
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cond, NULL);
        p->db_path = xstrdup(cfg->db_path);
        p->content = cfg->content;
        p->sn = cfg->sn;
        p->ns = xstrdup(cfg->ns);
        p->notify = cfg->notify;
        p->content_lock = cfg->content_lock;
        p->content_unlock = cfg->content_unlock;
        p->userdata = cfg->userdata;
        p->phase = "resolving";
        meta_labels_copy(&p->labels, cfg->labels);
        const char *limit = getenv("BERTHD_PULL_RATE_LIMIT");
        if (limit)
                p->rate_limit = strtoll(limit, NULL, 10);
        if (!cfg->ref || !*cfg->ref) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "ref must not be empty: invalid argument");
                goto fail;
        }
        if (image_ref_parse_normalized(cfg->ref, &p->ref, err) < 0) {
                berr_wrap(err, "failed to parse reference \"%s\"", cfg->ref);
                goto fail;
        }
        if (cfg->platform && *cfg->platform) {
                oci_platform plat = { 0 };
                if (platform_parse(cfg->platform, &plat, err) < 0) {
                        berr_wrap(err, "invalid platform %s", cfg->platform);
                        goto fail;
                }
                p->matcher = platform_matcher_only(&plat);
                platform_done(&plat);
        } else
                p->matcher = platform_matcher_default();
        if (registry_new(&cfg->registry, &p->reg, err) < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        puller_free(p);
        return -1;
}

int puller_start(puller *p, berr **err) {
        p->started_usec = (int64_t) now_monotonic_usec();
        int r = pthread_create(&p->thread, NULL, pull_main, p);
        if (r != 0)
                return berr_errno(err, r, "cannot start the pull thread");
        p->started = true;
        return 0;
}

void puller_cancel(puller *p) {
        atomic_store(&p->cancel, true);
        if (p->reg)
                registry_cancel(p->reg);
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->mu);
}

puller *puller_free(puller *p) {
        if (!p)
                return NULL;
        if (p->started) {
                pthread_mutex_lock(&p->mu);
                bool finished = p->finished;
                pthread_mutex_unlock(&p->mu);
                if (!finished)
                        puller_cancel(p);
                pthread_join(p->thread, NULL);
        }
        registry_free(p->reg);
        platform_matcher_free(p->matcher);
        image_ref_free(p->ref);
        meta_labels_done(&p->labels);
        for (size_t i = 0; i < p->n_blobs; i++) {
                free(p->blobs[i].digest);
                free(p->blobs[i].media_type);
        }
        free(p->blobs);
        berr_free(p->error);
        free(p->res_name);
        free(p->res_digest);
        free(p->res_media_type);
        free(p->db_path);
        free(p->ns);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
}
