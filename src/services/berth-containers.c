/* berth.v1.Containers: registration, the helpers every file of the service shares, exit waiters, and the small
 * methods (Kill, Pause, Unpause, Wait). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/berth-containers.h"
#include "services/common.h"

struct bc_waiter {
        bc_waiter *next;
        char *ns, *id;
        bc_exit_fn fn;
        void *userdata;
};

int bc_labels_update(bc_service *s, const char *ns, const char *id, const char *const *kv, size_t n_pairs,
                     berr **err) {
        meta_container c = { .id = (char *) id };
        char **paths = xcalloc(n_pairs + 1, sizeof *paths);
        for (size_t i = 0; i < n_pairs; i++) {
                meta_labels_set(&c.labels, kv[2 * i], kv[2 * i + 1]);
                paths[i] = xasprintf("labels.%s", kv[2 * i]);
        }
        int r = meta_container_update(s->ctx->db, ns, &c, (const char *const *) paths, n_pairs, NULL, err);
        strv_free(paths);
        meta_labels_done(&c.labels);
        return r;
}

int64_t bc_label_int(const meta_container *c, const char *key) {
        const char *v = meta_labels_get(&c->labels, key);
        if (!v || !*v)
                return 0;
        char *end = NULL;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        return errno || *end ? 0 : (int64_t) n;
}

bool bc_label_true(const meta_container *c, const char *key) {
        const char *v = meta_labels_get(&c->labels, key);
        return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

bool bc_is_managed(const meta_container *c) {
        return meta_labels_get(&c->labels, BC_LABEL_MANAGED) || meta_labels_get(&c->labels, RESTART_LABEL_POLICY);
}

int bc_container_get(bc_service *s, const char *ns, const char *id, meta_container *ret, berr **err) {
        if (!id || !*id)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "a container name or id is required");
        if (bc_removal_pending(s, ns, id)) /* gone for the user already: its exit was reported */
                return berr_set(err, BERR_NOT_FOUND, 0, "container \"%s\" in namespace \"%s\": not found", id, ns);
        return meta_container_get(s->ctx->db, ns, id, ret, err);
}

const char *bc_namespace(grpc_call *call) {
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns)
                service_finish_error(call, e);
        return ns;
}

rt_task *bc_live_task(bc_service *s, const char *ns, const char *id) {
        rt_task *t = s->ctx->runtime ? runtime_task_get(s->ctx->runtime, ns, id) : NULL;
        if (!t)
                return NULL;
        rt_task_info info;
        rt_task_info_get(t, &info);
        return info.exited || info.status == RT_STATUS_STOPPED ? NULL : t;
}

void bc_finish_empty(grpc_call *call) {
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

void bc_finish_error_copy(grpc_call *call, const berr *e) {
        berr *copy = NULL;
        berr_set(&copy, e->code, e->errnum, "%s", e->msg ? e->msg : "");
        service_finish_error(call, copy);
}

/* ---- exit waiters ---- */

bc_waiter *bc_waiter_add(bc_service *s, const char *ns, const char *id, bc_exit_fn fn, void *userdata) {
        bc_waiter *w = xcalloc(1, sizeof *w);
        w->ns = xstrdup(ns);
        w->id = xstrdup(id);
        w->fn = fn;
        w->userdata = userdata;
        w->next = s->waiters;
        s->waiters = w;
        return w;
}

static void waiter_free(bc_waiter *w) {
        free(w->ns);
        free(w->id);
        free(w);
}

void bc_waiter_remove(bc_service *s, bc_waiter *w) {
        for (bc_waiter **p = &s->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        waiter_free(w);
                        return;
                }
}

void bc_waiters_notify(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at) {
        /* Unlink the matching ones first: callbacks may add or remove waiters. */
        bc_waiter *fire = NULL, **tail = &fire;
        for (bc_waiter **p = &s->waiters; *p;) {
                bc_waiter *w = *p;
                if (strcmp(w->ns, ns) == 0 && strcmp(w->id, id) == 0) {
                        *p = w->next;
                        w->next = NULL;
                        *tail = w;
                        tail = &w->next;
                } else
                        p = &w->next;
        }
        while (fire) {
                bc_waiter *next = fire->next;
                fire->fn(s, ns, id, code, exited_at, fire->userdata);
                waiter_free(fire);
                fire = next;
        }
}

/* ---- Kill ---- */

/* "KILL", "SIGKILL", "9", "sigterm"... */
static int parse_signal(const char *s, uint32_t *ret, berr **err) {
        if (!s || !*s) {
                *ret = SIGKILL;
                return 0;
        }
        if (s[0] >= '0' && s[0] <= '9') {
                char *end = NULL;
                unsigned long n = strtoul(s, &end, 10);
                if (*end == '\0' && n > 0 && n < 65) {
                        *ret = (uint32_t) n;
                        return 0;
                }
        } else {
                const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
                for (int i = 1; i < 65; i++) {
                        const char *abbrev = sigabbrev_np(i);
                        if (abbrev && strcasecmp(abbrev, name) == 0) {
                                *ret = (uint32_t) i;
                                return 0;
                        }
                }
        }
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid signal \"%s\"", s);
}

