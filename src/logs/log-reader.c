/* Reading a container's log files in order (oldest rotated file first), tail N, and following: an inotify
 * watch on the directory says when to look again. Rotation while following is noticed by the name
 * <id>-json.log no longer naming the file we hold; that file is read to its end (the writer renames only
 * after its last write), then the reader moves to the file that came after it, found by inode, so even a
 * reader that fell several rotations behind continues with the oldest file it has not read. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "logs/logs.h"

/* Longer lines are not records berth writes (16 KiB of text escapes to at most ~100 KiB); they are skipped. */
#define LOG_LINE_MAX (1024 * 1024)
#define LOG_READ_CHUNK (64 * 1024)

typedef struct log_file {
        int fd;
        ino_t ino;
} log_file;

struct log_reader {
        int dirfd;
        char *id;
        char *current_name;
        log_file *files; /* opened at open time, oldest first; files[cur] is being read */
        size_t n_files, cur;
        char *buf;
        size_t start, end, cap;
        bool skipping; /* inside an overlong line */
        int inotify_fd;
        json_t *entry; /* backs the last returned log_entry */
};

static void files_close(log_file *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(f[i].fd);
}

log_reader *log_reader_free(log_reader *r) {
        if (!r)
                return NULL;
        files_close(r->files, r->n_files);
        free(r->files);
        safe_close(r->dirfd);
        safe_close(r->inotify_fd);
        json_decref(r->entry);
        free(r->buf);
        free(r->id);
        free(r->current_name);
        free(r);
        return NULL;
}

typedef struct name_ino {
        unsigned index; /* 0 = current */
        ino_t ino;
} name_ino;

static int cmp_oldest_first(const void *a, const void *b) {
        unsigned x = ((const name_ino *) a)->index, y = ((const name_ino *) b)->index;
        return x < y ? 1 : x > y ? -1 : 0;
}

/* The log files present now, oldest first. */
static int list_files(log_reader *r, name_ino **ret, size_t *ret_n, berr **err) {
        int fd = dup(r->dirfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                safe_close(fd);
                return berr_errno(err, errno, "cannot list the log directory");
        }
        rewinddir(d);
        size_t plen = strlen(r->current_name), n = 0;
        name_ino *v = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, r->current_name, plen) != 0)
                        continue;
                unsigned long k = 0;
                if (de->d_name[plen] == '.') {
                        char *end;
                        const char *num = de->d_name + plen + 1;
                        k = strtoul(num, &end, 10);
                        if (*num < '1' || *num > '9' || *end || k > 100000)
                                continue;
                } else if (de->d_name[plen] != 0)
                        continue;
                struct stat st;
                if (fstatat(r->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                v = xrealloc(v, (n + 1) * sizeof *v);
                v[n++] = (name_ino) { .index = (unsigned) k, .ino = st.st_ino };
        }
        closedir(d);
        if (n > 1)
                qsort(v, n, sizeof *v, cmp_oldest_first);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Opens the file listed as (index, ino); -1 with errno ESTALE if the name now names another file. */
static int open_listed(log_reader *r, const name_ino *f) {
        _cleanup_free_ char *name = log_file_name(r->id, f->index);
        int fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -1;
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_ino != f->ino) {
                safe_close(fd);
                errno = ESTALE;
                return -1;
        }
        return fd;
}

/* Opens every listed file; a rotation racing with us shows up as ENOENT/ESTALE, and we list again. */
static int open_all(log_reader *r, berr **err) {
        for (int attempt = 0; attempt < 10; attempt++) {
                _cleanup_free_ name_ino *list = NULL;
                size_t n;
                if (list_files(r, &list, &n, err) < 0)
                        return -1;
                log_file *files = xcalloc(n ? n : 1, sizeof *files);
                size_t i;
                for (i = 0; i < n; i++) {
                        files[i] = (log_file) { .fd = open_listed(r, &list[i]), .ino = list[i].ino };
                        if (files[i].fd < 0)
                                break;
                }
                if (i == n) {
                        r->files = files;
                        r->n_files = n;
                        return 0;
                }
                int e = errno;
                files_close(files, i);
                free(files);
                if (e != ENOENT && e != ESTALE)
                        return berr_errno(err, e, "cannot open log file");
        }
        return berr_set(err, BERR_UNAVAILABLE, EAGAIN, "log files keep rotating while being opened");
}

