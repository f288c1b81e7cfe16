/* Layer application: tars built here with libarchive's writer (plain, gzip, zstd), applied to plain directories
 * and to overlay snapshots; whiteouts, opaque dirs, attributes, diffIDs, the push stream, and malicious layers
 * that must be refused without touching anything outside the root. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "basic/fileio.h"
#include "basic/mount.h"
#include "images/apply.h"
#include "snapshots/snapshots.h"
#include "tap.h"

typedef struct buf {
        char *data;
        size_t len;
} buf;

static la_ssize_t buf_write(struct archive *a, void *userdata, const void *p, size_t n) {
        buf *b = userdata;
        b->data = xrealloc(b->data, b->len + n);
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return (la_ssize_t) n;
}

typedef struct tar {
        struct archive *a;
        buf out;
} tar;

static void tar_begin(tar *t, apply_compression c) {
        *t = (tar) { .a = archive_write_new() };
        archive_write_set_format_pax_restricted(t->a);
        /* No block padding after compression, so every variant wraps byte-identical tar data. */
        archive_write_set_bytes_in_last_block(t->a, 1);
        if (c == APPLY_COMPRESSION_GZIP)
                archive_write_add_filter_gzip(t->a);
        else if (c == APPLY_COMPRESSION_ZSTD)
                archive_write_add_filter_zstd(t->a);
        if (archive_write_open(t->a, &t->out, NULL, buf_write, NULL) != ARCHIVE_OK)
                TAP_FAIL("archive_write_open: %s", archive_error_string(t->a));
}

static struct archive_entry *entry(const char *name, mode_t type, mode_t perm) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, 1600000000, 0);
        return e;
}

static void put_entry(tar *t, struct archive_entry *e, const char *data) {
        if (data)
                archive_entry_set_size(e, (la_int64_t) strlen(data));
        if (archive_write_header(t->a, e) != ARCHIVE_OK)
                TAP_FAIL("write header %s: %s", archive_entry_pathname(e), archive_error_string(t->a));
        if (data && *data)
                archive_write_data(t->a, data, strlen(data));
        archive_entry_free(e);
}

static void add_dir(tar *t, const char *name, mode_t perm, int uid) {
        struct archive_entry *e = entry(name, AE_IFDIR, perm);
        archive_entry_set_uid(e, uid);
        archive_entry_set_gid(e, uid);
        put_entry(t, e, NULL);
}

static void add_file(tar *t, const char *name, const char *data, mode_t perm) {
        put_entry(t, entry(name, AE_IFREG, perm), data);
}

static void add_symlink(tar *t, const char *name, const char *target) {
        struct archive_entry *e = entry(name, AE_IFLNK, 0777);
        archive_entry_set_symlink(e, target);
        put_entry(t, e, NULL);
}

static void add_hardlink(tar *t, const char *name, const char *target, mode_t perm) {
        struct archive_entry *e = entry(name, AE_IFREG, perm);
        archive_entry_set_hardlink(e, target);
        archive_entry_set_size(e, 0);
        put_entry(t, e, NULL);
}

static void add_device(tar *t, const char *name, mode_t type, int maj, int min) {
        struct archive_entry *e = entry(name, type, 0666);
        archive_entry_set_rdevmajor(e, maj);
        archive_entry_set_rdevminor(e, min);
        put_entry(t, e, NULL);
}

static buf tar_end(tar *t) {
        archive_write_close(t->a);
        archive_write_free(t->a);
        return t->out;
}

typedef struct mem_reader {
        const buf *b;
        size_t pos, chunk;
} mem_reader;

static ssize_t mem_read(void *userdata, void *p, size_t len) {
        mem_reader *r = userdata;
        size_t n = r->b->len - r->pos;
        if (n > len)
                n = len;
        if (r->chunk && n > r->chunk)
                n = r->chunk;
        if (n)
                memcpy(p, r->b->data + r->pos, n);
        r->pos += n;
        return (ssize_t) n;
}

static int apply_buf(int root_fd, const buf *b, const apply_options *opts, apply_result *res, berr **e) {
        mem_reader r = { .b = b, .chunk = 3001 }; /* odd chunks: headers straddle reads */
        return apply_layer(root_fd, mem_read, &r, opts, res, e);
}

