/* The long-running shim server: one event loop serving containerd.task.v2.Task on the socket `start` bound, reaping
 * every child (it is a subreaper), forwarding events, and exiting after Shutdown once no container remains. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "basic/log.h"
#include "basic/memory-trim.h"
#include "shim/task.h"

#define SHUTDOWN_FLUSH_USEC (3 * 1000 * 1000)
#define SHUTDOWN_POLL_USEC (20 * 1000)
/* Trim a moment after the last request: requests come in bursts (create, start, state...; exec, start, wait). */
#define TRIM_IDLE_USEC (300 * 1000)

static void on_sigpipe(int signo) {
        (void) signo;
}

static int on_trim_timer(ev_source *src, void *userdata) {
        memory_trim();
        return 0;
}

static void on_request(void *userdata) {
        shim_server *s = userdata;
        if (s->trim_timer)
                ev_timer_set(s->trim_timer, TRIM_IDLE_USEC);
}

static void on_reaped(ev_loop *loop, pid_t pid, int status, void *userdata) {
        server_handle_exit(userdata, pid, status);
}

static int on_terminate(ev_source *src, const struct signalfd_siginfo *si, void *userdata) {
        shim_server *s = userdata;
        log_info("received signal %u, exiting", si->ssi_signo);
        ev_loop_exit(s->loop, 0);
        return 0;
}

static int on_shutdown_poll(ev_source *src, void *userdata) {
        shim_server *s = userdata;
        static uint64_t waited;
        waited += SHUTDOWN_POLL_USEC;
        if (publisher_idle(s->pub) || waited >= SHUTDOWN_FLUSH_USEC) {
                if (!publisher_idle(s->pub))
                        log_warn("exiting with undelivered events");
                ev_loop_exit(s->loop, 0);
                return 0;
        }
        ev_timer_set(src, SHUTDOWN_POLL_USEC);
        return 0;
}

void shim_server_maybe_exit(shim_server *s) {
        if (!s->shutdown_requested || s->containers || s->shutdown_timer)
                return;
        /* Unreachable from now on: a `start` for a new container with the same id (or group) must get a new server,
         * not this one, which exits as soon as its queued events are out. */
        if (s->socket_path) {
                unlink(s->socket_path);
                s->socket_path = (free(s->socket_path), NULL);
        }
        /* Let queued events (TaskDelete, the last exits) reach the daemon before going away. */
        if (ev_add_timer(s->loop, &s->shutdown_timer, 1, on_shutdown_poll, s) < 0)
                ev_loop_exit(s->loop, 0);
}

/* containerd reads the server's log through the bundle's `log` FIFO (shim-v2.md §3.6). Never block on it: without a
 * reader (daemon down) lines are dropped rather than stalling the server. */
static void open_log_fifo(void) {
        int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        if (fd != STDERR_FILENO) {
                dup2(fd, STDERR_FILENO);
                close(fd);
        }
}

int shim_server_run(const char *ns, const char *id, const char *socket_path, int listen_fd, bool debug) {
        open_log_fifo();
        log_set_fd(STDERR_FILENO);
        log_set_level(debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
        _cleanup_free_ char *prefix = xasprintf("runtime=io.containerd.berth.v2 namespace=%s id=%s pid=%d", ns, id,
                                                 (int) getpid());
        log_set_prefix(prefix);
        /* SIGPIPE gets a no-op handler rather than SIG_IGN: an ignored disposition would be inherited through exec by
         * the OCI runtime and the container (a handler is reset by exec). Writes then fail with EPIPE instead. */
        struct sigaction sa = { .sa_handler = on_sigpipe };
        sigaction(SIGPIPE, &sa, NULL);

        shim_server s = { .ns = xstrdup(ns), .id = xstrdup(id) };
        s.socket_path = socket_path ? xstrdup(socket_path) : NULL;
        berr *err = NULL;
        int r = ev_loop_new(&s.loop);
        if (r < 0) {
                log_error("event loop: %s", strerror(-r));
                return 1;
        }
        if (ev_loop_set_reaper(s.loop, on_reaped, &s) < 0 ||
            ev_add_signal(s.loop, NULL, SIGTERM, on_terminate, &s) < 0 ||
            ev_add_signal(s.loop, NULL, SIGINT, on_terminate, &s) < 0) {
                log_error("cannot set up signal handling: %m");
                return 1;
        }
        s.pub = publisher_new(s.loop, getenv("TTRPC_ADDRESS"), ns);
        if (ttrpc_server_new(s.loop, &s.ttrpc, &err) < 0 ||
            ttrpc_server_register(s.ttrpc, TASK_SERVICE_NAME, task_service_methods, task_service_n_methods, &s,
                                  &err) < 0 ||
            ttrpc_server_listen_fd(s.ttrpc, listen_fd, &err) < 0) {
                log_error("ttrpc server: %s", err->msg);
                berr_free(err);
                return 1;
        }
        log_debug("serving on %s", socket_path ? socket_path : "fd 3");
        /* No trim now: the daemon's Create follows at once and would only fault the pages back in. The timer trims
         * once requests stop (or right away if none come). */
        if (ev_add_timer(s.loop, &s.trim_timer, TRIM_IDLE_USEC, on_trim_timer, NULL) < 0)
                log_debug("no idle memory trim timer");
        ttrpc_server_set_on_request(s.ttrpc, on_request, &s);
        r = ev_loop_run(s.loop);

        if (s.socket_path)
                unlink(s.socket_path);
        ttrpc_server_shutdown(s.ttrpc);
        while (s.containers)
                server_remove_container(&s, s.containers);
        /* The containers' loggers flush what their pipes still hold and exit (or are stopped by their own timers:
         * grace, SIGTERM, SIGKILL); leaving before they are reaped would also drop their bookkeeping unfreed. */
        while (stdio_loggers_pending() > 0 && ev_loop_run_once(s.loop, -1) >= 0)
                ;
        s.ttrpc = ttrpc_server_free(s.ttrpc);
        s.pub = publisher_free(s.pub);
        s.loop = ev_loop_free(s.loop);
        free(s.ns);
        free(s.id);
        free(s.socket_path);
        return r < 0 ? 1 : 0;
}
