/* The content, leases and images services and the garbage collector through real gRPC: a forked child serves
 * them (metadata, content store, GC) on a temp dir, this process is the client and inspects the store's files. */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "content/content.h"
#include "google/protobuf/empty.pb-c.h"
#include "images/digest.h"
#include "services/gc.h"
#include "services/services.h"
#include "tap.h"
#include "test-dir.h"

#define TIMEOUT (10ULL * 1000000)
#define CONTENT "/containerd.services.content.v1.Content/"
#define LEASES "/containerd.services.leases.v1.Leases/"
#define IMAGES "/containerd.services.images.v1.Images/"

typedef struct server {
        char dir[64];
        char sock[96];
        pid_t pid;
} server;

static int on_term(ev_source *s, const struct signalfd_siginfo *si, void *userdata) {
        ev_loop_exit(ev_source_get_loop(s), 0);
        return 0;
}

static void serve(const char *dir, const char *sock) {
        ev_loop *loop = NULL;
        grpc_server *srv = NULL;
        meta_db *db = NULL;
        berr *e = NULL;
        ev_source *term = NULL;
        /* Not _cleanup_: exit() below does not unwind, and the sanitizer build checks this process for leaks. */
        char *dbpath = xasprintf("%s/meta.db", dir);
        char *cdir = xasprintf("%s/content", dir);
        if (ev_loop_new(&loop) < 0 || ev_add_signal(loop, &term, SIGTERM, on_term, NULL) < 0 ||
            grpc_server_new(loop, &srv, &e) < 0 || meta_db_open(dbpath, &db, &e) < 0)
                _exit(3);
        service_context ctx = { .loop = loop, .server = srv, .root = dir, .state = dir, .address = sock, .db = db };
        int r = content_store_open(cdir, &ctx.content, &e);
        free(dbpath);
        free(cdir);
        if (r < 0 || gc_init(&ctx, &e) < 0 ||
            content_service_register(&ctx, &e) < 0 || leases_service_register(&ctx, &e) < 0 ||
            images_service_register(&ctx, &e) < 0 || grpc_server_listen_unix(srv, sock, &e) < 0) {
                fprintf(stderr, "server setup: %s\n", e ? e->msg : "?");
                _exit(3);
        }
        (void) ev_loop_run(loop);
        grpc_server_free(srv);
        service_context_done(&ctx);
        meta_db_close(db);
        ev_source_free(term);
        ev_loop_free(loop);
        fflush(stdout);
        exit(0); /* not _exit: LeakSanitizer checks the server at exit in the sanitizer build */
}

/* The server of a test that failed half-way (an ASSERT jumps past server_stop): stopped by the next start. */
static server leftover;

static void server_reap(server *s) {
        if (s->pid > 0) {
                kill(s->pid, SIGTERM);
                waitpid(s->pid, NULL, 0);
                s->pid = 0;
        }
        if (s->dir[0])
                (void) rm_rf(s->dir, NULL);
        s->dir[0] = '\0';
}

__attribute__((destructor)) static void server_reap_at_exit(void) {
        server_reap(&leftover);
}

static void server_start(server *s) {
        server_reap(&leftover);
        memset(s, 0, sizeof *s);
        strcpy(s->dir, "/tmp/berth-svc-content-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(s->dir));
        snprintf(s->sock, sizeof s->sock, "%s/s.sock", s->dir);
        fflush(stdout);
        s->pid = fork();
        ASSERT_TRUE(s->pid >= 0);
        if (s->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a test binary that died */
                log_set_level(LOG_LVL_WARN);
                serve(s->dir, s->sock);
        }
        leftover = *s;
        for (int i = 0; i < 500; i++) {
                struct stat st;
                if (stat(s->sock, &st) == 0)
                        return;
                usleep(10000);
        }
        TAP_FAIL("server did not come up");
}

static void server_stop(server *s) {
        int status = 0;
        if (s->pid > 0) {
                kill(s->pid, SIGTERM);
                waitpid(s->pid, &status, 0);
        }
        leftover = (server) { 0 };
        ASSERT_OK(rm_rf(s->dir, NULL));
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static grpc_client *client(const server *s, const char *ns, const char *lease) {
        grpc_client *c = NULL;
        berr *e = NULL;
        if (grpc_client_connect_unix(s->sock, &c, &e) < 0)
                TAP_FAIL("connect: %s", e->msg);
        grpc_md md[2] = { { "containerd-namespace", ns }, { "containerd-lease", lease } };
        grpc_client_set_default_metadata(c, md, lease ? 2 : 1);
        return c;
}

/* A unary call: the decoded response (free with protobuf_c_message_free_unpacked), or NULL with *err. */
static void *unary(grpc_client *c, const char *path, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, berr **err) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (grpc_client_unary(c, path, req, TIMEOUT, &buf, &len, err) < 0)
                return NULL;
        ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, len, buf);
        free(buf);
        if (!m)
                berr_set(err, BERR_INTERNAL, 0, "undecodable response");
        return m;
}

