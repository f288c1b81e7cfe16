#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>

#include "basic/log.h"
#include "services/diff-apply.h"

struct diff_apply_job {
        pthread_t thread;
        int wake_fd; /* eventfd: written once by the worker when it is done */
        ev_source *wake;
        atomic_bool cancelled;

        content_reader *reader;
        int64_t offset;
        char expected[DIGEST_STRING_MAX];
        apply_target target;
        apply_options opts;

        /* written by the worker before it signals */
        int r;
        apply_result result;
        berr *err;

        diff_apply_done_fn done;
        void *userdata;
};

static void job_free(diff_apply_job *job) {
        content_reader_free(job->reader);
        apply_target_done(&job->target);
        berr_free(job->err);
        if (job->wake)
                ev_source_free(job->wake); /* closes wake_fd */
        else
                safe_close(job->wake_fd);
        free(job);
}

static ssize_t read_blob(void *userdata, void *buf, size_t len) {
        diff_apply_job *job = userdata;
        if (atomic_load(&job->cancelled)) {
                errno = ECANCELED;
                return -1;
        }
        _cleanup_berr_ berr *e = NULL;
        ssize_t n = content_reader_pread(job->reader, buf, len, job->offset, &e);
        if (n < 0) {
                errno = e->errnum ? e->errnum : EIO;
                return -1;
        }
        job->offset += n;
        return n;
}

static void *worker(void *userdata) {
        diff_apply_job *job = userdata;
        job->r = apply_layer(job->target.root_fd, read_blob, job, &job->opts, &job->result, &job->err);
        if (job->r < 0 && atomic_load(&job->cancelled)) {
                berr_free(job->err);
                job->err = NULL;
                job->r = berr_set(&job->err, BERR_CANCELED, ECANCELED, "context canceled");
        }
        /* The blob was verified when it was committed; a mismatch now means it changed on disk. */
        if (job->r == 0 && strcmp(job->result.compressed_digest, job->expected) != 0)
                job->r = berr_set(&job->err, BERR_FAILED_PRECONDITION, 0,
                                  "digest mismatch: content %s read as %s: failed precondition", job->expected,
                                  job->result.compressed_digest);
        uint64_t one = 1;
        if (write(job->wake_fd, &one, sizeof one) != sizeof one)
                log_error("diff apply: cannot wake the event loop: %m");
        return NULL;
}

static int on_wake(ev_source *s, int fd, uint32_t revents, void *userdata) {
        diff_apply_job *job = userdata;
        uint64_t v;
        if (read(fd, &v, sizeof v) < 0 && errno == EAGAIN)
                return 0; /* spurious */
        pthread_join(job->thread, NULL);
        berr *e = TAKE_PTR(job->err);
        job->done(job->r, &job->result, e, job->userdata);
        job_free(job);
        return 0;
}

int diff_apply_start(ev_loop *loop, content_reader *reader, const char *expected_digest, apply_target *target,
                     apply_compression compression, bool allow_devices, diff_apply_done_fn done, void *userdata,
                     diff_apply_job **ret, berr **err) {
        if (strlen(expected_digest) >= DIGEST_STRING_MAX)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid digest %s", expected_digest);
        diff_apply_job *job = xcalloc(1, sizeof *job);
        job->target = (apply_target) { .root_fd = -1 };
        job->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (job->wake_fd < 0) {
                free(job);
                return berr_errno(err, errno, "eventfd");
        }
        int r = ev_add_io(loop, &job->wake, job->wake_fd, EPOLLIN, on_wake, job);
        if (r < 0) {
                job_free(job);
                return berr_errno(err, -r, "cannot watch the apply worker");
        }
        ev_source_set_close_fd(job->wake, true);
        strcpy(job->expected, expected_digest);
        job->target = *target;
        job->opts = apply_target_options(&job->target, allow_devices);
        job->opts.compression = compression;
        job->done = done;
        job->userdata = userdata;
        job->reader = reader;
        r = pthread_create(&job->thread, NULL, worker, job);
        if (r != 0) {
                job->reader = NULL;
                job->target = (apply_target) { .root_fd = -1 };
                job_free(job);
                return berr_errno(err, r, "cannot start the apply worker");
        }
        *target = (apply_target) { .root_fd = -1 };
        *ret = job;
        return 0;
}

void diff_apply_cancel(diff_apply_job *job) {
        atomic_store(&job->cancelled, true);
}
