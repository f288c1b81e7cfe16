/* berthd's snapshots and diff services through real gRPC: an in-process server (native snapshotter, content
 * store, metadata) on this thread's event loop, the gRPC client on a helper thread. Covers what ctr cannot reach
 * directly: leases held by the containerd-lease header, List filters, a stale backend directory left by a crash,
 * and diff Apply (diffID, namespace visibility, media types, a blob that no longer matches its digest). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "basic/fileio.h"
#include "containerd/services/diff/v1/diff.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "content/content.h"
#include "images/digest.h"
#include "metadata/metadata.h"
#include "services/common.h"
#include "services/services.h"
#include "snapshots/snapshots.h"
#include "tap.h"

typedef struct fixture {
        char dir[64];
        char sock[96];
        ev_loop *loop;
        grpc_server *srv;
        meta_db *db;
        content_store *content;
        snapshotter *native;
        service_context ctx;
        int wake[2];
        ev_source *wake_io;
} fixture;

static int on_wake(ev_source *s, int fd, uint32_t revents, void *userdata) {
        char b[16];
        while (read(fd, b, sizeof b) > 0)
                ;
        return 0;
}

static void fixture_start(fixture *f) {
        memset(f, 0, sizeof *f);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berthd-sndiff-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/s.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        _cleanup_free_ char *db = xasprintf("%s/meta.db", f->dir);
        ASSERT_OK(meta_db_open(db, &f->db, &e));
        _cleanup_free_ char *content = xasprintf("%s/content", f->dir);
        ASSERT_OK(content_store_open(content, &f->content, &e));
        _cleanup_free_ char *sn = xasprintf("%s/native", f->dir);
        ASSERT_OK(snapshotter_open("native", sn, &f->native, &e));
        f->ctx = (service_context) {
                .loop = f->loop, .server = f->srv, .root = f->dir, .state = f->dir, .address = f->sock,
                .uuid = "01234567-89ab-4cde-8f01-23456789abcd", .db = f->db, .content = f->content,
                .default_snapshotter = "native", .snapshotters = { f->native }, .n_snapshotters = 1,
        };
        ASSERT_OK(snapshots_service_register(&f->ctx, &e));
        ASSERT_OK(diff_service_register(&f->ctx, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->wake_io, f->wake[0], EPOLLIN, on_wake, NULL));
}

static void fixture_stop(fixture *f) {
        f->srv = grpc_server_free(f->srv);
        service_context_done(&f->ctx); /* frees the content store and the snapshotter */
        meta_db_close(f->db);
        ev_source_free(f->wake_io);
        safe_close(f->wake[0]);
        safe_close(f->wake[1]);
        ev_loop_free(f->loop);
        ASSERT_OK(rm_rf(f->dir, NULL));
}

typedef struct rpc {
        fixture *f;
        const char *ns;
        const char *lease;
        const char *path;
        const ProtobufCMessage *req;
        bool stream;
        uint8_t *resp;
        size_t len;
        size_t n_stream; /* streaming: messages received; resp holds the last one */
        berr *err;
        atomic_bool done;
} rpc;

static void *rpc_thread(void *p) {
        rpc *r = p;
        grpc_client *c = NULL;
        if (grpc_client_connect_unix(r->f->sock, &c, &r->err) == 0) {
                grpc_md md[2] = { { "containerd-namespace", r->ns }, { "containerd-lease", r->lease } };
                grpc_client_set_default_metadata(c, md, r->lease ? 2 : 1);
                if (!r->stream)
                        (void) grpc_client_unary(c, r->path, r->req, 10 * 1000000ULL, &r->resp, &r->len, &r->err);
                else {
                        grpc_stream *s = NULL;
                        if (grpc_client_stream_open(c, r->path, 10 * 1000000ULL, &s, &r->err) == 0 &&
                            grpc_stream_send(s, r->req, &r->err) == 0 && grpc_stream_close_send(s, &r->err) == 0) {
                                uint8_t *m;
                                size_t n;
                                int k;
                                while ((k = grpc_stream_recv(s, &m, &n, &r->err)) > 0) {
                                        free(r->resp);
                                        r->resp = m;
                                        r->len = n;
                                        r->n_stream++;
                                }
                        }
                        grpc_stream_free(s);
                }
                grpc_client_free(c);
        }
        atomic_store(&r->done, true);
        (void) !write(r->f->wake[1], "x", 1);
        return NULL;
}

static int run_rpc(fixture *f, rpc *r) {
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, rpc_thread, r), 0);
        while (!atomic_load(&r->done))
                (void) ev_loop_run_once(f->loop, 1000);
        pthread_join(th, NULL);
        return r->err ? -1 : 0;
}