static void expect_error(berr *e, berr_code code, const char *msg) {
        ASSERT_NOT_NULL(e);
        if (e->code != code || strcmp(e->msg, msg) != 0)
                TAP_FAIL("error %d \"%s\", expected %d \"%s\"", e->code, e->msg, code, msg);
        berr_free(e);
}

typedef Containerd__Services__Content__V1__WriteContentRequest write_req;
typedef Containerd__Services__Content__V1__WriteContentResponse write_resp;
#define W_STAT CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT
#define W_WRITE CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE
#define W_COMMIT CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT

/* One request/response exchange on a Write stream; NULL with *err when the stream ended with an error. */
static write_resp *exchange(grpc_stream *st, write_req *req, berr **err) {
        if (grpc_stream_send(st, &req->base, err) < 0)
                return NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int r = grpc_stream_recv(st, &buf, &len, err);
        if (r <= 0) {
                if (r == 0)
                        berr_set(err, BERR_INTERNAL, 0, "stream ended without a response");
                return NULL;
        }
        write_resp *m = containerd__services__content__v1__write_content_response__unpack(NULL, len, buf);
        free(buf);
        return m;
}

static write_req wreq(Containerd__Services__Content__V1__WriteAction action, const char *ref) {
        write_req r = CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
        r.action = action;
        r.ref = (char *) (ref ? ref : "");
        return r;
}

static void digest_of(const void *data, size_t len, char out[DIGEST_STRING_MAX]) {
        digester *d = digester_new();
        digester_update(d, data, len);
        digester_digest(d, out);
        digester_free(d);
}

