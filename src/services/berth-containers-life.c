/* A berth container's life: its task started (with the logger or FIFOs as IO), its exits recorded durably (exit
 * code and time in labels), its task deleted after every exit, --rm containers removed, restart policies applied
 * through the restart monitor's back-off, and the start-up pass after a daemon restart. Every step is
 * asynchronous on the loop; exits come from the task monitor (/tasks/exit), never from polling. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "containerd/events/container.pb-c.h"
#include "events/exchange.h"
#include "metadata/namespaces.h"
#include "services/berth-containers.h"
#include "snapshots/snapshots.h"

/* Containers whose task is being created/started: an exit seen meanwhile is held until the start completed. */
typedef struct bc_starting starting;
struct bc_starting {
        starting *next;
        bc_service *s;
        char *ns, *id;
        bc_started_fn cb;
        void *userdata;
        bool have_exit;
        uint32_t exit_pid, exit_status;
        int64_t exited_at;
        uint32_t pid;
        berr *error; /* start failed: reported once the task is deleted */
};

static starting *starting_find(bc_service *s, const char *ns, const char *id) {
        for (starting *st = s->starting; st; st = st->next)
                if (strcmp(st->ns, ns) == 0 && strcmp(st->id, id) == 0)
                        return st;
        return NULL;
}

static void starting_unlink(starting *st) {
        for (starting **p = &st->s->starting; *p; p = &(*p)->next)
                if (*p == st) {
                        *p = st->next;
                        return;
                }
}

static void starting_free(starting *st) {
        free(st->ns);
        free(st->id);
        berr_free(st->error);
        free(st);
}

void bc_starting_free_all(bc_service *s) {
        /* daemon shutdown: the task manager is gone and will not call back */
        while (s->starting) {
                starting *st = s->starting;
                s->starting = st->next;
                starting_free(st);
        }
}

char *bc_fifo_dir(bc_service *s, const char *ns, const char *id) {
        return xasprintf("%s/fifo/%s/%s", s->ctx->state, ns, id);
}

char *bc_detached_stdin_path(bc_service *s, const char *ns, const char *id) {
        _cleanup_free_ char *dir = bc_fifo_dir(s, ns, id);
        return xasprintf("%s/detached-stdin", dir);
}

/* run -d -i: the FIFO our shim reads the container's stdin from, open for as long as the task runs (the shim holds a
 * writer) and written by attaches (docker's `run -di` + `attach`). Made again, if need be, for each start. */
static char *make_detached_stdin(bc_service *s, const char *ns, const char *id, berr **err) {
        _cleanup_free_ char *dir = bc_fifo_dir(s, ns, id);
        char *path = bc_detached_stdin_path(s, ns, id);
        if (mkdir_p(dir, 0700, err) < 0 || (mkfifo(path, 0600) < 0 && errno != EEXIST)) {
                if (err && !*err)
                        berr_errno(err, errno, "mkfifo %s", path);
                free(path);
                return NULL;
        }
        return path;
}

static char *int_str(int64_t v) {
        return xasprintf("%" PRId64, v);
}

/* ---- starting a task ---- */

static void start_finish(starting *st) {
        bc_service *s = st->s;
        starting_unlink(st);
        if (!st->error)
                task_monitor_started(s->monitor, st->ns, st->id);
        st->cb(s, st->error, st->pid, st->userdata);
        if (!st->error && st->have_exit)
                bc_on_exit(st->ns, st->id, st->exit_pid, st->exit_status, st->exited_at, s);
        starting_free(st);
}

static void on_failed_start_deleted(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        if (e)
                log_warn("container %s: deleting the task that failed to start: %s", rt_task_id(t), e->msg);
        start_finish(userdata);
}

