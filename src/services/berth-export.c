/* berth.v1.Berth/ExportImage: a worker thread writes the archive (images/export.h) into an unlinked temporary
 * file; the loop thread then streams it in chunks, paced by the call's send queue. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "berth/v1/berth.pb-c.h"
#include "images/export.h"
#include "services/berth-internal.h"
#include "services/common.h"

#define CHUNK (1u << 20)
#define MAX_PENDING (4u << 20)

typedef struct export_call {
        service_context *ctx;
        grpc_call *call;
        char *ns;
        char **refs;
        char *platform;
        bool docker_only;
        int fd;
        int64_t size;
        int64_t off;

        berth_wakeup *wakeup;
        pthread_t thread;
        bool started;
        atomic_bool cancel;
        berr *error;
} export_call;

static void export_call_free(export_call *ec) {
        if (!ec)
                return;
        if (ec->started) {
                atomic_store(&ec->cancel, true);
                pthread_join(ec->thread, NULL);
        }
        berthsvc_wakeup_free(ec->wakeup);
        safe_close(ec->fd);
        free(ec->ns);
        strv_free(ec->refs);
        free(ec->platform);
        berr_free(ec->error);
        free(ec);
}

static void fail(export_call *ec, berr *e) {
        grpc_call *call = ec->call;
        grpc_call_set_state(call, NULL);
        export_call_free(ec);
        service_finish_error(call, e);
}

static int run_export(export_call *ec, berr **err) {
        _cleanup_free_ char *db_path = berthsvc_db_path(ec->ctx);
        _cleanup_meta_db_ meta_db *db = NULL;
        if (meta_db_open(db_path, &db, err) < 0)
                return -1;
        unpack_env env = berthsvc_unpack_env(ec->ctx, ec->ns);
        env.db = db;
        env.cancel = &ec->cancel;
        _cleanup_platform_matcher_ platform_matcher *matcher = NULL;
        if (ec->platform && *ec->platform) {
                oci_platform p = { 0 };
                if (platform_parse(ec->platform, &p, err) < 0)
                        return -1;
                matcher = platform_matcher_only(&p);
                platform_done(&p);
        }
        export_options o = { .matcher = matcher, .docker_only = ec->docker_only };
        return image_export(&env, ec->refs, strv_length(ec->refs), &o, ec->fd, err);
}

static void *export_main(void *arg) {
        export_call *ec = arg;
        berr *e = NULL;
        if (run_export(ec, &e) < 0)
                ec->error = e;
        berthsvc_wakeup_signal(ec->wakeup);
        return NULL;
}

static void pump(grpc_call *call, void *userdata) {
        export_call *ec = grpc_call_get_state(call);
        if (!ec)
                return;
        _cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
        while (ec->off < ec->size && grpc_call_pending_bytes(call) < MAX_PENDING) {
                ssize_t n = pread(ec->fd, buf, CHUNK, ec->off);
                if (n <= 0) {
                        berr *e = NULL;
                        berr_errno(&e, n < 0 ? errno : EIO, "read the exported archive");
                        fail(ec, e);
                        return;
                }
                Berth__V1__ExportChunk chunk = BERTH__V1__EXPORT_CHUNK__INIT;
                chunk.data.data = buf;
                chunk.data.len = (size_t) n;
                grpc_call_send(call, &chunk.base);
                ec->off += n;
        }
        if (ec->off < ec->size)
                return; /* more when the queue drains */
        log_info("exported %zu image(s), %" PRId64 " bytes", strv_length(ec->refs), ec->size);
        grpc_call_set_state(call, NULL);
        export_call_free(ec);
        grpc_call_finish(call, BERR_OK, NULL);
}

static void on_export_done(void *userdata) {
        export_call *ec = userdata;
        pthread_join(ec->thread, NULL);
        ec->started = false;
        if (ec->error) {
                log_info("export failed: %s", ec->error->msg);
                fail(ec, TAKE_PTR(ec->error));
                return;
        }
        struct stat st;
        if (fstat(ec->fd, &st) < 0) {
                berr *e = NULL;
                berr_errno(&e, errno, "stat the exported archive");
                fail(ec, e);
                return;
        }
        ec->size = st.st_size;
        ec->wakeup = berthsvc_wakeup_free(ec->wakeup);
        grpc_call_set_on_writable(ec->call, MAX_PENDING / 2, pump);
        pump(ec->call, NULL);
}

void berthsvc_export(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Berth__V1__ExportRequest *req = service_decode(call, &berth__v1__export_request__descriptor, msg,
                                                                    len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return;
        }
        if (req->format && *req->format && strcmp(req->format, "oci") != 0 && strcmp(req->format, "docker") != 0) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "unknown export format %s: invalid argument",
                                 req->format);
                return;
        }
        export_call *ec = xcalloc(1, sizeof *ec);
        ec->ctx = ctx;
        ec->call = call;
        ec->fd = -1;
        ec->ns = xstrdup(ns);
        ec->refs = strv_copy_n(req->refs, req->n_refs);
        ec->platform = xstrdup(req->platform ? req->platform : "");
        ec->docker_only = req->format && strcmp(req->format, "docker") == 0;
        grpc_call_set_state(call, ec);
        if (berthsvc_tmpfile(ctx, &ec->fd, &e) < 0 || berthsvc_wakeup_new(ctx->loop, on_export_done, ec, &ec->wakeup, &e) < 0) {
                fail(ec, e);
                return;
        }
        int r = pthread_create(&ec->thread, NULL, export_main, ec);
        if (r != 0) {
                berr_errno(&e, r, "cannot start the export thread");
                fail(ec, e);
                return;
        }
        ec->started = true;
}

void berthsvc_export_cancel(grpc_call *call, void *userdata) {
        export_call *ec = grpc_call_get_state(call);
        if (!ec)
                return;
        grpc_call_set_state(call, NULL);
        export_call_free(ec);
}
