/* libberth: the C client library of berthd (gRPC over its unix socket).
 *
 * The high-level API follows voiyd's Runtime interface: Pull, Run, Stop, Kill, Delete, Cleanup, List, Get, Labels,
 * IO, Namespace, Version, ID, Name; images (pull with progress, list, remove, import, export), version and info; containers
 * (run, attached processes, exec, logs, stop, kill, remove, pause, top, stats, wait, inspect) and events.
 *
 * Conventions: fallible functions take `berr **err` last, return a negative value on failure after setting *err and
 * leave *err untouched on success. An error's code is the gRPC status code the daemon answered with (5 not found,
 * 6 already exists, 3 invalid argument, 14 unavailable, ...) and its message is the daemon's status message;
 * release it with berth_error_free. Strings and arrays handed out are owned by the caller and released with the
 * matching *_free / *_done function. A client is not thread-safe: use one per thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct berr berr;
typedef struct berth_client berth_client;

/* ---- errors ---- */
int berth_error_code(const berr *e);
const char *berth_error_message(const berr *e);
void berth_error_free(berr *e);

/* ---- connection ---- */
#define BERTH_DEFAULT_ADDRESS "/run/berth/berthd.sock"
#define BERTH_DEFAULT_NAMESPACE "default"

/* The library's own version, e.g. "0.1.0". */
const char *berth_client_version(void);

/* Connects to berthd's socket. address: a path, optionally with a "unix://" prefix; NULL = the default.
 * namespace_: the namespace every call works in (sent as the containerd-namespace header); NULL = "default".
 * A daemon that is not running gives code 14 with "cannot connect to berthd at ADDRESS: <reason>". */
int berth_client_connect(const char *address, const char *namespace_, berth_client **ret, berr **err);
/* Closes the connection; accepts NULL; returns NULL. */
berth_client *berth_client_free(berth_client *c);
const char *berth_client_namespace(const berth_client *c);
const char *berth_client_address(const berth_client *c);
/* Switches the namespace of later calls. */
void berth_client_set_namespace(berth_client *c, const char *namespace_);

/* ---- version and info ---- */
typedef struct berth_server_version {
        char *version;  /* containerd-compatible version, e.g. "1.6.20+berth.0.1.0" */
        char *revision;
} berth_server_version;

int berth_version(berth_client *c, berth_server_version *ret, berr **err);
void berth_server_version_done(berth_server_version *v);

typedef struct berth_info {
        char *version, *revision;
        char *root, *state, *address;
        char *snapshotter;   /* the default snapshotter */
        char *oci_runtime;
        char *log_level;
        char *uuid;
        uint32_t pid;
        /* Counts in the client's namespace (namespaces and content bytes: all namespaces). */
        int64_t namespaces, images, content_blobs, content_bytes, snapshots, leases, containers;
} berth_info;

int berth_info_get(berth_client *c, berth_info *ret, berr **err);
void berth_info_done(berth_info *info);

/* ---- images ---- */
typedef struct berth_image {
        char *name;          /* e.g. "docker.io/library/busybox:latest" */
        char *digest;        /* the target's digest (index or manifest) */
        char *media_type;    /* the target's media type */
        int64_t target_size; /* bytes of the target blob */
        /* Sum of the config and layer blob sizes (as stored, i.e. compressed) of the manifest for this machine's
         * platform (of the first manifest when none matches); -1 when the content is not available. */
        int64_t size;
        int64_t created_at;  /* unix time in nanoseconds, 0 = unknown */
        int64_t updated_at;
        char **labels;       /* NULL-terminated "key=value" list (may be NULL) */
} berth_image;

void berth_image_done(berth_image *img);
void berth_images_free(berth_image *images, size_t n);

