/* The overlayfs snapshotter (containerd's snapshots/overlay): each snapshot's fs dir is an overlay layer; active
 * snapshots mount their parents as lowerdirs under their own upper and work dirs. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <linux/magic.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "snapshots/snapshotter-internal.h"

/* containerd's fs.SupportsDType: overlayfs needs d_type from the backing filesystem (xfs with ftype=0 lacks it). */
static int supports_dtype(const char *dir, berr **err) {
        _cleanup_free_ char *probe = xasprintf("%s/.dtype-check-XXXXXX", dir);
        _cleanup_close_ int fd = mkostemp(probe, O_CLOEXEC);
        if (fd < 0)
                return berr_errno(err, errno, "create %s", probe);
        DIR *d = opendir(dir);
        if (!d) {
                unlink(probe);
                return berr_errno(err, errno, "open %s", dir);
        }
        int r = 1;
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_type == DT_UNKNOWN)
                        r = 0;
        closedir(d);
        unlink(probe);
        return r;
}

/* Whether this process is in a user namespace other than the initial one (containerd's userns.RunningInUserNS). */
static bool running_in_userns(void) {
        _cleanup_free_ char *map = NULL;
        if (read_file("/proc/self/uid_map", &map, NULL, 4096, NULL) < 0)
                return false;
        unsigned long a, b, c;
        return !(sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL);
}

/* Mounts a throwaway overlay with two lowerdirs (and extra options) under dir. */
static int try_overlay_mount(const char *dir, const char *extra, berr **err) {
        _cleanup_free_ char *td = xasprintf("%s/overlay-check-XXXXXX", dir);
        if (!mkdtemp(td))
                return berr_errno(err, errno, "create check directory in %s", dir);
        static const char *const subdirs[] = { "lower1", "lower2", "upper", "work", "merged" };
        int r = 0;
        for (size_t i = 0; i < ELEMENTSOF(subdirs) && r == 0; i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", td, subdirs[i]);
                if (mkdir(p, 0755) < 0)
                        r = berr_errno(err, errno, "mkdir %s", p);
        }
        if (r == 0) {
                _cleanup_free_ char *data = xasprintf("lowerdir=%s/lower2:%s/lower1,upperdir=%s/upper,workdir=%s/work%s%s",
                                                      td, td, td, td, extra ? "," : "", extra ? extra : "");
                _cleanup_free_ char *merged = xasprintf("%s/merged", td);
                if (mount("overlay", merged, "overlay", 0, data) < 0)
                        r = berr_set(err, BERR_UNIMPLEMENTED, errno, "failed to mount overlay: %s", strerror(errno));
                else if (umount2(merged, MNT_DETACH) < 0)
                        log_warn("failed to unmount check directory %s: %m", merged);
        }
        berr *e = NULL;
        if (rm_rf(td, &e) < 0) {
                log_warn("failed to remove check directory %s: %s", td, e->msg);
                berr_free(e);
        }
        return r;
}

int overlay_supported(const char *dir, berr **err) {
        if (mkdir_p(dir, 0700, err) < 0)
                return -1;
        int r = supports_dtype(dir, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP,
                                "%s does not support d_type. If the backing filesystem is xfs, please reformat with "
                                "ftype=1 to enable d_type support", dir);
        return try_overlay_mount(dir, NULL, err);
}

/* What the checks' outcome depends on, as one line: this boot of this kernel (a reboot may bring another kernel,
 * other modules, another disk under the same path), the directory and the filesystem it is on (device, inode,
 * type, id, mount flags: a different or remounted filesystem is checked again), and whether we run in a user
 * namespace. NULL when any of it cannot be read: then there is no caching. */
static char *check_key(const char *root) {
        _cleanup_free_ char *boot_id = NULL;
        struct utsname u;
        struct stat st;
        struct statfs sf;
        if (read_file("/proc/sys/kernel/random/boot_id", &boot_id, NULL, 128, NULL) < 0 || uname(&u) < 0 ||
            stat(root, &st) < 0 || statfs(root, &sf) < 0)
                return NULL;
        boot_id[strcspn(boot_id, "\n")] = '\0';
        int fsid[2];
        memcpy(fsid, &sf.f_fsid, sizeof fsid);
        return xasprintf("overlay-check v1 boot=%s kernel=%s root=%s dev=%lu ino=%lu fstype=%lx fsid=%x:%x "
                         "flags=%lx userns=%d",
                         boot_id, u.release, root, (unsigned long) st.st_dev, (unsigned long) st.st_ino,
                         (unsigned long) sf.f_type, (unsigned) fsid[0], (unsigned) fsid[1],
                         (unsigned long) sf.f_flags, running_in_userns());
}

/* The remembered outcome, if the cache file holds this key: "<key>\nuserxattr=<0|1>\n". The overlay module must
 * be present too (/sys/module/overlay: loaded or built in), as it may be unloaded without a reboot. */
static bool check_cached(const char *file, const char *key, bool *ret_userxattr) {
        _cleanup_free_ char *data = NULL;
        struct stat st;
        if (!file || !key || stat("/sys/module/overlay", &st) < 0 || read_file(file, &data, NULL, 8192, NULL) < 0)
                return false;
        size_t n = strlen(key);
        if (strncmp(data, key, n) != 0 || data[n] != '\n')
                return false;
        const char *rest = data + n + 1;
        if (strcmp(rest, "userxattr=0\n") != 0 && strcmp(rest, "userxattr=1\n") != 0)
                return false;
        *ret_userxattr = rest[10] == '1';
        return true;
}

