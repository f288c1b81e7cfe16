/* runc_start_direct (src/shim/runc-start.c): the exec.fifo handshake `runc start` does, done by the shim. A child
 * process plays runc's init: it opens <root>/<id>/exec.fifo for writing (blocking until a reader comes), writes one
 * byte and exits, as the init writes and then execs the container's process. */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/macro.h"
#include "shim/oci.h"
#include "tap.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static void cleanup(void) {
        if (tmpdir[0])
                (void) nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        tmpdir[0] = '\0';
}

/* A state root with <root>/<id>/exec.fifo; returns the FIFO's path. */
static char *setup(oci_runtime *rt, const char *binary) {
        cleanup();
        strcpy(tmpdir, "/tmp/test-runc-start.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        *rt = (oci_runtime) { .binary = xstrdup(binary), .root = xstrdup(tmpdir) };
        _cleanup_free_ char *dir = xasprintf("%s/c1", tmpdir);
        ASSERT_OK(mkdir(dir, 0700));
        char *fifo = xasprintf("%s/exec.fifo", dir);
        ASSERT_OK(mkfifo(fifo, 0622));
        return fifo;
}

/* The init's side: 'w' writes a byte, 'c' closes without writing, 'x' exits without opening the FIFO. */
static pid_t fake_init(const char *fifo, char how) {
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid > 0)
                return pid;
        if (how == 'x')
                _exit(0);
        int fd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                _exit(2);
        if (how == 'w' && write(fd, "0", 1) != 1)
                _exit(3);
        _exit(0);
}

static int reap(pid_t pid) {
        int status = -1;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        return status;
}

TEST(handshake_releases_init_and_removes_fifo) {
        oci_runtime rt;
        _cleanup_free_ char *fifo = setup(&rt, "/usr/sbin/runc");
        pid_t init = fake_init(fifo, 'w');
        berr *e = NULL;
        ASSERT_EQ(runc_start_direct(&rt, "c1", init, &e), 1);
        ASSERT_NULL(e);
        int status = reap(init);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* Gone, as after `runc start`: runc reports the container running from now on. */
        ASSERT_TRUE(access(fifo, F_OK) < 0 && errno == ENOENT);
        oci_runtime_done(&rt);
        cleanup();
}

TEST(other_runtimes_and_missing_fifo_fall_back) {
        oci_runtime rt;
        _cleanup_free_ char *fifo = setup(&rt, "crun");
        berr *e = NULL;
        ASSERT_EQ(runc_start_direct(&rt, "c1", getpid(), &e), 0);
        free(rt.binary);
        rt.binary = xstrdup("runc");
        ASSERT_EQ(runc_start_direct(&rt, "nope", getpid(), &e), 0); /* no such container: runc start says why */
        ASSERT_NULL(e);
        ASSERT_OK(access(fifo, F_OK)); /* untouched */
        oci_runtime_done(&rt);
        cleanup();
}

TEST(writer_closing_without_a_byte_fails) {
        oci_runtime rt;
        _cleanup_free_ char *fifo = setup(&rt, "runc");
        pid_t init = fake_init(fifo, 'c');
        berr *e = NULL;
        ASSERT_EQ(runc_start_direct(&rt, "c1", init, &e), -1);
        ASSERT_NOT_NULL(e);
        ASSERT_NOT_NULL(strstr(e->msg, "already running"));
        berr_free(e);
        reap(init);
        oci_runtime_done(&rt);
        cleanup();
}

TEST(dead_init_fails_instead_of_hanging) {
        oci_runtime rt;
        _cleanup_free_ char *fifo = setup(&rt, "runc");
        pid_t init = fake_init(fifo, 'x');
        /* A zombie, not reaped: what the shim sees for an init that died between create and start. */
        siginfo_t si = { 0 };
        ASSERT_OK(waitid(P_PID, (id_t) init, &si, WEXITED | WNOWAIT));
        berr *e = NULL;
        ASSERT_EQ(runc_start_direct(&rt, "c1", init, &e), -1);
        ASSERT_NOT_NULL(strstr(e->msg, "already dead"));
        berr_free(e);
        reap(init);
        ASSERT_OK(access(fifo, F_OK)); /* left for `runc delete` */
        oci_runtime_done(&rt);
        cleanup();
}

TEST(waits_for_a_slow_init) {
        oci_runtime rt;
        _cleanup_free_ char *fifo = setup(&rt, "runc");
        /* The writer shows up only after a few poll slices. */
        pid_t init = fork();
        ASSERT_TRUE(init >= 0);
        if (init == 0) {
                usleep(250 * 1000);
                int fd = open(fifo, O_WRONLY | O_CLOEXEC);
                _exit(fd >= 0 && write(fd, "0", 1) == 1 ? 0 : 1);
        }
        berr *e = NULL;
        ASSERT_EQ(runc_start_direct(&rt, "c1", init, &e), 1);
        int status = reap(init);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        oci_runtime_done(&rt);
        cleanup();
}
