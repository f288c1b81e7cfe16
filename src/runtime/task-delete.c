/* Taking a task down, in containerd's order (shim-v2.md §3.8, §3.9): Delete → Shutdown → close → the shim binary's
 * `delete` action → bundle removed. The same path cleans up after a failed create and after a shim that died. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "basic/log.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "events/exchange.h"
#include "runtime/runtime-internal.h"

typedef struct teardown {
        rt_task *t;
        bool publish;
        bool deleted; /* the shim's Delete succeeded: the runtime deleted the container and unmounted its rootfs */
        void (*done)(rt_task *t, void *userdata);
        void *userdata;
} teardown;

void rt_publish_exit(rt_task *t, uint32_t pid, uint32_t exit_status, int64_t exited_at, bool with_delete) {
        if (!t->rt || !t->rt->events)
                return;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = exited_at / NSEC_PER_SEC;
        ts.nanos = (int32_t) (exited_at % NSEC_PER_SEC);
        Containerd__Events__TaskExit exit = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        exit.container_id = t->id;
        exit.id = t->id;
        exit.pid = pid;
        exit.exit_status = exit_status;
        exit.exited_at = &ts;
        (void) event_publish(t->rt->events, t->ns, "/tasks/exit", &exit.base, NULL);
        if (!with_delete)
                return;
        Containerd__Events__TaskDelete del = CONTAINERD__EVENTS__TASK_DELETE__INIT;
        del.container_id = t->id;
        del.pid = pid;
        del.exit_status = exit_status;
        del.exited_at = &ts;
        (void) event_publish(t->rt->events, t->ns, "/tasks/delete", &del.base, NULL);
}

/* A shim killed from outside cannot remove its socket (containerd leaves it too). Remove it when nothing accepts
 * there any more; a live server (a grouped shim) keeps it. */
static void remove_stale_socket(const char *bundle) {
        _cleanup_free_ char *address = bundle_read_address(bundle);
        if (!address)
                return;
        const char *path = strncmp(address, "unix://", 7) == 0 ? address + 7 : address;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (path[0] != '/' || strlen(path) >= sizeof sa.sun_path)
                return;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno == ECONNREFUSED && unlink(path) == 0)
                log_debug("removed stale shim socket %s", path);
}

static void teardown_finish(teardown *td) {
        rt_task *t = td->t;
        if (t->rt) {
                remove_stale_socket(t->bundle);
                bundle_close_log(t);
                _cleanup_berr_ berr *e = NULL;
                if (bundle_remove(t->bundle, &e) < 0)
                        log_warn("cannot remove bundle %s: %s", t->bundle, e->msg);
        }
        t->phase = RT_PHASE_GONE;
        rt_task_unlink(t);
        if (td->done)
                td->done(t, td->userdata);
        rt_task_unref(t);
        free(td);
}

static void on_delete_action(int exit_code, const char *out, size_t len, void *userdata) {
        teardown *td = userdata;
        rt_task *t = td->t;
        uint32_t pid = t->pid, status = 255;
        int64_t at = 0;
        if (exit_code == 0) {
                Containerd__Task__V2__DeleteResponse *r =
                        containerd__task__v2__delete_response__unpack(NULL, len, (const uint8_t *) out);
                if (r) {
                        pid = r->pid;
                        status = r->exit_status;
                        at = rt_timestamp_ns(r->exited_at);
                        containerd__task__v2__delete_response__free_unpacked(r, NULL);
                }
        } else
                log_warn("shim delete of %s/%s failed (%d): %.*s", t->ns, t->id, exit_code, (int) len, out);
        if (td->publish) {
                /* The exit the shim kept wins over the cleanup's guess (137 from `delete --force`). */
                if (t->exited) {
                        status = t->exit_status;
                        at = t->exited_at;
                }
                rt_publish_exit(t, pid, status, at ? at : now_realtime_nsec(), true);
        }
        rt_task_set_exit(t, pid, status, at);
        teardown_finish(td);
}

static void teardown_action(teardown *td) {
        rt_task *t = td->t;
        ttrpc_client *c = TAKE_PTR(t->client);
        ttrpc_client_free(c);
        /* containerd runs the binary's `delete` after every close; after a successful Delete it has nothing left
         * to clean (the same runtime delete and unmount), and it costs a process start per container. */
        if (!t->rt || !t->shim_binary || td->deleted) {
                teardown_finish(td);
                return;
        }
        _cleanup_berr_ berr *e = NULL;
        /* Its stderr (free text: "cleanup warnings") goes to the log FIFO we drain, through a file description of
         * its own: sharing ours would let the child's runtime clear O_NONBLOCK under our reads. */
        _cleanup_close_ int log_fd = -1;
        if (t->log_fd >= 0) {
                _cleanup_free_ char *path = xasprintf("%s/log", t->bundle);
                log_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
                if (log_fd >= 0)
                        (void) fcntl(log_fd, F_SETFL, 0);
        }
        if (shim_action_run(t->rt, t->shim_binary, t->ns, t->id, t->bundle, "delete", NULL, 0, log_fd,
                            TIMEOUT_CLEANUP, on_delete_action, td, &e) < 0) {
                log_warn("cannot run shim delete for %s/%s: %s", t->ns, t->id, e->msg);
                on_delete_action(-1, "", 0, td);
        }
}

