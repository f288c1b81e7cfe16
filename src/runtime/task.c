/* A task: its shim connection, its cached init state, and the Task calls made on it. Every call holds a reference
 * on the task until its reply is delivered, so a task deleted meanwhile stays valid for the callback. */
#include <string.h>

#include "basic/log.h"
#include "cgroups/migration-warmer.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "runtime/runtime-internal.h"

rt_task *rt_task_new(runtime *rt, const char *ns, const char *id, const char *bundle) {
        rt_task *t = xcalloc(1, sizeof *t);
        t->n_ref = 1;
        t->rt = rt;
        t->ns = xstrdup(ns);
        t->id = xstrdup(id);
        t->bundle = xstrdup(bundle);
        t->log_fd = -1;
        t->phase = RT_PHASE_STARTING;
        return t;
}

rt_task *rt_task_ref(rt_task *t) {
        t->n_ref++;
        return t;
}

static void rt_task_free(rt_task *t) {
        if (t->rt)
                bundle_close_log(t);
        else
                safe_close(t->log_fd);
        ttrpc_client_free(t->client);
        free(t->ns);
        free(t->id);
        free(t->bundle);
        free(t->runtime_name);
        free(t->shim_binary);
        free(t);
}

void rt_task_unref(rt_task *t) {
        if (t && --t->n_ref == 0)
                rt_task_free(t);
}

void rt_task_link(rt_task *t) {
        runtime *rt = t->rt;
        t->next = rt->head;
        if (rt->head)
                rt->head->prev = t;
        rt->head = t;
        t->in_list = true;
        rt_task_ref(t);
}

void rt_task_unlink(rt_task *t) {
        if (!t->in_list)
                return;
        if (t->prev)
                t->prev->next = t->next;
        else if (t->rt)
                t->rt->head = t->next;
        if (t->next)
                t->next->prev = t->prev;
        t->prev = t->next = NULL;
        t->in_list = false;
        rt_task_unref(t);
}

rt_task *rt_task_find_any(runtime *rt, const char *ns, const char *id) {
        for (rt_task *t = rt->head; t; t = t->next)
                if (strcmp(t->id, id) == 0 && strcmp(t->ns, ns) == 0)
                        return t;
        return NULL;
}

rt_task *runtime_task_get(runtime *rt, const char *ns, const char *id) {
        rt_task *t = rt_task_find_any(rt, ns, id);
        return t && t->phase == RT_PHASE_LIVE ? t : NULL;
}

size_t runtime_task_list(runtime *rt, const char *ns, rt_task ***ret) {
        size_t n = 0;
        for (rt_task *t = rt->head; t; t = t->next)
                n++;
        rt_task **v = xcalloc(n + 1, sizeof *v);
        n = 0;
        for (rt_task *t = rt->head; t; t = t->next)
                if (t->phase == RT_PHASE_LIVE && (!ns || strcmp(t->ns, ns) == 0))
                        v[n++] = t;
        /* Newest first in the list; oldest first reads better. */
        for (size_t i = 0; i < n / 2; i++) {
                rt_task *x = v[i];
                v[i] = v[n - 1 - i];
                v[n - 1 - i] = x;
        }
        *ret = v;
        return n;
}

const char *rt_task_ns(const rt_task *t) {
        return t->ns;
}

const char *rt_task_id(const rt_task *t) {
        return t->id;
}

void rt_task_info_get(const rt_task *t, rt_task_info *ret) {
        *ret = (rt_task_info) {
                .ns = t->ns,
                .id = t->id,
                .bundle = t->bundle,
                .runtime_name = t->runtime_name,
                .pid = t->pid,
                .status = t->status,
                .exited = t->exited,
                .exit_status = t->exit_status,
                .exited_at = t->exited_at,
        };
}

