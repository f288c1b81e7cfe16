/* basic/sealed-exe (the sealed copy of the OCI runtime) and the shim's side of it (shim/sealed-runtime). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/sealed-exe.h"
#include "shim/sealed-runtime.h"
#include "tap.h"
#include "test-scratch.h"

static const char *dir(void) {
        return test_scratch_dir("sealed");
}

/* An executable copy of /bin/true in the scratch dir (a file the tests may replace). */
static char *copy_of_true(const char *name) {
        char *path = xasprintf("%s/%s", dir(), name);
        _cleanup_free_ char *bytes = NULL;
        size_t len = 0;
        if (read_file("/bin/true", &bytes, &len, 64 << 20, NULL) < 0 ||
            write_file_atomic(path, bytes, len, 0755, NULL) < 0)
                TAP_FAIL("cannot copy /bin/true");
        return path;
}

/* Runs the sealed copy with argv[0] "true" and returns its exit status (-1: did not exit). */
static int run_sealed(int fd) {
        pid_t pid = fork();
        if (pid == 0) {
                char *const argv[] = { (char *) "true", NULL };
                char *const envp[] = { NULL };
                fexecve(fd, argv, envp);
                _exit(99);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(sealed_copy_of_an_elf_binary_runs_and_cannot_be_written) {
        _cleanup_free_ char *path = copy_of_true("true");
        int fd = -1;
        berr *e = NULL;
        ASSERT_OK(sealed_exe_create(path, 64u << 20, &fd, &e));
        ASSERT_TRUE(sealed_exe_is_sealed(fd));
        ASSERT_EQ(fcntl(fd, F_GET_SEALS), SEALED_EXE_SEALS);
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        struct stat a, b;
        ASSERT_OK(stat(path, &a));
        ASSERT_OK(fstat(fd, &b));
        ASSERT_EQ(a.st_size, b.st_size);
        /* what the seals are for: nothing can change the copy */
        ASSERT_EQ(pwrite(fd, "x", 1, 0), -1);
        ASSERT_EQ(errno, EPERM);
        ASSERT_EQ(ftruncate(fd, 0), -1);
        ASSERT_EQ(run_sealed(fd), 0);
        close(fd);
}

TEST(a_script_a_big_file_and_a_missing_one_are_refused) {
        _cleanup_free_ char *script = xasprintf("%s/script", dir());
        ASSERT_OK(write_file_atomic(script, "#!/bin/sh\nexit 0\n", 17, 0755, NULL));
        int fd = -1;
        berr *e = NULL;
        ASSERT_EQ(sealed_exe_create(script, 1 << 20, &fd, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        ASSERT_TRUE(strstr(e->msg, "not an ELF") != NULL);
        berr_freep(&e);

        _cleanup_free_ char *path = copy_of_true("big");
        ASSERT_EQ(sealed_exe_create(path, 100, &fd, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        ASSERT_TRUE(strstr(e->msg, "larger than") != NULL);
        berr_freep(&e);

        _cleanup_free_ char *missing = xasprintf("%s/none", dir());
        ASSERT_EQ(sealed_exe_create(missing, 1 << 20, &fd, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_freep(&e);
        ASSERT_EQ(fd, -1);
}

TEST(an_unsealed_memfd_is_not_a_sealed_copy) {
        int fd = memfd_create("plain", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        ASSERT_TRUE(fd >= 0);
        ASSERT_FALSE(sealed_exe_is_sealed(fd));
        ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)); /* some seals, not the set runtimes check */
        ASSERT_FALSE(sealed_exe_is_sealed(fd));
        ASSERT_FALSE(sealed_exe_is_sealed(-1));
        close(fd);
}

/* The shim takes the copy over from the environment and uses it only for the very file that was copied. */
TEST(shim_uses_the_copy_only_while_the_path_names_the_copied_file) {
        _cleanup_free_ char *path = copy_of_true("runtime");
        int fd = -1;
        berr *e = NULL;
        ASSERT_OK(sealed_exe_create(path, 64u << 20, &fd, &e));
        ASSERT_OK(fcntl(fd, F_SETFD, 0)); /* as inherited from berthd */
        struct stat st;
        ASSERT_OK(stat(path, &st));
        _cleanup_free_ char *env = xasprintf("%d:%llu:%llu:%lld:%lld:%s", fd, (unsigned long long) st.st_dev,
                                             (unsigned long long) st.st_ino, (long long) st.st_size,
                                             (long long) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                                             path);
        ASSERT_OK(setenv("BERTH_SEALED_RUNTIME", env, 1));
        shim_sealed_runtime_init();
        ASSERT_NULL(getenv("BERTH_SEALED_RUNTIME")); /* not passed on to the runtime */
        ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        ASSERT_EQ(shim_sealed_runtime_fd(path), fd);
        ASSERT_EQ(shim_sealed_runtime_fd("/bin/true"), -1);
        ASSERT_EQ(shim_sealed_runtime_fd(NULL), -1);
        /* an upgrade replaces the file: the file runs, not the stale copy */
        _cleanup_free_ char *again = copy_of_true("runtime");
        ASSERT_EQ(shim_sealed_runtime_fd(path), -1);
}
