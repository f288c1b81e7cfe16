/* Runtime options: containerd.runc.v1.Options arriving as a google.protobuf.Any (on `start`'s stdin and again in
 * CreateTaskRequest.options), the BERTH_OCI_RUNTIME override, and their record in the bundle (`options.json`,
 * `runtime`) that the `delete` action reads back when the server is gone. */
#pragma once

#include <stdint.h>

#include "basic/error.h"
#include "shim/oci.h"

#define RUNC_OPTIONS_TYPE_URL "containerd.runc.v1.Options"

typedef struct shim_options {
        char *binary_name;
        char *root;
        char *shim_cgroup;
        char *criu_path;
        uint32_t io_uid;
        uint32_t io_gid;
        bool systemd_cgroup;
        bool no_pivot_root;
        bool no_new_keyring;
} shim_options;

void shim_options_done(shim_options *o);

/* Decodes an encoded Any. Empty input → defaults. containerd.runc.v1.Options is used; other option types
 * (runtimeoptions.v1.Options, containerd.linux.runc.CreateOptions) carry nothing the shim uses and are ignored with a
 * debug log; undecodable bytes are an InvalidArgument error. */
int shim_options_from_any_bytes(const uint8_t *data, size_t len, shim_options *ret, berr **err);
/* Same for a decoded Any message's fields. */
int shim_options_from_any(const char *type_url, const uint8_t *value, size_t len, shim_options *ret, berr **err);

/* Resolves the OCI runtime for a container: binary (options, else BERTH_OCI_RUNTIME, else auto) and its state root
 * <root>/<ns>, logging at info level which binary is used and why. */
int shim_options_resolve_runtime(const shim_options *o, const char *ns, const char *bundle, oci_runtime *ret,
                                 berr **err);

/* bundle/options.json (JSON of the options) and bundle/runtime (the binary), for the delete action. */
int shim_options_save(const shim_options *o, const oci_runtime *rt, const char *bundle, berr **err);
/* Reads them back into an oci_runtime for `delete` (defaults when absent). */
int shim_options_load_runtime(const char *bundle, const char *ns, oci_runtime *ret, berr **err);
