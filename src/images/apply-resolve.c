/* Path handling for extraction: lexical cleaning of tar names, resolution that cannot leave the root, removal. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "basic/strv.h"
#include "images/apply-internal.h"

int tar_path_clean(const char *path, char **ret, berr **err) {
        _cleanup_strv_free_ char **parts = strv_split(path, '/');
        size_t n = strv_length(parts), kept = 0;
        for (size_t i = 0; i < n; i++) {
                if (!*parts[i] || strcmp(parts[i], ".") == 0)
                        continue;
                if (strcmp(parts[i], "..") == 0) {
                        if (kept == 0)
                                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                                "path \"%s\" escapes the layer root: invalid argument", path);
                        kept--;
                        continue;
                }
                /* Compact in place: parts[kept] takes parts[i]. */
                if (kept != i) {
                        char *t = parts[kept];
                        parts[kept] = parts[i];
                        parts[i] = t;
                }
                kept++;
        }
        char *saved = parts[kept];
        parts[kept] = NULL;
        *ret = strv_join(parts, "/");
        parts[kept] = saved;
        return 0;
}

/* Without openat2 (Linux < 5.6): walk component by component, refusing every symlink. Stricter than needed,
 * never looser. */
static int open_beneath_fallback(int dirfd, const char *path, int flags) {
        _cleanup_strv_free_ char **parts = strv_split(path, '/');
        int cur = -1;
        size_t n = strv_length(parts);
        for (size_t i = 0; i < n; i++) {
                if (!*parts[i] || strcmp(parts[i], ".") == 0)
                        continue;
                if (strcmp(parts[i], "..") == 0) {
                        safe_close(cur);
                        errno = EXDEV;
                        return -1;
                }
                bool last = true;
                for (size_t j = i + 1; j < n; j++)
                        if (*parts[j] && strcmp(parts[j], ".") != 0)
                                last = false;
                int next = openat(cur >= 0 ? cur : dirfd, parts[i],
                                  last ? flags | O_NOFOLLOW : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int saved = errno;
                safe_close(cur);
                if (next < 0) {
                        errno = saved == ELOOP ? EXDEV : saved;
                        return -1;
                }
                cur = next;
        }
        if (cur < 0)
                return openat(dirfd, ".", flags);
        return cur;
}

int open_beneath(int dirfd, const char *path, int flags) {
        static bool no_openat2;
        if (!*path)
                path = ".";
        if (!__atomic_load_n(&no_openat2, __ATOMIC_RELAXED)) {
                struct open_how how = {
                        .flags = (uint64_t) (flags | O_CLOEXEC),
                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
                };
                for (;;) {
                        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
                        if (fd >= 0)
                                return (int) fd;
                        if (errno == EAGAIN || errno == EINTR)
                                continue; /* a concurrent rename elsewhere; retry */
                        if (errno != ENOSYS)
                                return -1;
                        break;
                }
                __atomic_store_n(&no_openat2, true, __ATOMIC_RELAXED);
        }
        return open_beneath_fallback(dirfd, path, flags | O_CLOEXEC);
}

static int rm_children(int dfd, unsigned depth, berr **err);

int rm_rf_at(int dirfd, const char *name, berr **err) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return berr_errno(err, errno, "stat %s", name);
        }
        if (S_ISDIR(st.st_mode)) {
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return berr_errno(err, errno, "open %s", name);
                if (rm_children(fd, 0, err) < 0)
                        return -1;
                if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return berr_errno(err, errno, "remove %s", name);
                return 0;
        }
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return berr_errno(err, errno, "remove %s", name);
        return 0;
}

/* Consumes dfd. */
static int rm_children(int dfd, unsigned depth, berr **err) {
        if (depth > 4096) {
                safe_close(dfd);
                return berr_set(err, BERR_OUT_OF_RANGE, ELOOP, "directory tree too deep to remove");
        }
        DIR *d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return berr_errno(err, errno, "open directory");
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
                        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                r = rm_children(sub, depth + 1, err);
                                if (r == 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                                        r = berr_errno(err, errno, "remove %s", de->d_name);
                                continue;
                        }
                        if (errno != ENOTDIR && errno != ELOOP) {
                                r = berr_errno(err, errno, "open %s", de->d_name);
                                continue;
                        }
                }
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = berr_errno(err, errno, "remove %s", de->d_name);
        }
        closedir(d);
        return r;
}
