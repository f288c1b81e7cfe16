#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "cgroups/cgroup-file.h"
#include "cgroups/cgroup.h"
#include "cgroups/oom.h"

struct oom_watch {
        char *dir;
        bool v2;
        ev_source *source; /* NULL once the cgroup has gone */
        uint64_t last_oom_kill; /* v2: counter value already reported */
        oom_fn cb;
        void *userdata;
};

static void stop(oom_watch *w) {
        log_debug("oom watch on %s: cgroup removed, stopping", w->dir);
        ev_source_free(w->source);
        w->source = NULL;
}

static int on_v1_event(ev_source *s, int fd, uint32_t revents, void *userdata) {
        oom_watch *w = userdata;
        uint64_t count;
        if (read(fd, &count, sizeof count) < 0 && errno == EAGAIN)
                return 0;
        /* The kernel also signals the eventfd when the cgroup is removed; that is not an OOM. */
        _cleanup_free_ char *ctl = xasprintf("%s/memory.oom_control", w->dir);
        if (access(ctl, F_OK) < 0) {
                stop(w);
                return 0;
        }
        w->cb(w->userdata); /* may free w: nothing after this */
        return 0;
}

static bool read_oom_kill(const char *dir, uint64_t *ret) {
        uint64_t v = 0;
        const cg_kv kv[] = { { "oom_kill", &v } };
        if (!cg_read_kv(dir, "memory.events", kv, ELEMENTSOF(kv)))
                return false;
        *ret = v;
        return true;
}

static int on_v2_event(ev_source *s, int fd, uint32_t revents, void *userdata) {
        oom_watch *w = userdata;
        bool gone = false;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;
                        if (e->mask & (IN_IGNORED | IN_DELETE_SELF))
                                gone = true;
                        p += sizeof *e + e->len;
                }
        }
        uint64_t now;
        if (!read_oom_kill(w->dir, &now) || gone) {
                stop(w);
                return 0;
        }
        if (now <= w->last_oom_kill)
                return 0;
        w->last_oom_kill = now;
        w->cb(w->userdata); /* may free w: nothing after this */
        return 0;
}

/* Registers an eventfd for memory.oom_control; returns the eventfd. */
static int arm_v1(const char *dir, berr **err) {
        _cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
                return berr_errno(err, errno, "eventfd");
        _cleanup_free_ char *ctl_path = xasprintf("%s/memory.oom_control", dir);
        _cleanup_close_ int ctl = open(ctl_path, O_RDONLY | O_CLOEXEC);
        if (ctl < 0)
                return berr_errno(err, errno, "open %s", ctl_path);
        _cleanup_free_ char *ev_path = xasprintf("%s/cgroup.event_control", dir);
        _cleanup_close_ int evc = open(ev_path, O_WRONLY | O_CLOEXEC);
        if (evc < 0)
                return berr_errno(err, errno, "open %s", ev_path);
        /* The registration keeps its own reference to the cgroup, so both files can be closed. */
        char line[64];
        int len = snprintf(line, sizeof line, "%d %d", efd, ctl);
        if (write_all(evc, line, (size_t) len) < 0)
                return berr_errno(err, errno, "register OOM eventfd in %s", ev_path);
        return TAKE_FD(efd);
}

static int arm_v2(oom_watch *w, berr **err) {
        _cleanup_close_ int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (ifd < 0)
                return berr_errno(err, errno, "inotify_init1");
        _cleanup_free_ char *path = xasprintf("%s/memory.events", w->dir);
        if (inotify_add_watch(ifd, path, IN_MODIFY) < 0)
                return berr_errno(err, errno, "inotify %s", path);
        /* Read the counter after the watch exists so no increase can slip in between. */
        if (!read_oom_kill(w->dir, &w->last_oom_kill))
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "cannot read %s", path);
        return TAKE_FD(ifd);
}

int oom_watch_dir(ev_loop *loop, const char *dir, bool v2, oom_fn cb, void *userdata, oom_watch **ret,
                  berr **err) {
        oom_watch *w = xcalloc(1, sizeof *w);
        w->dir = xstrdup(dir);
        w->v2 = v2;
        w->cb = cb;
        w->userdata = userdata;

        int fd = v2 ? arm_v2(w, err) : arm_v1(dir, err);
        if (fd < 0) {
                oom_watch_free(w);
                return -1;
        }
        int r = ev_add_io(loop, &w->source, fd, EPOLLIN, v2 ? on_v2_event : on_v1_event, w);
        if (r < 0) {
                safe_close(fd);
                oom_watch_free(w);
                return berr_errno(err, -r, "watch OOM events of %s", dir);
        }
        ev_source_set_close_fd(w->source, true);
        *ret = w;
        return 0;
}

int oom_watch_pid(ev_loop *loop, pid_t pid, oom_fn cb, void *userdata, oom_watch **ret, berr **err) {
        _cleanup_cg_paths_ cg_paths *p = NULL;
        if (cg_paths_for_pid(pid, &p, err) < 0)
                return -1;
        if (p->mode == CG_MODE_UNIFIED) {
                if (!p->unified)
                        return berr_set(err, BERR_FAILED_PRECONDITION, 0, "pid %d has no cgroup2 directory",
                                        (int) pid);
                return oom_watch_dir(loop, p->unified, true, cb, userdata, ret, err);
        }
        const char *memory = cg_paths_v1(p, "memory");
        if (!memory)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "pid %d has no memory cgroup", (int) pid);
        return oom_watch_dir(loop, memory, false, cb, userdata, ret, err);
}

bool oom_watch_active(const oom_watch *w) {
        return w && w->source;
}

oom_watch *oom_watch_free(oom_watch *w) {
        if (!w)
                return NULL;
        ev_source_free(w->source);
        free(w->dir);
        free(w);
        return NULL;
}