typedef struct berth_pull_opts {
        bool plain_http;          /* HTTP instead of HTTPS to the registry */
        bool skip_verify;         /* do not verify the registry's TLS certificate */
        bool no_unpack;           /* fetch only, do not unpack into the snapshotter */
        const char *platform;     /* "os/arch[/variant]"; NULL = the daemon's platform */
        const char *snapshotter;  /* NULL = the daemon's default */
        const char *username, *password; /* NULL = the daemon's configured credentials */
} berth_pull_opts;

typedef struct berth_layer_progress {
        const char *digest;
        const char *media_type;
        const char *status;  /* "waiting", "downloading", "unpacking", "done" or "exists" */
        int64_t total;       /* bytes, 0 while unknown */
        int64_t offset;      /* bytes fetched so far */
        int64_t rate;        /* bytes per second */
} berth_layer_progress;

/* A snapshot of every blob known so far; valid only during the callback. */
typedef struct berth_pull_progress {
        const char *phase;   /* "resolving", "fetching", "unpacking", "done" */
        const berth_layer_progress *layers;
        size_t n_layers;
        bool done;           /* the last message: name and digest below are set */
        const char *name, *digest;
        int64_t elapsed_ms;
} berth_pull_progress;

typedef void (*berth_pull_progress_fn)(const berth_pull_progress *p, void *userdata);

/* Pulls ref inside the daemon (berth.v1.Berth/Pull), calling progress (may be NULL) for each progress message.
 * On success *ret (may be NULL) describes the image: name, digest, media_type, target_size (size is not computed
 * here: -1). */
int berth_pull(berth_client *c, const char *ref, const berth_pull_opts *opts, berth_pull_progress_fn progress,
               void *userdata, berth_image *ret, berr **err);

/* Lists the namespace's images (containerd's Images/List) with their sizes. filters: NULL-terminated list of
 * containerd filter expressions (e.g. "name==docker.io/library/busybox:latest"), NULL for all. */
int berth_images_list(berth_client *c, const char *const *filters, berth_image **ret, size_t *ret_n, berr **err);
/* One image by exact name (containerd's Images/Get), with its size. */
int berth_image_get(berth_client *c, const char *name, berth_image *ret, berr **err);
/* Removes the image record (containerd's Images/Delete with sync: content no longer referenced is collected
 * before the call returns). */
int berth_image_remove(berth_client *c, const char *name, berr **err);

typedef struct berth_import_opts {
        bool no_unpack;
        const char *snapshotter;
        const char *base_name;  /* name for index entries without an image name annotation */
        const char *platform;
        bool all_platforms;
} berth_import_opts;

/* Streams an OCI archive or docker-archive tar (path, or "-" for stdin) to berth.v1.Berth/ImportImage. *ret gets
 * the imported images (name, digest, media_type, target_size; size -1). opts may be NULL. */
int berth_image_import(berth_client *c, const char *path, const berth_import_opts *opts, berth_image **ret,
                       size_t *ret_n, berr **err);

typedef struct berth_export_opts {
        const char *platform;   /* NULL = every platform present locally */
        const char *format;     /* "oci" (default) or "docker" */
} berth_export_opts;

/* Writes an archive of the named images (NULL-terminated refs) to path ("-" for stdout). A file is written under
 * a temporary name and renamed into place when complete. opts may be NULL. */
int berth_image_export(berth_client *c, const char *const *refs, const char *path, const berth_export_opts *opts,
                       berr **err);

/* Docker's short-name habit: "busybox" -> "docker.io/library/busybox:latest", "me/app" ->
 * "docker.io/me/app:latest", "host:5000/x" -> "host:5000/x:latest"; names with a tag or digest keep it. Returns a
 * malloc'd string. */
char *berth_reference_normalize(const char *ref);

/* ---- containers (berth.v1.Containers) ----
 * A container is named by its id (docker's --name; generated 12 hex digits when not given). Its exit code follows
 * docker: the process's status, 128+N after signal N, 126 when the command is not executable, 127 when it is not
 * found, 125 when berth itself failed. */
typedef struct berth_container berth_container;

