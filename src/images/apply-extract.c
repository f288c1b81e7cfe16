/* Extraction of one tar stream into a root dirfd, entry by entry (containerd's archive.applyNaive semantics with
 * stricter path rules). Every name is cleaned lexically, its parent is resolved beneath the root (symlinks may
 * only lead to places inside), and the final component is always created with *at() calls that never follow it. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/log.h"
#include "basic/strv.h"
#include "images/apply-internal.h"
#include "images/apply-extract.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* A set of cleaned paths unpacked by this layer (native opaque dirs keep those). */
typedef struct path_set {
        char **slots;
        size_t cap, n;
} path_set;

static size_t str_hash(const char *s) {
        size_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return h;
}

static bool path_set_has(const path_set *set, const char *s) {
        if (!set->cap)
                return false;
        for (size_t i = str_hash(s) & (set->cap - 1); set->slots[i]; i = (i + 1) & (set->cap - 1))
                if (strcmp(set->slots[i], s) == 0)
                        return true;
        return false;
}

static void path_set_add(path_set *set, const char *s) {
        if (path_set_has(set, s))
                return;
        if ((set->n + 1) * 2 > set->cap) {
                size_t oldcap = set->cap;
                char **old = set->slots;
                set->cap = oldcap ? oldcap * 2 : 64;
                set->slots = xcalloc(set->cap, sizeof(char *));
                for (size_t i = 0; i < oldcap; i++)
                        if (old[i]) {
                                size_t j = str_hash(old[i]) & (set->cap - 1);
                                while (set->slots[j])
                                        j = (j + 1) & (set->cap - 1);
                                set->slots[j] = old[i];
                        }
                free(old);
        }
        size_t i = str_hash(s) & (set->cap - 1);
        while (set->slots[i])
                i = (i + 1) & (set->cap - 1);
        set->slots[i] = xstrdup(s);
        set->n++;
}

static void path_set_done(path_set *set) {
        for (size_t i = 0; i < set->cap; i++)
                free(set->slots[i]);
        free(set->slots);
        *set = (path_set) { 0 };
}

typedef struct dir_time {
        char *path;
        struct timespec ts[2];
} dir_time;

struct extractor {
        int root_fd;
        const apply_options *opts;
        path_set unpacked;
        dir_time *dirs;
        size_t n_dirs;
        /* The last parent directory resolved (entries come grouped by directory). */
        char *cached_path;
        int cached_fd;
};

extractor *extractor_new(int root_fd, const apply_options *opts) {
        extractor *x = xcalloc(1, sizeof *x);
        x->root_fd = root_fd;
        x->opts = opts;
        x->cached_fd = -1;
        return x;
}

static void forget_cache(extractor *x) {
        x->cached_fd = safe_close(x->cached_fd);
        x->cached_path = (free(x->cached_path), NULL);
}

extractor *extractor_free(extractor *x) {
        if (!x)
                return NULL;
        forget_cache(x);
        path_set_done(&x->unpacked);
        for (size_t i = 0; i < x->n_dirs; i++)
                free(x->dirs[i].path);
        free(x->dirs);
        free(x);
        return NULL;
}

static struct timespec bound_time(time_t sec, long nsec) {
        /* containerd's boundTime: times before the epoch become the epoch. */
        if (sec < 0)
                return (struct timespec) { 0, 0 };
        return (struct timespec) { sec, nsec };
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
        ts[1] = bound_time(archive_entry_mtime(e), archive_entry_mtime_nsec(e));
        ts[0] = ts[1];
        if (archive_entry_atime_is_set(e)) {
                struct timespec a = bound_time(archive_entry_atime(e), archive_entry_atime_nsec(e));
                if (a.tv_sec > ts[1].tv_sec || (a.tv_sec == ts[1].tv_sec && a.tv_nsec > ts[1].tv_nsec))
                        ts[0] = a;
        }
}

static void proc_path(char buf[PATH_MAX], int dirfd, const char *name) {
        snprintf(buf, PATH_MAX, "/proc/self/fd/%d/%s", dirfd, name);
}

