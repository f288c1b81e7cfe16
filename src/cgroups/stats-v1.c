/* io.containerd.cgroups.v1.Metrics from cgroup v1 control files. Units and conventions follow the
 * runc shim's cgroups library so ctr and CRI read the numbers the same way: cpu times in
 * nanoseconds (cpuacct.stat ticks converted with USER_HZ), pids limit 0 for "max", memory entries
 * straight from the *_in_bytes / failcnt files. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/macro.h"
#include "cgroups/cgroup-file.h"
#include "cgroups/cgroup-stats.h"

#define NSEC_PER_SEC 1000000000ULL

static Io__Containerd__Cgroups__V1__PidsStat *pids_stat(const char *dir) {
        Io__Containerd__Cgroups__V1__PidsStat *s = xmalloc(sizeof *s);
        io__containerd__cgroups__v1__pids_stat__init(s);
        if (!dir)
                return s;
        cg_read_u64(dir, "pids.current", 0, &s->current);
        cg_read_u64(dir, "pids.max", 0, &s->limit);
        return s;
}

static void cpu_usage(const char *dir, Io__Containerd__Cgroups__V1__CPUUsage *u) {
        cg_read_u64(dir, "cpuacct.usage", 0, &u->total);

        uint64_t user_ticks = 0, system_ticks = 0;
        const cg_kv kv[] = { { "user", &user_ticks }, { "system", &system_ticks } };
        cg_read_kv(dir, "cpuacct.stat", kv, ELEMENTSOF(kv));
        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        u->user = user_ticks * NSEC_PER_SEC / (uint64_t) hz;
        u->kernel = system_ticks * NSEC_PER_SEC / (uint64_t) hz;

        _cleanup_free_ char *percpu = cg_read(dir, "cpuacct.usage_percpu");
        if (!percpu)
                return;
        for (char *s = percpu, *end;; s = end) {
                unsigned long long v = strtoull(s, &end, 10);
                if (end == s)
                        break;
                u->per_cpu = xrealloc(u->per_cpu, (u->n_per_cpu + 1) * sizeof *u->per_cpu);
                u->per_cpu[u->n_per_cpu++] = v;
        }
}

static Io__Containerd__Cgroups__V1__CPUStat *cpu_stat(const char *cpuacct_dir, const char *cpu_dir) {
        Io__Containerd__Cgroups__V1__CPUStat *s = xmalloc(sizeof *s);
        io__containerd__cgroups__v1__cpustat__init(s);
        s->usage = xmalloc(sizeof *s->usage);
        io__containerd__cgroups__v1__cpuusage__init(s->usage);
        s->throttling = xmalloc(sizeof *s->throttling);
        io__containerd__cgroups__v1__throttle__init(s->throttling);
        if (cpuacct_dir)
                cpu_usage(cpuacct_dir, s->usage);
        if (cpu_dir) {
                const cg_kv kv[] = {
                        { "nr_periods", &s->throttling->periods },
                        { "nr_throttled", &s->throttling->throttled_periods },
                        { "throttled_time", &s->throttling->throttled_time },
                };
                cg_read_kv(cpu_dir, "cpu.stat", kv, ELEMENTSOF(kv));
        }
        return s;
}

/* module is "" for memory.*, else "memsw", "kmem" or "kmem.tcp". */
static Io__Containerd__Cgroups__V1__MemoryEntry *memory_entry(const char *dir, const char *module) {
        Io__Containerd__Cgroups__V1__MemoryEntry *e = xmalloc(sizeof *e);
        io__containerd__cgroups__v1__memory_entry__init(e);
        if (!dir)
                return e;
        const struct {
                const char *name;
                uint64_t *dest;
        } files[] = {
                { "usage_in_bytes", &e->usage },
                { "max_usage_in_bytes", &e->max },
                { "failcnt", &e->failcnt },
                { "limit_in_bytes", &e->limit },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *name = *module ? xasprintf("memory.%s.%s", module, files[i].name)
                                                    : xasprintf("memory.%s", files[i].name);
                cg_read_u64(dir, name, 0, files[i].dest);
        }
        return e;
}

