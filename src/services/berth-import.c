/* berth.v1.Berth/ImportImage: the client streams an archive (first message: options); the loop thread spools it to
 * an unlinked temporary file, then a worker thread imports and unpacks it (images/import.h) and the loop thread
 * answers. Cancelling the call stops the worker. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "berth/v1/berth.pb-c.h"
#include "containerd/types/descriptor.pb-c.h"
#include "images/import.h"
#include "services/berth-internal.h"
#include "services/common.h"
#include "services/gc.h"

typedef struct import_call {
        service_context *ctx;
        grpc_call *call;
        char *ns;
        int fd;
        bool got_first;
        bool unpack;
        char *snapshotter;
        char *base_name;
        char *platform;
        bool all_platforms;
        int64_t received;

        berth_wakeup *wakeup;
        pthread_t thread;
        bool started;
        atomic_bool cancel;
        berr *error;
        import_image *images;
        size_t n_images;
} import_call;

static void import_call_free(import_call *ic) {
        if (!ic)
                return;
        if (ic->started) {
                atomic_store(&ic->cancel, true);
                pthread_join(ic->thread, NULL);
        }
        berthsvc_wakeup_free(ic->wakeup);
        safe_close(ic->fd);
        free(ic->ns);
        free(ic->snapshotter);
        free(ic->base_name);
        free(ic->platform);
        berr_free(ic->error);
        import_images_free(ic->images, ic->n_images);
        free(ic);
}

static void fail(import_call *ic, berr *e) {
        grpc_call *call = ic->call;
        grpc_call_set_state(call, NULL);
        import_call_free(ic);
        service_finish_error(call, e);
}

static int run_import(import_call *ic, berr **err) {
        _cleanup_free_ char *db_path = berthsvc_db_path(ic->ctx);
        _cleanup_meta_db_ meta_db *db = NULL;
        if (meta_db_open(db_path, &db, err) < 0)
                return -1;
        _cleanup_free_ char *lease = NULL;
        if (unpack_lease_create(db, ic->ns, "import", &lease, err) < 0)
                return -1;
        unpack_env env = berthsvc_unpack_env(ic->ctx, ic->ns);
        env.db = db;
        env.lease = lease;
        env.cancel = &ic->cancel;

        _cleanup_platform_matcher_ platform_matcher *matcher = NULL;
        if (ic->platform && *ic->platform) {
                oci_platform p = { 0 };
                if (platform_parse(ic->platform, &p, err) < 0)
                        return -1;
                matcher = platform_matcher_strict(&p);
                platform_done(&p);
        } else
                matcher = platform_matcher_default();
        import_options o = { .base_name = ic->base_name, .matcher = ic->all_platforms ? NULL : matcher };
        int r = image_import(&env, ic->fd, &o, &ic->images, &ic->n_images, err);
        if (r == 0 && ic->unpack) {
                env.sn = service_snapshotter(ic->ctx, ic->snapshotter);
                for (size_t i = 0; r == 0 && i < ic->n_images; i++) {
                        log_info("unpacking %s (%s)", ic->images[i].name, ic->images[i].target.digest);
                        r = import_unpack(&env, &ic->images[i].target, matcher, err);
                        if (r < 0)
                                berr_wrap(err, "unpack %s", ic->images[i].name);
                }
        }
        _cleanup_berr_ berr *le = NULL;
        if (r == 0 && meta_lease_delete(db, ic->ns, lease, &le) < 0)
                log_warn("cannot delete lease %s: %s", lease, le->msg);
        return r;
}

static void *import_main(void *arg) {
        import_call *ic = arg;
        berr *e = NULL;
        if (run_import(ic, &e) < 0)
                ic->error = e;
        berthsvc_wakeup_signal(ic->wakeup);
        return NULL;
}

static void on_import_done(void *userdata) {
        import_call *ic = userdata;
        pthread_join(ic->thread, NULL);
        ic->started = false;
        grpc_call *call = ic->call;
        service_context *ctx = ic->ctx;
        if (ic->error) {
                log_info("import failed: %s", ic->error->msg);
                fail(ic, TAKE_PTR(ic->error));
                gc_schedule(ctx);
                return;
        }
        Berth__V1__ImportResponse resp = BERTH__V1__IMPORT_RESPONSE__INIT;
        size_t n = ic->n_images;
        Berth__V1__ImportedImage *imgs = xcalloc(n ? n : 1, sizeof *imgs);
        Berth__V1__ImportedImage **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        Containerd__Types__Descriptor *descs = xcalloc(n ? n : 1, sizeof *descs);
        for (size_t i = 0; i < n; i++) {
                berth__v1__imported_image__init(&imgs[i]);
                containerd__types__descriptor__init(&descs[i]);
                descs[i].media_type = ic->images[i].target.media_type;
                descs[i].digest = ic->images[i].target.digest;
                descs[i].size = ic->images[i].target.size;
                imgs[i].name = ic->images[i].name;
                imgs[i].target = &descs[i];
                ptrs[i] = &imgs[i];
                log_info("imported %s (%s)", ic->images[i].name, ic->images[i].target.digest);
        }
        resp.images = ptrs;
        resp.n_images = n;
        grpc_call_set_state(call, NULL);
        grpc_call_reply(call, &resp.base);
        free(ptrs);
        free(imgs);
        free(descs);
        import_call_free(ic);
        gc_schedule(ctx);
}

void berthsvc_import_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        import_call *ic = grpc_call_get_state(call);
        berr *e = NULL;
        if (!ic) {
                const char *ns = service_namespace(call, &e);
                if (!ns) {
                        service_finish_error(call, e);
                        return;
                }
                ic = xcalloc(1, sizeof *ic);
                ic->ctx = ctx;
                ic->call = call;
                ic->ns = xstrdup(ns);
                ic->fd = -1;
                grpc_call_set_state(call, ic);
                if (berthsvc_tmpfile(ctx, &ic->fd, &e) < 0) {
                        fail(ic, e);
                        return;
                }
        }
        Berth__V1__ImportRequest *req =
                (Berth__V1__ImportRequest *) protobuf_c_message_unpack(&berth__v1__import_request__descriptor, NULL,
                                                                      len, msg);
        if (!req) {
                berr_set(&e, BERR_INVALID_ARGUMENT, 0, "grpc: error unmarshalling request: invalid ImportRequest");
                fail(ic, e);
                return;
        }
        if (!ic->got_first) {
                ic->got_first = true;
                Berth__V1__ImportOptions *o = req->options;
                if (o) {
                        ic->unpack = o->unpack;
                        ic->snapshotter = xstrdup(o->snapshotter);
                        ic->base_name = xstrdup(o->base_name);
                        ic->platform = xstrdup(o->platform);
                        ic->all_platforms = o->all_platforms;
                }
                if (ic->unpack && !service_snapshotter(ctx, ic->snapshotter)) {
                        berr_set(&e, BERR_NOT_FOUND, 0, "snapshotter %s was not found: not found", ic->snapshotter);
                        protobuf_c_message_free_unpacked(&req->base, NULL);
                        fail(ic, e);
                        return;
                }
        }
        int r = 0;
        if (req->data.len > 0) {
                r = write_all(ic->fd, req->data.data, req->data.len);
                ic->received += (int64_t) req->data.len;
        }
        protobuf_c_message_free_unpacked(&req->base, NULL);
        if (r < 0) {
                berr_errno(&e, errno, "cannot spool the archive");
                fail(ic, e);
        }
}

void berthsvc_import_half_close(grpc_call *call, void *userdata) {
        import_call *ic = grpc_call_get_state(call);
        berr *e = NULL;
        if (!ic) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "no archive received");
                return;
        }
        log_info("importing an archive of %" PRId64 " bytes into namespace %s", ic->received, ic->ns);
        if (berthsvc_wakeup_new(ic->ctx->loop, on_import_done, ic, &ic->wakeup, &e) < 0) {
                fail(ic, e);
                return;
        }
        int r = pthread_create(&ic->thread, NULL, import_main, ic);
        if (r != 0) {
                berr_errno(&e, r, "cannot start the import thread");
                fail(ic, e);
                return;
        }
        ic->started = true;
}

void berthsvc_import_cancel(grpc_call *call, void *userdata) {
        import_call *ic = grpc_call_get_state(call);
        if (!ic)
                return;
        grpc_call_set_state(call, NULL);
        import_call_free(ic);
}
