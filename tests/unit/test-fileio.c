#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "tap.h"
#include "test-scratch.h"

static const char *dir(void) {
        return test_scratch_dir("fileio");
}

static size_t count_entries(const char *path) {
        DIR *d = opendir(path);
        size_t n = 0;
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

TEST(write_and_read_pipe) {
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        char big[200000];
        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char) (i * 7);
        /* Larger than the pipe buffer: a child reads while we write, so write_all must loop. */
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                close(p[1]);
                static char got[sizeof big];
                ssize_t n = read_all(p[0], got, sizeof got + 0);
                _exit(n == (ssize_t) sizeof big && memcmp(got, big, sizeof big) == 0 ? 0 : 1);
        }
        close(p[0]);
        int r = write_all(p[1], big, sizeof big);
        close(p[1]);
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_EQ(r, 0);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(read_all_stops_at_eof) {
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_EQ(write(p[1], "abc", 3), 3);
        close(p[1]);
        char buf[16];
        ASSERT_EQ(read_all(p[0], buf, sizeof buf), 3);
        ASSERT_EQ(read_all(p[0], buf, sizeof buf), 0);
        close(p[0]);
}

TEST(write_all_to_closed_pipe_fails) {
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        errno = 0;
        ASSERT_EQ(write_all(p[1], "x", 1), -1);
        ASSERT_EQ(errno, EPIPE);
        close(p[1]);
}

TEST(atomic_write_replaces_exactly) {
        _cleanup_free_ char *sub = xasprintf("%s/atomic", dir());
        ASSERT_OK(mkdir(sub, 0755));
        _cleanup_free_ char *path = xasprintf("%s/address", sub);
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(write_file_atomic(path, "unix:///old", 11, 0644, &e));
        ASSERT_OK(write_file_atomic(path, "unix:///new/sock", 16, 0600, &e));
        _cleanup_free_ char *got = NULL;
        size_t len = 0;
        ASSERT_OK(read_file(path, &got, &len, 1024, &e));
        ASSERT_EQ(len, 16);
        ASSERT_STREQ(got, "unix:///new/sock"); /* no newline added */
        struct stat st;
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(count_entries(sub), 1); /* no temp file left behind */

        /* Empty content is legal. */
        ASSERT_OK(write_file_atomic(path, "", 0, 0644, &e));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_size, 0);
}

TEST(atomic_write_failure_leaves_nothing) {
        _cleanup_free_ char *sub = xasprintf("%s/atomic-fail", dir());
        ASSERT_OK(mkdir(sub, 0755));
        /* The target is a non-empty directory, so the final rename fails after the temp file was written. */
        _cleanup_free_ char *target = xasprintf("%s/t", sub), *inner = xasprintf("%s/t/x", sub);
        ASSERT_OK(mkdir(target, 0755));
        ASSERT_OK(mkdir(inner, 0755));
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(write_file_atomic(target, "data", 4, 0644, &e), -1);
        ASSERT_NOT_NULL(e);
        ASSERT_TRUE(strstr(e->msg, "rename") != NULL);
        ASSERT_EQ(count_entries(sub), 1);
        /* Missing directory: fails on create. */
        _cleanup_berr_ berr *e2 = NULL;
        _cleanup_free_ char *nodir = xasprintf("%s/missing/file", sub);
        ASSERT_EQ(write_file_atomic(nodir, "x", 1, 0644, &e2), -1);
        ASSERT_EQ(e2->code, BERR_NOT_FOUND);
}

TEST(atomic_write_at) {
        _cleanup_free_ char *sub = xasprintf("%s/at", dir());
        ASSERT_OK(mkdir(sub, 0755));
        _cleanup_close_ int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_OK(dfd);
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(write_file_atomic_at(dfd, "init.pid", "1234", 4, 0644, &e));
        _cleanup_free_ char *path = xasprintf("%s/init.pid", sub), *got = NULL;
        ASSERT_OK(read_file(path, &got, NULL, 100, &e));
        ASSERT_STREQ(got, "1234");
        ASSERT_EQ(count_entries(sub), 1);
}

