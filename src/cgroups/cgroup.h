/* Where a process's cgroups live. Hosts come in three layouts (the same split containerd/cgroups
 * makes): legacy v1 only, hybrid (v1 controllers plus a cgroup2 tree at /sys/fs/cgroup/unified,
 * usually with few or no controllers), and unified (cgroup2 at /sys/fs/cgroup). Stats and OOM
 * watching use the v1 controllers on legacy and hybrid hosts and the v2 tree only on unified ones,
 * as the runc shim does. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"

#define CG_ROOT "/sys/fs/cgroup"

typedef enum cg_mode {
        CG_MODE_UNAVAILABLE = 0, /* nothing cgroup-like at /sys/fs/cgroup */
        CG_MODE_LEGACY,
        CG_MODE_HYBRID,
        CG_MODE_UNIFIED,
} cg_mode;

/* Decides the layout from the filesystem types at /sys/fs/cgroup and /sys/fs/cgroup/unified. */
cg_mode cg_detect_mode(void);
const char *cg_mode_name(cg_mode mode);

typedef struct cg_v1_dir {
        char *controller; /* "memory", "cpuacct", "name=systemd", ... */
        char *path;       /* absolute directory of the process's cgroup in that hierarchy */
} cg_v1_dir;

typedef struct cg_paths {
        cg_mode mode;
        /* The process's directory in the cgroup2 tree (on hybrid hosts the one under
         * /sys/fs/cgroup/unified); NULL when there is no cgroup2 mount. */
        char *unified;
        size_t n_v1;
        cg_v1_dir *v1; /* one entry per controller; co-mounted controllers share a path */
} cg_paths;

/* Resolves the cgroup directories of pid from /proc/<pid>/cgroup and /proc/self/mountinfo.
 * A process that is gone fails with BERR_NOT_FOUND. */
int cg_paths_for_pid(pid_t pid, cg_paths **ret, berr **err);
/* The same from the texts of a /proc/<pid>/cgroup and a mountinfo file (exposed for tests). */
int cg_paths_parse(const char *proc_cgroup, const char *mountinfo, cg_mode mode, cg_paths **ret, berr **err);
/* The v1 directory for one controller, or NULL if that controller is not mounted. */
const char *cg_paths_v1(const cg_paths *p, const char *controller);
cg_paths *cg_paths_free(cg_paths *p);
static inline void cg_paths_freep(cg_paths **p) {
        *p = cg_paths_free(*p);
}
#define _cleanup_cg_paths_ _cleanup_(cg_paths_freep)
