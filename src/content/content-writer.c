/* Resumable, verified writes into the content store (containerd's content/local writer). The lock is an flock on
 * the ingest directory: it excludes a second writer in this process (flock belongs to the open file description)
 * as well as in any other process, and it vanishes with a SIGKILLed writer, so the next open resumes. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "content/content-internal.h"

struct content_writer {
        content_store *store;
        char *ref;
        char *path;  /* ingest directory */
        int dirfd;   /* holds the flock */
        int datafd;  /* -1 once committed or closed */
        int64_t offset, total, started_at, updated_at;
        int64_t writeback_from; /* bytes before this were handed to writeback already */
        digester *digester;
};

/* Start writeback every this many bytes, so the fsync at commit has only the tail left to wait for (it runs in
 * the pull's download thread: a 25 MB layer otherwise stalls every download for the whole flush). */
#define WRITEBACK_CHUNK (8 << 20)

static int lock_ingest_dir(const char *path, const char *ref, int *ret_fd, bool *ret_created, berr **err) {
        /* The directory can be removed (commit or abort by someone else) between mkdir and flock; then the
         * locked fd points at a deleted directory, so check and start over. */
        for (int attempt = 0; attempt < 8; attempt++) {
                bool created = mkdir(path, 0755) == 0;
                if (!created && errno != EEXIST)
                        return berr_errno(err, errno, "create ingest directory %s", path);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue;
                        return berr_errno(err, errno, "open %s", path);
                }
                if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                        if (errno == EWOULDBLOCK)
                                return berr_set(err, BERR_UNAVAILABLE, EAGAIN, "ref %s locked: unavailable", ref);
                        return berr_errno(err, errno, "lock %s", path);
                }
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return berr_errno(err, errno, "stat %s", path);
                if (st.st_nlink == 0)
                        continue;
                *ret_fd = TAKE_FD(fd);
                *ret_created = created;
                return 0;
        }
        return berr_set(err, BERR_UNAVAILABLE, EAGAIN, "ref %s: ingest directory keeps disappearing: unavailable",
                        ref);
}

/* Picks up an existing ingest: same ref, compatible total; re-hashes the bytes on disk. Returns 0 if resumed,
 * 1 if the ingest must be recreated (logged, as containerd does), -1 on a hard error. */
static int try_resume(content_writer *w, int64_t total, berr **err) {
        content_status st = { 0 };
        _cleanup_berr_ berr *e = NULL;
        if (content_ingest_status(w->path, &st, &e) < 0) {
                log_info("failed to resume the status from path %s: %s. will recreate them", w->path, e->msg);
                return 1;
        }
        int r = 1;
        if (strcmp(st.ref, w->ref) != 0)
                log_warn("ingest %s: ref key does not match: %s != %s, recreating", w->path, w->ref, st.ref);
        else if (total > 0 && st.total > 0 && total != st.total)
                log_info("ingest %s: provided total differs from status: %" PRId64 " != %" PRId64 ", recreating",
                         w->path, total, st.total);
        else
                r = 0;
        if (r == 0) {
                _cleanup_close_ int fd = openat(w->dirfd, "data", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || digester_update_from_fd(w->digester, fd) < 0) {
                        content_status_done(&st);
                        return berr_errno(err, errno, "re-hash ingest %s", w->path);
                }
                w->offset = (int64_t) digester_size(w->digester);
                w->total = st.total;
                w->started_at = st.started_at;
                w->updated_at = st.updated_at;
        }
        content_status_done(&st);
        return r;
}

static int create_ingest(content_writer *w, int64_t total, berr **err) {
        w->started_at = w->updated_at = content_now_ns();
        w->total = total > 0 ? total : 0;
        w->offset = 0;
        digester_reset(w->digester);
        if (write_file_atomic_at(w->dirfd, "ref", w->ref, strlen(w->ref), 0666, err) < 0 ||
            content_timestamp_write(w->dirfd, "startedat", w->started_at, err) < 0 ||
            content_timestamp_write(w->dirfd, "updatedat", w->updated_at, err) < 0)
                return berr_wrap(err, "ingest %s", w->path);
        if (total > 0) {
                char buf[32];
                int n = snprintf(buf, sizeof buf, "%" PRId64, total);
                if (write_file_atomic_at(w->dirfd, "total", buf, (size_t) n, 0666, err) < 0)
                        return berr_wrap(err, "ingest %s", w->path);
        } else if (unlinkat(w->dirfd, "total", 0) < 0 && errno != ENOENT)
                return berr_errno(err, errno, "remove %s/total", w->path);
        return 0;
}

