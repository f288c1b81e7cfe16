/* berthd's directories: modes, the one-daemon-per-directory lock, the address probe and the persistent uuid. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "berthd/dirs.c"
#include "tap.h"

static char *temp_dir(void) {
        char tmpl[] = "/tmp/berthd-dirs.XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(tmpl));
        return xstrdup(tmpl);
}

TEST(make_dir_sets_mode_on_creation_only) {
        _cleanup_free_ char *dir = temp_dir();
        _cleanup_free_ char *root = xasprintf("%s/a/b/root", dir);
        mode_t old = umask(022);
        ASSERT_OK(berthd_make_dir(root, 0711, NULL));
        struct stat st;
        ASSERT_OK(stat(root, &st));
        ASSERT_EQ(st.st_mode & 07777, 0711);
        /* An existing directory keeps its mode. */
        ASSERT_OK(chmod(root, 0755));
        ASSERT_OK(berthd_make_dir(root, 0700, NULL));
        ASSERT_OK(stat(root, &st));
        ASSERT_EQ(st.st_mode & 07777, 0755);
        umask(old);
        /* A file in the way is an error. */
        _cleanup_free_ char *file = xasprintf("%s/file", dir);
        ASSERT_OK(write_file_atomic(file, "x", 1, 0644, NULL));
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_make_dir(file, 0700, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(lock_is_exclusive_and_names_the_holder) {
        _cleanup_free_ char *dir = temp_dir();
        int fd = berthd_lock_dir(dir, "root", NULL);
        ASSERT_OK(fd);
        /* flock conflicts between two opens even within one process, as between two daemons. */
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_lock_dir(dir, "root", &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        _cleanup_free_ char *want = xasprintf("root %s is in use by another berthd (pid %ld", dir, (long) getpid());
        ASSERT_TRUE(strncmp(e->msg, want, strlen(want)) == 0);
        close(fd);
        /* Released with the fd: a successor takes it over. */
        fd = berthd_lock_dir(dir, "root", NULL);
        ASSERT_OK(fd);
        close(fd);
        ASSERT_OK(rm_rf(dir, NULL));
}

static int listen_on(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 1) < 0)
                return -1;
        return fd;
}

TEST(address_probe) {
        _cleanup_free_ char *dir = temp_dir();
        _cleanup_free_ char *sock = xasprintf("%s/s.sock", dir);
        ASSERT_OK(berthd_check_address_free(sock, NULL)); /* nothing there */
        int fd = listen_on(sock);
        ASSERT_OK(fd);
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_check_address_free(sock, &e), -1);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        close(fd);
        ASSERT_OK(berthd_check_address_free(sock, NULL)); /* stale socket file: fine */

        char long_path[200];
        memset(long_path, 'x', sizeof long_path - 1);
        long_path[0] = '/';
        long_path[sizeof long_path - 1] = '\0';
        berr_freep(&e);
        ASSERT_EQ(berthd_check_address_free(long_path, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(uuid_persists) {
        _cleanup_free_ char *dir = temp_dir();
        _cleanup_free_ char *a = NULL, *b = NULL;
        ASSERT_OK(berthd_load_uuid(dir, &a, NULL));
        ASSERT_TRUE(uuid_is_valid(a));
        ASSERT_EQ(a[14], '4'); /* version 4 */
        ASSERT_TRUE(strchr("89ab", a[19]) != NULL);
        ASSERT_OK(berthd_load_uuid(dir, &b, NULL));
        ASSERT_STREQ(a, b);

        _cleanup_free_ char *path = xasprintf("%s/uuid", dir);
        ASSERT_OK(write_file_atomic(path, "garbage\n", 8, 0644, NULL));
        _cleanup_free_ char *c = NULL;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_load_uuid(dir, &c, &e), -1);
        ASSERT_EQ(e->code, BERR_DATA_LOSS);
        ASSERT_OK(rm_rf(dir, NULL));
}
