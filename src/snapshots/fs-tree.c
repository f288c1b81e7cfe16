/* Whole-tree operations for snapshots: disk usage and the native snapshotter's copy. Both walk with *at() calls
 * and never follow symlinks. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "snapshots/inode-map.h"
#include "snapshots/snapshots.h"

#define MAX_DEPTH 4096

static int du_dir(int dfd, const char *path, inode_map *seen, int64_t *size, unsigned depth, berr **err) {
        if (depth > MAX_DEPTH)
                return berr_set(err, BERR_OUT_OF_RANGE, ELOOP, "%s: directory tree too deep", path);
        DIR *d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return berr_errno(err, errno, "open %s", path);
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = berr_errno(err, errno, "stat %s/%s", path, de->d_name);
                        break;
                }
                if (inode_map_put(seen, st.st_dev, st.st_ino, NULL))
                        *size += (int64_t) st.st_blocks * 512;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        _cleanup_free_ char *subpath = xasprintf("%s/%s", path, de->d_name);
                        if (sub < 0)
                                r = berr_errno(err, errno, "open %s", subpath);
                        else
                                r = du_dir(sub, subpath, seen, size, depth + 1, err);
                }
        }
        closedir(d);
        return r;
}

int disk_usage(const char *path, snapshot_usage *ret, berr **err) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return berr_errno(err, errno, "open %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0) {
                safe_close(fd);
                return berr_errno(err, errno, "stat %s", path);
        }
        inode_map *seen = inode_map_new();
        inode_map_put(seen, st.st_dev, st.st_ino, NULL);
        int64_t size = (int64_t) st.st_blocks * 512;
        int r = du_dir(fd, path, seen, &size, 0, err);
        if (r == 0)
                *ret = (snapshot_usage) { .size = size, .inodes = (int64_t) inode_map_size(seen) };
        inode_map_free(seen);
        return r;
}

/* Path of name inside dirfd through /proc, for the l*xattr calls that have no *at() form. The final component is
 * not followed by l* calls; the directory part is our own fd. */
static void proc_path(char buf[PATH_MAX], int dirfd, const char *name) {
        snprintf(buf, PATH_MAX, "/proc/self/fd/%d/%s", dirfd, name);
}

static void copy_xattrs(int sdir, int ddir, const char *name, const char *relpath) {
        char src[PATH_MAX], dst[PATH_MAX];
        proc_path(src, sdir, name);
        proc_path(dst, ddir, name);
        ssize_t n = llistxattr(src, NULL, 0);
        if (n <= 0) {
                if (n < 0 && errno != ENOTSUP)
                        log_warn("failed to list xattrs on %s: %m", relpath);
                return;
        }
        _cleanup_free_ char *names = xmalloc((size_t) n);
        n = llistxattr(src, names, (size_t) n);
        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen(names + off) + 1) {
                const char *key = names + off;
                ssize_t vlen = lgetxattr(src, key, NULL, 0);
                if (vlen < 0) {
                        log_warn("failed to get xattr %s on %s: %m", key, relpath);
                        continue;
                }
                _cleanup_free_ char *val = xmalloc((size_t) vlen + 1);
                vlen = lgetxattr(src, key, val, (size_t) vlen);
                if (vlen < 0 || lsetxattr(dst, key, val, (size_t) vlen, 0) < 0)
                        /* As the native snapshotter does: an xattr we cannot copy is not fatal. */
                        log_warn("failed to copy xattr %s on %s: %m", key, relpath);
        }
}