/* Positions the reader at the start of the last `tail` complete lines, counting back across files. */
static int seek_tail(log_reader *r, int64_t tail, berr **err) {
        char chunk[8192];
        int64_t need = tail;
        for (size_t f = r->n_files; f-- > 0;) {
                struct stat st;
                if (fstat(r->files[f].fd, &st) < 0)
                        return berr_errno(err, errno, "cannot stat log file");
                off_t pos = st.st_size, start = -1;
                bool seen_last_newline = false; /* bytes after the last newline are an unfinished line */
                while (pos > 0 && start < 0) {
                        size_t len = pos < (off_t) sizeof chunk ? (size_t) pos : sizeof chunk;
                        pos -= (off_t) len;
                        ssize_t n = pread(r->files[f].fd, chunk, len, pos);
                        if (n != (ssize_t) len)
                                return berr_errno(err, n < 0 ? errno : EIO, "cannot read log file");
                        for (size_t i = len; i-- > 0;) {
                                if (chunk[i] != '\n')
                                        continue;
                                if (!seen_last_newline) {
                                        seen_last_newline = true;
                                        if (need == 0) {
                                                start = pos + (off_t) i + 1;
                                                break;
                                        }
                                        continue;
                                }
                                if (--need == 0) {
                                        start = pos + (off_t) i + 1;
                                        break;
                                }
                        }
                }
                if (start < 0 && seen_last_newline && need > 0)
                        need--; /* the file's first line */
                if (start >= 0 || need == 0 || f == 0) {
                        if (start < 0)
                                start = 0;
                        files_close(r->files, f);
                        memmove(r->files, r->files + f, (r->n_files - f) * sizeof *r->files);
                        r->n_files -= f;
                        r->cur = 0;
                        if (lseek(r->files[0].fd, start, SEEK_SET) < 0)
                                return berr_errno(err, errno, "cannot seek log file");
                        return 0;
                }
        }
        return 0;
}

int log_reader_open(const char *dir, const char *id, int64_t tail, log_reader **ret, berr **err) {
        log_reader *r = xcalloc(1, sizeof *r);
        r->inotify_fd = -1;
        r->id = xstrdup(id);
        r->current_name = log_file_name(id, 0);
        r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->dirfd < 0) {
                berr_errno(err, errno, "cannot open log directory %s", dir);
                log_reader_free(r);
                return -1;
        }
        r->cap = LOG_READ_CHUNK * 2;
        r->buf = xmalloc(r->cap);
        if (open_all(r, err) < 0 || (tail >= 0 && r->n_files > 0 && seek_tail(r, tail, err) < 0)) {
                log_reader_free(r);
                return -1;
        }
        *ret = r;
        return 0;
}

int log_reader_follow(log_reader *r, berr **err) {
        if (r->inotify_fd >= 0)
                return 0;
        r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (r->inotify_fd < 0)
                return berr_errno(err, errno, "inotify_init1");
        _cleanup_free_ char *path = xasprintf("/proc/self/fd/%d", r->dirfd);
        if (inotify_add_watch(r->inotify_fd, path,
                              IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE) < 0) {
                r->inotify_fd = safe_close(r->inotify_fd);
                return berr_errno(err, errno, "cannot watch the log directory");
        }
        return 0;
}

int log_reader_fd(const log_reader *r) {
        return r->inotify_fd;
}

static void drain_inotify(log_reader *r) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(r->inotify_fd, buf, sizeof buf) > 0)
                ;
}

static bool have_file(const log_reader *r) {
        return r->cur < r->n_files;
}

/* Reads more of the current file into the buffer. Returns bytes read, 0 at EOF, -1 on error. */
static ssize_t fill(log_reader *r, berr **err) {
        if (!have_file(r))
                return 0;
        if (r->start > 0) {
                memmove(r->buf, r->buf + r->start, r->end - r->start);
                r->end -= r->start;
                r->start = 0;
        }
        if (r->cap - r->end < LOG_READ_CHUNK) {
                r->cap = r->end + LOG_READ_CHUNK;
                r->buf = xrealloc(r->buf, r->cap);
        }
        ssize_t n = read(r->files[r->cur].fd, r->buf + r->end, r->cap - r->end);
        if (n < 0)
                return berr_errno(err, errno, "cannot read log file");
        r->end += (size_t) n;
        return n;
}

