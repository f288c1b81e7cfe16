/* cgroups: path resolution (synthetic and live), stats from fake control files and from a real v1
 * cgroup holding a process, and the OOM watcher against a real v1 memory cgroup that a child
 * overruns, plus the v2 watcher against a fake memory.events file.
 *
 * Everything the tests create (children, cgroup directories, temp dirs) is recorded and torn down
 * by an atexit handler too, because a failing ASSERT longjmps past the tests' own cleanup. */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/event.h"
#include "basic/fileio.h"
#include "cgroups/cgroup-file.h"
#include "cgroups/cgroup-stats.h"
#include "cgroups/cgroup.h"
#include "cgroups/oom.h"
#include "tap.h"

#define MIB (1024 * 1024)

/* ---- things to tear down ---------------------------------------------------------------------- */

static pid_t children[8];
static char *cgroup_dirs[16];
static char *temp_dirs[8];

static void track_child(pid_t pid) {
        for (size_t i = 0; i < ELEMENTSOF(children); i++)
                if (!children[i]) {
                        children[i] = pid;
                        return;
                }
}

/* Kills and reaps one tracked child; returns its wait status (or -1 if it was not tracked). */
static int reap_child(pid_t pid, bool kill_it) {
        int status = -1;
        for (size_t i = 0; i < ELEMENTSOF(children); i++)
                if (children[i] == pid) {
                        if (kill_it)
                                kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        children[i] = 0;
                }
        return status;
}

/* rmdir only succeeds once no process is left inside; retry briefly while the kernel finishes
 * tearing the last one down. */
static int remove_cgroup(const char *dir) {
        for (int i = 0; i < 100; i++) {
                if (rmdir(dir) == 0 || errno == ENOENT)
                        return 0;
                usleep(20 * 1000);
        }
        return -1;
}

static void cleanup_all(void) {
        for (size_t i = 0; i < ELEMENTSOF(children); i++)
                if (children[i])
                        reap_child(children[i], true);
        for (size_t i = ELEMENTSOF(cgroup_dirs); i-- > 0;)
                if (cgroup_dirs[i]) {
                        remove_cgroup(cgroup_dirs[i]);
                        free(cgroup_dirs[i]);
                        cgroup_dirs[i] = NULL;
                }
        for (size_t i = 0; i < ELEMENTSOF(temp_dirs); i++)
                if (temp_dirs[i]) {
                        rm_rf(temp_dirs[i], NULL);
                        free(temp_dirs[i]);
                        temp_dirs[i] = NULL;
                }
}

__attribute__((constructor)) static void register_cleanup(void) {
        atexit(cleanup_all);
}

static char *make_temp_dir(void) {
        char tmpl[] = "/tmp/berth-test-cgroups.XXXXXX";
        if (!mkdtemp(tmpl))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(temp_dirs); i++)
                if (!temp_dirs[i]) {
                        temp_dirs[i] = xstrdup(tmpl);
                        return temp_dirs[i];
                }
        return NULL;
}

/* Creates /sys/fs/cgroup/<controller>/berth-test-<pid>-<tag>; NULL if the hierarchy is absent. */
static const char *make_cgroup(const char *controller, const char *tag) {
        _cleanup_free_ char *dir = xasprintf(CG_ROOT "/%s/berth-test-%d-%s", controller, (int) getpid(), tag);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(cgroup_dirs); i++)
                if (!cgroup_dirs[i]) {
                        cgroup_dirs[i] = TAKE_PTR(dir);
                        return cgroup_dirs[i];
                }
        return NULL;
}

static int write_at(const char *dir, const char *name, const char *value) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        return write_all(fd, value, strlen(value));
}

static void put_file(const char *dir, const char *name, const char *content) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        if (write_file_atomic(path, content, strlen(content), 0644, NULL) < 0)
                TAP_FAIL("cannot write %s", path);
}

static bool v1_hierarchy(const char *controller) {
        _cleanup_free_ char *p = xasprintf(CG_ROOT "/%s/cgroup.procs", controller);
        return geteuid() == 0 && access(p, W_OK) == 0;
}

