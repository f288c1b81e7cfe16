#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/fileio.h"
#include "berthd/dirs.h"

int berthd_make_dir(const char *path, mode_t mode, berr **err) {
        struct stat st;
        if (stat(path, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                        return berr_set(err, BERR_FAILED_PRECONDITION, ENOTDIR, "%s is not a directory", path);
                return 0;
        }
        if (mkdir_p(path, 0755, err) < 0)
                return -1;
        if (chmod(path, mode) < 0)
                return berr_errno(err, errno, "chmod %s", path);
        return 0;
}

/* The pid a previous or current holder wrote into the lock file, 0 if unreadable. */
static long lock_holder(int fd) {
        char buf[32] = { 0 };
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
                return 0;
        return strtol(buf, NULL, 10);
}

int berthd_lock_dir(const char *dir, const char *what, berr **err) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, BERTHD_LOCK_NAME);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return berr_errno(err, errno, "cannot open lock file %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return berr_errno(err, errno, "cannot lock %s", path);
                long pid = lock_holder(fd);
                return berr_set(err, BERR_FAILED_PRECONDITION, EBUSY,
                                "%s %s is in use by another berthd (pid %ld, lock %s); "
                                "every instance needs its own --root and --state",
                                what, dir, pid, path);
        }
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
        /* Overwrite, then cut what is left of a longer old pid: truncating to 0 first freed and re-allocated the
         * file's block, 1-4 ms of journal work on a busy disk on every start-up (twice: root and state). */
        struct stat st;
        if (pwrite(fd, buf, (size_t) n, 0) != n || fstat(fd, &st) < 0 || (st.st_size > n && ftruncate(fd, n) < 0))
                return berr_errno(err, errno, "cannot write %s", path);
        return TAKE_FD(fd);
}

int berthd_check_address_free(const char *path, berr **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, ENAMETOOLONG,
                                "socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_errno(err, errno, "socket");
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0)
                return berr_set(err, BERR_ALREADY_EXISTS, EADDRINUSE,
                                "address %s is in use: another daemon is serving it", path);
        return 0;
}

static bool uuid_is_valid(const char *s) {
        if (strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        }
        return true;
}

static int uuid_generate(char ret[37], berr **err) {
        uint8_t b[16];
        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b)
                return berr_errno(err, errno, "getrandom");
        b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
        b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
        snprintf(ret, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return 0;
}

int berthd_load_uuid(const char *root, char **ret, berr **err) {
        _cleanup_free_ char *path = xasprintf("%s/uuid", root);
        if (access(path, F_OK) == 0) {
                _cleanup_free_ char *text = NULL;
                if (read_file(path, &text, NULL, 4096, err) < 0)
                        return -1;
                text[strcspn(text, " \t\r\n")] = '\0';
                if (!uuid_is_valid(text))
                        return berr_set(err, BERR_DATA_LOSS, 0, "%s does not hold a uuid", path);
                *ret = TAKE_PTR(text);
                return 0;
        }
        if (errno != ENOENT)
                return berr_errno(err, errno, "cannot access %s", path);
        char uuid[37];
        if (uuid_generate(uuid, err) < 0 || write_file_atomic(path, uuid, 36, 0644, err) < 0)
                return -1;
        *ret = xstrdup(uuid);
        return 0;
}