typedef struct berth_run_opts {
        const char *id;                  /* NULL = generated; at most 64 characters */
        const char *name;                /* the same as id (docker's --name); id wins when both are set */
        const char *const *args;         /* NULL-terminated; NULL = the image's command (the Entrypoint stays) */
        const char *const *env;          /* "KEY=value" added to the image's, "KEY" unsets */
        const char *const *labels;       /* "key=value" */
        bool tty;
        /* Everything below is optional (zero = docker's default). */
        bool stdin_open;                 /* -i: keep stdin open (berth_run_attach streams it; detached: berth_attach writes it) */
        bool auto_remove;                /* --rm */
        bool read_only;                  /* --read-only root file system */
        const char *const *mounts;       /* "SRC:DST[:ro|rw][,propagation]" (-v) */
        const char *workdir;             /* absolute */
        const char *user;                /* "uid[:gid]" or "name[:group]" */
        const char *hostname;            /* NULL = the container id */
        const char *restart;             /* "no", "always", "on-failure[:N]", "unless-stopped" */
        const char *memory;              /* "64m", "1g" */
        const char *cpus;                /* "1.5" */
        const char *const *log_opts;     /* "max-size=10m", "max-files=3" */
        const char *runtime;             /* NULL = io.containerd.berth.v2 */
        const char *snapshotter;         /* NULL = the daemon's default */
        /* With tty: the terminal's size the process starts with (the OCI spec's process.consoleSize), so a
         * command that asks at once sees it. 0 (either) = unknown: the pty starts 0x0 until a resize. */
        uint32_t console_width, console_height;
} berth_run_opts;

/* Creates and starts a container detached (the image name is normalized: "busybox" ->
 * "docker.io/library/busybox:latest"). *ret (may be NULL) is the container as berth_container_get returns it. A
 * command that cannot be run gives an error whose berth_run_exit_code is 126 or 127. */
int berth_run(berth_client *c, const char *image, const berth_run_opts *opts, berth_container **ret, berr **err);
/* The exit code docker's CLI gives for a failed run/exec: 126 or 127 when e says the command could not be run
 * (not executable, not found), else 125. */
int berth_run_exit_code(const berr *e);

/* Graceful stop: SIGTERM (or the image's stop signal), then SIGKILL after timeout_sec (< 0: the default, 10 s).
 * Returns once the container has exited; no restart policy brings it back. */
int berth_stop(berth_client *c, const char *id, int timeout_sec, berr **err);
/* Sends signo (0 = SIGKILL, docker's default) to the container's process. */
int berth_kill(berth_client *c, const char *id, int signo, berr **err);
/* The same with a signal name or number as docker accepts it: "KILL", "SIGTERM", "9"; NULL = SIGKILL. */
int berth_kill_named(berth_client *c, const char *id, const char *signal, berr **err);
/* Removes the container (task, record, snapshot, logs). A running one needs force (it is killed first). */
int berth_container_remove(berth_client *c, const char *id, bool force, berr **err);
/* Deletes a container, stopping its task first (berth_container_remove with force). */
int berth_delete(berth_client *c, const char *id, berr **err);
/* Tears down whatever is left of a container (berth has no networking to undo): berth_delete where a missing
 * container is not an error. */
int berth_cleanup(berth_client *c, const char *id, berr **err);
int berth_pause(berth_client *c, const char *id, berr **err);
int berth_unpause(berth_client *c, const char *id, berr **err);
/* Waits until the container has exited (at once when it is not running): its exit code and time (ns). Either
 * pointer may be NULL. No timeout. */
int berth_wait(berth_client *c, const char *id, int32_t *ret_code, int64_t *ret_exited_at, berr **err);

/* Every container of the namespace, running or not (filters: containerd's syntax on container records, e.g.
 * "labels.app==web"; NULL for all), sorted by creation time, newest first. Free with berth_containers_free. */