static int call(fixture *f, rpc *r, const char *ns, const char *lease, const char *method,
                const ProtobufCMessage *req) {
        *r = (rpc) { .f = f, .ns = ns, .lease = lease, .path = method, .req = req };
        return run_rpc(f, r);
}

static void rpc_done(rpc *r) {
        free(r->resp);
        berr_free(r->err);
        *r = (rpc) { 0 };
}

#define SN(m) "/containerd.services.snapshots.v1.Snapshots/" m
#define DIFF(m) "/containerd.services.diff.v1.Diff/" m

/* Prepare key (parent may be NULL); returns the unpacked response. */
static Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *prepare(fixture *f, const char *ns,
                                                                            const char *lease, const char *key,
                                                                            const char *parent) {
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        req.key = (char *) key;
        req.parent = (char *) (parent ? parent : "");
        rpc r;
        ASSERT_OK(call(f, &r, ns, lease, SN("Prepare"), &req.base));
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *resp =
                containerd__services__snapshots__v1__prepare_snapshot_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(resp);
        rpc_done(&r);
        return resp;
}

static int commit(fixture *f, const char *ns, const char *lease, const char *name, const char *key, rpc *r) {
        Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
        req.name = (char *) name;
        req.key = (char *) key;
        return call(f, r, ns, lease, SN("Commit"), &req.base);
}

static bool lease_has(fixture *f, const char *ns, const char *lease, const char *id) {
        meta_lease_resource *res = NULL;
        size_t n = 0;
        berr *e = NULL;
        ASSERT_OK(meta_lease_list_resources(f->db, ns, lease, &res, &n, &e));
        bool found = false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(res[i].type, "snapshots/native") == 0 && strcmp(res[i].id, id) == 0)
                        found = true;
        meta_lease_resources_free(res, n);
        return found;
}

