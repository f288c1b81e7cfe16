#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/fileio.h"

static int wait_fd(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };
        for (;;) {
                int r = poll(&p, 1, -1);
                if (r >= 0 || errno != EINTR)
                        return r < 0 ? -1 : 0;
        }
}

int write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN && wait_fd(fd, POLLOUT) == 0)
                                continue;
                        return -1;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

ssize_t read_all(int fd, void *buf, size_t len) {
        char *p = buf;
        size_t done = 0;
        while (done < len) {
                ssize_t n = read(fd, p + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN && wait_fd(fd, POLLIN) == 0)
                                continue;
                        return -1;
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

static void random_suffix(char out[7]) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t) sizeof rnd) {
                /* Uniqueness, not secrecy, is what matters here; O_EXCL catches collisions. */
                static unsigned counter;
                unsigned v = (unsigned) getpid() * 2654435761u + counter++;
                for (size_t i = 0; i < sizeof rnd; i++, v = v * 1103515245u + 12345u)
                        rnd[i] = (unsigned char) (v >> 16);
        }
        for (size_t i = 0; i < sizeof rnd; i++)
                out[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
        out[6] = '\0';
}

/* Opens "<dir>/.<base>.XXXXXX" exclusively; returns the fd and the temp path (relative to dirfd). */
static int open_temp_beside(int dirfd, const char *path, char **ret_tmp) {
        _cleanup_free_ char *d = xstrdup(path), *b = xstrdup(path);
        const char *dir = dirname(d), *base = basename(b);
        for (int attempt = 0; attempt < 100; attempt++) {
                char sfx[7];
                random_suffix(sfx);
                _cleanup_free_ char *tmp = xasprintf("%s/.%s.%s", dir, base, sfx);
                int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0) {
                        *ret_tmp = TAKE_PTR(tmp);
                        return fd;
                }
                if (errno != EEXIST)
                        return -1;
        }
        errno = EEXIST;
        return -1;
}

static int fsync_parent_dir(int dirfd, const char *path) {
        _cleanup_free_ char *d = xstrdup(path);
        _cleanup_close_ int fd = openat(dirfd, dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        return fsync(fd);
}

static int write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                                bool durable, berr **err) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = open_temp_beside(dirfd, path, &tmp);
        if (fd < 0)
                return berr_errno(err, errno, "create temporary file for %s", path);

        const char *step;
        if (write_all(fd, data, len) < 0)
                step = "write";
        else if (fchmod(fd, mode) < 0)
                step = "chmod";
        else if (durable && fsync(fd) < 0)
                step = "fsync";
        else if (renameat(dirfd, tmp, dirfd, path) < 0)
                step = "rename";
        else {
                /* The rename is done; a failed directory fsync only weakens durability, but say so. */
                if (durable && fsync_parent_dir(dirfd, path) < 0)
                        return berr_errno(err, errno, "fsync directory of %s", path);
                return 0;
        }
        int saved = errno;
        (void) unlinkat(dirfd, tmp, 0);
        return berr_errno(err, saved, "%s %s", step, tmp);
}

int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode, berr **err) {
        return write_file_replace_at(dirfd, path, data, len, mode, true, err);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, berr **err) {
        return write_file_atomic_at(AT_FDCWD, path, data, len, mode, err);
}

int write_file_replace(const char *path, const void *data, size_t len, mode_t mode, berr **err) {
        return write_file_replace_at(AT_FDCWD, path, data, len, mode, false, err);
}

