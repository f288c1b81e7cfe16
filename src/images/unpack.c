/* Layer snapshots named by chain ID, as containerd's unpacker makes them (see unpack.h). */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "images/mediatype.h"
#include "images/unpack.h"
#include "metadata/util.h"

/* ---- process-wide chain locks (containerd's lockSnChainID): one extraction per chain at a time ---- */

typedef struct chain_lock {
        char *id; /* "<ns>/<snapshotter>/<chainID>" */
        struct chain_lock *next;
} chain_lock;

static pthread_mutex_t chain_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chain_cond = PTHREAD_COND_INITIALIZER;
static chain_lock *chain_locks;

static bool chain_held_locked(const char *id) {
        for (chain_lock *l = chain_locks; l; l = l->next)
                if (strcmp(l->id, id) == 0)
                        return true;
        return false;
}

static int chain_lock_take(const unpack_env *env, const char *chain_id, void **ret, berr **err) {
        char *id = xasprintf("%s/%s/%s", env->ns, snapshotter_name(env->sn), chain_id);
        pthread_mutex_lock(&chain_mutex);
        while (chain_held_locked(id)) {
                if (env->cancel && atomic_load(env->cancel)) {
                        pthread_mutex_unlock(&chain_mutex);
                        free(id);
                        return berr_set(err, BERR_CANCELED, ECANCELED, "context canceled");
                }
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&chain_cond, &chain_mutex, &ts);
        }
        chain_lock *l = xmalloc(sizeof *l);
        *l = (chain_lock) { .id = id, .next = chain_locks };
        chain_locks = l;
        pthread_mutex_unlock(&chain_mutex);
        *ret = l;
        return 0;
}

static void chain_lock_release(void *p) {
        chain_lock *lock = p;
        if (!lock)
                return;
        pthread_mutex_lock(&chain_mutex);
        for (chain_lock **l = &chain_locks; *l; l = &(*l)->next)
                if (*l == lock) {
                        *l = lock->next;
                        break;
                }
        pthread_cond_broadcast(&chain_cond);
        pthread_mutex_unlock(&chain_mutex);
        free(lock->id);
        free(lock);
}

/* ---- extraction keys ---- */

/* containerd's key is "extract-<nanoseconds>-<random> <chainID>"; ours carries "berth" in the unique part, so a
 * key of a berthd killed mid-extraction is recognisable (and never confused with a containerd client's, which
 * works through the snapshots service and owns its keys). */
#define KEY_MARK "-berth"

static char *extraction_key(const char *chain_id) {
        uint8_t rnd[4] = { 0 };
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                memset(rnd, 0, sizeof rnd);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return xasprintf("extract-%ld" KEY_MARK "%02x%02x%02x%02x %s", ts.tv_nsec, rnd[0], rnd[1], rnd[2], rnd[3],
                         chain_id);
}

static bool is_our_stale_key(const meta_snapshot *s, const char *chain_id) {
        if (s->kind != META_SNAPSHOT_ACTIVE || strncmp(s->key, "extract-", 8) != 0)
                return false;
        const char *sp = strchr(s->key, ' ');
        if (!sp || strcmp(sp + 1, chain_id) != 0)
                return false;
        const char *mark = strstr(s->key, KEY_MARK);
        return mark && mark < sp;
}

static char *backend_id_string(int64_t id) {
        return xasprintf("%" PRId64, id);
}

static const char *lease_type(const unpack_env *env, char *buf, size_t size) {
        snprintf(buf, size, "snapshots/%s", snapshotter_name(env->sn));
        return buf;
}

/* Removes a snapshot record and its directory, releasing it from our lease. */
static int remove_snapshot(const unpack_env *env, const char *key, berr **err) {
        char type[128];
        meta_snapshot removed = { 0 };
        if (meta_tx_begin(env->db, err) < 0)
                return -1;
        if (meta_snapshot_remove(env->db, env->ns, snapshotter_name(env->sn), key, &removed, err) < 0 ||
            meta_lease_release(env->db, env->ns, env->lease, lease_type(env, type, sizeof type), key, err) < 0 ||
            meta_tx_commit(env->db, err) < 0) {
                meta_tx_rollback(env->db);
                meta_snapshot_done(&removed);
                return -1;
        }
        _cleanup_free_ char *id = backend_id_string(removed.backend_id);
        meta_snapshot_done(&removed);
        return snapshotter_remove(env->sn, id, err);
}

