/* containerd.services.tasks.v1.Tasks on the task manager (runtime/runtime.h), as containerd's services/tasks/local.go:
 * every method finds the container record, then its task, then forwards to the task's shim. Replies arrive
 * asynchronously; no handler ever waits for a shim (Wait included), so these methods have no on_cancel: a call
 * stays valid until its reply. */
#include <string.h>

#include "basic/fileio.h"
#include "basic/identifier.h"
#include "basic/log.h"
#include "berthd/config.h"
#include "containerd/runc/options/oci.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/containers.h"
#include "services/common.h"
#include "services/tasks-internal.h"

#define GO_ZERO_TIME_SECONDS INT64_C(-62135596800)

void tasks_finish_error(grpc_call *call, const berr *e) {
        berr *copy = NULL;
        berr_set(&copy, e->code, e->errnum, "%s", e->msg ? e->msg : "");
        service_finish_error(call, copy);
}

void tasks_reply_empty(grpc_call *call) {
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

void tasks_exited_at(Google__Protobuf__Timestamp *ts, int64_t ns) {
        if (ns > 0) {
                service_timestamp_set(ts, ns);
                return;
        }
        google__protobuf__timestamp__init(ts);
        ts->seconds = GO_ZERO_TIME_SECONDS;
}

rt_task *tasks_lookup(grpc_call *call, service_context *ctx, const char *id, const char **ret_ns) {
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return NULL;
        }
        meta_container c = { 0 };
        if (meta_container_get(ctx->db, ns, id, &c, &e) < 0) {
                service_finish_error(call, e);
                return NULL;
        }
        meta_container_done(&c);
        rt_task *t = ctx->runtime ? runtime_task_get(ctx->runtime, ns, id) : NULL;
        if (!t) {
                berr_set(&e, BERR_NOT_FOUND, 0, "task %s not found", id);
                service_finish_error(call, e);
                return NULL;
        }
        if (ret_ns)
                *ret_ns = ns;
        return t;
}

/* Decodes the request into `req` (declared by the caller) or returns. */
#define DECODE(type, desc)                                                         \
        _cleanup_pb_ type *req = service_decode(call, &(desc), msg, len);          \
        if (!req)                                                                  \
                return

/* ---- replies ---- */

static void on_empty(rt_task *t, const berr *e, void *userdata) {
        grpc_call *call = userdata;
        if (e)
                tasks_finish_error(call, e);
        else
                tasks_reply_empty(call);
}

static void on_raw_empty(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        on_empty(t, e, userdata);
}

/* Starts a call whose reply is Empty; finishes the gRPC call now if it cannot be sent. */
static void forward_empty(grpc_call *call, rt_task *t, const char *method, const ProtobufCMessage *req) {
        berr *e = NULL;
        if (rt_task_call(t, method, req, 0, on_raw_empty, call, &e) < 0)
                service_finish_error(call, e);
}

/* ---- methods ---- */

static void on_started(rt_task *t, const berr *e, uint32_t pid, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                tasks_finish_error(call, e);
                return;
        }
        Containerd__Services__Tasks__V1__StartResponse resp =
                CONTAINERD__SERVICES__TASKS__V1__START_RESPONSE__INIT;
        resp.pid = pid;
        grpc_call_reply(call, &resp.base);
}

static void tasks_start(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__StartRequest,
               containerd__services__tasks__v1__start_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        berr *e = NULL;
        if (t && rt_task_start(t, req->exec_id, on_started, call, &e) < 0)
                service_finish_error(call, e);
}

typedef struct delete_reply {
        grpc_call *call;
        char *id; /* the exec id for DeleteProcess, NULL for Delete */
} delete_reply;

static void on_deleted(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        delete_reply *d = userdata;
        if (e)
                tasks_finish_error(d->call, e);
        else {
                Containerd__Services__Tasks__V1__DeleteResponse resp =
                        CONTAINERD__SERVICES__TASKS__V1__DELETE_RESPONSE__INIT;
                Google__Protobuf__Timestamp at;
                tasks_exited_at(&at, x->exited_at);
                resp.id = d->id ? d->id : (char *) "";
                resp.pid = x->pid;
                resp.exit_status = x->exit_status;
                resp.exited_at = &at;
                grpc_call_reply(d->call, &resp.base);
        }
        free(d->id);
        free(d);
}

