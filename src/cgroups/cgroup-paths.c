/* Layout detection and the pid → cgroup directory mapping. The directory of a process in a
 * hierarchy is that hierarchy's mount point plus the process's path from /proc/<pid>/cgroup made
 * relative to the mount's root (which is not "/" when only a subtree is mounted). Hierarchies are
 * found through mountinfo rather than assumed at /sys/fs/cgroup/<controller>, so co-mounted
 * controllers ("cpu,cpuacct") and unusual mount points work. */
#include <errno.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>

#include "basic/fileio.h"
#include "basic/strv.h"
#include "cgroups/cgroup.h"

#define PROC_FILE_MAX (1u << 20)

static bool fs_is(const char *path, long magic) {
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && (long) sfs.f_type == magic;
}

cg_mode cg_detect_mode(void) {
        if (fs_is(CG_ROOT, CGROUP2_SUPER_MAGIC))
                return CG_MODE_UNIFIED;
        if (!fs_is(CG_ROOT, TMPFS_MAGIC))
                return CG_MODE_UNAVAILABLE;
        if (fs_is(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC))
                return CG_MODE_HYBRID;
        return CG_MODE_LEGACY;
}

const char *cg_mode_name(cg_mode mode) {
        switch (mode) {
        case CG_MODE_LEGACY:
                return "legacy";
        case CG_MODE_HYBRID:
                return "hybrid";
        case CG_MODE_UNIFIED:
                return "unified";
        default:
                return "unavailable";
        }
}

typedef struct cg_mount {
        char *root;
        char *mountpoint;
        bool v2;
        char **super_opts; /* for v1: the controllers among them */
} cg_mount;

/* mountinfo escapes space, tab, newline and backslash as \ooo octal. */
static char *unescape_octal(const char *s) {
        char *out = xmalloc(strlen(s) + 1), *o = out;
        while (*s) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                    s[3] <= '7') {
                        *o++ = (char) (((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
                        s += 4;
                } else
                        *o++ = *s++;
        }
        *o = '\0';
        return out;
}

static void cg_mounts_free(cg_mount *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].root);
                free(m[i].mountpoint);
                strv_free(m[i].super_opts);
        }
        free(m);
}

/* Collects the cgroup and cgroup2 mounts of a mountinfo text. Lines of other filesystems and
 * malformed lines are skipped. */
static size_t parse_cgroup_mounts(const char *mountinfo, cg_mount **ret) {
        cg_mount *mounts = NULL;
        size_t n = 0;
        _cleanup_strv_free_ char **lines = strv_split(mountinfo, '\n');
        for (char **l = lines; *l; l++) {
                _cleanup_strv_free_ char **f = strv_split(*l, ' ');
                size_t nf = strv_length(f), sep;
                for (sep = 6; sep < nf && strcmp(f[sep], "-") != 0; sep++)
                        ;
                if (sep + 3 >= nf) /* need fstype, source and super options after "-" */
                        continue;
                const char *fstype = f[sep + 1];
                bool v2 = strcmp(fstype, "cgroup2") == 0;
                if (!v2 && strcmp(fstype, "cgroup") != 0)
                        continue;
                mounts = xrealloc(mounts, (n + 1) * sizeof *mounts);
                mounts[n++] = (cg_mount) {
                        .root = unescape_octal(f[3]),
                        .mountpoint = unescape_octal(f[4]),
                        .v2 = v2,
                        .super_opts = strv_split(f[sep + 3], ','),
                };
        }
        *ret = mounts;
        return n;
}

/* The part of cgroup_path visible below a mount whose root is root, or NULL if it lies outside. */
static const char *path_below_root(const char *cgroup_path, const char *root) {
        if (strcmp(root, "/") == 0)
                return cgroup_path;
        size_t rl = strlen(root);
        if (strncmp(cgroup_path, root, rl) != 0 || (cgroup_path[rl] != '/' && cgroup_path[rl] != '\0'))
                return NULL;
        return cgroup_path + rl;
}

