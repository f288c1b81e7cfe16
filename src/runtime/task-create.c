/* Creating a task (containerd's TaskManager.Create): bundle, shim `start`, connect, Create, Connect for the pid. */
#include <string.h>

#include "basic/fileio.h"
#include "basic/identifier.h"
#include "basic/log.h"
#include "cgroups/migration-warmer.h"
#include "containerd/runc/options/oci.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "runtime/runtime-internal.h"

#define RUNC_OPTIONS_TYPE "containerd.runc.v1.Options"

typedef struct create_ctx {
        rt_task *t;
        rt_pid_fn cb;
        void *userdata;
        uint8_t *options_any; /* packed google.protobuf.Any: the `start` stdin (NULL: none) */
        size_t options_any_len;
        uint8_t *request; /* packed CreateTaskRequest */
        size_t request_len;
        berr *late_fail; /* a failure noticed while Create was in flight, reported when it answers */
} create_ctx;

static void create_ctx_free(create_ctx *c) {
        if (c->t->rt) /* NULL once the runtime is being freed, with its warmer */
                cgroup_warmer_release(c->t->rt->warmer);
        berr_free(c->late_fail);
        rt_task_unref(c->t);
        free(c->options_any);
        free(c->request);
        free(c);
}

/* The options Any sent to the shim: the task's, else the container's runtime options (containerd's order), with
 * berthd's OCI runtime filled in where the options leave binary_name empty. Returns the packed Any or NULL. */
static uint8_t *effective_options(runtime *rt, const rt_create_opts *o, const char *runtime_name,
                                  size_t *ret_len) {
        const rt_any *src = o->task_options.type_url ? &o->task_options
                            : o->runtime_options.type_url ? &o->runtime_options
                                                          : NULL;
        const char *binary = runtime_oci_binary(rt, runtime_name);
        _cleanup_free_ uint8_t *value = NULL;
        size_t value_len = 0;
        const char *type_url = src ? src->type_url : NULL;
        if (binary && (!src || strcmp(src->type_url, RUNC_OPTIONS_TYPE) == 0)) {
                Containerd__Runc__V1__Options *opts =
                        src ? containerd__runc__v1__options__unpack(NULL, src->len, src->value) : NULL;
                Containerd__Runc__V1__Options fresh = CONTAINERD__RUNC__V1__OPTIONS__INIT;
                Containerd__Runc__V1__Options *use = opts ? opts : &fresh;
                if (src && !opts)
                        use = NULL; /* undecodable: pass it on untouched, the shim will say what is wrong */
                if (use) {
                        char *saved = use->binary_name;
                        if (!use->binary_name || !*use->binary_name)
                                use->binary_name = (char *) binary;
                        value_len = containerd__runc__v1__options__get_packed_size(use);
                        value = xmalloc(value_len + 1);
                        containerd__runc__v1__options__pack(use, value);
                        use->binary_name = saved;
                        type_url = RUNC_OPTIONS_TYPE;
                }
                if (opts)
                        containerd__runc__v1__options__free_unpacked(opts, NULL);
        }
        if (!type_url)
                return NULL;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *) type_url;
        if (value)
                any.value = (ProtobufCBinaryData) { .len = value_len, .data = value };
        else
                any.value = (ProtobufCBinaryData) { .len = src->len, .data = (uint8_t *) src->value };
        *ret_len = google__protobuf__any__get_packed_size(&any);
        uint8_t *out = xmalloc(*ret_len + 1);
        google__protobuf__any__pack(&any, out);
        return out;
}

static uint8_t *pack_create_request(const rt_task *t, const rt_create_opts *o, const uint8_t *options_any,
                                    size_t options_len, size_t *ret_len) {
        Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
        req.id = t->id;
        req.bundle = t->bundle;
        req.terminal = o->terminal;
        req.stdin = (char *) (o->stdin_path ? o->stdin_path : "");
        req.stdout = (char *) (o->stdout_path ? o->stdout_path : "");
        req.stderr = (char *) (o->stderr_path ? o->stderr_path : "");
        req.checkpoint = (char *) (o->checkpoint ? o->checkpoint : "");
        Google__Protobuf__Any *any =
                options_any ? google__protobuf__any__unpack(NULL, options_len, options_any) : NULL;
        req.options = any;
        Containerd__Types__Mount *mounts = xcalloc(o->n_rootfs + 1, sizeof *mounts);
        Containerd__Types__Mount **mp = xcalloc(o->n_rootfs + 1, sizeof *mp);
        for (size_t i = 0; i < o->n_rootfs; i++) {
                const berth_mount *m = &o->rootfs[i];
                containerd__types__mount__init(&mounts[i]);
                mounts[i].type = m->type ? m->type : (char *) "";
                mounts[i].source = m->source ? m->source : (char *) "";
                mounts[i].target = m->target ? m->target : (char *) "";
                mounts[i].options = m->options;
                mounts[i].n_options = m->n_options;
                mp[i] = &mounts[i];
        }
        req.rootfs = mp;
        req.n_rootfs = o->n_rootfs;
        *ret_len = containerd__task__v2__create_task_request__get_packed_size(&req);
        uint8_t *out = xmalloc(*ret_len + 1);
        containerd__task__v2__create_task_request__pack(&req, out);
        free(mp);
        free(mounts);
        if (any)
                google__protobuf__any__free_unpacked(any, NULL);
        return out;
}

