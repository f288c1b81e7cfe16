/* berthd's task manager (containerd's runtime v2 "task" plugin): one shim per task, launched by runtime name
 * (io.containerd.berth.v2 → containerd-shim-berth-v2, io.containerd.runc.v2 → containerd's own
 * containerd-shim-runc-v2, or an absolute path), driven over ttrpc exactly as containerd drives it
 * (shared/protocol/shim-v2.md §9). Bundles live at <state>/tasks/<ns>/<id>/ (config.json, rootfs/, the `log` FIFO
 * berthd drains into its own log, the shim's `address`, `shim-binary-path`).
 *
 * Everything runs on the daemon's event loop and nothing blocks it on a shim: every operation is asynchronous and
 * reports through a callback that runs exactly once, later (never inside the call that started it), unless the
 * starting call itself fails (returns -1 with *err, no callback). Every shim call is bounded by a timeout except
 * Wait. The one exception is runtime_restore() at start-up, which reconnects to every shim in parallel and pumps
 * the loop until all answered or timed out (a few seconds at most, whatever the shims do).
 *
 * Exits: the manager subscribes to /tasks/exit (events/exchange.h) and keeps a Wait in flight on every task, so the
 * cached state (runtime_task_info) is right without polling. A shim that dies is cleaned up like containerd does
 * (its `delete` action, then /tasks/exit and /tasks/delete published, bundle removed). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "basic/event.h"
#include "basic/mount.h"

struct event_exchange;

typedef struct runtime runtime;
typedef struct rt_task rt_task;

#define RUNTIME_DEFAULT_NAME "io.containerd.berth.v2"
/* Its binary (berth's own shim). */
#define SHIM_BERTH_BINARY "containerd-shim-berth-v2"
#define RUNTIME_RUNC_V2 "io.containerd.runc.v2"

/* containerd.v1.types.Status */
typedef enum rt_status {
        RT_STATUS_UNKNOWN = 0,
        RT_STATUS_CREATED = 1,
        RT_STATUS_RUNNING = 2,
        RT_STATUS_STOPPED = 3,
        RT_STATUS_PAUSED = 4,
        RT_STATUS_PAUSING = 5,
} rt_status;

typedef struct runtime_config {
        ev_loop *loop;
        const char *state;         /* berthd's state dir: bundles go to <state>/tasks */
        const char *address;       /* berthd's gRPC socket: the shims' -address (hashed into their socket names) */
        const char *ttrpc_address; /* where shims forward events (TTRPC_ADDRESS) */
        /* "auto" (NULL too), "crun", "runc" or a path: the OCI runtime the shims run (containerd.runc.v1.Options
         * binary_name). auto: our shim chooses; for io.containerd.runc.v2, crun where it works here, else runc. */
        const char *oci_runtime;
        struct event_exchange *events; /* may be NULL (no events published or received) */
} runtime_config;

int runtime_new(const runtime_config *cfg, runtime **ret, berr **err);
/* Lets go of every shim without stopping them (they keep running; a later berthd reconnects). Accepts NULL. */
runtime *runtime_free(runtime *rt);

/* At start-up: reconnect to every shim under <state>/tasks (Connect 5 s + State 2 s, all in parallel), register the
 * live ones, and clean up after dead ones (`delete` action, /tasks/exit + /tasks/delete with the exit status it
 * reports, bundle removed). A task that exited while berthd was down is registered STOPPED and its real exit
 * published on /tasks/exit. Pumps the loop until done (bounded); never fails because of a shim. */
int runtime_restore(runtime *rt, berr **err);

/* The OCI runtime binary passed to shims for runtime name (NULL: let the shim choose). */
const char *runtime_oci_binary(const runtime *rt, const char *runtime_name);

/* ---- tasks ---- */

typedef struct rt_any {
        const char *type_url;
        const uint8_t *value;
        size_t len;
} rt_any;

typedef struct rt_create_opts {
        const char *ns;
        const char *id;
        const char *runtime_name; /* io.containerd.NAME.vN or an absolute path; NULL: RUNTIME_DEFAULT_NAME */
        const uint8_t *spec;      /* the OCI spec JSON, written to config.json */
        size_t spec_len;
        const berth_mount *rootfs; /* mounted by the shim onto <bundle>/rootfs */
        size_t n_rootfs;
        const char *stdin_path, *stdout_path, *stderr_path; /* created by the client; NULL/"": none */
        bool terminal;
        const char *checkpoint;
        /* Task options win over the container's runtime options (containerd's order); type_url NULL: none. */
        rt_any task_options;
        rt_any runtime_options;
} rt_create_opts;

/* Cached state of a task's init process, kept current from Wait replies and /tasks/exit events. */
typedef struct rt_task_info {
        const char *ns, *id, *bundle, *runtime_name;
        uint32_t pid;
        rt_status status;
        bool exited;
        uint32_t exit_status;
        int64_t exited_at; /* ns since the epoch; 0 until exited */
} rt_task_info;