/* ---- paths ------------------------------------------------------------------------------------ */

TEST(parse_paths_synthetic) {
        const char *mountinfo =
                "25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
                "26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
                "27 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
                "28 25 0:26 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                "29 25 0:27 / /sys/fs/cgroup/sys\\040temd rw - cgroup cgroup rw,xattr,name=systemd\n"
                "30 25 0:28 / /srv/other/pids rw - cgroup cgroup rw,pids\n"
                "31 25 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
                "garbage line\n";
        const char *proc = "12:pids:/a/b\n"
                           "5:memory:/outer/c:d\n"
                           "3:cpu,cpuacct:/\n"
                           "1:name=systemd:/user.slice\n"
                           "7:blkio:/x\n" /* not mounted: skipped */
                           "0::/init.scope\n";
        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_parse(proc, mountinfo, CG_MODE_HYBRID, &p, &err));
        ASSERT_EQ(p->mode, CG_MODE_HYBRID);
        ASSERT_STREQ(p->unified, "/sys/fs/cgroup/unified/init.scope");
        ASSERT_STREQ(cg_paths_v1(p, "pids"), "/sys/fs/cgroup/pids/a/b");
        ASSERT_STREQ(cg_paths_v1(p, "memory"), "/sys/fs/cgroup/memory/c:d");
        ASSERT_STREQ(cg_paths_v1(p, "cpu"), "/sys/fs/cgroup/cpu,cpuacct");
        ASSERT_STREQ(cg_paths_v1(p, "cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
        ASSERT_STREQ(cg_paths_v1(p, "name=systemd"), "/sys/fs/cgroup/sys temd/user.slice");
        ASSERT_NULL(cg_paths_v1(p, "blkio"));
        ASSERT_EQ(p->n_v1, 5);
}

TEST(parse_paths_outside_mount_root_and_nothing_mounted) {
        /* The process's memory cgroup is not below the mounted subtree: no directory for it. */
        const char *mountinfo = "28 25 0:26 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                                "29 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_parse("4:memory:/outerx/y\n0::/\n", mountinfo, CG_MODE_UNIFIED, &p, &err));
        ASSERT_NULL(cg_paths_v1(p, "memory"));
        ASSERT_STREQ(p->unified, "/sys/fs/cgroup");

        cg_paths *none = NULL;
        ASSERT_EQ(cg_paths_parse("4:memory:/x\n", "", CG_MODE_LEGACY, &none, &err), -1);
        ASSERT_EQ(err->code, BERR_FAILED_PRECONDITION);
        ASSERT_NULL(none);
}

TEST(live_mode_and_own_paths) {
        cg_mode mode = cg_detect_mode();
        printf("# host cgroup mode: %s\n", cg_mode_name(mode));
        if (mode == CG_MODE_UNAVAILABLE)
                TAP_SKIP("no cgroup filesystem");
        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_for_pid(getpid(), &p, &err));
        ASSERT_EQ(p->mode, mode);
        if (mode == CG_MODE_UNIFIED) {
                ASSERT_NOT_NULL(p->unified);
                ASSERT_TRUE(access(p->unified, F_OK) == 0);
                return;
        }
        if (mode == CG_MODE_HYBRID)
                ASSERT_NOT_NULL(p->unified);
        ASSERT_TRUE(p->n_v1 > 0);
        for (size_t i = 0; i < p->n_v1; i++) {
                /* Every resolved directory exists and lists this process. */
                _cleanup_free_ char *procs = cg_read(p->v1[i].path, "cgroup.procs");
                ASSERT_NOT_NULL(procs);
                _cleanup_free_ char *me = xasprintf("\n%d\n", (int) getpid());
                _cleanup_free_ char *lines = xasprintf("\n%s", procs);
                ASSERT_NOT_NULL(strstr(lines, me));
        }
}