/* Extraction snapshots of this chain that a killed berthd left: incomplete, so discarded (we hold the chain lock,
 * so none of ours is live). */
static void remove_stale_extractions(const unpack_env *env, const char *chain_id) {
        meta_snapshot *v = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (meta_snapshot_list(env->db, env->ns, snapshotter_name(env->sn), NULL, 0, &v, &n, &e) < 0) {
                log_warn("cannot list snapshots: %s", e->msg);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (!is_our_stale_key(&v[i], chain_id))
                        continue;
                berr *re = NULL;
                if (remove_snapshot(env, v[i].key, &re) < 0) {
                        log_warn("cannot remove stale extraction snapshot \"%s\": %s", v[i].key, re->msg);
                        berr_free(re);
                } else
                        log_info("removed the extraction snapshot \"%s\" of an interrupted unpack", v[i].key);
        }
        meta_snapshots_free(v, n);
}

static void layer_release(unpack_layer *l) {
        free(l->key);
        free(l->chain_id);
        free(l->parent);
        if (l->target_open)
                apply_target_done(&l->target);
        meta_labels_done(&l->labels);
        chain_lock_release(l->lock);
        *l = (unpack_layer) { 0 };
}

static int prepare_snapshot(const unpack_env *env, unpack_layer *l, berr **err) {
        const char *sn_name = snapshotter_name(env->sn);
        char type[128];
        meta_snapshot snap = { 0 };
        if (meta_tx_begin(env->db, err) < 0)
                return -1;
        if (meta_snapshot_create(env->db, env->ns, sn_name, l->key, l->parent, META_SNAPSHOT_ACTIVE, &l->labels,
                                 &snap, err) < 0 ||
            meta_lease_hold(env->db, env->ns, env->lease, lease_type(env, type, sizeof type), l->key, err) < 0 ||
            meta_tx_commit(env->db, err) < 0) {
                meta_tx_rollback(env->db);
                meta_snapshot_done(&snap);
                return -1;
        }
        l->backend_id = snap.backend_id;
        meta_snapshot_done(&snap);

        int64_t *pids = NULL;
        size_t np = 0;
        int r = -1;
        berth_mount *mounts = NULL;
        size_t nm = 0;
        char **parents = NULL;
        _cleanup_free_ char *id = backend_id_string(l->backend_id);
        if (meta_snapshot_parent_ids(env->db, env->ns, sn_name, l->key, &pids, &np, err) < 0)
                goto out;
        parents = xcalloc(np + 1, sizeof *parents);
        for (size_t i = 0; i < np; i++)
                parents[i] = backend_id_string(pids[i]);
        if (snapshotter_prepare(env->sn, id, SNAPSHOT_KIND_ACTIVE, parents, np, &mounts, &nm, err) < 0)
                goto out;
        if (apply_target_from_mounts(mounts, nm, &l->target, err) < 0)
                goto out;
        l->target_open = true;
        r = 0;
out:
        berth_mounts_free(mounts, nm);
        strv_free(parents);
        free(pids);
        return r;
}

