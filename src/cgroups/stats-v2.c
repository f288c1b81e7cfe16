/* io.containerd.cgroups.v2.Metrics from a cgroup2 directory. As in containerd/cgroups v2, a "max"
 * limit reads as UINT64_MAX, cpu times stay in microseconds, and memory_events is present only when
 * memory.events exists. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "cgroups/cgroup-file.h"
#include "cgroups/cgroup-stats.h"

static Io__Containerd__Cgroups__V2__MemoryStat *memory_stat(const char *dir) {
        Io__Containerd__Cgroups__V2__MemoryStat *m = xmalloc(sizeof *m);
        io__containerd__cgroups__v2__memory_stat__init(m);
        const cg_kv kv[] = {
                { "anon", &m->anon },
                { "file", &m->file },
                { "kernel_stack", &m->kernel_stack },
                { "slab", &m->slab },
                { "sock", &m->sock },
                { "shmem", &m->shmem },
                { "file_mapped", &m->file_mapped },
                { "file_dirty", &m->file_dirty },
                { "file_writeback", &m->file_writeback },
                { "anon_thp", &m->anon_thp },
                { "inactive_anon", &m->inactive_anon },
                { "active_anon", &m->active_anon },
                { "inactive_file", &m->inactive_file },
                { "active_file", &m->active_file },
                { "unevictable", &m->unevictable },
                { "slab_reclaimable", &m->slab_reclaimable },
                { "slab_unreclaimable", &m->slab_unreclaimable },
                { "pgfault", &m->pgfault },
                { "pgmajfault", &m->pgmajfault },
                { "workingset_refault", &m->workingset_refault },
                { "workingset_activate", &m->workingset_activate },
                { "workingset_nodereclaim", &m->workingset_nodereclaim },
                { "pgrefill", &m->pgrefill },
                { "pgscan", &m->pgscan },
                { "pgsteal", &m->pgsteal },
                { "pgactivate", &m->pgactivate },
                { "pgdeactivate", &m->pgdeactivate },
                { "pglazyfree", &m->pglazyfree },
                { "pglazyfreed", &m->pglazyfreed },
                { "thp_fault_alloc", &m->thp_fault_alloc },
                { "thp_collapse_alloc", &m->thp_collapse_alloc },
        };
        cg_read_kv(dir, "memory.stat", kv, ELEMENTSOF(kv));
        cg_read_u64(dir, "memory.current", UINT64_MAX, &m->usage);
        cg_read_u64(dir, "memory.max", UINT64_MAX, &m->usage_limit);
        cg_read_u64(dir, "memory.swap.current", UINT64_MAX, &m->swap_usage);
        cg_read_u64(dir, "memory.swap.max", UINT64_MAX, &m->swap_limit);
        return m;
}

/* io.stat lines: "maj:min rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
static Io__Containerd__Cgroups__V2__IOStat *io_stat(const char *dir) {
        Io__Containerd__Cgroups__V2__IOStat *s = xmalloc(sizeof *s);
        io__containerd__cgroups__v2__iostat__init(s);
        _cleanup_free_ char *text = cg_read(dir, "io.stat");
        for (char *line = text; line && *line;) {
                char *eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                unsigned long long major, minor;
                int off = 0;
                if (sscanf(line, "%llu:%llu%n", &major, &minor, &off) == 2) {
                        Io__Containerd__Cgroups__V2__IOEntry *e = xmalloc(sizeof *e);
                        io__containerd__cgroups__v2__ioentry__init(e);
                        e->major = major;
                        e->minor = minor;
                        for (char *tok = strtok(line + off, " "); tok; tok = strtok(NULL, " ")) {
                                char *eq = strchr(tok, '=');
                                if (!eq)
                                        continue;
                                *eq = '\0';
                                uint64_t v;
                                if (!cg_parse_u64(eq + 1, UINT64_MAX, &v))
                                        continue;
                                if (strcmp(tok, "rbytes") == 0)
                                        e->rbytes = v;
                                else if (strcmp(tok, "wbytes") == 0)
                                        e->wbytes = v;
                                else if (strcmp(tok, "rios") == 0)
                                        e->rios = v;
                                else if (strcmp(tok, "wios") == 0)
                                        e->wios = v;
                        }
                        s->usage = xrealloc(s->usage, (s->n_usage + 1) * sizeof *s->usage);
                        s->usage[s->n_usage++] = e;
                }
                line = eol ? eol + 1 : NULL;
        }
        return s;
}

/* hugetlb.<size>.current and hugetlb.<size>.max; other hugetlb files (rsvd, events) are ignored. */
static void hugetlb_stats(const char *dir, Io__Containerd__Cgroups__V2__Metrics *m) {
        struct dirent **ents = NULL;
        int n = scandir(dir, &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                const char *suffix = ".current";
                size_t len = strlen(name), sl = strlen(suffix);
                if (strncmp(name, "hugetlb.", 8) == 0 && len > 8 + sl && strcmp(name + len - sl, suffix) == 0 &&
                    !memchr(name + 8, '.', len - 8 - sl)) {
                        Io__Containerd__Cgroups__V2__HugeTlbStat *h = xmalloc(sizeof *h);
                        io__containerd__cgroups__v2__huge_tlb_stat__init(h);
                        h->pagesize = xstrndup(name + 8, len - 8 - sl);
                        _cleanup_free_ char *f_max = xasprintf("hugetlb.%s.max", h->pagesize);
                        cg_read_u64(dir, name, UINT64_MAX, &h->current);
                        cg_read_u64(dir, f_max, UINT64_MAX, &h->max);
                        m->hugetlb = xrealloc(m->hugetlb, (m->n_hugetlb + 1) * sizeof *m->hugetlb);
                        m->hugetlb[m->n_hugetlb++] = h;
                }
                free(ents[i]);
        }
        free(ents);
}

Io__Containerd__Cgroups__V2__Metrics *cg_stats_v2(const char *dir) {
        Io__Containerd__Cgroups__V2__Metrics *m = xmalloc(sizeof *m);
        io__containerd__cgroups__v2__metrics__init(m);

        m->pids = xmalloc(sizeof *m->pids);
        io__containerd__cgroups__v2__pids_stat__init(m->pids);
        cg_read_u64(dir, "pids.current", UINT64_MAX, &m->pids->current);
        cg_read_u64(dir, "pids.max", UINT64_MAX, &m->pids->limit);

        m->cpu = xmalloc(sizeof *m->cpu);
        io__containerd__cgroups__v2__cpustat__init(m->cpu);
        const cg_kv cpu[] = {
                { "usage_usec", &m->cpu->usage_usec },     { "user_usec", &m->cpu->user_usec },
                { "system_usec", &m->cpu->system_usec },   { "nr_periods", &m->cpu->nr_periods },
                { "nr_throttled", &m->cpu->nr_throttled }, { "throttled_usec", &m->cpu->throttled_usec },
        };
        cg_read_kv(dir, "cpu.stat", cpu, ELEMENTSOF(cpu));

        m->memory = memory_stat(dir);

        Io__Containerd__Cgroups__V2__MemoryEvents *ev = xmalloc(sizeof *ev);
        io__containerd__cgroups__v2__memory_events__init(ev);
        const cg_kv events[] = {
                { "low", &ev->low }, { "high", &ev->high },         { "max", &ev->max },
                { "oom", &ev->oom }, { "oom_kill", &ev->oom_kill },
        };
        if (cg_read_kv(dir, "memory.events", events, ELEMENTSOF(events)))
                m->memory_events = ev;
        else
                free(ev);

        m->io = io_stat(dir);
        hugetlb_stats(dir, m);
        return m;
}