static void tasks_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__DeleteTaskRequest,
               containerd__services__tasks__v1__delete_task_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        delete_reply *d = xcalloc(1, sizeof *d);
        d->call = call;
        berr *e = NULL;
        if (rt_task_delete(t, on_deleted, d, &e) < 0) {
                free(d);
                service_finish_error(call, e);
        }
}

static void tasks_delete_process(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__DeleteProcessRequest,
               containerd__services__tasks__v1__delete_process_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        delete_reply *d = xcalloc(1, sizeof *d);
        d->call = call;
        d->id = xstrdup(req->exec_id);
        berr *e = NULL;
        if (rt_task_delete_process(t, req->exec_id, on_deleted, d, &e) < 0) {
                free(d->id);
                free(d);
                service_finish_error(call, e);
        }
}

static void on_get_state(rt_task *t, const berr *e, const rt_state *s, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                tasks_finish_error(call, e);
                return;
        }
        Containerd__V1__Types__Process p = CONTAINERD__V1__TYPES__PROCESS__INIT;
        Google__Protobuf__Timestamp at;
        tasks_exited_at(&at, s->exited_at);
        p.id = (char *) (s->id && *s->id ? s->id : rt_task_id(t));
        p.pid = s->pid;
        p.status = (Containerd__V1__Types__Status) s->status;
        p.stdin = (char *) s->stdin_path;
        p.stdout = (char *) s->stdout_path;
        p.stderr = (char *) s->stderr_path;
        p.terminal = s->terminal;
        p.exit_status = s->exit_status;
        p.exited_at = &at;
        Containerd__Services__Tasks__V1__GetResponse resp = CONTAINERD__SERVICES__TASKS__V1__GET_RESPONSE__INIT;
        resp.process = &p;
        grpc_call_reply(call, &resp.base);
}

static void tasks_get(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__GetRequest,
               containerd__services__tasks__v1__get_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        berr *e = NULL;
        if (t && rt_task_state(t, req->exec_id, on_get_state, call, &e) < 0)
                service_finish_error(call, e);
}

static void tasks_kill(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__KillRequest,
               containerd__services__tasks__v1__kill_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        berr *e = NULL;
        if (t && rt_task_kill(t, req->exec_id, req->signal, req->all, on_empty, call, &e) < 0)
                service_finish_error(call, e);
}

static void tasks_exec(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__ExecProcessRequest,
               containerd__services__tasks__v1__exec_process_request__descriptor);
        berr *e = NULL;
        if (!req->exec_id || !*req->exec_id) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "exec id cannot be empty");
                return;
        }
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        if (identifier_validate(req->exec_id, &e) < 0) {
                berr_wrap(&e, "invalid exec id %s", req->exec_id);
                service_finish_error(call, e);
                return;
        }
        rt_exec_opts o = {
                .exec_id = req->exec_id,
                .stdin_path = req->stdin,
                .stdout_path = req->stdout,
                .stderr_path = req->stderr,
                .terminal = req->terminal,
        };
        if (req->spec)
                o.spec = (rt_any) { .type_url = req->spec->type_url, .value = req->spec->value.data,
                                    .len = req->spec->value.len };
        if (rt_task_exec(t, &o, on_empty, call, &e) < 0)
                service_finish_error(call, e);
}

static void tasks_resize_pty(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__ResizePtyRequest,
               containerd__services__tasks__v1__resize_pty_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        Containerd__Task__V2__ResizePtyRequest r = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
        r.id = req->container_id;
        r.exec_id = req->exec_id;
        r.width = req->width;
        r.height = req->height;
        forward_empty(call, t, "ResizePty", &r.base);
}

static void tasks_close_io(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__CloseIORequest,
               containerd__services__tasks__v1__close_iorequest__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        if (!req->stdin) { /* containerd only acts on stdin */
                tasks_reply_empty(call);
                return;
        }
        Containerd__Task__V2__CloseIORequest r = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;
        r.id = req->container_id;
        r.exec_id = req->exec_id;
        r.stdin = true;
        forward_empty(call, t, "CloseIO", &r.base);
}

static void tasks_pause(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__PauseTaskRequest,
               containerd__services__tasks__v1__pause_task_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        Containerd__Task__V2__PauseRequest r = CONTAINERD__TASK__V2__PAUSE_REQUEST__INIT;
        r.id = req->container_id;
        forward_empty(call, t, "Pause", &r.base);
}

