#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/event.h"
#include "tap.h"

static void loop_freep(ev_loop **l) {
        ev_loop_free(*l);
}
#define _cleanup_loop_ _cleanup_(loop_freep)

static void close_pair(int p[2]) {
        safe_close(p[0]);
        safe_close(p[1]);
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Pumps the loop until *flag is set or about 5 s pass. */
static void run_until(ev_loop *loop, const int *flag) {
        for (int i = 0; i < 500 && !*flag; i++)
                ASSERT_OK(ev_loop_run_once(loop, 10));
        ASSERT_TRUE(*flag);
}

/* Returns once pid has exited, without reaping it: it is a zombie afterwards. */
static void wait_zombie(pid_t pid) {
        siginfo_t si = { 0 };
        ASSERT_OK(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT));
}

/* ---- io ---- */

typedef struct io_rec {
        int calls;
        uint32_t revents;
} io_rec;

static int io_record(ev_source *s, int fd, uint32_t revents, void *userdata) {
        io_rec *rec = userdata;
        rec->calls++;
        rec->revents = revents;
        if (revents & EPOLLIN) {
                char c;
                (void) !read(fd, &c, 1);
        }
        return 0;
}

TEST(io_pipe_readiness) {
        _cleanup_loop_ ev_loop *loop = NULL;
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_loop_new(&loop));
        io_rec rec = { 0 };
        ev_source *s = NULL;
        ASSERT_OK(ev_add_io(loop, &s, p[0], EPOLLIN, io_record, &rec));
        ASSERT_TRUE(ev_source_get_userdata(s) == &rec);
        ASSERT_TRUE(ev_source_get_loop(s) == loop);

        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_EQ(rec.calls, 0);
        ASSERT_EQ(write(p[1], "x", 1), 1);
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_TRUE(rec.revents & EPOLLIN);
        /* The byte was consumed: nothing further. */
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_EQ(rec.calls, 1);

        /* Writer closed: EPOLLHUP is reported even though only EPOLLIN was asked for. */
        p[1] = safe_close(p[1]);
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ASSERT_TRUE(rec.revents & EPOLLHUP);
        ev_source_free(s);
        close_pair(p);
}

TEST(io_epollout_toggle) {
        _cleanup_loop_ ev_loop *loop = NULL;
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_loop_new(&loop));
        io_rec rec = { 0 };
        ev_source *s = NULL;
        ASSERT_OK(ev_add_io(loop, &s, p[1], EPOLLOUT, io_record, &rec));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_TRUE(rec.revents & EPOLLOUT);

        ASSERT_OK(ev_source_set_io_events(s, 0));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_EQ(rec.calls, 1);

        ASSERT_OK(ev_source_set_io_events(s, EPOLLOUT));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        ASSERT_EQ(rec.calls, 2);

        /* Disabled sources are not dispatched; re-enabling brings them back. */
        ASSERT_OK(ev_source_set_enabled(s, false));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_OK(ev_source_set_enabled(s, true));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        ASSERT_EQ(rec.calls, 3);

        /* The loop owns the fd once told so: freeing the source closes it. */
        ev_source_set_close_fd(s, true);
        ev_source_free(s);
        ASSERT_EQ(fcntl(p[1], F_GETFD), -1);
        ASSERT_EQ(errno, EBADF);
        safe_close(p[0]);
}

static int io_fail(ev_source *s, int fd, uint32_t revents, void *userdata) {
        (*(int *) userdata)++;
        return -EIO;
}

TEST(negative_return_disables) {
        _cleanup_loop_ ev_loop *loop = NULL;
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_loop_new(&loop));
        int calls = 0;
        ASSERT_OK(ev_add_io(loop, NULL, p[0], EPOLLIN, io_fail, &calls));
        ASSERT_EQ(write(p[1], "x", 1), 1);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        /* Still readable, but the source is off now. */
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_EQ(calls, 1);
        close_pair(p); /* the loop frees the source it still holds */
}

/* ---- timers ---- */

typedef struct timer_rec {
        int calls;
        int order[4];
        int n;
} timer_rec;

