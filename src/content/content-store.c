/* The content store: blobs by digest, ingest status, abort, delete, walk. Writers are in content-writer.c. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/sha256.h"
#include "content/content-internal.h"

struct content_reader {
        int fd;
        int64_t size;
};

int64_t content_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *content_ingest_path(const content_store *s, const char *ref) {
        char hex[2 * SHA256_DIGEST_LENGTH_BYTES + 1];
        sha256_hex(ref, strlen(ref), hex);
        return xasprintf("%s/%s", s->ingest_dir, hex);
}

int content_timestamp_write(int dirfd, const char *name, int64_t ns, berr **err) {
        time_t sec = (time_t) (ns / 1000000000);
        long frac = (long) (ns % 1000000000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        char buf[64], fracbuf[16] = "";
        if (frac) {
                snprintf(fracbuf, sizeof fracbuf, ".%09ld", frac);
                /* Go's RFC3339Nano drops trailing zeros of the fraction. */
                for (size_t n = strlen(fracbuf); fracbuf[n - 1] == '0'; n--)
                        fracbuf[n - 1] = '\0';
        }
        int len = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
                           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fracbuf);
        return write_file_atomic_at(dirfd, name, buf, (size_t) len, 0666, err);
}

static int parse_timestamp(const char *s, int64_t *ret) {
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -1;
        int64_t frac = 0;
        if (*p == '.') {
                int digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 9)
                                frac = frac * 10 + (*p - '0');
                for (; digits < 9; digits++)
                        frac *= 10;
        }
        int64_t offset = 0;
        if (*p == 'Z')
                p++;
        else if (*p == '+' || *p == '-') {
                int hh, mm;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -1;
                offset = (int64_t) (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
                p += 6;
        } else
                return -1;
        if (*p && *p != '\n')
                return -1;
        *ret = ((int64_t) timegm(&tm) - offset) * 1000000000 + frac;
        return 0;
}

int content_timestamp_read(int dirfd, const char *name, int64_t *ret, berr **err) {
        char buf[128];
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return berr_errno(err, errno, "open %s", name);
        ssize_t n = read_all(fd, buf, sizeof buf - 1);
        if (n < 0)
                return berr_errno(err, errno, "read %s", name);
        buf[n] = '\0';
        if (parse_timestamp(buf, ret) < 0)
                return berr_set(err, BERR_UNKNOWN, EINVAL, "could not parse timestamp file %s", name);
        return 0;
}

int content_store_open(const char *dir, content_store **ret, berr **err) {
        _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
        _cleanup_free_ char *ingest = xasprintf("%s/ingest", dir);
        if (mkdir_p(blobs, 0755, err) < 0 || mkdir_p(ingest, 0755, err) < 0)
                return berr_wrap(err, "content store %s", dir);
        content_store *s = xcalloc(1, sizeof *s);
        s->dir = xstrdup(dir);
        s->blobs_dir = TAKE_PTR(blobs);
        s->ingest_dir = TAKE_PTR(ingest);
        *ret = s;
        return 0;
}

content_store *content_store_free(content_store *s) {
        if (!s)
                return NULL;
        free(s->dir);
        free(s->blobs_dir);
        free(s->ingest_dir);
        free(s);
        return NULL;
}

const char *content_store_dir(const content_store *s) {
        return s->dir;
}

int content_blob_path(content_store *s, const char *digest, char **ret, berr **err) {
        char hex[DIGEST_HEX_LEN + 1];
        if (digest_parse(digest, hex, err) < 0)
                return -1;
        *ret = xasprintf("%s/%s", s->blobs_dir, hex);
        return 0;
}

static void info_from_stat(const char *digest, const struct stat *st, content_info *ret) {
        *ret = (content_info) {
                .size = st->st_size,
                .created_at = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                .updated_at = (int64_t) st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec,
        };
        size_t n = strnlen(digest, DIGEST_STRING_MAX - 1);
        memcpy(ret->digest, digest, n);
        ret->digest[n] = '\0';
}

int content_info_get(content_store *s, const char *digest, content_info *ret, berr **err) {
        _cleanup_free_ char *path = NULL;
        if (content_blob_path(s, digest, &path, err) < 0)
                return -1;
        struct stat st;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "content %s: not found", digest);
                return berr_errno(err, errno, "stat %s", path);
        }
        info_from_stat(digest, &st, ret);
        return 0;
}

int content_delete(content_store *s, const char *digest, berr **err) {
        _cleanup_free_ char *path = NULL;
        if (content_blob_path(s, digest, &path, err) < 0)
                return -1;
        if (unlink(path) < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "content %s: not found", digest);
                return berr_errno(err, errno, "remove %s", path);
        }
        return 0;
}

int content_walk(content_store *s, content_walk_fn fn, void *userdata, berr **err) {
        DIR *d = opendir(s->blobs_dir);
        if (!d)
                return berr_errno(err, errno, "open %s", s->blobs_dir);
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (strlen(de->d_name) != DIGEST_HEX_LEN)
                        continue;
                char digest[DIGEST_STRING_MAX];
                memcpy(digest, "sha256:", 7);
                memcpy(digest + 7, de->d_name, DIGEST_HEX_LEN + 1);
                if (!digest_is_valid(digest))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT) /* deleted meanwhile */
                                continue;
                        r = berr_errno(err, errno, "stat blob %s", digest);
                        break;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                content_info info;
                info_from_stat(digest, &st, &info);
                r = fn(&info, userdata, err);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno != 0)
                r = berr_errno(err, errno, "read %s", s->blobs_dir);
        closedir(d);
        return r < 0 ? r : 0;
}

