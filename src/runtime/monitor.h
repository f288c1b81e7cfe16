/* Task monitor and restart monitor.
 *
 * The task monitor subscribes to /tasks/exit on the daemon's event exchange (in-process, on the loop thread) and
 * hands every exit of a task's init process (exec exits are filtered out) to its owner — later, from a zero-delay
 * timer, never from inside the exchange's delivery, so the owner may publish, create or delete tasks freely and every
 * other subscriber (the task manager's own cache first) has seen the exit by then.
 *
 * The restart monitor is the policy part: containerd's restart labels (containerd.io/restart.status = running |
 * stopped, containerd.io/restart.policy = always | on-failure[:N] | unless-stopped | no, and the restart count kept
 * in containerd.io/restart.count), the decision whether an exit brings a container back, and the back-off timers
 * (100 ms doubling to 10 s, reset once a run lasted 10 s). Restarts are driven by exits only, never by polling:
 * the owner asks for a restart when it handled an exit; the monitor calls back when the back-off has passed. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"
#include "basic/event.h"

struct event_exchange;

#define RESTART_LABEL_STATUS "containerd.io/restart.status"
#define RESTART_LABEL_POLICY "containerd.io/restart.policy"
#define RESTART_LABEL_COUNT "containerd.io/restart.count"
#define RESTART_STATUS_RUNNING "running"
#define RESTART_STATUS_STOPPED "stopped"

#define RESTART_BACKOFF_MIN_USEC (100 * 1000ULL)
#define RESTART_BACKOFF_MAX_USEC (10 * 1000 * 1000ULL)
/* A run at least this long resets the back-off to its minimum. */
#define RESTART_BACKOFF_RESET_USEC (10 * 1000 * 1000ULL)

typedef enum restart_kind {
        RESTART_NO = 0,
        RESTART_ALWAYS,
        RESTART_ON_FAILURE,
        RESTART_UNLESS_STOPPED,
} restart_kind;

typedef struct restart_policy {
        restart_kind kind;
        unsigned max_retries; /* on-failure:N; 0 = no limit */
} restart_policy;

/* NULL, "" and "no" → RESTART_NO; "always", "unless-stopped", "on-failure", "on-failure:N" (N >= 0). Anything else is
 * INVALID_ARGUMENT `invalid restart policy "x"`. */
int restart_policy_parse(const char *s, restart_policy *ret, berr **err);
/* "no", "always", "unless-stopped", "on-failure" or "on-failure:N" (a new string). */
char *restart_policy_format(const restart_policy *p);
/* Whether an exit with exit_status brings the container back: never after an explicit stop; always/unless-stopped
 * always; on-failure only for a non-zero status and while restarts_done < max_retries (when limited). */
bool restart_policy_wants_restart(const restart_policy *p, bool explicitly_stopped, uint32_t exit_status,
                                  unsigned restarts_done);
/* The next back-off delay: the minimum after a run of at least RESTART_BACKOFF_RESET_USEC (or the first time,
 * previous_usec 0), otherwise double the previous one, at most RESTART_BACKOFF_MAX_USEC. */
uint64_t restart_backoff_next(uint64_t previous_usec, uint64_t ran_usec);

typedef struct task_monitor task_monitor;

typedef struct task_monitor_ops {
        /* The init process of task (ns, id) exited. */
        void (*exited)(const char *ns, const char *id, uint32_t pid, uint32_t exit_status, int64_t exited_at,
                       void *userdata);
        /* A restart asked for with task_monitor_restart_later is due. */
        void (*restart)(const char *ns, const char *id, void *userdata);
        /* The exchange went away (daemon shutdown): the monitor is unusable; the owner frees it (may be NULL). */
        void (*closed)(void *userdata);
} task_monitor_ops;

/* x must not be NULL. */
int task_monitor_new(ev_loop *loop, struct event_exchange *x, const task_monitor_ops *ops, void *userdata,
                     task_monitor **ret, berr **err);
task_monitor *task_monitor_free(task_monitor *m);

/* The container's task was (re)started now: the run time that decides the next back-off counts from here. */
void task_monitor_started(task_monitor *m, const char *ns, const char *id);
/* Arms the container's restart timer with the next back-off delay (replacing a pending one) and returns it. */
uint64_t task_monitor_restart_later(task_monitor *m, const char *ns, const char *id);
/* Cancels a pending restart and forgets the back-off state (stop, delete). */
void task_monitor_forget(task_monitor *m, const char *ns, const char *id);
bool task_monitor_restart_pending(const task_monitor *m, const char *ns, const char *id);