static Io__Containerd__Cgroups__V1__MemoryStat *memory_stat(const char *dir) {
        Io__Containerd__Cgroups__V1__MemoryStat *m = xmalloc(sizeof *m);
        io__containerd__cgroups__v1__memory_stat__init(m);
        m->usage = memory_entry(dir, "");
        m->swap = memory_entry(dir, "memsw");
        m->kernel = memory_entry(dir, "kmem");
        m->kernel_tcp = memory_entry(dir, "kmem.tcp");
        if (!dir)
                return m;
        const cg_kv kv[] = {
                { "cache", &m->cache },
                { "rss", &m->rss },
                { "rss_huge", &m->rss_huge },
                { "mapped_file", &m->mapped_file },
                { "dirty", &m->dirty },
                { "writeback", &m->writeback },
                { "pgpgin", &m->pg_pg_in },
                { "pgpgout", &m->pg_pg_out },
                { "pgfault", &m->pg_fault },
                { "pgmajfault", &m->pg_maj_fault },
                { "inactive_anon", &m->inactive_anon },
                { "active_anon", &m->active_anon },
                { "inactive_file", &m->inactive_file },
                { "active_file", &m->active_file },
                { "unevictable", &m->unevictable },
                { "hierarchical_memory_limit", &m->hierarchical_memory_limit },
                { "hierarchical_memsw_limit", &m->hierarchical_swap_limit },
                { "total_cache", &m->total_cache },
                { "total_rss", &m->total_rss },
                { "total_rss_huge", &m->total_rss_huge },
                { "total_mapped_file", &m->total_mapped_file },
                { "total_dirty", &m->total_dirty },
                { "total_writeback", &m->total_writeback },
                { "total_pgpgin", &m->total_pg_pg_in },
                { "total_pgpgout", &m->total_pg_pg_out },
                { "total_pgfault", &m->total_pg_fault },
                { "total_pgmajfault", &m->total_pg_maj_fault },
                { "total_inactive_anon", &m->total_inactive_anon },
                { "total_active_anon", &m->total_active_anon },
                { "total_inactive_file", &m->total_inactive_file },
                { "total_active_file", &m->total_active_file },
                { "total_unevictable", &m->total_unevictable },
        };
        cg_read_kv(dir, "memory.stat", kv, ELEMENTSOF(kv));
        return m;
}

static Io__Containerd__Cgroups__V1__MemoryOomControl *oom_control(const char *dir) {
        Io__Containerd__Cgroups__V1__MemoryOomControl *o = xmalloc(sizeof *o);
        io__containerd__cgroups__v1__memory_oom_control__init(o);
        if (!dir)
                return o;
        const cg_kv kv[] = {
                { "oom_kill_disable", &o->oom_kill_disable },
                { "under_oom", &o->under_oom },
                { "oom_kill", &o->oom_kill },
        };
        cg_read_kv(dir, "memory.oom_control", kv, ELEMENTSOF(kv));
        return o;
}

/* One HugetlbStat per page size that has a hugetlb.<size>.usage_in_bytes file. */
static void hugetlb_stats(const char *dir, Io__Containerd__Cgroups__V1__Metrics *m) {
        struct dirent **ents = NULL;
        int n = scandir(dir, &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                const char *suffix = ".usage_in_bytes";
                size_t len = strlen(name), sl = strlen(suffix);
                if (strncmp(name, "hugetlb.", 8) == 0 && len > 8 + sl && strcmp(name + len - sl, suffix) == 0) {
                        _cleanup_free_ char *size = xstrndup(name + 8, len - 8 - sl);
                        Io__Containerd__Cgroups__V1__HugetlbStat *h = xmalloc(sizeof *h);
                        io__containerd__cgroups__v1__hugetlb_stat__init(h);
                        _cleanup_free_ char *f_max = xasprintf("hugetlb.%s.max_usage_in_bytes", size);
                        _cleanup_free_ char *f_fail = xasprintf("hugetlb.%s.failcnt", size);
                        cg_read_u64(dir, name, 0, &h->usage);
                        cg_read_u64(dir, f_max, 0, &h->max);
                        cg_read_u64(dir, f_fail, 0, &h->failcnt);
                        h->pagesize = TAKE_PTR(size);
                        m->hugetlb = xrealloc(m->hugetlb, (m->n_hugetlb + 1) * sizeof *m->hugetlb);
                        m->hugetlb[m->n_hugetlb++] = h;
                }
                free(ents[i]);
        }
        free(ents);
}