void rt_task_set_exit(rt_task *t, uint32_t pid, uint32_t exit_status, int64_t exited_at) {
        if (t->exited)
                return;
        t->exited = true;
        t->status = RT_STATUS_STOPPED;
        if (pid)
                t->pid = pid;
        t->exit_status = exit_status;
        t->exited_at = exited_at ? exited_at : now_realtime_nsec();
}

bool rt_timestamp_is_zero(int64_t ns) {
        return ns <= 0;
}

int64_t rt_timestamp_ns(const void *p) {
        const Google__Protobuf__Timestamp *ts = p;
        /* Go's zero time (-62135596800 s) means "not exited"; so does anything before 1970. */
        if (!ts || ts->seconds <= 0)
                return 0;
        return ts->seconds * NSEC_PER_SEC + ts->nanos;
}

/* ---- raw calls ---- */

typedef struct call_ctx {
        rt_task *t;
        rt_reply_fn cb;
        void *userdata;
} call_ctx;

static void on_reply(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *userdata) {
        call_ctx *c = userdata;
        berr e = { .code = code, .msg = (char *) (msg ? msg : "") };
        c->cb(c->t, code == BERR_OK ? NULL : &e, payload, len, c->userdata);
        rt_task_unref(c->t);
        free(c);
}

static int64_t default_timeout(const char *method) {
        if (strcmp(method, "Wait") == 0)
                return 0;
        if (strcmp(method, "State") == 0)
                return TIMEOUT_STATE;
        if (strcmp(method, "Connect") == 0)
                return TIMEOUT_CONNECT;
        if (strcmp(method, "Shutdown") == 0)
                return TIMEOUT_SHUTDOWN;
        if (strcmp(method, "Create") == 0)
                return TIMEOUT_CREATE;
        return TIMEOUT_CALL;
}

int rt_task_call_md(rt_task *t, const char *method, const ProtobufCMessage *req, const ttrpc_kv *md, size_t n_md,
                    int64_t timeout_ns, rt_reply_fn cb, void *userdata, berr **err) {
        if (!t->client || ttrpc_client_closed(t->client))
                return berr_set(err, BERR_UNAVAILABLE, 0, "ttrpc: closed");
        call_ctx *c = xmalloc(sizeof *c);
        *c = (call_ctx) { .t = rt_task_ref(t), .cb = cb, .userdata = userdata };
        if (ttrpc_client_call(t->client, TASK_SERVICE, method, req, md, n_md,
                              timeout_ns ? timeout_ns : default_timeout(method), on_reply, c, err) < 0) {
                rt_task_unref(t);
                free(c);
                return -1;
        }
        return 0;
}

int rt_task_call(rt_task *t, const char *method, const ProtobufCMessage *req, int64_t timeout_ns, rt_reply_fn cb,
                 void *userdata, berr **err) {
        return rt_task_call_md(t, method, req, NULL, 0, timeout_ns, cb, userdata, err);
}

/* ---- typed calls ---- */

typedef struct typed_ctx {
        union {
                rt_done_fn done;
                rt_pid_fn pid;
                rt_exit_fn exit;
                rt_state_fn state;
        } cb;
        void *userdata;
        bool init; /* the call is about the init process */
} typed_ctx;

static typed_ctx *typed_new(void *cb, void *userdata, const char *exec_id) {
        typed_ctx *c = xmalloc(sizeof *c);
        *c = (typed_ctx) { .userdata = userdata, .init = !exec_id || !*exec_id };
        c->cb.done = (rt_done_fn) cb;
        return c;
}

static int typed_call(rt_task *t, const char *method, const ProtobufCMessage *req, rt_reply_fn on, typed_ctx *c,
                      berr **err) {
        if (rt_task_call(t, method, req, 0, on, c, err) < 0) {
                free(c);
                return -1;
        }
        return 0;
}

/* A reply that failed to decode is an Internal error, as a Go client would report it. */
static const berr decode_error = { .code = BERR_INTERNAL, .msg = (char *) "cannot decode the shim's reply" };

