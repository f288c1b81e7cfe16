/* Streams an attached process (run in the foreground, exec) to this terminal: output to stdout/stderr, stdin to the
 * process (-i), raw terminal mode and window size (-t; the terminal is restored on every way out), and signals
 * forwarded to the container (docker's sig-proxy). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "berth/berth.h"

typedef struct cli_attach_opts {
        bool tty;            /* the process has a terminal: raw mode here, window size sent */
        bool stdin_open;     /* stream our stdin */
        bool proxy_signals;  /* forward SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/2 to the started container (run) */
        bool quiet_start_error; /* do not print the start error (the caller does) */
        const char *id;      /* the container, when the call announces no start (attach): signals go to it */
        bool detach_keys;    /* ctrl-p ctrl-q in our stdin ends the attach, the container keeps running (docker's
                              * default detach keys); the attach then returns 1 after "read escape sequence" */
} cli_attach_opts;

/* This terminal's size (stdin's, else stdout's): true with both > 0, false when neither is a terminal or the size is
 * unknown (0x0). berth run/exec -t send it with the options, so the process starts with it. */
bool cli_terminal_size(uint32_t *ret_width, uint32_t *ret_height);

/* Runs until the process's call ends. Returns 0 with *ret_code = the process's exit code (126/127 when it could
 * not be started, with the reason printed), or -1 with *err (the call failed before an exit was known). */
int cli_attach(berth_client *c, berth_process *p, const cli_attach_opts *o, int *ret_code, berr **err);