/* Writes data under ref in one stream (STAT, WRITE, COMMIT with labels "k"="v" if label). */
static int write_blob(grpc_client *c, const char *ref, const void *data, size_t len, const char *expected,
                     bool label, berr **err) {
        grpc_stream *st = NULL;
        if (grpc_client_stream_open(c, CONTENT "Write", TIMEOUT, &st, err) < 0)
                return -1;
        write_req r = wreq(W_STAT, ref);
        r.total = (int64_t) len;
        r.expected = (char *) (expected ? expected : "");
        write_resp *resp = exchange(st, &r, err);
        if (!resp) {
                grpc_stream_free(st);
                return -1;
        }
        int64_t offset = resp->offset;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        r = wreq(W_COMMIT, NULL);
        r.offset = offset;
        r.data.data = (uint8_t *) data + offset;
        r.data.len = len - (size_t) offset;
        r.total = (int64_t) len;
        r.expected = (char *) (expected ? expected : "");
        Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry ent =
                CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__LABELS_ENTRY__INIT;
        Containerd__Services__Content__V1__WriteContentRequest__LabelsEntry *ents[] = { &ent };
        if (label) {
                ent.key = (char *) "k";
                ent.value = (char *) "v";
                r.labels = ents;
                r.n_labels = 1;
        }
        resp = exchange(st, &r, err);
        grpc_stream_free(st);
        if (!resp)
                return -1;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

static Containerd__Services__Content__V1__InfoResponse *info(grpc_client *c, const char *digest, berr **err) {
        Containerd__Services__Content__V1__InfoRequest req = CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
        req.digest = (char *) digest;
        return unary(c, CONTENT "Info", &req.base, &containerd__services__content__v1__info_response__descriptor, err);
}

/* Reads digest[offset, offset+size) through the Read stream into a new buffer; counts messages. */
static uint8_t *read_blob(grpc_client *c, const char *digest, int64_t offset, int64_t size, size_t *ret_len,
                          size_t *ret_msgs, berr **err) {
        grpc_stream *st = NULL;
        if (grpc_client_stream_open(c, CONTENT "Read", TIMEOUT, &st, err) < 0)
                return NULL;
        Containerd__Services__Content__V1__ReadContentRequest req =
                CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
        req.digest = (char *) digest;
        req.offset = offset;
        req.size = size;
        uint8_t *out = NULL;
        size_t n = 0, msgs = 0;
        if (grpc_stream_send(st, &req.base, err) < 0 || grpc_stream_close_send(st, err) < 0)
                goto fail;
        for (;;) {
                uint8_t *buf = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(st, &buf, &len, err);
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                Containerd__Services__Content__V1__ReadContentResponse *m =
                        containerd__services__content__v1__read_content_response__unpack(NULL, len, buf);
                free(buf);
                if (!m || m->offset != offset + (int64_t) n || m->data.len > (1u << 20)) {
                        berr_set(err, BERR_INTERNAL, 0, "bad chunk");
                        if (m)
                                protobuf_c_message_free_unpacked(&m->base, NULL);
                        goto fail;
                }
                out = xrealloc(out, n + m->data.len + 1);
                memcpy(out + n, m->data.data, m->data.len);
                n += m->data.len;
                msgs++;
                protobuf_c_message_free_unpacked(&m->base, NULL);
        }
        grpc_stream_free(st);
        *ret_len = n;
        if (ret_msgs)
                *ret_msgs = msgs;
        return out ? out : xmalloc(1);
fail:
        free(out);
        grpc_stream_free(st);
        return NULL;
}

static bool blob_on_disk(const server *s, const char *digest) {
        _cleanup_free_ char *p = xasprintf("%s/content/blobs/sha256/%s", s->dir, digest + 7);
        return access(p, F_OK) == 0;
}

static size_t ingests_on_disk(const server *s) {
        _cleanup_free_ char *p = xasprintf("%s/content/ingest", s->dir);
        return test_count_entries(p);
}

static void create_lease(grpc_client *c, const char *id) {
        Containerd__Services__Leases__V1__CreateRequest req = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
        req.id = (char *) id;
        berr *e = NULL;
        Containerd__Services__Leases__V1__CreateResponse *r =
                unary(c, LEASES "Create", &req.base, &containerd__services__leases__v1__create_response__descriptor, &e);
        if (!r)
                TAP_FAIL("lease create: %s", e->msg);
        ASSERT_STREQ(r->lease->id, id);
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int delete_lease(grpc_client *c, const char *id, bool sync, berr **err) {
        Containerd__Services__Leases__V1__DeleteRequest req = CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
        req.id = (char *) id;
        req.sync = sync;
        void *r = unary(c, LEASES "Delete", &req.base, &google__protobuf__empty__descriptor, err);
        if (!r)
                return -1;
        protobuf_c_message_free_unpacked(r, NULL);
        return 0;
}

static uint8_t *pattern(size_t n, unsigned seed) {
        uint8_t *p = xmalloc(n);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) ((i * 131 + seed * 7 + (i >> 9)) & 0xff);
        return p;
}

/* ---- tests ---- */

TEST(write_resume_commit_with_lease_and_labels_then_read) {
        server s;
        server_start(&s);
        grpc_client *plain = client(&s, "default", NULL);
        create_lease(plain, "L1");
        grpc_client *c = client(&s, "default", "L1");
        size_t len = 3 * (1u << 20) + 12345;
        _cleanup_free_ uint8_t *data = pattern(len, 1);
        char dg[DIGEST_STRING_MAX];
        digest_of(data, len, dg);
        berr *e = NULL;

        /* First session: STAT at 0, WRITE 1000 bytes, then the client goes away without committing. */
        grpc_stream *st = NULL;
        ASSERT_OK(grpc_client_stream_open(c, CONTENT "Write", TIMEOUT, &st, &e));
        write_req r = wreq(W_STAT, "ref-a");
        r.total = (int64_t) len;
        write_resp *resp = exchange(st, &r, &e);
        ASSERT_NOT_NULL(resp);
        ASSERT_EQ(resp->action, W_STAT);
        ASSERT_EQ(resp->offset, 0);
        ASSERT_EQ(resp->total, (int64_t) len);
        ASSERT_NOT_NULL(resp->started_at);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        r = wreq(W_WRITE, NULL);
        r.data.data = data;
        r.data.len = 1000;
        resp = exchange(st, &r, &e);
        ASSERT_NOT_NULL(resp);
        ASSERT_EQ(resp->offset, 1000);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        /* A write at the wrong offset ends the stream with containerd's words. */
        r.offset = 5;
        ASSERT_NULL(exchange(st, &r, &e));
        expect_error(e, BERR_OUT_OF_RANGE, "write @5 must occur at current offset 1000");
        e = NULL;
        grpc_stream_free(st);

        /* Status and ListStatuses see the ingest by the client's ref. */
        Containerd__Services__Content__V1__StatusRequest sreq = CONTAINERD__SERVICES__CONTENT__V1__STATUS_REQUEST__INIT;
        sreq.ref = (char *) "ref-a";
        Containerd__Services__Content__V1__StatusResponse *sr = unary(
                c, CONTENT "Status", &sreq.base, &containerd__services__content__v1__status_response__descriptor, &e);
        ASSERT_NOT_NULL(sr);
        ASSERT_STREQ(sr->status->ref, "ref-a");
        ASSERT_EQ(sr->status->offset, 1000);
        ASSERT_EQ(sr->status->total, (int64_t) len);
        protobuf_c_message_free_unpacked(&sr->base, NULL);
        sreq.ref = (char *) "nope";
        ASSERT_NULL(unary(c, CONTENT "Status", &sreq.base, &containerd__services__content__v1__status_response__descriptor,
                          &e));
        expect_error(e, BERR_NOT_FOUND, "could not get status for ref \"nope\": reference nope: not found");
        e = NULL;
        Containerd__Services__Content__V1__ListStatusesRequest lreq =
                CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_REQUEST__INIT;
        char *filters[] = { (char *) "ref~=^ref-" };
        lreq.filters = filters;
        lreq.n_filters = 1;
        Containerd__Services__Content__V1__ListStatusesResponse *lr =
                unary(c, CONTENT "ListStatuses", &lreq.base,
                      &containerd__services__content__v1__list_statuses_response__descriptor, &e);
        ASSERT_NOT_NULL(lr);
        ASSERT_EQ(lr->n_statuses, 1);
        ASSERT_STREQ(lr->statuses[0]->ref, "ref-a");
        protobuf_c_message_free_unpacked(&lr->base, NULL);

        /* Second session resumes at 1000 (write_blob sends from the STAT offset) and commits with a label. */
        ASSERT_OK(write_blob(c, "ref-a", data, len, dg, true, &e));
        ASSERT_TRUE(blob_on_disk(&s, dg));
        ASSERT_EQ(ingests_on_disk(&s), 0);
        Containerd__Services__Content__V1__InfoResponse *ir = info(c, dg, &e);
        ASSERT_NOT_NULL(ir);
        ASSERT_EQ(ir->info->size, (int64_t) len);
        ASSERT_EQ(ir->info->n_labels, 1);
        ASSERT_STREQ(ir->info->labels[0]->key, "k");
        protobuf_c_message_free_unpacked(&ir->base, NULL);

        /* The lease holds the content now (and no longer the ingest). */
        Containerd__Services__Leases__V1__ListResourcesRequest rr =
                CONTAINERD__SERVICES__LEASES__V1__LIST_RESOURCES_REQUEST__INIT;
        rr.id = (char *) "L1";
        Containerd__Services__Leases__V1__ListResourcesResponse *res =
                unary(c, LEASES "ListResources", &rr.base,
                      &containerd__services__leases__v1__list_resources_response__descriptor, &e);
        ASSERT_NOT_NULL(res);
        ASSERT_EQ(res->n_resources, 1);
        ASSERT_STREQ(res->resources[0]->type, "content");
        ASSERT_STREQ(res->resources[0]->id, dg);
        protobuf_c_message_free_unpacked(&res->base, NULL);

        /* Read: whole blob in chunks of at most 1 MiB, then a window, then past the end. */
        size_t got = 0, msgs = 0;
        _cleanup_free_ uint8_t *back = read_blob(c, dg, 0, 0, &got, &msgs, &e);
        ASSERT_NOT_NULL(back);
        ASSERT_EQ(got, len);
        ASSERT_EQ(msgs, 4);
        ASSERT_TRUE(memcmp(back, data, len) == 0);
        _cleanup_free_ uint8_t *win = read_blob(c, dg, 1500000, 100, &got, NULL, &e);
        ASSERT_NOT_NULL(win);
        ASSERT_EQ(got, 100);
        ASSERT_TRUE(memcmp(win, data + 1500000, 100) == 0);
        _cleanup_free_ uint8_t *tail = read_blob(c, dg, (int64_t) len - 10, 1000, &got, NULL, &e);
        ASSERT_NOT_NULL(tail);
        ASSERT_EQ(got, 10);
        ASSERT_NULL(read_blob(c, dg, (int64_t) len + 1, 0, &got, NULL, &e));
        ASSERT_EQ(e->code, BERR_OUT_OF_RANGE);
        berr_free(e);
        e = NULL;

        /* Writing it again is ALREADY_EXISTS from the first message, as containerd's writer says it. */
        ASSERT_OK(write_blob(plain, "ref-b", data, len, NULL, false, &e) < 0 ? 0 : -1);
        _cleanup_free_ char *msg = xasprintf("content %s: already exists", dg);
        expect_error(e, BERR_ALREADY_EXISTS, msg);
        e = NULL;
        ASSERT_TRUE(write_blob(plain, "ref-c", data, len, dg, false, &e) < 0);
        expect_error(e, BERR_ALREADY_EXISTS, msg);

        grpc_client_free(c);
        grpc_client_free(plain);
        server_stop(&s);
}

TEST(bad_writes_leave_nothing_visible) {
        server s;
        server_start(&s);
        grpc_client *c = client(&s, "default", NULL);
        berr *e = NULL;
        const char data[] = "hello world";
        char dg[DIGEST_STRING_MAX], other[DIGEST_STRING_MAX];
        digest_of(data, sizeof data - 1, dg);
        digest_of("x", 1, other);

        ASSERT_TRUE(write_blob(c, "bad", data, sizeof data - 1, other, false, &e) < 0);
        _cleanup_free_ char *msg =
                xasprintf("unexpected commit digest %s, expected %s: failed precondition", dg, other);
        expect_error(e, BERR_FAILED_PRECONDITION, msg);
        e = NULL;
        ASSERT_NULL(info(c, dg, &e));
        _cleanup_free_ char *nf = xasprintf("content digest %s: not found", dg);
        expect_error(e, BERR_NOT_FOUND, nf);
        e = NULL;
        ASSERT_FALSE(blob_on_disk(&s, dg));
        size_t got = 0;
        ASSERT_NULL(read_blob(c, dg, 0, 0, &got, NULL, &e));
        expect_error(e, BERR_NOT_FOUND, nf);
        e = NULL;
        ASSERT_NULL(read_blob(c, "sha256:00", 0, 0, &got, NULL, &e));
        expect_error(e, BERR_INVALID_ARGUMENT, "sha256:00: invalid checksum digest length");
        e = NULL;
        ASSERT_NULL(info(c, "nonsense", &e));
        expect_error(e, BERR_INVALID_ARGUMENT, "\"nonsense\" failed validation");
        e = NULL;

        /* Without a namespace; without a ref. */
        grpc_client *nons = NULL;
        ASSERT_OK(grpc_client_connect_unix(s.sock, &nons, &e));
        ASSERT_NULL(info(nons, dg, &e));
        expect_error(e, BERR_FAILED_PRECONDITION, "namespace is required: failed precondition");
        e = NULL;
        grpc_client_free(nons);
        grpc_stream *st = NULL;
        ASSERT_OK(grpc_client_stream_open(c, CONTENT "Write", TIMEOUT, &st, &e));
        write_req r = wreq(W_STAT, NULL);
        ASSERT_NULL(exchange(st, &r, &e));
        expect_error(e, BERR_INVALID_ARGUMENT, "first message must have a reference");
        e = NULL;
        grpc_stream_free(st);

        /* The failed ingest stays (resumable) until Abort. */
        ASSERT_EQ(ingests_on_disk(&s), 1);
        Containerd__Services__Content__V1__AbortRequest ab = CONTAINERD__SERVICES__CONTENT__V1__ABORT_REQUEST__INIT;
        ab.ref = (char *) "bad";
        void *empty = unary(c, CONTENT "Abort", &ab.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        ASSERT_EQ(ingests_on_disk(&s), 0);
        ASSERT_NULL(unary(c, CONTENT "Abort", &ab.base, &google__protobuf__empty__descriptor, &e));
        expect_error(e, BERR_NOT_FOUND, "reference bad: not found");

        grpc_client_free(c);
        server_stop(&s);
}

TEST(ref_lock_conflict_is_unavailable) {
        server s;
        server_start(&s);
        grpc_client *c = client(&s, "default", NULL);
        berr *e = NULL;
        grpc_stream *a = NULL, *b = NULL;
        ASSERT_OK(grpc_client_stream_open(c, CONTENT "Write", TIMEOUT, &a, &e));
        write_req r = wreq(W_STAT, "same");
        write_resp *resp = exchange(a, &r, &e);
        ASSERT_NOT_NULL(resp);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        grpc_client *c2 = client(&s, "default", NULL);
        ASSERT_OK(grpc_client_stream_open(c2, CONTENT "Write", TIMEOUT, &b, &e));
        ASSERT_NULL(exchange(b, &r, &e));
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        berr_free(e);
        e = NULL;
        grpc_stream_free(b);
        grpc_stream_free(a);
        grpc_client_free(c2);
        grpc_client_free(c);
        server_stop(&s);
}

TEST(other_namespace_shares_the_blob_without_resending) {
        server s;
        server_start(&s);
        grpc_client *a = client(&s, "ns-a", NULL), *b = client(&s, "ns-b", "hold");
        berr *e = NULL;
        create_lease(b, "hold"); /* what ns-b commits stays through collections */
        const char data[] = "shared bytes";
        char dg[DIGEST_STRING_MAX];
        digest_of(data, sizeof data - 1, dg);
        ASSERT_OK(write_blob(a, "r", data, sizeof data - 1, dg, false, &e));
        ASSERT_NULL(info(b, dg, &e)); /* not visible in ns-b */
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_free(e);
        e = NULL;

        grpc_stream *st = NULL;
        ASSERT_OK(grpc_client_stream_open(b, CONTENT "Write", TIMEOUT, &st, &e));
        write_req r = wreq(W_STAT, "r");
        r.expected = dg;
        r.total = sizeof data - 1;
        write_resp *resp = exchange(st, &r, &e);
        ASSERT_NOT_NULL(resp);
        ASSERT_EQ(resp->offset, (int64_t) sizeof data - 1); /* nothing to send */
        ASSERT_STREQ(resp->digest, dg);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        r = wreq(W_COMMIT, NULL);
        r.offset = sizeof data - 1;
        r.total = sizeof data - 1;
        r.expected = dg;
        resp = exchange(st, &r, &e);
        ASSERT_NOT_NULL(resp);
        ASSERT_STREQ(resp->digest, dg);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        grpc_stream_free(st);
        Containerd__Services__Content__V1__InfoResponse *ir = info(b, dg, &e);
        ASSERT_NOT_NULL(ir);
        protobuf_c_message_free_unpacked(&ir->base, NULL);

        /* Deleting it in ns-a keeps the blob for ns-b, even through a collection. */
        Containerd__Services__Content__V1__DeleteContentRequest d =
                CONTAINERD__SERVICES__CONTENT__V1__DELETE_CONTENT_REQUEST__INIT;
        d.digest = dg;
        void *empty = unary(a, CONTENT "Delete", &d.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        create_lease(a, "tmp");
        ASSERT_OK(delete_lease(a, "tmp", true, &e));
        ASSERT_TRUE(blob_on_disk(&s, dg));
        ASSERT_NULL(info(a, dg, &e));
        berr_free(e);
        e = NULL;
        grpc_client_free(a);
        grpc_client_free(b);
        server_stop(&s);
}

static void create_image(grpc_client *c, const char *name, const char *digest, int64_t size) {
        Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
        Containerd__Types__Descriptor target = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        target.media_type = (char *) "application/vnd.oci.image.manifest.v1+json";
        target.digest = (char *) digest;
        target.size = size;
        img.name = (char *) name;
        img.target = &target;
        Containerd__Services__Images__V1__CreateImageRequest req =
                CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
        req.image = &img;
        berr *e = NULL;
        Containerd__Services__Images__V1__CreateImageResponse *r = unary(
                c, IMAGES "Create", &req.base, &containerd__services__images__v1__create_image_response__descriptor, &e);
        if (!r)
                TAP_FAIL("image create: %s", e->msg);
        ASSERT_STREQ(r->image->name, name);
        ASSERT_STREQ(r->image->target->digest, digest);
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

TEST(gc_follows_leases_images_and_gc_ref_labels) {
        server s;
        server_start(&s);
        grpc_client *plain = client(&s, "default", NULL);
        create_lease(plain, "L");
        grpc_client *c = client(&s, "default", "L");
        berr *e = NULL;
        const char child[] = "child blob", root[] = "root blob", loose[] = "loose blob";
        char dc[DIGEST_STRING_MAX], dr[DIGEST_STRING_MAX], dl[DIGEST_STRING_MAX];
        digest_of(child, sizeof child - 1, dc);
        digest_of(root, sizeof root - 1, dr);
        digest_of(loose, sizeof loose - 1, dl);
        ASSERT_OK(write_blob(c, "c", child, sizeof child - 1, dc, false, &e));
        ASSERT_OK(write_blob(c, "r", root, sizeof root - 1, dr, false, &e));
        ASSERT_OK(write_blob(c, "l", loose, sizeof loose - 1, dl, false, &e));

        /* root -> child through a gc.ref label set with Update (field mask labels.<key>). */
        Containerd__Services__Content__V1__Info in = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
        Containerd__Services__Content__V1__Info__LabelsEntry ent =
                CONTAINERD__SERVICES__CONTENT__V1__INFO__LABELS_ENTRY__INIT;
        Containerd__Services__Content__V1__Info__LabelsEntry *ents[] = { &ent };
        ent.key = (char *) "containerd.io/gc.ref.content.l.0";
        ent.value = dc;
        in.digest = dr;
        in.labels = ents;
        in.n_labels = 1;
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        char *paths[] = { (char *) "labels.containerd.io/gc.ref.content.l.0" };
        mask.paths = paths;
        mask.n_paths = 1;
        Containerd__Services__Content__V1__UpdateRequest ur = CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
        ur.info = &in;
        ur.update_mask = &mask;
        Containerd__Services__Content__V1__UpdateResponse *up = unary(
                c, CONTENT "Update", &ur.base, &containerd__services__content__v1__update_response__descriptor, &e);
        ASSERT_NOT_NULL(up);
        ASSERT_EQ(up->info->n_labels, 1);
        protobuf_c_message_free_unpacked(&up->base, NULL);
        paths[0] = (char *) "size";
        ASSERT_NULL(unary(c, CONTENT "Update", &ur.base, &containerd__services__content__v1__update_response__descriptor,
                          &e));
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        e = NULL;

        create_image(plain, "img", dr, sizeof root - 1);
        ASSERT_OK(delete_lease(plain, "L", true, &e));
        ASSERT_TRUE(blob_on_disk(&s, dr));
        ASSERT_TRUE(blob_on_disk(&s, dc));
        ASSERT_FALSE(blob_on_disk(&s, dl));
        ASSERT_NULL(info(plain, dl, &e));
        berr_free(e);
        e = NULL;

        /* Leftovers of a crash: a blob nobody recorded and an ingest nobody owns go with the next pass. */
        _cleanup_free_ char *stray = xasprintf("%s/content/blobs/sha256/%s", s.dir,
                                               "0000000000000000000000000000000000000000000000000000000000000000");
        ASSERT_OK(write_file_atomic(stray, "x", 1, 0444, NULL));
        _cleanup_free_ char *stray_ingest = xasprintf("%s/content/ingest/deadbeef", s.dir);
        ASSERT_OK(mkdir(stray_ingest, 0755));
        _cleanup_free_ char *stray_ref = xasprintf("%s/ref", stray_ingest);
        ASSERT_OK(write_file_atomic(stray_ref, "x/1/y", 5, 0644, NULL));

        Containerd__Services__Images__V1__DeleteImageRequest dr_req =
                CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
        dr_req.name = (char *) "img";
        dr_req.sync = true;
        void *empty = unary(plain, IMAGES "Delete", &dr_req.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        ASSERT_FALSE(blob_on_disk(&s, dr));
        ASSERT_FALSE(blob_on_disk(&s, dc));
        ASSERT_EQ(access(stray, F_OK), -1);
        ASSERT_EQ(ingests_on_disk(&s), 0);
        ASSERT_NULL(unary(plain, IMAGES "Delete", &dr_req.base, &google__protobuf__empty__descriptor, &e));
        expect_error(e, BERR_NOT_FOUND, "image \"img\": not found");

        grpc_client_free(c);
        grpc_client_free(plain);
        server_stop(&s);
}

TEST(scheduled_gc_runs_shortly_after_a_deletion) {
        server s;
        server_start(&s);
        grpc_client *c = client(&s, "default", NULL);
        berr *e = NULL;
        const char data[] = "soon gone";
        char dg[DIGEST_STRING_MAX];
        digest_of(data, sizeof data - 1, dg);
        ASSERT_OK(write_blob(c, "x", data, sizeof data - 1, dg, false, &e));
        ASSERT_TRUE(blob_on_disk(&s, dg));
        Containerd__Services__Content__V1__DeleteContentRequest d =
                CONTAINERD__SERVICES__CONTENT__V1__DELETE_CONTENT_REQUEST__INIT;
        d.digest = dg;
        void *empty = unary(c, CONTENT "Delete", &d.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        bool gone = false;
        for (int i = 0; i < 200 && !gone; i++) {
                usleep(10000);
                gone = !blob_on_disk(&s, dg);
        }
        ASSERT_TRUE(gone);
        grpc_client_free(c);
        server_stop(&s);
}

TEST(leases_and_images_api) {
        server s;
        server_start(&s);
        grpc_client *c = client(&s, "default", NULL);
        berr *e = NULL;
        /* A generated id looks like containerd's: <nanoseconds>-<4 base64url chars>. */
        Containerd__Services__Leases__V1__CreateRequest cr = CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
        Containerd__Services__Leases__V1__CreateResponse *lr =
                unary(c, LEASES "Create", &cr.base, &containerd__services__leases__v1__create_response__descriptor, &e);
        ASSERT_NOT_NULL(lr);
        const char *dash = strchr(lr->lease->id, '-');
        ASSERT_NOT_NULL(dash);
        ASSERT_EQ(strlen(dash + 1), 4);
        protobuf_c_message_free_unpacked(&lr->base, NULL);
        create_lease(c, "x");
        Containerd__Services__Leases__V1__ListRequest lq = CONTAINERD__SERVICES__LEASES__V1__LIST_REQUEST__INIT;
        char *f[] = { (char *) "id==x" };
        lq.filters = f;
        lq.n_filters = 1;
        Containerd__Services__Leases__V1__ListResponse *ll =
                unary(c, LEASES "List", &lq.base, &containerd__services__leases__v1__list_response__descriptor, &e);
        ASSERT_NOT_NULL(ll);
        ASSERT_EQ(ll->n_leases, 1);
        protobuf_c_message_free_unpacked(&ll->base, NULL);
        Containerd__Services__Leases__V1__Resource res = CONTAINERD__SERVICES__LEASES__V1__RESOURCE__INIT;
        res.id = (char *) "k";
        res.type = (char *) "snapshots/overlayfs";
        Containerd__Services__Leases__V1__AddResourceRequest ar =
                CONTAINERD__SERVICES__LEASES__V1__ADD_RESOURCE_REQUEST__INIT;
        ar.id = (char *) "x";
        ar.resource = &res;
        void *empty = unary(c, LEASES "AddResource", &ar.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        empty = unary(c, LEASES "DeleteResource", &ar.base, &google__protobuf__empty__descriptor, &e);
        ASSERT_NOT_NULL(empty);
        protobuf_c_message_free_unpacked(empty, NULL);
        ASSERT_OK(delete_lease(c, "x", false, &e));
        ASSERT_TRUE(delete_lease(c, "x", false, &e) < 0);
        expect_error(e, BERR_NOT_FOUND, "lease \"x\": not found");
        e = NULL;

        /* Images: Create, Get, Update with a mask, List with a filter, name required. */
        create_image(c, "docker.io/library/a:1", "sha256:1111111111111111111111111111111111111111111111111111111111111111", 10);
        Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
        Containerd__Services__Images__V1__Image__LabelsEntry le = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__LABELS_ENTRY__INIT;
        Containerd__Services__Images__V1__Image__LabelsEntry *les[] = { &le };
        le.key = (char *) "team";
        le.value = (char *) "blue";
        img.name = (char *) "docker.io/library/a:1";
        img.labels = les;
        img.n_labels = 1;
        Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        char *paths[] = { (char *) "labels" };
        mask.paths = paths;
        mask.n_paths = 1;
        Containerd__Services__Images__V1__UpdateImageRequest ur =
                CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
        ur.image = &img;
        ur.update_mask = &mask;
        Containerd__Services__Images__V1__UpdateImageResponse *uresp = unary(
                c, IMAGES "Update", &ur.base, &containerd__services__images__v1__update_image_response__descriptor, &e);
        ASSERT_NOT_NULL(uresp);
        ASSERT_EQ(uresp->image->n_labels, 1);
        ASSERT_STREQ(uresp->image->target->digest,
                     "sha256:1111111111111111111111111111111111111111111111111111111111111111");
        protobuf_c_message_free_unpacked(&uresp->base, NULL);
        Containerd__Services__Images__V1__ListImagesRequest li = CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
        char *lf[] = { (char *) "labels.team==blue" };
        li.filters = lf;
        li.n_filters = 1;
        Containerd__Services__Images__V1__ListImagesResponse *lir = unary(
                c, IMAGES "List", &li.base, &containerd__services__images__v1__list_images_response__descriptor, &e);
        ASSERT_NOT_NULL(lir);
        ASSERT_EQ(lir->n_images, 1);
        ASSERT_NOT_NULL(lir->images[0]->created_at);
        protobuf_c_message_free_unpacked(&lir->base, NULL);
        Containerd__Services__Images__V1__GetImageRequest gi = CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        gi.name = (char *) "nope";
        ASSERT_NULL(unary(c, IMAGES "Get", &gi.base, &containerd__services__images__v1__get_image_response__descriptor,
                          &e));
        expect_error(e, BERR_NOT_FOUND, "image \"nope\": not found");
        e = NULL;
        img.name = (char *) "";
        ASSERT_NULL(unary(c, IMAGES "Update", &ur.base,
                          &containerd__services__images__v1__update_image_response__descriptor, &e));
        expect_error(e, BERR_INVALID_ARGUMENT, "Image.Name required");

        grpc_client_free(c);
        server_stop(&s);
}
