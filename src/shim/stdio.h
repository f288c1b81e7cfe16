/* A process's standard IO as containerd hands it to a shim (shared/protocol/shim-v2.md §5.4): FIFO paths (or plain
 * files), file:// URIs, binary:// loggers, or a terminal through the OCI runtime's console socket.
 *
 * Lifecycle, for one process (init or exec):
 *   stdio_new()            parse and open what the client asked for; create the pipes handed to the OCI runtime
 *   stdio_wait_ready()     binary://: start the logger and wait until it is ready (may overlap the runtime's
 *                          create: the pipes already exist and buffer, and the process writes nothing before Start)
 *   stdio_child_fd(0|1|2)  fds the runtime child must get as its stdin/stdout/stderr (-1: /dev/null)
 *   stdio_console_*()      terminal mode: make the console socket, later receive the pty master from it
 *   stdio_after_start()    close our copies of the child ends; start copying (event loop driven)
 *   stdio_resize / stdio_close_stdin
 *   stdio_on_drained()     called once all output has been copied out after the process exited (stdout/stderr EOF)
 *   stdio_free() */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "basic/error.h"
#include "basic/event.h"

typedef struct shim_stdio shim_stdio;

typedef struct stdio_config {
        const char *stdin_path; /* "" or NULL: not wanted */
        const char *stdout_path;
        const char *stderr_path;
        bool terminal;
        uid_t io_uid; /* owner of the pipes given to the runtime (user namespaces); 0 = root */
        gid_t io_gid;
        const char *container_id; /* for binary:// loggers' environment */
        const char *ns;
} stdio_config;

/* Errors: InvalidArgument for an unknown scheme or a malformed/relative URI, NotFound etc. from the opens.
 * binary://: checks the logger can be executed; stdio_wait_ready starts it and waits for its readiness (and
 * stdio_after_start does, if that was not called). Copies write into pipes whose readers
 * may go away: if SIGPIPE is still at SIG_DFL, a no-op handler is installed (not SIG_IGN, which runc and the
 * container would inherit through exec). */
int stdio_new(ev_loop *loop, const stdio_config *cfg, shim_stdio **ret, berr **err);
shim_stdio *stdio_free(shim_stdio *io);
/* binary://: starts the logger (the first time) and waits (at most 10 s) until it is ready: it wrote to or closed its
 * readiness fd (exiting counts, as in containerd). DeadlineExceeded (the logger then killed) when it never does.
 * Other modes, or called again: 0 at once. */
int stdio_wait_ready(shim_stdio *io, berr **err);
/* binary://: only starts the logger (when not started yet), to do other work before stdio_wait_ready. Other modes: 0. */
int stdio_start_logger(shim_stdio *io, berr **err);

/* 0, 1, 2: the fd to dup2 into the runtime child's stdin/stdout/stderr, or -1 for /dev/null. Not in terminal mode. */
int stdio_child_fd(const shim_stdio *io, int which);

/* Terminal mode: creates a listening unix socket in a private temp dir; *ret_path is what to pass as --console-socket. */
int stdio_console_socket(shim_stdio *io, const char **ret_path, berr **err);
/* After the runtime command returned: accept on the console socket and receive the pty master over SCM_RIGHTS
 * (nonblocking; fails if the runtime did not send one). Removes the socket and its dir. */
int stdio_console_receive(shim_stdio *io, berr **err);

/* Close the parent's copies of the child ends and begin copying. */
int stdio_after_start(shim_stdio *io, berr **err);

int stdio_resize(shim_stdio *io, unsigned width, unsigned height, berr **err);
/* CloseIO(stdin=true): drop our own stdin writer handle so the process sees EOF once the client's writer is closed. */
int stdio_close_stdin(shim_stdio *io);

/* cb runs once, when stdout and stderr (or the pty master) reached EOF / hangup, i.e. all output was copied. If that
 * already happened, cb runs from the loop soon after (never synchronously inside this call). */
void stdio_on_drained(shim_stdio *io, void (*cb)(void *userdata), void *userdata);
/* The process exited: in terminal mode the pty master may never see EOF if other processes keep the slave open; after a
 * short grace period give up copying so the exit can be reported. Also closes a binary:// logger properly. */
void stdio_process_exited(shim_stdio *io);

/* binary:// loggers not reaped yet, including those of freed shim_stdio objects (stdio_free stops a logger in
 * the background: grace period, SIGTERM, 12 s, SIGKILL, all driven by the loop). A shim about to exit can run
 * its loop until this is 0 so that loggers get to flush. */
unsigned stdio_loggers_pending(void);
