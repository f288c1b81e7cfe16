#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "basic/macro.h"
#include "basic/memory-trim.h"

typedef struct mapping {
        unsigned long start, end;
        char perms[5];
        bool ours;
} mapping;

void memory_release_clean_pages(void) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
                return;
        self[n] = '\0';
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        if (!f)
                return;
        mapping maps[64];
        size_t count = 0;
        char line[PATH_MAX + 128];
        while (count < ELEMENTSOF(maps) && fgets(line, sizeof line, f)) {
                mapping m = { 0 };
                char path[PATH_MAX] = "";
                if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %4095s", &m.start, &m.end, m.perms, path) < 3)
                        continue;
                m.ours = strcmp(path, self) == 0;
                maps[count++] = m;
        }
        for (size_t i = 0; i < count; i++) {
                const mapping *m = &maps[i];
                if (!m->ours || m->perms[1] == 'w' || m->perms[3] != 'p')
                        continue;
                /* A read-only mapping that ends where a writable one of the binary begins is the RELRO part of the
                 * data segment: it holds relocated (written) pages, so it stays. Text and constants go. */
                if (i + 1 < count && maps[i + 1].ours && maps[i + 1].start == m->end && maps[i + 1].perms[1] == 'w' &&
                    m->perms[2] != 'x')
                        continue;
                madvise((void *) m->start, m->end - m->start, MADV_DONTNEED);
        }
}

void memory_trim(void) {
        memory_release_clean_pages();
        malloc_trim(0);
}
