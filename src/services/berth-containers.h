/* berth.v1.Containers (berth's own high-level container service: run, ps, stop, rm, logs, exec, ...) — shared by its
 * files berth-containers*.c. A berth container is a containerd container record whose id is the name the user
 * gave (or a generated one), labelled berth.io/managed, with its lifecycle kept durably in labels:
 *   berth.io/started-at, berth.io/finished-at (ns since the epoch), berth.io/exit-code, berth.io/auto-remove,
 *   berth.io/tty, berth.io/stdin, berth.io/log.max-size, berth.io/log.max-files, berth.io/mounts, berth.io/error,
 *   containerd.io/restart.{status,policy,count} (runtime/monitor.h).
 * Its task runs through the task manager (runtime/runtime.h); the task exists while the container runs and is
 * deleted once its exit has been recorded, so a restart or `start` creates a fresh one. Logs go through the
 * berth-logger (binary://) for detached runs and restarts, and through FIFOs berthd relays (writing the same log
 * files) for attached runs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/mount.h"
#include "berth/v1/containers.pb-c.h"
#include "grpc/grpc.h"
#include "images/manifest.h"
#include "logs/logs.h"
#include "metadata/containers.h"
#include "runtime/monitor.h"
#include "runtime/runtime.h"
#include "services/services.h"

#define BC_LABEL_MANAGED "berth.io/managed"
#define BC_LABEL_STARTED "berth.io/started-at"
#define BC_LABEL_FINISHED "berth.io/finished-at"
#define BC_LABEL_EXIT_CODE "berth.io/exit-code"
#define BC_LABEL_AUTO_REMOVE "berth.io/auto-remove"
#define BC_LABEL_TTY "berth.io/tty"
#define BC_LABEL_STDIN "berth.io/stdin"
#define BC_LABEL_LOG_MAX_SIZE "berth.io/log.max-size"
#define BC_LABEL_LOG_MAX_FILES "berth.io/log.max-files"
#define BC_LABEL_MOUNTS "berth.io/mounts"
#define BC_LABEL_ERROR "berth.io/error"
#define BC_LABEL_PREFIX "berth.io/"

#define BC_SPEC_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Spec"
#define BC_PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"
#define BC_NAME_MAX 64
#define BC_STOP_TIMEOUT_DEFAULT 10
/* Exit codes as docker's CLI reports a failed start. */
#define BC_EXIT_NOT_EXECUTABLE 126
#define BC_EXIT_NOT_FOUND 127
#define BC_EXIT_UNKNOWN 255

typedef struct bc_waiter bc_waiter;
typedef struct bc_session bc_session;
typedef struct bc_removal bc_removal;

typedef struct bc_service {
        service_context *ctx;
        task_monitor *monitor;
        char *logger_path; /* berth-logger, next to berthd or on PATH; NULL: logs only from FIFOs */
        char *self_dir;    /* berthd's directory (shims are searched there too) */
        bc_waiter *waiters;
        ev_source *startup; /* the one-off start-up pass (restarts after a daemon restart) */
        struct bc_starting *starting; /* tasks being created and started (berth-containers-life.c) */
        bc_removal *removals;         /* containers being removed after their exit (berth-containers-removal.c) */
} bc_service;

/* ---- berth-containers.c: common ---- */

/* Updates labels of container id: pairs of key, value (NULL value removes). */
int bc_labels_update(bc_service *s, const char *ns, const char *id, const char *const *kv, size_t n_pairs,
                     berr **err);
/* Reads a label as a number (0 when absent or malformed). */
int64_t bc_label_int(const meta_container *c, const char *key);
bool bc_label_true(const meta_container *c, const char *key);
/* Whether berth (or containerd's restart labels) manages this container's lifecycle. */
bool bc_is_managed(const meta_container *c);
/* The container record of id (NOT_FOUND `container "x" in namespace "ns": not found`). */
int bc_container_get(bc_service *s, const char *ns, const char *id, meta_container *ret, berr **err);
/* The call's namespace, or NULL after finishing the call with the error. */
const char *bc_namespace(grpc_call *call);
/* The container's task when it has one that is running, paused or created (not exited), else NULL. */
rt_task *bc_live_task(bc_service *s, const char *ns, const char *id);
void bc_finish_empty(grpc_call *call);
/* Finishes with a copy of e. */
void bc_finish_error_copy(grpc_call *call, const berr *e);

