/* containerd.services.diff.v1.Diff. Apply unpacks a layer blob from the content store into the directory a
 * snapshot's mounts name (an overlay's upper dir, with overlay whiteouts; a bind mount's source), so berthd
 * never mounts anything for it, and answers with the uncompressed layer's descriptor (the diffID). The work
 * runs on a worker thread; the call is finished on the loop thread. Diff (comparing two mounts into a new
 * layer) is not implemented: pull and import only apply. */
#include <stdio.h>
#include <string.h>

#include "basic/log.h"
#include "containerd/services/diff/v1/diff.pb-c.h"
#include "images/mediatype.h"
#include "metadata/content.h"
#include "services/common.h"
#include "services/diff-apply.h"
#include "services/services.h"
#include "services/snapshots-mounts.h"
#include "snapshots/snapshots.h"

/* Device nodes from layers are created as containerd's archive.Apply does: when running as real root, not in
 * a user namespace (where mknod fails anyway). */
static bool devices_allowed(void) {
        static int cached = -1;
        if (cached >= 0)
                return cached;
        cached = 0;
        if (geteuid() != 0)
                return false;
        _cleanup_fclose_ FILE *f = fopen("/proc/self/uid_map", "re");
        unsigned long inside, outside, count;
        if (f && fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 && outside == 0 &&
            count == 4294967295UL)
                cached = 1;
        return cached;
}

typedef struct apply_call {
        grpc_call *call; /* referenced while the worker runs */
        diff_apply_job *job;
        char *media_type;
        char *digest;
} apply_call;

static void apply_done(int r, const apply_result *result, berr *e, void *userdata) {
        apply_call *ac = userdata;
        if (r < 0) {
                log_debug("diff apply %s failed: %s", ac->digest, e->msg);
                service_finish_error(ac->call, e);
        } else {
                log_debug("diff applied: %s (%s) -> %s, %lld bytes", ac->digest, ac->media_type, result->diff_id,
                          (long long) result->uncompressed_size);
                Containerd__Types__Descriptor applied = CONTAINERD__TYPES__DESCRIPTOR__INIT;
                applied.media_type = (char *) MT_OCI_LAYER;
                applied.digest = (char *) result->diff_id;
                applied.size = result->uncompressed_size;
                Containerd__Services__Diff__V1__ApplyResponse resp =
                        CONTAINERD__SERVICES__DIFF__V1__APPLY_RESPONSE__INIT;
                resp.applied = &applied;
                grpc_call_reply(ac->call, &resp.base);
        }
        grpc_call_set_state(ac->call, NULL);
        grpc_call_unref(ac->call);
        free(ac->media_type);
        free(ac->digest);
        free(ac);
}

/* Everything that can be checked on the loop thread: the namespace sees the blob, its media type is one we
 * can decompress, the mounts name a directory to apply into. Then the worker takes over. */
static int start_apply(grpc_call *call, service_context *ctx, const Containerd__Services__Diff__V1__ApplyRequest *req,
                       berr **err) {
        const char *ns = service_namespace(call, err);
        if (!ns)
                return -1;
        const Containerd__Types__Descriptor *desc = req->diff;
        if (!desc || !desc->digest || !*desc->digest)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "diff descriptor is required: invalid argument");
        meta_content_info info = { 0 };
        if (meta_content_get(ctx->db, ns, desc->digest, &info, err) < 0)
                return berr_wrap(err, "failed to get reader from content store");
        meta_content_info_done(&info);
        apply_compression compression;
        if (apply_compression_from_media_type(desc->media_type ? desc->media_type : "", &compression, err) < 0)
                return -1;

        berth_mount *mounts = NULL;
        size_t n = req->n_mounts;
        service_mounts_from_pb(req->mounts, n, &mounts);
        apply_target target = { .root_fd = -1 };
        int r = apply_target_from_mounts(mounts, n, &target, err);
        berth_mounts_free(mounts, n);
        if (r < 0)
                return -1;
        content_reader *reader = NULL;
        if (content_reader_open(ctx->content, desc->digest, &reader, err) < 0) {
                apply_target_done(&target);
                return berr_wrap(err, "failed to get reader from content store");
        }

        apply_call *ac = xcalloc(1, sizeof *ac);
        ac->call = grpc_call_ref(call);
        ac->media_type = xstrdup(desc->media_type ? desc->media_type : "");
        ac->digest = xstrdup(desc->digest);
        if (diff_apply_start(ctx->loop, reader, desc->digest, &target, compression, devices_allowed(), apply_done,
                             ac, &ac->job, err) < 0) {
                content_reader_free(reader);
                apply_target_done(&target);
                grpc_call_unref(ac->call);
                free(ac->media_type);
                free(ac->digest);
                free(ac);
                return -1;
        }
        grpc_call_set_state(call, ac);
        return 0;
}

static void diff_apply(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        _cleanup_pb_ Containerd__Services__Diff__V1__ApplyRequest *req = service_decode(
                call, &containerd__services__diff__v1__apply_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        if (start_apply(call, userdata, req, &e) < 0)
                service_finish_error(call, e);
}

/* The client went away or the deadline passed: stop extracting; the snapshot is the client's to remove. */
static void diff_apply_cancelled(grpc_call *call, void *userdata) {
        apply_call *ac = grpc_call_get_state(call);
        if (ac)
                diff_apply_cancel(ac->job);
}

static void diff_diff(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        grpc_call_finish(call, BERR_UNIMPLEMENTED, "%s", "diff: comparing mounts is not implemented: not implemented");
}

static const grpc_method diff_methods[] = {
        { .path = "/containerd.services.diff.v1.Diff/Apply",
          .kind = GRPC_UNARY,
          .on_message = diff_apply,
          .on_cancel = diff_apply_cancelled },
        { .path = "/containerd.services.diff.v1.Diff/Diff", .kind = GRPC_UNARY, .on_message = diff_diff },
};

int diff_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "diff", diff_methods, ELEMENTSOF(diff_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.differ.v1");
        return 0;
}
