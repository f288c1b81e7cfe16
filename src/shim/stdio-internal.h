/* Private to the stdio module (stdio.c, stdio-pump.c, stdio-console.c, stdio-logger.c, stdio-uri.c). */
#pragma once

#include <stddef.h>

#include "shim/stdio.h"

/* How much one copy direction holds when its destination cannot take more (a FIFO nobody reads); past this
 * the source is no longer read, so the process blocks on its own writes instead of the shim growing. */
#define STDIO_PUMP_BUF (64 * 1024)

/* A terminal's output may never reach EOF when other processes keep the slave open. */
#define STDIO_TERMINAL_GRACE_USEC (1500 * 1000ULL)

typedef enum stdio_mode {
        STDIO_MODE_PIPE,   /* FIFOs or plain files, copied through pipes */
        STDIO_MODE_FILE,   /* file://: the child writes to the file directly */
        STDIO_MODE_BINARY, /* binary://: a logger process reads the pipes */
} stdio_mode;

/* Where copied bytes go. Shared by stdout and stderr when both name the same regular file. */
typedef struct stdio_sink {
        int fd;
        int fifo_reader; /* our own read handle on an output FIFO, so writes never fail with EPIPE; -1 if none */
        bool pollable;   /* a FIFO, pipe or tty (nonblocking, waited on); regular files are written synchronously */
        unsigned users;
} stdio_sink;

stdio_sink *stdio_sink_new(int fd, int fifo_reader, bool pollable);
stdio_sink *stdio_sink_ref(stdio_sink *sink);
void stdio_sink_unref(stdio_sink *sink);

/* One copy direction: reads src (nonblocking) from the loop, writes to the sink, with backpressure. */
typedef struct stdio_pump stdio_pump;

/* Takes ownership of src and of one sink reference. output: counts towards "drained". */
stdio_pump *stdio_pump_new(shim_stdio *io, const char *name, int src, stdio_sink *sink, bool output);
int stdio_pump_start(stdio_pump *p, berr **err);
bool stdio_pump_done(const stdio_pump *p);
bool stdio_pump_is_output(const stdio_pump *p);
stdio_pump *stdio_pump_free(stdio_pump *p);

/* Called by a pump when it finished (source at EOF and everything written, or the destination failed). */
void stdio_pump_finished(shim_stdio *io, stdio_pump *p);

/* binary:// loggers. The object outlives its shim_stdio once released: it is freed when the logger is reaped. */
typedef struct stdio_logger stdio_logger;
/* A logger configured by stdio_new and not started yet (stdio.c). */
typedef struct stdio_pending_logger stdio_pending_logger;

/* Starts path with args (NULL-terminated "k", "v", ...) without waiting for it to be ready. Takes ownership of
 * out_r and err_r (they become the logger's fds 3 and 4) in every case. */
int stdio_logger_start(ev_loop *loop, const char *path, char *const *args, const char *container_id,
                       const char *ns, int out_r, int err_r, stdio_logger **ret, berr **err);
/* Waits (at most 10 s) until the logger wrote to or closed its readiness fd; at once if that was seen before.
 * On failure the logger is killed (the object stays the owner's to release). */
int stdio_logger_wait_ready(stdio_logger *l, berr **err);
/* The process exited: give the logger a grace period to drain, then SIGTERM, then SIGKILL. */
void stdio_logger_shutdown(stdio_logger *l);
/* The owner lets go: shuts down if that did not start yet; the object frees itself once reaped. */
void stdio_logger_release(stdio_logger *l);
pid_t stdio_logger_pid(const stdio_logger *l);

/* URIs (the subset of Go's net/url that containerd's stdio strings use). */

/* Returns the scheme (lower-cased, malloc'd) and sets *ret_rest past "scheme:", or NULL when s has none. */
char *stdio_uri_scheme(const char *s, const char **ret_rest);
/* Splits "//authority/path?query#frag" (after the scheme) into a percent-decoded path and the raw query. Returns
 * -1 on a malformed escape. */
int stdio_uri_split(const char *rest, char **ret_path, char **ret_query);
/* "k=v&k2=v2" into a NULL-terminated array "k", "v", "k2", "v2" (decoded; a key without '=' gets ""). */
int stdio_uri_query_args(const char *query, char ***ret);
/* Percent-decoding; plus_is_space for query components. Returns NULL on a malformed escape. */
char *stdio_uri_unescape(const char *s, size_t n, bool plus_is_space);

/* Console (stdio-console.c). */
void stdio_console_cleanup(shim_stdio *io);

struct shim_stdio {
        ev_loop *loop;
        stdio_mode mode;
        bool terminal;
        uid_t io_uid;
        gid_t io_gid;

        /* Ends for the runtime child; child_fd[2] may equal child_fd[1] (file:// mode). */
        int child_fd[3];

        /* stdin FIFO: our read side (a pump's source) and our own writer that keeps EOF away until CloseIO. */
        int stdin_fifo;
        int stdin_writer;

        /* Non-terminal: pumps created by stdio_new, started by stdio_after_start. [0] stdin, [1] stdout, [2] stderr. */
        stdio_pump *pump[3];

        /* Terminal: where the pty output goes until the pumps exist. */
        stdio_sink *term_out;
        char *console_dir;
        char *console_path;
        int console_listen;
        int master;

        stdio_pending_logger *pending_logger; /* binary:// until stdio_wait_ready */
        stdio_logger *logger;

        bool started;
        bool exited;
        bool drained;
        bool drained_fired;
        void (*drained_cb)(void *userdata);
        void *drained_userdata;
        ev_source *drained_defer;
        ev_source *grace_timer;
};