int content_writer_open(content_store *s, const char *ref, int64_t total, const char *expected,
                        content_writer **ret, berr **err) {
        if (!ref || !*ref)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "ref must not be empty: invalid argument");
        if (expected && *expected) {
                content_info info;
                _cleanup_berr_ berr *e = NULL;
                if (content_info_get(s, expected, &info, &e) == 0)
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "content %s: already exists", expected);
                if (e->code != BERR_NOT_FOUND) {
                        *err = TAKE_PTR(e);
                        return -1;
                }
        }
        content_writer *w = xcalloc(1, sizeof *w);
        *w = (content_writer) {
                .store = s,
                .ref = xstrdup(ref),
                .path = content_ingest_path(s, ref),
                .dirfd = -1,
                .datafd = -1,
                .digester = digester_new(),
        };
        bool created = false;
        if (lock_ingest_dir(w->path, ref, &w->dirfd, &created, err) < 0)
                goto fail;
        int r = created ? 1 : try_resume(w, total, err);
        if (r < 0)
                goto fail;
        if (r > 0 && create_ingest(w, total, err) < 0)
                goto fail;
        w->datafd = openat(w->dirfd, "data", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (w->datafd < 0) {
                berr_errno(err, errno, "failed to open data file %s/data", w->path);
                goto fail;
        }
        /* A fresh ingest over leftovers (a broken status) starts from zero bytes. */
        if (r > 0 && ftruncate(w->datafd, 0) < 0) {
                berr_errno(err, errno, "truncate %s/data", w->path);
                goto fail;
        }
        *ret = w;
        return 0;
fail:
        w->datafd = safe_close(w->datafd);
        content_writer_close(w);
        return -1;
}

content_writer *content_writer_close(content_writer *w) {
        if (!w)
                return NULL;
        if (w->datafd >= 0) {
                (void) fsync(w->datafd);
                w->datafd = safe_close(w->datafd);
                berr *e = NULL;
                if (content_timestamp_write(w->dirfd, "updatedat", w->updated_at, &e) < 0) {
                        /* Aborted meanwhile, most likely. */
                        log_debug("ingest %s: %s", w->path, e->msg);
                        berr_free(e);
                }
        }
        safe_close(w->dirfd);
        digester_free(w->digester);
        free(w->ref);
        free(w->path);
        free(w);
        return NULL;
}

static int check_open(content_writer *w, berr **err) {
        if (w->datafd < 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, EBADF,
                                "writer for ref %s is closed: failed precondition", w->ref);
        return 0;
}

