/* Push-model layer application: the producer (a pull's download callback) feeds bytes into a bounded ring; a
 * worker thread runs apply_layer() reading from it. So fetch, digest, decompress and unpack overlap in one pass,
 * and a slow disk throttles the download through feed() blocking. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>

#include "images/apply-internal.h"

#define RING_SIZE (1024 * 1024)

struct apply_stream {
        pthread_t thread;
        pthread_mutex_t mu;
        pthread_cond_t can_read, can_write;
        uint8_t *ring;
        size_t head, len; /* readable bytes start at head */
        bool eof, aborted, worker_done;
        int root_fd;
        int *parent_fds;
        apply_options opts;
        int result_r;
        apply_result result;
        berr *err;
};

static ssize_t ring_read(void *userdata, void *buf, size_t len) {
        apply_stream *s = userdata;
        pthread_mutex_lock(&s->mu);
        while (s->len == 0 && !s->eof && !s->aborted)
                pthread_cond_wait(&s->can_read, &s->mu);
        if (s->aborted) {
                pthread_mutex_unlock(&s->mu);
                errno = ECANCELED;
                return -1;
        }
        size_t n = 0;
        while (n < len && s->len > 0) {
                size_t chunk = RING_SIZE - s->head;
                if (chunk > s->len)
                        chunk = s->len;
                if (chunk > len - n)
                        chunk = len - n;
                memcpy((uint8_t *) buf + n, s->ring + s->head, chunk);
                s->head = (s->head + chunk) % RING_SIZE;
                s->len -= chunk;
                n += chunk;
        }
        pthread_cond_signal(&s->can_write);
        pthread_mutex_unlock(&s->mu);
        return (ssize_t) n;
}

static void *worker(void *userdata) {
        apply_stream *s = userdata;
        berr *e = NULL;
        int r = apply_layer(s->root_fd, ring_read, s, &s->opts, &s->result, &e);
        pthread_mutex_lock(&s->mu);
        s->result_r = r;
        s->err = e;
        s->worker_done = true;
        pthread_cond_broadcast(&s->can_write);
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

static void stream_free(apply_stream *s) {
        safe_close(s->root_fd);
        for (size_t i = 0; i < s->opts.n_parent_fds; i++)
                safe_close(s->parent_fds[i]);
        free(s->parent_fds);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->can_read);
        pthread_cond_destroy(&s->can_write);
        free(s->ring);
        berr_free(s->err);
        free(s);
}

int apply_stream_start(int root_fd, const apply_options *opts, apply_stream **ret, berr **err) {
        apply_stream *s = xcalloc(1, sizeof *s);
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->can_read, NULL);
        pthread_cond_init(&s->can_write, NULL);
        s->ring = xmalloc(RING_SIZE);
        s->opts = opts ? *opts : (apply_options) { 0 };
        s->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (s->root_fd < 0) {
                s->opts.n_parent_fds = 0;
                stream_free(s);
                return berr_errno(err, errno, "dup layer root");
        }
        size_t n = s->opts.n_parent_fds;
        s->opts.n_parent_fds = 0;
        s->parent_fds = xcalloc(n ? n : 1, sizeof(int));
        for (size_t i = 0; i < n; i++) {
                s->parent_fds[i] = fcntl(opts->parent_fds[i], F_DUPFD_CLOEXEC, 3);
                if (s->parent_fds[i] < 0) {
                        stream_free(s);
                        return berr_errno(err, errno, "dup parent layer");
                }
                s->opts.n_parent_fds++;
        }
        s->opts.parent_fds = s->parent_fds;
        int r = pthread_create(&s->thread, NULL, worker, s);
        if (r != 0) {
                stream_free(s);
                return berr_errno(err, r, "start unpack thread");
        }
        *ret = s;
        return 0;
}

static int worker_error(apply_stream *s, berr **err) {
        if (s->err)
                return berr_set(err, s->err->code, s->err->errnum, "%s", s->err->msg);
        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "layer ended before all data was fed: invalid argument");
}

int apply_stream_feed(apply_stream *s, const void *buf, size_t len, berr **err) {
        pthread_mutex_lock(&s->mu);
        size_t done = 0;
        int r = 0;
        while (done < len) {
                while (s->len == RING_SIZE && !s->worker_done)
                        pthread_cond_wait(&s->can_write, &s->mu);
                if (s->worker_done) {
                        r = worker_error(s, err);
                        break;
                }
                size_t tail = (s->head + s->len) % RING_SIZE;
                /* Contiguous free space from tail: up to the end of the ring, or up to head if it wrapped. */
                size_t chunk = tail >= s->head ? RING_SIZE - tail : s->head - tail;
                if (chunk > RING_SIZE - s->len)
                        chunk = RING_SIZE - s->len;
                if (chunk > len - done)
                        chunk = len - done;
                memcpy(s->ring + tail, (const uint8_t *) buf + done, chunk);
                s->len += chunk;
                done += chunk;
                pthread_cond_signal(&s->can_read);
        }
        pthread_mutex_unlock(&s->mu);
        return r;
}

int apply_stream_finish(apply_stream *s, apply_result *ret, berr **err) {
        pthread_mutex_lock(&s->mu);
        s->eof = true;
        pthread_cond_signal(&s->can_read);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        int r = s->result_r;
        if (r < 0)
                worker_error(s, err);
        else if (ret)
                *ret = s->result;
        stream_free(s);
        return r < 0 ? -1 : 0;
}

void apply_stream_abort(apply_stream *s) {
        if (!s)
                return;
        pthread_mutex_lock(&s->mu);
        s->aborted = true;
        pthread_cond_broadcast(&s->can_read);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        stream_free(s);
}
