/* Private to the event loop implementation (event.c, event-child.c). */
#pragma once

#include "basic/event.h"

typedef enum ev_type { EV_IO, EV_TIMER, EV_SIGNAL, EV_CHILD } ev_type;

struct ev_source {
        ev_loop *loop;
        ev_source *next;
        ev_type type;
        int fd;           /* timerfd, signalfd, pidfd, or the caller's io fd */
        bool close_fd;    /* io only; the other types always own their fd */
        bool dead;        /* freed by the caller; memory released once no dispatch round holds it */
        bool enabled;     /* registered in epoll */
        bool is_reaper;   /* the loop's own SIGCHLD source */
        bool child_done;  /* child: its status was delivered (or is gone); never deliver again */
        uint32_t events;  /* io */
        uint64_t deadline; /* timer: monotonic usec of the armed expiry, 0 when disarmed */
        int signo;
        pid_t pid;
        union {
                ev_io_fn io;
                ev_timer_fn timer;
                ev_signal_fn signal;
                ev_child_fn child;
        } cb;
        void *userdata;
};

struct ev_loop {
        int epoll_fd;
        ev_source *sources; /* every source; dead ones too until released */
        unsigned dispatch_depth; /* >0 while callbacks run (nested run_once counts) */
        bool has_dead;
        bool exiting;
        int exit_code;
        ev_source *reaper;
        ev_orphan_fn orphan;
        void *orphan_userdata;
        bool reap_pending; /* reap once at the next round even without a SIGCHLD */
};

ev_source *ev_source_new(ev_loop *loop, ev_type type, int fd, void *userdata);
int ev_source_register(ev_source *s);
void ev_source_unregister(ev_source *s);
/* Applies the "negative return disables the source" rule. */
void ev_source_after_callback(ev_source *s, int r, const char *what);
/* Blocks signo and returns a nonblocking signalfd for it, or -errno. */
int ev_signal_fd(int signo);

/* event-child.c */
int ev_child_dispatch_pidfd(ev_source *s);
int ev_reaper_dispatch(ev_source *s);
int ev_reap_all(ev_loop *loop);
