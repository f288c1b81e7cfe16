/* The diff service's Apply work: one job per call, a worker thread that reads the layer blob, digests,
 * decompresses and extracts it into the target directory, and an eventfd that wakes the event loop when the
 * worker is done, so the gRPC call (not thread-safe) is finished on the loop thread. */
#pragma once

#include <stdbool.h>

#include "basic/error.h"
#include "basic/event.h"
#include "content/content.h"
#include "images/apply.h"
#include "images/digest.h"

typedef struct diff_apply_job diff_apply_job;

/* done runs on the loop thread once the worker finished: r is 0 with *result set, or -1 with e (owned by the
 * callee). The job is freed right after done returns. */
typedef void (*diff_apply_done_fn)(int r, const apply_result *result, berr *e, void *userdata);

/* Starts applying the blob read through reader (taken over) into target (taken over) with opts' compression
 * and device policy (the target's whiteout mode and parents are filled in). The blob must digest to
 * expected_digest, else the job fails with FAILED_PRECONDITION. On failure nothing is taken over. */
int diff_apply_start(ev_loop *loop, content_reader *reader, const char *expected_digest, apply_target *target,
                     apply_compression compression, bool allow_devices, diff_apply_done_fn done, void *userdata,
                     diff_apply_job **ret, berr **err);
/* Asks the worker to stop at its next read (thread-safe); done still runs, with BERR_CANCELED. */
void diff_apply_cancel(diff_apply_job *job);