TEST(paths_of_gone_pid_is_not_found) {
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                _exit(0);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_EQ(cg_paths_for_pid(pid, &p, &err), -1);
        ASSERT_EQ(err->code, BERR_NOT_FOUND);
        Google__Protobuf__Any *any = NULL;
        ASSERT_EQ(cg_stats_any_for_pid(pid, &any, &err), -1);
        ASSERT_EQ(err->code, BERR_NOT_FOUND);
}

/* ---- file parsing ----------------------------------------------------------------------------- */

TEST(parse_numbers_and_keyed_files) {
        uint64_t v = 7;
        ASSERT_TRUE(cg_parse_u64(" 42\n", 0, &v));
        ASSERT_EQ(v, 42);
        ASSERT_TRUE(cg_parse_u64("max\n", 99, &v));
        ASSERT_EQ(v, 99);
        ASSERT_FALSE(cg_parse_u64("maximum", 1, &v));
        ASSERT_FALSE(cg_parse_u64("-1", 1, &v));
        ASSERT_FALSE(cg_parse_u64("", 1, &v));
        ASSERT_TRUE(cg_parse_u64("18446744073709551615", 0, &v));
        ASSERT_TRUE(v == UINT64_MAX);

        uint64_t a = 0, b = 0, c = 5;
        const cg_kv kv[] = { { "rss", &a }, { "total_rss", &b }, { "cache", &c } };
        ASSERT_EQ(cg_parse_kv("total_rss 20\nrss 10\nrss_huge 3\nbogus\ncache x\n", kv, 3), 2);
        ASSERT_EQ(a, 10);
        ASSERT_EQ(b, 20);
        ASSERT_EQ(c, 5); /* unparsable value leaves the field alone */
}

/* ---- stats from fake control files ------------------------------------------------------------ */

TEST(stats_v2_from_fake_dir) {
        const char *d = make_temp_dir();
        ASSERT_NOT_NULL(d);
        put_file(d, "pids.current", "3\n");
        put_file(d, "pids.max", "max\n");
        put_file(d, "cpu.stat", "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 5\n"
                                "nr_throttled 2\nthrottled_usec 77\n");
        put_file(d, "memory.stat", "anon 4096\nfile 8192\npgfault 11\nthp_collapse_alloc 1\n");
        put_file(d, "memory.current", "123456\n");
        put_file(d, "memory.max", "max\n");
        put_file(d, "memory.swap.max", "1048576\n");
        put_file(d, "memory.events", "low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\n");
        put_file(d, "io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"
                               "253:1 rbytes=5 wbytes=0 rios=1 wios=0\n");
        put_file(d, "hugetlb.2MB.current", "0\n");
        put_file(d, "hugetlb.2MB.max", "max\n");
        put_file(d, "hugetlb.2MB.rsvd.current", "9\n");

        Io__Containerd__Cgroups__V2__Metrics *m = cg_stats_v2(d);
        ASSERT_EQ(m->pids->current, 3);
        ASSERT_TRUE(m->pids->limit == UINT64_MAX);
        ASSERT_EQ(m->cpu->usage_usec, 1000);
        ASSERT_EQ(m->cpu->system_usec, 400);
        ASSERT_EQ(m->cpu->throttled_usec, 77);
        ASSERT_EQ(m->memory->anon, 4096);
        ASSERT_EQ(m->memory->file, 8192);
        ASSERT_EQ(m->memory->pgfault, 11);
        ASSERT_EQ(m->memory->thp_collapse_alloc, 1);
        ASSERT_EQ(m->memory->usage, 123456);
        ASSERT_TRUE(m->memory->usage_limit == UINT64_MAX);
        ASSERT_EQ(m->memory->swap_usage, 0); /* file missing */
        ASSERT_EQ(m->memory->swap_limit, 1048576);
        ASSERT_NOT_NULL(m->memory_events);
        ASSERT_EQ(m->memory_events->oom_kill, 4);
        ASSERT_EQ(m->memory_events->high, 1);
        ASSERT_EQ(m->io->n_usage, 2);
        ASSERT_EQ(m->io->usage[0]->major, 8);
        ASSERT_EQ(m->io->usage[0]->wbytes, 20);
        ASSERT_EQ(m->io->usage[1]->minor, 1);
        ASSERT_EQ(m->io->usage[1]->rbytes, 5);
        ASSERT_EQ(m->n_hugetlb, 1);
        ASSERT_STREQ(m->hugetlb[0]->pagesize, "2MB");
        ASSERT_TRUE(m->hugetlb[0]->max == UINT64_MAX);

        /* The packed message decodes as the same thing (ctr's view). */
        size_t n = io__containerd__cgroups__v2__metrics__get_packed_size(m);
        uint8_t *buf = xmalloc(n);
        io__containerd__cgroups__v2__metrics__pack(m, buf);
        io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
        m = io__containerd__cgroups__v2__metrics__unpack(NULL, n, buf);
        free(buf);
        ASSERT_NOT_NULL(m);
        ASSERT_EQ(m->memory->usage, 123456);
        ASSERT_STREQ(m->hugetlb[0]->pagesize, "2MB");
        io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
}