int content_writer_write(content_writer *w, const void *buf, size_t len, berr **err) {
        if (check_open(w, err) < 0)
                return -1;
        size_t done = 0;
        while (done < len) {
                ssize_t n = pwrite(w->datafd, (const char *) buf + done, len - done, (off_t) (w->offset + (int64_t) done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* Keep offset and digest consistent with what reached the file. */
                        digester_update(w->digester, buf, done);
                        w->offset += (int64_t) done;
                        return berr_errno(err, errno, "write ingest %s", w->ref);
                }
                done += (size_t) n;
        }
        digester_update(w->digester, buf, len);
        w->offset += (int64_t) len;
        w->updated_at = content_now_ns();
        if (w->offset - w->writeback_from >= WRITEBACK_CHUNK) {
                /* Asynchronous (no wait for completion); a failure only means commit's fsync does it all. */
                (void) sync_file_range(w->datafd, w->writeback_from, w->offset - w->writeback_from,
                                       SYNC_FILE_RANGE_WRITE);
                w->writeback_from = w->offset;
        }
        return 0;
}

int content_writer_truncate(content_writer *w, int64_t size, berr **err) {
        if (check_open(w, err) < 0)
                return -1;
        if (size != 0)
                return berr_set(err, BERR_UNKNOWN, EINVAL, "Truncate: unsupported size");
        if (ftruncate(w->datafd, 0) < 0)
                return berr_errno(err, errno, "truncate ingest %s", w->ref);
        digester_reset(w->digester);
        w->offset = w->writeback_from = 0;
        w->updated_at = content_now_ns();
        return 0;
}

int content_writer_write_at(content_writer *w, int64_t offset, const void *buf, size_t len, berr **err) {
        if (check_open(w, err) < 0)
                return -1;
        if (offset > 0 && offset != w->offset)
                return berr_set(err, BERR_OUT_OF_RANGE, ERANGE, "write @%" PRId64 " must occur at current offset %" PRId64,
                                offset, w->offset);
        if (offset == 0 && w->offset > 0 && content_writer_truncate(w, 0, err) < 0)
                return -1;
        return content_writer_write(w, buf, len, err);
}

int64_t content_writer_offset(const content_writer *w) {
        return w->offset;
}

void content_writer_status(const content_writer *w, content_status *ret) {
        *ret = (content_status) {
                .ref = xstrdup(w->ref),
                .offset = w->offset,
                .total = w->total,
                .started_at = w->started_at,
                .updated_at = w->updated_at,
        };
}

void content_writer_digest(const content_writer *w, char ret[DIGEST_STRING_MAX]) {
        digester_digest(w->digester, ret);
}

static int publish(content_writer *w, const char *digest, mode_t mode, berr **err) {
        content_store *s = w->store;
        const char *hex = digest + 7;
        _cleanup_close_ int blobsfd = open(s->blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (blobsfd < 0)
                return berr_errno(err, errno, "open %s", s->blobs_dir);
        struct stat st;
        bool exists = fstatat(blobsfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (!exists) {
                if (renameat2(w->dirfd, "data", blobsfd, hex, RENAME_NOREPLACE) == 0)
                        ;
                else if (errno == EEXIST)
                        exists = true;
                else if (errno == EINVAL && renameat(w->dirfd, "data", blobsfd, hex) == 0)
                        ; /* a filesystem without RENAME_NOREPLACE */
                else
                        return berr_errno(err, errno, "rename ingest %s into %s", w->ref, s->blobs_dir);
        }
        if (exists) {
                berr *e = NULL;
                if (rm_rf(w->path, &e) < 0) {
                        log_warn("failed to remove ingest directory %s: %s", w->path, e->msg);
                        berr_free(e);
                }
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "content %s: already exists", digest);
        }
        if (fsync(blobsfd) < 0)
                return berr_errno(err, errno, "sync %s", s->blobs_dir);
        /* From here the blob is published; the rest is best effort, as in containerd. */
        if (utimensat(blobsfd, hex, NULL, AT_SYMLINK_NOFOLLOW) < 0)
                log_warn("failed to change file time of %s to commit time: %m", digest);
        if (fchmodat(blobsfd, hex, mode & 0777 & ~0333, 0) < 0)
                log_warn("failed to make %s read-only: %m", digest);
        berr *e = NULL;
        if (rm_rf(w->path, &e) < 0) {
                log_warn("failed to remove ingest directory %s: %s", w->path, e->msg);
                berr_free(e);
        }
        return 0;
}

int content_writer_commit(content_writer *w, int64_t size, const char *expected, char ret_digest[DIGEST_STRING_MAX],
                          berr **err) {
        if (w->datafd < 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, EBADF,
                                "cannot commit on closed writer: failed precondition");
        /* Closed whatever happens below; the ingest stays for Status/Abort unless it was published. */
        _cleanup_close_ int fd = TAKE_FD(w->datafd);
        int r = -1;
        struct stat st;
        char digest[DIGEST_STRING_MAX];
        if (expected && *expected && digest_parse(expected, NULL, err) < 0)
                goto out;
        if (fsync(fd) < 0) {
                berr_errno(err, errno, "sync failed");
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                berr_errno(err, errno, "stat on ingest file failed");
                goto out;
        }
        if (size > 0 && size != st.st_size) {
                berr_set(err, BERR_FAILED_PRECONDITION, EINVAL,
                         "unexpected commit size %" PRId64 ", expected %" PRId64 ": failed precondition",
                         (int64_t) st.st_size, size);
                goto out;
        }
        digester_digest(w->digester, digest);
        if ((int64_t) digester_size(w->digester) != (int64_t) st.st_size) {
                /* Someone else wrote into the file behind our back: refuse rather than publish unverified bytes. */
                berr_set(err, BERR_FAILED_PRECONDITION, EIO,
                         "ingest %s changed on disk (%" PRId64 " bytes hashed, %" PRId64 " on disk): failed precondition",
                         w->ref, (int64_t) digester_size(w->digester), (int64_t) st.st_size);
                goto out;
        }
        if (expected && *expected && strcmp(expected, digest) != 0) {
                berr_set(err, BERR_FAILED_PRECONDITION, EINVAL,
                         "unexpected commit digest %s, expected %s: failed precondition", digest, expected);
                goto out;
        }
        r = publish(w, digest, st.st_mode, err);
        if (r == 0 && ret_digest)
                memcpy(ret_digest, digest, DIGEST_STRING_MAX);
out:
        /* Release the lock now: a committed writer must not block the next writer of the same ref. */
        w->dirfd = safe_close(w->dirfd);
        return r;
}