static void tasks_resume(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__ResumeTaskRequest,
               containerd__services__tasks__v1__resume_task_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        Containerd__Task__V2__ResumeRequest r = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
        r.id = req->container_id;
        forward_empty(call, t, "Resume", &r.base);
}

static void on_pids(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                tasks_finish_error(call, e);
                return;
        }
        Containerd__Task__V2__PidsResponse *r = containerd__task__v2__pids_response__unpack(NULL, len, p);
        if (!r) {
                grpc_call_finish(call, BERR_INTERNAL, "cannot decode the shim's PidsResponse");
                return;
        }
        /* Both messages hold repeated containerd.v1.types.ProcessInfo: hand the shim's list on as it is. */
        Containerd__Services__Tasks__V1__ListPidsResponse resp =
                CONTAINERD__SERVICES__TASKS__V1__LIST_PIDS_RESPONSE__INIT;
        resp.processes = r->processes;
        resp.n_processes = r->n_processes;
        grpc_call_reply(call, &resp.base);
        containerd__task__v2__pids_response__free_unpacked(r, NULL);
}

static void tasks_list_pids(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__ListPidsRequest,
               containerd__services__tasks__v1__list_pids_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        Containerd__Task__V2__PidsRequest r = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
        r.id = req->container_id;
        berr *e = NULL;
        if (rt_task_call(t, "Pids", &r.base, 0, on_pids, call, &e) < 0)
                service_finish_error(call, e);
}

/* Checkpoint: the shim does the work (criu through the OCI runtime). containerd then packs the image directory
 * into the content store; berthd does not, so it needs an image path in the options (containerd.runc.v1
 * CheckpointOptions.image_path, as `ctr c checkpoint --image-path` sends) and otherwise says so — after the shim
 * had its say, so a host without a working criu reports that first. */
typedef struct checkpoint_ctx {
        grpc_call *call;
        char *tmpdir; /* our scratch image dir when the client gave none */
} checkpoint_ctx;

static void on_checkpoint(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        checkpoint_ctx *c = userdata;
        if (e)
                tasks_finish_error(c->call, e);
        else if (c->tmpdir)
                grpc_call_finish(c->call, BERR_UNIMPLEMENTED,
                                 "checkpoint taken, but berthd cannot store checkpoints in the content store; "
                                 "pass an image path (ctr checkpoint --image-path)");
        else {
                Containerd__Services__Tasks__V1__CheckpointTaskResponse resp =
                        CONTAINERD__SERVICES__TASKS__V1__CHECKPOINT_TASK_RESPONSE__INIT;
                grpc_call_reply(c->call, &resp.base);
        }
        if (c->tmpdir)
                (void) rm_rf(c->tmpdir, NULL);
        free(c->tmpdir);
        free(c);
}

static char *checkpoint_image_path(const Google__Protobuf__Any *options) {
        if (!options || strcmp(options->type_url, "containerd.runc.v1.CheckpointOptions") != 0)
                return NULL;
        Containerd__Runc__V1__CheckpointOptions *o =
                containerd__runc__v1__checkpoint_options__unpack(NULL, options->value.len, options->value.data);
        if (!o)
                return NULL;
        char *path = o->image_path && *o->image_path ? xstrdup(o->image_path) : NULL;
        containerd__runc__v1__checkpoint_options__free_unpacked(o, NULL);
        return path;
}

static void tasks_checkpoint(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__CheckpointTaskRequest,
               containerd__services__tasks__v1__checkpoint_task_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        checkpoint_ctx *c = xcalloc(1, sizeof *c);
        c->call = call;
        _cleanup_free_ char *path = checkpoint_image_path(req->options);
        if (!path) {
                char tmpl[] = "/tmp/berth-checkpoint.XXXXXX";
                if (!mkdtemp(tmpl)) {
                        free(c);
                        grpc_call_finish(call, BERR_INTERNAL, "cannot create a checkpoint directory: %m");
                        return;
                }
                c->tmpdir = xstrdup(tmpl);
        }
        Containerd__Task__V2__CheckpointTaskRequest r = CONTAINERD__TASK__V2__CHECKPOINT_TASK_REQUEST__INIT;
        r.id = req->container_id;
        r.path = path ? path : c->tmpdir;
        r.options = req->options;
        berr *e = NULL;
        if (rt_task_call(t, "Checkpoint", &r.base, 0, on_checkpoint, c, &e) < 0) {
                if (c->tmpdir)
                        (void) rm_rf(c->tmpdir, NULL);
                free(c->tmpdir);
                free(c);
                service_finish_error(call, e);
        }
}

