/* One poll loop over the process's call, our stdin and a signalfd. Everything that can end the loop returns through
 * the same exit, which restores the terminal and the signal mask. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/macro.h"
#include "cli/attach.h"

/* Ctrl-C this many times without the container exiting: give up waiting (the container keeps running). */
#define SIGINT_GIVE_UP 3

static const int proxied_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

bool cli_terminal_size(uint32_t *ret_width, uint32_t *ret_height) {
        struct winsize ws;
        int fd = isatty(STDIN_FILENO) ? STDIN_FILENO : STDOUT_FILENO;
        if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
                return false;
        *ret_width = ws.ws_col;
        *ret_height = ws.ws_row;
        return true;
}

/* Also once started: the size may have changed since the options went out (no SIGWINCH was watched then). */
static void send_window_size(berth_process *p) {
        uint32_t width, height;
        if (cli_terminal_size(&width, &height))
                (void) berth_process_resize(p, width, height, NULL);
}

typedef struct attach_state {
        bool have_exit;
        int code;
        char *start_error;
        bool stdin_done;
        unsigned sigints;
        int stop_signal; /* a signal that ends the loop (not proxied) */
        char *id;        /* what started (the container, for the signals) */
        bool held_ctrl_p; /* detach keys: a ctrl-p not sent yet, waiting for what follows it */
        bool detached;    /* detach keys: read */
} attach_state;

/* Handles what arrived; returns 1 to go on, 0 at the end of the call, -1 on an error. */
static int drain_events(berth_process *p, const cli_attach_opts *o, attach_state *st, berr **err) {
        berth_process_event ev;
        int r;
        while ((r = berth_process_next(p, 0, &ev, err)) == 1) {
                switch (ev.kind) {
                case BERTH_PROCESS_STARTED:
                        if (!st->id)
                                st->id = xstrdup(ev.id);
                        if (o->tty)
                                send_window_size(p);
                        break;
                case BERTH_PROCESS_STDOUT:
                        (void) write_all(STDOUT_FILENO, ev.data, ev.len);
                        break;
                case BERTH_PROCESS_STDERR:
                        (void) write_all(STDERR_FILENO, ev.data, ev.len);
                        break;
                case BERTH_PROCESS_EXIT:
                        st->have_exit = true;
                        st->code = ev.exit_code;
                        if (*ev.error && !st->start_error)
                                st->start_error = xstrdup(ev.error);
                        break;
                }
        }
        if (r == 0)
                return 1;
        if (r == 2)
                return 0;
        return -1;
}

static void on_signal(berth_client *c, berth_process *p, const cli_attach_opts *o, attach_state *st, int signo) {
        if (signo == SIGWINCH) {
                send_window_size(p);
                return;
        }
        if (!o->proxy_signals || !st->id) {
                st->stop_signal = signo;
                return;
        }
        if (signo == SIGINT && ++st->sigints >= SIGINT_GIVE_UP) {
                st->stop_signal = signo;
                return;
        }
        char num[16];
        snprintf(num, sizeof num, "%d", signo);
        (void) berth_kill_named(c, st->id, num, NULL);
}

#define CTRL_P 0x10
#define CTRL_Q 0x11

/* Takes docker's detach keys (ctrl-p ctrl-q) out of buf[0..n) in place; returns what is left to send. A ctrl-p is
 * held back until the next byte shows whether the sequence goes on (it then goes out with that byte). */
static size_t filter_detach_keys(uint8_t *buf, size_t n, attach_state *st) {
        uint8_t out[(32 << 10) + 1];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (st->held_ctrl_p) {
                        st->held_ctrl_p = false;
                        if (buf[i] == CTRL_Q) {
                                st->detached = true;
                                break;
                        }
                        out[k++] = CTRL_P;
                }
                if (buf[i] == CTRL_P)
                        st->held_ctrl_p = true;
                else
                        out[k++] = buf[i];
        }
        memcpy(buf, out, k);
        return k;
}

static void read_stdin(berth_process *p, const cli_attach_opts *o, attach_state *st) {
        uint8_t buf[(32 << 10) + 1];
        ssize_t n = read(STDIN_FILENO, buf, 32 << 10);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n > 0 && o->detach_keys) {
                size_t k = filter_detach_keys(buf, (size_t) n, st);
                if (st->detached || k == 0)
                        return;
                n = (ssize_t) k;
        }
        if (n > 0 && berth_process_write_stdin(p, buf, (size_t) n, NULL) == 0)
                return;
        if (n == 0 && st->held_ctrl_p)
                (void) berth_process_write_stdin(p, (const uint8_t[]) { CTRL_P }, 1, NULL);
        /* EOF (or a read error, or the process no longer takes input): the process sees EOF. */
        st->stdin_done = true;
        (void) berth_process_close_stdin(p, NULL);
}

int cli_attach(berth_client *c, berth_process *p, const cli_attach_opts *o, int *ret_code, berr **err) {
        attach_state st = { .stdin_done = !o->stdin_open, .id = o->id ? xstrdup(o->id) : NULL };
        struct termios saved;
        bool raw = false;
        if (o->tty && o->stdin_open && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
                struct termios t = saved;
                cfmakeraw(&t);
                raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
        }
        sigset_t mask, old;
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(proxied_signals); i++)
                sigaddset(&mask, proxied_signals[i]);
        if (o->tty)
                sigaddset(&mask, SIGWINCH);
        sigprocmask(SIG_BLOCK, &mask, &old);
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        /* attach: no start event will carry the first size */
        if (o->tty && o->id)
                send_window_size(p);

        int r = 1;
        while (r > 0 && !st.stop_signal && !st.detached) {
                struct pollfd pfd[3];
                pfd[0].fd = berth_process_pollfd(p, &pfd[0].events);
                pfd[1] = (struct pollfd) { .fd = sfd, .events = POLLIN };
                /* stdin only once the process exists: the daemon has nowhere to put it before. */
                bool want_stdin = !st.stdin_done && st.id;
                pfd[2] = (struct pollfd) { .fd = want_stdin ? STDIN_FILENO : -1, .events = POLLIN };
                if (poll(pfd, 3, -1) < 0 && errno != EINTR) {
                        r = berr_errno(err, errno, "poll");
                        break;
                }
                struct signalfd_siginfo si;
                while (sfd >= 0 && read(sfd, &si, sizeof si) == (ssize_t) sizeof si)
                        on_signal(c, p, o, &st, (int) si.ssi_signo);
                if (want_stdin && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
                        read_stdin(p, o, &st);
                r = drain_events(p, o, &st, err);
        }

        safe_close(sfd);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (raw)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);

        _cleanup_free_ char *start_error = st.start_error, *id = st.id;
        if (st.detached) {
                fputs("read escape sequence\n", stderr);
                *ret_code = 1;
                return 0;
        }
        if (st.stop_signal) {
                *ret_code = 128 + st.stop_signal;
                return 0;
        }
        if (st.have_exit) {
                /* A failed start ends the call with an error after its exit event: the code is what counts. */
                if (start_error && !o->quiet_start_error)
                        fprintf(stderr, "berth: %s\n", start_error);
                else if (r < 0 && !start_error && *err)
                        fprintf(stderr, "berth: %s\n", (*err)->msg);
                if (err && *err)
                        berr_freep(err);
                *ret_code = st.code;
                return 0;
        }
        if (r < 0)
                return -1;
        return berr_set(err, BERR_INTERNAL, 0, "the daemon ended the call without the process's exit");
}
