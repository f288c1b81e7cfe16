/* Keeping the metadata database's write-ahead log short. SQLite appends every commit to the WAL and copies it into
 * the database only at a checkpoint (by default once the log holds 1000 pages, ~4 MB). After berthd is killed, the
 * next start reads the whole log again (WAL recovery): ~2 ms for the ~3 MB that 50 `berth run`s leave, on the way
 * to serving. So once berthd has settled (the log did not grow for a whole look: no commit meanwhile), a log of
 * more than a little is checkpointed and truncated. Commits are unchanged (synchronous=NORMAL: no fsync each);
 * only the checkpoint syncs, as SQLite's own checkpoints do, and it never waits for a worker's transaction (it is
 * tried again at the next look). */
#pragma once

#include "basic/event.h"
#include "metadata/db.h"

typedef struct berthd_wal berthd_wal;

/* Looks at the log's size shortly after start-up, then once a second, on loop; db is the loop thread's
 * connection. Failure to set up the timer is not fatal: *ret is NULL and the log is left to SQLite. */
void berthd_wal_watch(ev_loop *loop, meta_db *db, berthd_wal **ret);
/* Stops watching. Accepts NULL; returns NULL. */
berthd_wal *berthd_wal_free(berthd_wal *w);
