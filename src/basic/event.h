/* A single-threaded epoll event loop with io, timer, signal and child sources (the shape of
 * systemd's sd-event, much smaller). Kernel interfaces: epoll, timerfd, signalfd, pidfd.
 *
 * Ownership: a source belongs to the loop until ev_source_free() is called on it; freeing a source
 * from inside any callback (its own included) is safe, the memory is released after dispatch.
 * Callbacks return 0 to continue; a negative return disables that source (logged at debug level).
 *
 * Child processes: ev_add_child() watches one child through a pidfd and reaps it with waitid(),
 * delivering the wait status exactly once. A process that is a subreaper must also reap
 * processes it never forked (re-parented orphans): ev_loop_set_reaper() makes the loop reap every
 * child on SIGCHLD and route each status to the child source registered for that pid, or to the
 * given orphan callback when there is none. Both paths go through one dispatch, so a status is
 * never delivered twice or lost. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include "basic/error.h"

typedef struct ev_loop ev_loop;
typedef struct ev_source ev_source;

typedef int (*ev_io_fn)(ev_source *s, int fd, uint32_t revents, void *userdata);
typedef int (*ev_timer_fn)(ev_source *s, void *userdata);
typedef int (*ev_signal_fn)(ev_source *s, const struct signalfd_siginfo *si, void *userdata);
/* status is a wait(2) status (use WIFEXITED etc.). */
typedef int (*ev_child_fn)(ev_source *s, pid_t pid, int status, void *userdata);
typedef void (*ev_orphan_fn)(ev_loop *loop, pid_t pid, int status, void *userdata);

int ev_loop_new(ev_loop **ret);
ev_loop *ev_loop_free(ev_loop *loop);

/* Runs until ev_loop_exit(); returns the exit code given there, or a negative errno on failure.
 * Exiting is final: later ev_loop_run() calls return at once (ev_loop_run_once still works). */
int ev_loop_run(ev_loop *loop);
/* One iteration: waits at most timeout_ms (-1 forever), dispatches, returns the number of events
 * dispatched, or negative on error. */
int ev_loop_run_once(ev_loop *loop, int timeout_ms);
/* The first code given wins. */
void ev_loop_exit(ev_loop *loop, int code);
bool ev_loop_exiting(const ev_loop *loop);

/* io: events are EPOLLIN/EPOLLOUT/...; the fd is not owned unless ev_source_set_close_fd(). */
int ev_add_io(ev_loop *loop, ev_source **ret, int fd, uint32_t events, ev_io_fn cb, void *userdata);
int ev_source_set_io_events(ev_source *s, uint32_t events);
void ev_source_set_close_fd(ev_source *s, bool close_fd);

/* timer: one-shot after usec microseconds (CLOCK_MONOTONIC); re-arm with ev_timer_set, which also
 * re-enables a timer whose callback failed. usec == EV_TIMER_DISARMED creates it disarmed. Timers
 * that are due in the same round run in deadline order. */
#define EV_TIMER_DISARMED UINT64_MAX
int ev_add_timer(ev_loop *loop, ev_source **ret, uint64_t usec, ev_timer_fn cb, void *userdata);
int ev_timer_set(ev_source *s, uint64_t usec);
int ev_timer_disarm(ev_source *s);

/* signal: blocks signo in the calling thread's mask (it stays blocked after the source is freed)
 * and reads it through a signalfd. Use one source per signal; not SIGCHLD when the reaper is on. */
int ev_add_signal(ev_loop *loop, ev_source **ret, int signo, ev_signal_fn cb, void *userdata);

/* child: pid must be a child of this process (forked, or re-parented to a subreaper). Register it
 * before the loop runs again after fork(), or the reaper may already have given it to the orphan
 * callback. An already exited (zombie) child is delivered. -EBUSY if pid is already watched. */
int ev_add_child(ev_loop *loop, ev_source **ret, pid_t pid, ev_child_fn cb, void *userdata);

/* Reap every child on SIGCHLD (installs its own SIGCHLD source; also reaps once at the next round
 * for children that exited earlier). orphan may be NULL. Calling it again replaces orphan/userdata.
 * With the reaper on, a synchronous waitpid(pid) is only safe while the loop is not being run. */
int ev_loop_set_reaper(ev_loop *loop, ev_orphan_fn orphan, void *userdata);

void ev_source_free(ev_source *s);
/* Disabled sources stay registered with the loop but are not dispatched (a disabled child source
 * drops its status). Re-enabling a finished child source gives -ESRCH. */
int ev_source_set_enabled(ev_source *s, bool enabled);
void *ev_source_get_userdata(const ev_source *s);
ev_loop *ev_source_get_loop(const ev_source *s);

/* Monotonic and realtime clocks in microseconds / nanoseconds. */
uint64_t now_monotonic_usec(void);
int64_t now_realtime_nsec(void);
