/* berthd's sealed copy of the OCI runtime for its own shims (basic/sealed-exe.h says why). It is made on first
 * use and again when the file on disk changed (an upgrade). A shim gets it as an inherited descriptor described by
 * BERTH_SEALED_RUNTIME=<fd>:<dev>:<ino>:<size>:<mtime ns>:<path>, and executes the runtime from it only while
 * <path> still names that same file. A runtime larger than SEALED_MAX is left alone: a Go runc (9 MB here) gains
 * nothing measurable from it and would cost its size in shared memory. */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/oci-detect.h"
#include "basic/sealed-exe.h"
#include "runtime/runtime-internal.h"

#define SEALED_MAX (4u << 20)

struct sealed_runtime {
        char *path;
        struct stat st; /* of path when the copy was made */
        int fd;
        bool failed; /* this file cannot be sealed (logged once) */
};

static int64_t mtime_ns(const struct stat *st) {
        return (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool same_file(const struct stat *a, const struct stat *b) {
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               mtime_ns(a) == mtime_ns(b);
}

void sealed_runtime_free(sealed_runtime *s) {
        if (!s)
                return;
        safe_close(s->fd);
        free(s->path);
        free(s);
}

/* The copy for path, made or remade as needed; NULL when there is none to give. */
static sealed_runtime *sealed_for_path(runtime *rt, const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                return NULL;
        sealed_runtime *s = rt->sealed;
        if (s && strcmp(s->path, path) == 0 && same_file(&s->st, &st))
                return s->failed ? NULL : s;
        sealed_runtime_free(s);
        s = rt->sealed = xcalloc(1, sizeof *s);
        s->path = xstrdup(path);
        s->st = st;
        s->fd = -1;
        _cleanup_berr_ berr *e = NULL;
        if (sealed_exe_create(path, SEALED_MAX, &s->fd, &e) < 0) {
                s->failed = true;
                log_info("OCI runtime %s runs from its file (no sealed copy: %s)", path, e->msg);
                return NULL;
        }
        log_debug("OCI runtime %s: sealed copy made (%lld bytes)", path, (long long) st.st_size);
        return s;
}

int runtime_sealed_oci(runtime *rt, char **ret_env) {
        /* berthd's runtime is fixed for its life (in auto mode our shim's choice is the same detection), and so is
         * its PATH: the file is looked up once, then only checked for changes. */
        if (!rt->sealed_path) {
                const char *binary = rt->oci_runtime ? rt->oci_runtime : rt->oci_auto;
                rt->sealed_path = binary ? oci_binary_resolve(binary) : NULL;
                if (!rt->sealed_path)
                        return -1;
        }
        sealed_runtime *s = rt->sealed_path[0] == '/' ? sealed_for_path(rt, rt->sealed_path) : NULL;
        if (!s)
                return -1;
        *ret_env = xasprintf("BERTH_SEALED_RUNTIME=%d:%llu:%llu:%lld:%" PRId64 ":%s", s->fd,
                             (unsigned long long) s->st.st_dev, (unsigned long long) s->st.st_ino,
                             (long long) s->st.st_size, mtime_ns(&s->st), s->path);
        return s->fd;
}