static void on_started(rt_task *t, const berr *e, uint32_t pid, void *userdata) {
        starting *st = userdata;
        if (e) {
                berr_set(&st->error, e->code, e->errnum, "%s", e->msg ? e->msg : "");
                berr *de = NULL;
                if (rt_task_delete(t, on_failed_start_deleted, st, &de) < 0) {
                        log_warn("container %s: cannot delete the task that failed to start: %s", st->id, de->msg);
                        berr_free(de);
                        start_finish(st);
                }
                return;
        }
        st->pid = pid;
        start_finish(st);
}

static void on_created(rt_task *t, const berr *e, uint32_t pid, void *userdata) {
        starting *st = userdata;
        if (e) {
                /* the task manager cleaned up after itself */
                berr_set(&st->error, e->code, e->errnum, "%s", e->msg ? e->msg : "");
                start_finish(st);
                return;
        }
        /* The start time is taken before Start is sent, and written while the shim works on it: nothing else runs
         * on the loop before this callback returns, so an exit handled later never precedes the record. */
        _cleanup_free_ char *now = int_str(now_realtime_nsec());
        berr *se = NULL;
        if (rt_task_start(t, NULL, on_started, st, &se) < 0) {
                on_started(t, se, 0, st);
                berr_free(se);
                return;
        }
        const char *kv[] = { BC_LABEL_STARTED, now, BC_LABEL_ERROR, NULL };
        berr *le = NULL;
        if (bc_labels_update(st->s, st->ns, st->id, kv, 2, &le) < 0) {
                log_warn("container %s: recording the start: %s", st->id, le->msg);
                berr_free(le);
        }
}

static void log_opts_from_labels(const meta_container *c, log_opts *o) {
        log_opts_init(o);
        int64_t size = bc_label_int(c, BC_LABEL_LOG_MAX_SIZE), files = bc_label_int(c, BC_LABEL_LOG_MAX_FILES);
        if (size > 0)
                o->max_size = size;
        if (files > 0)
                o->max_files = (unsigned) files;
}

/* Linux 5.10 added overlayfs' "volatile" option. */
static bool kernel_has_overlay_volatile(void) {
        static int cached = -1;
        if (cached < 0) {
                struct utsname u;
                unsigned major = 0, minor = 0;
                cached = uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
                         (major > 5 || (major == 5 && minor >= 10));
        }
        return cached;
}

/* An auto-removed (--rm) container's writable layer is thrown away at its exit, so its overlay is mounted
 * "volatile" (as podman does for --rm): unmounting an overlay otherwise syncs the whole filesystem under its
 * upper dir (a syncfs of the host's root, 2-40 ms on a busy disk) on every `run --rm`. The price, an upper dir
 * the kernel refuses to mount again after a host crash, is never paid: nothing mounts it a second time (--rm
 * excludes restart policies) and the container is removed. */
static void mount_volatile_if_auto_remove(const meta_container *c, berth_mount *mounts, size_t n) {
        if (!bc_label_true(c, BC_LABEL_AUTO_REMOVE) || !kernel_has_overlay_volatile())
                return;
        for (size_t i = 0; i < n; i++) {
                berth_mount *m = &mounts[i];
                bool upper = false;
                for (size_t j = 0; j < m->n_options; j++)
                        upper = upper || strncmp(m->options[j], "upperdir=", 9) == 0;
                if (!m->type || strcmp(m->type, "overlay") != 0 || !upper)
                        continue;
                m->options = xrealloc(m->options, (m->n_options + 2) * sizeof *m->options);
                m->options[m->n_options++] = xstrdup("volatile");
                m->options[m->n_options] = NULL;
        }
}