int berth_containers_list(berth_client *c, const char *const *filters, berth_container ***ret, size_t *ret_n,
                          berr **err);
void berth_containers_free(berth_container **v, size_t n);
/* One container with everything docker's inspect shows (berth.v1.Containers/Inspect). */
int berth_container_get(berth_client *c, const char *id, berth_container **ret, berr **err);

/* The container's stdout and stderr from now on as readable fds (pipes fed by a thread with its own connection
 * until the container exits or both fds are closed). The caller closes both. */
int berth_container_io(berth_client *c, const char *id, int *ret_stdout, int *ret_stderr, berr **err);

const char *berth_container_id(const berth_container *ct);
const char *berth_container_name(const berth_container *ct);
/* NULL-terminated "key=value" list owned by the container (the user's labels). */
const char *const *berth_container_labels(const berth_container *ct);

/* All of it; valid while the container is. Times are unix nanoseconds, 0 = never. */
typedef struct berth_container_info {
        const char *id, *name, *image;
        const char *const *command;      /* the process args (NULL-terminated) */
        int64_t created_at, started_at, finished_at;
        const char *status;              /* "created", "running", "paused", "restarting", "exited" */
        bool running, paused, restarting, oom_killed, explicitly_stopped;
        uint32_t pid;                    /* 0 unless running or paused */
        int32_t exit_code;
        const char *restart_policy;      /* "no", "always", "on-failure:N", "unless-stopped" */
        uint32_t restart_count;
        const char *const *labels;       /* "key=value" */
        const char *const *env;          /* "KEY=value" */
        const char *const *mounts;       /* as given to run */
        const char *workdir, *user, *hostname, *runtime, *snapshotter, *snapshot_key, *log_dir;
        const char *error;               /* why the last start failed, "" if it did not */
        bool tty, stdin_open, auto_remove;
        int64_t memory;                  /* bytes, 0 = no limit */
        uint64_t nano_cpus;
} berth_container_info;
const berth_container_info *berth_container_get_info(const berth_container *ct);
berth_container *berth_container_free(berth_container *ct);

/* ---- attached processes: run in the foreground, exec, attach ----
 * A berth_process is one streaming call. Wait for berth_process_pollfd (together with your own fds) and call
 * berth_process_next, or just call berth_process_next with a timeout. */
typedef struct berth_process berth_process;

typedef enum berth_process_event_kind {
        BERTH_PROCESS_STARTED,  /* id (container or exec id) and pid */
        BERTH_PROCESS_STDOUT,   /* data (with a tty everything is stdout) */
        BERTH_PROCESS_STDERR,
        BERTH_PROCESS_EXIT,     /* exit_code, exited_at; error when the process never ran. The last event. */
} berth_process_event_kind;

typedef struct berth_process_event {
        berth_process_event_kind kind;
        const char *id;
        uint32_t pid;
        const uint8_t *data;
        size_t len;
        int32_t exit_code;
        int64_t exited_at;
        const char *error;      /* "" unless the process never ran */
} berth_process_event;

/* Runs a container with its output (and stdin, with opts->stdin_open) streamed over the call. */
int berth_run_attach(berth_client *c, const char *image, const berth_run_opts *opts, berth_process **ret,
                     berr **err);

typedef struct berth_exec_opts {
        const char *const *args;         /* NULL-terminated, required */
        const char *const *env;
        const char *workdir, *user;
        bool tty, stdin_open;
        bool detach;                     /* started, then the call ends (no output, no exit) */
        const char *exec_id;             /* NULL = generated */
        uint32_t console_width, console_height; /* with tty: the initial size, as berth_run_opts' */
} berth_exec_opts;
int berth_exec(berth_client *c, const char *id, const berth_exec_opts *opts, berth_process **ret, berr **err);
/* Output of a running container from now on until it exits (stdin too when it was run with stdin_open). */
int berth_attach(berth_client *c, const char *id, berth_process **ret, berr **err);

