/* libberth: the C client library of berthd (gRPC over its unix socket).
 *
 * The high-level API follows voiyd's Runtime interface: Pull, Run, Stop, Kill, Delete, Cleanup, List, Get, Labels,
 * IO, Namespace, Version, ID, Name. This release implements the image side (pull with progress, list, remove,
 * import, export), version and info; the container side is declared for the next release and its functions return
 * an error with code 12 (UNIMPLEMENTED, "not implemented yet").
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

/* ---- containers (next release: these return UNIMPLEMENTED "not implemented yet") ---- */
typedef struct berth_container berth_container;

typedef struct berth_run_opts {
        const char *id;                  /* NULL = generated; at most 64 characters */
        const char *name;
        const char *const *args;         /* NULL-terminated; NULL = the image's command */
        const char *const *env;          /* "KEY=value", added to the image's */
        const char *const *labels;       /* "key=value" */
        bool tty;
} berth_run_opts;

int berth_run(berth_client *c, const char *image, const berth_run_opts *opts, berth_container **ret, berr **err);
/* Graceful stop: SIGTERM, then SIGKILL after timeout_sec. */
int berth_stop(berth_client *c, const char *id, uint32_t timeout_sec, berr **err);
int berth_kill(berth_client *c, const char *id, int signo, berr **err);
/* Deletes a container, stopping its task first. */
int berth_delete(berth_client *c, const char *id, berr **err);
/* Tears down networking and leftovers of a container. */
int berth_cleanup(berth_client *c, const char *id, berr **err);
int berth_containers_list(berth_client *c, const char *const *filters, berth_container ***ret, size_t *ret_n,
                          berr **err);
int berth_container_get(berth_client *c, const char *id, berth_container **ret, berr **err);
/* The container's stdout and stderr as readable fds. */
int berth_container_io(berth_client *c, const char *id, int *ret_stdout, int *ret_stderr, berr **err);
const char *berth_container_id(const berth_container *ct);
const char *berth_container_name(const berth_container *ct);
/* NULL-terminated "key=value" list owned by the container. */
const char *const *berth_container_labels(const berth_container *ct);
berth_container *berth_container_free(berth_container *ct);

#ifdef __cplusplus
}
#endif