static void tasks_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__UpdateTaskRequest,
               containerd__services__tasks__v1__update_task_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        if (!t)
                return;
        Containerd__Task__V2__UpdateTaskRequest r = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
        r.id = req->container_id;
        r.resources = req->resources;
        /* Same entry layout, different descriptors: build the shim's entries. */
        _cleanup_free_ Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry *entries =
                xcalloc(req->n_annotations + 1, sizeof *entries);
        _cleanup_free_ Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry **ptrs =
                xcalloc(req->n_annotations + 1, sizeof *ptrs);
        for (size_t i = 0; i < req->n_annotations; i++) {
                containerd__task__v2__update_task_request__annotations_entry__init(&entries[i]);
                entries[i].key = req->annotations[i]->key;
                entries[i].value = req->annotations[i]->value;
                ptrs[i] = &entries[i];
        }
        r.annotations = ptrs;
        r.n_annotations = req->n_annotations;
        forward_empty(call, t, "Update", &r.base);
}

static void on_waited(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                tasks_finish_error(call, e);
                return;
        }
        Containerd__Services__Tasks__V1__WaitResponse resp = CONTAINERD__SERVICES__TASKS__V1__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp at;
        tasks_exited_at(&at, x->exited_at);
        resp.exit_status = x->exit_status;
        resp.exited_at = &at;
        grpc_call_reply(call, &resp.base);
}

static void tasks_wait(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        DECODE(Containerd__Services__Tasks__V1__WaitRequest,
               containerd__services__tasks__v1__wait_request__descriptor);
        rt_task *t = tasks_lookup(call, userdata, req->container_id, NULL);
        berr *e = NULL;
        if (t && rt_task_wait(t, req->exec_id, on_waited, call, &e) < 0)
                service_finish_error(call, e);
}

#define TASKS_METHOD(name, fn) { "/containerd.services.tasks.v1.Tasks/" name, GRPC_UNARY, fn, NULL, NULL }

static const grpc_method tasks_methods[] = {
        TASKS_METHOD("Create", tasks_create),
        TASKS_METHOD("Start", tasks_start),
        TASKS_METHOD("Delete", tasks_delete),
        TASKS_METHOD("DeleteProcess", tasks_delete_process),
        TASKS_METHOD("Get", tasks_get),
        TASKS_METHOD("List", tasks_list),
        TASKS_METHOD("Kill", tasks_kill),
        TASKS_METHOD("Exec", tasks_exec),
        TASKS_METHOD("ResizePty", tasks_resize_pty),
        TASKS_METHOD("CloseIO", tasks_close_io),
        TASKS_METHOD("Pause", tasks_pause),
        TASKS_METHOD("Resume", tasks_resume),
        TASKS_METHOD("ListPids", tasks_list_pids),
        TASKS_METHOD("Checkpoint", tasks_checkpoint),
        TASKS_METHOD("Update", tasks_update),
        TASKS_METHOD("Metrics", tasks_metrics),
        TASKS_METHOD("Wait", tasks_wait),
};

int tasks_service_register(service_context *ctx, berr **err) {
        runtime_config cfg = {
                .loop = ctx->loop,
                .state = ctx->state,
                .address = ctx->address,
                .ttrpc_address = ctx->ttrpc_address,
                .oci_runtime = ctx->config ? ctx->config->oci_runtime : NULL,
                .events = ctx->events,
        };
        service_plugin *p = service_plugin_add(ctx, "io.containerd.runtime.v2", "task");
        service_plugin_platform_host(p);
        service_plugin_require(p, "io.containerd.event.v1");
        if (runtime_new(&cfg, &ctx->runtime, err) < 0) {
                service_plugin_fail(p, *err);
                return berr_wrap(err, "task manager");
        }
        if (runtime_restore(ctx->runtime, err) < 0)
                return berr_wrap(err, "reconnecting to shims");
        if (service_register(ctx, "tasks", tasks_methods, ELEMENTSOF(tasks_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.runtime.v2");
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
