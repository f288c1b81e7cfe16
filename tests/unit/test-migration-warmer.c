/* cgroups/migration-warmer: while held it keeps migrating this process into the cgroup it is already in (so
 * nothing about the process changes), it stops when released, its thread goes away when idle, and it makes
 * the first migration after a quiet spell cheap (the reason it exists; reported, never asserted on timing). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "cgroups/cgroup.h"
#include "cgroups/migration-warmer.h"
#include "tap.h"
#include "test-dir.h"

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0)
                ;
}

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int thread_count(void) {
        return (int) test_count_entries("/proc/self/task");
}

static char *own_cgroups(void) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_file("/proc/self/cgroup", &text, &len, 1 << 20, NULL) < 0)
                TAP_FAIL("cannot read /proc/self/cgroup");
        return TAKE_PTR(text);
}

/* Whether this process may write its own cgroup.procs (root on a host with cgroups): otherwise the warmer
 * turns itself off, which is tested separately. */
static bool can_migrate(void) {
        cg_paths *p = NULL;
        if (cg_paths_for_pid(getpid(), &p, NULL) < 0)
                return false;
        const char *dir = p->unified ? p->unified : p->n_v1 > 0 ? p->v1[0].path : NULL;
        bool ok = false;
        if (dir) {
                _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
                ok = access(procs, W_OK) == 0;
        }
        cg_paths_free(p);
        return ok;
}

TEST(null_is_accepted_everywhere) {
        cgroup_warmer_hold(NULL);
        cgroup_warmer_release(NULL);
        ASSERT_TRUE(cgroup_warmer_free(NULL) == NULL);
}

TEST(unused_warmer_starts_no_thread) {
        int before = thread_count();
        cgroup_warmer *w = cgroup_warmer_new();
        ASSERT_EQ(thread_count(), before);
        ASSERT_EQ(cgroup_warmer_migrations(w), 0ul);
        cgroup_warmer_free(w);
}

TEST(held_it_migrates_into_the_same_cgroup_and_stops_when_released) {
        if (!can_migrate())
                TAP_SKIP("own cgroup.procs not writable");
        _cleanup_free_ char *before = own_cgroups();
        int threads = thread_count();
        cgroup_warmer *w = cgroup_warmer_new();
        cgroup_warmer_hold(w);
        cgroup_warmer_hold(w); /* holds nest */
        ASSERT_EQ(thread_count(), threads + 1);
        double t0 = now_ms();
        while (cgroup_warmer_migrations(w) < 5 && now_ms() - t0 < 5000)
                sleep_ms(1);
        ASSERT_TRUE(cgroup_warmer_migrations(w) >= 5);
        ASSERT_FALSE(cgroup_warmer_disabled(w));
        cgroup_warmer_release(w);
        unsigned long a = cgroup_warmer_migrations(w);
        sleep_ms(20);
        ASSERT_TRUE(cgroup_warmer_migrations(w) > a); /* one hold is still taken */
        cgroup_warmer_release(w);
        sleep_ms(20); /* a write under way finishes */
        unsigned long b = cgroup_warmer_migrations(w);
        sleep_ms(50);
        ASSERT_EQ(cgroup_warmer_migrations(w), b);
        /* the process is where it was, in every hierarchy */
        _cleanup_free_ char *after = own_cgroups();
        ASSERT_STREQ(after, before);
        /* idle: the thread exits after its linger, so a single-threaded process stays single-threaded */
        t0 = now_ms();
        while (thread_count() > threads && now_ms() - t0 < 5000)
                sleep_ms(10);
        ASSERT_EQ(thread_count(), threads);
        /* and a new hold brings it back */
        cgroup_warmer_hold(w);
        b = cgroup_warmer_migrations(w);
        t0 = now_ms();
        while (cgroup_warmer_migrations(w) == b && now_ms() - t0 < 5000)
                sleep_ms(1);
        ASSERT_TRUE(cgroup_warmer_migrations(w) > b);
        /* freed while held: the thread stops and is joined */
        cgroup_warmer_free(w);
        ASSERT_EQ(thread_count(), threads);
}

/* The cgroup the warmer writes into (the same choice as migration-warmer.c) and a child of it made by a test. */
static char *warm_dir, *moved_dir;

static void move_back(void) {
        if (!moved_dir)
                return;
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", warm_dir);
        _cleanup_free_ char *pid = xasprintf("%d", (int) getpid());
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) !write(fd, pid, strlen(pid));
                close(fd);
        }
        (void) rmdir(moved_dir);
        free(moved_dir);
        moved_dir = NULL;
}