static char *new_tmp(void) {
        char t[] = "/tmp/berth-test-apply.XXXXXX";
        if (!mkdtemp(t))
                TAP_FAIL("mkdtemp: %s", strerror(errno));
        return xstrdup(t);
}

static void remove_tmp(char *dir) {
        berr *e = NULL;
        if (unmount_all(dir, &e) < 0)
                berr_free(e), e = NULL;
        if (rm_rf(dir, &e) < 0)
                berr_free(e);
        free(dir);
}

static bool exists_at(const char *dir, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        struct stat st;
        return lstat(p, &st) == 0;
}

static char *read_at(const char *dir, const char *rel) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
        char *s = NULL;
        if (read_file(p, &s, NULL, 1 << 20, NULL) < 0)
                return NULL;
        return s;
}

/* Layer 1: a small tree. Layer 2: whiteout, opaque dir, additions, an implied parent, xattr, setuid. */
static buf layer1(apply_compression c) {
        tar t;
        tar_begin(&t, c);
        add_dir(&t, "etc", 0755, 0);
        add_file(&t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
        add_dir(&t, "bin", 0755, 0);
        add_file(&t, "bin/sh", "#!shell\n", 0755);
        add_symlink(&t, "bin/ls", "sh");
        add_hardlink(&t, "bin/sh2", "bin/sh", 0755);
        add_dir(&t, "opq", 0755, 0);
        add_file(&t, "opq/old", "old", 0644);
        add_dir(&t, "keep", 0750, 1000);
        add_file(&t, "keep/a", "a", 0644);
        add_file(&t, "gone", "bye", 0644);
        add_dir(&t, "gonedir", 0755, 0);
        add_file(&t, "gonedir/inner", "x", 0644);
        return tar_end(&t);
}

static buf layer2(apply_compression c) {
        tar t;
        tar_begin(&t, c);
        add_file(&t, ".wh.gone", "", 0644);
        add_file(&t, ".wh.gonedir", "", 0644);
        add_dir(&t, "opq", 0755, 0);
        add_file(&t, "opq/.wh..wh..opq", "", 0644);
        add_file(&t, "opq/new", "new", 0644);
        add_file(&t, "keep/b", "b", 0644); /* no "keep/" entry: implied */
        struct archive_entry *e = entry("suid", AE_IFREG, 04755);
        archive_entry_xattr_add_entry(e, "user.berth", "v", 1);
        archive_entry_xattr_add_entry(e, "trusted.evil", "x", 1);
        put_entry(&t, e, "setuid");
        add_file(&t, "/abs/file", "made relative", 0600);
        return tar_end(&t);
}

static void check_merged(const char *dir, bool overlay_upper_only) {
        ASSERT_FALSE(exists_at(dir, "gone"));
        ASSERT_FALSE(exists_at(dir, "gonedir"));
        ASSERT_FALSE(exists_at(dir, "opq/old"));
        _cleanup_free_ char *n = read_at(dir, "opq/new"), *a = read_at(dir, "keep/a"), *b = read_at(dir, "keep/b");
        ASSERT_STREQ(n, "new");
        ASSERT_STREQ(a, "a");
        ASSERT_STREQ(b, "b");
        _cleanup_free_ char *abs = read_at(dir, "abs/file");
        ASSERT_STREQ(abs, "made relative");
        _cleanup_free_ char *suid = xasprintf("%s/suid", dir), *keep = xasprintf("%s/keep", dir);
        struct stat st;
        ASSERT_OK(stat(suid, &st));
        ASSERT_EQ(st.st_mode & 07777, 04755);
        ASSERT_EQ(st.st_mtim.tv_sec, 1600000000);
        char v[4] = "";
        ASSERT_EQ(getxattr(suid, "user.berth", v, sizeof v), 1);
        ASSERT_EQ(getxattr(suid, "trusted.evil", v, sizeof v), -1);
        ASSERT_OK(stat(keep, &st));
        ASSERT_EQ(st.st_mode & 07777, 0750);
        ASSERT_EQ(st.st_uid, 1000);
}

static void check_layer1(const char *dir) {
        _cleanup_free_ char *sh = xasprintf("%s/bin/sh", dir), *sh2 = xasprintf("%s/bin/sh2", dir);
        _cleanup_free_ char *ls = xasprintf("%s/bin/ls", dir), *etc = xasprintf("%s/etc", dir);
        struct stat a, b;
        ASSERT_OK(lstat(sh, &a));
        ASSERT_OK(lstat(sh2, &b));
        ASSERT_EQ(a.st_ino, b.st_ino);
        ASSERT_EQ(a.st_mode & 0777, 0755);
        char target[16] = "";
        ASSERT_EQ(readlink(ls, target, sizeof target), 2);
        ASSERT_STREQ(target, "sh");
        ASSERT_OK(stat(etc, &a));
        ASSERT_EQ(a.st_mtim.tv_sec, 1600000000); /* dir times set after its contents */
}

TEST(two_layers_native) {
        if (geteuid() != 0)
                TAP_SKIP("needs root (chown)");
        char *dir = new_tmp();
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        berr *e = NULL;
        buf l1 = layer1(APPLY_COMPRESSION_GZIP), l2 = layer2(APPLY_COMPRESSION_ZSTD);
        apply_options opts = { .whiteouts = APPLY_WHITEOUT_DELETE };
        apply_result res;
        if (apply_buf(fd, &l1, &opts, &res, &e) < 0)
                TAP_FAIL("layer 1: %s", e->msg);
        check_layer1(dir);
        ASSERT_TRUE(exists_at(dir, "gone"));
        if (apply_buf(fd, &l2, &opts, &res, &e) < 0)
                TAP_FAIL("layer 2: %s", e->msg);
        check_merged(dir, false);
        free(l1.data);
        free(l2.data);
        remove_tmp(dir);
}

static char mntns_done;
static void private_mounts(void) {
        if (mntns_done)
                return;
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                TAP_SKIP("private mount namespace: %s", strerror(errno));
        mntns_done = 1;
}

TEST(two_layers_overlay) {
        if (geteuid() != 0)
                TAP_SKIP("needs root");
        private_mounts();
        char *dir = new_tmp();
        _cleanup_free_ char *sroot = xasprintf("%s/overlayfs", dir), *mnt = xasprintf("%s/mnt", dir);
        ASSERT_OK(mkdir(mnt, 0755));
        snapshotter *s = NULL;
        berr *e = NULL;
        if (snapshotter_open("overlayfs", sroot, &s, &e) < 0)
                TAP_SKIP("overlayfs: %s", e->msg);
        buf l1 = layer1(APPLY_COMPRESSION_NONE), l2 = layer2(APPLY_COMPRESSION_GZIP);
        berth_mount *m = NULL;
        size_t n = 0;
        apply_target t;
        apply_result res;

        ASSERT_OK(snapshotter_prepare(s, "1", SNAPSHOT_KIND_ACTIVE, NULL, 0, &m, &n, &e));
        ASSERT_OK(apply_target_from_mounts(m, n, &t, &e));
        ASSERT_EQ(t.whiteouts, APPLY_WHITEOUT_DELETE);
        apply_options o = apply_target_options(&t, false);
        ASSERT_OK(apply_buf(t.root_fd, &l1, &o, &res, &e));
        apply_target_done(&t);
        berth_mounts_free(m, n);
        ASSERT_OK(snapshotter_commit(s, "1", NULL, &e));

        char *p2[] = { (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "2", SNAPSHOT_KIND_ACTIVE, p2, 1, &m, &n, &e));
        ASSERT_OK(apply_target_from_mounts(m, n, &t, &e));
        ASSERT_EQ(t.whiteouts, APPLY_WHITEOUT_OVERLAY);
        ASSERT_EQ(t.n_parent_fds, 1);
        o = apply_target_options(&t, false);
        if (apply_buf(t.root_fd, &l2, &o, &res, &e) < 0)
                TAP_FAIL("layer 2: %s", e->msg);
        apply_target_done(&t);
        berth_mounts_free(m, n);
        /* The upper dir holds overlay's own whiteout forms. */
        _cleanup_free_ char *fs2 = snapshotter_fs_path(s, "2");
        _cleanup_free_ char *wh = xasprintf("%s/gone", fs2), *opq = xasprintf("%s/opq", fs2);
        struct stat st;
        ASSERT_OK(lstat(wh, &st));
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
        char v[2] = "";
        ASSERT_EQ(getxattr(opq, "trusted.overlay.opaque", v, sizeof v), 1);
        ASSERT_EQ(v[0], 'y');
        ASSERT_OK(snapshotter_commit(s, "2", NULL, &e));

        char *p3[] = { (char *) "2", (char *) "1" };
        ASSERT_OK(snapshotter_prepare(s, "view", SNAPSHOT_KIND_VIEW, p3, 2, &m, &n, &e));
        ASSERT_OK(mount_apply_all(m, n, mnt, &e));
        berth_mounts_free(m, n);
        check_layer1(mnt);
        check_merged(mnt, true);
        ASSERT_OK(unmount_all(mnt, &e));
        snapshotter_free(s);
        free(l1.data);
        free(l2.data);
        remove_tmp(dir);
}

TEST(diff_ids_and_stream) {
        buf plain = layer1(APPLY_COMPRESSION_NONE);
        char want[DIGEST_STRING_MAX];
        digest_buffer(plain.data, plain.len, want);
        apply_compression cs[] = { APPLY_COMPRESSION_NONE, APPLY_COMPRESSION_GZIP, APPLY_COMPRESSION_ZSTD };
        berr *e = NULL;
        for (size_t i = 0; i < ELEMENTSOF(cs); i++) {
                buf b = layer1(cs[i]);
                char blob[DIGEST_STRING_MAX];
                digest_buffer(b.data, b.len, blob);
                apply_result r;
                mem_reader mr = { .b = &b };
                ASSERT_OK(layer_diff_id(mem_read, &mr, APPLY_COMPRESSION_AUTO, &r, &e));
                ASSERT_STREQ(r.diff_id, want);
                ASSERT_STREQ(r.compressed_digest, blob);
                ASSERT_EQ(r.compressed_size, b.len);
                ASSERT_EQ(r.uncompressed_size, plain.len);

                if (geteuid() == 0) {
                        /* Push model in small uneven pieces; the result and the files are the same. */
                        char *dir = new_tmp();
                        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        apply_options o = { .compression = cs[i] };
                        apply_stream *st = NULL;
                        ASSERT_OK(apply_stream_start(fd, &o, &st, &e));
                        for (size_t off = 0; off < b.len; off += 777)
                                ASSERT_OK(apply_stream_feed(st, b.data + off, b.len - off < 777 ? b.len - off : 777, &e));
                        apply_result r2;
                        ASSERT_OK(apply_stream_finish(st, &r2, &e));
                        ASSERT_STREQ(r2.diff_id, want);
                        ASSERT_STREQ(r2.compressed_digest, blob);
                        check_layer1(dir);
                        remove_tmp(dir);

                        /* Bytes the caller vouches for (a pull's ingest hashes them): the same layer and diffID,
                         * no second compressed digest, the size still counted. */
                        dir = new_tmp();
                        _cleanup_close_ int vfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        apply_options vo = { .compression = cs[i], .compressed_verified = true };
                        ASSERT_OK(apply_stream_start(vfd, &vo, &st, &e));
                        for (size_t off = 0; off < b.len; off += 777)
                                ASSERT_OK(apply_stream_feed(st, b.data + off, b.len - off < 777 ? b.len - off : 777, &e));
                        ASSERT_OK(apply_stream_finish(st, &r2, &e));
                        ASSERT_STREQ(r2.diff_id, want);
                        ASSERT_STREQ(r2.compressed_digest, "");
                        ASSERT_EQ(r2.compressed_size, b.len);
                        ASSERT_EQ(r2.uncompressed_size, plain.len);
                        check_layer1(dir);
                        remove_tmp(dir);
                }
                free(b.data);
        }
        /* A truncated gzip layer fails, and the stream reports it to the feeder or at finish. */
        buf gz = layer1(APPLY_COMPRESSION_GZIP);
        apply_result r;
        mem_reader mr = { .b = &(buf) { gz.data, gz.len / 2 } };
        ASSERT_EQ(layer_diff_id(mem_read, &mr, APPLY_COMPRESSION_GZIP, &r, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "unexpected EOF") != NULL);
        char *dir = new_tmp();
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        apply_stream *st = NULL;
        ASSERT_OK(apply_stream_start(fd, NULL, &st, &e));
        ASSERT_OK(apply_stream_feed(st, gz.data, gz.len / 2, &e));
        ASSERT_EQ(apply_stream_finish(st, &r, &e), -1);
        if (!strstr(e->msg, "unexpected EOF")) TAP_FAIL("%s", e->msg);
        /* Abort while the worker waits for data. */
        ASSERT_OK(apply_stream_start(fd, NULL, &st, &e));
        ASSERT_OK(apply_stream_feed(st, gz.data, 100, &e));
        apply_stream_abort(st);
        remove_tmp(dir);
        /* An empty stream is an empty layer. */
        mem_reader empty = { .b = &(buf) { NULL, 0 } };
        ASSERT_OK(layer_diff_id(mem_read, &empty, APPLY_COMPRESSION_AUTO, &r, &e));
        ASSERT_STREQ(r.diff_id, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        apply_compression c;
        ASSERT_OK(apply_compression_from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, &e));
        ASSERT_EQ(c, APPLY_COMPRESSION_GZIP);
        ASSERT_OK(apply_compression_from_media_type("application/vnd.oci.image.layer.v1.tar+zstd", &c, &e));
        ASSERT_EQ(c, APPLY_COMPRESSION_ZSTD);
        ASSERT_EQ(apply_compression_from_media_type("application/x-foo", &c, &e), -1);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        berr_free(e);
        free(gz.data);
        free(plain.data);
}

/* Applies a hostile layer into <box>/root and checks the error and that <box> holds nothing but root. */
typedef void (*build_fn)(tar *t);

static void expect_rejected(build_fn build, berr_code code, const char *msg_part, bool devices) {
        char *box = new_tmp();
        _cleanup_free_ char *rootdir = xasprintf("%s/root", box);
        ASSERT_OK(mkdir(rootdir, 0755));
        _cleanup_close_ int fd = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        tar t;
        tar_begin(&t, APPLY_COMPRESSION_NONE);
        build(&t);
        buf b = tar_end(&t);
        berr *e = NULL;
        apply_options o = { .allow_devices = devices };
        apply_result r;
        int ret = apply_buf(fd, &b, &o, &r, &e);
        free(b.data);
        if (msg_part) {
                if (ret != -1)
                        TAP_FAIL("hostile layer was applied (expected \"%s\")", msg_part);
                if (!strstr(e->msg, msg_part))
                        TAP_FAIL("error \"%s\" lacks \"%s\"", e->msg, msg_part);
                ASSERT_EQ(e->code, code);
                printf("# rejected: %s\n", e->msg);
        } else
                ASSERT_OK(ret);
        berr_free(e);
        /* Nothing next to root, and the usual host targets untouched. */
        DIR *d = opendir(box);
        struct dirent *de;
        int others = 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "root"))
                        others++;
        closedir(d);
        ASSERT_EQ(others, 0);
        struct stat st;
        ASSERT_TRUE(stat("/etc/x", &st) < 0);
        remove_tmp(box);
}

