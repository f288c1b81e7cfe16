/* The epoll loop core: source bookkeeping, deferred release, dispatch rounds, io/timer/signal sources
 * and the clocks. Child sources and the subreaper live in event-child.c. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "basic/event-internal.h"
#include "basic/log.h"

/* Events taken per epoll_wait; more stay pending (level-triggered) for the next round. */
#define EV_BATCH 64

int ev_loop_new(ev_loop **ret) {
        int fd = epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0)
                return -errno;
        ev_loop *loop = xcalloc(1, sizeof *loop);
        loop->epoll_fd = fd;
        *ret = loop;
        return 0;
}

static void source_release_fd(ev_source *s) {
        ev_source_unregister(s);
        if (s->type != EV_IO || s->close_fd)
                safe_close(s->fd);
        s->fd = -1;
}

ev_loop *ev_loop_free(ev_loop *loop) {
        if (!loop)
                return NULL;
        while (loop->sources) {
                ev_source *s = loop->sources;
                loop->sources = s->next;
                if (!s->dead)
                        source_release_fd(s);
                free(s);
        }
        safe_close(loop->epoll_fd);
        free(loop);
        return NULL;
}

ev_source *ev_source_new(ev_loop *loop, ev_type type, int fd, void *userdata) {
        ev_source *s = xcalloc(1, sizeof *s);
        s->loop = loop;
        s->type = type;
        s->fd = fd;
        s->userdata = userdata;
        s->next = loop->sources;
        loop->sources = s;
        return s;
}