TEST(prepare_commit_remove_move_the_lease_along) {
        fixture f;
        fixture_start(&f);
        berr *e = NULL;
        ASSERT_OK(meta_lease_create(f.db, "ns1", "l1", NULL, NULL, &e));

        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", "l1", "k1", NULL);
        ASSERT_EQ(p->n_mounts, 1);
        ASSERT_STREQ(p->mounts[0]->type, "bind");
        _cleanup_free_ char *fs1 = xasprintf("%s/native/snapshots/1/fs", f.dir);
        ASSERT_STREQ(p->mounts[0]->source, fs1);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        ASSERT_TRUE(lease_has(&f, "ns1", "l1", "k1"));

        rpc r;
        ASSERT_OK(commit(&f, "ns1", "l1", "c1", "k1", &r));
        rpc_done(&r);
        ASSERT_TRUE(lease_has(&f, "ns1", "l1", "c1"));
        ASSERT_TRUE(!lease_has(&f, "ns1", "l1", "k1"));

        /* a lease that does not exist fails the prepare and leaves nothing behind */
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        req.key = (char *) "k2";
        req.parent = (char *) "c1";
        ASSERT_TRUE(call(&f, &r, "ns1", "nolease", SN("Prepare"), &req.base) < 0);
        ASSERT_EQ(r.err->code, BERR_NOT_FOUND);
        ASSERT_STREQ(r.err->msg, "lease does not exist: not found");
        rpc_done(&r);
        meta_snapshot s = { 0 };
        ASSERT_TRUE(meta_snapshot_get(f.db, "ns1", "native", "k2", &s, &e) < 0);
        berr_free(TAKE_PTR(e));
        _cleanup_free_ char *dir2 = xasprintf("%s/native/snapshots/2", f.dir);
        ASSERT_TRUE(access(dir2, F_OK) < 0);

        /* nor does a commit under it: the snapshot stays active */
        p = prepare(&f, "ns1", NULL, "kx", NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        ASSERT_TRUE(commit(&f, "ns1", "nolease", "cx", "kx", &r) < 0);
        ASSERT_EQ(r.err->code, BERR_NOT_FOUND);
        rpc_done(&r);
        ASSERT_OK(meta_snapshot_get(f.db, "ns1", "native", "kx", &s, &e));
        ASSERT_EQ(s.kind, META_SNAPSHOT_ACTIVE);
        meta_snapshot_done(&s);

        Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
        rm.key = (char *) "c1";
        ASSERT_OK(call(&f, &r, "ns1", "l1", SN("Remove"), &rm.base));
        rpc_done(&r);
        ASSERT_TRUE(!lease_has(&f, "ns1", "l1", "c1"));
        _cleanup_free_ char *dir1 = xasprintf("%s/native/snapshots/1", f.dir);
        ASSERT_TRUE(access(dir1, F_OK) < 0);
        fixture_stop(&f);
}

TEST(a_stale_directory_from_a_crash_is_replaced) {
        fixture f;
        fixture_start(&f);
        /* A crash after the directory was made but before its transaction committed: the id comes round
         * again. */
        _cleanup_free_ char *stale = xasprintf("%s/native/snapshots/1/fs", f.dir);
        ASSERT_OK(mkdir_p(stale, 0700, NULL));
        _cleanup_free_ char *junk = xasprintf("%s/junk", stale);
        ASSERT_OK(write_file_atomic(junk, "x", 1, 0644, NULL));
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", NULL, "k1", NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        ASSERT_TRUE(access(junk, F_OK) < 0);
        ASSERT_TRUE(access(stale, F_OK) == 0);
        fixture_stop(&f);
}

TEST(cleanup_removes_directories_no_record_names) {
        fixture f;
        fixture_start(&f);
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", NULL, "k1", NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        p = prepare(&f, "ns2", NULL, "k1", NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        _cleanup_free_ char *orphan = xasprintf("%s/native/snapshots/99/fs", f.dir);
        _cleanup_free_ char *leftover = xasprintf("%s/native/snapshots/rm-7", f.dir);
        ASSERT_OK(mkdir_p(orphan, 0700, NULL));
        ASSERT_OK(mkdir_p(leftover, 0700, NULL));
        Containerd__Services__Snapshots__V1__CleanupRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__CLEANUP_REQUEST__INIT;
        req.snapshotter = (char *) "native";
        rpc r;
        ASSERT_OK(call(&f, &r, "ns1", NULL, SN("Cleanup"), &req.base));
        rpc_done(&r);
        ASSERT_TRUE(access(orphan, F_OK) < 0);
        ASSERT_TRUE(access(leftover, F_OK) < 0);
        /* both namespaces' snapshots stay */
        for (int id = 1; id <= 2; id++) {
                _cleanup_free_ char *live = xasprintf("%s/native/snapshots/%d/fs", f.dir, id);
                ASSERT_TRUE(access(live, F_OK) == 0);
        }
        /* an unknown snapshotter is containerd's invalid argument */
        req.snapshotter = (char *) "zfs";
        ASSERT_TRUE(call(&f, &r, "ns1", NULL, SN("Cleanup"), &req.base) < 0);
        ASSERT_EQ(r.err->code, BERR_INVALID_ARGUMENT);
        ASSERT_STREQ(r.err->msg, "snapshotter not loaded: zfs: invalid argument");
        rpc_done(&r);
        fixture_stop(&f);
}

TEST(list_streams_infos_and_applies_filters) {
        fixture f;
        fixture_start(&f);
        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", NULL, "k1", NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        rpc r;
        ASSERT_OK(commit(&f, "ns1", NULL, "c1", "k1", &r));
        rpc_done(&r);
        for (int i = 0; i < 150; i++) {
                char key[16];
                snprintf(key, sizeof key, "a%03d", i);
                p = prepare(&f, "ns1", NULL, key, "c1");
                protobuf_c_message_free_unpacked(&p->base, NULL);
        }

        Containerd__Services__Snapshots__V1__ListSnapshotsRequest req =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        r = (rpc) { .f = &f, .ns = "ns1", .path = SN("List"), .req = &req.base, .stream = true };
        ASSERT_OK(run_rpc(&f, &r));
        ASSERT_EQ(r.n_stream, 2); /* 151 infos in blocks of 100 */
        Containerd__Services__Snapshots__V1__ListSnapshotsResponse *l =
                containerd__services__snapshots__v1__list_snapshots_response__unpack(NULL, r.len, r.resp);
        ASSERT_EQ(l->n_info, 51);
        ASSERT_STREQ(l->info[50]->name, "c1");
        ASSERT_EQ(l->info[50]->kind, CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED);
        ASSERT_STREQ(l->info[0]->parent, "c1");
        ASSERT_EQ(l->info[0]->kind, CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE);
        protobuf_c_message_free_unpacked(&l->base, NULL);
        rpc_done(&r);

        char *filters[] = { (char *) "kind==committed" };
        req.filters = filters;
        req.n_filters = 1;
        r = (rpc) { .f = &f, .ns = "ns1", .path = SN("List"), .req = &req.base, .stream = true };
        ASSERT_OK(run_rpc(&f, &r));
        ASSERT_EQ(r.n_stream, 1);
        l = containerd__services__snapshots__v1__list_snapshots_response__unpack(NULL, r.len, r.resp);
        ASSERT_EQ(l->n_info, 1);
        ASSERT_STREQ(l->info[0]->name, "c1");
        protobuf_c_message_free_unpacked(&l->base, NULL);
        rpc_done(&r);

        /* another namespace sees nothing */
        req.n_filters = 0;
        r = (rpc) { .f = &f, .ns = "ns2", .path = SN("List"), .req = &req.base, .stream = true };
        ASSERT_OK(run_rpc(&f, &r));
        ASSERT_EQ(r.n_stream, 0);
        rpc_done(&r);
        fixture_stop(&f);
}

/* ---- diff Apply ---- */

typedef struct buf {
        uint8_t *data;
        size_t len;
} buf;

static void buf_done(buf *b) {
        free(b->data);
        *b = (buf) { 0 };
}

/* An uncompressed tar holding hello.txt and dir/ (and optionally a whiteout for gone.txt). */
static buf make_tar(void) {
        struct archive *a = archive_write_new();
        ASSERT_OK(archive_write_set_format_pax_restricted(a));
        size_t cap = 1 << 16, used = 0;
        uint8_t *mem = xcalloc(1, cap);
        ASSERT_OK(archive_write_open_memory(a, mem, cap, &used));
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "dir");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        ASSERT_OK(archive_write_header(a, e));
        archive_entry_clear(e);
        archive_entry_set_pathname(e, "dir/hello.txt");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 6);
        ASSERT_OK(archive_write_header(a, e));
        ASSERT_EQ(archive_write_data(a, "hello\n", 6), 6);
        archive_entry_free(e);
        ASSERT_OK(archive_write_close(a));
        archive_write_free(a);
        return (buf) { mem, used };
}