int bc_task_start(bc_service *s, const char *ns, const char *id, bc_io *io, bc_started_fn cb, void *userdata,
                  berr **err) {
        if (starting_find(s, ns, id))
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "container %s is already being started", id);
        meta_container c = { 0 };
        berth_mount *mounts = NULL;
        size_t n_mounts = 0;
        if (bc_container_get(s, ns, id, &c, err) < 0)
                return -1;
        if (c.snapshot_key && *c.snapshot_key &&
            bc_snapshot_mounts(s, ns, c.snapshotter, c.snapshot_key, &mounts, &n_mounts, err) < 0) {
                meta_container_done(&c);
                return -1;
        }
        mount_volatile_if_auto_remove(&c, mounts, n_mounts);
        _cleanup_free_ char *uri = NULL, *detached_in = NULL;
        const char *in = NULL, *out = NULL, *errp = NULL;
        if (io) {
                in = bc_io_stdin_path(io);
                out = bc_io_stdout_path(io);
                errp = bc_io_stderr_path(io);
        } else if (s->logger_path) {
                log_opts o;
                log_opts_from_labels(&c, &o);
                _cleanup_free_ char *dir = log_dir_path(s->ctx->root, ns, id);
                uri = log_binary_uri(s->logger_path, dir, &o);
                /* berth-logger refuses "max-size=0" (no rotation) although log_binary_uri writes it: leave it out */
                char *zero = o.max_size == 0 ? strstr(uri, "&max-size=0&") : NULL;
                if (zero)
                        memmove(zero, zero + strlen("&max-size=0"), strlen(zero + strlen("&max-size=0")) + 1);
                out = errp = uri;
                if (bc_label_true(&c, BC_LABEL_STDIN)) {
                        if (!(detached_in = make_detached_stdin(s, ns, id, err))) {
                                berth_mounts_free(mounts, n_mounts);
                                meta_container_done(&c);
                                return -1;
                        }
                        in = detached_in;
                }
        }
        rt_create_opts o = {
                .ns = ns,
                .id = id,
                .runtime_name = c.runtime_name,
                .spec = c.spec,
                .spec_len = c.spec_len,
                .rootfs = mounts,
                .n_rootfs = n_mounts,
                .stdin_path = in,
                .stdout_path = out,
                .stderr_path = errp,
                .terminal = bc_label_true(&c, BC_LABEL_TTY),
        };
        if (c.runtime_options_type)
                o.runtime_options = (rt_any) { .type_url = c.runtime_options_type, .value = c.runtime_options,
                                               .len = c.runtime_options_len };
        starting *st = xcalloc(1, sizeof *st);
        st->s = s;
        st->ns = xstrdup(ns);
        st->id = xstrdup(id);
        st->cb = cb;
        st->userdata = userdata;
        int r = runtime_task_create(s->ctx->runtime, &o, on_created, st, err);
        berth_mounts_free(mounts, n_mounts);
        meta_container_done(&c);
        if (r < 0) {
                starting_free(st);
                return -1;
        }
        st->next = s->starting;
        s->starting = st;
        return 0;
}

/* ---- removal ---- */

int bc_container_remove(bc_service *s, const char *ns, const char *id, berr **err) {
        meta_container c = { 0 };
        if (meta_container_get(s->ctx->db, ns, id, &c, err) < 0) /* also one whose removal is pending */
                return -1;
        if (meta_container_delete(s->ctx->db, ns, id, err) < 0) {
                meta_container_done(&c);
                return -1;
        }
        Containerd__Events__ContainerDelete ev = CONTAINERD__EVENTS__CONTAINER_DELETE__INIT;
        ev.id = (char *) id;
        event_publish(s->ctx->events, ns, "/containers/delete", &ev.base, NULL);
        berr *e = NULL;
        if (c.snapshot_key && *c.snapshot_key &&
            bc_snapshot_remove(s, ns, c.snapshotter, c.snapshot_key, &e) < 0) {
                log_warn("container %s: removing snapshot %s (left to the garbage collector): %s", id,
                         c.snapshot_key, e->msg);
                berr_free(e);
        }
        _cleanup_free_ char *logs = log_dir_path(s->ctx->root, ns, id), *fifos = bc_fifo_dir(s, ns, id);
        if (rm_rf(logs, &e) < 0 || rm_rf(fifos, &e) < 0) {
                log_warn("container %s: %s", id, e->msg);
                berr_free(e);
        }
        task_monitor_forget(s->monitor, ns, id);
        int32_t code = (int32_t) bc_label_int(&c, BC_LABEL_EXIT_CODE);
        int64_t at = bc_label_int(&c, BC_LABEL_FINISHED);
        meta_container_done(&c);
        bc_waiters_notify(s, ns, id, code, at);
        return 0;
}