static void on_shutdown(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        if (e && e->code != BERR_UNAVAILABLE)
                log_debug("shutdown of shim %s/%s: %s", t->ns, t->id, e->msg);
        teardown_action(userdata);
}

static void teardown_shutdown(teardown *td) {
        Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
        req.id = td->t->id;
        if (rt_task_call(td->t, "Shutdown", &req.base, TIMEOUT_SHUTDOWN, on_shutdown, td, NULL) < 0)
                teardown_action(td);
}

static void on_cleanup_delete(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        teardown_shutdown(userdata);
}

static teardown *teardown_new(rt_task *t, bool publish, void (*done)(rt_task *t, void *userdata), void *userdata) {
        teardown *td = xmalloc(sizeof *td);
        *td = (teardown) { .t = rt_task_ref(t), .publish = publish, .done = done, .userdata = userdata };
        return td;
}

void rt_task_teardown(rt_task *t, bool publish, void (*done)(rt_task *t, void *userdata), void *userdata) {
        teardown *td = teardown_new(t, publish, done, userdata);
        if (t->phase != RT_PHASE_STARTING) {
                teardown_shutdown(td);
                return;
        }
        /* A failed create: the shim may hold a half-created container; NOT_FOUND is fine. */
        Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
        req.id = t->id;
        if (rt_task_call(t, "Delete", &req.base, TIMEOUT_CLEANUP, on_cleanup_delete, td, NULL) < 0)
                teardown_shutdown(td);
}

void rt_task_on_dead_shim(rt_task *t) {
        bool registered = t->phase == RT_PHASE_LIVE;
        t->phase = RT_PHASE_DEAD;
        /* Only a registered task gets exit events (containerd's cleanupAfterDeadShim); a failing create is
         * cleaned up by its own path. */
        if (registered)
                rt_task_teardown(t, true, NULL, NULL);
}

/* ---- Tasks.Delete ---- */

typedef struct delete_ctx {
        rt_exit_fn cb;
        void *userdata;
        berr *shim_err; /* NOT_FOUND or closed: teardown goes on, the caller still gets it */
        rt_exit exit;
} delete_ctx;

static void on_deleted(rt_task *t, void *userdata) {
        delete_ctx *d = userdata;
        d->cb(t, d->shim_err, d->shim_err ? NULL : &d->exit, d->userdata);
        berr_free(d->shim_err);
        free(d);
}

static void on_delete(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        delete_ctx *d = userdata;
        if (e && e->code != BERR_NOT_FOUND && e->code != BERR_UNAVAILABLE) {
                d->cb(t, e, NULL, d->userdata);
                free(d);
                return;
        }
        if (t->phase != RT_PHASE_LIVE) { /* the shim died meanwhile: its cleanup is already running */
                berr gone = { .code = BERR_NOT_FOUND, .msg = (char *) "task was removed by its shim's cleanup" };
                d->cb(t, e ? e : &gone, NULL, d->userdata);
                free(d);
                return;
        }
        if (e)
                berr_set(&d->shim_err, e->code, 0, "%s", e->msg);
        else {
                Containerd__Task__V2__DeleteResponse *r =
                        containerd__task__v2__delete_response__unpack(NULL, len, p);
                if (r) {
                        d->exit = (rt_exit) { .pid = r->pid, .exit_status = r->exit_status,
                                              .exited_at = rt_timestamp_ns(r->exited_at) };
                        containerd__task__v2__delete_response__free_unpacked(r, NULL);
                }
                rt_task_set_exit(t, d->exit.pid, d->exit.exit_status, d->exit.exited_at);
        }
        t->phase = RT_PHASE_DELETING;
        /* As containerd: after a clean Delete the shim has published exit and delete itself; after NOT_FOUND or a
         * closed connection the cleanup publishes them. */
        teardown *td = teardown_new(t, e != NULL, on_deleted, d);
        td->deleted = e == NULL;
        teardown_shutdown(td);
}

int rt_task_delete(rt_task *t, rt_exit_fn cb, void *userdata, berr **err) {
        if (t->phase != RT_PHASE_LIVE)
                return berr_set(err, BERR_NOT_FOUND, 0, "task %s not found", t->id);
        Containerd__Task__V2__DeleteRequest req = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
        req.id = t->id;
        delete_ctx *d = xcalloc(1, sizeof *d);
        d->cb = cb;
        d->userdata = userdata;
        if (rt_task_call(t, "Delete", &req.base, 0, on_delete, d, err) < 0) {
                free(d);
                return -1;
        }
        return 0;
}