/* ---- failure ---- */

typedef struct failure {
        create_ctx *c;
        berr *e;
} failure;

static void on_failed_teardown(rt_task *t, void *userdata) {
        failure *f = userdata;
        f->c->cb(t, f->e, 0, f->c->userdata);
        berr_free(f->e);
        create_ctx_free(f->c);
        free(f);
}

/* Cleans up everything, then reports e (taken). */
static void create_fail(create_ctx *c, berr *e) {
        log_debug("create task %s/%s failed: %s", c->t->ns, c->t->id, e->msg);
        failure *f = xmalloc(sizeof *f);
        *f = (failure) { .c = c, .e = e };
        rt_task_teardown(c->t, false, on_failed_teardown, f);
}

/* ---- steps ---- */

static void created(create_ctx *c, uint32_t pid) {
        rt_task *t = c->t;
        t->pid = pid;
        t->status = RT_STATUS_CREATED;
        t->phase = RT_PHASE_LIVE;
        log_debug("task %s/%s created, pid %u", t->ns, t->id, t->pid);
        rt_task_watch_exit(t);
        c->cb(t, NULL, t->pid, c->userdata);
        create_ctx_free(c);
}

static void on_connect(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        create_ctx *c = userdata;
        berr *fail = NULL;
        Containerd__Task__V2__ConnectResponse *r = NULL;
        if (e)
                berr_set(&fail, e->code, 0, "failed to get task pid: %s", e->msg);
        else if (!(r = containerd__task__v2__connect_response__unpack(NULL, len, p)))
                berr_set(&fail, BERR_INTERNAL, 0, "failed to get task pid: cannot decode ConnectResponse");
        if (fail || t->phase != RT_PHASE_STARTING) {
                if (!fail)
                        berr_set(&fail, BERR_UNAVAILABLE, 0, "failed to create shim task: shim disconnected");
                if (r)
                        containerd__task__v2__connect_response__free_unpacked(r, NULL);
                create_fail(c, fail);
                return;
        }
        uint32_t pid = r->task_pid;
        containerd__task__v2__connect_response__free_unpacked(r, NULL);
        created(c, pid);
}

static void on_create(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        create_ctx *c = userdata;
        berr *fail = NULL;
        if (e) {
                berr_set(&fail, e->code, 0, "failed to create shim task: %s", e->msg);
                create_fail(c, fail);
                return;
        }
        if (c->late_fail) {
                create_fail(c, TAKE_PTR(c->late_fail));
                return;
        }
        /* containerd asks Connect for the pid; the runc shim and ours already answer it in CreateTaskResponse, so
         * the extra round trip is only made for a shim that leaves it 0. */
        Containerd__Task__V2__CreateTaskResponse *cr = containerd__task__v2__create_task_response__unpack(NULL, len, p);
        uint32_t pid = cr ? cr->pid : 0;
        if (cr)
                containerd__task__v2__create_task_response__free_unpacked(cr, NULL);
        if (pid > 0 && t->phase == RT_PHASE_STARTING) {
                created(c, pid);
                return;
        }
        Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        req.id = t->id;
        if (rt_task_call(t, "Connect", &req.base, TIMEOUT_CONNECT, on_connect, c, &fail) < 0) {
                berr_wrap(&fail, "failed to get task pid");
                create_fail(c, fail);
        }
}