static void check_remember(const char *file, const char *key, bool userxattr) {
        if (!file || !key)
                return;
        _cleanup_free_ char *data = xasprintf("%s\nuserxattr=%d\n", key, userxattr);
        berr *e = NULL;
        if (write_file_atomic(file, data, strlen(data), 0600, &e) < 0) {
                log_debug("cannot remember the overlay check: %s", e->msg);
                berr_free(e);
        }
}

static int overlay_init(snapshotter *s, berr **err) {
        _cleanup_free_ char *key = s->check_cache ? check_key(s->root) : NULL;
        bool userxattr = false;
        if (check_cached(s->check_cache, key, &userxattr))
                s->userxattr = userxattr;
        else {
                /* A stale file must not vouch for a filesystem that now fails. */
                if (s->check_cache)
                        (void) unlink(s->check_cache);
                if (overlay_supported(s->root, err) < 0)
                        return -1;
                /* In a user namespace the trusted.* xattrs are out of reach; "userxattr" (Linux 5.11+) stores them
                 * as user.overlay.*. tmpfs is fine either way, as containerd's NeedsUserXAttr says. */
                struct statfs sf;
                if (running_in_userns() && !(statfs(s->root, &sf) == 0 && sf.f_type == TMPFS_MAGIC))
                        s->userxattr = try_overlay_mount(s->root, "userxattr", NULL) == 0;
                check_remember(s->check_cache, key, s->userxattr);
        }
        struct stat st;
        s->index_off = stat("/sys/module/overlay/parameters/index", &st) == 0;
        return 0;
}

static bool overlay_needs_dir(snapshot_kind kind, size_t n_parents) {
        return true;
}

static int overlay_populate(snapshotter *s, const char *td, snapshot_kind kind, char *const *parent_ids,
                            size_t n_parents, berr **err) {
        _cleanup_free_ char *fs = xasprintf("%s/fs", td);
        if (mkdir(fs, 0755) < 0)
                return berr_errno(err, errno, "mkdir %s", fs);
        if (kind == SNAPSHOT_KIND_ACTIVE) {
                _cleanup_free_ char *work = xasprintf("%s/work", td);
                if (mkdir(work, 0711) < 0)
                        return berr_errno(err, errno, "mkdir %s", work);
        }
        /* The upper dir becomes the merged root: give it the nearest parent's owner, as containerd does. */
        if (n_parents > 0) {
                _cleanup_free_ char *pfs = snapshot_path(s, parent_ids[0], "fs");
                struct stat st;
                if (stat(pfs, &st) < 0)
                        return berr_errno(err, errno, "failed to stat parent");
                if (lchown(fs, st.st_uid, st.st_gid) < 0)
                        return berr_errno(err, errno, "failed to chown");
        }
        return 0;
}

static int overlay_mounts(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                          size_t n_parents, berth_mount **ret, size_t *ret_n, berr **err) {
        berth_mount *m = xcalloc(1, sizeof *m);
        if (n_parents == 0) {
                _cleanup_free_ char *fs = snapshot_path(s, id, "fs");
                const char *const opts[] = { kind == SNAPSHOT_KIND_VIEW ? "ro" : "rw", "rbind", NULL };
                mount_fill(m, "bind", fs, opts);
        } else if (kind != SNAPSHOT_KIND_ACTIVE && n_parents == 1) {
                _cleanup_free_ char *pfs = snapshot_path(s, parent_ids[0], "fs");
                const char *const opts[] = { "ro", "rbind", NULL };
                mount_fill(m, "bind", pfs, opts);
        } else {
                mount_fill(m, "overlay", "overlay", NULL);
                if (s->index_off)
                        mount_add_option(m, xstrdup("index=off"));
                if (s->userxattr)
                        mount_add_option(m, xstrdup("userxattr"));
                if (kind == SNAPSHOT_KIND_ACTIVE) {
                        mount_add_option(m, xasprintf("workdir=%s/%s/work", s->snapshots_dir, id));
                        mount_add_option(m, xasprintf("upperdir=%s/%s/fs", s->snapshots_dir, id));
                }
                _cleanup_strv_free_ char **lowers = NULL;
                for (size_t i = 0; i < n_parents; i++)
                        strv_push(&lowers, snapshot_path(s, parent_ids[i], "fs"));
                _cleanup_free_ char *joined = strv_join(lowers, ":");
                mount_add_option(m, xasprintf("lowerdir=%s", joined));
        }
        *ret = m;
        *ret_n = 1;
        return 0;
}

static int overlay_commit(snapshotter *s, const char *id, berr **err) {
        /* A committed layer is only ever a lowerdir again; its work dir is dead weight. */
        _cleanup_free_ char *work = snapshot_path(s, id, "work");
        if (rm_rf(work, err) < 0)
                return -1;
        return 0;
}

const snapshotter_ops overlay_ops = {
        .name = "overlayfs",
        .init = overlay_init,
        .needs_dir = overlay_needs_dir,
        .populate = overlay_populate,
        .mounts = overlay_mounts,
        .commit = overlay_commit,
};
