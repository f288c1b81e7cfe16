/* overlayfs and native snapshotters with real mounts (root only): chains of three layers, views, commit, usage,
 * remove and cleanup. Mounts happen in a private mount namespace of this test process. */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/fileio.h"
#include "basic/mount.h"
#include "basic/strv.h"
#include "snapshots/snapshots.h"
#include "tap.h"

static char root[] = "/tmp/berth-test-snapshots.XXXXXX";
static bool have_root;

static void cleanup_root(void) {
        if (!have_root)
                return;
        berr *e = NULL;
        if (unmount_all(root, &e) < 0) {
                berr_free(e);
                e = NULL;
        }
        if (rm_rf(root, &e) < 0)
                berr_free(e);
}

static char *fixture(const char *name) {
        if (!have_root) {
                if (geteuid() != 0)
                        TAP_SKIP("needs root");
                if (unshare(CLONE_NEWNS) < 0)
                        TAP_SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
                if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        TAP_FAIL("make / rprivate: %s", strerror(errno));
                if (!mkdtemp(root))
                        TAP_FAIL("mkdtemp: %s", strerror(errno));
                have_root = true;
                atexit(cleanup_root);
        }
        char *d = xasprintf("%s/%s", root, name);
        berr *e = NULL;
        if (mkdir_p(d, 0755, &e) < 0)
                TAP_FAIL("mkdir %s: %s", d, e->msg);
        return d;
}

static void put(const char *dir, const char *rel, const char *content) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        berr *e = NULL;
        _cleanup_free_ char *parent = xstrdup(p);
        *strrchr(parent, '/') = '\0';
        if (mkdir_p(parent, 0755, &e) < 0 || write_file_atomic(p, content, strlen(content), 0644, &e) < 0)
                TAP_FAIL("write %s: %s", p, e->msg);
}

static char *get(const char *dir, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        char *s = NULL;
        if (read_file(p, &s, NULL, 1 << 20, NULL) < 0)
                return NULL;
        return s;
}

static bool exists(const char *dir, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        struct stat st;
        return lstat(p, &st) == 0;
}

static bool has_option(const berth_mount *m, const char *opt) {
        for (size_t i = 0; i < m->n_options; i++)
                if (strcmp(m->options[i], opt) == 0)
                        return true;
        return false;
}

static void mount_at(const berth_mount *m, size_t n, const char *target) {
        berr *e = NULL;
        if (mount_apply_all(m, n, target, &e) < 0)
                TAP_FAIL("mount: %s", e->msg);
}

static void unmount_at(const char *target) {
        berr *e = NULL;
        if (unmount_all(target, &e) < 0)
                TAP_FAIL("unmount: %s", e->msg);
}

