/* dir_mark_topdir: see topdir.h for why. */
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "basic/topdir.h"

void dir_mark_topdir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        /* The kernel reads and writes an int for these two, whatever the ioctl numbers say. */
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
                flags |= FS_TOPDIR_FL;
                (void) ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
        close(fd);
}