int unpack_layer_begin(const unpack_env *env, const char *chain_id, const char *parent, const oci_map *annotations,
                       unpack_layer *l, bool *ret_exists, berr **err) {
        *l = (unpack_layer) { 0 };
        *ret_exists = false;
        if (chain_lock_take(env, chain_id, &l->lock, err) < 0)
                return -1;
        meta_snapshot cur = { 0 };
        _cleanup_berr_ berr *e = NULL;
        if (meta_snapshot_get(env->db, env->ns, snapshotter_name(env->sn), chain_id, &cur, &e) == 0) {
                meta_snapshot_done(&cur);
                chain_lock_release(l->lock);
                l->lock = NULL;
                *ret_exists = true;
                return 0;
        }
        if (e->code != BERR_NOT_FOUND) {
                chain_lock_release(l->lock);
                l->lock = NULL;
                *err = TAKE_PTR(e);
                return -1;
        }
        remove_stale_extractions(env, chain_id);

        l->chain_id = xstrdup(chain_id);
        l->parent = parent ? xstrdup(parent) : NULL;
        l->key = extraction_key(chain_id);
        /* snapshots.FilterInheritedLabels: annotations under containerd.io/snapshot/ become labels. */
        for (size_t i = 0; annotations && i < annotations->n; i++)
                if (strncmp(annotations->keys[i], "containerd.io/snapshot/", 23) == 0)
                        meta_labels_set(&l->labels, annotations->keys[i], annotations->values[i]);
        meta_labels_set(&l->labels, META_LABEL_SNAPSHOT_REF, chain_id);
        l->target = (apply_target) { .root_fd = -1 };
        if (prepare_snapshot(env, l, err) < 0) {
                berr_wrap(err, "failed to prepare extraction snapshot \"%s\"", l->key);
                if (l->backend_id > 0) {
                        berr *re = NULL;
                        if (remove_snapshot(env, l->key, &re) < 0)
                                berr_free(re);
                }
                layer_release(l);
                return -1;
        }
        return 0;
}

apply_options unpack_layer_apply_options(const unpack_layer *l) {
        apply_options o = apply_target_options(&l->target, geteuid() == 0);
        /* containerd sniffs the compression whatever the media type says (compression.DecompressStream). */
        o.compression = APPLY_COMPRESSION_AUTO;
        /* Our input is a blob of the content store (verified at its commit) or, in a pull, the very bytes the
         * ingest is hashing, and the pull commits (verifies) the blob before it commits the snapshot: hashing
         * them here again would only repeat that work. */
        o.compressed_verified = true;
        return o;
}

typedef struct blob_reader {
        content_reader *r;
        int64_t off;
        const unpack_env *env;
} blob_reader;

static ssize_t blob_read(void *userdata, void *buf, size_t len) {
        blob_reader *b = userdata;
        if (b->env->cancel && atomic_load(b->env->cancel)) {
                errno = ECANCELED;
                return -1;
        }
        _cleanup_berr_ berr *e = NULL;
        ssize_t n = content_reader_pread(b->r, buf, len, b->off, &e);
        if (n < 0) {
                errno = e->errnum ? e->errnum : EIO;
                return -1;
        }
        b->off += n;
        return n;
}

int unpack_layer_apply_blob(const unpack_env *env, unpack_layer *l, const char *digest, apply_result *ret,
                            berr **err) {
        blob_reader b = { .env = env };
        if (content_reader_open(env->content, digest, &b.r, err) < 0)
                return -1;
        apply_options o = unpack_layer_apply_options(l);
        int r = apply_layer(l->target.root_fd, blob_read, &b, &o, ret, err);
        content_reader_free(b.r);
        if (r < 0 && env->cancel && atomic_load(env->cancel))
                return berr_set(err, BERR_CANCELED, ECANCELED, "context canceled");
        return r;
}

void unpack_layer_abort(const unpack_env *env, unpack_layer *l) {
        if (l->key && l->backend_id > 0) {
                if (l->target_open) {
                        apply_target_done(&l->target);
                        l->target_open = false;
                }
                berr *e = NULL;
                if (remove_snapshot(env, l->key, &e) < 0) {
                        log_warn("failed to cleanup \"%s\": %s", l->key, e->msg);
                        berr_free(e);
                }
        }
        layer_release(l);
}

