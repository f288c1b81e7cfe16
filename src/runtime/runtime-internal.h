/* The task manager's insides, shared by its files (not for other modules). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/event.h"
#include "runtime/runtime.h"
#include "ttrpc/ttrpc.h"

#define TASK_SERVICE "containerd.task.v2.Task"
#define NSEC_PER_SEC INT64_C(1000000000)

/* Timeouts (containerd's defaults where it has them: shim load 5 s, state 2 s, shutdown 3 s, cleanup 5 s). */
#define TIMEOUT_SHIM_START (30 * NSEC_PER_SEC)
#define TIMEOUT_CREATE (60 * NSEC_PER_SEC)
#define TIMEOUT_CALL (30 * NSEC_PER_SEC)
#define TIMEOUT_CONNECT (5 * NSEC_PER_SEC)
#define TIMEOUT_STATE (2 * NSEC_PER_SEC)
#define TIMEOUT_SHUTDOWN (3 * NSEC_PER_SEC)
#define TIMEOUT_CLEANUP (5 * NSEC_PER_SEC)

typedef enum rt_phase {
        RT_PHASE_STARTING, /* bundle made, shim being started / Create in flight: not visible yet */
        RT_PHASE_LIVE,     /* registered */
        RT_PHASE_DELETING, /* our own teardown: a connection close is expected */
        RT_PHASE_DEAD,     /* cleaning up after a shim that went away */
        RT_PHASE_GONE,     /* out of the list; only references keep it */
} rt_phase;

struct rt_task {
        unsigned n_ref;
        runtime *rt; /* NULL once the manager is gone */
        rt_task *prev, *next;
        bool in_list;
        rt_phase phase;

        char *ns, *id, *bundle, *runtime_name, *shim_binary;
        ttrpc_client *client;

        int log_fd; /* the bundle's `log` FIFO, read side (O_RDWR so it never sees EOF) */
        ev_source *log_source;
        char log_buf[4096];
        size_t log_len;

        uint32_t pid;
        rt_status status;
        bool exited;
        uint32_t exit_status;
        int64_t exited_at;
        bool waiting; /* our own Wait on init is in flight */
};

struct runtime {
        ev_loop *loop;
        char *tasks_dir; /* <state>/tasks */
        char *address;
        char *ttrpc_address;
        char *self_path; /* the berthd binary: -publish-binary */
        char *self_dir;
        char *oci_runtime; /* NULL: auto */
        char *oci_auto;    /* auto's pick for runc-v2 ("crun" or "runc") */
        struct event_exchange *events;
        struct event_sub *exit_sub;
        rt_task *head;
        struct sealed_runtime *sealed; /* sealed-runtime.c */
        char *sealed_path;             /* the runtime's file, for it */
        struct cgroup_warmer *warmer;  /* held while a runtime moves processes into cgroups (create, exec) */
};

/* ---- the sealed copy of the OCI runtime for our shims (sealed-runtime.c) ---- */
typedef struct sealed_runtime sealed_runtime;
/* The descriptor of the sealed copy of the runtime binary our shim runs (berthd's --oci-runtime, or auto's
 * choice), and in *ret_env (freed by the caller) the variable that describes it to the shim; -1 when there is
 * none. */
int runtime_sealed_oci(runtime *rt, char **ret_env);
void sealed_runtime_free(sealed_runtime *s);

/* ---- tasks (task.c) ---- */
rt_task *rt_task_new(runtime *rt, const char *ns, const char *id, const char *bundle);
void rt_task_link(rt_task *t);
void rt_task_unlink(rt_task *t);
/* Any registered or starting task with that id (duplicate check). */
rt_task *rt_task_find_any(runtime *rt, const char *ns, const char *id);
/* Wires the connection: on_close runs dead-shim cleanup unless we are tearing down ourselves. */
void rt_task_attach_client(rt_task *t, ttrpc_client *client);
/* Starts the internal Wait on init that keeps the cached exit current. */
void rt_task_watch_exit(rt_task *t);
void rt_task_set_exit(rt_task *t, uint32_t pid, uint32_t exit_status, int64_t exited_at);
/* Raw call with metadata (restore sends the namespace). */
int rt_task_call_md(rt_task *t, const char *method, const ProtobufCMessage *req, const ttrpc_kv *md, size_t n_md,
                    int64_t timeout_ns, rt_reply_fn cb, void *userdata, berr **err);

/* ---- teardown (task-delete.c) ---- */
/* After a failed create or on a dead shim: Delete (tolerating NOT_FOUND) if connected, Shutdown, close, `delete`
 * action, bundle removed. publish: send /tasks/exit + /tasks/delete from the action's DeleteResponse. done (may be
 * NULL) runs at the end. */
void rt_task_teardown(rt_task *t, bool publish, void (*done)(rt_task *t, void *userdata), void *userdata);
/* The shim dropped its connection while the task was registered. */
void rt_task_on_dead_shim(rt_task *t);
void rt_publish_exit(rt_task *t, uint32_t pid, uint32_t exit_status, int64_t exited_at, bool with_delete);

/* ---- bundles (bundle.c) ---- */
char *bundle_path(const runtime *rt, const char *ns, const char *id);
/* Makes the bundle dir (0700) with config.json, rootfs/ and the `log` FIFO. */
int bundle_create(const char *bundle, const uint8_t *spec, size_t spec_len, berr **err);
/* Opens the `log` FIFO O_RDWR|O_NONBLOCK and drains it into berthd's log. */
int bundle_open_log(rt_task *t, berr **err);
void bundle_close_log(rt_task *t);
/* Unmounts rootfs and removes the bundle. */
int bundle_remove(const char *bundle, berr **err);
/* <bundle>/address verbatim (NULL if missing or empty). */
char *bundle_read_address(const char *bundle);
/* <bundle>/shim-binary-path (NULL if missing). */
char *bundle_read_shim_binary(const char *bundle);

/* ---- the shim binary's actions (shim-action.c) ---- */
typedef void (*shim_action_fn)(int exit_code, const char *output, size_t len, void *userdata);
#define SHIM_STDERR_COMBINED (-2)
/* Runs `<shim> -namespace NS -address ADDR -publish-binary SELF -id ID [-bundle B] ACTION` in the bundle with
 * TTRPC_ADDRESS and GOMAXPROCS=2 set, stdin = stdin_data (or /dev/null), stdout captured; stderr goes to stderr_fd
 * (-1: /dev/null; SHIM_STDERR_COMBINED: captured with stdout, as `start` needs; `delete` prints a bare protobuf on
 * stdout and free text on stderr). exit_code is -1 when it could not run or was killed at the timeout (output then
 * holds the reason). */
int shim_action_run(runtime *rt, const char *shim, const char *ns, const char *id, const char *bundle,
                    const char *action, const uint8_t *stdin_data, size_t stdin_len, int stderr_fd,
                    int64_t timeout_ns, shim_action_fn cb, void *userdata, berr **err);

/* ---- conversions ---- */
int64_t rt_timestamp_ns(const void *google_protobuf_timestamp);
/* Go's zero time (-62135596800 s) and 1970 both mean "not exited". */
bool rt_timestamp_is_zero(int64_t ns);
