/* berthd's garbage collector: the disk half of containerd's GC scheduler. The metadata layer decides what is
 * unreachable (meta_gc_collect: leases, images, gc.ref labels, ...) and drops those records; this module then
 * removes what no record names any more from disk: snapshot directories (by backend id, children first), blobs
 * with no content record in any namespace (nor expected by a shared ingest), and ingest directories whose backend
 * ref no ingest record uses. That last sweep over the whole store also removes what a crash left behind, so the
 * daemon runs one pass shortly after start (GC_STARTUP_DELAY_USEC, armed by gc_init, or sooner if a pass is asked
 * for); the snapshotters' Cleanup of directories no record names runs in gc_init itself, before any request.
 *
 * Everything here runs on the event loop thread (it uses ctx->db); worker threads that free things hand a
 * gc_schedule() back to the loop. Workers that publish blobs themselves (pull, import) hold gc_content_lock()
 * from just before content_writer_commit until the transaction adding the content record has committed, and
 * record an ingest (meta_ingest_open) before creating its directory: the sweep treats unrecorded blobs and
 * ingests as garbage. */
#pragma once

#include <stddef.h>

#include "basic/error.h"
#include "services/services.h"

/* The start-up pass runs this long after gc_init (containerd's gc scheduler startup_delay), so that a restart
 * serves the clients waiting for it first. */
#define GC_STARTUP_DELAY_USEC (100 * 1000)
/* A pass runs this long after the last gc_schedule() ... */
#define GC_DELAY_USEC (20 * 1000)
/* ... but no later than this after the first one still pending, so a steady stream of changes cannot starve it. */
#define GC_MAX_DELAY_USEC (500 * 1000)

typedef struct gc_state gc_state;

typedef struct gc_stats {
        size_t blobs;     /* blobs deleted from the content store */
        size_t ingests;   /* ingest directories aborted */
        size_t snapshots; /* snapshot directories removed */
        size_t records;   /* content records, leases and snapshot/ingest records dropped by the metadata pass */
} gc_stats;

/* Sets up ctx->gc (the debounce timer on ctx->loop), removes the snapshot directories no record names (a crash's
 * leftovers) and arms the start-up pass (GC_STARTUP_DELAY_USEC; it logs "startup garbage collection: ..." when it
 * removed something). Failures of either are logged, not returned: a daemon with a dirty store still serves.
 * Needs ctx->db and ctx->content. */
int gc_init(service_context *ctx, berr **err);
/* Disarms and frees; accepts NULL. */
gc_state *gc_free(gc_state *g);

/* Asks for a pass GC_DELAY_USEC after the last request (debounced). No-op without gc_init. */
void gc_schedule(service_context *ctx);
/* Runs a pass now (the `sync` option of lease and image Delete) and cancels a pending scheduled one. */
int gc_run_now(service_context *ctx, berr **err);
/* The same, returning what was removed (ret may be NULL). */
int gc_run(service_context *ctx, gc_stats *ret, berr **err);

/* Keeps the sweep from deleting a blob between its publication and its content record (see above). Shared
 * among writers, exclusive for the sweep; never hold it across an event loop iteration on the loop thread. */
void gc_content_lock(void);
void gc_content_unlock(void);