static timer_rec *order_rec;

static int timer_count(ev_source *s, void *userdata) {
        (*(int *) userdata)++;
        return 0;
}

static int timer_order(ev_source *s, void *userdata) {
        order_rec->order[order_rec->n++] = (int) (intptr_t) userdata;
        return 0;
}

TEST(timer_once_rearm_disarm) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        int calls = 0;
        ev_source *t = NULL;
        uint64_t start = now_monotonic_usec();
        ASSERT_OK(ev_add_timer(loop, &t, 20000, timer_count, &calls));
        run_until(loop, &calls);
        ASSERT_TRUE(now_monotonic_usec() - start >= 20000);
        /* One-shot: it does not fire again. */
        ASSERT_EQ(ev_loop_run_once(loop, 50), 0);
        ASSERT_EQ(calls, 1);

        ASSERT_OK(ev_timer_set(t, 1000));
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ASSERT_EQ(calls, 2);

        ASSERT_OK(ev_timer_set(t, 10000));
        ASSERT_OK(ev_timer_disarm(t));
        ASSERT_EQ(ev_loop_run_once(loop, 50), 0);
        ASSERT_EQ(calls, 2);

        /* Created disarmed, armed later. */
        int calls2 = 0;
        ev_source *t2 = NULL;
        ASSERT_OK(ev_add_timer(loop, &t2, EV_TIMER_DISARMED, timer_count, &calls2));
        ASSERT_EQ(ev_loop_run_once(loop, 30), 0);
        ASSERT_OK(ev_timer_set(t2, 0));
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ASSERT_EQ(calls2, 1);
        ev_source_free(t);
        ev_source_free(t2);
}

TEST(timer_expired_after_readiness_is_not_dispatched) {
        /* Disarming a timer that is already due (before the loop looked) must not fire it. */
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        int calls = 0;
        ev_source *t = NULL;
        ASSERT_OK(ev_add_timer(loop, &t, 1000, timer_count, &calls));
        sleep_ms(10);
        ASSERT_OK(ev_timer_disarm(t));
        ASSERT_EQ(ev_loop_run_once(loop, 20), 0);
        ASSERT_EQ(calls, 0);
}

TEST(two_timers_order) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        timer_rec rec = { 0 };
        order_rec = &rec;
        /* Added late-first; both are due by the time the loop looks, so one batch holds both. */
        ASSERT_OK(ev_add_timer(loop, NULL, 30000, timer_order, (void *) 2));
        ASSERT_OK(ev_add_timer(loop, NULL, 10000, timer_order, (void *) 1));
        sleep_ms(50);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 2);
        ASSERT_EQ(rec.n, 2);
        ASSERT_EQ(rec.order[0], 1);
        ASSERT_EQ(rec.order[1], 2);

        /* And when they fall in separate rounds. */
        rec.n = 0;
        ASSERT_OK(ev_add_timer(loop, NULL, 40000, timer_order, (void *) 4));
        ASSERT_OK(ev_add_timer(loop, NULL, 5000, timer_order, (void *) 3));
        for (int i = 0; i < 200 && rec.n < 2; i++)
                ASSERT_OK(ev_loop_run_once(loop, 10));
        ASSERT_EQ(rec.n, 2);
        ASSERT_EQ(rec.order[0], 3);
        ASSERT_EQ(rec.order[1], 4);
}

/* ---- signals ---- */

static int signal_record(ev_source *s, const struct signalfd_siginfo *si, void *userdata) {
        *(int *) userdata = (int) si->ssi_signo;
        return 0;
}

TEST(signal_delivery) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        int got = 0;
        ASSERT_OK(ev_add_signal(loop, NULL, SIGUSR1, signal_record, &got));
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_OK(raise(SIGUSR1));
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ASSERT_EQ(got, SIGUSR1);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
}

/* ---- children ---- */

typedef struct child_rec {
        int calls;
        pid_t pid;
        int status;
} child_rec;

static int child_record(ev_source *s, pid_t pid, int status, void *userdata) {
        child_rec *rec = userdata;
        rec->calls++;
        rec->pid = pid;
        rec->status = status;
        return 0;
}