/* Exit waiters: fn runs once the container's exit has been handled (recorded, task deleted), with its code. */
typedef void (*bc_exit_fn)(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at,
                           void *userdata);
bc_waiter *bc_waiter_add(bc_service *s, const char *ns, const char *id, bc_exit_fn fn, void *userdata);
void bc_waiter_remove(bc_service *s, bc_waiter *w);
void bc_waiters_notify(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at);

/* ---- berth-containers-image.c ---- */

typedef struct bc_image {
        char *name;
        char *manifest_digest;
        oci_image_config *config;
        char *chain_id; /* top chain ID (NULL: no layers) */
} bc_image;
void bc_image_done(bc_image *img);
/* The image record, its manifest for this host and its config, from the content store. The image's layers must
 * be unpacked in the snapshotter (checked by the caller when it prepares the snapshot). */
int bc_image_resolve(bc_service *s, const char *ns, const char *name, bc_image *ret, berr **err);

/* ---- berth-containers-snapshot.c ---- */

int bc_snapshot_prepare(bc_service *s, const char *ns, const char *sn_name, const char *key, const char *parent,
                        berth_mount **ret, size_t *ret_n, berr **err);
int bc_snapshot_mounts(bc_service *s, const char *ns, const char *sn_name, const char *key, berth_mount **ret,
                       size_t *ret_n, berr **err);
/* A missing snapshot is fine. */
int bc_snapshot_remove(bc_service *s, const char *ns, const char *sn_name, const char *key, berr **err);

/* ---- berth-containers-io.c: FIFOs relayed to a call (and to a log writer) ---- */

typedef struct bc_io bc_io;
/* Makes FIFOs <dir>/<prefix>-stdin (if want_stdin), -stdout, and -stderr (unless tty) and opens berthd's ends. */
int bc_io_new(ev_loop *loop, const char *dir, const char *prefix, bool want_stdin, bool tty, bc_io **ret,
              berr **err);
const char *bc_io_stdin_path(const bc_io *io);
const char *bc_io_stdout_path(const bc_io *io);
const char *bc_io_stderr_path(const bc_io *io);
/* Output goes to call as RunEvent{stdout|stderr} (a reference is held; NULL detaches) ... */
void bc_io_set_call(bc_io *io, grpc_call *call);
/* ... and to w (taken over; closed when the output ends or the io is freed). */
void bc_io_set_log(bc_io *io, log_writer *w);
int bc_io_write_stdin(bc_io *io, const uint8_t *data, size_t len);
void bc_io_close_stdin(bc_io *io);
/* cb runs (from the loop) once stdout and stderr reached EOF; at once (from the loop) if they already did. */
void bc_io_on_drained(bc_io *io, void (*cb)(void *userdata), void *userdata);
bool bc_io_is_drained(const bc_io *io);
/* Closes everything and removes the FIFOs (not the one of bc_io_open_stdin). Accepts NULL. */
bc_io *bc_io_free(bc_io *io);
/* For one attach: writes into the stdin FIFO of a detached container (run -d -i), which belongs to the container.
 * Fails (ENXIO) when no shim reads it. */
int bc_io_open_stdin(ev_loop *loop, const char *path, bc_io **ret, berr **err);
/* Where a detached container run with stdin has its stdin FIFO: in its FIFO dir (bc_fifo_dir). */
char *bc_detached_stdin_path(bc_service *s, const char *ns, const char *id);

/* ---- berth-containers-session.c: an attached process streaming to a call (Run, Exec) ---- */

