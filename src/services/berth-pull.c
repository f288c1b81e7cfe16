/* berth.v1.Berth/Pull: runs images/pull.h on worker threads and streams its progress. The workers only signal a
 * wakeup; the loop thread then takes a snapshot of the progress and sends it (grpc objects are loop-thread only).
 * A client that resets the stream (or the daemon shutting down) cancels the pull. */
#include <inttypes.h>
#include <string.h>

#include "basic/log.h"
#include "berth/v1/berth.pb-c.h"
#include "berthd/config.h"
#include "images/pull.h"
#include "services/berth-internal.h"
#include "services/common.h"
#include "services/gc.h"

#define PROGRESS_MAX_PENDING (256u << 10) /* skip intermediate updates while this much is queued */
#define RATE_INTERVAL_USEC (500 * 1000)

typedef struct rate_state {
        int64_t offset;
        uint64_t usec;
        int64_t rate;
} rate_state;

typedef struct pull_call {
        service_context *ctx;
        grpc_call *call;
        puller *p;
        berth_wakeup *wakeup;
        rate_state *rates;
        size_t n_rates;
        registry_host_settings *hosts;
        size_t n_hosts;
} pull_call;

static void pull_call_free(pull_call *pc) {
        if (!pc)
                return;
        puller_free(pc->p); /* cancels and joins a pull still running */
        berthsvc_wakeup_free(pc->wakeup);
        free(pc->rates);
        free(pc->hosts);
        free(pc);
}

static void update_rates(pull_call *pc, const pull_progress *st) {
        if (st->n_blobs > pc->n_rates) {
                pc->rates = xrealloc(pc->rates, st->n_blobs * sizeof *pc->rates);
                for (size_t i = pc->n_rates; i < st->n_blobs; i++)
                        pc->rates[i] = (rate_state) { .offset = st->blobs[i].offset, .usec = now_monotonic_usec() };
                pc->n_rates = st->n_blobs;
        }
        uint64_t now = now_monotonic_usec();
        for (size_t i = 0; i < st->n_blobs; i++) {
                rate_state *r = &pc->rates[i];
                if (st->blobs[i].status != PULL_BLOB_DOWNLOADING) {
                        r->rate = 0;
                        r->offset = st->blobs[i].offset;
                        r->usec = now;
                        continue;
                }
                if (now - r->usec < RATE_INTERVAL_USEC)
                        continue;
                r->rate = (st->blobs[i].offset - r->offset) * 1000000 / (int64_t) (now - r->usec);
                r->offset = st->blobs[i].offset;
                r->usec = now;
        }
}

static void send_progress(pull_call *pc, const pull_progress *st, bool final) {
        Berth__V1__PullProgress msg = BERTH__V1__PULL_PROGRESS__INIT;
        Berth__V1__LayerProgress *layers = xcalloc(st->n_blobs ? st->n_blobs : 1, sizeof *layers);
        Berth__V1__LayerProgress **ptrs = xcalloc(st->n_blobs ? st->n_blobs : 1, sizeof *ptrs);
        for (size_t i = 0; i < st->n_blobs; i++) {
                Berth__V1__LayerProgress *l = &layers[i];
                berth__v1__layer_progress__init(l);
                l->digest = st->blobs[i].digest;
                l->media_type = st->blobs[i].media_type;
                l->total = st->blobs[i].total;
                l->offset = st->blobs[i].offset;
                l->status = (char *) pull_blob_status_to_string(st->blobs[i].status);
                l->rate = i < pc->n_rates ? pc->rates[i].rate : 0;
                ptrs[i] = l;
        }
        msg.layers = ptrs;
        msg.n_layers = st->n_blobs;
        msg.phase = (char *) (st->phase ? st->phase : "");
        Berth__V1__PullDone done = BERTH__V1__PULL_DONE__INIT;
        if (final) {
                done.name = st->name;
                done.digest = st->digest;
                done.media_type = st->media_type;
                done.size = st->size;
                done.elapsed_ms = st->elapsed_ms;
                done.fetched_bytes = st->fetched_bytes;
                done.resumed_bytes = st->resumed_bytes;
                msg.done = &done;
        }
        grpc_call_send(pc->call, &msg.base);
        free(ptrs);
        free(layers);
}