TEST(overlay_chain_of_three) {
        _cleanup_free_ char *dir = fixture("overlay"), *mnt = fixture("overlay-mnt");
        snapshotter *s = NULL;
        berr *e = NULL;
        if (snapshotter_open("overlayfs", dir, &s, &e) < 0)
                TAP_SKIP("overlayfs unavailable: %s", e->msg);
        ASSERT_STREQ(snapshotter_name(s), "overlayfs");
        ASSERT_NULL(snapshotter_capabilities(s)[0]);
        bool index_param = access("/sys/module/overlay/parameters/index", F_OK) == 0;

        berth_mount *m = NULL;
        size_t n = 0;
        ASSERT_OK(snapshotter_prepare(s, "1", SNAPSHOT_KIND_ACTIVE, NULL, 0, &m, &n, &e));
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(m[0].type, "bind");
        _cleanup_free_ char *fs1 = snapshotter_fs_path(s, "1");
        ASSERT_STREQ(m[0].source, fs1);
        ASSERT_EQ(m[0].n_options, 2);
        ASSERT_STREQ(m[0].options[0], "rw");
        ASSERT_STREQ(m[0].options[1], "rbind");
        mount_at(m, n, mnt);
        put(mnt, "etc/one", "layer1");
        put(mnt, "etc/gone", "to be deleted");
        put(mnt, "opq/old", "hidden later");
        unmount_at(mnt);
        berth_mounts_free(m, n);
        ASSERT_TRUE(exists(fs1, "etc/one"));
        snapshot_usage u;
        ASSERT_OK(snapshotter_commit(s, "1", &u, &e));
        ASSERT_EQ(u.inodes, 6); /* fs, etc, one, gone, opq, old */
        ASSERT_TRUE(u.size > 0);
        _cleanup_free_ char *work1 = xasprintf("%s/snapshots/1/work", dir);
        ASSERT_FALSE(exists(work1, ""));

        char *p2[] = { (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "2", SNAPSHOT_KIND_ACTIVE, p2, 1, &m, &n, &e));
        ASSERT_STREQ(m[0].type, "overlay");
        ASSERT_STREQ(m[0].source, "overlay");
        _cleanup_free_ char *lower = xasprintf("lowerdir=%s", fs1);
        _cleanup_free_ char *upper = xasprintf("upperdir=%s/snapshots/2/fs", dir);
        _cleanup_free_ char *work = xasprintf("workdir=%s/snapshots/2/work", dir);
        ASSERT_TRUE(has_option(&m[0], lower));
        ASSERT_TRUE(has_option(&m[0], upper));
        ASSERT_TRUE(has_option(&m[0], work));
        ASSERT_EQ(has_option(&m[0], "index=off"), index_param);
        ASSERT_STREQ(m[0].options[m[0].n_options - 1], lower);
        mount_at(m, n, mnt);
        _cleanup_free_ char *one = get(mnt, "etc/one");
        ASSERT_STREQ(one, "layer1");
        put(mnt, "etc/two", "layer2");
        _cleanup_free_ char *gone = xasprintf("%s/etc/gone", mnt);
        ASSERT_OK(unlink(gone));
        unmount_at(mnt);
        berth_mounts_free(m, n);
        /* The deletion is an overlay whiteout (0/0 char device) in the upper dir. */
        _cleanup_free_ char *fs2 = snapshotter_fs_path(s, "2");
        _cleanup_free_ char *wh = xasprintf("%s/etc/gone", fs2);
        struct stat st;
        ASSERT_OK(lstat(wh, &st));
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        ASSERT_OK(snapshotter_commit(s, "2", &u, &e));

        char *p3[] = { (char *) "2", (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "3", SNAPSHOT_KIND_ACTIVE, p3, 2, &m, &n, &e));
        _cleanup_free_ char *lower3 = xasprintf("lowerdir=%s:%s", fs2, fs1);
        ASSERT_TRUE(has_option(&m[0], lower3));
        mount_at(m, n, mnt);
        ASSERT_TRUE(exists(mnt, "etc/one"));
        ASSERT_TRUE(exists(mnt, "etc/two"));
        ASSERT_FALSE(exists(mnt, "etc/gone"));
        put(mnt, "etc/three", "layer3");
        unmount_at(mnt);
        berth_mounts_free(m, n);
        ASSERT_OK(snapshotter_usage(s, "3", &u, &e));
        ASSERT_TRUE(u.inodes >= 3 && u.size > 0); /* fs, etc, three (+ copied-up dir) */

        /* Mounts of an existing snapshot repeat what prepare said. */
        ASSERT_OK(snapshotter_mounts(s, "3", SNAPSHOT_KIND_ACTIVE, p3, 2, &m, &n, &e));
        ASSERT_TRUE(has_option(&m[0], lower3));
        berth_mounts_free(m, n);

        /* Views: one parent is a read-only bind of it, several an overlay without upper. */
        ASSERT_OK(snapshotter_prepare(s, "v1", SNAPSHOT_KIND_VIEW, p2, 1, &m, &n, &e));
        ASSERT_STREQ(m[0].type, "bind");
        ASSERT_STREQ(m[0].source, fs1);
        ASSERT_STREQ(m[0].options[0], "ro");
        berth_mounts_free(m, n);
        ASSERT_OK(snapshotter_prepare(s, "v2", SNAPSHOT_KIND_VIEW, p3, 2, &m, &n, &e));
        ASSERT_STREQ(m[0].type, "overlay");
        ASSERT_EQ(m[0].n_options, 1 + (size_t) index_param);
        ASSERT_TRUE(has_option(&m[0], lower3));
        mount_at(m, n, mnt);
        ASSERT_TRUE(exists(mnt, "etc/two"));
        _cleanup_free_ char *ro = xasprintf("%s/new", mnt);
        ASSERT_EQ(open(ro, O_CREAT | O_WRONLY | O_CLOEXEC, 0644), -1);
        ASSERT_EQ(errno, EROFS);
        unmount_at(mnt);
        berth_mounts_free(m, n);

        ASSERT_EQ(snapshotter_prepare(s, "3", SNAPSHOT_KIND_ACTIVE, p3, 2, &m, &n, &e), -1);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        ASSERT_EQ(snapshotter_prepare(s, "../x", SNAPSHOT_KIND_ACTIVE, NULL, 0, &m, &n, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        char *missing[] = { (char *) "nope" };
        ASSERT_EQ(snapshotter_prepare(s, "4", SNAPSHOT_KIND_ACTIVE, missing, 1, &m, &n, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);

        ASSERT_OK(snapshotter_remove(s, "3", &e));
        _cleanup_free_ char *d3 = xasprintf("%s/snapshots/3", dir);
        ASSERT_FALSE(exists(d3, ""));
        ASSERT_OK(snapshotter_remove(s, "3", &e)); /* already gone: fine */
        _cleanup_free_ char *stray = xasprintf("%s/snapshots/new-leftover", dir);
        ASSERT_OK(mkdir(stray, 0700));
        char *live[] = { (char *) "1", (char *) "2", (char *) "v1", (char *) "v2" };
        ASSERT_OK(snapshotter_cleanup(s, live, 4, &e));
        ASSERT_FALSE(exists(stray, ""));
        ASSERT_TRUE(exists(fs2, ""));
        berr_free(e);
        snapshotter_free(s);
}

TEST(native_chain_copies_attributes) {
        _cleanup_free_ char *dir = fixture("native"), *mnt = fixture("native-mnt");
        snapshotter *s = NULL;
        berr *e = NULL;
        ASSERT_OK(snapshotter_open("native", dir, &s, &e));
        berth_mount *m = NULL;
        size_t n = 0;
        ASSERT_OK(snapshotter_prepare(s, "1", SNAPSHOT_KIND_ACTIVE, NULL, 0, &m, &n, &e));
        ASSERT_STREQ(m[0].type, "bind");
        ASSERT_STREQ(m[0].options[0], "rbind");
        ASSERT_STREQ(m[0].options[1], "rw");
        berth_mounts_free(m, n);
        _cleanup_free_ char *fs1 = snapshotter_fs_path(s, "1");
        put(fs1, "bin/tool", "#!/bin/sh\n");
        _cleanup_free_ char *tool = xasprintf("%s/bin/tool", fs1), *hlink = xasprintf("%s/bin/tool-link", fs1);
        _cleanup_free_ char *sym = xasprintf("%s/bin/sym", fs1), *fifo = xasprintf("%s/bin/fifo", fs1);
        _cleanup_free_ char *dev = xasprintf("%s/bin/null", fs1);
        ASSERT_OK(chown(tool, 1234, 5678));
        ASSERT_OK(chmod(tool, 04755));
        ASSERT_OK(link(tool, hlink));
        ASSERT_OK(symlink("../etc/target", sym));
        ASSERT_OK(mkfifo(fifo, 0640));
        ASSERT_OK(mknod(dev, S_IFCHR | 0666, makedev(1, 3)));
        ASSERT_OK(setxattr(tool, "user.berth", "yes", 3, 0));
        struct timespec ts[2] = { { 1000000, 5 }, { 2000000, 7 } };
        ASSERT_OK(utimensat(AT_FDCWD, tool, ts, 0));
        snapshot_usage u1;
        ASSERT_OK(snapshotter_commit(s, "1", &u1, &e));
        ASSERT_EQ(u1.inodes, 6); /* fs, bin, tool(+link), sym, fifo, null */

        char *p2[] = { (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "2", SNAPSHOT_KIND_ACTIVE, p2, 1, &m, &n, &e));
        _cleanup_free_ char *fs2 = snapshotter_fs_path(s, "2");
        ASSERT_STREQ(m[0].source, fs2);
        _cleanup_free_ char *tool2 = xasprintf("%s/bin/tool", fs2), *link2 = xasprintf("%s/bin/tool-link", fs2);
        struct stat a, b, orig;
        ASSERT_OK(stat(tool, &orig));
        ASSERT_OK(lstat(tool2, &a));
        ASSERT_OK(lstat(link2, &b));
        ASSERT_EQ(a.st_ino, b.st_ino);
        ASSERT_NE(a.st_ino, orig.st_ino);
        ASSERT_EQ(a.st_nlink, 2);
        ASSERT_EQ(a.st_uid, 1234);
        ASSERT_EQ(a.st_gid, 5678);
        ASSERT_EQ(a.st_mode & 07777, 04755);
        ASSERT_EQ(a.st_mtim.tv_sec, 2000000);
        ASSERT_EQ(a.st_mtim.tv_nsec, 7);
        char val[8] = "";
        ASSERT_EQ(getxattr(tool2, "user.berth", val, sizeof val), 3);
        ASSERT_TRUE(memcmp(val, "yes", 3) == 0);
        char target[64] = "";
        _cleanup_free_ char *sym2 = xasprintf("%s/bin/sym", fs2);
        ASSERT_EQ(readlink(sym2, target, sizeof target), strlen("../etc/target"));
        _cleanup_free_ char *fifo2 = xasprintf("%s/bin/fifo", fs2), *dev2 = xasprintf("%s/bin/null", fs2);
        ASSERT_OK(lstat(fifo2, &a));
        ASSERT_TRUE(S_ISFIFO(a.st_mode) && (a.st_mode & 0777) == 0640);
        ASSERT_OK(lstat(dev2, &a));
        ASSERT_TRUE(S_ISCHR(a.st_mode) && a.st_rdev == makedev(1, 3));

        mount_at(m, n, mnt);
        put(mnt, "bin/new", "layer2");
        _cleanup_free_ char *rm = xasprintf("%s/bin/fifo", mnt);
        ASSERT_OK(unlink(rm));
        unmount_at(mnt);
        berth_mounts_free(m, n);
        ASSERT_TRUE(exists(fs1, "bin/fifo")); /* the parent is untouched */
        snapshot_usage u2;
        ASSERT_OK(snapshotter_commit(s, "2", &u2, &e));
        ASSERT_EQ(u2.inodes, 6);

        char *p3[] = { (char *) "2", (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "3", SNAPSHOT_KIND_ACTIVE, p3, 2, &m, &n, &e));
        mount_at(m, n, mnt);
        _cleanup_free_ char *new3 = get(mnt, "bin/new");
        ASSERT_STREQ(new3, "layer2");
        ASSERT_FALSE(exists(mnt, "bin/fifo"));
        unmount_at(mnt);
        berth_mounts_free(m, n);

        /* A view of a parent mounts the parent itself, read-only, and has no directory of its own. */
        ASSERT_OK(snapshotter_prepare(s, "v", SNAPSHOT_KIND_VIEW, p3, 2, &m, &n, &e));
        ASSERT_STREQ(m[0].source, fs2);
        ASSERT_STREQ(m[0].options[1], "ro");
        mount_at(m, n, mnt);
        ASSERT_TRUE(exists(mnt, "bin/new"));
        _cleanup_free_ char *ro = xasprintf("%s/x", mnt);
        ASSERT_EQ(open(ro, O_CREAT | O_WRONLY | O_CLOEXEC, 0644), -1);
        ASSERT_EQ(errno, EROFS);
        unmount_at(mnt);
        berth_mounts_free(m, n);
        snapshot_usage uv;
        ASSERT_OK(snapshotter_usage(s, "v", &uv, &e));
        ASSERT_EQ(uv.inodes, 0);
        ASSERT_OK(snapshotter_remove(s, "v", &e));
        ASSERT_OK(snapshotter_remove(s, "3", &e));
        ASSERT_OK(snapshotter_remove(s, "2", &e));
        ASSERT_FALSE(exists(fs2, ""));
        ASSERT_TRUE(exists(fs1, "bin/tool"));
        berr_free(e);
        snapshotter_free(s);
}

TEST(unknown_snapshotter) {
        snapshotter *s = NULL;
        berr *e = NULL;
        ASSERT_EQ(snapshotter_open("btrfs", "/tmp/nowhere-berth", &s, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_free(e);
}
