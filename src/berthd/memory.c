#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "berthd/memory.h"

/* How often the watcher looks at the resident size, how much growth since the last trim is worth a trim, and how
 * little change between two looks counts as settled. */
#define WATCH_PERIOD_USEC (1000 * 1000)
#define GROWTH_KIB 128
#define SETTLED_KIB 16

/* Test builds only (-DBERTHD_MEMORY_STRESS): trim at every look, 50 times a second, whatever the daemon is doing,
 * to show that trimming never changes behaviour. */
#ifdef BERTHD_MEMORY_STRESS
#define STRESS_PERIOD_USEC (20 * 1000)
#endif

struct berthd_memory {
        ev_source *timer;
        unsigned long base_kib;    /* the idle level: right after the last trim + what the next look faulted in */
        unsigned long last_kib;    /* at the previous look */
        unsigned long trimmed_kib; /* right after the last trim; 0 once the look after it has been taken */
        unsigned long own_kib;     /* what a look after a trim faults back in: the least seen so far */
};

typedef struct range {
        unsigned long start, end;
} range;

/* A mapping of /proc/self/smaps and what decides whether its pages may go. */
typedef struct smaps_entry {
        range r;
        bool candidate;      /* private, not writable, file-backed */
        unsigned long dirty; /* Anonymous + Swap kB: pages that differ from the file */
} smaps_entry;

/* With open/read rather than stdio: the watcher calls this every second, and every libc routine it runs is code
 * the kernel maps back in (a block of pages at a time) after each trim. */
unsigned long berthd_memory_resident_kib(void) {
        char buf[128];
        int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        /* "size resident shared text lib data dt", in pages */
        const char *p = strchr(buf, ' ');
        if (!p)
                return 0;
        return strtoul(p + 1, NULL, 10) * (unsigned long) (sysconf(_SC_PAGESIZE) / 1024);
}

/* Field 20 of /proc/self/stat (num_threads); the command name before it may hold spaces and parentheses. */
static long thread_count(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/stat", "re");
        char buf[1024];
        if (!f || !fgets(buf, sizeof buf, f))
                return -1;
        const char *p = strrchr(buf, ')');
        if (!p)
                return -1;
        long n = -1;
        /* After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
         * cstime priority nice num_threads(20). */
        if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld", &n) != 1)
                return -1;
        return n;
}

static void finish_entry(smaps_entry *e, range **drop, size_t *n_drop, size_t *cap) {
        if (!e->candidate || e->dirty != 0 || e->r.end <= e->r.start)
                return;
        if (*n_drop == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                *drop = xrealloc(*drop, *cap * sizeof **drop);
        }
        (*drop)[(*n_drop)++] = e->r;
}

/* The read-only private file mappings whose resident pages are all the file's own (page cache) pages. */
static size_t clean_file_ranges(range **ret) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/smaps", "re");
        if (!f)
                return 0;
        range *drop = NULL;
        size_t n_drop = 0, cap = 0;
        smaps_entry cur = { 0 };
        char line[4352];
        while (fgets(line, sizeof line, f)) {
                char key[64];
                unsigned long kib;
                /* Field lines are "Key:   value kB"; mapping lines start with "start-end perms ...". */
                if (sscanf(line, "%63[A-Za-z_]: %lu", key, &kib) == 2) {
                        if (strcmp(key, "Anonymous") == 0 || strcmp(key, "Swap") == 0)
                                cur.dirty += kib;
                        continue;
                }
                unsigned long start, end, offset, inode;
                char perms[5];
                if (sscanf(line, "%lx-%lx %4s %lx %*x:%*x %lu", &start, &end, perms, &offset, &inode) != 5)
                        continue; /* VmFlags and the like */
                finish_entry(&cur, &drop, &n_drop, &cap);
                cur = (smaps_entry) {
                        .r = { start, end },
                        .candidate = inode != 0 && perms[1] != 'w' && perms[3] == 'p',
                };
        }
        finish_entry(&cur, &drop, &n_drop, &cap);
        *ret = drop;
        return n_drop;
}

bool berthd_memory_trim(void) {
        /* With one thread (this one, the event loop) nothing can replace a mapping between reading smaps and the
         * madvise below: a worker unmapping a file and mapping anonymous memory at the same address would
         * otherwise lose data. Idle is single-threaded anyway; workers exist only while a pull/import runs. */
        if (thread_count() != 1)
                return false;
        _cleanup_free_ range *drop = NULL;
        size_t n = clean_file_ranges(&drop);
        for (size_t i = 0; i < n; i++) {
                void *addr = (void *) drop[i].start;
                size_t len = drop[i].end - drop[i].start;
                if (madvise(addr, len, MADV_DONTNEED) < 0 && errno != EINVAL)
                        log_debug("madvise %lx-%lx: %m", drop[i].start, drop[i].end);
        }
        malloc_trim(0);
        return true;
}

static int on_watch(ev_source *s, void *userdata) {
        berthd_memory *m = userdata;
#ifdef STRESS_PERIOD_USEC
        berthd_memory_trim();
        ev_timer_set(s, STRESS_PERIOD_USEC);
        return 0;
#endif
        unsigned long now = berthd_memory_resident_kib();
        if (m->trimmed_kib) {
                /* The first look after a trim faults back in the code it runs, a block of the page cache around each
                 * fault (libc's and ours: a few hundred KiB): that belongs to the idle level. Some other work may
                 * have run meanwhile too, so the smallest such growth seen is taken as the looks' own. */
                unsigned long grown = now > m->trimmed_kib ? now - m->trimmed_kib : 0;
                if (grown < m->own_kib)
                        m->own_kib = grown;
                m->base_kib = m->trimmed_kib + m->own_kib;
                m->trimmed_kib = 0;
        }
        unsigned long change = now > m->last_kib ? now - m->last_kib : m->last_kib - now;
        if (now > m->base_kib + GROWTH_KIB && change <= SETTLED_KIB && berthd_memory_trim()) {
                unsigned long after = berthd_memory_resident_kib();
                log_debug("idle memory trim: resident %lu KiB -> %lu KiB", now, after);
                m->trimmed_kib = now = after;
        }
        m->last_kib = now;
        ev_timer_set(s, WATCH_PERIOD_USEC);
        return 0;
}

void berthd_memory_watch(ev_loop *loop, berthd_memory **ret) {
        /* One malloc arena for every thread: a worker's own arena outlives it, and malloc_trim() cannot shrink the
         * top of such an arena, so what a pull or import touched there would stay resident at idle. The workers
         * (fetch, unpack, import) allocate little per byte they move, so sharing the arena costs them nothing
         * measurable (bench/README.md: alternating pulls). Set before any worker exists. */
        mallopt(M_ARENA_MAX, 1);
        berthd_memory *m = xcalloc(1, sizeof *m);
        /* No trim yet: start-up work still runs from the loop (GC, restoring tasks); the first settled look trims. */
        m->last_kib = berthd_memory_resident_kib();
        m->own_kib = ULONG_MAX;
        if (ev_add_timer(loop, &m->timer, WATCH_PERIOD_USEC, on_watch, m) < 0) {
                log_debug("no idle memory trim: cannot add a timer");
                free(m);
                m = NULL;
        }
        *ret = m;
}

berthd_memory *berthd_memory_free(berthd_memory *m) {
        if (!m)
                return NULL;
        ev_source_free(m->timer);
        free(m);
        return NULL;
}