TEST(child_exit_code_of_zombie) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                _exit(7);
        /* Already exited before it is watched: must still be delivered. */
        wait_zombie(pid);
        child_rec rec = { 0 };
        ev_source *s = NULL;
        ASSERT_OK(ev_add_child(loop, &s, pid, child_record, &rec));
        ASSERT_EQ(ev_add_child(loop, NULL, pid, child_record, &rec), -EBUSY);
        run_until(loop, &rec.calls);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_EQ(rec.pid, pid);
        ASSERT_TRUE(WIFEXITED(rec.status));
        ASSERT_EQ(WEXITSTATUS(rec.status), 7);
        /* Reaped by the loop: no zombie left, and never delivered again. */
        ASSERT_EQ(waitpid(pid, NULL, WNOHANG), -1);
        ASSERT_EQ(errno, ECHILD);
        ASSERT_EQ(ev_loop_run_once(loop, 20), 0);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_EQ(ev_source_set_enabled(s, true), -ESRCH);
        ev_source_free(s);
}

TEST(child_killed_by_sigkill) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        child_rec rec = { 0 };
        int r = ev_add_child(loop, NULL, pid, child_record, &rec);
        ASSERT_OK(kill(pid, SIGKILL));
        if (r < 0)
                waitpid(pid, NULL, 0);
        ASSERT_OK(r);
        run_until(loop, &rec.calls);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_TRUE(WIFSIGNALED(rec.status));
        ASSERT_EQ(WTERMSIG(rec.status), SIGKILL);
        ASSERT_FALSE(WCOREDUMP(rec.status));
}

/* ---- reaper (each runs in a forked sub-process: it reaps every child and may be a subreaper) ---- */

typedef struct orphan_rec {
        int calls;
        pid_t pid;
        int status;
} orphan_rec;

static void orphan_record(ev_loop *loop, pid_t pid, int status, void *userdata) {
        orphan_rec *rec = userdata;
        rec->calls++;
        rec->pid = pid;
        rec->status = status;
}

/* Runs fn in a child process and asserts it exits 0; a nonzero code names the failed step. */
static void run_in_subprocess(int (*fn)(void)) {
        fflush(stdout);
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0)
                _exit(fn());
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                TAP_FAIL("sub-process failed: status 0x%x (step %d)", status, WEXITSTATUS(status));
}

static int pump(ev_loop *loop, const int *flag) {
        for (int i = 0; i < 500 && !*flag; i++)
                if (ev_loop_run_once(loop, 10) < 0)
                        return -1;
        return *flag ? 0 : -1;
}

static int reaper_orphan_body(void) {
        ev_loop *loop = NULL;
        int step = 1;
        int p[2] = { -1, -1 }, q[2] = { -1, -1 };
        orphan_rec orphan = { 0 };
        child_rec child = { 0 };

        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || ev_loop_new(&loop) < 0)
                goto out;
        step++;
        /* p carries the grandchild's pid up; q holds the grandchild until we close its write end. */
        if (ev_loop_set_reaper(loop, orphan_record, &orphan) < 0 || pipe2(p, O_CLOEXEC) < 0 ||
            pipe2(q, O_CLOEXEC) < 0)
                goto out;
        step++;
        pid_t mid = fork();
        if (mid < 0)
                goto out;
        if (mid == 0) {
                pid_t grandchild = fork();
                if (grandchild == 0) {
                        char c;
                        safe_close(q[1]);
                        (void) !read(q[0], &c, 1);
                        _exit(42);
                }
                _exit(write(p[1], &grandchild, sizeof grandchild) == sizeof grandchild ? 3 : 99);
        }
        step++;
        if (ev_add_child(loop, NULL, mid, child_record, &child) < 0)
                goto out;
        step++;
        if (pump(loop, &child.calls) < 0 || !WIFEXITED(child.status) || WEXITSTATUS(child.status) != 3)
                goto out;
        step++;
        pid_t grandchild;
        if (read(p[0], &grandchild, sizeof grandchild) != sizeof grandchild)
                goto out;
        step++;
        /* Its parent is gone, so the grandchild is ours now; let it exit. */
        if (orphan.calls != 0)
                goto out;
        q[1] = safe_close(q[1]);
        if (pump(loop, &orphan.calls) < 0)
                goto out;
        step++;
        if (orphan.calls != 1 || orphan.pid != grandchild || !WIFEXITED(orphan.status) ||
            WEXITSTATUS(orphan.status) != 42)
                goto out;
        step++;
        if (ev_loop_run_once(loop, 50) != 0 || child.calls != 1 || orphan.calls != 1)
                goto out;
        step = 0;
