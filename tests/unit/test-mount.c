/* Real mounts (root only): tmpfs, bind, bind+ro, overlay, lowerdir compaction, rollback, unmount_all.
 * Everything happens below one mkdtemp dir inside a private mount namespace of this test process, so even
 * a crash cannot leak a mount into the host; the atexit handler still unmounts and removes it all. */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>

#include "basic/fileio.h"
#include "basic/mount.h"
#include "basic/strv.h"
#include "tap.h"

static char root[] = "/tmp/berth-test-mount.XXXXXX";
static bool have_root;

/* Mount points under path per /proc/self/mountinfo, parsed independently of the code under test. */
static char **mounts_under(const char *path) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char **r = NULL;
        char line[8192], mp[4096];
        size_t n = strlen(path);
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, path, n) == 0 &&
                    (mp[n] == '\0' || mp[n] == '/'))
                        strv_extend(&r, mp);
        if (f)
                fclose(f);
        return r;
}

static void cleanup_root(void) {
        if (!have_root)
                return;
        berr *e = NULL;
        if (unmount_all(root, &e) < 0) {
                fprintf(stderr, "# cleanup: %s\n", e->msg);
                berr_free(e);
                e = NULL;
        }
        /* Belt and braces in case unmount_all itself is what broke. */
        for (int i = 0; i < 100; i++) {
                _cleanup_strv_free_ char **left = mounts_under(root);
                if (!left)
                        break;
                umount2(left[strv_length(left) - 1], MNT_DETACH);
        }
        if (rm_rf(root, &e) < 0) {
                fprintf(stderr, "# cleanup: %s\n", e->msg);
                berr_free(e);
        }
}

static void setup_once(void) {
        if (have_root)
                return;
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

/* A fresh directory for one test: <root>/<name>. */
static char *fixture(const char *name) {
        setup_once();
        char *d = xasprintf("%s/%s", root, name);
        berr *e = NULL;
        if (mkdir_p(d, 0755, &e) < 0)
                TAP_FAIL("mkdir %s: %s", d, e->msg);
        return d;
}

static char *path_in(const char *dir, const char *rel) {
        return xasprintf("%s/%s", dir, rel);
}

static void put(const char *dir, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_in(dir, rel);
        berr *e = NULL;
        if (write_file_atomic(p, content, strlen(content), 0644, &e) < 0)
                TAP_FAIL("write %s: %s", p, e->msg);
}

static char *get(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_in(dir, rel);
        char *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (read_file(p, &s, NULL, 1 << 20, &e) < 0)
                return NULL;
        return s;
}

static void mkdirs(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_in(dir, rel);
        berr *e = NULL;
        if (mkdir_p(p, 0755, &e) < 0)
                TAP_FAIL("mkdir %s: %s", p, e->msg);
}

static size_t count_mounts(const char *path) {
        _cleanup_strv_free_ char **l = mounts_under(path);
        return strv_length(l);
}

/* ---- option parsing (no mounts) ---- */

TEST(parse_flag_words) {
        char *opts[] = { "ro", "nosuid", "nodev", "rbind", "size=1m", "mode=0755", "noexec", "exec", "loop" };
        unsigned long flags = 0, prop = 1;
        _cleanup_free_ char *data = NULL;
        bool loop = false;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mount_options_parse(opts, ELEMENTSOF(opts), &flags, &prop, &data, &loop, &e));
        ASSERT_EQ(flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_BIND | MS_REC);
        ASSERT_EQ(prop, 0);
        ASSERT_STREQ(data, "size=1m,mode=0755");
        ASSERT_TRUE(loop);
}

TEST(parse_clearing_is_ordered) {
        /* rw after ro clears it; ro after rw sets it again (containerd applies words in order). */
        char *a[] = { "ro", "rw" }, *b[] = { "rw", "ro" }, *c[] = { "nosuid", "suid", "noatime", "atime",
                                                                    "sync", "async", "defaults" };
        unsigned long fa, fb, fc;
        _cleanup_free_ char *da = NULL, *db = NULL, *dc = NULL;
        ASSERT_OK(mount_options_parse(a, 2, &fa, NULL, &da, NULL, NULL));
        ASSERT_OK(mount_options_parse(b, 2, &fb, NULL, &db, NULL, NULL));
        ASSERT_OK(mount_options_parse(c, ELEMENTSOF(c), &fc, NULL, &dc, NULL, NULL));
        ASSERT_EQ(fa, 0);
        ASSERT_EQ(fb, MS_RDONLY);
        ASSERT_EQ(fc, 0);
        ASSERT_STREQ(dc, "");
}