static void on_started(int exit_code, const char *out, size_t len, void *userdata) {
        create_ctx *c = userdata;
        rt_task *t = c->t;
        berr *fail = NULL;
        /* containerd trims the combined output and takes it as the address. */
        while (len > 0 && strchr(" \t\r\n", out[len - 1]))
                len--;
        while (len > 0 && strchr(" \t\r\n", *out)) {
                out++;
                len--;
        }
        if (exit_code != 0) {
                if (exit_code < 0)
                        berr_set(&fail, BERR_UNKNOWN, 0, "failed to start shim: start failed: %.*s", (int) len,
                                 out);
                else
                        berr_set(&fail, BERR_UNKNOWN, 0,
                                 "failed to start shim: start failed: %.*s: exit status %d", (int) len, out,
                                 exit_code);
                create_fail(c, fail);
                return;
        }
        _cleanup_free_ char *address = xstrndup(out, len);
        ttrpc_client *client = NULL;
        if (ttrpc_client_connect(t->rt->loop, address, &client, &fail) < 0) {
                berr_wrap(&fail, "failed to start shim: failed to connect to %s", address);
                create_fail(c, fail);
                return;
        }
        rt_task_attach_client(t, client);

        Containerd__Task__V2__CreateTaskRequest *req =
                containerd__task__v2__create_task_request__unpack(NULL, c->request_len, c->request);
        int r = rt_task_call(t, "Create", &req->base, TIMEOUT_CREATE, on_create, c, &fail);
        containerd__task__v2__create_task_request__free_unpacked(req, NULL);
        if (r < 0) {
                berr_wrap(&fail, "failed to create shim task");
                create_fail(c, fail);
                return;
        }
        /* Written while the shim works on Create (creating a file costs as much as the call's round trip here).
         * Runtime state (write_file_replace: no fsync): it only has to survive a berthd crash, not a reboot. */
        _cleanup_free_ char *binary_path = xasprintf("%s/shim-binary-path", t->bundle);
        if (write_file_replace(binary_path, t->shim_binary, strlen(t->shim_binary), 0644, &fail) < 0) {
                berr_wrap(&fail, "failed to start shim");
                c->late_fail = fail;
        }
}

int runtime_task_create(runtime *rt, const rt_create_opts *o, rt_pid_fn cb, void *userdata, berr **err) {
        if (identifier_validate(o->ns, err) < 0)
                return berr_wrap(err, "namespace validation");
        if (identifier_validate(o->id, err) < 0)
                return -1;
        if (rt_task_find_any(rt, o->ns, o->id))
                return berr_set(err, BERR_ALREADY_EXISTS, 0, "task %s: already exists", o->id);
        const char *runtime_name = o->runtime_name && *o->runtime_name ? o->runtime_name : RUNTIME_DEFAULT_NAME;
        _cleanup_free_ char *shim = runtime_resolve_shim(runtime_name, rt->self_dir, err);
        if (!shim)
                return berr_wrap(err, "failed to start shim: failed to resolve runtime path");

        _cleanup_free_ char *bundle = bundle_path(rt, o->ns, o->id);
        /* A leftover from a crash (no task registered for it): containerd removes it too. */
        if (access(bundle, F_OK) == 0) {
                log_warn("removing stale bundle %s", bundle);
                if (bundle_remove(bundle, err) < 0)
                        return berr_wrap(err, "failed to start shim: stale bundle");
        }
        if (bundle_create(bundle, o->spec, o->spec_len, err) < 0)
                return berr_wrap(err, "failed to start shim");

        rt_task *t = rt_task_new(rt, o->ns, o->id, bundle);
        t->runtime_name = xstrdup(runtime_name);
        t->shim_binary = TAKE_PTR(shim);
        if (bundle_open_log(t, err) < 0) {
                (void) bundle_remove(bundle, NULL);
                rt_task_unref(t);
                return berr_wrap(err, "failed to start shim");
        }
        rt_task_link(t);

        create_ctx *c = xcalloc(1, sizeof *c);
        c->t = t; /* takes the creation reference */
        /* Released with c: the runtime's create moves the container's first process into its cgroups. */
        cgroup_warmer_hold(rt->warmer);
        c->cb = cb;
        c->userdata = userdata;
        c->options_any = effective_options(rt, o, runtime_name, &c->options_any_len);
        c->request = pack_create_request(t, o, c->options_any, c->options_any_len, &c->request_len);
        if (shim_action_run(rt, t->shim_binary, t->ns, t->id, t->bundle, "start", c->options_any,
                            c->options_any_len, SHIM_STDERR_COMBINED, TIMEOUT_SHIM_START, on_started, c,
                            err) < 0) {
                bundle_close_log(t);
                (void) bundle_remove(bundle, NULL);
                t->phase = RT_PHASE_GONE;
                rt_task_unlink(t);
                create_ctx_free(c);
                return berr_wrap(err, "failed to start shim");
        }
        return 0;
}