TEST(stats_v2_empty_dir_is_all_zero) {
        const char *d = make_temp_dir();
        ASSERT_NOT_NULL(d);
        Io__Containerd__Cgroups__V2__Metrics *m = cg_stats_v2(d);
        ASSERT_NOT_NULL(m->pids);
        ASSERT_NOT_NULL(m->cpu);
        ASSERT_NOT_NULL(m->memory);
        ASSERT_NOT_NULL(m->io);
        ASSERT_EQ(m->memory->usage, 0);
        ASSERT_NULL(m->memory_events);
        ASSERT_EQ(m->n_hugetlb, 0);
        io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
}

TEST(stats_v1_from_fake_dirs) {
        const char *root = make_temp_dir();
        ASSERT_NOT_NULL(root);
        const char *names[] = { "memory", "pids", "cpu,cpuacct", "blkio", "hugetlb" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *d = xasprintf("%s/%s", root, names[i]);
                ASSERT_OK(mkdir(d, 0755));
        }
        _cleanup_free_ char *mem = xasprintf("%s/memory", root), *pids = xasprintf("%s/pids", root),
                            *cpu = xasprintf("%s/cpu,cpuacct", root), *blk = xasprintf("%s/blkio", root),
                            *huge = xasprintf("%s/hugetlb", root);
        put_file(mem, "memory.stat", "cache 100\nrss 200\npgpgin 7\nhierarchical_memsw_limit 9\n"
                                     "total_rss 300\ntotal_unevictable 1\n");
        put_file(mem, "memory.usage_in_bytes", "4096\n");
        put_file(mem, "memory.limit_in_bytes", "8388608\n");
        put_file(mem, "memory.max_usage_in_bytes", "9000\n");
        put_file(mem, "memory.failcnt", "3\n");
        put_file(mem, "memory.memsw.usage_in_bytes", "5000\n");
        put_file(mem, "memory.kmem.tcp.limit_in_bytes", "77\n");
        put_file(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 1\noom_kill 2\n");
        put_file(pids, "pids.current", "4\n");
        put_file(pids, "pids.max", "max\n");
        put_file(cpu, "cpuacct.usage", "5000000000\n");
        put_file(cpu, "cpuacct.stat", "user 200\nsystem 100\n");
        put_file(cpu, "cpuacct.usage_percpu", "3000000000 2000000000 \n");
        put_file(cpu, "cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n");
        put_file(blk, "blkio.throttle.io_service_bytes", "8:0 Read 100\n8:0 Write 50\nTotal 150\n");
        put_file(blk, "blkio.throttle.io_serviced", "8:0 Read 1\n");
        put_file(huge, "hugetlb.2MB.usage_in_bytes", "2097152\n");
        put_file(huge, "hugetlb.2MB.max_usage_in_bytes", "4194304\n");
        put_file(huge, "hugetlb.2MB.failcnt", "1\n");

        _cleanup_free_ char *mountinfo = xasprintf(
                "1 0 0:1 / %s rw - cgroup cgroup rw,memory\n"
                "2 0 0:2 / %s rw - cgroup cgroup rw,pids\n"
                "3 0 0:3 / %s rw - cgroup cgroup rw,cpu,cpuacct\n"
                "4 0 0:4 / %s rw - cgroup cgroup rw,blkio\n"
                "5 0 0:5 / %s rw - cgroup cgroup rw,hugetlb\n",
                mem, pids, cpu, blk, huge);
        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_parse("5:hugetlb:/\n4:blkio:/\n3:cpu,cpuacct:/\n2:pids:/\n1:memory:/\n", mountinfo,
                                 CG_MODE_LEGACY, &p, &err));

        Io__Containerd__Cgroups__V1__Metrics *m = cg_stats_v1(p);
        ASSERT_EQ(m->pids->current, 4);
        ASSERT_EQ(m->pids->limit, 0); /* "max" is 0 in v1 metrics */
        ASSERT_EQ(m->cpu->usage->total, 5000000000LL);
        long hz = sysconf(_SC_CLK_TCK);
        ASSERT_EQ(m->cpu->usage->user, 200LL * 1000000000LL / hz);
        ASSERT_EQ(m->cpu->usage->kernel, 100LL * 1000000000LL / hz);
        ASSERT_EQ(m->cpu->usage->n_per_cpu, 2);
        ASSERT_EQ(m->cpu->usage->per_cpu[1], 2000000000LL);
        ASSERT_EQ(m->cpu->throttling->periods, 10);
        ASSERT_EQ(m->cpu->throttling->throttled_periods, 4);
        ASSERT_EQ(m->cpu->throttling->throttled_time, 999);
        ASSERT_EQ(m->memory->cache, 100);
        ASSERT_EQ(m->memory->rss, 200);
        ASSERT_EQ(m->memory->pg_pg_in, 7);
        ASSERT_EQ(m->memory->hierarchical_swap_limit, 9);
        ASSERT_EQ(m->memory->total_rss, 300);
        ASSERT_EQ(m->memory->total_unevictable, 1);
        ASSERT_EQ(m->memory->usage->usage, 4096);
        ASSERT_EQ(m->memory->usage->limit, 8388608);
        ASSERT_EQ(m->memory->usage->max, 9000);
        ASSERT_EQ(m->memory->usage->failcnt, 3);
        ASSERT_EQ(m->memory->swap->usage, 5000);
        ASSERT_EQ(m->memory->kernel->usage, 0);
        ASSERT_EQ(m->memory->kernel_tcp->limit, 77);
        ASSERT_EQ(m->memory_oom_control->under_oom, 1);
        ASSERT_EQ(m->memory_oom_control->oom_kill, 2);
        ASSERT_NOT_NULL(m->blkio);
        ASSERT_EQ(m->blkio->n_io_service_bytes_recursive, 2);
        ASSERT_STREQ(m->blkio->io_service_bytes_recursive[1]->op, "Write");
        ASSERT_EQ(m->blkio->io_service_bytes_recursive[1]->value, 50);
        ASSERT_EQ(m->blkio->io_service_bytes_recursive[0]->major, 8);
        ASSERT_EQ(m->blkio->n_io_serviced_recursive, 1);
        ASSERT_EQ(m->n_hugetlb, 1);
        ASSERT_STREQ(m->hugetlb[0]->pagesize, "2MB");
        ASSERT_EQ(m->hugetlb[0]->usage, 2097152);
        ASSERT_EQ(m->hugetlb[0]->max, 4194304);
        ASSERT_EQ(m->hugetlb[0]->failcnt, 1);
        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);

        /* The same through the Any that the Stats RPC returns. */
        Google__Protobuf__Any *any = NULL;
        ASSERT_OK(cg_stats_any_for_paths(p, &any, &err));
        ASSERT_STREQ(any->type_url, "io.containerd.cgroups.v1.Metrics");
        m = io__containerd__cgroups__v1__metrics__unpack(NULL, any->value.len, any->value.data);
        google__protobuf__any__free_unpacked(any, NULL);
        ASSERT_NOT_NULL(m);
        ASSERT_EQ(m->memory->usage->limit, 8388608);
        ASSERT_STREQ(m->blkio->io_service_bytes_recursive[0]->op, "Read");
        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}

