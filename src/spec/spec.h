/* OCI runtime spec generation for `berth run`: containerd 1.6's default Unix spec (oci.populateDefaultUnixSpec
 * plus WithDefaultUnixDevices, as `ctr run` builds it), the image config applied on top (WithImageConfig: env,
 * entrypoint + cmd, working dir, user), then the user's options (-e, -w, -u, -v, --memory, --cpus, ...).
 * The result is JSON that crun and runc both accept.
 *
 * Deviations from containerd, on purpose:
 *  - RLIMIT_NOFILE 1024/1024 is clamped to berthd's own hard limit: without CAP_SYS_RESOURCE a runtime cannot
 *    raise a hard limit, and the container would fail to start.
 *  - /sys/fs/cgroup is mounted read-only (type cgroup) as docker and containerd's CRI do; ctr leaves it out.
 *  - An image env without PATH gets containerd's default PATH (docker does this; containerd only when the
 *    image env is empty). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "basic/error.h"

#define SPEC_OCI_VERSION "1.0.2-dev"
#define SPEC_DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPEC_CPU_PERIOD 100000

/* The part of an OCI image config (config.Config) a run needs. Vectors are NULL-terminated, NULL = empty. */
typedef struct image_config_min {
        char *const *env;
        char *const *entrypoint;
        char *const *cmd;
        const char *working_dir; /* NULL or "" = "/" */
        const char *user;        /* NULL or "" = root */
} image_config_min;

/* One -v SRC:DST[:OPTS]. */
typedef struct spec_bind {
        char *source;
        char *destination;
        bool readonly;
        char *propagation; /* "rprivate", "rshared", ...; NULL = the runtime's default */
} spec_bind;

typedef struct spec_options {
        const char *ns; /* required: containerd namespace (cgroupsPath "/<ns>/<id>") */
        const char *id; /* required: container id */

        char *const *args;  /* replaces the image's Cmd (the Entrypoint stays), NULL = the image's */
        char *const *env;   /* "K=V" sets, "K" alone unsets (containerd's replaceOrAppendEnvValues) */
        const char *workdir; /* absolute; NULL = the image's */
        const char *user;    /* "uid", "uid:gid", "name", "name:group", ...; NULL = the image's */
        const char *hostname;
        bool terminal;       /* also sets TERM=xterm unless env sets TERM */
        /* With terminal: the pty's size from the process's first instruction (process.consoleSize, which crun and
         * runc set before exec). Either 0 (or > 65535) = left out (the pty starts 0x0 until a ResizePty). */
        uint32_t console_width, console_height;
        const spec_bind *binds;
        size_t n_binds;
        int64_t memory_bytes; /* 0 = no limit */
        uint64_t nano_cpus;   /* 0 = no limit; 1.5 CPUs = 1500000000 */
        int64_t pids_limit;   /* 0 = no limit */
        bool readonly_rootfs;

        const char *root_path;    /* root.path in the spec; NULL = "rootfs" (relative to the bundle) */
        const char *cgroups_path; /* NULL = "/<ns>/<id>" */

        /* Where user and group names are looked up (/etc/passwd, /etc/group of the image). A dirfd wins over a
         * path; with neither, only numeric users are accepted. Lookups never leave this root (symlinks are
         * resolved inside it). */
        int rootfs_fd; /* -1 = none; spec_options_init sets it */
        const char *rootfs_dir;
} spec_options;

void spec_options_init(spec_options *o);

/* Builds the spec. Errors: InvalidArgument (bad option, no command, relative workdir, unknown user),
 * NotFound (a bind source that does not exist). */
int spec_generate_json(const spec_options *opts, const image_config_min *img, json_t **ret, berr **err);
int spec_generate(const spec_options *opts, const image_config_min *img, char **ret_json, berr **err);

/* Sets process.consoleSize {height, width} on a process object when terminal is true and both are 1..65535, removes
 * it otherwise (an exec's process copied from the container's must not keep the run's size). */
void spec_process_set_console_size(json_t *process, bool terminal, uint32_t width, uint32_t height);

/* ---- parsing helpers (all errors are InvalidArgument with the offending text quoted) ---- */

/* "64m", "1g", "1.5G", "512k", "100" (bytes), "64MiB", "64mb": binary multiples, like docker's RAMInBytes. */
int spec_parse_size(const char *s, int64_t *ret, berr **err);
/* "1.5" -> 1500000000 nano CPUs; at least 0.01 (the kernel's smallest CFS quota is 1 ms per 100 ms). */
int spec_parse_cpus(const char *s, uint64_t *ret, berr **err);
/* "-v SRC:DST[:ro|rw][,rprivate|...]": both paths absolute, options from ro, rw and the propagation modes. */
int spec_bind_parse(const char *s, spec_bind *ret, berr **err);
void spec_bind_done(spec_bind *b);

/* ---- users (containerd's WithUser / WithUserID / WithUsername / WithAdditionalGIDs) ---- */

typedef struct spec_user {
        uint32_t uid;
        uint32_t gid;
        uint32_t *additional_gids; /* always includes gid first unless already listed (ensureAdditionalGids) */
        size_t n_additional_gids;
} spec_user;

void spec_user_done(spec_user *u);
/* Numeric only: "uid" (gid 0) or "uid:gid"; a name is InvalidArgument (it needs the image's /etc/passwd). */
int spec_user_parse_numeric(const char *user, spec_user *ret, berr **err);
/* Resolves against rootfd's /etc/passwd and /etc/group, as containerd does: a uid not in passwd runs with
 * gid 0, a name not in passwd (or a group not in group) is InvalidArgument; supplementary groups are those
 * listing the user's name. Files are opened with RESOLVE_IN_ROOT, so a symlink cannot escape the root. */
int spec_user_resolve_at(int rootfd, const char *user, spec_user *ret, berr **err);
int spec_user_resolve(const char *root_dir, const char *user, spec_user *ret, berr **err);