static void copy_up_xattrs(int src_fd, int dst_fd) {
        ssize_t n = flistxattr(src_fd, NULL, 0);
        if (n <= 0)
                return;
        _cleanup_free_ char *names = xmalloc((size_t) n);
        n = flistxattr(src_fd, names, (size_t) n);
        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen(names + off) + 1) {
                const char *key = names + off;
                if (strncmp(key, "trusted.", 8) == 0)
                        continue;
                char val[65536];
                ssize_t v = fgetxattr(src_fd, key, val, sizeof val);
                if (v >= 0 && fsetxattr(dst_fd, key, val, (size_t) v, XATTR_CREATE) < 0)
                        log_debug("copy up xattr %s: %m", key);
        }
}

/* An implied directory gets the attributes of the same directory in the nearest lower layer (containerd's
 * mkparent), so an overlay upper does not mask a lower dir's owner and mode with root 0755. */
static int copy_dir_info_from_parents(extractor *x, const char *path, int dir_fd, berr **err) {
        for (size_t i = 0; i < x->opts->n_parent_fds; i++) {
                _cleanup_close_ int pfd = open_beneath(x->opts->parent_fds[i], path, O_RDONLY | O_NOFOLLOW);
                if (pfd < 0) {
                        if (errno == ENOENT)
                                continue;
                        break; /* replaced by something else, or out of reach: defaults */
                }
                struct stat st;
                if (fstat(pfd, &st) < 0 || !S_ISDIR(st.st_mode))
                        break;
                if (fchown(dir_fd, st.st_uid, st.st_gid) < 0 || fchmod(dir_fd, st.st_mode & 07777) < 0)
                        return berr_errno(err, errno, "copy attributes of parent directory %s", path);
                const struct timespec ts[2] = { st.st_atim, st.st_mtim };
                (void) futimens(dir_fd, ts);
                copy_up_xattrs(pfd, dir_fd);
                return 0;
        }
        return 0;
}

static int parent_error(const char *entry, const char *path, int errnum, berr **err) {
        if (errnum == EXDEV || errnum == ELOOP)
                return berr_set(err, BERR_INVALID_ARGUMENT, errnum,
                                "path \"%s\": parent \"%s\" resolves outside the layer root: invalid argument", entry,
                                path);
        if (errnum == ENOTDIR)
                return berr_set(err, BERR_INVALID_ARGUMENT, errnum,
                                "path \"%s\": parent \"%s\" is not a directory: invalid argument", entry, path);
        return berr_errno(err, errnum, "path \"%s\": resolve parent \"%s\"", entry, path);
}

/* Opens (O_PATH) the directory path below the root, creating missing components if create. The fd is borrowed
 * (the cache owns it). */
static int resolve_dir(extractor *x, const char *entry, const char *path, bool create, int *ret, berr **err) {
        if (!*path) {
                *ret = x->root_fd;
                return 0;
        }
        if (x->cached_path && strcmp(x->cached_path, path) == 0) {
                *ret = x->cached_fd;
                return 0;
        }
        int fd = open_beneath(x->root_fd, path, O_PATH | O_DIRECTORY);
        if (fd < 0 && (errno != ENOENT || !create))
                return parent_error(entry, path, errno, err);
        if (fd < 0) {
                /* Create what is missing, one component at a time, each resolved beneath the root again. */
                _cleanup_strv_free_ char **parts = strv_split(path, '/');
                _cleanup_free_ char *prefix = NULL;
                _cleanup_close_ int cur = -1;
                for (size_t i = 0; parts[i]; i++) {
                        char *next = prefix ? xasprintf("%s/%s", prefix, parts[i]) : xstrdup(parts[i]);
                        free(prefix);
                        prefix = next;
                        int sub = open_beneath(x->root_fd, prefix, O_PATH | O_DIRECTORY);
                        if (sub < 0 && errno == ENOENT) {
                                if (mkdirat(cur >= 0 ? cur : x->root_fd, parts[i], 0755) < 0 && errno != EEXIST)
                                        return berr_errno(err, errno, "path \"%s\": create parent \"%s\"", entry, prefix);
                                _cleanup_close_ int dfd = open_beneath(x->root_fd, prefix, O_RDONLY | O_DIRECTORY);
                                if (dfd < 0)
                                        return parent_error(entry, prefix, errno, err);
                                if (fchmod(dfd, 0755) < 0)
                                        return berr_errno(err, errno, "path \"%s\": chmod parent \"%s\"", entry, prefix);
                                if (copy_dir_info_from_parents(x, prefix, dfd, err) < 0)
                                        return -1;
                                sub = open_beneath(x->root_fd, prefix, O_PATH | O_DIRECTORY);
                        }
                        if (sub < 0)
                                return parent_error(entry, prefix, errno, err);
                        safe_close(cur);
                        cur = sub;
                }
                fd = TAKE_FD(cur);
        }
        forget_cache(x);
        x->cached_fd = fd;
        x->cached_path = xstrdup(path);
        *ret = fd;
        return 0;
}

