#include <inttypes.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "berthd/wal.h"

/* The first look comes after the start-up work that follows serving (the clients a restart kept waiting, the
 * garbage collector's start-up pass at 100 ms); then one a second. */
#define FIRST_LOOK_USEC (250 * 1000)
#define LOOK_PERIOD_USEC (1000 * 1000)
/* A log this short is left alone: recovering it costs a tenth of a millisecond, a checkpoint two fsyncs. */
#define CHECKPOINT_MIN_BYTES (256 * 1024)

struct berthd_wal {
        meta_db *db;
        ev_source *timer;
        int64_t last_size; /* at the previous look (at start: the log a previous run left) */
};

static int on_look(ev_source *s, void *userdata) {
        berthd_wal *w = userdata;
        int64_t size = meta_db_wal_size(w->db);
        if (size >= CHECKPOINT_MIN_BYTES && size == w->last_size) {
                uint64_t start = now_monotonic_usec();
                bool done = false;
                _cleanup_berr_ berr *e = NULL;
                if (meta_db_checkpoint(w->db, &done, &e) < 0)
                        log_warn("metadata checkpoint: %s", e->msg);
                else if (done) {
                        log_debug("metadata checkpoint: write-ahead log of %" PRId64 " KiB truncated in %" PRIu64
                                  " us",
                                  size / 1024, now_monotonic_usec() - start);
                        size = meta_db_wal_size(w->db);
                } else
                        log_debug("metadata checkpoint: database busy, trying again later");
        }
        w->last_size = size;
        ev_timer_set(s, LOOK_PERIOD_USEC);
        return 0;
}

void berthd_wal_watch(ev_loop *loop, meta_db *db, berthd_wal **ret) {
        berthd_wal *w = xcalloc(1, sizeof *w);
        w->db = db;
        w->last_size = meta_db_wal_size(db);
        if (ev_add_timer(loop, &w->timer, FIRST_LOOK_USEC, on_look, w) < 0) {
                log_debug("no metadata checkpoints: cannot add a timer");
                free(w);
                w = NULL;
        }
        *ret = w;
}

berthd_wal *berthd_wal_free(berthd_wal *w) {
        if (!w)
                return NULL;
        ev_source_free(w->timer);
        free(w);
        return NULL;
}