static void on_kill_done(rt_task *t, const berr *e, void *userdata) {
        grpc_call *call = userdata;
        if (e)
                bc_finish_error_copy(call, e);
        else
                bc_finish_empty(call);
}

/* A container without a live task answers FAILED_PRECONDITION, as docker's "container x is not running". */
static rt_task *running_task_or_finish(grpc_call *call, bc_service *s, const char *ns, const char *id) {
        meta_container c = { 0 };
        berr *e = NULL;
        if (bc_container_get(s, ns, id, &c, &e) < 0) {
                service_finish_error(call, e);
                return NULL;
        }
        meta_container_done(&c);
        rt_task *t = bc_live_task(s, ns, id);
        if (!t) {
                berr_set(&e, BERR_FAILED_PRECONDITION, 0, "container %s is not running", id);
                service_finish_error(call, e);
        }
        return t;
}

static void bc_kill(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__KillRequest *req = service_decode(call, &berth__v1__kill_request__descriptor, msg,
                                                                  len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        uint32_t sig = 0;
        berr *e = NULL;
        if (parse_signal(req->signal, &sig, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        rt_task *t = running_task_or_finish(call, s, ns, req->id);
        if (t && rt_task_kill(t, NULL, sig, false, on_kill_done, call, &e) < 0)
                service_finish_error(call, e);
}

/* ---- Pause / Unpause ---- */

static void on_reply_empty(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        on_kill_done(t, e, userdata);
}

static void pause_or_resume(grpc_call *call, const uint8_t *msg, size_t len, bc_service *s, const char *method) {
        _cleanup_pb_ Berth__V1__PauseRequest *req = service_decode(call, &berth__v1__pause_request__descriptor, msg,
                                                                   len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        rt_task *t = running_task_or_finish(call, s, ns, req->id);
        if (!t)
                return;
        /* PauseRequest{id = 1} of the shim has the same shape as ours. */
        Berth__V1__PauseRequest shim_req = BERTH__V1__PAUSE_REQUEST__INIT;
        shim_req.id = req->id;
        berr *e = NULL;
        if (rt_task_call(t, method, &shim_req.base, 0, on_reply_empty, call, &e) < 0)
                service_finish_error(call, e);
}

static void bc_pause(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        pause_or_resume(call, msg, len, userdata, "Pause");
}

static void bc_unpause(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        pause_or_resume(call, msg, len, userdata, "Resume");
}

/* ---- Wait ---- */

static void reply_wait(grpc_call *call, int32_t code, int64_t exited_at) {
        Berth__V1__WaitResponse resp = BERTH__V1__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts;
        resp.exit_code = code;
        if (exited_at > 0) {
                service_timestamp_set(&ts, exited_at);
                resp.exited_at = &ts;
        }
        grpc_call_reply(call, &resp.base);
}

static void on_wait_exit(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at,
                         void *userdata) {
        grpc_call *call = userdata;
        grpc_call_set_state(call, NULL); /* the waiter is gone; a later on_cancel must not touch it */
        reply_wait(call, code, exited_at);
        grpc_call_unref(call);
}

static void bc_wait_cancel(grpc_call *call, void *userdata) {
        bc_service *s = userdata;
        bc_waiter *w = grpc_call_get_state(call);
        if (w) {
                bc_waiter_remove(s, w);
                grpc_call_set_state(call, NULL);
                grpc_call_unref(call);
        }
}

static void bc_wait(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__WaitRequest *req = service_decode(call, &berth__v1__wait_request__descriptor, msg,
                                                                  len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        meta_container c = { 0 };
        berr *e = NULL;
        if (bc_container_get(s, ns, req->id, &c, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        bool waiting = bc_live_task(s, ns, req->id) || task_monitor_restart_pending(s->monitor, ns, req->id) ||
                       (runtime_task_get(s->ctx->runtime, ns, req->id) != NULL); /* exited, not yet handled */
        if (!waiting) {
                reply_wait(call, (int32_t) bc_label_int(&c, BC_LABEL_EXIT_CODE), bc_label_int(&c, BC_LABEL_FINISHED));
                meta_container_done(&c);
                return;
        }
        meta_container_done(&c);
        grpc_call_set_state(call, bc_waiter_add(s, ns, req->id, on_wait_exit, grpc_call_ref(call)));
}

/* ---- registration ---- */

static void attach_half_close(grpc_call *call, void *userdata) {
        /* Attach without stdin: nothing to do when the client stops sending. */
}

static const grpc_method methods[] = {
        { "/berth.v1.Containers/Run", GRPC_BIDI_STREAMING, bc_run_message, bc_run_half_close, bc_run_cancel },
        { "/berth.v1.Containers/Stop", GRPC_UNARY, bc_stop, NULL, NULL },
        { "/berth.v1.Containers/Kill", GRPC_UNARY, bc_kill, NULL, NULL },
        { "/berth.v1.Containers/Delete", GRPC_UNARY, bc_delete, NULL, NULL },
        { "/berth.v1.Containers/List", GRPC_UNARY, bc_list, NULL, NULL },
        { "/berth.v1.Containers/Inspect", GRPC_UNARY, bc_inspect, NULL, NULL },
        { "/berth.v1.Containers/Logs", GRPC_SERVER_STREAMING, bc_logs, NULL, bc_logs_cancel },
        { "/berth.v1.Containers/Exec", GRPC_BIDI_STREAMING, bc_exec_message, bc_exec_half_close, bc_exec_cancel },
        { "/berth.v1.Containers/Attach", GRPC_BIDI_STREAMING, bc_attach_message, attach_half_close,
          bc_attach_cancel },
        { "/berth.v1.Containers/Pause", GRPC_UNARY, bc_pause, NULL, NULL },
        { "/berth.v1.Containers/Unpause", GRPC_UNARY, bc_unpause, NULL, NULL },
        { "/berth.v1.Containers/Top", GRPC_UNARY, bc_top, NULL, NULL },
        { "/berth.v1.Containers/Stats", GRPC_UNARY, bc_stats, NULL, NULL },
        { "/berth.v1.Containers/Wait", GRPC_UNARY, bc_wait, NULL, bc_wait_cancel },
};

static void bc_service_free(bc_service *s) {
        s->monitor = task_monitor_free(s->monitor);
        for (bc_waiter *w = s->waiters, *next; w; w = next) {
                next = w->next;
                waiter_free(w);
        }
        ev_source_free(s->startup);
        bc_starting_free_all(s);
        bc_removals_free_all(s);
        free(s->logger_path);
        free(s->self_dir);
        free(s);
}

/* The exchange is freed at daemon shutdown after the server and the task manager: the service goes with it. */
static void on_monitor_closed(void *userdata) {
        bc_service_free(userdata);
}

static int on_startup(ev_source *src, void *userdata) {
        bc_service *s = userdata;
        bc_startup_scan(s);
        return 0;
}

static bool is_executable(const char *path) {
        return access(path, X_OK) == 0;
}

/* berth-logger next to berthd (build tree, install dir), else on PATH. */
static char *find_logger(const char *self_dir) {
        if (self_dir) {
                char *p = xasprintf("%s/berth-logger", self_dir);
                if (is_executable(p))
                        return p;
                free(p);
        }
        const char *path = getenv("PATH");
        _cleanup_strv_free_ char **dirs = strv_split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':');
        for (size_t i = 0; dirs && dirs[i]; i++) {
                if (!*dirs[i])
                        continue;
                char *p = xasprintf("%s/berth-logger", dirs[i]);
                if (is_executable(p))
                        return p;
                free(p);
        }
        return NULL;
}

static char *self_dir(void) {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        char *slash = strrchr(buf, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        return xstrdup(*buf ? buf : "/");
}

int berth_containers_service_register(service_context *ctx, berr **err) {
        if (!ctx->db || !ctx->events || !ctx->runtime || ctx->n_snapshotters == 0 || !ctx->content) {
                log_warn("berth.v1.Containers not served: it needs metadata, content, snapshotters, events and the "
                         "task manager");
                return 0;
        }
        bc_service *s = xcalloc(1, sizeof *s);
        s->ctx = ctx;
        s->self_dir = self_dir();
        s->logger_path = find_logger(s->self_dir);
        if (!s->logger_path)
                log_warn("berth-logger not found next to berthd or on PATH: detached containers will have no logs");
        const task_monitor_ops ops = { .exited = bc_on_exit, .restart = bc_on_restart, .closed = on_monitor_closed };
        if (task_monitor_new(ctx->loop, ctx->events, &ops, s, &s->monitor, err) < 0) {
                bc_service_free(s);
                return berr_wrap(err, "task monitor");
        }
        int r = ev_add_timer(ctx->loop, &s->startup, 0, on_startup, s);
        if (r < 0 || grpc_server_register(ctx->server, methods, ELEMENTSOF(methods), s, err) < 0) {
                if (r < 0)
                        berr_errno(err, -r, "start-up timer");
                bc_service_free(s);
                return berr_wrap(err, "registering berth.v1.Containers");
        }
        service_plugin *p = service_plugin_add(ctx, "io.containerd.grpc.v1", "berth-containers");
        service_plugin_require(p, "io.containerd.runtime.v2");
        service_plugin_require(p, "io.containerd.metadata.v1");
        service_plugin_require(p, "io.containerd.event.v1");
        return 0;
}
