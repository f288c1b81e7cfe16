/* libberth: pull inside the daemon (berth.v1.Berth/Pull), progress streamed back. */
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "client/client-internal.h"

static void report(const Berth__V1__PullProgress *p, berth_pull_progress_fn progress, void *userdata) {
        _cleanup_free_ berth_layer_progress *layers = xcalloc(p->n_layers + 1, sizeof *layers);
        for (size_t i = 0; i < p->n_layers; i++) {
                const Berth__V1__LayerProgress *l = p->layers[i];
                layers[i] = (berth_layer_progress) {
                        .digest = l->digest,
                        .media_type = l->media_type,
                        .status = l->status,
                        .total = l->total,
                        .offset = l->offset,
                        .rate = l->rate,
                };
        }
        berth_pull_progress bp = {
                .phase = p->phase,
                .layers = layers,
                .n_layers = p->n_layers,
                .done = p->done != NULL,
                .name = p->done ? p->done->name : NULL,
                .digest = p->done ? p->done->digest : NULL,
                .elapsed_ms = p->done ? p->done->elapsed_ms : 0,
        };
        progress(&bp, userdata);
}

int berth_pull(berth_client *c, const char *ref, const berth_pull_opts *opts, berth_pull_progress_fn progress,
               void *userdata, berth_image *ret, berr **err) {
        static const berth_pull_opts defaults = {};
        if (!opts)
                opts = &defaults;
        if (!ref || !*ref)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "pull: empty image reference");
        _cleanup_free_ char *name = berth_reference_normalize(ref);

        Berth__V1__RegistryAuth auth = BERTH__V1__REGISTRY_AUTH__INIT;
        Berth__V1__PullRequest req = BERTH__V1__PULL_REQUEST__INIT;
        req.ref = name;
        req.plain_http = opts->plain_http;
        req.skip_verify = opts->skip_verify;
        req.unpack = !opts->no_unpack;
        if (opts->platform)
                req.platform = (char *) opts->platform;
        if (opts->snapshotter)
                req.snapshotter = (char *) opts->snapshotter;
        if (opts->username || opts->password) {
                auth.username = (char *) (opts->username ? opts->username : "");
                auth.password = (char *) (opts->password ? opts->password : "");
                req.auth = &auth;
        }

        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/berth.v1.Berth/Pull", 0, &s, err) < 0)
                return -1;
        Berth__V1__PullDone *done = NULL;
        Berth__V1__PullProgress *last = NULL; /* owns done */
        int r = grpc_stream_send(s, &req.base, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        while (r >= 0) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len = 0;
                r = grpc_stream_recv(s, &msg, &len, err);
                if (r <= 0)
                        break;
                Berth__V1__PullProgress *p = berth__v1__pull_progress__unpack(NULL, len, msg);
                if (!p) {
                        r = berr_set(err, BERR_INTERNAL, 0, "pull %s: undecodable PullProgress", name);
                        break;
                }
                if (progress)
                        report(p, progress, userdata);
                if (p->done) {
                        if (last)
                                berth__v1__pull_progress__free_unpacked(last, NULL);
                        last = p;
                        done = p->done;
                } else
                        berth__v1__pull_progress__free_unpacked(p, NULL);
        }
        grpc_stream_free(s);
        if (r >= 0 && !done)
                r = berr_set(err, BERR_INTERNAL, 0, "pull %s: the daemon ended the pull without a result", name);
        if (r >= 0 && ret)
                *ret = (berth_image) {
                        .name = xstrdup(done->name),
                        .digest = xstrdup(done->digest),
                        .media_type = xstrdup(done->media_type),
                        .target_size = done->size,
                        .size = -1,
                };
        if (last)
                berth__v1__pull_progress__free_unpacked(last, NULL);
        return r < 0 ? -1 : 0;
}