TEST(parse_propagation) {
        static const struct {
                const char *word;
                unsigned long flags;
        } cases[] = {
                { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
                { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
                { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
                { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *opts[] = { "bind", (char *) cases[i].word };
                unsigned long flags, prop;
                _cleanup_free_ char *data = NULL;
                ASSERT_OK(mount_options_parse(opts, 2, &flags, &prop, &data, NULL, NULL));
                ASSERT_EQ(flags, MS_BIND);
                ASSERT_EQ(prop, cases[i].flags);
                ASSERT_STREQ(data, "");
        }
}

TEST(parse_every_flag_word) {
        static const struct {
                const char *word;
                unsigned long set;
        } cases[] = {
                { "ro", MS_RDONLY },         { "bind", MS_BIND },          { "rbind", MS_BIND | MS_REC },
                { "remount", MS_REMOUNT },   { "sync", MS_SYNCHRONOUS },   { "dirsync", MS_DIRSYNC },
                { "mand", MS_MANDLOCK },     { "noatime", MS_NOATIME },    { "nodiratime", MS_NODIRATIME },
                { "nodev", MS_NODEV },       { "noexec", MS_NOEXEC },      { "nosuid", MS_NOSUID },
                { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *opts[] = { (char *) cases[i].word };
                unsigned long flags;
                _cleanup_free_ char *data = NULL;
                ASSERT_OK(mount_options_parse(opts, 1, &flags, NULL, &data, NULL, NULL));
                ASSERT_EQ(flags, cases[i].set);
                ASSERT_STREQ(data, "");
        }
        char *clears[] = { "mand", "nomand", "relatime", "norelatime", "strictatime", "nostrictatime",
                           "nodiratime", "diratime", "nodev", "dev" };
        unsigned long flags;
        _cleanup_free_ char *data = NULL;
        ASSERT_OK(mount_options_parse(clears, ELEMENTSOF(clears), &flags, NULL, &data, NULL, NULL));
        ASSERT_EQ(flags, 0);
}

/* ---- lowerdir compaction (no mounts) ---- */

TEST(compact_short_options_unchanged) {
        _cleanup_free_ char *data = NULL, *dir = NULL;
        const char *in = "index=off,workdir=/s/2/work,upperdir=/s/2/fs,lowerdir=/s/1/fs:/s/0/fs";
        ASSERT_OK(overlay_compact_lowerdirs(in, &data, &dir, NULL));
        ASSERT_STREQ(data, in);
        ASSERT_NULL(dir);
}

static char *long_overlay_data(const char *prefix, size_t n_lowers, size_t *ret_lowers_len) {
        _cleanup_strv_free_ char **lowers = NULL;
        for (size_t i = 0; i < n_lowers; i++)
                strv_push(&lowers, xasprintf("%s/snapshots/%zu/fs", prefix, 100 + i));
        _cleanup_free_ char *joined = strv_join(lowers, ":");
        if (ret_lowers_len)
                *ret_lowers_len = strlen(joined);
        return xasprintf("index=off,lowerdir=%s,upperdir=%s/snapshots/upper/fs,workdir=%s/snapshots/upper/work",
                         joined, prefix, prefix);
}

TEST(compact_long_options) {
        char prefix[400];
        memset(prefix, 'p', sizeof prefix - 1);
        prefix[0] = '/';
        prefix[sizeof prefix - 1] = '\0';
        _cleanup_free_ char *in = long_overlay_data(prefix, 12, NULL);
        ASSERT_TRUE(strlen(in) >= 4096 - 512);
        _cleanup_free_ char *data = NULL, *dir = NULL, *want_dir = xasprintf("%s/snapshots/", prefix);
        ASSERT_OK(overlay_compact_lowerdirs(in, &data, &dir, NULL));
        ASSERT_STREQ(dir, want_dir);
        /* lowerdir moves to the end and becomes relative; the other options keep their order. */
        _cleanup_free_ char *want = xasprintf(
                "index=off,upperdir=%s/snapshots/upper/fs,workdir=%s/snapshots/upper/work,lowerdir=100/fs:101/fs:"
                "102/fs:103/fs:104/fs:105/fs:106/fs:107/fs:108/fs:109/fs:110/fs:111/fs",
                prefix, prefix);
        ASSERT_STREQ(data, want);
}

TEST(compact_needs_common_parent) {
        char pad[4000];
        memset(pad, 'x', sizeof pad - 1);
        pad[sizeof pad - 1] = '\0';
        /* Only "/" in common: unchanged. */
        _cleanup_free_ char *in1 = xasprintf("lowerdir=/a%s:/b%s", pad, pad), *d1 = NULL, *c1 = NULL;
        ASSERT_OK(overlay_compact_lowerdirs(in1, &d1, &c1, NULL));
        ASSERT_STREQ(d1, in1);
        ASSERT_NULL(c1);
        /* A single lowerdir: unchanged. */
        _cleanup_free_ char *in2 = xasprintf("lowerdir=/a/%s,upperdir=/u", pad), *d2 = NULL, *c2 = NULL;
        ASSERT_OK(overlay_compact_lowerdirs(in2, &d2, &c2, NULL));
        ASSERT_STREQ(d2, in2);
        ASSERT_NULL(c2);
        /* No lowerdir at all: unchanged. */
        _cleanup_free_ char *in3 = xasprintf("upperdir=/u/%s", pad), *d3 = NULL, *c3 = NULL;
        ASSERT_OK(overlay_compact_lowerdirs(in3, &d3, &c3, NULL));
        ASSERT_STREQ(d3, in3);
        ASSERT_NULL(c3);
        /* Common prefix ends inside a name: step back to its parent. */
        _cleanup_free_ char *in4 = xasprintf("lowerdir=/r/%s/s/12:/r/%s/s/13", pad, pad), *d4 = NULL, *c4 = NULL;
        _cleanup_free_ char *want4 = xasprintf("/r/%s/s/", pad);
        ASSERT_OK(overlay_compact_lowerdirs(in4, &d4, &c4, NULL));
        ASSERT_STREQ(c4, want4);
        ASSERT_STREQ(d4, "lowerdir=12:13");
}

/* ---- real mounts ---- */

TEST(tmpfs_with_flags_and_data) {
        _cleanup_free_ char *d = fixture("tmpfs");
        char *opts[] = { "nosuid", "nodev", "size=1m", "mode=0710" };
        berth_mount m = { .type = "tmpfs", .source = "tmpfs", .options = opts, .n_options = ELEMENTSOF(opts) };
        _cleanup_berr_ berr *e = NULL;
        if (mount_apply(&m, d, &e) < 0)
                TAP_FAIL("%s", e->msg);
        struct statfs sfs;
        ASSERT_OK(statfs(d, &sfs));
        ASSERT_EQ(sfs.f_type, TMPFS_MAGIC);
        ASSERT_EQ(sfs.f_blocks * sfs.f_bsize, 1 << 20);
        struct statvfs svfs;
        ASSERT_OK(statvfs(d, &svfs));
        ASSERT_TRUE(svfs.f_flag & ST_NOSUID);
        ASSERT_TRUE(svfs.f_flag & ST_NODEV);
        struct stat st;
        ASSERT_OK(stat(d, &st));
        ASSERT_EQ(st.st_mode & 07777, 0710);
        ASSERT_OK(unmount_all(d, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(bind_and_bind_ro) {
        _cleanup_free_ char *d = fixture("bind");
        mkdirs(d, "src");
        mkdirs(d, "rw");
        mkdirs(d, "ro");
        put(d, "src/hello", "world");
        _cleanup_free_ char *src = path_in(d, "src"), *rw = path_in(d, "rw"), *ro = path_in(d, "ro");
        char *rw_opts[] = { "bind", "rw" }, *ro_opts[] = { "rbind", "ro" };
        berth_mount mrw = { .type = "bind", .source = src, .options = rw_opts, .n_options = 2 };
        berth_mount mro = { .type = "bind", .source = src, .options = ro_opts, .n_options = 2 };
        _cleanup_berr_ berr *e = NULL;
        if (mount_apply(&mrw, rw, &e) < 0 || mount_apply(&mro, ro, &e) < 0)
                TAP_FAIL("%s", e->msg);

        _cleanup_free_ char *via_rw = get(d, "rw/hello"), *via_ro = get(d, "ro/hello");
        ASSERT_STREQ(via_rw, "world");
        ASSERT_STREQ(via_ro, "world");
        put(d, "rw/new", "x");
        _cleanup_free_ char *seen = get(d, "src/new");
        ASSERT_STREQ(seen, "x");

        /* The read-only remount really took: writing fails with EROFS, the source stays writable. */
        _cleanup_free_ char *ro_file = path_in(d, "ro/other");
        errno = 0;
        int fd = open(ro_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_EQ(fd, -1);
        ASSERT_EQ(errno, EROFS);
        struct statvfs svfs;
        ASSERT_OK(statvfs(ro, &svfs));
        ASSERT_TRUE(svfs.f_flag & ST_RDONLY);
        ASSERT_OK(statvfs(rw, &svfs));
        ASSERT_FALSE(svfs.f_flag & ST_RDONLY);

        ASSERT_OK(unmount_all(d, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(propagation_applied) {
        _cleanup_free_ char *d = fixture("prop");
        mkdirs(d, "src");
        mkdirs(d, "dst");
        _cleanup_free_ char *src = path_in(d, "src"), *dst = path_in(d, "dst");
        char *opts[] = { "rbind", "rshared" };
        berth_mount m = { .type = "none", .source = src, .options = opts, .n_options = 2 };
        _cleanup_berr_ berr *e = NULL;
        if (mount_apply(&m, dst, &e) < 0)
                TAP_FAIL("%s", e->msg);
        /* mountinfo's optional fields show "shared:N" for the new mount. */
        FILE *f = fopen("/proc/self/mountinfo", "re");
        ASSERT_NOT_NULL(f);
        char line[8192];
        bool shared = false;
        while (fgets(line, sizeof line, f))
                if (strstr(line, dst) && strstr(line, " shared:"))
                        shared = true;
        fclose(f);
        ASSERT_TRUE(shared);
        ASSERT_OK(unmount_all(d, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(overlay_two_lowers) {
        _cleanup_free_ char *d = fixture("overlay");
        mkdirs(d, "l1");
        mkdirs(d, "l2");
        mkdirs(d, "upper");
        mkdirs(d, "work");
        mkdirs(d, "merged");
        put(d, "l1/a", "from-l1");
        put(d, "l2/a", "from-l2");
        put(d, "l2/b", "only-l2");
        _cleanup_free_ char *lower = xasprintf("lowerdir=%s/l1:%s/l2", d, d), *upper = xasprintf("upperdir=%s/upper", d),
                            *work = xasprintf("workdir=%s/work", d), *merged = path_in(d, "merged");
        char *opts[] = { "index=off", work, upper, lower };
        berth_mount m = { .type = "overlay", .source = "overlay", .options = opts, .n_options = 4 };
        _cleanup_berr_ berr *e = NULL;
        if (mount_apply(&m, merged, &e) < 0)
                TAP_FAIL("%s", e->msg);
        _cleanup_free_ char *a = get(d, "merged/a"), *b = get(d, "merged/b");
        ASSERT_STREQ(a, "from-l1"); /* leftmost lowerdir is on top */
        ASSERT_STREQ(b, "only-l2");
        put(d, "merged/c", "written");
        _cleanup_free_ char *c = get(d, "upper/c");
        ASSERT_STREQ(c, "written");
        ASSERT_OK(unmount_all(merged, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(overlay_compacted_lowerdirs_mount) {
        _cleanup_free_ char *d = fixture("compact");
        /* A long common prefix, as under /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs. */
        char name[201];
        memset(name, 'n', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        _cleanup_free_ char *prefix = xasprintf("%s/%s", d, name);
        const size_t n = 24;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *fs = xasprintf("%s/snapshots/%zu/fs", prefix, 100 + i);
                _cleanup_berr_ berr *e = NULL;
                ASSERT_OK(mkdir_p(fs, 0755, &e));
                _cleanup_free_ char *layer = xasprintf("layer-%zu", i);
                put(fs, "top", layer); /* every layer has "top"; the first one wins */
                put(fs, layer, layer); /* and one file only it has */
        }
        mkdirs(prefix, "snapshots/upper/fs");
        mkdirs(prefix, "snapshots/upper/work");
        mkdirs(d, "merged");
        size_t lowers_len = 0;
        _cleanup_free_ char *data = long_overlay_data(prefix, n, &lowers_len);
        ASSERT_TRUE(lowers_len > 4096); /* could never fit one page uncompacted */
        _cleanup_strv_free_ char **opts = strv_split(data, ',');
        _cleanup_free_ char *merged = path_in(d, "merged");
        berth_mount m = { .type = "overlay", .source = "overlay", .options = opts, .n_options = strv_length(opts) };

        /* Uncompacted, the kernel sees only the first page of the options: the mount fails, or (on newer
         * kernels) silently comes up without the last layers. Either way the compaction is load-bearing. */
        if (mount("overlay", merged, "overlay", 0, data) == 0) {
                _cleanup_free_ char *lost = get(merged, "layer-23");
                ASSERT_OK(umount2(merged, 0));
                ASSERT_NULL(lost);
        }
        ASSERT_EQ(count_mounts(d), 0);

        char cwd_before[4096], cwd_after[4096];
        ASSERT_NOT_NULL(getcwd(cwd_before, sizeof cwd_before));
        /* A relative target must still land right although the mount happens from another directory. */
        ASSERT_OK(chdir(d));
        _cleanup_berr_ berr *e = NULL;
        int r = mount_apply(&m, "merged", &e);
        ASSERT_NOT_NULL(getcwd(cwd_after, sizeof cwd_after));
        ASSERT_OK(chdir(cwd_before));
        if (r < 0)
                TAP_FAIL("%s", e->msg);
        ASSERT_STREQ(cwd_after, d);

        struct statfs sfs;
        ASSERT_OK(statfs(merged, &sfs));
        ASSERT_EQ(sfs.f_type, OVERLAYFS_SUPER_MAGIC);
        _cleanup_free_ char *top = get(merged, "top"), *first = get(merged, "layer-0"),
                            *last = get(merged, "layer-23");
        ASSERT_STREQ(top, "layer-0");
        ASSERT_STREQ(first, "layer-0");
        ASSERT_STREQ(last, "layer-23");
        ASSERT_OK(unmount_all(merged, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(subdirectory_target) {
        _cleanup_free_ char *d = fixture("subtarget");
        mkdirs(d, "rootfs/proc-like");
        berth_mount m = { .type = "tmpfs", .source = "tmpfs", .target = "proc-like" };
        _cleanup_free_ char *rootfs = path_in(d, "rootfs"), *sub = path_in(d, "rootfs/proc-like");
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mount_apply(&m, rootfs, &e));
        struct statfs sfs;
        ASSERT_OK(statfs(sub, &sfs));
        ASSERT_EQ(sfs.f_type, TMPFS_MAGIC);
        berth_mount bad = { .type = "tmpfs", .source = "tmpfs", .target = "../escape" };
        ASSERT_EQ(mount_apply(&bad, rootfs, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_OK(unmount_all(rootfs, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(apply_all_rolls_back) {
        _cleanup_free_ char *d = fixture("rollback");
        mkdirs(d, "src");
        mkdirs(d, "rootfs");
        _cleanup_free_ char *src = path_in(d, "src"), *rootfs = path_in(d, "rootfs");
        char *bind_opts[] = { "bind", "ro" };
        berth_mount ms[] = {
                { .type = "tmpfs", .source = "tmpfs" },
                { .type = "bind", .source = src, .options = bind_opts, .n_options = 2 },
                { .type = "no-such-fs-type", .source = "x" },
        };
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(mount_apply_all(ms, 3, rootfs, &e), -1);
        ASSERT_NOT_NULL(e);
        ASSERT_TRUE(strncmp(e->msg, "mount rootfs[2]: ", 17) == 0);
        ASSERT_EQ(count_mounts(d), 0);

        /* The good prefix alone mounts, stacked in order: the bind is on top. */
        berr_freep(&e);
        ASSERT_OK(mount_apply_all(ms, 2, rootfs, &e));
        ASSERT_EQ(count_mounts(d), 2);
        struct statvfs svfs;
        ASSERT_OK(statvfs(rootfs, &svfs));
        ASSERT_TRUE(svfs.f_flag & ST_RDONLY);
        ASSERT_OK(unmount_all(rootfs, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(unsupported_types) {
        _cleanup_free_ char *d = fixture("unsupported");
        berth_mount fuse = { .type = "fuse3.fuse-overlayfs", .source = "overlay" };
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(mount_apply(&fuse, d, &e), -1);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        char *opts[] = { "loop" };
        berth_mount loop = { .type = "ext4", .source = "/nonexistent.img", .options = opts, .n_options = 1 };
        ASSERT_EQ(mount_apply(&loop, d, &e), -1);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(unmount_all_nested_and_stacked) {
        _cleanup_free_ char *d = fixture("nested");
        mkdirs(d, "t");
        _cleanup_free_ char *t = path_in(d, "t");
        berth_mount tm = { .type = "tmpfs", .source = "tmpfs" };
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mount_apply(&tm, t, &e));
        mkdirs(t, "a/b");
        mkdirs(t, "c");
        _cleanup_free_ char *a = path_in(t, "a"), *b = path_in(t, "a/b"), *c = path_in(t, "c");
        ASSERT_OK(mount_apply(&tm, a, &e));
        mkdirs(a, "b");
        ASSERT_OK(mount_apply(&tm, b, &e));
        ASSERT_OK(mount_apply(&tm, c, &e));
        ASSERT_OK(mount_apply(&tm, c, &e)); /* stacked */
        mkdirs(d, "t-sibling");             /* a prefix match that is not below t */
        _cleanup_free_ char *sib = path_in(d, "t-sibling");
        ASSERT_OK(mount_apply(&tm, sib, &e));
        ASSERT_EQ(count_mounts(t), 5);

        /* A busy mount (an open file inside) is detached rather than failing. */
        put(b, "busy", "x");
        _cleanup_free_ char *busy = path_in(b, "busy");
        _cleanup_close_ int fd = open(busy, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fd);

        ASSERT_OK(unmount_all(t, &e));
        ASSERT_EQ(count_mounts(t), 0);
        ASSERT_EQ(count_mounts(sib), 1);
        ASSERT_OK(unmount_all(t, &e)); /* idempotent */
        _cleanup_free_ char *missing = path_in(d, "missing");
        ASSERT_OK(unmount_all(missing, &e));
        ASSERT_EQ(unmount_all("/", &e), -1);
        ASSERT_OK(unmount_all(sib, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(unmount_all_through_symlink) {
        _cleanup_free_ char *d = fixture("symlink");
        mkdirs(d, "real");
        _cleanup_free_ char *real = path_in(d, "real"), *ln = path_in(d, "link");
        ASSERT_OK(symlink(real, ln));
        berth_mount tm = { .type = "tmpfs", .source = "tmpfs" };
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mount_apply(&tm, real, &e));
        ASSERT_OK(unmount_all(ln, &e));
        ASSERT_EQ(count_mounts(d), 0);
}

TEST(rm_rf_does_not_cross_mounts) {
        _cleanup_free_ char *d = fixture("rmrf");
        mkdirs(d, "tree/sub/mnt");
        mkdirs(d, "data");
        put(d, "data/precious", "keep");
        put(d, "tree/sub/file", "x");
        _cleanup_free_ char *tree = path_in(d, "tree"), *mnt = path_in(d, "tree/sub/mnt"), *data = path_in(d, "data");
        /* A bind mount from the same filesystem: st_dev alone could not tell it is a mount point. */
        char *opts[] = { "bind" };
        berth_mount m = { .type = "none", .source = data, .options = opts, .n_options = 1 };
        _cleanup_berr_ berr *e = NULL;
        ASSERT_OK(mount_apply(&m, mnt, &e));
        ASSERT_EQ(rm_rf(tree, &e), -1);
        ASSERT_EQ(e->errnum, EBUSY);
        _cleanup_free_ char *kept = get(d, "data/precious"), *gone = path_in(d, "tree/sub/file");
        ASSERT_STREQ(kept, "keep");
        ASSERT_EQ(access(gone, F_OK), -1);
        ASSERT_OK(unmount_all(tree, &e));
        ASSERT_OK(rm_rf(tree, &e));
        ASSERT_EQ(access(tree, F_OK), -1);
}
