#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "basic/sealed-exe.h"
#include "shim/sealed-runtime.h"

static struct {
        int fd;
        dev_t dev;
        ino_t ino;
        off_t size;
        int64_t mtime_ns;
        char *path;
} sealed = { .fd = -1 };

void shim_sealed_runtime_init(void) {
        const char *v = getenv("BERTH_SEALED_RUNTIME");
        if (!v)
                return;
        int fd = -1, consumed = 0;
        unsigned long long dev = 0, ino = 0;
        long long size = 0;
        int64_t mtime = 0;
        if (sscanf(v, "%d:%llu:%llu:%lld:%" SCNd64 ":%n", &fd, &dev, &ino, &size, &mtime, &consumed) == 5 &&
            consumed > 0 && v[consumed] == '/' && fd > STDERR_FILENO && sealed_exe_is_sealed(fd) &&
            fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) {
                sealed.fd = fd;
                sealed.dev = (dev_t) dev;
                sealed.ino = (ino_t) ino;
                sealed.size = (off_t) size;
                sealed.mtime_ns = mtime;
                sealed.path = xstrdup(v + consumed);
                log_debug("OCI runtime %s runs from berthd's sealed copy (fd %d)", sealed.path, fd);
        } else
                log_warn("ignoring BERTH_SEALED_RUNTIME=%s: not a sealed copy", v);
        unsetenv("BERTH_SEALED_RUNTIME");
}

int shim_sealed_runtime_fd(const char *path) {
        if (sealed.fd < 0 || !path || strcmp(path, sealed.path) != 0)
                return -1;
        struct stat st;
        if (stat(path, &st) < 0 || st.st_dev != sealed.dev || st.st_ino != sealed.ino || st.st_size != sealed.size ||
            (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != sealed.mtime_ns)
                return -1; /* replaced since (an upgrade): run the file */
        return sealed.fd;
}
