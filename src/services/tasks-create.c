/* Tasks.Create: the container record gives the spec (config.json), the runtime {name, options} and the snapshot;
 * the request gives stdio, terminal, task options and usually the rootfs mounts (ctr asks the snapshotter itself).
 * With no mounts in the request, the container's snapshot is asked for them, so a client may leave them out. */
#include <inttypes.h>
#include <string.h>

#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "metadata/containers.h"
#include "metadata/snapshots.h"
#include "services/common.h"
#include "services/snapshots-mounts.h"
#include "services/tasks-internal.h"
#include "snapshots/snapshots.h"

/* The mounts of the container's snapshot, as the snapshots service's Mounts would answer. */
static int container_rootfs(service_context *ctx, const char *ns, const meta_container *c, berth_mount **ret,
                            size_t *ret_n, berr **err) {
        const char *name = c->snapshotter && *c->snapshotter ? c->snapshotter : ctx->default_snapshotter;
        snapshotter *sn = service_snapshotter(ctx, name);
        if (!sn)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "snapshotter not loaded: %s", name ? name : "");
        meta_snapshot s = { 0 };
        if (meta_snapshot_get(ctx->db, ns, name, c->snapshot_key, &s, err) < 0)
                return -1;
        _cleanup_free_ int64_t *ids = NULL;
        size_t n_ids = 0;
        if (meta_snapshot_parent_ids(ctx->db, ns, name, c->snapshot_key, &ids, &n_ids, err) < 0) {
                meta_snapshot_done(&s);
                return -1;
        }
        char **parents = xcalloc(n_ids + 1, sizeof *parents);
        for (size_t i = 0; i < n_ids; i++)
                parents[i] = xasprintf("%" PRId64, ids[i]);
        _cleanup_free_ char *id = xasprintf("%" PRId64, s.backend_id);
        int r = snapshotter_mounts(sn, id, (snapshot_kind) s.kind, parents, n_ids, ret, ret_n, err);
        for (size_t i = 0; i < n_ids; i++)
                free(parents[i]);
        free(parents);
        meta_snapshot_done(&s);
        return r;
}

static void on_created(rt_task *t, const berr *e, uint32_t pid, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                tasks_finish_error(call, e);
                return;
        }
        Containerd__Services__Tasks__V1__CreateTaskResponse resp =
                CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_RESPONSE__INIT;
        resp.container_id = (char *) rt_task_id(t);
        resp.pid = pid;
        grpc_call_reply(call, &resp.base);
}

void tasks_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Tasks__V1__CreateTaskRequest *req = service_decode(
                call, &containerd__services__tasks__v1__create_task_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return;
        }
        meta_container c = { 0 };
        if (meta_container_get(ctx->db, ns, req->container_id, &c, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        berth_mount *mounts = NULL;
        size_t n_mounts = 0;
        int r = 0;
        if (req->checkpoint && req->checkpoint->digest && *req->checkpoint->digest)
                r = berr_set(&e, BERR_UNIMPLEMENTED, 0, "restoring a task from a checkpoint is not supported");
        else if (!ctx->runtime)
                r = berr_set(&e, BERR_UNAVAILABLE, 0, "the task manager is not available");
        else if (req->n_rootfs > 0) {
                n_mounts = req->n_rootfs;
                service_mounts_from_pb(req->rootfs, req->n_rootfs, &mounts);
        } else if (c.snapshot_key && *c.snapshot_key)
                r = container_rootfs(ctx, ns, &c, &mounts, &n_mounts, &e);
        if (r < 0) {
                meta_container_done(&c);
                service_finish_error(call, e);
                return;
        }

        rt_create_opts o = {
                .ns = ns,
                .id = req->container_id,
                .runtime_name = req->runtime_path && *req->runtime_path ? req->runtime_path : c.runtime_name,
                .spec = c.spec,
                .spec_len = c.spec_len,
                .rootfs = mounts,
                .n_rootfs = n_mounts,
                .stdin_path = req->stdin,
                .stdout_path = req->stdout,
                .stderr_path = req->stderr,
                .terminal = req->terminal,
        };
        if (req->options)
                o.task_options = (rt_any) { .type_url = req->options->type_url, .value = req->options->value.data,
                                            .len = req->options->value.len };
        if (c.runtime_options_type)
                o.runtime_options = (rt_any) { .type_url = c.runtime_options_type, .value = c.runtime_options,
                                               .len = c.runtime_options_len };
        r = runtime_task_create(ctx->runtime, &o, on_created, call, &e);
        berth_mounts_free(mounts, n_mounts);
        meta_container_done(&c);
        if (r < 0)
                service_finish_error(call, e);
}