static void switch_to(log_reader *r, int fd, ino_t ino) {
        if (have_file(r)) {
                safe_close(r->files[r->cur].fd);
                r->files[r->cur] = (log_file) { .fd = fd, .ino = ino };
        } else {
                r->files = xrealloc(r->files, (r->n_files + 1) * sizeof *r->files);
                r->files[r->n_files++] = (log_file) { .fd = fd, .ino = ino };
                r->cur = r->n_files - 1;
        }
        /* A file never ends inside a line unless its writer died there; such a fragment is dropped. */
        r->start = r->end = 0;
        r->skipping = false;
}

/* Has the file we hold been rotated away (renamed or removed)? */
static bool rotated(log_reader *r) {
        if (!have_file(r))
                return true;
        struct stat st;
        if (fstatat(r->dirfd, r->current_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return true;
        return st.st_ino != r->files[r->cur].ino;
}

/* Moves to the file written after ours. 1 if switched, 0 if it does not exist yet. */
static int switch_next(log_reader *r, berr **err) {
        for (int attempt = 0; attempt < 10; attempt++) {
                _cleanup_free_ name_ino *list = NULL;
                size_t n, next = 0;
                if (list_files(r, &list, &n, err) < 0)
                        return -1;
                if (have_file(r))
                        for (size_t i = 0; i < n; i++)
                                if (list[i].ino == r->files[r->cur].ino) {
                                        next = i + 1;
                                        break;
                                }
                /* Not found: ours was deleted (we fell behind, or max-files is 1), so every file listed is
                 * newer and the oldest comes next. */
                if (next >= n)
                        return 0;
                int fd = open_listed(r, &list[next]);
                if (fd >= 0) {
                        switch_to(r, fd, list[next].ino);
                        return 1;
                }
                if (errno != ENOENT && errno != ESTALE)
                        return berr_errno(err, errno, "cannot open log file");
        }
        return 0;
}

static int parse_line(log_reader *r, const char *line, size_t len, log_entry *ret) {
        json_t *j = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
        json_t *log = json_object_get(j, "log");
        const char *stream = json_string_value(json_object_get(j, "stream"));
        const char *time = json_string_value(json_object_get(j, "time"));
        int64_t t = 0;
        if (!json_is_string(log) || !stream || (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) ||
            (time && log_time_parse(time, &t) < 0)) {
                json_decref(j);
                return 0;
        }
        json_decref(r->entry);
        r->entry = j;
        size_t n = json_string_length(log);
        const char *text = json_string_value(log);
        *ret = (log_entry) {
                .stream = strcmp(stream, "stderr") == 0 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT,
                .time_ns = t,
                .text = text,
                .len = n,
                .partial = n == 0 || text[n - 1] != '\n',
        };
        return 1;
}

int log_reader_next(log_reader *r, log_entry *ret, berr **err) {
        for (;;) {
                char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
                if (nl) {
                        const char *line = r->buf + r->start;
                        size_t len = (size_t) (nl - line);
                        r->start += len + 1;
                        if (r->skipping) {
                                r->skipping = false;
                                continue;
                        }
                        if (parse_line(r, line, len, ret))
                                return 1;
                        continue;
                }
                if (r->end - r->start >= LOG_LINE_MAX) {
                        r->start = r->end = 0;
                        r->skipping = true;
                }
                ssize_t n = fill(r, err);
                if (n < 0)
                        return -1;
                if (n > 0)
                        continue;
                /* End of the file we are reading. */
                if (r->cur + 1 < r->n_files) {
                        safe_close(r->files[r->cur].fd);
                        r->cur++;
                        r->start = r->end = 0;
                        r->skipping = false;
                        continue;
                }
                if (r->inotify_fd < 0)
                        return 0;
                /* Following. Events are drained before looking, so a write after this look wakes the caller. */
                drain_inotify(r);
                if ((n = fill(r, err)) != 0) {
                        if (n < 0)
                                return -1;
                        continue;
                }
                if (!rotated(r))
                        return 0;
                /* The writer's last bytes to a file precede its rename: read them, then move on. */
                if ((n = fill(r, err)) != 0) {
                        if (n < 0)
                                return -1;
                        continue;
                }
                int s = switch_next(r, err);
                if (s <= 0)
                        return s;
        }
}