TEST(stats_v1_missing_controllers_still_has_submessages) {
        const char *d = make_temp_dir();
        ASSERT_NOT_NULL(d);
        _cleanup_free_ char *mountinfo = xasprintf("1 0 0:1 / %s rw - cgroup cgroup rw,freezer\n", d);
        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_parse("1:freezer:/\n", mountinfo, CG_MODE_LEGACY, &p, &err));
        Io__Containerd__Cgroups__V1__Metrics *m = cg_stats_v1(p);
        ASSERT_NOT_NULL(m->pids);
        ASSERT_NOT_NULL(m->cpu->usage);
        ASSERT_NOT_NULL(m->cpu->throttling);
        ASSERT_NOT_NULL(m->memory->usage);
        ASSERT_NOT_NULL(m->memory->swap);
        ASSERT_NOT_NULL(m->memory->kernel);
        ASSERT_NOT_NULL(m->memory->kernel_tcp);
        ASSERT_NOT_NULL(m->memory_oom_control);
        ASSERT_NULL(m->blkio);
        ASSERT_EQ(m->memory->usage->usage, 0);
        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
}

/* ---- live v1 cgroups -------------------------------------------------------------------------- */

/* Forks a child that waits for a byte on a pipe (so the parent can move it into cgroups first),
 * then touches touch_bytes of fresh anonymous memory, reports on a second pipe, and sleeps. */