static buf gzip_buf(const buf *in, int level) {
        z_stream z = { 0 };
        ASSERT_OK(deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY));
        size_t cap = deflateBound(&z, in->len) + 64;
        uint8_t *out = xmalloc(cap);
        z.next_in = in->data;
        z.avail_in = (uInt) in->len;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        return (buf) { out, n };
}

/* Commits data into the content store and records it in ns; digest out. */
static void add_blob(fixture *f, const char *ns, const buf *data, char digest[DIGEST_STRING_MAX]) {
        berr *e = NULL;
        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(f->content, "test-ref", 0, NULL, &w, &e));
        ASSERT_OK(content_writer_write(w, data->data, data->len, &e));
        ASSERT_OK(content_writer_commit(w, (int64_t) data->len, NULL, digest, &e));
        content_writer_close(w);
        meta_content_info info = { .digest = digest, .size = (int64_t) data->len };
        ASSERT_OK(meta_content_add(f->db, ns, &info, NULL, &e));
}

typedef struct apply_out {
        berr *err;
        char media_type[128];
        char digest[DIGEST_STRING_MAX];
        int64_t size;
} apply_out;

static int apply(fixture *f, const char *ns, const char *media_type, const char *digest, int64_t size,
                 Containerd__Types__Mount **mounts, size_t n_mounts, apply_out *out) {
        Containerd__Types__Descriptor desc = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        desc.media_type = (char *) media_type;
        desc.digest = (char *) digest;
        desc.size = size;
        Containerd__Services__Diff__V1__ApplyRequest req = CONTAINERD__SERVICES__DIFF__V1__APPLY_REQUEST__INIT;
        req.diff = &desc;
        req.mounts = mounts;
        req.n_mounts = n_mounts;
        rpc r;
        *out = (apply_out) { 0 };
        if (call(f, &r, ns, NULL, DIFF("Apply"), &req.base) < 0) {
                out->err = TAKE_PTR(r.err);
                rpc_done(&r);
                return -1;
        }
        Containerd__Services__Diff__V1__ApplyResponse *resp =
                containerd__services__diff__v1__apply_response__unpack(NULL, r.len, r.resp);
        ASSERT_NOT_NULL(resp);
        ASSERT_NOT_NULL(resp->applied);
        snprintf(out->media_type, sizeof out->media_type, "%s", resp->applied->media_type);
        snprintf(out->digest, sizeof out->digest, "%s", resp->applied->digest);
        out->size = resp->applied->size;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        rpc_done(&r);
        return 0;
}

