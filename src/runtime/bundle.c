/* Task bundles: <state>/tasks/<ns>/<id>/ laid out as containerd's runtime v2 makes them (shim-v2.md §3.5, §9.1).
 * The directory is named <id> because the runc shim's `delete` finds the bundle as dir(cwd)/<id>. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/mount.h"
#include "basic/topdir.h"
#include "runtime/runtime-internal.h"

char *bundle_path(const runtime *rt, const char *ns, const char *id) {
        return xasprintf("%s/%s/%s", rt->tasks_dir, ns, id);
}

int bundle_create(const char *bundle, const uint8_t *spec, size_t spec_len, berr **err) {
        _cleanup_free_ char *parent = xstrdup(bundle);
        *strrchr(parent, '/') = '\0';
        /* Made (and marked: each bundle in a block group of its own, basic/topdir.h) with the namespace's first
         * bundle; later starts only look. */
        if (access(parent, F_OK) != 0) {
                if (mkdir_p(parent, 0711, err) < 0)
                        return -1;
                dir_mark_topdir(parent);
        }
        if (mkdir(bundle, 0700) < 0)
                return berr_errno(err, errno, "create bundle %s", bundle);
        _cleanup_free_ char *config = xasprintf("%s/config.json", bundle);
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
        _cleanup_free_ char *log = xasprintf("%s/log", bundle);
        /* No fsync (write_file_replace): the bundle is runtime state that a reboot makes stale anyway. */
        if (write_file_replace(config, spec, spec_len, 0644, err) < 0)
                goto fail;
        if (mkdir(rootfs, 0711) < 0) {
                berr_errno(err, errno, "create %s", rootfs);
                goto fail;
        }
        if (mkfifo(log, 0700) < 0) {
                berr_errno(err, errno, "create %s", log);
                goto fail;
        }
        return 0;
fail:
        (void) rm_rf(bundle, NULL);
        return -1;
}

/* Shim log lines go to berthd's log one line at a time, prefixed with the task. */
static void log_flush_lines(rt_task *t, bool all) {
        size_t start = 0;
        for (size_t i = 0; i < t->log_len; i++) {
                if (t->log_buf[i] != '\n')
                        continue;
                if (i > start)
                        log_info("shim %s/%s: %.*s", t->ns, t->id, (int) (i - start), t->log_buf + start);
                start = i + 1;
        }
        if (all && start < t->log_len) {
                log_info("shim %s/%s: %.*s", t->ns, t->id, (int) (t->log_len - start), t->log_buf + start);
                start = t->log_len;
        }
        memmove(t->log_buf, t->log_buf + start, t->log_len - start);
        t->log_len -= start;
}

static int on_log(ev_source *s, int fd, uint32_t revents, void *userdata) {
        rt_task *t = userdata;
        /* Never block the loop here, whatever a child holding this file description did to its flags. */
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && !(flags & O_NONBLOCK))
                (void) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        for (;;) {
                if (t->log_len == sizeof t->log_buf)
                        log_flush_lines(t, true); /* an over-long line: emit it in pieces */
                ssize_t n = read(fd, t->log_buf + t->log_len, sizeof t->log_buf - t->log_len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                t->log_len += (size_t) n;
                log_flush_lines(t, false);
        }
        return 0;
}

int bundle_open_log(rt_task *t, berr **err) {
        _cleanup_free_ char *path = xasprintf("%s/log", t->bundle);
        struct stat st;
        if (lstat(path, &st) < 0 && errno == ENOENT && mkfifo(path, 0700) < 0)
                return berr_errno(err, errno, "create %s", path);
        /* O_RDWR: the FIFO always has a writer (us), so reads never see EOF when a shim restarts its side, and
         * opening never blocks. */
        int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return berr_errno(err, errno, "open shim log %s", path);
        int r = ev_add_io(t->rt->loop, &t->log_source, fd, EPOLLIN, on_log, t);
        if (r < 0) {
                close(fd);
                return berr_errno(err, -r, "watch shim log %s", path);
        }
        t->log_fd = fd;
        return 0;
}

void bundle_close_log(rt_task *t) {
        if (t->log_fd >= 0)
                on_log(t->log_source, t->log_fd, EPOLLIN, t);
        log_flush_lines(t, true);
        ev_source_free(t->log_source);
        t->log_source = NULL;
        t->log_fd = safe_close(t->log_fd);
}

int bundle_remove(const char *bundle, berr **err) {
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
        if (unmount_all(rootfs, err) < 0)
                return -1;
        return rm_rf(bundle, err);
}

static char *read_small(const char *bundle, const char *name) {
        _cleanup_free_ char *path = xasprintf("%s/%s", bundle, name);
        char *data = NULL;
        if (read_file(path, &data, NULL, 4096, NULL) < 0)
                return NULL;
        if (!*data) {
                free(data);
                return NULL;
        }
        return data;
}

char *bundle_read_address(const char *bundle) {
        return read_small(bundle, "address");
}

char *bundle_read_shim_binary(const char *bundle) {
        char *s = read_small(bundle, "shim-binary-path");
        if (s)
                s[strcspn(s, "\n")] = '\0';
        return s;
}
