/* Stop (SIGTERM, SIGKILL after the grace period on a loop timer; the container is marked explicitly stopped first so
 * no restart policy brings it back) and Delete (force: kill first). Both answer once the exit has been handled. */
#include <signal.h>
#include <string.h>

#include "basic/log.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "services/berth-containers.h"
#include "services/common.h"

typedef struct stop_op {
        bc_service *s;
        grpc_call *call;
        char *ns, *id;
        rt_task *task;
        ev_source *timer;
        bc_waiter *waiter;
        bool remove; /* Delete: remove the container once it exited */
} stop_op;

static void stop_op_free(stop_op *op) {
        ev_source_free(op->timer);
        if (op->task)
                rt_task_unref(op->task);
        free(op->ns);
        free(op->id);
        free(op);
}

static void on_signalled(rt_task *t, const berr *e, void *userdata) {
        if (e && e->code != BERR_NOT_FOUND)
                log_warn("container %s: kill: %s", rt_task_id(t), e->msg);
}

static void on_resumed(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        if (e)
                log_debug("container %s: resume after kill: %s", rt_task_id(t), e->msg);
}

static void send_signal(stop_op *op, uint32_t sig, bool all) {
        berr *e = NULL;
        if (rt_task_kill(op->task, NULL, sig, all, on_signalled, NULL, &e) < 0) {
                log_warn("container %s: kill: %s", op->id, e->msg);
                berr_free(e);
        }
        rt_task_info info;
        rt_task_info_get(op->task, &info);
        if (info.status == RT_STATUS_PAUSED || info.status == RT_STATUS_PAUSING) {
                /* a frozen process gets its signal once thawed */
                Containerd__Task__V2__ResumeRequest req = CONTAINERD__TASK__V2__RESUME_REQUEST__INIT;
                req.id = op->id;
                if (rt_task_call(op->task, "Resume", &req.base, 0, on_resumed, NULL, &e) < 0) {
                        log_debug("container %s: resume: %s", op->id, e->msg);
                        berr_free(e);
                }
        }
}

static int on_grace_over(ev_source *src, void *userdata) {
        stop_op *op = userdata;
        ev_timer_disarm(src);
        log_info("container %s did not stop within its grace period: SIGKILL", op->id);
        send_signal(op, SIGKILL, true);
        return 0;
}

static void on_removed(bc_service *s, bool ended, void *userdata) {
        stop_op *op = userdata;
        if (ended)
                bc_finish_empty(op->call);
        stop_op_free(op);
}

static void on_stopped(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at,
                       void *userdata) {
        stop_op *op = userdata;
        op->waiter = NULL;
        /* a --rm container: its own removal is under way, the answer waits for its end */
        if (op->remove && bc_removal_wait(s, ns, id, on_removed, op) == 0)
                return;
        if (op->remove) {
                berr *e = NULL;
                meta_container c = { 0 };
                /* --rm containers are gone already */
                if (meta_container_get(s->ctx->db, ns, id, &c, NULL) == 0) {
                        meta_container_done(&c);
                        if (bc_container_remove(s, ns, id, &e) < 0) {
                                service_finish_error(op->call, e);
                                stop_op_free(op);
                                return;
                        }
                }
        }
        bc_finish_empty(op->call);
        stop_op_free(op);
}

/* Marks the container stopped (no restart) and cancels a pending restart. */
static void mark_stopped(bc_service *s, const char *ns, const meta_container *c) {
        task_monitor_forget(s->monitor, ns, c->id);
        if (!meta_labels_get(&c->labels, RESTART_LABEL_POLICY))
                return;
        const char *kv[] = { RESTART_LABEL_STATUS, RESTART_STATUS_STOPPED };
        berr *e = NULL;
        if (bc_labels_update(s, ns, c->id, kv, 1, &e) < 0) {
                log_warn("container %s: marking it stopped: %s", c->id, e->msg);
                berr_free(e);
        }
}

/* wait: the exit handling of a managed container tells when it is done (otherwise the caller follows the task). */
static stop_op *stop_op_new(bc_service *s, grpc_call *call, const char *ns, const char *id, rt_task *t, bool wait) {
        stop_op *op = xcalloc(1, sizeof *op);
        op->s = s;
        op->call = call;
        op->ns = xstrdup(ns);
        op->id = xstrdup(id);
        op->task = rt_task_ref(t);
        if (wait)
                op->waiter = bc_waiter_add(s, ns, id, on_stopped, op);
        return op;
}

void bc_stop(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__StopRequest *req = service_decode(call, &berth__v1__stop_request__descriptor, msg,
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
        mark_stopped(s, ns, &c);
        meta_container_done(&c);
        rt_task *t = bc_live_task(s, ns, req->id);
        if (!t) {
                bc_finish_empty(call); /* not running: nothing to stop (docker answers the same) */
                return;
        }
        stop_op *op = stop_op_new(s, call, ns, req->id, t, true);
        int timeout = req->timeout < 0 ? BC_STOP_TIMEOUT_DEFAULT : req->timeout;
        if (timeout == 0) {
                send_signal(op, SIGKILL, true);
                return;
        }
        send_signal(op, SIGTERM, false);
        int r = ev_add_timer(s->ctx->loop, &op->timer, (uint64_t) timeout * 1000000ULL, on_grace_over, op);
        if (r < 0) {
                log_warn("container %s: no grace timer (%s): SIGKILL now", req->id, strerror(-r));
                send_signal(op, SIGKILL, true);
        }
}

static void on_exited_task_deleted(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        stop_op *op = userdata;
        if (e && e->code != BERR_NOT_FOUND)
                log_warn("container %s: deleting its task: %s", op->id, e->msg);
        on_stopped(op->s, op->ns, op->id, 0, 0, op);
}

static void delete_task_then_remove(stop_op *op) {
        berr *e = NULL;
        if (rt_task_delete(op->task, on_exited_task_deleted, op, &e) < 0) {
                /* already being deleted (by the exit handling): remove what is left */
                log_debug("container %s: %s", op->id, e->msg);
                berr_free(e);
                on_stopped(op->s, op->ns, op->id, 0, 0, op);
        }
}

/* A container of another client (no exit handling of ours): follow its task to the end. */
static void on_task_waited(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        delete_task_then_remove(userdata);
}

void bc_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__DeleteRequest *req = service_decode(call, &berth__v1__delete_request__descriptor, msg,
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
        rt_task *live = bc_live_task(s, ns, req->id);
        rt_task *any = runtime_task_get(s->ctx->runtime, ns, req->id);
        if (live && !req->force) {
                meta_container_done(&c);
                berr_set(&e, BERR_FAILED_PRECONDITION, 0,
                         "cannot remove container \"%s\": it is running: stop it first or force the removal",
                         req->id);
                service_finish_error(call, e);
                return;
        }
        mark_stopped(s, ns, &c);
        bool managed = bc_is_managed(&c);
        meta_container_done(&c);
        if (live) {
                stop_op *op = stop_op_new(s, call, ns, req->id, live, managed);
                op->remove = true;
                send_signal(op, SIGKILL, true);
                if (!managed && rt_task_wait(live, NULL, on_task_waited, op, &e) < 0) {
                        berr_free(e);
                        delete_task_then_remove(op);
                }
                return;
        }
        if (any) {
                /* exited, its exit not handled yet (or a container of another client): delete the task first */
                stop_op *op = stop_op_new(s, call, ns, req->id, any, false);
                op->remove = true;
                delete_task_then_remove(op);
                return;
        }
        if (bc_container_remove(s, ns, req->id, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        bc_finish_empty(call);
}