static pid_t spawn_toucher(size_t touch_bytes, int *go_fd, int *ready_fd) {
        int go[2], ready[2];
        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                char c;
                close(go[1]);
                close(ready[0]);
                if (read(go[0], &c, 1) != 1)
                        _exit(2);
                char *mem = mmap(NULL, touch_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (mem == MAP_FAILED)
                        _exit(3);
                for (size_t i = 0; i < touch_bytes; i += 4096)
                        mem[i] = 1;
                if (write(ready[1], "r", 1) != 1)
                        _exit(4);
                for (;;)
                        pause();
        }
        track_child(pid);
        close(go[0]);
        close(ready[1]);
        *go_fd = go[1];
        *ready_fd = ready[0];
        return pid;
}

static void join_cgroup(const char *dir, pid_t pid) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int) pid);
        if (write_at(dir, "cgroup.procs", buf) < 0)
                TAP_FAIL("cannot move %d into %s: %s", (int) pid, dir, strerror(errno));
}

TEST(live_v1_stats_of_process) {
        if (cg_detect_mode() == CG_MODE_UNIFIED || !v1_hierarchy("memory") || !v1_hierarchy("pids"))
                TAP_SKIP("needs root and v1 memory+pids hierarchies");
        const char *mem = make_cgroup("memory", "stats"), *pids = make_cgroup("pids", "stats");
        ASSERT_NOT_NULL(mem);
        ASSERT_NOT_NULL(pids);
        const char *cpuacct = v1_hierarchy("cpuacct") ? make_cgroup("cpuacct", "stats") : NULL;
        ASSERT_OK(write_at(mem, "memory.limit_in_bytes", "67108864"));
        ASSERT_OK(write_at(pids, "pids.max", "50"));

        int go, ready;
        pid_t pid = spawn_toucher(4 * MIB, &go, &ready);
        ASSERT_OK(pid);
        join_cgroup(mem, pid);
        join_cgroup(pids, pid);
        if (cpuacct)
                join_cgroup(cpuacct, pid);
        ASSERT_EQ(write(go, "g", 1), 1);
        char c;
        ASSERT_EQ(read(ready, &c, 1), 1);
        close(go);
        close(ready);

        _cleanup_cg_paths_ cg_paths *p = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(cg_paths_for_pid(pid, &p, &err));
        ASSERT_STREQ(cg_paths_v1(p, "memory"), mem);
        ASSERT_STREQ(cg_paths_v1(p, "pids"), pids);

        Google__Protobuf__Any *any = NULL;
        ASSERT_OK(cg_stats_any_for_pid(pid, &any, &err));
        ASSERT_STREQ(any->type_url, "io.containerd.cgroups.v1.Metrics");
        Io__Containerd__Cgroups__V1__Metrics *m =
                io__containerd__cgroups__v1__metrics__unpack(NULL, any->value.len, any->value.data);
        google__protobuf__any__free_unpacked(any, NULL);
        ASSERT_NOT_NULL(m);
        printf("# memory usage %" PRIu64 " limit %" PRIu64 " rss %" PRIu64 " pids %" PRIu64 "/%" PRIu64
               " cpu %" PRIu64 "ns\n",
               m->memory->usage->usage, m->memory->usage->limit, m->memory->total_rss, m->pids->current,
               m->pids->limit, m->cpu->usage->total);
        /* The child touched 4 MiB after joining, so at least that much is charged here. */
        ASSERT_TRUE(m->memory->usage->usage >= 4 * MIB);
        ASSERT_EQ(m->memory->usage->limit, 64 * MIB);
        ASSERT_TRUE(m->memory->usage->max >= m->memory->usage->usage);
        ASSERT_TRUE(m->memory->total_rss + m->memory->total_cache > 0 || m->memory->active_anon > 0 ||
                    m->memory->inactive_anon > 0);
        ASSERT_EQ(m->pids->current, 1);
        ASSERT_EQ(m->pids->limit, 50);
        if (cpuacct)
                ASSERT_TRUE(m->cpu->usage->total > 0);
        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);

        reap_child(pid, true);
        ASSERT_OK(remove_cgroup(mem));
        ASSERT_OK(remove_cgroup(pids));
        if (cpuacct)
                ASSERT_OK(remove_cgroup(cpuacct));
}

