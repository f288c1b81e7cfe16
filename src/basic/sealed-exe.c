#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/macro.h"
#include "basic/sealed-exe.h"

int sealed_exe_create(const char *path, size_t max_size, int *ret_fd, berr **err) {
        _cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
        if (src < 0)
                return berr_errno(err, errno, "open %s", path);
        struct stat st;
        if (fstat(src, &st) < 0)
                return berr_errno(err, errno, "stat %s", path);
        if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s is not an executable file", path);
        if ((size_t) st.st_size > max_size)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s is larger than %zu bytes", path, max_size);
        char magic[4];
        if (pread(src, magic, sizeof magic, 0) != (ssize_t) sizeof magic || memcmp(magic, "\177ELF", 4) != 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s is not an ELF executable", path);

        /* The name is what /proc/<pid>/exe shows for the runtime's processes. */
        _cleanup_close_ int fd = memfd_create("berth-sealed-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return berr_errno(err, errno, "memfd_create");
        off_t off = 0;
        while (off < st.st_size) {
                ssize_t n = sendfile(fd, src, &off, (size_t) (st.st_size - off));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return berr_errno(err, errno, "copying %s", path);
                if (n == 0)
                        return berr_set(err, BERR_INTERNAL, 0, "%s shrank while being copied", path);
        }
        if (fchmod(fd, 0555) < 0 || fcntl(fd, F_ADD_SEALS, SEALED_EXE_SEALS) < 0)
                return berr_errno(err, errno, "sealing the copy of %s", path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

bool sealed_exe_is_sealed(int fd) {
        return fd >= 0 && fcntl(fd, F_GET_SEALS) == SEALED_EXE_SEALS;
}