static void b_dotdot(tar *t) { add_file(t, "../../etc/x", "pwned", 0644); }
static void b_dotdot_box(tar *t) { add_file(t, "a/../../outside", "pwned", 0644); }
static void b_symlink_root(tar *t) {
        add_symlink(t, "a", "/");
        add_file(t, "a/etc/x", "pwned", 0644);
}
static void b_symlink_up(tar *t) {
        add_symlink(t, "b", "../..");
        add_file(t, "b/outside", "pwned", 0644);
}
static void b_symlink_box(tar *t) {
        add_symlink(t, "c", "..");
        add_dir(t, "c/newdir", 0755, 0);
}
static void b_hardlink_abs(tar *t) { add_hardlink(t, "pw", "/etc/passwd", 0644); }
static void b_hardlink_up(tar *t) { add_hardlink(t, "out", "../outside", 0644); }
static void b_hardlink_via_symlink(tar *t) {
        add_symlink(t, "e", "/etc");
        add_hardlink(t, "pw", "e/passwd", 0644);
}
static void b_device(tar *t) { add_device(t, "dev/mem", AE_IFCHR, 1, 1); }
static void b_block(tar *t) { add_device(t, "dev/sda", AE_IFBLK, 8, 0); }
static void b_bad_whiteout(tar *t) { add_file(t, "dir/.wh..", "", 0644); }
static void b_replace_symlink(tar *t) {
        /* A file entry over a symlink replaces the link; it never writes through it. */
        add_symlink(t, "s", "../outside");
        add_file(t, "s", "inside", 0644);
        add_symlink(t, "w", "/tmp/x");
        add_file(t, ".wh.w", "", 0644);
}
static void b_abs_symlink_ok(tar *t) {
        /* Absolute symlinks themselves are fine (resolved in the container); only writes through them are not. */
        add_symlink(t, "lib", "/usr/lib");
        add_dir(t, "usr", 0755, 0);
        add_symlink(t, "rel", "usr");
        add_file(t, "rel/inside", "ok", 0644);
        add_device(t, "wh", AE_IFCHR, 0, 0);
        add_hardlink(t, "rel/inside2", "/usr/inside", 0644);
}