/* ---- exits ---- */

typedef struct exit_ctx {
        bc_service *s;
        char *ns, *id;
        int32_t code;
        int64_t exited_at;
} exit_ctx;

static void exit_ctx_free(exit_ctx *x) {
        free(x->ns);
        free(x->id);
        free(x);
}

/* The task is gone: remove, restart or leave the container, then tell the waiters. */
static void exit_decide(exit_ctx *x) {
        bc_service *s = x->s;
        meta_container c = { 0 };
        berr *e = NULL;
        if (meta_container_get(s->ctx->db, x->ns, x->id, &c, &e) < 0) {
                berr_free(e);
                bc_waiters_notify(s, x->ns, x->id, x->code, x->exited_at);
                bc_removal_end(s, x->ns, x->id);
                exit_ctx_free(x);
                return;
        }
        if (bc_label_true(&c, BC_LABEL_AUTO_REMOVE)) {
                meta_container_done(&c);
                if (bc_container_remove(s, x->ns, x->id, &e) < 0) {
                        log_warn("container %s: --rm: %s", x->id, e->msg);
                        berr_free(e);
                        bc_waiters_notify(s, x->ns, x->id, x->code, x->exited_at);
                }
                bc_removal_end(s, x->ns, x->id);
                exit_ctx_free(x);
                return;
        }
        restart_policy p;
        const char *status = meta_labels_get(&c.labels, RESTART_LABEL_STATUS);
        bool stopped = status && strcmp(status, RESTART_STATUS_STOPPED) == 0;
        unsigned count = (unsigned) bc_label_int(&c, RESTART_LABEL_COUNT);
        if (restart_policy_parse(meta_labels_get(&c.labels, RESTART_LABEL_POLICY), &p, &e) < 0) {
                log_warn("container %s: %s", x->id, e->msg);
                berr_free(e);
                p.kind = RESTART_NO;
        }
        if (restart_policy_wants_restart(&p, stopped, (uint32_t) x->code, count)) {
                _cleanup_free_ char *n = int_str(count + 1);
                const char *kv[] = { RESTART_LABEL_COUNT, n };
                if (bc_labels_update(s, x->ns, x->id, kv, 1, &e) < 0) {
                        log_warn("container %s: %s", x->id, e->msg);
                        berr_free(e);
                }
                uint64_t delay = task_monitor_restart_later(s->monitor, x->ns, x->id);
                log_info("container %s exited with %d: restart %u in %" PRIu64 " ms", x->id, x->code, count + 1,
                         delay / 1000);
        } else if (p.kind != RESTART_NO)
                task_monitor_forget(s->monitor, x->ns, x->id);
        meta_container_done(&c);
        bc_waiters_notify(s, x->ns, x->id, x->code, x->exited_at);
        exit_ctx_free(x);
}

static void on_exit_task_deleted(rt_task *t, const berr *e, const rt_exit *ex, void *userdata) {
        exit_ctx *x = userdata;
        if (e && e->code != BERR_NOT_FOUND)
                log_warn("container %s: deleting its exited task: %s", x->id, e->msg);
        exit_decide(x);
}

