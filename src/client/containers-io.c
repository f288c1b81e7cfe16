/* libberth: berth_container_io — a container's output from now on as two pipes, fed by a thread that has its own
 * connection (a berth_client is not thread-safe) running berth.v1.Containers/Attach. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include "client/client-internal.h"

typedef struct io_feeder {
        berth_client *c;
        berth_process *p;
        int fd[2]; /* write ends: stdout, stderr; -1 once closed */
} io_feeder;

static void feeder_write(io_feeder *f, int which, const uint8_t *data, size_t len) {
        while (f->fd[which] >= 0 && len > 0) {
                ssize_t n = write(f->fd[which], data, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        /* EPIPE: the reader closed its end; this stream is dropped from now on. */
                        f->fd[which] = safe_close(f->fd[which]);
                        return;
                }
                data += n;
                len -= (size_t) n;
        }
}

static void *feeder_main(void *arg) {
        io_feeder *f = arg;
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        /* A closed reader must give EPIPE here, not kill the program. */
        pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

        for (;;) {
                if (f->fd[0] < 0 && f->fd[1] < 0)
                        break;
                struct pollfd pfd[3];
                pfd[0].fd = berth_process_pollfd(f->p, &pfd[0].events);
                /* A write end with events 0 still reports POLLERR once its reader is gone. */
                pfd[1] = (struct pollfd) { .fd = f->fd[0] };
                pfd[2] = (struct pollfd) { .fd = f->fd[1] };
                if (poll(pfd, 3, -1) < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < 2; i++)
                        if (f->fd[i] >= 0 && (pfd[i + 1].revents & (POLLERR | POLLHUP)))
                                f->fd[i] = safe_close(f->fd[i]);
                berth_process_event ev;
                int r;
                while ((r = berth_process_next(f->p, 0, &ev, NULL)) == 1) {
                        if (ev.kind == BERTH_PROCESS_STDOUT)
                                feeder_write(f, 0, ev.data, ev.len);
                        else if (ev.kind == BERTH_PROCESS_STDERR)
                                feeder_write(f, 1, ev.data, ev.len);
                }
                if (r != 0)
                        break; /* the end, or an error: the readers see EOF */
        }
        /* Everything released before the readers see EOF: a program may exit right after it. */
        int fds[2] = { f->fd[0], f->fd[1] };
        berth_process_free(f->p);
        berth_client_free(f->c);
        free(f);
        safe_close(fds[0]);
        safe_close(fds[1]);
        return NULL;
}

int berth_container_io(berth_client *c, const char *id, int *ret_stdout, int *ret_stderr, berr **err) {
        /* Errors such as an unknown container now, rather than as an early EOF. */
        berth_container *ct = NULL;
        if (berth_container_get(c, id, &ct, err) < 0)
                return -1;
        berth_container_free(ct);

        berth_client *own = NULL;
        if (berth_client_connect(c->address, c->namespace_, &own, err) < 0)
                return -1;
        berth_process *p = NULL;
        if (berth_attach(own, id, &p, err) < 0) {
                berth_client_free(own);
                return -1;
        }
        int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
                int e = errno;
                safe_close(out[0]);
                safe_close(out[1]);
                berth_process_free(p);
                berth_client_free(own);
                return berr_errno(err, e, "container io: pipe");
        }
        io_feeder *f = xcalloc(1, sizeof *f);
        *f = (io_feeder) { .c = own, .p = p, .fd = { out[1], errp[1] } };
        pthread_t t;
        int r = pthread_create(&t, NULL, feeder_main, f);
        if (r != 0) {
                safe_close(out[0]);
                safe_close(out[1]);
                safe_close(errp[0]);
                safe_close(errp[1]);
                berth_process_free(p);
                berth_client_free(own);
                free(f);
                return berr_errno(err, r, "container io: thread");
        }
        pthread_detach(t);
        *ret_stdout = out[0];
        *ret_stderr = errp[0];
        return 0;
}