/* The next event, waiting at most timeout_ms (< 0: forever). Returns 1 with *ev (valid until the next call), 0 when
 * nothing arrived in time, 2 at the end (after EXIT, or for a detached start after STARTED), -1 on an error (for
 * a failed start the EXIT event with its error came before). */
int berth_process_next(berth_process *p, int timeout_ms, berth_process_event *ev, berr **err);
/* fd and events to poll(2) for progress (then call berth_process_next with timeout 0). */
int berth_process_pollfd(const berth_process *p, short *ret_events);
int berth_process_write_stdin(berth_process *p, const void *data, size_t len, berr **err);
/* stdin ends (the process sees EOF). */
int berth_process_close_stdin(berth_process *p, berr **err);
int berth_process_resize(berth_process *p, uint32_t width, uint32_t height, berr **err);
/* Ends the call (a still running process keeps running: its output goes to the logs only). Accepts NULL. */
berth_process *berth_process_free(berth_process *p);

/* ---- logs ---- */
typedef struct berth_logs_opts {
        bool follow;            /* until the container is no longer running */
        int64_t tail;           /* last N lines; < 0 = all */
        int64_t since, until;   /* unix ns, 0 = unbounded */
} berth_logs_opts;

typedef struct berth_log_entry {
        bool is_stderr;
        int64_t time;           /* unix ns */
        const uint8_t *data;    /* the line with its "\n" unless partial */
        size_t len;
        bool partial;
} berth_log_entry;
/* Return non-zero to stop reading (berth_logs then returns 0). */
typedef int (*berth_log_fn)(const berth_log_entry *e, void *userdata);
/* opts may be NULL (everything, no follow). */
int berth_logs(berth_client *c, const char *id, const berth_logs_opts *opts, berth_log_fn fn, void *userdata,
               berr **err);

/* ---- top and stats ---- */
typedef struct berth_process_info {
        uint32_t pid, ppid, uid;
        char *state;            /* "R", "S", ... */
        uint64_t rss_bytes, vsz_bytes, cpu_ns;
        int64_t started_at;     /* unix ns */
        char *command;
} berth_process_info;
int berth_top(berth_client *c, const char *id, berth_process_info **ret, size_t *ret_n, berr **err);
void berth_process_infos_free(berth_process_info *v, size_t n);

typedef struct berth_stats {
        int64_t read_at;        /* unix ns */
        uint64_t cpu_usage_ns;  /* the container's CPU time */
        uint64_t system_cpu_ns; /* the host's CPU time (all CPUs) at read_at */
        uint32_t online_cpus;
        uint64_t memory_usage, memory_limit, memory_cache;
        uint64_t pids_current, pids_limit;
} berth_stats;
int berth_container_stats(berth_client *c, const char *id, berth_stats *ret, berr **err);
/* docker's CPU %: the container's share of the host's CPU time between two samples, times online CPUs, in %. */
double berth_stats_cpu_percent(const berth_stats *prev, const berth_stats *now);

/* ---- events (containerd.services.events.v1.Events/Subscribe) ---- */
typedef struct berth_event {
        int64_t timestamp;      /* unix ns */
        const char *namespace_, *topic, *type_url;
        const uint8_t *value;   /* the event message (protobuf) */
        size_t len;
} berth_event;
/* Return non-zero to stop (berth_events then returns 0). */
typedef int (*berth_event_fn)(const berth_event *ev, void *userdata);
/* Events of every namespace matching any of filters (containerd syntax: topic=="/tasks/exit", namespace==x; NULL =
 * all) until fn stops it or the daemon ends the stream. */
int berth_events(berth_client *c, const char *const *filters, berth_event_fn fn, void *userdata, berr **err);
/* The event as JSON like ctr prints it (the known containerd event types; "{}" for others). malloc'd. */
char *berth_event_json(const berth_event *ev);

#ifdef __cplusplus
}
#endif
