/* Terminal mode: the console socket runc/crun send the pty master to (--console-socket), and window resizes.
 * The runtime connects and sends while `create`/`exec` runs; the shim runs those synchronously, and the
 * connection plus its SCM_RIGHTS message wait in the listen backlog until stdio_console_receive. */
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>

#include "shim/stdio-internal.h"
#include "basic/log.h"

#define CONSOLE_RECV_TIMEOUT_USEC (1000 * 1000)
#define CONSOLE_MAX_FDS 4

void stdio_console_cleanup(shim_stdio *io) {
        io->console_listen = safe_close(io->console_listen);
        if (io->console_path)
                (void) unlink(io->console_path);
        if (io->console_dir)
                (void) rmdir(io->console_dir);
        free(io->console_path);
        io->console_path = NULL;
        free(io->console_dir);
        io->console_dir = NULL;
}

/* Like go-runc: under $XDG_RUNTIME_DIR when set, else /tmp; a socket path must fit in sun_path. */
static char *make_console_dir(berr **err) {
        const char *base = getenv("XDG_RUNTIME_DIR");
        if (!base || base[0] != '/' || strlen(base) > sizeof(((struct sockaddr_un *) NULL)->sun_path) - 32)
                base = "/tmp";
        char *dir = xasprintf("%s/pty-XXXXXX", base);
        if (!mkdtemp(dir)) {
                int e = errno;
                free(dir);
                berr_errno(err, e, "stdio: create console socket directory under %s", base);
                return NULL;
        }
        return dir;
}

int stdio_console_socket(shim_stdio *io, const char **ret_path, berr **err) {
        if (!io->terminal)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdio: console socket without a terminal");
        if (io->console_path) {
                *ret_path = io->console_path;
                return 0;
        }
        io->console_dir = make_console_dir(err);
        if (!io->console_dir)
                return -1;
        io->console_path = xasprintf("%s/pty.sock", io->console_dir);

        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strncpy(addr.sun_path, io->console_path, sizeof addr.sun_path - 1);
        /* Nonblocking, so a receive after a runtime that never connected fails instead of hanging the shim. */
        io->console_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (io->console_listen < 0 ||
            bind(io->console_listen, (struct sockaddr *) &addr, sizeof addr) < 0 ||
            listen(io->console_listen, 4) < 0) {
                int e = errno;
                stdio_console_cleanup(io);
                return berr_errno(err, e, "stdio: console socket");
        }
        *ret_path = io->console_path;
        return 0;
}

/* One message carrying the master; runc sends the pty's name as data, crun sends a byte. Extra fds are closed. */
static int recv_master(int conn, berr **err) {
        char data[256];
        struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CONSOLE_MAX_FDS)];
        } control;
        struct msghdr msg = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf,
        };
        ssize_t n;
        do
                n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return berr_errno(err, errno == EAGAIN ? ETIMEDOUT : errno, "stdio: receive the console");

        int master = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfds; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                        if (master < 0)
                                master = fd;
                        else
                                safe_close(fd);
                }
        }
        if (master < 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdio: the runtime sent no console fd");
        struct termios t;
        if (tcgetattr(master, &t) < 0) {
                int e = errno;
                safe_close(master);
                return berr_set(err, BERR_FAILED_PRECONDITION, e, "stdio: the runtime's console fd is not a tty");
        }
        return master;
}

int stdio_console_receive(shim_stdio *io, berr **err) {
        if (io->console_listen < 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdio: no console socket to receive from");
        if (io->master >= 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdio: console already received");

        int r;
        _cleanup_close_ int conn = -1;
        do
                conn = accept4(io->console_listen, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0) {
                int e = errno;
                stdio_console_cleanup(io);
                if (e == EAGAIN)
                        return berr_set(err, BERR_FAILED_PRECONDITION, 0,
                                        "stdio: the runtime did not connect to the console socket");
                return berr_errno(err, e, "stdio: accept on the console socket");
        }
        /* The runtime has returned, so the message is queued; the bound only guards against a broken one. */
        struct timeval tv = { .tv_sec = 0, .tv_usec = CONSOLE_RECV_TIMEOUT_USEC };
        (void) setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        r = recv_master(conn, err);
        stdio_console_cleanup(io);
        if (r < 0)
                return -1;
        io->master = r;
        log_debug("stdio: received console fd %d", r);
        return 0;
}

int stdio_resize(shim_stdio *io, unsigned width, unsigned height, berr **err) {
        /* Like the runc shim, resizing a process without a terminal is not an error. */
        if (io->master < 0)
                return 0;
        struct winsize ws = { .ws_row = (unsigned short) height, .ws_col = (unsigned short) width };
        if (ioctl(io->master, TIOCSWINSZ, &ws) < 0)
                return berr_errno(err, errno, "stdio: resize console");
        return 0;
}
