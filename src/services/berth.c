/* berth.v1.Berth: berth's own image operations (Pull, ImportImage, ExportImage in their own files) and Info. */
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/oci-detect.h"
#include "berth/v1/berth.pb-c.h"
#include "berthd/config.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "services/berth-internal.h"
#include "services/berth-version.h"
#include "services/common.h"
#include "services/gc.h"
#include "snapshots/snapshots.h"

/* ---- wakeups ---- */

struct berth_wakeup {
        int fd;
        ev_source *src;
        void (*cb)(void *userdata);
        void *userdata;
};

static int on_wakeup(ev_source *s, int fd, uint32_t revents, void *userdata) {
        berth_wakeup *w = userdata;
        uint64_t v;
        if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
                log_debug("wakeup read: %m");
        w->cb(w->userdata); /* may free w */
        return 0;
}

int berthsvc_wakeup_new(ev_loop *loop, void (*cb)(void *userdata), void *userdata, berth_wakeup **ret, berr **err) {
        berth_wakeup *w = xcalloc(1, sizeof *w);
        w->cb = cb;
        w->userdata = userdata;
        w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->fd < 0) {
                free(w);
                return berr_errno(err, errno, "eventfd");
        }
        int r = ev_add_io(loop, &w->src, w->fd, EPOLLIN, on_wakeup, w);
        if (r < 0) {
                close(w->fd);
                free(w);
                return berr_errno(err, -r, "cannot watch eventfd");
        }
        *ret = w;
        return 0;
}

void berthsvc_wakeup_signal(berth_wakeup *w) {
        uint64_t one = 1;
        if (write(w->fd, &one, sizeof one) < 0 && errno != EAGAIN)
                log_debug("wakeup write: %m");
}

berth_wakeup *berthsvc_wakeup_free(berth_wakeup *w) {
        if (!w)
                return NULL;
        ev_source_free(w->src);
        safe_close(w->fd);
        free(w);
        return NULL;
}

/* ---- shared helpers ---- */

char *berthsvc_db_path(const service_context *ctx) {
        /* Where the daemon opens it (berthd/daemon.c). */
        return xasprintf("%s/metadata/meta.db", ctx->root);
}

unpack_env berthsvc_unpack_env(const service_context *ctx, const char *ns) {
        return (unpack_env) {
                .content = ctx->content,
                .ns = ns,
                .content_lock = gc_content_lock,
                .content_unlock = gc_content_unlock,
        };
}

int berthsvc_tmpfile(const service_context *ctx, int *ret_fd, berr **err) {
        _cleanup_free_ char *dir = xasprintf("%s/tmp", ctx->root);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return berr_errno(err, errno, "mkdir %s", dir);
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return berr_errno(err, errno, "cannot create a temporary file in %s", dir);
        *ret_fd = fd;
        return 0;
}

/* ---- Info ---- */

static int add_size(const content_info *info, void *userdata, berr **err) {
        *(int64_t *) userdata += info->size;
        return 0;
}

static const char *log_level_name(log_level l) {
        static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
        return (unsigned) l < ELEMENTSOF(names) ? names[l] : "info";
}

static void berth_info(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        /* Counts are per namespace; without the header, the default one (Info is a status command). */
        const char *ns = grpc_call_metadata(call, SERVICE_NAMESPACE_HEADER);
        if (!ns || !*ns)
                ns = "default";
        Berth__V1__InfoResponse resp = BERTH__V1__INFO_RESPONSE__INIT;
        resp.version = (char *) BERTH_VERSION;
        resp.revision = (char *) BERTH_REVISION;
        resp.root = (char *) ctx->root;
        resp.state = (char *) ctx->state;
        resp.address = (char *) ctx->address;
        resp.snapshotter = (char *) (ctx->default_snapshotter ? ctx->default_snapshotter : "");
        resp.oci_runtime = (char *) oci_detect_default(NULL, NULL);
        resp.pid = (uint32_t) getpid();
        resp.uuid = (char *) (ctx->uuid ? ctx->uuid : "");
        resp.log_level = (char *) log_level_name(log_get_level());

        _cleanup_berr_ berr *e = NULL;
        meta_namespace *nss = NULL;
        size_t n = 0;
        if (meta_namespace_list(ctx->db, NULL, 0, &nss, &n, &e) == 0) {
                resp.namespaces = (int64_t) n;
                meta_namespaces_free(nss, n);
        }
        meta_image *imgs = NULL;
        if (meta_image_list(ctx->db, ns, NULL, 0, &imgs, &n, &e) == 0) {
                resp.images = (int64_t) n;
                meta_images_free(imgs, n);
        }
        meta_content_info *cis = NULL;
        if (meta_content_list(ctx->db, ns, NULL, 0, &cis, &n, &e) == 0) {
                resp.content_blobs = (int64_t) n;
                meta_content_infos_free(cis, n);
        }
        int64_t bytes = 0;
        if (content_walk(ctx->content, add_size, &bytes, &e) == 0)
                resp.content_bytes = bytes;
        for (size_t i = 0; i < ctx->n_snapshotters; i++) {
                meta_snapshot *ss = NULL;
                if (meta_snapshot_list(ctx->db, ns, snapshotter_name(ctx->snapshotters[i]), NULL, 0, &ss, &n, &e) ==
                    0) {
                        resp.snapshots += (int64_t) n;
                        meta_snapshots_free(ss, n);
                }
        }
        meta_lease *ls = NULL;
        if (meta_lease_list(ctx->db, ns, NULL, 0, &ls, &n, &e) == 0) {
                resp.leases = (int64_t) n;
                meta_leases_free(ls, n);
        }
        if (e)
                log_debug("info: %s", e->msg);
        grpc_call_reply(call, &resp.base);
}

static const grpc_method berth_methods[] = {
        { .path = "/berth.v1.Berth/Pull", .kind = GRPC_SERVER_STREAMING, .on_message = berthsvc_pull,
          .on_cancel = berthsvc_pull_cancel },
        { .path = "/berth.v1.Berth/Info", .kind = GRPC_UNARY, .on_message = berth_info },
        { .path = "/berth.v1.Berth/ImportImage", .kind = GRPC_CLIENT_STREAMING, .on_message = berthsvc_import_message,
          .on_half_close = berthsvc_import_half_close, .on_cancel = berthsvc_import_cancel },
        { .path = "/berth.v1.Berth/ExportImage", .kind = GRPC_SERVER_STREAMING, .on_message = berthsvc_export,
          .on_cancel = berthsvc_export_cancel },
};

int berth_service_register(service_context *ctx, berr **err) {
        service_plugin *p;
        if (service_register(ctx, "berth", berth_methods, ELEMENTSOF(berth_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.content.v1");
        service_plugin_require(p, "io.containerd.metadata.v1");
        service_plugin_require(p, "io.containerd.snapshotter.v1");
        return 0;
}