static void count_oom(void *userdata) {
        (*(int *) userdata)++;
}

TEST(live_v1_oom_watch_fires) {
        if (cg_detect_mode() == CG_MODE_UNIFIED || !v1_hierarchy("memory"))
                TAP_SKIP("needs root and a v1 memory hierarchy");
        const char *mem = make_cgroup("memory", "oom");
        ASSERT_NOT_NULL(mem);
        ASSERT_OK(write_at(mem, "memory.limit_in_bytes", "8388608"));
        write_at(mem, "memory.memsw.limit_in_bytes", "8388608"); /* no swapping out of the OOM */

        int go, ready;
        pid_t pid = spawn_toucher(64 * MIB, &go, &ready);
        ASSERT_OK(pid);
        join_cgroup(mem, pid);

        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        int fired = 0;
        oom_watch *w = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(oom_watch_pid(loop, pid, count_oom, &fired, &w, &err));
        ASSERT_TRUE(oom_watch_active(w));

        /* Nothing yet: the child has not allocated. */
        ASSERT_TRUE(ev_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(fired, 0);

        ASSERT_EQ(write(go, "g", 1), 1);
        close(go);
        uint64_t deadline = now_monotonic_usec() + 10 * 1000000ULL;
        while (fired == 0 && now_monotonic_usec() < deadline)
                ASSERT_TRUE(ev_loop_run_once(loop, 200) >= 0);
        ASSERT_TRUE(fired >= 1);

        /* The child was the OOM victim: killed by SIGKILL before it could report. */
        char c;
        ASSERT_EQ(read(ready, &c, 1), 0);
        close(ready);
        int status = reap_child(pid, false);
        ASSERT_TRUE(WIFSIGNALED(status));
        ASSERT_EQ(WTERMSIG(status), SIGKILL);

        uint64_t kills = 0;
        const cg_kv kv[] = { { "oom_kill", &kills } };
        if (cg_read_kv(mem, "memory.oom_control", kv, 1))
                ASSERT_TRUE(kills >= 1);

        /* Removing the cgroup wakes the eventfd too; that must stop the watch, not report an OOM. */
        int before = fired;
        ASSERT_OK(remove_cgroup(mem));
        deadline = now_monotonic_usec() + 5 * 1000000ULL;
        while (oom_watch_active(w) && now_monotonic_usec() < deadline)
                ASSERT_TRUE(ev_loop_run_once(loop, 100) >= 0);
        ASSERT_FALSE(oom_watch_active(w));
        ASSERT_EQ(fired, before);

        oom_watch_free(w);
        ev_loop_free(loop);
}

TEST(oom_watch_pid_without_memory_cgroup_fails_cleanly) {
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        oom_watch *w = NULL;
        _cleanup_berr_ berr *err = NULL;
        ASSERT_EQ(oom_watch_dir(loop, "/nonexistent-berth", false, count_oom, NULL, &w, &err), -1);
        ASSERT_EQ(err->code, BERR_NOT_FOUND);
        ASSERT_NULL(w);
        ev_loop_free(loop);
}

/* ---- v2 watcher on a fake memory.events --------------------------------------------------------- */

static void rewrite_in_place(const char *dir, const char *name, const char *content) {
        /* Same inode, same length: what the kernel's counters look like to inotify. */
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, content, strlen(content), 0) != (ssize_t) strlen(content))
                TAP_FAIL("rewrite %s", path);
}

