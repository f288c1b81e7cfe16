/* Notification when the kernel OOM killer acts inside a container's memory cgroup, driven by the
 * event loop. cgroup v1: an eventfd registered through cgroup.event_control on memory.oom_control
 * (it fires on every OOM condition in the cgroup). cgroup v2: inotify on memory.events, firing
 * when its oom_kill counter grows. Either way the callback runs once per wakeup that saw an OOM,
 * not once per killed process.
 *
 * When the cgroup is removed (v1 signals the eventfd on rmdir, v2 drops the inotify watch) the
 * watch goes quiet by itself without calling back; oom_watch_active() then reports false. The
 * callback may free the watch. A watch must be freed before its loop (ev_loop_free releases the
 * loop's sources, including the watch's). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "basic/error.h"
#include "basic/event.h"

typedef struct oom_watch oom_watch;
typedef void (*oom_fn)(void *userdata);

/* Watches the memory cgroup of pid: its v1 memory directory on legacy/hybrid hosts, its cgroup2
 * directory on unified ones. BERR_FAILED_PRECONDITION if there is no memory controller for it. */
int oom_watch_pid(ev_loop *loop, pid_t pid, oom_fn cb, void *userdata, oom_watch **ret, berr **err);
/* dir is a v1 memory controller directory (v2 = false) or a cgroup2 directory (v2 = true). */
int oom_watch_dir(ev_loop *loop, const char *dir, bool v2, oom_fn cb, void *userdata, oom_watch **ret,
                  berr **err);
bool oom_watch_active(const oom_watch *w);
oom_watch *oom_watch_free(oom_watch *w);
static inline void oom_watch_freep(oom_watch **w) {
        *w = oom_watch_free(*w);
}
#define _cleanup_oom_watch_ _cleanup_(oom_watch_freep)