struct bc_session {
        bc_service *s;
        grpc_call *call; /* referenced; NULL once the client is gone */
        char *ns, *id, *exec_id;
        bc_io *io;
        rt_task *task; /* referenced, for resize / close-io */
        bool started, have_exit, drained, finished;
        int32_t exit_code;
        int64_t exited_at;
        bool stdin_closed, close_io_sent;
        void (*on_end)(bc_session *se); /* optional: the session is done (before it is freed) */
        struct bc_parked_run *parked;    /* a Run waiting for the removal of its name (berth-containers-run.c) */
};
bc_session *bc_session_new(bc_service *s, grpc_call *call, const char *ns, const char *id, const char *exec_id);
void bc_session_free(bc_session *se);
/* Client input (stdin bytes, close, resize). */
void bc_session_input(bc_session *se, const Berth__V1__ProcessInput *in);
/* ResizePty of a task's process (exec_id NULL: init); failures are only logged. */
void bc_task_resize_pty(rt_task *t, const char *id, const char *exec_id, uint32_t width, uint32_t height);
void bc_session_close_stdin(bc_session *se);
/* The client went away: output keeps draining (into the log), nothing is sent any more. */
void bc_session_detach_call(bc_session *se);
void bc_session_send_started(bc_session *se, uint32_t pid);
/* The process exited: the exit event goes out once its output is drained; then the call ends OK. */
void bc_session_exited(bc_session *se, int32_t code, int64_t exited_at);
/* The process failed to start: RunEvent{exit{code, error}} then the call ends with e. The session is freed. */
void bc_session_fail(bc_session *se, const berr *e);
/* 126/127 for an OCI runtime's "not found" / "permission denied" errors about the command, else 125. */
int32_t bc_start_error_exit_code(const berr *e);

/* ---- berth-containers-life.c: tasks of containers, exits, restarts ---- */

/* Creates and starts the container's task with IO from the logger (io NULL) or from io's FIFOs; cb gets the pid
 * (or the error, after everything created for the task was cleaned up). Records started-at. */
typedef void (*bc_started_fn)(bc_service *s, const berr *e, uint32_t pid, void *userdata);
int bc_task_start(bc_service *s, const char *ns, const char *id, bc_io *io, bc_started_fn cb, void *userdata,
                  berr **err);
/* The monitor's exit hook and restart hook. */
void bc_on_exit(const char *ns, const char *id, uint32_t pid, uint32_t exit_status, int64_t exited_at,
                void *userdata);
void bc_on_restart(const char *ns, const char *id, void *userdata);
/* Removes the container: record, snapshot, log dir, FIFO dir (its task must be gone). */
int bc_container_remove(bc_service *s, const char *ns, const char *id, berr **err);
/* The start-up pass: exits that happened while berthd was down, restarts due. */
void bc_startup_scan(bc_service *s);
char *bc_fifo_dir(bc_service *s, const char *ns, const char *id);
void bc_starting_free_all(bc_service *s);

/* ---- berth-containers-removal.c: removals that go on after the exit was reported ---- */

/* ended: the removal is over (false: berthd shuts down first; only free what userdata holds). */
typedef void (*bc_removed_fn)(bc_service *s, bool ended, void *userdata);
/* From now on ns/id is hidden from berth's calls until bc_removal_end; berthd's shutdown waits for it. */
void bc_removal_begin(bc_service *s, const char *ns, const char *id);
void bc_removal_end(bc_service *s, const char *ns, const char *id);
bool bc_removal_pending(bc_service *s, const char *ns, const char *id);
/* fn runs once the removal of ns/id ended; -1 when none is pending. */
int bc_removal_wait(bc_service *s, const char *ns, const char *id, bc_removed_fn fn, void *userdata);
void bc_removals_free_all(bc_service *s);

/* ---- handlers ---- */
void bc_run_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_run_half_close(grpc_call *call, void *userdata);
void bc_run_cancel(grpc_call *call, void *userdata);
void bc_exec_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_exec_half_close(grpc_call *call, void *userdata);
void bc_exec_cancel(grpc_call *call, void *userdata);
void bc_stop(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_inspect(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_logs(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_logs_cancel(grpc_call *call, void *userdata);
void bc_attach_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_attach_cancel(grpc_call *call, void *userdata);
void bc_top(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void bc_stats(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
