/* libarchive, loaded with dlopen on first use. berthd is not linked against libarchive: this file defines the
 * libarchive functions the image code calls, each forwarding to the real one in the library loaded on demand. The
 * call sites keep libarchive's documented API, and the compiler checks every definition here against archive.h's
 * and archive_entry.h's prototypes. archive_lib_load() is the one place that reports a load failure; the other
 * definitions are only reached with an archive made after it succeeded. */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>

#include "basic/lazy-lib.h"
#include "basic/macro.h"
#include "images/archive-lib.h"

/* libarchive's ABI has been .so.13 since 3.0 (2011). */
#define ARCHIVE_SONAME "libarchive.so.13"

typedef struct archive A;
typedef struct archive_entry E;

/* X(return type, name, parameters, arguments) for the functions forwarded as they are; V(...) for those returning
 * void. archive_set_error (printf-like) is written out below. */
#define ARCHIVE_FUNCTIONS(X, V)                                                                                  \
        X(A *, archive_read_new, (void), ())                                                                     \
        X(int, archive_read_support_format_tar, (A * a), (a))                                                    \
        X(int, archive_read_support_format_gnutar, (A * a), (a))                                                 \
        X(int, archive_read_support_format_empty, (A * a), (a))                                                  \
        X(int, archive_read_support_filter_gzip, (A * a), (a))                                                   \
        X(int, archive_read_support_filter_zstd, (A * a), (a))                                                   \
        X(int, archive_read_open,                                                                                \
          (A * a, void *data, archive_open_callback *open, archive_read_callback *read,                          \
           archive_close_callback *close),                                                                       \
          (a, data, open, read, close))                                                                          \
        X(int, archive_read_open_fd, (A * a, int fd, size_t block_size), (a, fd, block_size))                    \
        X(int, archive_read_next_header, (A * a, E * *entry), (a, entry))                                        \
        X(la_ssize_t, archive_read_data, (A * a, void *buf, size_t size), (a, buf, size))                        \
        X(int, archive_read_data_block, (A * a, const void **buf, size_t *size, la_int64_t *offset),             \
          (a, buf, size, offset))                                                                                \
        X(int, archive_read_free, (A * a), (a))                                                                  \
        X(A *, archive_write_new, (void), ())                                                                    \
        X(int, archive_write_set_format_pax_restricted, (A * a), (a))                                            \
        X(int, archive_write_set_bytes_in_last_block, (A * a, int bytes), (a, bytes))                            \
        X(int, archive_write_open_fd, (A * a, int fd), (a, fd))                                                  \
        X(int, archive_write_header, (A * a, E * e), (a, e))                                                     \
        X(la_ssize_t, archive_write_data, (A * a, const void *buf, size_t size), (a, buf, size))                 \
        X(int, archive_write_close, (A * a), (a))                                                                \
        X(int, archive_write_free, (A * a), (a))                                                                 \
        X(int, archive_errno, (A * a), (a))                                                                      \
        X(const char *, archive_error_string, (A * a), (a))                                                      \
        X(E *, archive_entry_new, (void), ())                                                                    \
        V(archive_entry_free, (E * e), (e))                                                                      \
        X(const char *, archive_entry_pathname, (E * e), (e))                                                    \
        X(const char *, archive_entry_pathname_utf8, (E * e), (e))                                               \
        X(const char *, archive_entry_hardlink, (E * e), (e))                                                    \
        X(const char *, archive_entry_hardlink_utf8, (E * e), (e))                                               \
        X(const char *, archive_entry_symlink, (E * e), (e))                                                     \
        X(const char *, archive_entry_symlink_utf8, (E * e), (e))                                                \
        X(__LA_MODE_T, archive_entry_filetype, (E * e), (e))                                                     \
        X(__LA_MODE_T, archive_entry_perm, (E * e), (e))                                                         \
        X(la_int64_t, archive_entry_uid, (E * e), (e))                                                           \
        X(la_int64_t, archive_entry_gid, (E * e), (e))                                                           \
        X(la_int64_t, archive_entry_size, (E * e), (e))                                                          \
        X(dev_t, archive_entry_rdevmajor, (E * e), (e))                                                          \
        X(dev_t, archive_entry_rdevminor, (E * e), (e))                                                          \
        X(time_t, archive_entry_atime, (E * e), (e))                                                             \
        X(long, archive_entry_atime_nsec, (E * e), (e))                                                          \
        X(int, archive_entry_atime_is_set, (E * e), (e))                                                         \
        X(time_t, archive_entry_mtime, (E * e), (e))                                                             \
        X(long, archive_entry_mtime_nsec, (E * e), (e))                                                          \
        X(int, archive_entry_xattr_reset, (E * e), (e))                                                          \
        X(int, archive_entry_xattr_next, (E * e, const char **name, const void **value, size_t *size),           \
          (e, name, value, size))                                                                                \
        V(archive_entry_set_pathname, (E * e, const char *name), (e, name))                                      \
        V(archive_entry_set_filetype, (E * e, unsigned int type), (e, type))                                     \
        V(archive_entry_set_perm, (E * e, __LA_MODE_T perm), (e, perm))                                          \
        V(archive_entry_set_size, (E * e, la_int64_t size), (e, size))                                           \
        V(archive_entry_set_mtime, (E * e, time_t sec, long nsec), (e, sec, nsec))

static struct {
        ARCHIVE_FUNCTIONS(LAZY_LIB_MEMBER, LAZY_LIB_VOID_MEMBER)
        void (*archive_set_error)(A *a, int err, const char *fmt, ...);
} lib;

static lazy_lib L = LAZY_LIB_INIT(ARCHIVE_SONAME, "libarchive");

static void resolve(void *h, const char **missing) {
#define RESOLVE_X(ret, name, params, args) LAZY_LIB_RESOLVE(lib, h, missing, name)
#define RESOLVE_V(name, params, args) LAZY_LIB_RESOLVE(lib, h, missing, name)
        ARCHIVE_FUNCTIONS(RESOLVE_X, RESOLVE_V)
        LAZY_LIB_RESOLVE(lib, h, missing, archive_set_error)
}

static void load(void) {
        lazy_lib_open(&L, resolve);
}

int archive_lib_load(berr **err) {
        return lazy_lib_load(&L, load, err);
}

static void require_loaded(void) {
        lazy_lib_require(&L, load);
}

#define FORWARD(ret, name, params, args) LAZY_LIB_FORWARD(require_loaded, lib, ret, name, params, args)
#define FORWARD_VOID(name, params, args) LAZY_LIB_FORWARD_VOID(require_loaded, lib, name, params, args)
ARCHIVE_FUNCTIONS(FORWARD, FORWARD_VOID)

/* Our read callback sets errors with it (apply.c); the message is formatted here and passed on as "%s". */
void(archive_set_error)(A *a, int err, const char *fmt, ...) {
        require_loaded();
        if (!fmt) { /* libarchive: no message */
                lib.archive_set_error(a, err, NULL);
                return;
        }
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        lib.archive_set_error(a, err, "%s", msg);
}