/* Someone moves the process during a burst: the warmer follows it into its new cgroup instead of moving it back. */
TEST(a_process_moved_during_a_burst_stays_where_it_was_moved) {
        if (!can_migrate())
                TAP_SKIP("own cgroup.procs not writable");
        cg_paths *p = NULL;
        ASSERT_OK(cg_paths_for_pid(getpid(), &p, NULL));
        warm_dir = xstrdup(p->unified ? p->unified : p->v1[0].path);
        cg_paths_free(p);
        moved_dir = xasprintf("%s/berth-test-warmer-%d", warm_dir, (int) getpid());
        if (mkdir(moved_dir, 0755) < 0) {
                free(moved_dir);
                moved_dir = NULL;
                TAP_SKIP("cannot make a child cgroup");
        }
        atexit(move_back);
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", moved_dir);
        _cleanup_free_ char *pid = xasprintf("%d", (int) getpid());
        cgroup_warmer *w = cgroup_warmer_new();
        cgroup_warmer_hold(w);
        double t0 = now_ms();
        while (cgroup_warmer_migrations(w) < 2 && now_ms() - t0 < 5000)
                sleep_ms(1);
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, pid, strlen(pid)), (ssize_t) strlen(pid));
        close(fd);
        unsigned long a = cgroup_warmer_migrations(w);
        t0 = now_ms();
        while (cgroup_warmer_migrations(w) < a + 5 && now_ms() - t0 < 5000)
                sleep_ms(1);
        ASSERT_TRUE(cgroup_warmer_migrations(w) >= a + 5);
        _cleanup_free_ char *now = own_cgroups();
        _cleanup_free_ char *leaf = xasprintf("/berth-test-warmer-%d\n", (int) getpid());
        ASSERT_NOT_NULL(strstr(now, leaf));
        cgroup_warmer_release(w);
        cgroup_warmer_free(w);
        move_back();
}

/* The point of it: a migration right after a quiet spell waits a grace period unless the warmer runs. Timing
 * is printed for the record, never asserted (tests never fail on timing). */
TEST(first_migration_after_a_quiet_spell_with_and_without_the_warmer) {
        if (!can_migrate())
                TAP_SKIP("own cgroup.procs not writable");
        cg_paths *p = NULL;
        ASSERT_OK(cg_paths_for_pid(getpid(), &p, NULL));
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", p->unified ? p->unified : p->v1[0].path);
        cg_paths_free(p);
        char pid[16];
        int n = snprintf(pid, sizeof pid, "%d", (int) getpid());
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        double cold = 0, warm = 0;
        cgroup_warmer *w = cgroup_warmer_new();
        for (int i = 0; i < 3; i++) {
                sleep_ms(60);
                double t = now_ms();
                ASSERT_EQ(write(fd, pid, (size_t) n), n);
                cold += now_ms() - t;
                sleep_ms(60);
                cgroup_warmer_hold(w);
                sleep_ms(15);
                t = now_ms();
                ASSERT_EQ(write(fd, pid, (size_t) n), n);
                warm += now_ms() - t;
                cgroup_warmer_release(w);
        }
        cgroup_warmer_free(w);
        close(fd);
        printf("# migration after 60 ms quiet: %.2f ms cold, %.2f ms with the warmer held (mean of 3)\n", cold / 3,
               warm / 3);
}

TEST(unwritable_cgroup_turns_it_off) {
        /* Without CAP_DAC_OVERRIDE and as another user the write fails: simulate by a child that drops to nobody. */
        if (getuid() != 0)
                TAP_SKIP("needs root to switch users");
        int pipefd[2];
        ASSERT_OK(pipe(pipefd));
        pid_t pid = fork();
        if (pid == 0) {
                close(pipefd[0]);
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                cgroup_warmer *w = cgroup_warmer_new();
                cgroup_warmer_hold(w);
                double t0 = now_ms();
                while (!cgroup_warmer_disabled(w) && now_ms() - t0 < 5000)
                        sleep_ms(1);
                char r = cgroup_warmer_disabled(w) && cgroup_warmer_migrations(w) == 0 ? 'y' : 'n';
                /* once off, holds are not counted and nothing runs */
                cgroup_warmer_hold(w);
                cgroup_warmer_release(w);
                cgroup_warmer_release(w);
                cgroup_warmer_free(w);
                if (write(pipefd[1], &r, 1) != 1)
                        _exit(3);
                _exit(0);
        }
        close(pipefd[1]);
        char r = 0;
        ASSERT_EQ(read(pipefd[0], &r, 1), 1);
        close(pipefd[0]);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_EQ(r, 'y');
}


