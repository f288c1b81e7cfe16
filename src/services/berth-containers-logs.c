/* Logs (server streaming from the log files: tail, since/until, follow until the container stops) and Attach (the
 * output from now on as RunEvents, then the exit code). Both read the files with the log reader, so they work the
 * same for logger-written and berthd-written logs, while the container runs and after it exited. An attach to a
 * container run detached with stdin (-d -i) also writes the client's input into the container's stdin FIFO and
 * resizes its terminal; the end of the client's input does not end the container's stdin (docker's attach to a
 * container without StdinOnce). */
#include <string.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "services/berth-containers.h"
#include "services/common.h"

#define HIGH_WATER (4u << 20)
#define LOW_WATER (1u << 20)

typedef struct follower {
        bc_service *s;
        grpc_call *call; /* referenced */
        char *ns, *id;
        log_reader *reader;
        ev_source *src;
        bc_waiter *waiter;
        bool attach; /* RunEvents and a final exit instead of LogEntry */
        bool ended;  /* the container exited: finish after the last records */
        int32_t exit_code;
        int64_t exited_at;
        int64_t since, until;
        bc_io *stdin_io; /* attach to a detached container with stdin */
} follower;

static void follower_free(follower *f) {
        if (f->waiter)
                bc_waiter_remove(f->s, f->waiter);
        ev_source_free(f->src);
        log_reader_free(f->reader);
        bc_io_free(f->stdin_io);
        if (f->call) {
                grpc_call_set_state(f->call, NULL);
                grpc_call_set_on_writable(f->call, 0, NULL);
                grpc_call_unref(f->call);
        }
        free(f->ns);
        free(f->id);
        free(f);
}

static void send_entry(follower *f, const log_entry *en) {
        if (f->attach) {
                Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                ProtobufCBinaryData *d = en->stream == LOG_STREAM_STDERR ? &ev.stderr : &ev.stdout;
                d->data = (uint8_t *) en->text; /* with its "\n" unless partial */
                d->len = en->len;
                grpc_call_send(f->call, &ev.base);
                return;
        }
        Berth__V1__LogEntry e = BERTH__V1__LOG_ENTRY__INIT;
        Google__Protobuf__Timestamp ts;
        service_timestamp_set(&ts, en->time_ns);
        e.stream = (char *) log_stream_name(en->stream);
        e.time = &ts;
        e.data.data = (uint8_t *) en->text;
        e.data.len = en->len;
        e.partial = en->partial;
        grpc_call_send(f->call, &e.base);
}

static void finish(follower *f) {
        if (f->attach) {
                Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                Berth__V1__ProcessExit x = BERTH__V1__PROCESS_EXIT__INIT;
                Google__Protobuf__Timestamp ts;
                x.code = f->exit_code;
                if (f->exited_at > 0) {
                        service_timestamp_set(&ts, f->exited_at);
                        x.exited_at = &ts;
                }
                ev.exit = &x;
                grpc_call_send(f->call, &ev.base);
        }
        grpc_call_finish(f->call, BERR_OK, NULL);
        follower_free(f);
}

static void on_writable(grpc_call *call, void *userdata);

/* Sends what the reader has now. Returns 1 when paced (the call's queue is full), 0 when the reader is dry, -1 when
 * the follower was freed. */
static int pump(follower *f) {
        for (;;) {
                if (grpc_call_is_cancelled(f->call)) {
                        follower_free(f);
                        return -1;
                }
                if (grpc_call_pending_bytes(f->call) > HIGH_WATER) {
                        if (f->src)
                                ev_source_set_enabled(f->src, false);
                        grpc_call_set_on_writable(f->call, LOW_WATER, on_writable);
                        return 1;
                }
                log_entry en;
                berr *e = NULL;
                int r = log_reader_next(f->reader, &en, &e);
                if (r < 0) {
                        service_finish_error(f->call, e);
                        follower_free(f);
                        return -1;
                }
                if (r == 0)
                        return 0;
                if ((f->since && en.time_ns < f->since) || (f->until && en.time_ns > f->until))
                        continue;
                send_entry(f, &en);
        }
}

static void pump_and_maybe_finish(follower *f) {
        int r = pump(f);
        if (r == 0 && (f->ended || !f->src))
                finish(f);
}

static void on_writable(grpc_call *call, void *userdata) {
        follower *f = grpc_call_get_state(call);
        grpc_call_set_on_writable(call, 0, NULL);
        if (!f)
                return;
        if (f->src)
                ev_source_set_enabled(f->src, true);
        pump_and_maybe_finish(f);
}

static int on_readable(ev_source *src, int fd, uint32_t revents, void *userdata) {
        pump_and_maybe_finish(userdata);
        return 0;
}