TEST(malicious_layers) {
        if (geteuid() != 0)
                TAP_SKIP("needs root (chown)");
        expect_rejected(b_dotdot, BERR_INVALID_ARGUMENT, "path \"../../etc/x\" escapes the layer root", false);
        expect_rejected(b_dotdot_box, BERR_INVALID_ARGUMENT, "escapes the layer root", false);
        expect_rejected(b_symlink_root, BERR_INVALID_ARGUMENT, "resolves outside the layer root", false);
        expect_rejected(b_symlink_up, BERR_INVALID_ARGUMENT, "resolves outside the layer root", false);
        expect_rejected(b_symlink_box, BERR_INVALID_ARGUMENT, "resolves outside the layer root", false);
        expect_rejected(b_hardlink_abs, BERR_NOT_FOUND, "hardlink \"pw\" to \"/etc/passwd\"", false);
        expect_rejected(b_hardlink_up, BERR_INVALID_ARGUMENT, "escapes the layer root", false);
        expect_rejected(b_hardlink_via_symlink, BERR_INVALID_ARGUMENT, "resolves outside the layer root", false);
        expect_rejected(b_device, BERR_PERMISSION_DENIED, "device node \"dev/mem\"", false);
        expect_rejected(b_block, BERR_PERMISSION_DENIED, "device node \"dev/sda\"", false);
        expect_rejected(b_bad_whiteout, BERR_INVALID_ARGUMENT, "invalid whiteout name", false);
        expect_rejected(b_replace_symlink, BERR_OK, NULL, false);
        expect_rejected(b_abs_symlink_ok, BERR_OK, NULL, false);
        expect_rejected(b_device, BERR_OK, NULL, true);
        /* A hardlink to an absolute name links the root's own file, never the host's. */
        struct stat before, after;
        ASSERT_OK(stat("/etc/passwd", &before));
        char *dir = new_tmp();
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        tar t;
        tar_begin(&t, APPLY_COMPRESSION_NONE);
        add_file(&t, "etc/passwd", "inner", 0644);
        add_hardlink(&t, "pw", "/etc/passwd", 0644);
        buf b = tar_end(&t);
        berr *e = NULL;
        apply_result r;
        ASSERT_OK(apply_buf(fd, &b, NULL, &r, &e));
        _cleanup_free_ char *pw = read_at(dir, "pw");
        ASSERT_STREQ(pw, "inner");
        ASSERT_OK(stat("/etc/passwd", &after));
        ASSERT_EQ(after.st_nlink, before.st_nlink);
        free(b.data);
        remove_tmp(dir);
}
