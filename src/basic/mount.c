/* Mounting and unmounting: mount(2) in containerd's order, rollback, and unmount-everything-below. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/mount.h"
#include "basic/strv.h"

#define PROPAGATION_FLAGS (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)

void berth_mount_done(berth_mount *m) {
        if (!m)
                return;
        free(m->type);
        free(m->source);
        free(m->target);
        for (size_t i = 0; i < m->n_options; i++)
                free(m->options[i]);
        free(m->options);
        *m = (berth_mount) { 0 };
}

/* mount(2) from inside dirfd: the child process fchdir()s and mounts, so relative lowerdirs resolve
 * there while the caller's cwd stays put (the shim is single-threaded, but a transient chdir would still
 * surprise any relative path the caller holds). Returns 0 or -1 with errno from the child's mount(2). */
static int mount_in_dir(int dirfd, const char *source, const char *target, const char *type,
                        unsigned long flags, const char *data) {
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                if (fchdir(dirfd) < 0 || mount(source, target, type, flags, data) < 0)
                        _exit(errno > 0 && errno < 256 ? errno : EIO);
                _exit(0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        errno = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
        return -1;
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int join_subtarget(const char *target, const char *sub, char **ret, berr **err) {
        if (!sub || !*sub) {
                *ret = xstrdup(target);
                return 0;
        }
        _cleanup_strv_free_ char **parts = strv_split(sub, '/');
        if (sub[0] == '/' || strv_contains(parts, ".."))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "mount target %s must be relative and without \"..\"", sub);
        *ret = xasprintf("%s/%s", target, sub);
        return 0;
}

/* *ret_mounted tells whether a new mount now sits on the target, even if a later step failed. */
static int apply(const berth_mount *m, const char *target, bool *ret_mounted, berr **err) {
        const char *type = m->type ? m->type : "";
        if (has_prefix(type, "fuse.") || has_prefix(type, "fuse3."))
                return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP, "mount type %s is not supported", type);
        _cleanup_free_ char *where = NULL;
        if (join_subtarget(target, m->target, &where, err) < 0)
                return -1;

        unsigned long flags, propagation;
        bool loop;
        _cleanup_free_ char *parsed = NULL, *data = NULL, *chdir_to = NULL;
        if (mount_options_parse(m->options, m->n_options, &flags, &propagation, &parsed, &loop, err) < 0)
                return -1;
        if (loop)
                return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP, "mount option loop is not supported");
        /* containerd measures the option words (no separators) against the threshold; the data string is
         * that plus commas, so it may compact slightly earlier, which is harmless. */
        if (strcmp(type, "overlay") == 0) {
                if (overlay_compact_lowerdirs(parsed, &data, &chdir_to, err) < 0)
                        return -1;
        } else
                data = TAKE_PTR(parsed);
        if (strlen(data) > (size_t) sysconf(_SC_PAGESIZE))
                return berr_set(err, BERR_INVALID_ARGUMENT, E2BIG, "mount options is too long");

        /* With remount and no new data there is nothing for the first call to do (moby/moby#34077). */
        *ret_mounted = false;
        if (!(flags & MS_REMOUNT) || *data) {
                int r;
                if (chdir_to) {
                        _cleanup_close_ int dfd = open(chdir_to, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (dfd < 0)
                                return berr_errno(err, errno, "mount %s: open %s", where, chdir_to);
                        /* The child changes directory, so a relative target must be made absolute first. */
                        if (where[0] != '/') {
                                char *abs = realpath(where, NULL);
                                if (!abs)
                                        return berr_errno(err, errno, "mount: resolve %s", where);
                                free(where);
                                where = abs;
                        }
                        r = mount_in_dir(dfd, m->source, where, type, flags, data);
                } else
                        r = mount(m->source, where, type, flags, data);
                if (r < 0)
                        return berr_errno(err, errno, "mount %s (type %s) on %s", m->source ? m->source : "",
                                          type, where);
                *ret_mounted = !(flags & MS_REMOUNT);
        }
        /* Propagation needs a call of its own; rbind's MS_REC makes it recursive, as in containerd. */
        if (propagation) {
                unsigned long pflags = propagation | (flags & MS_REC);
                if (mount("", where, NULL, pflags, NULL) < 0)
                        return berr_errno(err, errno, "set propagation of %s", where);
        }
        /* A bind mount ignores MS_RDONLY on creation; only a remount makes it read-only. */
        if ((flags & (MS_BIND | MS_RDONLY)) == (MS_BIND | MS_RDONLY))
                if (mount("", where, NULL, flags | MS_REMOUNT, NULL) < 0)
                        return berr_errno(err, errno, "remount %s read-only", where);
        return 0;
}

