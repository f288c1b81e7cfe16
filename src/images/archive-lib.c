/* libarchive, loaded with dlopen on first use. berthd is not linked against libarchive: this file defines the
 * libarchive functions the image code calls, each forwarding to the real one in the library loaded on demand. The
 * call sites keep libarchive's documented API, and the compiler checks every definition here against archive.h's
 * and archive_entry.h's prototypes. archive_lib_load() is the one place that reports a load failure; the other
 * definitions are only reached with an archive made after it succeeded. */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "basic/log.h"
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

#define MEMBER(ret, name, params, args) ret(*name) params;
#define VOID_MEMBER(name, params, args) void(*name) params;
static struct {
        ARCHIVE_FUNCTIONS(MEMBER, VOID_MEMBER)
        void (*archive_set_error)(A *a, int err, const char *fmt, ...);
} lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static atomic_bool loaded;
static char *load_error; /* why loading failed; kept for every later caller */

static void load(void) {
        void *h = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                load_error = xstrdup(dlerror());
                return;
        }
        const char *missing = NULL;
#define RESOLVE(name)                                                                                            \
        if (!missing && !(lib.name = (typeof(lib.name)) dlsym(h, #name)))                                        \
                missing = #name;
#define RESOLVE_X(ret, name, params, args) RESOLVE(name)
#define RESOLVE_V(name, params, args) RESOLVE(name)
        ARCHIVE_FUNCTIONS(RESOLVE_X, RESOLVE_V)
        RESOLVE(archive_set_error)
        if (missing) {
                load_error = xasprintf("%s: no symbol %s", ARCHIVE_SONAME, missing);
                dlclose(h);
                return;
        }
        loaded = true; /* the handle stays open for the process's lifetime */
}

int archive_lib_load(berr **err) {
        pthread_once(&load_once, load);
        if (!loaded)
                return berr_set(err, BERR_INTERNAL, 0, "cannot load libarchive: %s", load_error);
        return 0;
}

/* For the forwarding definitions: reaching one before archive_lib_load succeeded is a bug. */
static void require_loaded(void) {
        pthread_once(&load_once, load);
        if (!loaded) {
                log_error("libarchive used but not loaded: %s", load_error);
                abort();
        }
}

#define FORWARD(ret, name, params, args)                                                                         \
        ret(name) params {                                                                                       \
                require_loaded();                                                                                \
                return lib.name args;                                                                            \
        }
#define FORWARD_VOID(name, params, args)                                                                         \
        void(name) params {                                                                                      \
                require_loaded();                                                                                \
                lib.name args;                                                                                   \
        }
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