static void on_pull_wakeup(void *userdata) {
        pull_call *pc = userdata;
        pull_progress st;
        puller_progress(pc->p, &st);
        update_rates(pc, &st);
        if (!st.finished) {
                if (grpc_call_pending_bytes(pc->call) < PROGRESS_MAX_PENDING)
                        send_progress(pc, &st, false);
                pull_progress_done(&st);
                return;
        }
        grpc_call *call = pc->call;
        grpc_call_set_state(call, NULL);
        if (st.error) {
                log_info("pull failed: %s", st.error->msg);
                service_finish_error(call, TAKE_PTR(st.error));
        } else {
                log_info("pulled %s (%s) in %" PRId64 " ms: %" PRId64 " bytes fetched, %" PRId64 " resumed", st.name,
                         st.digest, st.elapsed_ms, st.fetched_bytes, st.resumed_bytes);
                send_progress(pc, &st, true);
                grpc_call_finish(call, BERR_OK, NULL);
        }
        pull_progress_done(&st);
        service_context *ctx = pc->ctx;
        pull_call_free(pc);
        /* The pull's lease is gone (or will expire): let the collector look. */
        gc_schedule(ctx);
}

static void notify(void *userdata) {
        berthsvc_wakeup_signal(((pull_call *) userdata)->wakeup);
}

/* Registry settings from berthd's config. */
static void fill_registry_options(pull_call *pc, const Berth__V1__PullRequest *req, registry_options *o) {
        const berthd_config *cfg = pc->ctx->config;
        *o = (registry_options) {
                .plain_http = req->plain_http,
                .skip_verify = req->skip_verify,
        };
        if (req->auth && req->auth->username && *req->auth->username) {
                o->username = req->auth->username;
                o->password = req->auth->password;
        }
        if (!cfg)
                return;
        o->hosts_dir = cfg->hosts_dir;
        if (cfg->n_registries > 0) {
                pc->hosts = xcalloc(cfg->n_registries, sizeof *pc->hosts);
                for (size_t i = 0; i < cfg->n_registries; i++)
                        pc->hosts[i] = (registry_host_settings) {
                                .domain = cfg->registries[i].host,
                                .plain_http = cfg->registries[i].plain_http,
                                .skip_verify = cfg->registries[i].skip_verify,
                                .ca_file = cfg->registries[i].ca,
                                .mirrors = cfg->registries[i].mirrors,
                        };
                pc->n_hosts = cfg->n_registries;
                o->hosts = pc->hosts;
                o->n_hosts = pc->n_hosts;
        }
}

void berthsvc_pull(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Berth__V1__PullRequest *req = service_decode(call, &berth__v1__pull_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return;
        }
        snapshotter *sn = NULL;
        if (req->unpack) {
                sn = service_snapshotter(ctx, req->snapshotter);
                if (!sn) {
                        grpc_call_finish(call, BERR_NOT_FOUND, "snapshotter %s was not found: not found",
                                         req->snapshotter && *req->snapshotter ? req->snapshotter
                                                                               : ctx->default_snapshotter);
                        return;
                }
        }
        if (req->auth && (*req->auth->identity_token || *req->auth->registry_token) && !*req->auth->username) {
                grpc_call_finish(call, BERR_UNIMPLEMENTED,
                                 "token credentials are not supported; use username and password");
                return;
        }
        pull_call *pc = xcalloc(1, sizeof *pc);
        pc->ctx = ctx;
        pc->call = call;
        meta_labels labels = { 0 };
        service_map_to_labels((void *const *) req->labels, req->n_labels, &labels);
        _cleanup_free_ char *db_path = berthsvc_db_path(ctx);
        pull_config cfg = {
                .db_path = db_path,
                .content = ctx->content,
                .sn = sn,
                .ns = ns,
                .ref = req->ref,
                .platform = req->platform,
                .labels = &labels,
                .content_lock = gc_content_lock,
                .content_unlock = gc_content_unlock,
                .notify = notify,
                .userdata = pc,
        };
        fill_registry_options(pc, req, &cfg.registry);
        int r = puller_new(&cfg, &pc->p, &e);
        meta_labels_done(&labels);
        if (r < 0 || berthsvc_wakeup_new(ctx->loop, on_pull_wakeup, pc, &pc->wakeup, &e) < 0 ||
            puller_start(pc->p, &e) < 0) {
                pull_call_free(pc);
                service_finish_error(call, e);
                return;
        }
        log_info("pulling %s (namespace %s%s%s)", req->ref, ns, sn ? ", unpack into " : "",
                 sn ? snapshotter_name(sn) : "");
        grpc_call_set_state(call, pc);
}

void berthsvc_pull_cancel(grpc_call *call, void *userdata) {
        pull_call *pc = grpc_call_get_state(call);
        if (!pc)
                return;
        grpc_call_set_state(call, NULL);
        log_info("pull cancelled by the client");
        /* Joins the worker: transfers abort at once, an extraction at its next read. */
        pull_call_free(pc);
}