int mount_apply(const berth_mount *m, const char *target, berr **err) {
        bool mounted;
        return apply(m, target, &mounted, err);
}

int mount_apply_all(const berth_mount *mounts, size_t n, const char *target, berr **err) {
        /* Remember which entries created a mount: a plain remount must not be "undone" by unmounting. */
        _cleanup_free_ bool *created = xcalloc(n, sizeof(bool));
        for (size_t i = 0; i < n; i++) {
                if (apply(&mounts[i], target, &created[i], err) >= 0)
                        continue;
                /* Undo newest first, including this entry if it mounted and then failed the propagation or
                 * read-only step. */
                for (size_t j = i + 1; j-- > 0;) {
                        _cleanup_free_ char *where = NULL;
                        if (!created[j] || join_subtarget(target, mounts[j].target, &where, NULL) < 0)
                                continue;
                        if (umount2(where, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                                log_debug("rollback: unmount %s: %m", where);
                }
                return berr_wrap(err, "mount rootfs[%zu]", i);
        }
        return 0;
}

/* Undoes mountinfo's octal escapes (\040 for space, \011, \012, \134) in place. */
static void unescape_mountinfo(char *s) {
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
                    r[3] <= '7') {
                        *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
                        r += 3;
                } else
                        *w++ = *r;
        }
        *w = '\0';
}

/* Mount points at or below root, in mountinfo order (parents before children, older before newer). */
static int list_mounts_below(const char *root, char ***ret, berr **err) {
        _cleanup_free_ char *buf = NULL;
        if (read_file("/proc/self/mountinfo", &buf, NULL, 64 << 20, err) < 0)
                return -1;
        size_t rlen = strlen(root);
        char **found = NULL;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* "<id> <parent> <maj:min> <root> <mount point> ..." */
                char *f = line;
                for (int k = 0; k < 4 && f; k++) {
                        f = strchr(f, ' ');
                        if (f)
                                f++;
                }
                if (!f)
                        continue;
                char *end = strchr(f, ' ');
                if (end)
                        *end = '\0';
                unescape_mountinfo(f);
                if (strncmp(f, root, rlen) == 0 && (f[rlen] == '\0' || f[rlen] == '/'))
                        strv_extend(&found, f);
        }
        *ret = found;
        return 0;
}

static size_t path_depth(const char *p) {
        size_t d = 0;
        for (; *p; p++)
                d += *p == '/';
        return d;
}

int unmount_all(const char *target, berr **err) {
        char resolved[PATH_MAX];
        if (!realpath(target, resolved)) {
                if (errno == ENOENT)
                        return 0;
                return berr_errno(err, errno, "resolve %s", target);
        }
        if (strcmp(resolved, "/") == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "refusing to unmount everything below /");

        /* Each pass unmounts what it sees, deepest first; stacked mounts on one point are listed once each, so
         * the point is unmounted that many times. Passes repeat until nothing is left, because mounts can
         * appear under mounts that were hidden before. */
        for (int pass = 0; pass < 8; pass++) {
                _cleanup_strv_free_ char **mounts = NULL;
                if (list_mounts_below(resolved, &mounts, err) < 0)
                        return -1;
                size_t n = strv_length(mounts);
                if (n == 0)
                        return 0;
                size_t max_depth = 0;
                for (size_t i = 0; i < n; i++)
                        if (path_depth(mounts[i]) > max_depth)
                                max_depth = path_depth(mounts[i]);
                for (size_t depth = max_depth + 1; depth-- > 0;)
                        for (size_t i = n; i-- > 0;) {
                                if (path_depth(mounts[i]) != depth)
                                        continue;
                                if (umount2(mounts[i], UMOUNT_NOFOLLOW) == 0)
                                        continue;
                                if (errno == EBUSY && umount2(mounts[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                                        continue;
                                /* Gone already: a lazy detach above took it along. */
                                if (errno == EINVAL || errno == ENOENT)
                                        continue;
                                return berr_errno(err, errno, "unmount %s", mounts[i]);
                        }
        }
        return berr_set(err, BERR_FAILED_PRECONDITION, EBUSY, "mounts below %s keep reappearing", resolved);
}