struct v2_state {
        int fired;
        oom_watch *w;
        bool free_on_fire;
};

static void on_v2_oom(void *userdata) {
        struct v2_state *st = userdata;
        st->fired++;
        if (st->free_on_fire)
                st->w = oom_watch_free(st->w);
}

static void pump(ev_loop *loop, int rounds) {
        for (int i = 0; i < rounds; i++)
                ev_loop_run_once(loop, 50);
}

TEST(v2_oom_watch_on_fake_memory_events) {
        const char *d = make_temp_dir();
        ASSERT_NOT_NULL(d);
        put_file(d, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        struct v2_state st = { 0 };
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(oom_watch_dir(loop, d, true, on_v2_oom, &st, &st.w, &err));

        /* Other counters moving is not an OOM kill. */
        rewrite_in_place(d, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 0\n");
        pump(loop, 3);
        ASSERT_EQ(st.fired, 0);

        rewrite_in_place(d, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
        pump(loop, 3);
        ASSERT_EQ(st.fired, 1);

        /* A rewrite with the same counter does not fire again; the next kill does, and the callback
         * may free the watch. */
        rewrite_in_place(d, "memory.events", "low 0\nhigh 1\nmax 5\noom 1\noom_kill 1\n");
        pump(loop, 3);
        ASSERT_EQ(st.fired, 1);
        st.free_on_fire = true;
        rewrite_in_place(d, "memory.events", "low 0\nhigh 1\nmax 5\noom 2\noom_kill 2\n");
        pump(loop, 3);
        ASSERT_EQ(st.fired, 2);
        ASSERT_NULL(st.w);
        ev_loop_free(loop);
}

TEST(v2_oom_watch_stops_when_file_goes) {
        const char *d = make_temp_dir();
        ASSERT_NOT_NULL(d);
        put_file(d, "memory.events", "oom_kill 3\n");
        ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        struct v2_state st = { 0 };
        _cleanup_berr_ berr *err = NULL;
        ASSERT_OK(oom_watch_dir(loop, d, true, on_v2_oom, &st, &st.w, &err));
        _cleanup_free_ char *path = xasprintf("%s/memory.events", d);
        ASSERT_OK(unlink(path));
        pump(loop, 3);
        ASSERT_FALSE(oom_watch_active(st.w));
        ASSERT_EQ(st.fired, 0);
        oom_watch_free(st.w);
        ev_loop_free(loop);
}
