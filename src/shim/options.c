#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/topdir.h"
#include "containerd/runc/options/oci.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "shim/options.h"

void shim_options_done(shim_options *o) {
        free(o->binary_name);
        free(o->root);
        free(o->shim_cgroup);
        free(o->criu_path);
        *o = (shim_options) { 0 };
}

static char *dup_nonempty(const char *s) {
        return s && s[0] ? xstrdup(s) : NULL;
}

int shim_options_from_any(const char *type_url, const uint8_t *value, size_t len, shim_options *ret, berr **err) {
        *ret = (shim_options) { 0 };
        if (!type_url || type_url[0] == '\0')
                return 0;
        if (strcmp(type_url, RUNC_OPTIONS_TYPE_URL) != 0) {
                log_debug("ignoring runtime options of type %s", type_url);
                return 0;
        }
        Containerd__Runc__V1__Options *o = containerd__runc__v1__options__unpack(NULL, len, value);
        if (!o)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "cannot decode %s", RUNC_OPTIONS_TYPE_URL);
        *ret = (shim_options) {
                .binary_name = dup_nonempty(o->binary_name),
                .root = dup_nonempty(o->root),
                .shim_cgroup = dup_nonempty(o->shim_cgroup),
                .criu_path = dup_nonempty(o->criu_path),
                .io_uid = o->io_uid,
                .io_gid = o->io_gid,
                .systemd_cgroup = o->systemd_cgroup,
                .no_pivot_root = o->no_pivot_root,
                .no_new_keyring = o->no_new_keyring,
        };
        containerd__runc__v1__options__free_unpacked(o, NULL);
        return 0;
}

int shim_options_from_any_bytes(const uint8_t *data, size_t len, shim_options *ret, berr **err) {
        *ret = (shim_options) { 0 };
        if (len == 0)
                return 0;
        Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
        if (!any)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "cannot decode runtime options (google.protobuf.Any)");
        int r = shim_options_from_any(any->type_url, any->value.data, any->value.len, ret, err);
        google__protobuf__any__free_unpacked(any, NULL);
        return r;
}

int shim_options_resolve_runtime(const shim_options *o, const char *ns, const char *bundle, oci_runtime *ret,
                                 berr **err) {
        const char *binary, *reason;
        oci_choice choice;
        const char *env = getenv("BERTH_OCI_RUNTIME");
        if (o->binary_name) {
                binary = o->binary_name;
                reason = "set by the runtime options (binary_name)";
        } else if (env && env[0] && strcmp(env, "auto") != 0) {
                binary = env;
                reason = "set by BERTH_OCI_RUNTIME";
        } else
                binary = oci_default_binary(&choice, &reason);

        _cleanup_free_ char *base_root = o->root ? xstrdup(o->root) : oci_default_root(binary);
        *ret = (oci_runtime) {
                .binary = xstrdup(binary),
                .root = xasprintf("%s/%s", base_root, ns),
                .log_path = xasprintf("%s/log.json", bundle),
                .systemd_cgroup = o->systemd_cgroup,
                .no_pivot_root = o->no_pivot_root,
                .no_new_keyring = o->no_new_keyring,
                .criu_path = o->criu_path ? xstrdup(o->criu_path) : NULL,
        };
        log_info("using OCI runtime %s (%s), root %s", ret->binary, reason, ret->root);
        /* Made here (as the runtime would, 0700) to mark it: each container's state directory then lands in a
         * block group of its own (basic/topdir.h). */
        if (access(ret->root, F_OK) != 0 && mkdir_p(ret->root, 0700, NULL) == 0)
                dir_mark_topdir(ret->root);
        (void) err;
        return 0;
}

int shim_options_save(const shim_options *o, const oci_runtime *rt, const char *bundle, berr **err) {
        json_t *j = json_object();
        if (o->binary_name)
                json_object_set_new(j, "binary_name", json_string(o->binary_name));
        if (o->root)
                json_object_set_new(j, "root", json_string(o->root));
        if (o->systemd_cgroup)
                json_object_set_new(j, "systemd_cgroup", json_true());
        /* The resolved state root (with the namespace) so `delete` finds the container whatever chose the binary. */
        json_object_set_new(j, "berth_state_root", json_string(rt->root));
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        _cleanup_free_ char *opts_path = xasprintf("%s/options.json", bundle);
        _cleanup_free_ char *rt_path = xasprintf("%s/runtime", bundle);
        /* Bundle files are runtime state: atomic against crashes, no fsync (see write_file_replace). */
        int r = write_file_replace(opts_path, text, strlen(text), 0600, err);
        free(text);
        if (r < 0)
                return r;
        return write_file_replace(rt_path, rt->binary, strlen(rt->binary), 0600, err);
}

int shim_options_load_runtime(const char *bundle, const char *ns, oci_runtime *ret, berr **err) {
        _cleanup_free_ char *opts_path = xasprintf("%s/options.json", bundle);
        _cleanup_free_ char *rt_path = xasprintf("%s/runtime", bundle);
        _cleanup_free_ char *binary = NULL, *opts = NULL;
        size_t len;
        if (read_file(rt_path, &binary, &len, 4096, NULL) < 0 || binary[0] == '\0') {
                free(binary);
                oci_choice choice;
                const char *reason;
                binary = xstrdup(oci_default_binary(&choice, &reason));
        }
        char *root = NULL;
        bool systemd = false;
        if (read_file(opts_path, &opts, &len, 1u << 20, NULL) >= 0) {
                json_t *j = json_loads(opts, 0, NULL);
                if (j) {
                        const char *sr = json_string_value(json_object_get(j, "berth_state_root"));
                        const char *r = json_string_value(json_object_get(j, "root"));
                        if (sr)
                                root = xstrdup(sr);
                        else if (r)
                                root = xasprintf("%s/%s", r, ns);
                        systemd = json_is_true(json_object_get(j, "systemd_cgroup"));
                        json_decref(j);
                }
        }
        if (!root) {
                _cleanup_free_ char *base = oci_default_root(binary);
                root = xasprintf("%s/%s", base, ns);
        }
        *ret = (oci_runtime) {
                .binary = TAKE_PTR(binary),
                .root = root,
                .log_path = xasprintf("%s/log.json", bundle),
                .systemd_cgroup = systemd,
        };
        (void) err;
        return 0;
}