TEST(apply_unpacks_a_gzip_layer_and_answers_with_the_diff_id) {
        fixture f;
        fixture_start(&f);
        buf tar = make_tar(), gz = gzip_buf(&tar, 6);
        char blob[DIGEST_STRING_MAX], diff_id[DIGEST_STRING_MAX];
        digest_buffer(tar.data, tar.len, diff_id);
        add_blob(&f, "ns1", &gz, blob);

        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", NULL, "extract", NULL);
        apply_out out;
        ASSERT_OK(apply(&f, "ns1", "application/vnd.oci.image.layer.v1.tar+gzip", blob, (int64_t) gz.len,
                        p->mounts, p->n_mounts, &out));
        ASSERT_STREQ(out.media_type, "application/vnd.oci.image.layer.v1.tar");
        ASSERT_STREQ(out.digest, diff_id);
        ASSERT_EQ(out.size, (int64_t) tar.len);
        _cleanup_free_ char *path = xasprintf("%s/dir/hello.txt", p->mounts[0]->source);
        _cleanup_free_ char *text = NULL;
        ASSERT_OK(read_file(path, &text, NULL, 4096, NULL));
        ASSERT_STREQ(text, "hello\n");

        /* the same blob seen from another namespace does not exist */
        ASSERT_TRUE(apply(&f, "ns2", "application/vnd.oci.image.layer.v1.tar+gzip", blob, (int64_t) gz.len,
                          p->mounts, p->n_mounts, &out) < 0);
        ASSERT_EQ(out.err->code, BERR_NOT_FOUND);
        _cleanup_free_ char *want = xasprintf("failed to get reader from content store: content digest %s: not found",
                                              blob);
        ASSERT_STREQ(out.err->msg, want);
        berr_free(out.err);

        /* a media type without a decompressor */
        ASSERT_TRUE(apply(&f, "ns1", "application/vnd.oci.image.layer.v1.tar+lz4", blob, (int64_t) gz.len,
                          p->mounts, p->n_mounts, &out) < 0);
        ASSERT_EQ(out.err->code, BERR_UNIMPLEMENTED);
        ASSERT_TRUE(strstr(out.err->msg, "application/vnd.oci.image.layer.v1.tar+lz4") != NULL);
        berr_free(out.err);

        /* no mounts at all */
        ASSERT_TRUE(apply(&f, "ns1", "application/vnd.oci.image.layer.v1.tar+gzip", blob, (int64_t) gz.len, NULL, 0,
                          &out) < 0);
        ASSERT_EQ(out.err->code, BERR_UNIMPLEMENTED);
        berr_free(out.err);

        protobuf_c_message_free_unpacked(&p->base, NULL);
        buf_done(&tar);
        buf_done(&gz);
        fixture_stop(&f);
}

TEST(apply_refuses_a_blob_that_no_longer_matches_its_digest) {
        fixture f;
        fixture_start(&f);
        buf tar = make_tar(), gz = gzip_buf(&tar, 6), other = gzip_buf(&tar, 1);
        ASSERT_TRUE(gz.len != other.len || memcmp(gz.data, other.data, gz.len) != 0);
        char blob[DIGEST_STRING_MAX], other_digest[DIGEST_STRING_MAX];
        add_blob(&f, "ns1", &gz, blob);
        digest_buffer(other.data, other.len, other_digest);
        /* the file changes on disk behind the store's back: still a valid layer, different bytes */
        _cleanup_free_ char *path = NULL;
        berr *e = NULL;
        ASSERT_OK(content_blob_path(f.content, blob, &path, &e));
        ASSERT_OK(chmod(path, 0644));
        ASSERT_OK(write_file_atomic(path, other.data, other.len, 0444, NULL));

        Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *p = prepare(&f, "ns1", NULL, "extract", NULL);
        apply_out out;
        ASSERT_TRUE(apply(&f, "ns1", "application/vnd.oci.image.layer.v1.tar+gzip", blob, (int64_t) gz.len,
                          p->mounts, p->n_mounts, &out) < 0);
        ASSERT_EQ(out.err->code, BERR_FAILED_PRECONDITION);
        _cleanup_free_ char *want = xasprintf("digest mismatch: content %s read as %s: failed precondition", blob,
                                              other_digest);
        ASSERT_STREQ(out.err->msg, want);
        berr_free(out.err);
        protobuf_c_message_free_unpacked(&p->base, NULL);
        buf_done(&tar);
        buf_done(&gz);
        buf_done(&other);
        fixture_stop(&f);
}

TEST(diff_compare_is_not_implemented) {
        fixture f;
        fixture_start(&f);
        Containerd__Services__Diff__V1__DiffRequest req = CONTAINERD__SERVICES__DIFF__V1__DIFF_REQUEST__INIT;
        rpc r;
        ASSERT_TRUE(call(&f, &r, "ns1", NULL, DIFF("Diff"), &req.base) < 0);
        ASSERT_EQ(r.err->code, BERR_UNIMPLEMENTED);
        rpc_done(&r);
        fixture_stop(&f);
}