int content_reader_open(content_store *s, const char *digest, content_reader **ret, berr **err) {
        _cleanup_free_ char *path = NULL;
        if (content_blob_path(s, digest, &path, err) < 0)
                return -1;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "content %s: not found", digest);
                return berr_errno(err, errno, "blob %s expected at %s", digest, path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return berr_errno(err, errno, "stat %s", path);
        content_reader *r = xcalloc(1, sizeof *r);
        r->fd = TAKE_FD(fd);
        r->size = st.st_size;
        *ret = r;
        return 0;
}

content_reader *content_reader_free(content_reader *r) {
        if (!r)
                return NULL;
        safe_close(r->fd);
        free(r);
        return NULL;
}

int64_t content_reader_size(const content_reader *r) {
        return r->size;
}

int content_reader_fd(const content_reader *r) {
        return r->fd;
}

ssize_t content_reader_pread(content_reader *r, void *buf, size_t len, int64_t offset, berr **err) {
        if (offset < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "negative read offset %" PRId64, offset);
        size_t done = 0;
        while (done < len) {
                ssize_t n = pread(r->fd, (char *) buf + done, len - done, (off_t) (offset + (int64_t) done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return berr_errno(err, errno, "read blob");
                }
                if (n == 0)
                        break;
                done += (size_t) n;
        }
        return (ssize_t) done;
}

void content_status_done(content_status *st) {
        if (!st)
                return;
        free(st->ref);
        *st = (content_status) { 0 };
}

void content_statuses_free(content_status *sts, size_t n) {
        for (size_t i = 0; i < n; i++)
                content_status_done(&sts[i]);
        free(sts);
}

int content_ingest_status(const char *path, content_status *ret, berr **err) {
        _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "stat %s/data: no such file or directory: not found",
                                        path);
                return berr_errno(err, errno, "open %s", path);
        }
        struct stat st;
        if (fstatat(dfd, "data", &st, 0) < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "stat %s/data: no such file or directory: not found",
                                        path);
                return berr_errno(err, errno, "stat %s/data", path);
        }
        _cleanup_free_ char *refpath = xasprintf("%s/ref", path), *ref = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (read_file(refpath, &ref, NULL, 1 << 20, &e) < 0)
                return berr_set(err, e->errnum == ENOENT ? BERR_NOT_FOUND : e->code, e->errnum, "%s%s", e->msg,
                                e->errnum == ENOENT ? ": not found" : "");
        int64_t started, updated;
        if (content_timestamp_read(dfd, "startedat", &started, err) < 0)
                return berr_wrap(err, "could not read startedat");
        if (content_timestamp_read(dfd, "updatedat", &updated, err) < 0)
                return berr_wrap(err, "could not read updatedat");
        /* updatedat is written on close only, so the data file's mtime may be newer. */
        int64_t mtime = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        if (mtime > updated)
                updated = mtime;
        int64_t total = 0;
        _cleanup_free_ char *totalpath = xasprintf("%s/total", path), *totals = NULL;
        if (read_file(totalpath, &totals, NULL, 64, NULL) == 0) {
                char *end;
                long long v = strtoll(totals, &end, 10);
                if (end != totals && *end == '\0' && v > 0)
                        total = v;
        }
        *ret = (content_status) {
                .ref = TAKE_PTR(ref),
                .offset = st.st_size,
                .total = total,
                .started_at = started,
                .updated_at = updated,
        };
        return 0;
}

int content_status_get(content_store *s, const char *ref, content_status *ret, berr **err) {
        _cleanup_free_ char *path = content_ingest_path(s, ref);
        return content_ingest_status(path, ret, err);
}

int content_list_statuses(content_store *s, content_status **ret, size_t *ret_n, berr **err) {
        DIR *d = opendir(s->ingest_dir);
        if (!d)
                return berr_errno(err, errno, "open %s", s->ingest_dir);
        content_status *list = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", s->ingest_dir, de->d_name);
                content_status st;
                berr *e = NULL;
                if (content_ingest_status(path, &st, &e) < 0) {
                        /* Being committed or aborted meanwhile, or half-created: not an active ingest. */
                        log_debug("skipping ingest %s: %s", path, e->msg);
                        berr_free(e);
                        continue;
                }
                list = xrealloc(list, (n + 1) * sizeof *list);
                list[n++] = st;
        }
        closedir(d);
        *ret = list;
        *ret_n = n;
        return 0;
}

int content_abort(content_store *s, const char *ref, berr **err) {
        _cleanup_free_ char *path = content_ingest_path(s, ref);
        struct stat st;
        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "ingest ref \"%s\": not found", ref);
                return berr_errno(err, errno, "stat %s", path);
        }
        if (rm_rf(path, err) < 0)
                return berr_wrap(err, "abort ingest ref \"%s\"", ref);
        return 0;
}