out:
        close_pair(p);
        close_pair(q);
        ev_loop_free(loop);
        return step;
}

TEST(reaper_gets_orphan_status) {
        run_in_subprocess(reaper_orphan_body);
}

static int reaper_takes_registered_body(void) {
        ev_loop *loop = NULL;
        int step = 1;
        orphan_rec orphan = { 0 };
        child_rec child = { 0 };
        if (ev_loop_new(&loop) < 0 || ev_loop_set_reaper(loop, orphan_record, &orphan) < 0)
                goto out;
        step++;
        pid_t pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                _exit(5);
        step++;
        /* Both the pidfd and SIGCHLD are ready in the same round; the reaper runs first and its
         * status must reach the child source, whose own pidfd event is then skipped. */
        siginfo_t si = { 0 };
        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT) < 0)
                goto out;
        step++;
        if (ev_add_child(loop, NULL, pid, child_record, &child) < 0)
                goto out;
        step++;
        if (pump(loop, &child.calls) < 0)
                goto out;
        step++;
        if (child.calls != 1 || child.pid != pid || !WIFEXITED(child.status) ||
            WEXITSTATUS(child.status) != 5)
                goto out;
        step++;
        for (int i = 0; i < 5; i++)
                (void) ev_loop_run_once(loop, 10);
        if (child.calls != 1 || orphan.calls != 0)
                goto out;
        step++;
        ev_loop_free(loop);
        loop = NULL;
        step++;

        /* The other order: the pidfd path reaps first (no reaper yet, SIGCHLD held pending), then
         * the reaper comes up, sees that SIGCHLD, finds nothing to reap: still exactly one delivery. */
        child = (child_rec) { 0 };
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 || ev_loop_new(&loop) < 0)
                goto out;
        step++;
        pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                _exit(6);
        if (ev_add_child(loop, NULL, pid, child_record, &child) < 0 || pump(loop, &child.calls) < 0)
                goto out;
        step++;
        if (ev_loop_set_reaper(loop, orphan_record, &orphan) < 0)
                goto out;
        step++;
        for (int i = 0; i < 5; i++)
                (void) ev_loop_run_once(loop, 10);
        if (child.calls != 1 || WEXITSTATUS(child.status) != 6 || orphan.calls != 0)
                goto out;
        step = 0;
out:
        ev_loop_free(loop);
        return step;
}

TEST(reaper_delivers_registered_child_once) {
        run_in_subprocess(reaper_takes_registered_body);
}

static int reaper_catches_earlier_exit_body(void) {
        /* A child that exited before the reaper existed is reaped at the first round. */
        ev_loop *loop = NULL;
        int step = 1;
        orphan_rec orphan = { 0 };
        pid_t pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                _exit(9);
        step++;
        siginfo_t si = { 0 };
        if (waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT) < 0)
                goto out;
        step++;
        if (ev_loop_new(&loop) < 0 || ev_loop_set_reaper(loop, orphan_record, &orphan) < 0)
                goto out;
        step++;
        if (ev_loop_run_once(loop, 1000) != 1 || orphan.pid != pid || WEXITSTATUS(orphan.status) != 9)
                goto out;
        step = 0;
out:
        ev_loop_free(loop);
        return step;
}

TEST(reaper_catches_exit_before_it_was_set) {
        run_in_subprocess(reaper_catches_earlier_exit_body);
}

/* ---- freeing from callbacks ---- */

