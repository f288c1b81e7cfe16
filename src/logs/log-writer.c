/* The log writer: turns stream bytes into records (one per line, long lines split at LOG_RECORD_MAX), batches
 * them into few write()s, and rotates by size between records: <id>-json.log -> .1 -> .2 ..., the oldest
 * dropped. fsync policy: a file is fdatasync'ed before it is rotated away and at close; the owner may call
 * log_writer_sync() on idle (berth-logger does every few seconds), so a crash loses seconds, not files. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "logs/logs.h"
#include "basic/fileio.h"
#include "basic/topdir.h"

/* Encoded records are written once this much is pending, or at the end of each feed. */
#define LOG_WRITE_BATCH (64 * 1024)

struct log_writer {
        int dirfd;
        int fd;
        char *id;
        log_opts opts;
        int64_t size; /* bytes in the current file */
        char held[_LOG_STREAM_MAX][LOG_RECORD_MAX];
        size_t held_len[_LOG_STREAM_MAX];
        char *out;
        size_t out_len, out_cap;
};

int64_t log_writer_size(const log_writer *w) {
        return w->size + (int64_t) w->out_len;
}

static int open_current(log_writer *w, berr **err) {
        _cleanup_free_ char *name = log_file_name(w->id, 0);
        w->fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (w->fd < 0)
                return berr_errno(err, errno, "cannot open log file %s", name);
        struct stat st;
        if (fstat(w->fd, &st) < 0)
                return berr_errno(err, errno, "cannot stat log file %s", name);
        w->size = st.st_size;
        return 0;
}

/* A smaller max-files than last time: the surplus rotated files go, so at most max_files remain. */
static void remove_surplus(log_writer *w) {
        int fd = dup(w->dirfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                safe_close(fd);
                return;
        }
        _cleanup_free_ char *prefix = log_file_name(w->id, 0);
        size_t plen = strlen(prefix);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[plen] != '.')
                        continue;
                char *end;
                unsigned long k = strtoul(de->d_name + plen + 1, &end, 10);
                if (*end == 0 && k >= w->opts.max_files)
                        (void) unlinkat(w->dirfd, de->d_name, 0);
        }
        closedir(d);
}

int log_writer_open(const char *dir, const char *id, const log_opts *o, log_writer **ret, berr **err) {
        if (log_opts_validate(o, err) < 0)
                return -1;
        if (mkdir_p(dir, 0711, err) < 0)
                return -1;
        /* The namespace's directory of log dirs: each container's in a block group of its own (basic/topdir.h). */
        _cleanup_free_ char *parent = xstrdup(dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = '\0';
                dir_mark_topdir(parent);
        }
        log_writer *w = xcalloc(1, sizeof *w);
        w->fd = -1;
        w->id = xstrdup(id);
        w->opts = *o;
        w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dirfd < 0) {
                berr_errno(err, errno, "cannot open log directory %s", dir);
                log_writer_close(w, 0, NULL);
                return -1;
        }
        remove_surplus(w);
        if (open_current(w, err) < 0) {
                log_writer_close(w, 0, NULL);
                return -1;
        }
        *ret = w;
        return 0;
}

static int rotate(log_writer *w, berr **err) {
        (void) fdatasync(w->fd);
        w->fd = safe_close(w->fd);
        /* Renames keep the inode, so a follower holding the old file reads it to its end and moves on. */
        for (unsigned k = w->opts.max_files - 1; k >= 1; k--) {
                _cleanup_free_ char *from = log_file_name(w->id, k - 1), *to = log_file_name(w->id, k);
                if (renameat(w->dirfd, from, w->dirfd, to) < 0 && errno != ENOENT)
                        return berr_errno(err, errno, "cannot rotate log file %s", from);
        }
        if (w->opts.max_files == 1) {
                _cleanup_free_ char *cur = log_file_name(w->id, 0);
                if (unlinkat(w->dirfd, cur, 0) < 0 && errno != ENOENT)
                        return berr_errno(err, errno, "cannot remove log file %s", cur);
        }
        if (open_current(w, err) < 0)
                return -1;
        (void) fsync(w->dirfd);
        return 0;
}

static int write_out(log_writer *w, size_t n, berr **err) {
        if (n == 0)
                return 0;
        if (w->fd < 0 && open_current(w, err) < 0)
                return -1;
        int r = write_all(w->fd, w->out, n);
        int e = errno;
        /* Consumed either way: on a full disk the records are dropped rather than piling up in memory. */
        memmove(w->out, w->out + n, w->out_len - n);
        w->out_len -= n;
        if (r < 0)
                return berr_errno(err, e, "cannot write log file");
        w->size += (int64_t) n;
        return 0;
}

static int emit(log_writer *w, log_stream s, const char *text, size_t len, int64_t time_ns, berr **err) {
        size_t before = w->out_len;
        log_record_encode(&w->out, &w->out_len, &w->out_cap, s, text, len, time_ns);
        size_t reclen = w->out_len - before;
        int64_t used = w->size + (int64_t) before;
        if (w->opts.max_size > 0 && used > 0 && used + (int64_t) reclen > w->opts.max_size) {
                /* What came before goes to the old file, this record starts the new one. */
                if (write_out(w, before, err) < 0 || rotate(w, err) < 0)
                        return -1;
        }
        if (w->out_len >= LOG_WRITE_BATCH)
                return write_out(w, w->out_len, err);
        return 0;
}

int log_writer_feed(log_writer *w, log_stream s, const void *data, size_t len, int64_t time_ns, berr **err) {
        const char *p = data;
        int r = 0;
        while (len > 0) {
                size_t room = LOG_RECORD_MAX - w->held_len[s];
                size_t span = len < room ? len : room;
                const char *nl = memchr(p, '\n', span);
                size_t take = nl ? (size_t) (nl - p) + 1 : span;
                if (w->held_len[s] == 0 && nl) {
                        /* The common case: a whole line in the input, no copy. */
                        if (emit(w, s, p, take, time_ns, err) < 0)
                                r = -1;
                } else {
                        memcpy(w->held[s] + w->held_len[s], p, take);
                        w->held_len[s] += take;
                        if (nl || w->held_len[s] == LOG_RECORD_MAX) {
                                if (emit(w, s, w->held[s], w->held_len[s], time_ns, err) < 0)
                                        r = -1;
                                w->held_len[s] = 0;
                        }
                }
                p += take;
                len -= take;
        }
        if (write_out(w, w->out_len, err) < 0)
                r = -1;
        return r;
}

int log_writer_flush_stream(log_writer *w, log_stream s, int64_t time_ns, berr **err) {
        int r = 0;
        if (w->held_len[s] > 0 && emit(w, s, w->held[s], w->held_len[s], time_ns, err) < 0)
                r = -1;
        w->held_len[s] = 0;
        if (write_out(w, w->out_len, err) < 0)
                r = -1;
        return r;
}

int log_writer_sync(log_writer *w, berr **err) {
        if (w->fd >= 0 && fdatasync(w->fd) < 0)
                return berr_errno(err, errno, "cannot sync log file");
        return 0;
}

int log_writer_close(log_writer *w, int64_t time_ns, berr **err) {
        if (!w)
                return 0;
        int r = 0;
        if (w->dirfd >= 0) {
                for (log_stream s = 0; s < _LOG_STREAM_MAX; s++)
                        if (log_writer_flush_stream(w, s, time_ns, err) < 0)
                                r = -1;
                if (log_writer_sync(w, r < 0 ? NULL : err) < 0)
                        r = -1;
        }
        safe_close(w->fd);
        safe_close(w->dirfd);
        free(w->out);
        free(w->id);
        free(w);
        return r;
}
