/* An attached process (a foreground Run, an Exec): its output relayed to the call, its exit sent once the output
 * is drained, then the call ends. The session outlives a client that went away until the process exited and its
 * output was drained (into the log), so nothing the exit path still points at disappears early. */
#include <string.h>

#include "basic/log.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "services/berth-containers.h"
#include "services/common.h"

bc_session *bc_session_new(bc_service *s, grpc_call *call, const char *ns, const char *id, const char *exec_id) {
        bc_session *se = xcalloc(1, sizeof *se);
        se->s = s;
        se->ns = xstrdup(ns);
        se->id = xstrdup(id ? id : "");
        se->exec_id = exec_id ? xstrdup(exec_id) : NULL;
        if (call) {
                se->call = grpc_call_ref(call);
                grpc_call_set_state(call, se);
        }
        return se;
}

void bc_session_free(bc_session *se) {
        if (!se)
                return;
        if (se->on_end)
                se->on_end(se);
        se->io = bc_io_free(se->io);
        if (se->task)
                rt_task_unref(se->task);
        if (se->call) {
                grpc_call_set_state(se->call, NULL);
                grpc_call_unref(se->call);
        }
        free(se->ns);
        free(se->id);
        free(se->exec_id);
        free(se);
}

void bc_session_detach_call(bc_session *se) {
        if (!se->call)
                return;
        if (se->io)
                bc_io_set_call(se->io, NULL);
        grpc_call_set_state(se->call, NULL);
        grpc_call_unref(se->call);
        se->call = NULL;
}

static void on_resized(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        if (e)
                log_debug("resize of %s: %s", rt_task_id(t), e->msg);
}

void bc_task_resize_pty(rt_task *t, const char *id, const char *exec_id, uint32_t width, uint32_t height) {
        Containerd__Task__V2__ResizePtyRequest req = CONTAINERD__TASK__V2__RESIZE_PTY_REQUEST__INIT;
        req.id = (char *) id;
        req.exec_id = (char *) (exec_id ? exec_id : "");
        req.width = width;
        req.height = height;
        berr *e = NULL;
        if (rt_task_call(t, "ResizePty", &req.base, 0, on_resized, NULL, &e) < 0) {
                log_debug("resize of %s: %s", id, e->msg);
                berr_free(e);
        }
}

void bc_session_input(bc_session *se, const Berth__V1__ProcessInput *in) {
        if (!in)
                return;
        if (in->data.len > 0 && se->io && bc_io_write_stdin(se->io, in->data.data, in->data.len) < 0)
                log_debug("stdin of %s dropped (%zu bytes)", se->id, in->data.len);
        if (in->width > 0 && in->height > 0 && se->task)
                bc_task_resize_pty(se->task, se->id, se->exec_id, in->width, in->height);
        if (in->close_stdin)
                bc_session_close_stdin(se);
}

static void on_closed_io(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        if (e)
                log_debug("close-io of %s: %s", rt_task_id(t), e->msg);
}

/* The shim keeps its own writer on the stdin FIFO: CloseIO drops it, so the process sees EOF once ours is closed. */
static void send_close_io(bc_session *se) {
        if (!se->task || !se->started || se->close_io_sent)
                return;
        se->close_io_sent = true;
        Containerd__Task__V2__CloseIORequest req = CONTAINERD__TASK__V2__CLOSE_IOREQUEST__INIT;
        req.id = se->id;
        req.exec_id = se->exec_id ? se->exec_id : (char *) "";
        req.stdin = true;
        berr *e = NULL;
        if (rt_task_call(se->task, "CloseIO", &req.base, 0, on_closed_io, NULL, &e) < 0) {
                log_debug("close-io of %s: %s", se->id, e->msg);
                berr_free(e);
        }
}

/* Our end closes only once the process started: the shim opens the FIFO at create, and a FIFO whose last
 * descriptor closes loses what it buffered. */
static void close_stdin_now(bc_session *se) {
        if (se->io && bc_io_stdin_path(se->io)) {
                bc_io_close_stdin(se->io);
                send_close_io(se);
        }
}

void bc_session_close_stdin(bc_session *se) {
        if (se->stdin_closed)
                return;
        se->stdin_closed = true;
        if (se->started)
                close_stdin_now(se);
}

void bc_session_send_started(bc_session *se, uint32_t pid) {
        se->started = true;
        if (se->stdin_closed)
                close_stdin_now(se);
        if (!se->call)
                return;
        Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
        Berth__V1__ProcessStarted st = BERTH__V1__PROCESS_STARTED__INIT;
        st.id = se->exec_id ? se->exec_id : se->id;
        st.pid = pid;
        ev.started = &st;
        grpc_call_send(se->call, &ev.base);
}

static void try_finish(bc_session *se) {
        if (se->finished || !se->have_exit || (se->io && !bc_io_is_drained(se->io)))
                return;
        se->finished = true;
        if (se->call) {
                Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                Berth__V1__ProcessExit x = BERTH__V1__PROCESS_EXIT__INIT;
                Google__Protobuf__Timestamp ts;
                x.code = se->exit_code;
                if (se->exited_at > 0) {
                        service_timestamp_set(&ts, se->exited_at);
                        x.exited_at = &ts;
                }
                ev.exit = &x;
                grpc_call_send(se->call, &ev.base);
                grpc_call_finish(se->call, BERR_OK, NULL);
        }
        bc_session_free(se);
}

static void on_drained(void *userdata) {
        bc_session *se = userdata;
        se->drained = true;
        try_finish(se);
}

void bc_session_exited(bc_session *se, int32_t code, int64_t exited_at) {
        se->have_exit = true;
        se->exit_code = code;
        se->exited_at = exited_at;
        if (se->io && !bc_io_is_drained(se->io))
                bc_io_on_drained(se->io, on_drained, se);
        else
                try_finish(se);
}

int32_t bc_start_error_exit_code(const berr *e) {
        const char *m = e && e->msg ? e->msg : "";
        if (strcasestr(m, "executable file not found") || strcasestr(m, "not found in $PATH") ||
            strcasestr(m, "no such file or directory"))
                return BC_EXIT_NOT_FOUND;
        if (strcasestr(m, "permission denied") || strcasestr(m, "is a directory"))
                return BC_EXIT_NOT_EXECUTABLE;
        return 125;
}

void bc_session_fail(bc_session *se, const berr *e) {
        if (se->call) {
                int32_t code = bc_start_error_exit_code(e);
                if (code != 125) {
                        Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                        Berth__V1__ProcessExit x = BERTH__V1__PROCESS_EXIT__INIT;
                        x.code = code;
                        x.error = e->msg;
                        ev.exit = &x;
                        grpc_call_send(se->call, &ev.base);
                }
                bc_finish_error_copy(se->call, e);
        }
        se->finished = true;
        bc_session_free(se);
}