static int io_free_self(ev_source *s, int fd, uint32_t revents, void *userdata) {
        (*(int *) userdata)++;
        ev_source_free(s);
        return -1; /* ignored for a freed source */
}

TEST(free_self_in_callback) {
        _cleanup_loop_ ev_loop *loop = NULL;
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_loop_new(&loop));
        int calls = 0;
        ASSERT_OK(ev_add_io(loop, NULL, p[0], EPOLLIN, io_free_self, &calls));
        ASSERT_EQ(write(p[1], "x", 1), 1);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 0);
        ASSERT_EQ(calls, 1);

        int tcalls = 0;
        ev_source *t = NULL;
        ASSERT_OK(ev_add_timer(loop, &t, 0, timer_count, &tcalls));
        ASSERT_EQ(ev_loop_run_once(loop, 1000), 1);
        ev_source_free(t);
        close_pair(p);
}

typedef struct pair_rec {
        ev_source *other[2];
        int calls[2];
} pair_rec;

static pair_rec *pair;

static int io_free_other(ev_source *s, int fd, uint32_t revents, void *userdata) {
        int me = (int) (intptr_t) userdata;
        pair->calls[me]++;
        ev_source_free(pair->other[me]);
        pair->other[me] = NULL;
        return 0;
}

TEST(free_other_pending_in_same_batch) {
        _cleanup_loop_ ev_loop *loop = NULL;
        int a[2], b[2];
        ASSERT_OK(pipe2(a, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(pipe2(b, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_loop_new(&loop));
        pair_rec rec = { 0 };
        pair = &rec;
        ev_source *sa = NULL, *sb = NULL;
        ASSERT_OK(ev_add_io(loop, &sa, a[0], EPOLLIN, io_free_other, (void *) 0));
        ASSERT_OK(ev_add_io(loop, &sb, b[0], EPOLLIN, io_free_other, (void *) 1));
        /* The loop owns b's read end: freeing sb closes it mid-batch. */
        ev_source_set_close_fd(sb, true);
        rec.other[0] = sb;
        rec.other[1] = sa;
        ASSERT_EQ(write(a[1], "x", 1), 1);
        ASSERT_EQ(write(b[1], "x", 1), 1);
        /* Both are ready in one batch; whichever runs first frees the other, which must not run. */
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1);
        ASSERT_EQ(rec.calls[0] + rec.calls[1], 1);
        ASSERT_EQ(ev_loop_run_once(loop, 0), 1); /* the survivor: its byte is still unread */
        ASSERT_EQ(rec.calls[0] + rec.calls[1], 2);
        /* sb freed first: the loop closed b[0]. Otherwise sa was freed (a[0] is not the loop's) and sb,
         * still registered, is freed with the loop, which closes b[0] then. */
        if (rec.calls[0] == 2)
                ASSERT_EQ(fcntl(b[0], F_GETFD), -1);
        else
                ASSERT_EQ(rec.calls[1], 2);
        safe_close(b[1]);
        close_pair(a);
}

/* ---- exit ---- */

static int timer_exit(ev_source *s, void *userdata) {
        ev_loop_exit(ev_source_get_loop(s), 42);
        ev_loop_exit(ev_source_get_loop(s), 1); /* the first code wins */
        return 0;
}

TEST(loop_run_returns_exit_code) {
        _cleanup_loop_ ev_loop *loop = NULL;
        ASSERT_OK(ev_loop_new(&loop));
        ASSERT_FALSE(ev_loop_exiting(loop));
        ASSERT_OK(ev_add_timer(loop, NULL, 5000, timer_exit, NULL));
        ASSERT_EQ(ev_loop_run(loop), 42);
        ASSERT_TRUE(ev_loop_exiting(loop));
}

TEST(clocks) {
        uint64_t m1 = now_monotonic_usec();
        sleep_ms(2);
        uint64_t m2 = now_monotonic_usec();
        ASSERT_TRUE(m2 - m1 >= 2000);
        int64_t r = now_realtime_nsec();
        ASSERT_TRUE(r > (int64_t) 1600000000 * 1000000000);
        ASSERT_TRUE(r / 1000000000 - (int64_t) time(NULL) <= 1);
}