int read_file(const char *path, char **ret, size_t *ret_len, size_t max, berr **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return berr_errno(err, errno, "open %s", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return berr_errno(err, errno, "stat %s", path);
        if (S_ISREG(st.st_mode) && (uintmax_t) st.st_size > max)
                return berr_set(err, BERR_OUT_OF_RANGE, EFBIG, "%s is larger than %zu bytes", path, max);

        /* Size hints lie for /proc and pipes: read until EOF, one byte past max to detect overflow. */
        size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t) st.st_size + 1 : 4096, len = 0;
        if (cap > max + 1)
                cap = max + 1;
        _cleanup_free_ char *buf = xmalloc(cap + 1);
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return berr_set(err, BERR_OUT_OF_RANGE, EFBIG, "%s is larger than %zu bytes",
                                                path, max);
                        cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        buf = xrealloc(buf, cap + 1);
                }
                ssize_t n = read_all(fd, buf + len, cap - len);
                if (n < 0)
                        return berr_errno(err, errno, "read %s", path);
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max)
                return berr_set(err, BERR_OUT_OF_RANGE, EFBIG, "%s is larger than %zu bytes", path, max);
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int mkdir_p(const char *path, mode_t mode, berr **err) {
        if (!path || !*path)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "mkdir: empty path");
        _cleanup_free_ char *p = xstrdup(path);
        /* Walk each prefix ending before a '/', then the whole path. */
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char saved = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0) {
                        int e = errno;
                        struct stat st;
                        if (e != EEXIST)
                                return berr_errno(err, e, "mkdir %s", p);
                        if (stat(p, &st) < 0)
                                return berr_errno(err, errno, "stat %s", p);
                        if (!S_ISDIR(st.st_mode))
                                return berr_errno(err, ENOTDIR, "mkdir %s", p);
                }
                *s = saved;
                if (saved == '\0')
                        return 0;
                while (s[1] == '/')
                        s++;
                if (s[1] == '\0')
                        return 0;
        }
}

/* True if the directory entry (not followed) is the root of a different mount than its parent.
 * statx's STATX_ATTR_MOUNT_ROOT also catches bind mounts from the same filesystem, which an
 * st_dev comparison cannot see; the st_dev test is the fallback for old kernels. */
static bool is_mount_root(int dirfd, const char *name, dev_t parent_dev) {
        struct statx sx;
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &sx) < 0)
                return false;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
        return makedev(sx.stx_dev_major, sx.stx_dev_minor) != parent_dev;
}

/* Empties the directory open at fd. Returns 0, or -1 with errno (EBUSY if a mount point was skipped). */
static int remove_dir_contents(int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -1;
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -1;
        DIR *d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return -1;
        }
        int ret = 0, ret_errno = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                bool is_dir = de->d_type == DT_DIR;
                if (de->d_type == DT_UNKNOWN) {
                        struct stat cst;
                        if (fstatat(fd, de->d_name, &cst, AT_SYMLINK_NOFOLLOW) == 0)
                                is_dir = S_ISDIR(cst.st_mode);
                }
                if (is_dir) {
                        if (is_mount_root(fd, de->d_name, st.st_dev)) {
                                ret = -1, ret_errno = EBUSY;
                                continue;
                        }
                        _cleanup_close_ int cfd = openat(fd, de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0 || remove_dir_contents(cfd) < 0) {
                                if (cfd >= 0 || errno != ENOENT)
                                        ret = -1, ret_errno = ret_errno ? ret_errno : errno;
                                continue;
                        }
                }
                if (unlinkat(fd, de->d_name, is_dir ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
                        ret = -1, ret_errno = ret_errno ? ret_errno : errno;
        }
        if (errno != 0 && ret == 0)
                ret = -1, ret_errno = errno;
        closedir(d);
        errno = ret_errno;
        return ret;
}

int rm_rf(const char *path, berr **err) {
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : berr_errno(err, errno, "stat %s", path);
        if (!S_ISDIR(st.st_mode)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return berr_errno(err, errno, "remove %s", path);
                return 0;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : berr_errno(err, errno, "open %s", path);
        if (remove_dir_contents(fd) < 0)
                return berr_errno(err, errno, "remove contents of %s", path);
        if (rmdir(path) < 0 && errno != ENOENT)
                return berr_errno(err, errno, "remove %s", path);
        return 0;
}
