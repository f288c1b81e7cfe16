/* Child sources (pidfd + waitid) and the subreaper (SIGCHLD + waitpid(-1)). Whichever path reaps a
 * pid first hands its status to deliver_status(), which finds the pid's child source, marks it
 * done and calls it, or calls the orphan callback; the other path then finds nothing to reap, so
 * a status is delivered exactly once. */
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "basic/event-internal.h"
#include "basic/log.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0); /* pidfds are always close-on-exec */
        return fd < 0 ? -errno : fd;
}

/* waitid reports a siginfo; callers want what wait(2) would have said. */
static int status_from_siginfo(const siginfo_t *si) {
        switch (si->si_code) {
        case CLD_EXITED:
                return W_EXITCODE(si->si_status & 0xff, 0);
        case CLD_KILLED:
                return si->si_status & 0x7f;
        case CLD_DUMPED:
                return (si->si_status & 0x7f) | WCOREFLAG;
        default:
                return 0;
        }
}

static ev_source *find_child_source(ev_loop *loop, pid_t pid) {
        for (ev_source *s = loop->sources; s; s = s->next)
                if (s->type == EV_CHILD && !s->dead && !s->child_done && s->pid == pid)
                        return s;
        return NULL;
}

static int deliver_status(ev_loop *loop, pid_t pid, int status) {
        ev_source *s = find_child_source(loop, pid);
        if (s) {
                bool wanted = s->enabled;
                s->child_done = true;
                ev_source_unregister(s);
                s->fd = safe_close(s->fd);
                if (!wanted) {
                        log_debug("event: child %d exited while its source was off, status dropped", pid);
                        return 0;
                }
                int r = s->cb.child(s, pid, status, s->userdata);
                ev_source_after_callback(s, r, "child");
                return 1;
        }
        if (loop->orphan) {
                loop->orphan(loop, pid, status, loop->orphan_userdata);
                return 1;
        }
        log_debug("event: reaped unwatched process %d (status 0x%x)", pid, (unsigned) status);
        return 0;
}

int ev_add_child(ev_loop *loop, ev_source **ret, pid_t pid, ev_child_fn cb, void *userdata) {
        if (!loop || pid <= 0 || !cb)
                return -EINVAL;
        if (find_child_source(loop, pid))
                return -EBUSY;
        /* Works on a zombie too: its pidfd is readable at once, so an early exit is not missed. */
        int fd = pidfd_open(pid);
        if (fd < 0)
                return fd;
        ev_source *s = ev_source_new(loop, EV_CHILD, fd, userdata);
        s->pid = pid;
        s->cb.child = cb;
        int r = ev_source_register(s);
        if (r < 0) {
                ev_source_free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int ev_child_dispatch_pidfd(ev_source *s) {
        siginfo_t si = { 0 };
        int r;
        do
                r = waitid((idtype_t) P_PIDFD, (id_t) s->fd, &si, WEXITED | WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                /* Reaped behind our back (waitpid outside the loop): the status is gone. The reaper
                 * path never gets here, it marks the source done before this event is looked at. */
                log_debug("event: waitid on pidfd of %d failed: %s", s->pid, strerror(errno));
                s->child_done = true;
                ev_source_unregister(s);
                return 0;
        }
        if (si.si_pid == 0)
                return 0; /* not exited yet */
        return deliver_status(s->loop, s->pid, status_from_siginfo(&si));
}

int ev_reap_all(ev_loop *loop) {
        int dispatched = 0;
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != ECHILD)
                                log_debug("event: waitpid failed: %s", strerror(errno));
                        break;
                }
                if (pid == 0)
                        break;
                dispatched += deliver_status(loop, pid, status);
        }
        return dispatched;
}

int ev_reaper_dispatch(ev_source *s) {
        /* SIGCHLDs coalesce; drain them all, then reap until nothing is left. */
        struct signalfd_siginfo si;
        ssize_t n;
        do
                n = read(s->fd, &si, sizeof si);
        while (n == (ssize_t) sizeof si || (n < 0 && errno == EINTR));
        return ev_reap_all(s->loop);
}

int ev_loop_set_reaper(ev_loop *loop, ev_orphan_fn orphan, void *userdata) {
        if (!loop)
                return -EINVAL;
        if (!loop->reaper) {
                int fd = ev_signal_fd(SIGCHLD);
                if (fd < 0)
                        return fd;
                ev_source *s = ev_source_new(loop, EV_SIGNAL, fd, NULL);
                s->signo = SIGCHLD;
                s->is_reaper = true; /* dispatched by ev_reaper_dispatch, no callback */
                int r = ev_source_register(s);
                if (r < 0) {
                        ev_source_free(s);
                        return r;
                }
                loop->reaper = s;
                /* Children that exited before SIGCHLD was blocked left no signal to wake us. */
                loop->reap_pending = true;
        }
        loop->orphan = orphan;
        loop->orphan_userdata = userdata;
        return 0;
}