static char *join_mount_path(const char *mountpoint, const char *rel) {
        while (*rel == '/')
                rel++;
        if (!*rel)
                return xstrdup(mountpoint);
        return xasprintf("%s/%s", mountpoint, rel);
}

static bool under_cg_root(const char *mountpoint) {
        return strncmp(mountpoint, CG_ROOT, strlen(CG_ROOT)) == 0;
}

/* Finds the directory for one hierarchy. controller == NULL means the cgroup2 tree. Mounts under
 * /sys/fs/cgroup win over bind mounts elsewhere. */
static char *resolve(const cg_mount *m, size_t n, const char *controller, const char *cgroup_path) {
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        if (pass == 0 && !under_cg_root(m[i].mountpoint))
                                continue;
                        if (controller ? m[i].v2 || !strv_contains(m[i].super_opts, controller) : !m[i].v2)
                                continue;
                        const char *rel = path_below_root(cgroup_path, m[i].root);
                        if (rel)
                                return join_mount_path(m[i].mountpoint, rel);
                }
        return NULL;
}

int cg_paths_parse(const char *proc_cgroup, const char *mountinfo, cg_mode mode, cg_paths **ret, berr **err) {
        cg_mount *mounts = NULL;
        size_t n_mounts = parse_cgroup_mounts(mountinfo, &mounts);
        cg_paths *p = xcalloc(1, sizeof *p);
        p->mode = mode;

        _cleanup_strv_free_ char **lines = strv_split(proc_cgroup, '\n');
        for (char **l = lines; *l; l++) {
                /* "hierarchy-id:controller,list:/path"; the path itself may contain ':'. */
                char *c1 = strchr(*l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c1 = *c2 = '\0';
                const char *controllers = c1 + 1, *path = c2 + 1;
                if (strcmp(*l, "0") == 0 && !*controllers) {
                        if (!p->unified)
                                p->unified = resolve(mounts, n_mounts, NULL, path);
                        continue;
                }
                _cleanup_strv_free_ char **names = strv_split(controllers, ',');
                for (char **c = names; *c; c++) {
                        if (!**c || cg_paths_v1(p, *c))
                                continue;
                        char *dir = resolve(mounts, n_mounts, *c, path);
                        if (!dir)
                                continue;
                        p->v1 = xrealloc(p->v1, (p->n_v1 + 1) * sizeof *p->v1);
                        p->v1[p->n_v1++] = (cg_v1_dir) { .controller = xstrdup(*c), .path = dir };
                }
        }
        cg_mounts_free(mounts, n_mounts);

        if (!p->unified && p->n_v1 == 0) {
                cg_paths_free(p);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "no mounted cgroup hierarchy holds the process");
        }
        *ret = p;
        return 0;
}

int cg_paths_for_pid(pid_t pid, cg_paths **ret, berr **err) {
        _cleanup_free_ char *path = xasprintf("/proc/%d/cgroup", (int) pid);
        _cleanup_free_ char *proc_cgroup = NULL, *mountinfo = NULL;
        if (read_file(path, &proc_cgroup, NULL, PROC_FILE_MAX, err) < 0)
                return berr_wrap(err, "cgroups of pid %d", (int) pid);
        if (read_file("/proc/self/mountinfo", &mountinfo, NULL, 16 * PROC_FILE_MAX, err) < 0)
                return -1;
        if (cg_paths_parse(proc_cgroup, mountinfo, cg_detect_mode(), ret, err) < 0)
                return berr_wrap(err, "cgroups of pid %d", (int) pid);
        return 0;
}

const char *cg_paths_v1(const cg_paths *p, const char *controller) {
        for (size_t i = 0; i < p->n_v1; i++)
                if (strcmp(p->v1[i].controller, controller) == 0)
                        return p->v1[i].path;
        return NULL;
}

cg_paths *cg_paths_free(cg_paths *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_v1; i++) {
                free(p->v1[i].controller);
                free(p->v1[i].path);
        }
        free(p->v1);
        free(p->unified);
        free(p);
        return NULL;
}