int ev_source_register(ev_source *s) {
        if (s->enabled || s->fd < 0)
                return 0;
        struct epoll_event ev = { .events = s->type == EV_IO ? s->events : EPOLLIN, .data.ptr = s };
        if (epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
                return -errno;
        s->enabled = true;
        return 0;
}

void ev_source_unregister(ev_source *s) {
        if (!s->enabled)
                return;
        /* Fails only if the caller already closed an io fd it did not hand us; nothing to undo then. */
        (void) epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
        s->enabled = false;
}

/* Frees what was marked dead; only when no dispatch round (possibly nested) still holds pointers. */
static void release_dead(ev_loop *loop) {
        if (loop->dispatch_depth > 0 || !loop->has_dead)
                return;
        for (ev_source **p = &loop->sources; *p;) {
                ev_source *s = *p;
                if (s->dead) {
                        *p = s->next;
                        free(s);
                } else
                        p = &s->next;
        }
        loop->has_dead = false;
}

void ev_source_free(ev_source *s) {
        if (!s || s->dead)
                return;
        source_release_fd(s);
        s->dead = true;
        s->loop->has_dead = true;
        release_dead(s->loop);
}

int ev_source_set_enabled(ev_source *s, bool enabled) {
        if (!s || s->dead)
                return -EINVAL;
        if (!enabled) {
                ev_source_unregister(s);
                return 0;
        }
        if (s->type == EV_CHILD && s->child_done)
                return -ESRCH;
        return ev_source_register(s);
}

void *ev_source_get_userdata(const ev_source *s) {
        return s ? s->userdata : NULL;
}

ev_loop *ev_source_get_loop(const ev_source *s) {
        return s ? s->loop : NULL;
}

void ev_source_after_callback(ev_source *s, int r, const char *what) {
        if (r >= 0 || s->dead)
                return;
        log_debug("event: %s source callback failed (%d), disabling it", what, r);
        ev_source_unregister(s);
}

/* ---- io ---- */

int ev_add_io(ev_loop *loop, ev_source **ret, int fd, uint32_t events, ev_io_fn cb, void *userdata) {
        if (!loop || fd < 0 || !cb)
                return -EINVAL;
        ev_source *s = ev_source_new(loop, EV_IO, fd, userdata);
        s->events = events;
        s->cb.io = cb;
        int r = ev_source_register(s);
        if (r < 0) {
                ev_source_free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int ev_source_set_io_events(ev_source *s, uint32_t events) {
        if (!s || s->dead || s->type != EV_IO)
                return -EINVAL;
        s->events = events;
        if (!s->enabled)
                return 0;
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
                return -errno;
        return 0;
}

void ev_source_set_close_fd(ev_source *s, bool close_fd) {
        if (s && s->type == EV_IO)
                s->close_fd = close_fd;
}

static int dispatch_io(ev_source *s, uint32_t revents) {
        int r = s->cb.io(s, s->fd, revents, s->userdata);
        ev_source_after_callback(s, r, "io");
        return 1;
}

/* ---- timers ---- */

int ev_add_timer(ev_loop *loop, ev_source **ret, uint64_t usec, ev_timer_fn cb, void *userdata) {
        if (!loop || !cb)
                return -EINVAL;
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        ev_source *s = ev_source_new(loop, EV_TIMER, fd, userdata);
        s->cb.timer = cb;
        int r = ev_source_register(s);
        if (r >= 0 && usec != EV_TIMER_DISARMED)
                r = ev_timer_set(s, usec);
        if (r < 0) {
                ev_source_free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int ev_timer_set(ev_source *s, uint64_t usec) {
        if (!s || s->dead || s->type != EV_TIMER || usec == EV_TIMER_DISARMED)
                return -EINVAL;
        struct itimerspec its = {
                .it_value.tv_sec = (time_t) (usec / 1000000),
                .it_value.tv_nsec = (long) (usec % 1000000) * 1000,
        };
        /* An all-zero it_value would disarm; "now" means the next round. */
        if (usec == 0)
                its.it_value.tv_nsec = 1;
        if (timerfd_settime(s->fd, 0, &its, NULL) < 0)
                return -errno;
        s->deadline = now_monotonic_usec() + usec;
        /* Re-arming is how a timer that was disabled (callback failed) is brought back. */
        return ev_source_register(s);
}

int ev_timer_disarm(ev_source *s) {
        if (!s || s->dead || s->type != EV_TIMER)
                return -EINVAL;
        struct itimerspec its = { 0 };
        if (timerfd_settime(s->fd, 0, &its, NULL) < 0)
                return -errno;
        s->deadline = 0;
        return 0;
}

static int dispatch_timer(ev_source *s) {
        uint64_t ticks;
        ssize_t n;
        do
                n = read(s->fd, &ticks, sizeof ticks);
        while (n < 0 && errno == EINTR);
        /* EAGAIN: re-armed or disarmed after this batch saw it ready; not an expiry any more. */
        if (n != (ssize_t) sizeof ticks)
                return 0;
        s->deadline = 0;
        int r = s->cb.timer(s, s->userdata);
        ev_source_after_callback(s, r, "timer");
        return 1;
}

/* ---- signals ---- */

int ev_signal_fd(int signo) {
        sigset_t mask;
        sigemptyset(&mask);
        if (sigaddset(&mask, signo) < 0)
                return -EINVAL;
        int r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
        if (r != 0)
                return -r;
        int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int ev_add_signal(ev_loop *loop, ev_source **ret, int signo, ev_signal_fn cb, void *userdata) {
        if (!loop || !cb)
                return -EINVAL;
        int fd = ev_signal_fd(signo);
        if (fd < 0)
                return fd;
        ev_source *s = ev_source_new(loop, EV_SIGNAL, fd, userdata);
        s->signo = signo;
        s->cb.signal = cb;
        int r = ev_source_register(s);
        if (r < 0) {
                ev_source_free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

static int dispatch_signal(ev_source *s) {
        struct signalfd_siginfo si;
        ssize_t n;
        do
                n = read(s->fd, &si, sizeof si);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t) sizeof si)
                return 0;
        int r = s->cb.signal(s, &si, s->userdata);
        ev_source_after_callback(s, r, "signal");
        return 1;
}

/* ---- dispatch ---- */

typedef struct ev_pending {
        ev_source *s;
        uint32_t revents;
        int idx;
} ev_pending;

/* Reaper first (a reaped status then reaches its child source before that source's own pidfd event,
 * which is skipped), timers last in deadline order, everything else in epoll's order. */
static int pending_rank(const ev_source *s) {
        if (s->is_reaper)
                return 0;
        return s->type == EV_TIMER ? 2 : 1;
}

static int pending_cmp(const void *a, const void *b) {
        const ev_pending *x = a, *y = b;
        int rx = pending_rank(x->s), ry = pending_rank(y->s);
        if (rx != ry)
                return rx < ry ? -1 : 1;
        if (rx == 2 && x->s->deadline != y->s->deadline)
                return x->s->deadline < y->s->deadline ? -1 : 1;
        return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int dispatch_one(ev_source *s, uint32_t revents) {
        switch (s->type) {
        case EV_IO:
                return dispatch_io(s, revents);
        case EV_TIMER:
                return dispatch_timer(s);
        case EV_SIGNAL:
                return s->is_reaper ? ev_reaper_dispatch(s) : dispatch_signal(s);
        case EV_CHILD:
                return ev_child_dispatch_pidfd(s);
        }
        return 0;
}

int ev_loop_run_once(ev_loop *loop, int timeout_ms) {
        if (!loop)
                return -EINVAL;
        struct epoll_event evs[EV_BATCH];
        if (loop->reap_pending)
                timeout_ms = 0;
        int n = epoll_wait(loop->epoll_fd, evs, EV_BATCH, timeout_ms);
        if (n < 0) {
                if (errno != EINTR)
                        return -errno;
                n = 0;
        }

        ev_pending pending[EV_BATCH];
        for (int i = 0; i < n; i++)
                pending[i] = (ev_pending) { .s = evs[i].data.ptr, .revents = evs[i].events, .idx = i };
        qsort(pending, (size_t) n, sizeof pending[0], pending_cmp);

        int dispatched = 0;
        loop->dispatch_depth++;
        if (loop->reap_pending) {
                loop->reap_pending = false;
                dispatched += ev_reap_all(loop);
        }
        for (int i = 0; i < n; i++) {
                ev_source *s = pending[i].s;
                /* Freed or disabled by an earlier callback of this round: its event is stale. */
                if (s->dead || !s->enabled)
                        continue;
                dispatched += dispatch_one(s, pending[i].revents);
        }
        loop->dispatch_depth--;
        release_dead(loop);
        return dispatched;
}

int ev_loop_run(ev_loop *loop) {
        if (!loop)
                return -EINVAL;
        while (!loop->exiting) {
                int r = ev_loop_run_once(loop, -1);
                if (r < 0)
                        return r;
        }
        return loop->exit_code;
}

void ev_loop_exit(ev_loop *loop, int code) {
        if (!loop || loop->exiting)
                return;
        loop->exiting = true;
        loop->exit_code = code;
}

bool ev_loop_exiting(const ev_loop *loop) {
        return loop && loop->exiting;
}

/* ---- clocks ---- */

uint64_t now_monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

int64_t now_realtime_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}