static void on_start(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        typed_ctx *c = userdata;
        Containerd__Task__V2__StartResponse *r = NULL;
        if (!e && !(r = containerd__task__v2__start_response__unpack(NULL, len, p)))
                e = &decode_error;
        if (!e && c->init) {
                t->pid = r->pid;
                if (!t->exited)
                        t->status = RT_STATUS_RUNNING;
        }
        if (!c->init && t->rt)
                cgroup_warmer_release(t->rt->warmer);
        c->cb.pid(t, e, r ? r->pid : 0, c->userdata);
        if (r)
                containerd__task__v2__start_response__free_unpacked(r, NULL);
        free(c);
}

int rt_task_start(rt_task *t, const char *exec_id, rt_pid_fn cb, void *userdata, berr **err) {
        Containerd__Task__V2__StartRequest req = CONTAINERD__TASK__V2__START_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = (char *) (exec_id ? exec_id : "");
        typed_ctx *c = typed_new((void *) cb, userdata, exec_id);
        /* Starting an exec moves its process into the container's cgroups (starting init moves nothing). */
        if (!c->init)
                cgroup_warmer_hold(t->rt->warmer);
        bool init = c->init;
        if (typed_call(t, "Start", &req.base, on_start, c, err) < 0) {
                if (!init)
                        cgroup_warmer_release(t->rt->warmer);
                return -1;
        }
        return 0;
}

static void on_done(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        typed_ctx *c = userdata;
        c->cb.done(t, e, c->userdata);
        free(c);
}

int rt_task_kill(rt_task *t, const char *exec_id, uint32_t signal, bool all, rt_done_fn cb, void *userdata,
                 berr **err) {
        Containerd__Task__V2__KillRequest req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = (char *) (exec_id ? exec_id : "");
        req.signal = signal;
        req.all = all;
        return typed_call(t, "Kill", &req.base, on_done, typed_new((void *) cb, userdata, exec_id), err);
}

static void on_wait(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        typed_ctx *c = userdata;
        Containerd__Task__V2__WaitResponse *r = NULL;
        if (!e && !(r = containerd__task__v2__wait_response__unpack(NULL, len, p)))
                e = &decode_error;
        rt_exit x = { 0 };
        if (r) {
                x = (rt_exit) { .pid = c->init ? t->pid : 0, .exit_status = r->exit_status,
                                .exited_at = rt_timestamp_ns(r->exited_at) };
                if (c->init)
                        rt_task_set_exit(t, 0, x.exit_status, x.exited_at);
                containerd__task__v2__wait_response__free_unpacked(r, NULL);
        }
        c->cb.exit(t, e, r || !e ? &x : NULL, c->userdata);
        free(c);
}

int rt_task_wait(rt_task *t, const char *exec_id, rt_exit_fn cb, void *userdata, berr **err) {
        Containerd__Task__V2__WaitRequest req = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = (char *) (exec_id ? exec_id : "");
        return typed_call(t, "Wait", &req.base, on_wait, typed_new((void *) cb, userdata, exec_id), err);
}

static void on_state(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        typed_ctx *c = userdata;
        Containerd__Task__V2__StateResponse *r = NULL;
        if (!e && !(r = containerd__task__v2__state_response__unpack(NULL, len, p)))
                e = &decode_error;
        rt_state s = { 0 };
        if (r) {
                s = (rt_state) {
                        .id = r->id,
                        .pid = r->pid,
                        .status = (rt_status) r->status,
                        .stdin_path = r->stdin,
                        .stdout_path = r->stdout,
                        .stderr_path = r->stderr,
                        .terminal = r->terminal,
                        .exit_status = r->exit_status,
                        .exited_at = rt_timestamp_ns(r->exited_at),
                };
                if (c->init) {
                        if (s.status == RT_STATUS_STOPPED)
                                rt_task_set_exit(t, s.pid, s.exit_status, s.exited_at);
                        else if (!t->exited && s.status != RT_STATUS_UNKNOWN)
                                t->status = s.status;
                        if (s.pid)
                                t->pid = s.pid;
                }
        }
        c->cb.state(t, e, r ? &s : NULL, c->userdata);
        if (r)
                containerd__task__v2__state_response__free_unpacked(r, NULL);
        free(c);
}