void bc_on_exit(const char *ns, const char *id, uint32_t pid, uint32_t exit_status, int64_t exited_at,
                void *userdata) {
        bc_service *s = userdata;
        starting *st = starting_find(s, ns, id);
        if (st) {
                st->have_exit = true;
                st->exit_pid = pid;
                st->exit_status = exit_status;
                st->exited_at = exited_at;
                return;
        }
        meta_container c = { 0 };
        if (meta_container_get(s->ctx->db, ns, id, &c, NULL) < 0)
                return;
        bool managed = bc_is_managed(&c), auto_remove = bc_label_true(&c, BC_LABEL_AUTO_REMOVE);
        int64_t started = bc_label_int(&c, BC_LABEL_STARTED), finished = bc_label_int(&c, BC_LABEL_FINISHED);
        meta_container_done(&c);
        if (!managed)
                return; /* containers of other clients (ctr) keep containerd's semantics: their task stays */
        if (bc_removal_pending(s, ns, id))
                return; /* its exit was handled: the removal is under way */
        if (finished > 0 && finished >= started) {
                /* this run's exit is recorded already: a shim forwarding it again after a daemon restart */
                log_debug("container %s: exit of pid %u already handled", id, pid);
                return;
        }
        if (exited_at > 0 && started > 0 && exited_at < started) {
                /* an earlier run's exit, forwarded late by its shim: not this run's */
                log_debug("container %s: ignoring a stale exit of pid %u", id, pid);
                return;
        }
        rt_task *t = s->ctx->runtime ? runtime_task_get(s->ctx->runtime, ns, id) : NULL;
        if (t) {
                rt_task_info info;
                rt_task_info_get(t, &info);
                if (pid && info.pid && info.pid != pid) {
                        log_debug("container %s: ignoring the exit of pid %u (task pid %u)", id, pid, info.pid);
                        return;
                }
        }
        if (exited_at <= 0)
                exited_at = now_realtime_nsec();
        _cleanup_free_ char *code = int_str(exit_status), *at = int_str(exited_at);
        const char *kv[] = { BC_LABEL_EXIT_CODE, code, BC_LABEL_FINISHED, at };
        berr *e = NULL;
        if (bc_labels_update(s, ns, id, kv, 2, &e) < 0) {
                log_warn("container %s: recording its exit: %s", id, e->msg);
                berr_free(e);
        }
        if (auto_remove) {
                /* The user waits for the exit, not for the cleanup (berth-containers-removal.c). */
                bc_removal_begin(s, ns, id);
                bc_waiters_notify(s, ns, id, (int32_t) exit_status, exited_at);
        }
        exit_ctx *x = xcalloc(1, sizeof *x);
        *x = (exit_ctx) { .s = s, .ns = xstrdup(ns), .id = xstrdup(id), .code = (int32_t) exit_status,
                          .exited_at = exited_at };
        if (t && rt_task_delete(t, on_exit_task_deleted, x, &e) < 0) {
                log_warn("container %s: deleting its exited task: %s", id, e->msg);
                berr_free(e);
                t = NULL;
        }
        if (!t)
                exit_decide(x);
}

/* ---- restarts ---- */

static void on_restarted(bc_service *s, const berr *e, uint32_t pid, void *userdata) {
        char *key = userdata; /* "ns\0id" */
        const char *ns = key, *id = key + strlen(key) + 1;
        if (e) {
                log_warn("container %s: restart failed: %s", id, e->msg);
                const char *kv[] = { BC_LABEL_ERROR, e->msg };
                berr *le = NULL;
                if (bc_labels_update(s, ns, id, kv, 1, &le) < 0)
                        berr_free(le);
                /* try again later, with a longer back-off */
                task_monitor_restart_later(s->monitor, ns, id);
        } else
                log_info("container %s restarted (pid %u)", id, pid);
        free(key);
}