int unpack_layer_commit(const unpack_env *env, unpack_layer *l, const char *layer_digest, const char *diff_id,
                        const apply_result *res, berr **err) {
        if (strcmp(res->diff_id, diff_id) != 0) {
                berr_set(err, BERR_FAILED_PRECONDITION, 0,
                         "failed to extract layer %s: wrong diff id calculated on extraction %s: failed precondition",
                         diff_id, res->diff_id);
                unpack_layer_abort(env, l);
                return -1;
        }
        if (l->target_open) {
                apply_target_done(&l->target);
                l->target_open = false;
        }
        const char *sn_name = snapshotter_name(env->sn);
        _cleanup_free_ char *id = backend_id_string(l->backend_id);
        snapshot_usage usage = { 0 };
        if (snapshotter_commit(env->sn, id, &usage, err) < 0) {
                berr_wrap(err, "failed to commit snapshot %s", l->key);
                unpack_layer_abort(env, l);
                return -1;
        }
        char type[128];
        lease_type(env, type, sizeof type);
        _cleanup_berr_ berr *e = NULL;
        if (meta_tx_begin(env->db, err) < 0) {
                unpack_layer_abort(env, l);
                return -1;
        }
        if (meta_snapshot_commit(env->db, env->ns, sn_name, l->chain_id, l->key, &l->labels, usage.size,
                                 usage.inodes, NULL, &e) < 0 ||
            meta_lease_hold(env->db, env->ns, env->lease, type, l->chain_id, &e) < 0 ||
            meta_lease_release(env->db, env->ns, env->lease, type, l->key, &e) < 0 ||
            meta_tx_commit(env->db, &e) < 0) {
                meta_tx_rollback(env->db);
                bool exists = e->code == BERR_ALREADY_EXISTS;
                unpack_layer_abort(env, l);
                if (!exists) {
                        *err = TAKE_PTR(e);
                        return -1;
                }
                /* Someone committed the chain meanwhile: theirs is as good as ours. */
        } else
                layer_release(l);
        /* Set the uncompressed label after the uncompressed digest has been verified through apply. */
        meta_labels labels = { 0 };
        meta_labels_set(&labels, UNPACK_LABEL_UNCOMPRESSED, res->diff_id);
        int r = unpack_content_label(env, layer_digest, &labels, err);
        meta_labels_done(&labels);
        return r;
}

int unpack_label_config(const unpack_env *env, const char *config_digest, const char *top_chain_id, berr **err) {
        meta_labels labels = { 0 };
        _cleanup_free_ char *key = xasprintf("%s%s", META_LABEL_GC_REF_SNAPSHOT, snapshotter_name(env->sn));
        meta_labels_set(&labels, key, top_chain_id);
        int r = unpack_content_label(env, config_digest, &labels, err);
        meta_labels_done(&labels);
        return r;
}

int unpack_manifest(const unpack_env *env, const oci_manifest *m, const oci_image_config *config,
                    char **ret_chain_id, berr **err) {
        size_t nd = strv_length(config->diff_ids);
        if (nd != m->n_layers)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "number of layers and diffIDs don't match: %zu != %zu: invalid argument", m->n_layers,
                                nd);
        _cleanup_(strv_freep) char **chain = unpack_chain_ids(config->diff_ids, nd);
        for (size_t i = 0; i < m->n_layers; i++) {
                const oci_descriptor *d = &m->layers[i];
                layer_compression c;
                if (mediatype_layer_compression(d->media_type, &c, err) < 0)
                        return -1;
                unpack_layer l;
                bool exists;
                if (unpack_layer_begin(env, chain[i], i ? chain[i - 1] : NULL, &d->annotations, &l, &exists, err) < 0)
                        return -1;
                if (exists)
                        continue;
                apply_result res;
                if (unpack_layer_apply_blob(env, &l, d->digest, &res, err) < 0) {
                        berr_wrap(err, "failed to extract layer %s", config->diff_ids[i]);
                        unpack_layer_abort(env, &l);
                        return -1;
                }
                if (unpack_layer_commit(env, &l, d->digest, config->diff_ids[i], &res, err) < 0)
                        return -1;
        }
        if (nd > 0 && unpack_label_config(env, m->config.digest, chain[nd - 1], err) < 0)
                return -1;
        if (ret_chain_id)
                *ret_chain_id = nd > 0 ? xstrdup(chain[nd - 1]) : NULL;
        return 0;
}