static int copy_attrs(int sdir, int ddir, const char *name, const struct stat *st, const char *relpath, berr **err) {
        if (fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return berr_errno(err, errno, "failed to chown %s", relpath);
        if (!S_ISLNK(st->st_mode) && fchmodat(ddir, name, st->st_mode & 07777, 0) < 0)
                return berr_errno(err, errno, "failed to chmod %s", relpath);
        copy_xattrs(sdir, ddir, name, relpath);
        const struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if (utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return berr_errno(err, errno, "failed to utime %s", relpath);
        return 0;
}

static int copy_data(int sfd, int dfd, off_t size, const char *relpath, berr **err) {
        /* A reflink where the filesystem can; else copy_file_range; else plain read/write. */
        if (ioctl(dfd, FICLONE, sfd) == 0)
                return 0;
        off_t left = size;
        bool first = true;
        while (left > 0) {
                ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, (size_t) left, 0);
                if (n > 0) {
                        left -= n;
                        first = false;
                        continue;
                }
                if (n == 0)
                        break;
                if (!first || (errno != ENOSYS && errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP))
                        return berr_errno(err, errno, "copy file range failed on %s", relpath);
                char buf[65536];
                for (;;) {
                        ssize_t r = read(sfd, buf, sizeof buf);
                        if (r < 0 && errno == EINTR)
                                continue;
                        if (r < 0)
                                return berr_errno(err, errno, "read %s", relpath);
                        if (r == 0)
                                return 0;
                        if (write_all(dfd, buf, (size_t) r) < 0)
                                return berr_errno(err, errno, "write %s", relpath);
                }
        }
        return 0;
}

typedef struct copy_ctx {
        int dst_root;
        inode_map *links; /* (dev, ino) of multiply-linked sources -> path of the first copy, relative to dst */
} copy_ctx;

static int copy_dir(copy_ctx *c, int sdir, int ddir, const char *rel, unsigned depth, berr **err);

static int copy_entry(copy_ctx *c, int sdir, int ddir, const char *name, const char *rel, unsigned depth, berr **err) {
        struct stat st;
        if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return berr_errno(err, errno, "stat %s", rel);
        if (S_ISDIR(st.st_mode)) {
                if (mkdirat(ddir, name, 0700) < 0)
                        return berr_errno(err, errno, "failed to mkdir %s", rel);
                _cleanup_close_ int s2 = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d2 = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s2 < 0 || d2 < 0)
                        return berr_errno(err, errno, "open %s", rel);
                if (copy_dir(c, s2, d2, rel, depth + 1, err) < 0)
                        return -1;
        } else if (S_ISREG(st.st_mode)) {
                const char *first = st.st_nlink > 1 ? inode_map_get(c->links, st.st_dev, st.st_ino) : NULL;
                if (first) {
                        if (linkat(c->dst_root, first, ddir, name, 0) < 0)
                                return berr_errno(err, errno, "failed to create hard link %s", rel);
                        return 0; /* same inode: attributes are already there */
                }
                _cleanup_close_ int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0)
                        return berr_errno(err, errno, "failed to open source %s", rel);
                _cleanup_close_ int dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (dfd < 0)
                        return berr_errno(err, errno, "failed to open target %s", rel);
                if (copy_data(sfd, dfd, st.st_size, rel, err) < 0)
                        return -1;
                if (st.st_nlink > 1)
                        inode_map_put(c->links, st.st_dev, st.st_ino, xstrdup(rel));
        } else if (S_ISLNK(st.st_mode)) {
                _cleanup_free_ char *target = xmalloc((size_t) st.st_size + 2);
                ssize_t n = readlinkat(sdir, name, target, (size_t) st.st_size + 1);
                if (n < 0)
                        return berr_errno(err, errno, "failed to read link %s", rel);
                target[n] = '\0';
                if (symlinkat(target, ddir, name) < 0)
                        return berr_errno(err, errno, "failed to create symlink %s", rel);
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
                if (mknodat(ddir, name, st.st_mode, S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0) < 0)
                        return berr_errno(err, errno, "failed to create irregular file %s", rel);
        } else {
                log_warn("unsupported mode: %s: %o", rel, st.st_mode);
                return 0;
        }
        return copy_attrs(sdir, ddir, name, &st, rel, err);
}

static int copy_dir(copy_ctx *c, int sdir, int ddir, const char *rel, unsigned depth, berr **err) {
        if (depth > MAX_DEPTH)
                return berr_set(err, BERR_OUT_OF_RANGE, ELOOP, "%s: directory tree too deep", rel);
        int dupfd = fcntl(sdir, F_DUPFD_CLOEXEC, 3);
        DIR *d = dupfd < 0 ? NULL : fdopendir(dupfd);
        if (!d) {
                safe_close(dupfd);
                return berr_errno(err, errno, "failed to read %s", rel);
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                _cleanup_free_ char *sub = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
                r = copy_entry(c, sdir, ddir, de->d_name, sub, depth, err);
        }
        closedir(d);
        return r;
}

int copy_tree(const char *src, const char *dst, berr **err) {
        _cleanup_close_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
                return berr_errno(err, errno, "failed to open %s", src);
        _cleanup_close_ int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return berr_errno(err, errno, "failed to open %s", dst);
        copy_ctx c = { .dst_root = dfd, .links = inode_map_new() };
        int r = copy_dir(&c, sfd, dfd, "", 0, err);
        inode_map_free(c.links);
        if (r < 0)
                return -1;
        /* The root's own attributes last, so copying its children does not disturb its times. */
        struct stat st;
        if (fstat(sfd, &st) < 0)
                return berr_errno(err, errno, "stat %s", src);
        return copy_attrs(sfd, dfd, ".", &st, dst, err);
}
