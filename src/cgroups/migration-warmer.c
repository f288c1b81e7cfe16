/* The migration warmer (see migration-warmer.h for why). One thread, asleep on a condition variable while no
 * hold is taken; while holds are taken it writes this process's pid into its own cgroup.procs every
 * WARM_INTERVAL_MS. A process that someone has moved meanwhile is "moved" into the cgroup it is in now, not back
 * into the old one (see burst). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "basic/event.h"
#include "basic/log.h"
#include "basic/macro.h"
#include "cgroups/cgroup.h"
#include "cgroups/migration-warmer.h"

/* Comfortably inside one grace period (6-8 ms here), so the lock never cools between two writes. */
#define WARM_INTERVAL_MS 2
/* How long the thread waits for the next hold before it exits: a run of starts keeps one thread, and an idle
 * berthd has none (its memory trim only runs single-threaded). */
#define LINGER_MS 300

struct cgroup_warmer {
        pthread_mutex_t lock;
        pthread_cond_t wake; /* on CLOCK_MONOTONIC */
        pthread_t thread;
        bool running;  /* the thread has not decided to exit yet */
        bool joinable; /* a thread was created and not joined */
        bool stop;
        bool disabled;
        unsigned holds;
        uint64_t last_hold_usec;
        unsigned long migrations;
};

static bool wanted(const cgroup_warmer *w) {
        return !w->stop && !w->disabled && w->holds > 0 &&
               now_monotonic_usec() - w->last_hold_usec < (uint64_t) CGROUP_WARMER_MAX_HOLD_MS * 1000u;
}

/* The cgroup.procs of this process's own cgroup: the cgroup2 one where there is a cgroup2 tree, else the
 * first v1 hierarchy's. Any hierarchy will do: the lock is global. */
static int open_own_procs(void) {
        cg_paths *p = NULL;
        berr *e = NULL;
        if (cg_paths_for_pid(getpid(), &p, &e) < 0) {
                log_debug("cgroup warmer: %s", e->msg);
                berr_free(e);
                return -1;
        }
        const char *dir = p->unified ? p->unified : p->n_v1 > 0 ? p->v1[0].path : NULL;
        int fd = -1;
        if (dir) {
                _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
                fd = open(procs, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        log_debug("cgroup warmer: open %s: %s", procs, strerror(errno));
        }
        cg_paths_free(p);
        return fd;
}

static struct timespec deadline_in_ms(long ms);

/* /proc/self/cgroup as it is now (a prefix of it, if huge: enough to notice a move). */
static void own_cgroup_text(char *buf, size_t size) {
        buf[0] = '\0';
        int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        ssize_t n = read(fd, buf, size - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
}

/* One burst: migrations every WARM_INTERVAL_MS while wanted. Called and returns with the lock held. Before each
 * migration the process's cgroups are read again (a few µs): if someone moved the process meanwhile, the file of
 * its new cgroup is opened, so a move is never undone. */
static void burst(cgroup_warmer *w) {
        char opened_for[4096], now[4096];
        pthread_mutex_unlock(&w->lock);
        own_cgroup_text(opened_for, sizeof opened_for);
        int fd = open_own_procs();
        char pid[16];
        int n = snprintf(pid, sizeof pid, "%d", (int) getpid());
        pthread_mutex_lock(&w->lock);
        if (fd < 0) {
                w->disabled = true;
                return;
        }
        while (wanted(w)) {
                pthread_mutex_unlock(&w->lock);
                own_cgroup_text(now, sizeof now);
                if (strcmp(now, opened_for) != 0) {
                        close(fd);
                        memcpy(opened_for, now, sizeof now);
                        fd = open_own_procs();
                }
                bool ok = fd >= 0 && write(fd, pid, (size_t) n) == n;
                int saved = errno;
                pthread_mutex_lock(&w->lock);
                if (!ok) {
                        log_debug("cgroup warmer: write cgroup.procs: %s", strerror(saved));
                        w->disabled = true;
                        break;
                }
                w->migrations++;
                struct timespec until = deadline_in_ms(WARM_INTERVAL_MS);
                while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
                        ;
        }
        if (fd >= 0)
                close(fd);
}

static struct timespec deadline_in_ms(long ms) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_sec += ms / 1000;
        t.tv_nsec += (ms % 1000) * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000L;
        }
        return t;
}

static void *warmer_main(void *arg) {
        cgroup_warmer *w = arg;
        pthread_mutex_lock(&w->lock);
        while (!w->stop) {
                if (wanted(w)) {
                        burst(w);
                        continue;
                }
                struct timespec until = deadline_in_ms(LINGER_MS);
                if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT && !wanted(w))
                        break;
        }
        w->running = false;
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

cgroup_warmer *cgroup_warmer_new(void) {
        cgroup_warmer *w = xcalloc(1, sizeof *w);
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->wake, &attr);
        pthread_condattr_destroy(&attr);
        pthread_mutex_init(&w->lock, NULL);
        return w;
}

cgroup_warmer *cgroup_warmer_free(cgroup_warmer *w) {
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        bool joinable = w->joinable;
        pthread_mutex_unlock(&w->lock);
        if (joinable)
                pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

void cgroup_warmer_hold(cgroup_warmer *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        if (!w->disabled) {
                w->holds++;
                w->last_hold_usec = now_monotonic_usec();
                if (!w->running) {
                        /* Holds come from one thread (the event loop), so nothing changes while unlocked here;
                         * a thread that is not running has returned or is about to. */
                        if (w->joinable) {
                                pthread_mutex_unlock(&w->lock);
                                pthread_join(w->thread, NULL);
                                pthread_mutex_lock(&w->lock);
                                w->joinable = false;
                        }
                        /* The thread blocks every signal: berthd takes its signals on a signalfd. */
                        sigset_t all, old;
                        sigfillset(&all);
                        pthread_sigmask(SIG_SETMASK, &all, &old);
                        int r = pthread_create(&w->thread, NULL, warmer_main, w);
                        pthread_sigmask(SIG_SETMASK, &old, NULL);
                        if (r != 0) {
                                log_debug("cgroup warmer: pthread_create: %s", strerror(r));
                                w->disabled = true;
                        } else
                                w->running = w->joinable = true;
                }
                pthread_cond_signal(&w->wake);
        }
        pthread_mutex_unlock(&w->lock);
}

void cgroup_warmer_release(cgroup_warmer *w) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        /* A hold taken while disabled was not counted; never go below zero. */
        if (w->holds > 0)
                w->holds--;
        pthread_mutex_unlock(&w->lock);
}

unsigned long cgroup_warmer_migrations(cgroup_warmer *w) {
        pthread_mutex_lock(&w->lock);
        unsigned long n = w->migrations;
        pthread_mutex_unlock(&w->lock);
        return n;
}

bool cgroup_warmer_disabled(cgroup_warmer *w) {
        pthread_mutex_lock(&w->lock);
        bool d = w->disabled;
        pthread_mutex_unlock(&w->lock);
        return d;
}