static void split(char *path, const char **ret_parent, const char **ret_base) {
        char *slash = strrchr(path, '/');
        if (slash) {
                *slash = '\0';
                *ret_parent = path;
                *ret_base = slash + 1;
        } else {
                *ret_parent = "";
                *ret_base = path;
        }
}

static int remove_existing(extractor *x, int pfd, const char *base, berr **err) {
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : berr_errno(err, errno, "stat %s", base);
        if (S_ISDIR(st.st_mode))
                forget_cache(x); /* the cached parent may live below it */
        return rm_rf_at(pfd, base, err);
}

/* Native opaque dir: drop everything below dir (fd) not unpacked by this layer; keep descending into kept dirs. */
static int remove_older(extractor *x, int dfd, const char *path, unsigned depth, berr **err) {
        if (depth > 4096)
                return berr_set(err, BERR_OUT_OF_RANGE, ELOOP, "%s: directory tree too deep", path);
        int dupfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dupfd < 0 ? NULL : fdopendir(dupfd);
        if (!d) {
                safe_close(dupfd);
                return berr_errno(err, errno, "read %s", path);
        }
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        strv_extend(&names, de->d_name);
        closedir(d);
        for (size_t i = 0; names && names[i]; i++) {
                _cleanup_free_ char *sub = *path ? xasprintf("%s/%s", path, names[i]) : xstrdup(names[i]);
                if (!path_set_has(&x->unpacked, sub)) {
                        forget_cache(x);
                        if (rm_rf_at(dfd, names[i], err) < 0)
                                return -1;
                        continue;
                }
                _cleanup_close_ int sfd = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd >= 0 && remove_older(x, sfd, sub, depth + 1, err) < 0)
                        return -1;
        }
        return 0;
}

static int apply_whiteout(extractor *x, struct archive_entry *e, const char *name, const char *parent,
                          const char *base, berr **err) {
        int pfd;
        if (resolve_dir(x, name, parent, true, &pfd, err) < 0)
                return -1;
        if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
                _cleanup_close_ int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return berr_errno(err, errno, "open opaque directory \"%s\"", parent);
                if (x->opts->whiteouts == APPLY_WHITEOUT_OVERLAY) {
                        if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                                return berr_errno(err, errno, "failed to convert whiteout file \"%s\"", name);
                        return 0;
                }
                return remove_older(x, dfd, parent, 0, err);
        }
        const char *orig = base + strlen(WHITEOUT_PREFIX);
        if (!*orig || strcmp(orig, ".") == 0 || strcmp(orig, "..") == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid whiteout name: %s: invalid argument", base);
        if (remove_existing(x, pfd, orig, err) < 0)
                return berr_wrap(err, "failed to convert whiteout file \"%s\"", name);
        if (x->opts->whiteouts == APPLY_WHITEOUT_DELETE)
                return 0;
        if (mknodat(pfd, orig, S_IFCHR, makedev(0, 0)) < 0 ||
            fchownat(pfd, orig, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
                return berr_errno(err, errno, "failed to convert whiteout file \"%s\"", name);
        return 0;
}

static int set_xattrs(struct archive_entry *e, int fd, int pfd, const char *base, mode_t type, const char *name,
                      berr **err) {
        const char *key;
        const void *value;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
                if (!key || !*key)
                        continue;
                /* Admin attributes (trusted.*, overlay's own) never come from an archive. */
                if (strncmp(key, "trusted.", 8) == 0) {
                        log_debug("ignored xattr %s in archive (%s)", key, name);
                        continue;
                }
                int r;
                if (fd >= 0)
                        r = fsetxattr(fd, key, value, size, 0);
                else {
                        char p[PATH_MAX];
                        proc_path(p, pfd, base);
                        r = lsetxattr(p, key, value, size, 0);
                }
                if (r == 0)
                        continue;
                if (errno == ENOTSUP || (errno == EPERM && strncmp(key, "user.", 5) == 0 && !S_ISREG(type) &&
                                         !S_ISDIR(type))) {
                        log_debug("ignored xattr %s in archive (%s): %m", key, name);
                        continue;
                }
                return berr_errno(err, errno, "failed to setxattr \"%s\" for key %s", name, key);
        }
        return 0;
}

static int write_data(struct archive *a, int fd, int64_t size, const char *name, berr **err) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int64_t end = 0;
        for (;;) {
                int r = archive_read_data_block(a, &buf, &len, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return berr_set(err, BERR_INVALID_ARGUMENT, archive_errno(a) > 0 ? archive_errno(a) : EIO,
                                        "read \"%s\" from layer: %s", name, archive_error_string(a));
                for (size_t done = 0; done < len;) {
                        ssize_t n = pwrite(fd, (const char *) buf + done, len - done, (off_t) off + (off_t) done);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return berr_errno(err, errno, "write \"%s\"", name);
                        }
                        done += (size_t) n;
                }
                if ((int64_t) off + (int64_t) len > end)
                        end = (int64_t) off + (int64_t) len;
        }
        /* Sparse files may end in a hole. */
        if (size > end && ftruncate(fd, (off_t) size) < 0)
                return berr_errno(err, errno, "truncate \"%s\"", name);
        return 0;
}