/* State of a process as the shim reports it (StateResponse). */
typedef struct rt_state {
        const char *id; /* the exec id for execs, the container id for init */
        uint32_t pid;
        rt_status status;
        const char *stdin_path, *stdout_path, *stderr_path;
        bool terminal;
        uint32_t exit_status;
        int64_t exited_at; /* 0: not exited */
} rt_state;

typedef struct rt_exit {
        uint32_t pid;
        uint32_t exit_status;
        int64_t exited_at; /* ns */
} rt_exit;

/* e is NULL on success; e and the other pointers are only valid during the callback. t is the task (a reference is
 * held for the callback's duration; take one with rt_task_ref to keep it). */
typedef void (*rt_done_fn)(rt_task *t, const berr *e, void *userdata);
typedef void (*rt_pid_fn)(rt_task *t, const berr *e, uint32_t pid, void *userdata);
typedef void (*rt_exit_fn)(rt_task *t, const berr *e, const rt_exit *exit, void *userdata);
typedef void (*rt_state_fn)(rt_task *t, const berr *e, const rt_state *state, void *userdata);
/* Raw reply: the undecoded response payload. */
typedef void (*rt_reply_fn)(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata);

/* Creates the bundle, starts the shim, Create + Connect. cb gets the init pid. Errors as containerd words them:
 * ALREADY_EXISTS "task <id>: already exists"; "failed to start shim: ..." / "failed to create shim task: ...". On
 * failure everything is cleaned up (shim, bundle). */
int runtime_task_create(runtime *rt, const rt_create_opts *o, rt_pid_fn cb, void *userdata, berr **err);

/* A registered (created, not deleted) task, or NULL. Borrowed: valid until control returns to the loop unless
 * referenced. */
rt_task *runtime_task_get(runtime *rt, const char *ns, const char *id);
/* The registered tasks of a namespace (ns NULL: all), borrowed as above; *ret is malloc'd (free it). */
size_t runtime_task_list(runtime *rt, const char *ns, rt_task ***ret);

rt_task *rt_task_ref(rt_task *t);
void rt_task_unref(rt_task *t);
void rt_task_info_get(const rt_task *t, rt_task_info *ret);
const char *rt_task_ns(const rt_task *t);
const char *rt_task_id(const rt_task *t);

/* exec_id NULL or "": the init process. */
int rt_task_start(rt_task *t, const char *exec_id, rt_pid_fn cb, void *userdata, berr **err);
int rt_task_kill(rt_task *t, const char *exec_id, uint32_t signal, bool all, rt_done_fn cb, void *userdata,
                 berr **err);
/* No timeout: answers when the process exits (at once if it already has). */
int rt_task_wait(rt_task *t, const char *exec_id, rt_exit_fn cb, void *userdata, berr **err);
int rt_task_state(rt_task *t, const char *exec_id, rt_state_fn cb, void *userdata, berr **err);

typedef struct rt_exec_opts {
        const char *exec_id;
        const char *stdin_path, *stdout_path, *stderr_path;
        bool terminal;
        rt_any spec; /* types.containerd.io/opencontainers/runtime-spec/1/Process, JSON */
} rt_exec_opts;
int rt_task_exec(rt_task *t, const rt_exec_opts *o, rt_done_fn cb, void *userdata, berr **err);
/* Deletes an exec'd process. */
int rt_task_delete_process(rt_task *t, const char *exec_id, rt_exit_fn cb, void *userdata, berr **err);

/* Full teardown of the task: Delete → Shutdown → close → the shim's `delete` action → bundle removed; the task
 * leaves the list. A shim Delete error other than NOT_FOUND fails the call and keeps the task. */
int rt_task_delete(rt_task *t, rt_exit_fn cb, void *userdata, berr **err);

/* Any other Task method ("Pause", "Resume", "Pids", "Stats", "Update", "Checkpoint", "ResizePty", "CloseIO"...):
 * req is the shim's request message; timeout_ns 0 = the manager's default for that method. Status errors carry the
 * shim's code and message; a closed connection is UNAVAILABLE, a timeout DEADLINE_EXCEEDED. */
int rt_task_call(rt_task *t, const char *method, const ProtobufCMessage *req, int64_t timeout_ns, rt_reply_fn cb,
                 void *userdata, berr **err);

/* ---- helpers (exposed for tests) ---- */

/* containerd's shim binary name for a runtime name: io.containerd.NAME.vN → containerd-shim-NAME-vN. NULL (with
 * *err) for a name with fewer than two dot-separated parts. */
char *runtime_shim_binary_name(const char *runtime_name, berr **err);
/* Resolves a runtime name to an absolute shim path: an absolute path as is (it must exist); otherwise the binary
 * name next to dir(runtime_name) when that has a slash, then PATH, then self_dir (the daemon binary's directory).
 * Otherwise NOT_FOUND `runtime "X" binary not installed "containerd-shim-..."` (containerd's words). */
char *runtime_resolve_shim(const char *runtime_name, const char *self_dir, berr **err);
