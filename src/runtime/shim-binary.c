/* Runtime name → shim binary, as containerd's resolveRuntimePath (shared/protocol/shim-v2.md §3.1). */
#include <string.h>
#include <sys/stat.h>

#include "basic/strv.h"
#include "runtime/runtime.h"

char *runtime_shim_binary_name(const char *runtime_name, berr **err) {
        _cleanup_strv_free_ char **parts = strv_split(runtime_name ? runtime_name : "", '.');
        size_t n = strv_length(parts);
        if (n < 2 || !*parts[n - 2] || !*parts[n - 1]) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0,
                         "invalid runtime name %s, correct runtime name should be either format like "
                         "`io.containerd.runc.v1` or a full path to the binary",
                         runtime_name ? runtime_name : "");
                return NULL;
        }
        return xasprintf("containerd-shim-%s-%s", parts[n - 2], parts[n - 1]);
}

static bool is_executable_file(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *search_path(const char *name) {
        const char *path = getenv("PATH");
        if (!path)
                return NULL;
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                if (*dir != '/') /* relative PATH entries would depend on our cwd */
                        continue;
                char *full = xasprintf("%s/%s", dir, name);
                if (is_executable_file(full))
                        return full;
                free(full);
        }
        return NULL;
}

char *runtime_resolve_shim(const char *runtime_name, const char *self_dir, berr **err) {
        if (!runtime_name || !*runtime_name) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "no runtime name");
                return NULL;
        }
        if (runtime_name[0] == '/') {
                struct stat st;
                if (stat(runtime_name, &st) < 0) {
                        berr_errno(err, errno, "invalid custom binary path: stat %s", runtime_name);
                        return NULL;
                }
                return xstrdup(runtime_name);
        }
        _cleanup_free_ char *name = runtime_shim_binary_name(runtime_name, err);
        if (!name)
                return NULL;
        /* containerd first tries the binary beside dir(runtime name), which only matters for names with a slash. */
        const char *slash = strrchr(runtime_name, '/');
        if (slash) {
                _cleanup_free_ char *dir = xstrndup(runtime_name, (size_t) (slash - runtime_name));
                char *candidate = xasprintf("%s/%s", dir, name);
                if (candidate[0] == '/' && is_executable_file(candidate))
                        return candidate;
                free(candidate);
        }
        char *found = search_path(name);
        if (found)
                return found;
        if (self_dir) {
                found = xasprintf("%s/%s", self_dir, name);
                if (is_executable_file(found))
                        return found;
                free(found);
        }
        berr_set(err, BERR_NOT_FOUND, ENOENT, "runtime \"%s\" binary not installed \"%s\": file does not exist",
                 runtime_name, name);
        return NULL;
}