void bc_on_restart(const char *ns, const char *id, void *userdata) {
        bc_service *s = userdata;
        meta_container c = { 0 };
        if (meta_container_get(s->ctx->db, ns, id, &c, NULL) < 0) {
                task_monitor_forget(s->monitor, ns, id);
                return;
        }
        const char *status = meta_labels_get(&c.labels, RESTART_LABEL_STATUS);
        bool stopped = status && strcmp(status, RESTART_STATUS_STOPPED) == 0;
        meta_container_done(&c);
        if (stopped || runtime_task_get(s->ctx->runtime, ns, id))
                return;
        size_t nl = strlen(ns), il = strlen(id);
        char *key = xcalloc(nl + il + 2, 1);
        memcpy(key, ns, nl);
        memcpy(key + nl + 1, id, il);
        berr *e = NULL;
        if (bc_task_start(s, ns, id, NULL, on_restarted, key, &e) < 0) {
                on_restarted(s, e, 0, key);
                berr_free(e);
        }
}

/* ---- start-up ---- */

/* An auto-removed container whose exit was recorded before berthd went down: its removal had begun. */
static void resume_removal(bc_service *s, const char *ns, const meta_container *c, rt_task *t) {
        log_info("container %s: resuming its removal (--rm)", c->id);
        bc_removal_begin(s, ns, c->id);
        exit_ctx *x = xcalloc(1, sizeof *x);
        *x = (exit_ctx) { .s = s, .ns = xstrdup(ns), .id = xstrdup(c->id),
                          .code = (int32_t) bc_label_int(c, BC_LABEL_EXIT_CODE),
                          .exited_at = bc_label_int(c, BC_LABEL_FINISHED) };
        berr *e = NULL;
        if (t && rt_task_delete(t, on_exit_task_deleted, x, &e) < 0) {
                log_warn("container %s: deleting its exited task: %s", c->id, e->msg);
                berr_free(e);
                t = NULL;
        }
        if (!t)
                exit_decide(x);
}

static void scan_container(bc_service *s, const char *ns, const meta_container *c) {
        rt_task *t = runtime_task_get(s->ctx->runtime, ns, c->id);
        int64_t started = bc_label_int(c, BC_LABEL_STARTED), finished = bc_label_int(c, BC_LABEL_FINISHED);
        if (bc_label_true(c, BC_LABEL_AUTO_REMOVE) && finished > 0 && finished >= started) {
                resume_removal(s, ns, c, t);
                return;
        }
        if (t) {
                rt_task_info info;
                rt_task_info_get(t, &info);
                if (info.exited || info.status == RT_STATUS_STOPPED)
                        /* exited while berthd was down: the shim kept its real exit status */
                        bc_on_exit(ns, c->id, info.pid, info.exit_status, info.exited_at, s);
                else
                        task_monitor_started(s->monitor, ns, c->id);
                return;
        }
        if (started > 0 && started >= finished) {
                /* It was running and its task is gone (its shim died with berthd, or its exit was never
                 * recorded): the real status is lost. */
                log_warn("container %s: its task disappeared while berthd was down", c->id);
                bc_on_exit(ns, c->id, 0, BC_EXIT_UNKNOWN, now_realtime_nsec(), s);
        }
}

void bc_startup_scan(bc_service *s) {
        meta_namespace *nss = NULL;
        size_t n_ns = 0;
        berr *e = NULL;
        if (meta_namespace_list(s->ctx->db, NULL, 0, &nss, &n_ns, &e) < 0) {
                log_warn("berth containers start-up pass: %s", e->msg);
                berr_free(e);
                return;
        }
        for (size_t i = 0; i < n_ns; i++) {
                meta_container *cs = NULL;
                size_t n = 0;
                if (meta_container_list(s->ctx->db, nss[i].name, NULL, 0, &cs, &n, &e) < 0) {
                        log_warn("berth containers start-up pass: %s", e->msg);
                        berr_free(e);
                        e = NULL;
                        continue;
                }
                for (size_t j = 0; j < n; j++)
                        if (bc_is_managed(&cs[j]))
                                scan_container(s, nss[i].name, &cs[j]);
                meta_containers_free(cs, n);
        }
        meta_namespaces_free(nss, n_ns);
}