static void on_container_exit(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at,
                              void *userdata) {
        follower *f = userdata;
        f->waiter = NULL;
        f->ended = true;
        f->exit_code = code;
        f->exited_at = exited_at;
        pump_and_maybe_finish(f);
}

/* Follows while the container runs (or a restart is pending). */
static bool still_running(bc_service *s, const char *ns, const char *id) {
        return runtime_task_get(s->ctx->runtime, ns, id) || task_monitor_restart_pending(s->monitor, ns, id);
}

static void start_follower(bc_service *s, grpc_call *call, const char *ns, const char *id, int64_t tail, bool follow,
                           bool attach, int64_t since, int64_t until) {
        meta_container c = { 0 };
        berr *e = NULL;
        if (bc_container_get(s, ns, id, &c, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        follower *f = xcalloc(1, sizeof *f);
        f->s = s;
        f->call = grpc_call_ref(call);
        f->ns = xstrdup(ns);
        f->id = xstrdup(id);
        f->attach = attach;
        f->since = since;
        f->until = until;
        f->exit_code = (int32_t) bc_label_int(&c, BC_LABEL_EXIT_CODE);
        f->exited_at = bc_label_int(&c, BC_LABEL_FINISHED);
        if (attach && bc_label_true(&c, BC_LABEL_STDIN)) {
                _cleanup_free_ char *in = bc_detached_stdin_path(s, ns, id);
                berr *ie = NULL;
                if (bc_io_open_stdin(s->ctx->loop, in, &f->stdin_io, &ie) < 0) {
                        /* e.g. a runtime whose shim takes no stdin for a logger (containerd's): output only */
                        log_debug("attach %s: no stdin: %s", id, ie->msg);
                        berr_free(ie);
                }
        }
        meta_container_done(&c);
        grpc_call_set_state(call, f);
        _cleanup_free_ char *dir = log_dir_path(s->ctx->root, ns, id);
        if (mkdir_p(dir, 0700, &e) < 0 || log_reader_open(dir, id, tail, &f->reader, &e) < 0) {
                service_finish_error(call, e);
                follower_free(f);
                return;
        }
        if (follow && still_running(s, ns, id)) {
                if (log_reader_follow(f->reader, &e) < 0) {
                        service_finish_error(call, e);
                        follower_free(f);
                        return;
                }
                int r = ev_add_io(s->ctx->loop, &f->src, log_reader_fd(f->reader), EPOLLIN, on_readable, f);
                if (r < 0) {
                        berr_errno(&e, -r, "watching the logs");
                        service_finish_error(call, e);
                        follower_free(f);
                        return;
                }
                f->waiter = bc_waiter_add(s, ns, id, on_container_exit, f);
        } else
                f->ended = true;
        pump_and_maybe_finish(f);
}

void bc_logs(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__LogsRequest *req = service_decode(call, &berth__v1__logs_request__descriptor, msg,
                                                                  len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        int64_t tail = req->tail_set && req->tail >= 0 ? req->tail : -1;
        start_follower(s, call, ns, req->id, tail, req->follow, false, service_timestamp_ns(req->since),
                       service_timestamp_ns(req->until));
}

void bc_logs_cancel(grpc_call *call, void *userdata) {
        follower *f = grpc_call_get_state(call);
        if (f)
                follower_free(f);
}

/* Input on an attach: stdin bytes and terminal sizes (close_stdin is ignored, see the top). */
static void attach_input(follower *f, const Berth__V1__ProcessInput *in) {
        if (!in)
                return;
        if (in->data.len > 0 && (!f->stdin_io || bc_io_write_stdin(f->stdin_io, in->data.data, in->data.len) < 0))
                log_debug("attach %s: stdin dropped (%zu bytes)", f->id, in->data.len);
        rt_task *t = in->width > 0 && in->height > 0 ? runtime_task_get(f->s->ctx->runtime, f->ns, f->id) : NULL;
        if (t)
                bc_task_resize_pty(t, f->id, NULL, in->width, in->height);
}

void bc_attach_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__AttachRequest *req = service_decode(call, &berth__v1__attach_request__descriptor,
                                                                    msg, len);
        if (!req)
                return;
        follower *f = grpc_call_get_state(call);
        if (f) {
                attach_input(f, req->input);
                return;
        }
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        if (!bc_live_task(s, ns, req->id)) {
                meta_container c = { 0 };
                berr *e = NULL;
                if (bc_container_get(s, ns, req->id, &c, &e) == 0) {
                        meta_container_done(&c);
                        berr_set(&e, BERR_FAILED_PRECONDITION, 0, "container %s is not running", req->id);
                }
                service_finish_error(call, e);
                return;
        }
        start_follower(s, call, ns, req->id, 0, true, true, 0, 0);
}

void bc_attach_cancel(grpc_call *call, void *userdata) {
        bc_logs_cancel(call, userdata);
}