static int create_hardlink(extractor *x, int pfd, const char *base, const char *name, const char *linkname,
                           berr **err) {
        _cleanup_free_ char *target = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (tar_path_clean(linkname, &target, &e) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "hardlink \"%s\" to \"%s\" escapes the layer root: invalid argument", name, linkname);
        if (!*target)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "hardlink \"%s\" to \"%s\": target is the layer root: invalid argument", name, linkname);
        const char *tparent, *tbase;
        split(target, &tparent, &tbase);
        /* Resolve the target's directory on its own fd: the cache belongs to the entry's parent. */
        _cleanup_close_ int tfd = *tparent ? open_beneath(x->root_fd, tparent, O_PATH | O_DIRECTORY) : -1;
        if (*tparent && tfd < 0) {
                if (errno == EXDEV || errno == ELOOP)
                        return berr_set(err, BERR_INVALID_ARGUMENT, errno,
                                        "hardlink \"%s\" to \"%s\" resolves outside the layer root: invalid argument",
                                        name, linkname);
                return berr_errno(err, errno, "hardlink \"%s\" to \"%s\"", name, linkname);
        }
        struct stat st;
        if (fstatat(*tparent ? tfd : x->root_fd, tbase, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                return berr_set(err, BERR_INVALID_ARGUMENT, EPERM,
                                "hardlink \"%s\" to directory \"%s\": invalid argument", name, linkname);
        if (linkat(*tparent ? tfd : x->root_fd, tbase, pfd, base, 0) < 0)
                return berr_errno(err, errno, "hardlink \"%s\" to \"%s\"", name, linkname);
        return 0;
}

static const char *entry_string(const char *mbs, const char *utf8) {
        return mbs ? mbs : utf8;
}

int extractor_entry(extractor *x, struct archive *a, struct archive_entry *e, berr **err) {
        const char *raw = entry_string(archive_entry_pathname(e), archive_entry_pathname_utf8(e));
        if (!raw)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "tar entry without a name: invalid argument");
        _cleanup_free_ char *name = NULL;
        if (tar_path_clean(raw, &name, err) < 0)
                return -1;
        if (!*name)
                return 0; /* the root itself: containerd ignores it too */
        _cleanup_free_ char *work = xstrdup(name);
        const char *parent, *base;
        split(work, &parent, &base);

        const char *hardlink = entry_string(archive_entry_hardlink(e), archive_entry_hardlink_utf8(e));
        mode_t type = archive_entry_filetype(e);
        if (!hardlink && strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
                return apply_whiteout(x, e, name, parent, base, err);

        dev_t rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (!hardlink && (type == AE_IFBLK || (type == AE_IFCHR && rdev != makedev(0, 0))) && !x->opts->allow_devices)
                return berr_set(err, BERR_PERMISSION_DENIED, EPERM,
                                "device node \"%s\" in layer not allowed: permission denied", name);

        int pfd;
        if (resolve_dir(x, name, parent, true, &pfd, err) < 0)
                return -1;
        struct stat st;
        bool merge_dir = !hardlink && type == AE_IFDIR && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                         S_ISDIR(st.st_mode);
        if (!merge_dir && remove_existing(x, pfd, base, err) < 0)
                return -1;
        /* remove_existing may have dropped the cached parent fd; resolve again (it still exists). */
        if (resolve_dir(x, name, parent, false, &pfd, err) < 0)
                return -1;

        mode_t perm = archive_entry_perm(e) & 07777;
        uid_t uid = (uid_t) archive_entry_uid(e);
        gid_t gid = (gid_t) archive_entry_gid(e);
        struct timespec ts[2];
        entry_times(e, ts);
        _cleanup_close_ int fd = -1;

        if (hardlink) {
                if (create_hardlink(x, pfd, base, name, hardlink, err) < 0)
                        return -1;
                /* containerd re-applies the link entry's header to the (shared) inode. */
                type = AE_IFLNK; /* only owner and times below, never through a symlink */
                if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode))
                        type = st.st_mode & S_IFMT;
        } else
                switch (type) {
                case AE_IFDIR:
                        if (!merge_dir && mkdirat(pfd, base, 0700) < 0)
                                return berr_errno(err, errno, "mkdir \"%s\"", name);
                        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0)
                                return berr_errno(err, errno, "open \"%s\"", name);
                        break;
                case AE_IFREG:
                        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                        if (fd < 0)
                                return berr_errno(err, errno, "create \"%s\"", name);
                        if (write_data(a, fd, archive_entry_size(e), name, err) < 0)
                                return -1;
                        break;
                case AE_IFLNK: {
                        const char *target = entry_string(archive_entry_symlink(e), archive_entry_symlink_utf8(e));
                        if (symlinkat(target ? target : "", pfd, base) < 0)
                                return berr_errno(err, errno, "symlink \"%s\"", name);
                        break;
                }
                case AE_IFCHR:
                case AE_IFBLK:
                case AE_IFIFO:
                        if (mknodat(pfd, base, type | perm, type == AE_IFIFO ? 0 : rdev) < 0)
                                return berr_errno(err, errno, "mknod \"%s\"", name);
                        break;
                case AE_IFSOCK:
                        log_debug("socket \"%s\" in layer ignored", name);
                        return 0;
                default:
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "unhandled tar header type %o for \"%s\": invalid argument", type, name);
                }

        /* Owner first (it clears setuid bits), then xattrs, mode, and times. */
        if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
                return berr_errno(err, errno, "failed to Lchown \"%s\" for UID %u, GID %u", name, uid, gid);
        if (set_xattrs(e, fd, pfd, base, type, name, err) < 0)
                return -1;
        if (type != AE_IFLNK) {
                if ((fd >= 0 ? fchmod(fd, perm) : fchmodat(pfd, base, perm, 0)) < 0)
                        return berr_errno(err, errno, "chmod \"%s\"", name);
        }
        if (type == AE_IFDIR) {
                x->dirs = xrealloc(x->dirs, (x->n_dirs + 1) * sizeof *x->dirs);
                x->dirs[x->n_dirs++] = (dir_time) { .path = xstrdup(name), .ts = { ts[0], ts[1] } };
        } else if ((fd >= 0 ? futimens(fd, ts) : utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
                return berr_errno(err, errno, "set times of \"%s\"", name);
        if (x->opts->whiteouts == APPLY_WHITEOUT_DELETE)
                path_set_add(&x->unpacked, name);
        return 0;
}

int extractor_finish(extractor *x, berr **err) {
        /* Directory times last: creating entries inside changed them. */
        for (size_t i = 0; i < x->n_dirs; i++) {
                _cleanup_close_ int fd = open_beneath(x->root_fd, x->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (fd < 0) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue; /* removed or replaced later in the layer */
                        return berr_errno(err, errno, "set times of \"%s\"", x->dirs[i].path);
                }
                if (futimens(fd, x->dirs[i].ts) < 0)
                        return berr_errno(err, errno, "set times of \"%s\"", x->dirs[i].path);
        }
        return 0;
}