int rt_task_state(rt_task *t, const char *exec_id, rt_state_fn cb, void *userdata, berr **err) {
        Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = (char *) (exec_id ? exec_id : "");
        return typed_call(t, "State", &req.base, on_state, typed_new((void *) cb, userdata, exec_id), err);
}

int rt_task_exec(rt_task *t, const rt_exec_opts *o, rt_done_fn cb, void *userdata, berr **err) {
        Containerd__Task__V2__ExecProcessRequest req = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
        Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
        req.id = t->id;
        req.exec_id = (char *) o->exec_id;
        req.terminal = o->terminal;
        req.stdin = (char *) (o->stdin_path ? o->stdin_path : "");
        req.stdout = (char *) (o->stdout_path ? o->stdout_path : "");
        req.stderr = (char *) (o->stderr_path ? o->stderr_path : "");
        if (o->spec.type_url) {
                spec.type_url = (char *) o->spec.type_url;
                spec.value = (ProtobufCBinaryData) { .len = o->spec.len, .data = (uint8_t *) o->spec.value };
                req.spec = &spec;
        }
        return typed_call(t, "Exec", &req.base, on_done, typed_new((void *) cb, userdata, o->exec_id), err);
}

static void on_delete_process(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        typed_ctx *c = userdata;
        Containerd__Task__V2__DeleteResponse *r = NULL;
        if (!e && !(r = containerd__task__v2__delete_response__unpack(NULL, len, p)))
                e = &decode_error;
        rt_exit x = { 0 };
        if (r) {
                x = (rt_exit) { .pid = r->pid, .exit_status = r->exit_status,
                                .exited_at = rt_timestamp_ns(r->exited_at) };
                containerd__task__v2__delete_response__free_unpacked(r, NULL);
        }
        c->cb.exit(t, e, e ? NULL : &x, c->userdata);
        free(c);
}

int rt_task_delete_process(rt_task *t, const char *exec_id, rt_exit_fn cb, void *userdata, berr **err) {
        if (!exec_id || !*exec_id)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec id cannot be empty");
        Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
        req.id = t->id;
        req.exec_id = (char *) exec_id;
        return typed_call(t, "Delete", &req.base, on_delete_process, typed_new((void *) cb, userdata, exec_id),
                          err);
}

/* ---- the connection and the exit watch ---- */

static void on_client_close(ttrpc_client *client, void *userdata) {
        rt_task *t = userdata;
        if (t->phase == RT_PHASE_LIVE || t->phase == RT_PHASE_STARTING) {
                log_warn("shim of task %s/%s disconnected", t->ns, t->id);
                rt_task_on_dead_shim(t);
        }
}

void rt_task_attach_client(rt_task *t, ttrpc_client *client) {
        t->client = client;
        ttrpc_client_set_on_close(client, on_client_close, t);
}

static void on_watch_exit(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        t->waiting = false;
        if (e) {
                /* The connection went away (dead shim or our teardown) or the shim failed the call; exits then
                 * come from the cleanup path or the /tasks/exit event. */
                if (e->code != BERR_UNAVAILABLE)
                        log_debug("wait on task %s/%s: %s", t->ns, t->id, e->msg);
                return;
        }
        log_debug("task %s/%s exited with status %u", t->ns, t->id, x->exit_status);
}

void rt_task_watch_exit(rt_task *t) {
        if (t->waiting || t->exited)
                return;
        _cleanup_berr_ berr *e = NULL;
        if (rt_task_wait(t, NULL, on_watch_exit, NULL, &e) < 0) {
                log_debug("cannot wait on task %s/%s: %s", t->ns, t->id, e->msg);
                return;
        }
        t->waiting = true;
}
