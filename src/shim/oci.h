/* The OCI runtime binary (crun or runc) as the shim drives it: which binary, which state root, and the synchronous
 * command runner. Command lines follow go-runc (shared/protocol/shim-v2.md §5.3):
 *   <binary> --root <root>/<ns> --log <bundle>/log.json --log-format json [--systemd-cgroup] <op> ... */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"

typedef struct oci_runtime {
        char *binary;     /* absolute path or a name looked up in PATH (once per name, then cached) */
        char *root;       /* state root including the namespace: <root>/<ns> */
        char *log_path;   /* <bundle>/log.json */
        bool systemd_cgroup;
        bool no_pivot_root;
        bool no_new_keyring;
        char *criu_path;
} oci_runtime;

/* How the binary was chosen, for the log line that says which runtime is used. */
typedef enum oci_choice {
        OCI_CHOICE_OPTIONS,   /* containerd.runc.v1.Options binary_name */
        OCI_CHOICE_ENV,       /* BERTH_OCI_RUNTIME */
        OCI_CHOICE_CRUN,      /* auto: crun works on this host */
        OCI_CHOICE_RUNC,      /* auto: crun missing or unusable here */
} oci_choice;

/* Auto selection: crun where it can create containers on this host, else runc. crun 1.8 refuses a "hybrid" cgroup
 * layout whose cgroup2 hierarchy still holds controllers (DESIGN.md, host facts); *ret_reason explains the choice. */
const char *oci_default_binary(oci_choice *ret_choice, const char **ret_reason);
/* The default state root for a binary when Options.root is empty: /run/containerd/runc for runc (what the runc shim
 * uses), /run/containerd/<basename> otherwise, so two runtimes never share a state directory. */
char *oci_default_root(const char *binary);

void oci_runtime_done(oci_runtime *rt);

typedef struct oci_exec_opts {
        int stdio[3];             /* fds for the child's 0/1/2; -1 = /dev/null */
        const char *stdin_data;   /* written to the child's stdin through a pipe (overrides stdio[0]) */
        size_t stdin_len;
        bool capture_stdout;      /* collect stdout into *ret_output */
        const char *op;           /* for error messages: "create", "start", ... */
        /* Optional: called once the command was forked, before it is waited for, to overlap other work with it.
         * Its failure (negative, *err set) fails the call after the command was reaped, whatever its status. */
        int (*while_running)(void *userdata, berr **err);
        void *while_running_data;
} oci_exec_opts;

/* Runs `<binary> <global options> argv...` and waits for it. On a non-zero exit the error is
 * "OCI runtime <op> failed: <last error line of log.json, or the exit status>" with category Unknown, like the runc shim.
 * *ret_output (may be NULL) gets the captured stdout, NUL-terminated. */
int oci_run(const oci_runtime *rt, const char *const *argv, const oci_exec_opts *opts, char **ret_output, berr **err);

/* Runs `criu check`; NULL when criu works here, else the reason it does not (its first error line). Checkpoint
 * failures carry it so the user learns checkpointing is unavailable on this host rather than a bare dump error. */
char *oci_criu_unusable_reason(const char *criu_path);

/* The common case of oci_run: no stdio, no input, no output; argv[0] names the operation in errors. */
int oci_command(const oci_runtime *rt, const char *const *argv, berr **err);

/* runc only: does `runc start <id>`'s work (the exec.fifo handshake, shim/runc-start.c) in this process instead
 * of running runc. Returns 1 when the container's process was released, 0 when not applicable (another runtime,
 * no FIFO: run `<binary> start` instead), -1 with *err like oci_run's when the container cannot be started. Blocks
 * until the init takes the handshake, as `runc start` would. Not for containers with hooks (callers check). */
int runc_start_direct(const oci_runtime *rt, const char *id, pid_t init_pid, berr **err);
