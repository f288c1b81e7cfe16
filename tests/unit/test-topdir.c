/* basic/topdir: dir_mark_topdir sets ext4's FS_TOPDIR_FL on a directory (where the filesystem takes it), keeps
 * the directory's other flags, follows no symlink, touches no file that is not a directory, and never fails. */
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/topdir.h"
#include "tap.h"
#include "test-scratch.h"

/* The inode flags of path (-1: the filesystem has none to give). */
static int flags_of(const char *path) {
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -1;
        int flags = 0;
        int r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
        close(fd);
        return r == 0 ? flags : -1;
}

/* Whether the scratch filesystem takes the flag at all (ext4 does; tmpfs does not). */
static bool takes_topdir(const char *dir) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int flags = 0;
        bool ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
        if (ok) {
                int with = flags | FS_TOPDIR_FL;
                ok = ioctl(fd, FS_IOC_SETFLAGS, &with) == 0;
                if (ok)
                        (void) ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
        if (fd >= 0)
                close(fd);
        return ok;
}

TEST(marks_a_directory_and_keeps_its_other_flags) {
        _cleanup_free_ char *d = xasprintf("%s/bundles", test_scratch_dir("topdir"));
        ASSERT_OK(mkdir(d, 0711));
        if (!takes_topdir(d))
                TAP_SKIP("the scratch filesystem has no FS_TOPDIR_FL");
        int before = flags_of(d);
        ASSERT_TRUE(before >= 0);
        ASSERT_FALSE(before & FS_TOPDIR_FL);
        dir_mark_topdir(d);
        ASSERT_EQ(flags_of(d), before | FS_TOPDIR_FL);
        dir_mark_topdir(d); /* again: nothing changes */
        ASSERT_EQ(flags_of(d), before | FS_TOPDIR_FL);
        /* and a directory made inside it is an ordinary one */
        _cleanup_free_ char *sub = xasprintf("%s/one", d);
        ASSERT_OK(mkdir(sub, 0700));
        ASSERT_FALSE(flags_of(sub) & FS_TOPDIR_FL);
}

TEST(leaves_files_symlinks_and_missing_paths_alone) {
        const char *dir = test_scratch_dir("topdir");
        _cleanup_free_ char *file = xasprintf("%s/file", dir);
        _cleanup_free_ char *target = xasprintf("%s/target", dir);
        _cleanup_free_ char *link = xasprintf("%s/link", dir);
        _cleanup_free_ char *missing = xasprintf("%s/missing", dir);
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        ASSERT_OK(mkdir(target, 0700));
        ASSERT_OK(symlink(target, link));
        int file_flags = flags_of(file), target_flags = flags_of(target);
        dir_mark_topdir(file);
        dir_mark_topdir(link);
        dir_mark_topdir(missing);
        ASSERT_EQ(flags_of(file), file_flags);
        ASSERT_EQ(flags_of(target), target_flags);
        ASSERT_EQ(access(missing, F_OK), -1);
}