TEST(read_file_limits) {
        _cleanup_free_ char *path = xasprintf("%s/limit", dir());
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(write_file_atomic(path, "0123456789", 10, 0644, &e));
        _cleanup_free_ char *got = NULL;
        ASSERT_OK(read_file(path, &got, NULL, 10, &e));
        ASSERT_STREQ(got, "0123456789");
        char *none = NULL;
        ASSERT_EQ(read_file(path, &none, NULL, 9, &e), -1);
        ASSERT_NULL(none);
        ASSERT_EQ(e->code, BERR_OUT_OF_RANGE);
        ASSERT_EQ(e->errnum, EFBIG);
        ASSERT_EQ(read_file("/nonexistent/berth", &none, NULL, 9, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
}

TEST(read_file_proc) {
        /* /proc files report size 0; the content must still come through, and the limit still apply. */
        _cleanup_free_ char *got = NULL;
        size_t len = 0;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(read_file("/proc/self/mountinfo", &got, &len, 1 << 20, &e));
        ASSERT_TRUE(len > 0);
        ASSERT_EQ(strlen(got), len);
        char *none = NULL;
        ASSERT_EQ(read_file("/proc/self/mountinfo", &none, NULL, 10, &e), -1);
        ASSERT_EQ(e->code, BERR_OUT_OF_RANGE);
}

TEST(mkdir_p_nested) {
        _cleanup_free_ char *deep = xasprintf("%s/m/a//b/c/", dir());
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mkdir_p(deep, 0711, &e));
        struct stat st;
        _cleanup_free_ char *c = xasprintf("%s/m/a/b/c", dir());
        ASSERT_OK(stat(c, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(mkdir_p(deep, 0711, &e)); /* exists: fine */
        _cleanup_free_ char *file = xasprintf("%s/m/file", dir()), *under = xasprintf("%s/m/file/x", dir());
        ASSERT_OK(write_file_atomic(file, "", 0, 0644, &e));
        ASSERT_EQ(mkdir_p(file, 0755, &e), -1);
        ASSERT_EQ(e->errnum, ENOTDIR);
        ASSERT_EQ(mkdir_p(under, 0755, &e), -1);
}

TEST(rm_rf_tree_and_symlinks) {
        _cleanup_berr_ berr *e = NULL;
        /* A directory outside the tree that a symlink inside points to must survive. */
        _cleanup_free_ char *outside = xasprintf("%s/outside", dir()), *keep = xasprintf("%s/outside/keep", dir());
        ASSERT_OK(mkdir(outside, 0755));
        ASSERT_OK(write_file_atomic(keep, "k", 1, 0644, &e));

        _cleanup_free_ char *tree = xasprintf("%s/tree", dir()), *deep = xasprintf("%s/tree/a/b/c", dir());
        ASSERT_OK(mkdir_p(deep, 0755, &e));
        _cleanup_free_ char *f = xasprintf("%s/tree/a/b/c/file", dir()), *ln = xasprintf("%s/tree/a/link", dir());
        ASSERT_OK(write_file_atomic(f, "x", 1, 0644, &e));
        ASSERT_OK(symlink(outside, ln));
        _cleanup_free_ char *ro = xasprintf("%s/tree/a/ro", dir());
        ASSERT_OK(mkdir(ro, 0555)); /* root removes it anyway; checks we do not need write bits */
        ASSERT_OK(rm_rf(tree, &e));
        ASSERT_EQ(access(tree, F_OK), -1);
        ASSERT_OK(access(keep, F_OK));

        /* rm_rf of a symlink removes the link only. */
        _cleanup_free_ char *ln2 = xasprintf("%s/link2", dir());
        ASSERT_OK(symlink(outside, ln2));
        ASSERT_OK(rm_rf(ln2, &e));
        ASSERT_OK(access(keep, F_OK));
        struct stat st;
        ASSERT_EQ(lstat(ln2, &st), -1);

        /* Missing path: success. A plain file: removed. */
        ASSERT_OK(rm_rf(tree, &e));
        ASSERT_OK(rm_rf(keep, &e));
        ASSERT_EQ(access(keep, F_OK), -1);
}
