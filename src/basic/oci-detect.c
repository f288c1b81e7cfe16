#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "basic/fileio.h"
#include "basic/oci-detect.h"

char *oci_binary_resolve(const char *name) {
        struct stat st;
        if (strchr(name, '/'))
                return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *full = xasprintf("%s/%s", dir, name);
                if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
                        return full;
                free(full);
        }
        return NULL;
}

bool oci_binary_in_path(const char *name) {
        _cleanup_free_ char *full = oci_binary_resolve(name);
        return full != NULL;
}

/* True when a cgroup2 hierarchy is mounted beside v1 ones and still has controllers: crun 1.8 then fails with
 * "cgroups in hybrid mode not supported, drop all controllers from cgroupv2". */
static bool hybrid_with_v2_controllers(void) {
        struct statfs root, unified;
        if (statfs("/sys/fs/cgroup", &root) < 0 || root.f_type == CGROUP2_SUPER_MAGIC)
                return false;
        if (statfs("/sys/fs/cgroup/unified", &unified) < 0 || unified.f_type != CGROUP2_SUPER_MAGIC)
                return false;
        _cleanup_free_ char *controllers = NULL;
        size_t len = 0;
        if (read_file("/sys/fs/cgroup/unified/cgroup.controllers", &controllers, &len, 4096, NULL) < 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if (controllers[i] != ' ' && controllers[i] != '\n')
                        return true;
        return false;
}

const char *oci_detect_default(bool *ret_crun, const char **ret_reason) {
        const char *reason;
        bool crun = false;
        if (!oci_binary_in_path("crun"))
                reason = "crun is not installed";
        else if (hybrid_with_v2_controllers())
                reason = "crun cannot create containers on this hybrid cgroup layout (cgroup2 still holds controllers)";
        else {
                reason = "crun works on this host";
                crun = true;
        }
        if (ret_crun)
                *ret_crun = crun;
        if (ret_reason)
                *ret_reason = reason;
        return crun ? "crun" : "runc";
}
