/* Keeping berthd's idle resident memory small. The daemon idles most of its life, but start-up and every request
 * pull library code (SQLite, nghttp2, libcrypto, libcurl and their dependencies) into its page tables, and a pull or
 * import leaves freed heap behind. The idle trim gives both back once the daemon has settled:
 *  - clean pages of read-only private file mappings (code and constants of the binary and of every shared library)
 *    are unmapped with MADV_DONTNEED; they stay in the page cache (shared with every other process using those
 *    libraries) and fault back in, without I/O, when a request needs them. Only mappings holding no anonymous
 *    (copy-on-write) page are touched, so nothing that differs from the file is ever dropped;
 *  - free heap goes back to the kernel (malloc_trim; every thread shares the one arena it can shrink).
 * This changes what the idle daemon keeps mapped (its RSS; PSS already divided shared pages), not what the machine
 * keeps cached. The trim only runs while berthd has a single thread: no worker can (un)map memory meanwhile. */
#pragma once

#include <stdbool.h>

#include "basic/event.h"

typedef struct berthd_memory berthd_memory;

/* Makes every thread share one malloc arena (so malloc_trim reaches all freed heap), then looks at the resident
 * size once a second and trims whenever it has grown by more than a little since the last trim (or start-up) and
 * then stayed put for a whole second: the daemon settled after some work. Failure to set up the watch is not fatal:
 * *ret is NULL and the daemon merely stays larger. */
void berthd_memory_watch(ev_loop *loop, berthd_memory **ret);
/* Stops watching. Accepts NULL; returns NULL. */
berthd_memory *berthd_memory_free(berthd_memory *m);

/* One trim (both steps above); returns false, doing nothing, when more than one thread runs. */
bool berthd_memory_trim(void);
/* Resident set size in KiB (from /proc/self/statm), or 0 if unreadable. */
unsigned long berthd_memory_resident_kib(void);