/* "/dev/<name>" for a block device number, from /proc/partitions (as the runc shim names them). */
static char *device_name(const char *partitions, uint64_t major, uint64_t minor) {
        for (const char *line = partitions; line && *line;) {
                unsigned long long ma, mi, blocks;
                char name[128];
                if (sscanf(line, " %llu %llu %llu %127s", &ma, &mi, &blocks, name) == 4 && ma == major &&
                    mi == minor)
                        return xasprintf("/dev/%s", name);
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return xstrdup("");
}

/* Lines "maj:min Op value" (Op absent in some files); "Total N" lines are skipped. */
static size_t blkio_entries(const char *dir, const char *file, const char *partitions,
                            Io__Containerd__Cgroups__V1__BlkIOEntry ***ret, size_t *n_ret) {
        _cleanup_free_ char *text = cg_read(dir, file);
        size_t added = 0;
        for (const char *line = text; line && *line;) {
                unsigned long long major, minor, value;
                char op[32];
                bool with_op = sscanf(line, "%llu:%llu %31s %llu", &major, &minor, op, &value) == 4;
                if (with_op || sscanf(line, "%llu:%llu %llu", &major, &minor, &value) == 3) {
                        Io__Containerd__Cgroups__V1__BlkIOEntry *e = xmalloc(sizeof *e);
                        io__containerd__cgroups__v1__blk_ioentry__init(e);
                        e->op = xstrdup(with_op ? op : "");
                        e->device = device_name(partitions, major, minor);
                        e->major = major;
                        e->minor = minor;
                        e->value = value;
                        *ret = xrealloc(*ret, (*n_ret + 1) * sizeof **ret);
                        (*ret)[(*n_ret)++] = e;
                        added++;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return added;
}

/* The CFQ/BFQ *_recursive files when they have data, else the throttle counters (which every
 * blkio cgroup has), like the runc shim. */
static Io__Containerd__Cgroups__V1__BlkIOStat *blkio_stat(const char *dir) {
        Io__Containerd__Cgroups__V1__BlkIOStat *b = xmalloc(sizeof *b);
        io__containerd__cgroups__v1__blk_iostat__init(b);
        _cleanup_free_ char *partitions = NULL;
        partitions = cg_read("/proc", "partitions");
        const struct {
                const char *file;
                Io__Containerd__Cgroups__V1__BlkIOEntry ***list;
                size_t *n;
        } recursive[] = {
                { "blkio.sectors_recursive", &b->sectors_recursive, &b->n_sectors_recursive },
                { "blkio.io_service_bytes_recursive", &b->io_service_bytes_recursive,
                  &b->n_io_service_bytes_recursive },
                { "blkio.io_serviced_recursive", &b->io_serviced_recursive, &b->n_io_serviced_recursive },
                { "blkio.io_queued_recursive", &b->io_queued_recursive, &b->n_io_queued_recursive },
                { "blkio.io_service_time_recursive", &b->io_service_time_recursive,
                  &b->n_io_service_time_recursive },
                { "blkio.io_wait_time_recursive", &b->io_wait_time_recursive, &b->n_io_wait_time_recursive },
                { "blkio.io_merged_recursive", &b->io_merged_recursive, &b->n_io_merged_recursive },
                { "blkio.time_recursive", &b->io_time_recursive, &b->n_io_time_recursive },
        };
        size_t total = 0;
        for (size_t i = 0; i < ELEMENTSOF(recursive); i++)
                total += blkio_entries(dir, recursive[i].file, partitions, recursive[i].list, recursive[i].n);
        if (total > 0)
                return b;
        blkio_entries(dir, "blkio.throttle.io_serviced", partitions, &b->io_serviced_recursive,
                      &b->n_io_serviced_recursive);
        blkio_entries(dir, "blkio.throttle.io_service_bytes", partitions, &b->io_service_bytes_recursive,
                      &b->n_io_service_bytes_recursive);
        return b;
}

Io__Containerd__Cgroups__V1__Metrics *cg_stats_v1(const cg_paths *p) {
        Io__Containerd__Cgroups__V1__Metrics *m = xmalloc(sizeof *m);
        io__containerd__cgroups__v1__metrics__init(m);
        const char *memory = cg_paths_v1(p, "memory");
        m->pids = pids_stat(cg_paths_v1(p, "pids"));
        m->cpu = cpu_stat(cg_paths_v1(p, "cpuacct"), cg_paths_v1(p, "cpu"));
        m->memory = memory_stat(memory);
        m->memory_oom_control = oom_control(memory);
        const char *blkio = cg_paths_v1(p, "blkio");
        if (blkio)
                m->blkio = blkio_stat(blkio);
        const char *hugetlb = cg_paths_v1(p, "hugetlb");
        if (hugetlb)
                hugetlb_stats(hugetlb, m);
        return m;
}
