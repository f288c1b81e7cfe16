/* libberth against an in-process fake berthd: a gRPC server (src/grpc) on a temp socket, run by its own event loop
 * thread, serving canned answers for the Version, Images, Content and berth.v1.Berth methods the client uses.
 * The client runs on the test's thread, so ASSERTs work directly; what the server saw is read after its thread
 * stopped. */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/event.h"
#include "basic/sha256.h"
#include "berth/berth.h"
#include "berth/v1/berth.pb-c.h"
#include "client/client-internal.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/version/v1/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"
#include "tap.h"

/* ---- the fake daemon's data ---- */

typedef struct blob {
        char digest[80];
        char *data;
} blob;

static struct {
        blob blobs[8];
        size_t n_blobs;
        char index_digest[80], manifest_digest[80], small_digest[80];
} store;

static const char *add_blob(char *json) {
        blob *b = &store.blobs[store.n_blobs++];
        char hex[65];
        sha256_hex(json, strlen(json), hex);
        snprintf(b->digest, sizeof b->digest, "sha256:%s", hex);
        b->data = json;
        return b->digest;
}

static void store_init(void) {
        for (size_t i = 0; i < store.n_blobs; i++)
                free(store.blobs[i].data);
        memset(&store, 0, sizeof store);
        const char *os, *arch, *variant;
        client_host_platform(&os, &arch, &variant);
        /* Host manifest: 100 + 1000 + 2000; the other platform's: 1 + 1. The index picks by platform. */
        strcpy(store.manifest_digest,
               add_blob(xstrdup("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                                "\"config\":{\"digest\":\"sha256:c\",\"size\":100},\"layers\":[{\"size\":1000},"
                                "{\"size\":2000}]}")));
        const char *other =
                add_blob(xstrdup("{\"schemaVersion\":2,\"config\":{\"size\":1},\"layers\":[{\"size\":1}]}"));
        strcpy(store.index_digest,
               add_blob(xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                  "\"manifests\":[{\"digest\":\"%s\",\"size\":1,\"platform\":{\"os\":\"plan9\","
                                  "\"architecture\":\"mips\"}},{\"digest\":\"%s\",\"size\":1,\"platform\":"
                                  "{\"os\":\"%s\",\"architecture\":\"%s\"}}]}",
                                  other, store.manifest_digest, os, arch)));
        strcpy(store.small_digest,
               add_blob(xstrdup("{\"schemaVersion\":2,\"config\":{\"size\":10},\"layers\":[{\"size\":20}]}")));
}

static const char *blob_get(const char *digest) {
        for (size_t i = 0; i < store.n_blobs; i++)
                if (strcmp(store.blobs[i].digest, digest) == 0)
                        return store.blobs[i].data;
        return NULL;
}

/* What the server saw (read after its thread stopped). */
static struct {
        char namespace_[64];
        char deleted[128];
        bool delete_sync;
        char pull_ref[128], pull_platform[64];
        bool pull_plain_http, pull_unpack;
        char import_base_name[64];
        size_t import_bytes;
        char export_format[16];
} seen;

static const char *image_names[] = { "docker.io/library/busybox:latest", "127.0.0.1:5000/small:v1",
                                     "docker.io/library/broken:latest" };

static const char *image_digest(size_t i) {
        return i == 0 ? store.index_digest : i == 1 ? store.small_digest : "sha256:0000";
}

static Containerd__Services__Images__V1__Image *image_proto(size_t i, Containerd__Types__Descriptor *d,
                                                            Google__Protobuf__Timestamp *ts,
                                                            Containerd__Services__Images__V1__Image *img) {
        *d = (Containerd__Types__Descriptor) CONTAINERD__TYPES__DESCRIPTOR__INIT;
        d->digest = (char *) image_digest(i);
        d->media_type = (char *) (i == 0 ? "application/vnd.oci.image.index.v1+json"
                                         : "application/vnd.oci.image.manifest.v1+json");
        d->size = 321;
        *ts = (Google__Protobuf__Timestamp) GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts->seconds = 1700000000;
        ts->nanos = 5;
        *img = (Containerd__Services__Images__V1__Image) CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
        img->name = (char *) image_names[i];
        img->target = d;
        img->created_at = ts;
        img->updated_at = ts;
        return img;
}

/* ---- handlers (loop thread) ---- */

static void h_version(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        const char *ns = grpc_call_metadata(call, "containerd-namespace");
        snprintf(seen.namespace_, sizeof seen.namespace_, "%s", ns ? ns : "");
        Containerd__Services__Version__V1__VersionResponse r =
                CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
        r.version = (char *) "1.6.20+berth.test";
        r.revision = (char *) "rev1";
        grpc_call_reply(call, &r.base);
}

static void h_info(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__InfoResponse r = BERTH__V1__INFO_RESPONSE__INIT;
        r.version = (char *) "0.1.0";
        r.root = (char *) "/tmp/root";
        r.snapshotter = (char *) "overlayfs";
        r.pid = 4242;
        r.images = 3;
        r.content_bytes = 1 << 20;
        grpc_call_reply(call, &r.base);
}

static void h_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        const char *ns = grpc_call_metadata(call, "containerd-namespace");
        Containerd__Types__Descriptor d[3];
        Google__Protobuf__Timestamp ts[3];
        Containerd__Services__Images__V1__Image imgs[3], *ptrs[3];
        Containerd__Services__Images__V1__ListImagesResponse r =
                CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_RESPONSE__INIT;
        /* Other namespaces are empty: proves the header travels. */
        if (ns && strcmp(ns, "testns") == 0) {
                for (size_t i = 0; i < 3; i++)
                        ptrs[i] = image_proto(i, &d[i], &ts[i], &imgs[i]);
                r.images = ptrs;
                r.n_images = 3;
        }
        grpc_call_reply(call, &r.base);
}

static ssize_t image_index(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(image_names); i++)
                if (strcmp(image_names[i], name) == 0)
                        return (ssize_t) i;
        return -1;
}

static void h_get(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Containerd__Services__Images__V1__GetImageRequest *req =
                containerd__services__images__v1__get_image_request__unpack(NULL, len, msg);
        ssize_t i = req ? image_index(req->name) : -1;
        if (i < 0)
                grpc_call_finish(call, BERR_NOT_FOUND, "image \"%s\": not found", req ? req->name : "");
        else {
                Containerd__Types__Descriptor d;
                Google__Protobuf__Timestamp ts;
                Containerd__Services__Images__V1__Image img;
                Containerd__Services__Images__V1__GetImageResponse r =
                        CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_RESPONSE__INIT;
                r.image = image_proto((size_t) i, &d, &ts, &img);
                grpc_call_reply(call, &r.base);
        }
        containerd__services__images__v1__get_image_request__free_unpacked(req, NULL);
}

static void h_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Containerd__Services__Images__V1__DeleteImageRequest *req =
                containerd__services__images__v1__delete_image_request__unpack(NULL, len, msg);
        if (!req || image_index(req->name) < 0)
                grpc_call_finish(call, BERR_NOT_FOUND, "image \"%s\": not found", req ? req->name : "");
        else {
                snprintf(seen.deleted, sizeof seen.deleted, "%s", req->name);
                seen.delete_sync = req->sync;
                Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
                grpc_call_reply(call, &e.base);
        }
        containerd__services__images__v1__delete_image_request__free_unpacked(req, NULL);
}

static void h_read(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Containerd__Services__Content__V1__ReadContentRequest *req =
                containerd__services__content__v1__read_content_request__unpack(NULL, len, msg);
        const char *data = req ? blob_get(req->digest) : NULL;
        if (!data)
                grpc_call_finish(call, BERR_NOT_FOUND, "content digest %s: not found", req ? req->digest : "");
        else {
                /* Two chunks, so the client reassembles by offset. */
                size_t n = strlen(data), half = n / 2;
                Containerd__Services__Content__V1__ReadContentResponse r =
                        CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_RESPONSE__INIT;
                r.data.data = (uint8_t *) data;
                r.data.len = half;
                grpc_call_send(call, &r.base);
                r.offset = (int64_t) half;
                r.data.data = (uint8_t *) data + half;
                r.data.len = n - half;
                grpc_call_send(call, &r.base);
                grpc_call_finish(call, BERR_OK, NULL);
        }
        containerd__services__content__v1__read_content_request__free_unpacked(req, NULL);
}

static void h_pull(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__PullRequest *req = berth__v1__pull_request__unpack(NULL, len, msg);
        if (!req) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "bad request");
                return;
        }
        snprintf(seen.pull_ref, sizeof seen.pull_ref, "%s", req->ref);
        snprintf(seen.pull_platform, sizeof seen.pull_platform, "%s", req->platform);
        seen.pull_plain_http = req->plain_http;
        seen.pull_unpack = req->unpack;
        if (strstr(req->ref, "nosuch")) {
                grpc_call_finish(call, BERR_NOT_FOUND, "%s: not found", req->ref);
                berth__v1__pull_request__free_unpacked(req, NULL);
                return;
        }
        Berth__V1__PullProgress p = BERTH__V1__PULL_PROGRESS__INIT;
        p.phase = (char *) "resolving";
        grpc_call_send(call, &p.base);

        Berth__V1__LayerProgress l1 = BERTH__V1__LAYER_PROGRESS__INIT, l2 = BERTH__V1__LAYER_PROGRESS__INIT;
        Berth__V1__LayerProgress *ls[] = { &l1, &l2 };
        l1.digest = (char *) "sha256:1111111111111111aaaa";
        l1.status = (char *) "downloading";
        l1.total = 2000;
        l1.offset = 500;
        l1.rate = 1000;
        l2.digest = (char *) "sha256:2222222222222222bbbb";
        l2.status = (char *) "waiting";
        p.phase = (char *) "fetching";
        p.layers = ls;
        p.n_layers = 2;
        grpc_call_send(call, &p.base);

        l1.status = (char *) "done";
        l1.offset = 2000;
        l2.status = (char *) "exists";
        Berth__V1__PullDone done = BERTH__V1__PULL_DONE__INIT;
        done.name = req->ref;
        done.digest = store.index_digest;
        done.media_type = (char *) "application/vnd.oci.image.index.v1+json";
        done.size = 321;
        done.elapsed_ms = 12;
        p.phase = (char *) "done";
        p.done = &done;
        grpc_call_send(call, &p.base);
        grpc_call_finish(call, BERR_OK, NULL);
        berth__v1__pull_request__free_unpacked(req, NULL);
}

typedef struct import_state {
        sha256_ctx sha;
        size_t bytes;
        bool have_options;
} import_state;

static void h_import_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        import_state *st = grpc_call_get_state(call);
        if (!st) {
                st = xcalloc(1, sizeof *st);
                sha256_init(&st->sha);
                grpc_call_set_state(call, st);
        }
        Berth__V1__ImportRequest *req = berth__v1__import_request__unpack(NULL, len, msg);
        if (!req)
                return;
        if (req->options) {
                st->have_options = true;
                snprintf(seen.import_base_name, sizeof seen.import_base_name, "%s", req->options->base_name);
        }
        sha256_update(&st->sha, req->data.data, req->data.len);
        st->bytes += req->data.len;
        berth__v1__import_request__free_unpacked(req, NULL);
}

static void h_import_half_close(grpc_call *call, void *userdata) {
        import_state *st = grpc_call_get_state(call);
        grpc_call_set_state(call, NULL);
        if (!st || !st->have_options || st->bytes == 0) {
                free(st);
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "import: empty archive");
                return;
        }
        uint8_t out[32];
        sha256_final(&st->sha, out);
        char digest[80] = "sha256:";
        for (size_t i = 0; i < 32; i++)
                snprintf(digest + 7 + 2 * i, 3, "%02x", out[i]);
        seen.import_bytes = st->bytes;
        Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
        d.digest = digest;
        d.size = (int64_t) st->bytes;
        Berth__V1__ImportedImage im = BERTH__V1__IMPORTED_IMAGE__INIT, *ims[] = { &im };
        im.name = (char *) (*seen.import_base_name ? seen.import_base_name : "unnamed");
        im.target = &d;
        Berth__V1__ImportResponse r = BERTH__V1__IMPORT_RESPONSE__INIT;
        r.images = ims;
        r.n_images = 1;
        free(st);
        grpc_call_reply(call, &r.base);
}

static void h_import_cancel(grpc_call *call, void *userdata) {
        free(grpc_call_get_state(call));
        grpc_call_set_state(call, NULL);
}

#define EXPORT_BYTES (3u << 20)

static void h_export(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__ExportRequest *req = berth__v1__export_request__unpack(NULL, len, msg);
        if (!req || req->n_refs != 1 || image_index(req->refs[0]) < 0) {
                grpc_call_finish(call, BERR_NOT_FOUND, "image \"%s\": not found",
                                 req && req->n_refs ? req->refs[0] : "");
                berth__v1__export_request__free_unpacked(req, NULL);
                return;
        }
        snprintf(seen.export_format, sizeof seen.export_format, "%s", req->format);
        _cleanup_free_ uint8_t *chunk = xmalloc(256u << 10);
        for (size_t off = 0; off < EXPORT_BYTES; off += 256u << 10) {
                for (size_t i = 0; i < (256u << 10); i++)
                        chunk[i] = (uint8_t) ((off + i) * 31);
                Berth__V1__ExportChunk c = BERTH__V1__EXPORT_CHUNK__INIT;
                c.data.data = chunk;
                c.data.len = 256u << 10;
                grpc_call_send(call, &c.base);
        }
        grpc_call_finish(call, BERR_OK, NULL);
        berth__v1__export_request__free_unpacked(req, NULL);
}

static const grpc_method methods[] = {
        { "/containerd.services.version.v1.Version/Version", GRPC_UNARY, h_version, NULL, NULL },
        { "/berth.v1.Berth/Info", GRPC_UNARY, h_info, NULL, NULL },
        { "/containerd.services.images.v1.Images/List", GRPC_UNARY, h_list, NULL, NULL },
        { "/containerd.services.images.v1.Images/Get", GRPC_UNARY, h_get, NULL, NULL },
        { "/containerd.services.images.v1.Images/Delete", GRPC_UNARY, h_delete, NULL, NULL },
        { "/containerd.services.content.v1.Content/Read", GRPC_SERVER_STREAMING, h_read, NULL, NULL },
        { "/berth.v1.Berth/Pull", GRPC_SERVER_STREAMING, h_pull, NULL, NULL },
        { "/berth.v1.Berth/ImportImage", GRPC_CLIENT_STREAMING, h_import_message, h_import_half_close,
          h_import_cancel },
        { "/berth.v1.Berth/ExportImage", GRPC_SERVER_STREAMING, h_export, NULL, NULL },
};

/* ---- fixture: the server on its own thread ---- */

typedef struct fixture {
        char dir[64], sock[128];
        ev_loop *loop;
        grpc_server *srv;
        ev_source *stop_io;
        int stop[2];
        pthread_t thread;
} fixture;

static int on_stop(ev_source *s, int fd, uint32_t revents, void *userdata) {
        ev_loop_exit(ev_source_get_loop(s), 0);
        return 0;
}

static void *server_thread(void *p) {
        fixture *f = p;
        (void) ev_loop_run(f->loop);
        return NULL;
}

static void fixture_start(fixture *f) {
        memset(f, 0, sizeof *f);
        memset(&seen, 0, sizeof seen);
        store_init();
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berth-client-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/berthd.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        ASSERT_OK(grpc_server_register(f->srv, methods, ELEMENTSOF(methods), NULL, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->stop, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->stop_io, f->stop[0], EPOLLIN, on_stop, NULL));
        ASSERT_EQ(pthread_create(&f->thread, NULL, server_thread, f), 0);
}

static void fixture_stop(fixture *f) {
        (void) !write(f->stop[1], "x", 1);
        pthread_join(f->thread, NULL);
        f->srv = grpc_server_free(f->srv);
        ev_source_free(f->stop_io);
        safe_close(f->stop[0]);
        safe_close(f->stop[1]);
        ev_loop_free(f->loop);
        (void) unlink(f->sock);
        (void) rmdir(f->dir);
}

static berth_client *connect_test(fixture *f) {
        berth_client *c = NULL;
        berr *e = NULL;
        if (berth_client_connect(f->sock, "testns", &c, &e) < 0)
                TAP_FAIL("connect: %s", berth_error_message(e));
        return c;
}

/* ---- tests ---- */

TEST(connect_refused_names_the_address) {
        berth_client *c = NULL;
        berr *e = NULL;
        ASSERT_TRUE(berth_client_connect("unix:///tmp/berth-client-nonexistent/x.sock", NULL, &c, &e) < 0);
        ASSERT_NULL(c);
        ASSERT_EQ(berth_error_code(e), BERR_UNAVAILABLE);
        ASSERT_STREQ(berth_error_message(e),
                     "cannot connect to berthd at /tmp/berth-client-nonexistent/x.sock: No such file or directory");
        berth_error_free(e);
}

TEST(version_and_namespace_header) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        ASSERT_STREQ(berth_client_namespace(c), "testns");
        ASSERT_STREQ(berth_client_address(c), f.sock);
        berth_server_version v = {};
        berr *e = NULL;
        ASSERT_OK(berth_version(c, &v, &e));
        ASSERT_STREQ(v.version, "1.6.20+berth.test");
        ASSERT_STREQ(v.revision, "rev1");
        berth_server_version_done(&v);
        berth_client_set_namespace(c, "other");
        ASSERT_OK(berth_version(c, &v, &e));
        berth_server_version_done(&v);
        berth_client_free(c);
        fixture_stop(&f);
        ASSERT_STREQ(seen.namespace_, "other");
        ASSERT_STREQ(berth_client_version(), "0.1.0");
}

TEST(info) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        berth_info info = {};
        berr *e = NULL;
        ASSERT_OK(berth_info_get(c, &info, &e));
        ASSERT_STREQ(info.version, "0.1.0");
        ASSERT_STREQ(info.snapshotter, "overlayfs");
        ASSERT_STREQ(info.oci_runtime, "");
        ASSERT_EQ(info.pid, 4242);
        ASSERT_EQ(info.images, 3);
        ASSERT_EQ(info.content_bytes, 1 << 20);
        berth_info_done(&info);
        berth_client_free(c);
        fixture_stop(&f);
}

TEST(images_list_with_sizes_from_manifests) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        berth_image *images = NULL;
        size_t n = 0;
        berr *e = NULL;
        ASSERT_OK(berth_images_list(c, NULL, &images, &n, &e));
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(images[0].name, "docker.io/library/busybox:latest");
        ASSERT_STREQ(images[0].digest, store.index_digest);
        ASSERT_EQ(images[0].size, 3100); /* the host platform's manifest, not the first one */
        ASSERT_EQ(images[0].target_size, 321);
        ASSERT_EQ(images[0].created_at, 1700000000LL * 1000000000LL + 5);
        ASSERT_EQ(images[1].size, 30);
        ASSERT_EQ(images[2].size, -1); /* content missing */
        berth_images_free(images, n);

        /* Another namespace sees nothing (the header is what the server filters on). */
        berth_client_set_namespace(c, "elsewhere");
        ASSERT_OK(berth_images_list(c, NULL, &images, &n, &e));
        ASSERT_EQ(n, 0);
        berth_images_free(images, n);
        berth_client_free(c);
        fixture_stop(&f);
}

TEST(image_get_and_remove) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        berth_image img = {};
        berr *e = NULL;
        ASSERT_OK(berth_image_get(c, "127.0.0.1:5000/small:v1", &img, &e));
        ASSERT_EQ(img.size, 30);
        berth_image_done(&img);
        ASSERT_TRUE(berth_image_get(c, "nope", &img, &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        ASSERT_STREQ(berth_error_message(e), "image \"nope\": not found");
        berth_error_free(e);
        e = NULL;

        ASSERT_TRUE(berth_image_remove(c, "nope", &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        berth_error_free(e);
        e = NULL;
        ASSERT_OK(berth_image_remove(c, "docker.io/library/busybox:latest", &e));
        berth_client_free(c);
        fixture_stop(&f);
        ASSERT_STREQ(seen.deleted, "docker.io/library/busybox:latest");
        ASSERT_TRUE(seen.delete_sync);
}

typedef struct pull_log {
        int calls;
        char phases[128];
        int64_t offset_first_layer;
        bool saw_done;
} pull_log;

static void on_progress(const berth_pull_progress *p, void *userdata) {
        pull_log *l = userdata;
        l->calls++;
        strncat(l->phases, p->phase, sizeof l->phases - strlen(l->phases) - 2);
        strcat(l->phases, ",");
        if (p->n_layers > 0 && l->offset_first_layer == 0)
                l->offset_first_layer = p->layers[0].offset;
        if (p->done)
                l->saw_done = p->name && strcmp(p->name, "docker.io/library/busybox:latest") == 0;
}

TEST(pull_streams_progress_and_returns_the_image) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        pull_log log = {};
        berth_image img = {};
        berr *e = NULL;
        berth_pull_opts opts = { .plain_http = true, .platform = "linux/amd64" };
        ASSERT_OK(berth_pull(c, "busybox", &opts, on_progress, &log, &img, &e));
        ASSERT_EQ(log.calls, 3);
        ASSERT_STREQ(log.phases, "resolving,fetching,done,");
        ASSERT_EQ(log.offset_first_layer, 500);
        ASSERT_TRUE(log.saw_done);
        ASSERT_STREQ(img.name, "docker.io/library/busybox:latest");
        ASSERT_STREQ(img.digest, store.index_digest);
        ASSERT_EQ(img.target_size, 321);
        berth_image_done(&img);

        ASSERT_TRUE(berth_pull(c, "127.0.0.1:1/nosuch", NULL, NULL, NULL, &img, &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        ASSERT_STREQ(berth_error_message(e), "127.0.0.1:1/nosuch:latest: not found");
        berth_error_free(e);
        berth_client_free(c);
        fixture_stop(&f);
        ASSERT_STREQ(seen.pull_ref, "127.0.0.1:1/nosuch:latest");
        ASSERT_FALSE(seen.pull_plain_http);
        ASSERT_TRUE(seen.pull_unpack);
}

TEST(pull_request_fields) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        berr *e = NULL;
        berth_pull_opts opts = { .plain_http = true, .platform = "linux/arm64/v8", .no_unpack = true };
        ASSERT_OK(berth_pull(c, "docker.io/me/app:1", &opts, NULL, NULL, NULL, &e));
        berth_client_free(c);
        fixture_stop(&f);
        ASSERT_STREQ(seen.pull_ref, "docker.io/me/app:1");
        ASSERT_STREQ(seen.pull_platform, "linux/arm64/v8");
        ASSERT_TRUE(seen.pull_plain_http);
        ASSERT_FALSE(seen.pull_unpack);
}

TEST(import_streams_the_file) {
        fixture f;
        fixture_start(&f);
        /* 5 MiB + a bit: several chunks, and more than the HTTP/2 windows. */
        char path[128];
        snprintf(path, sizeof path, "%s/archive.tar", f.dir);
        size_t size = (5u << 20) + 123;
        _cleanup_free_ uint8_t *data = xmalloc(size);
        for (size_t i = 0; i < size; i++)
                data[i] = (uint8_t) (i * 7 + (i >> 12));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_OK(fd);
        ASSERT_EQ(write(fd, data, size), (ssize_t) size);
        close(fd);
        char hex[65], want[80];
        sha256_hex(data, size, hex);
        snprintf(want, sizeof want, "sha256:%s", hex);

        berth_client *c = connect_test(&f);
        berth_image *images = NULL;
        size_t n = 0;
        berr *e = NULL;
        berth_import_opts opts = { .base_name = "imported" };
        ASSERT_OK(berth_image_import(c, path, &opts, &images, &n, &e));
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(images[0].name, "imported");
        ASSERT_STREQ(images[0].digest, want);
        ASSERT_EQ(images[0].target_size, (int64_t) size);
        berth_images_free(images, n);

        ASSERT_TRUE(berth_image_import(c, "/nonexistent/file.tar", NULL, &images, &n, &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        berth_error_free(e);
        berth_client_free(c);
        (void) unlink(path);
        fixture_stop(&f);
        ASSERT_EQ(seen.import_bytes, size);
}

TEST(export_writes_atomically) {
        fixture f;
        fixture_start(&f);
        char path[128];
        snprintf(path, sizeof path, "%s/out.tar", f.dir);
        berth_client *c = connect_test(&f);
        berr *e = NULL;
        const char *refs[] = { "docker.io/library/busybox:latest", NULL };
        berth_export_opts opts = { .format = "docker" };
        ASSERT_OK(berth_image_export(c, refs, path, &opts, &e));
        struct stat st;
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_size, EXPORT_BYTES);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = xmalloc(EXPORT_BYTES);
        ASSERT_EQ(read(fd, buf, EXPORT_BYTES), (ssize_t) EXPORT_BYTES);
        close(fd);
        for (size_t i = 0; i < EXPORT_BYTES; i += 4093)
                ASSERT_EQ(buf[i], (uint8_t) (i * 31));
        (void) unlink(path);

        /* A failed export leaves nothing behind. */
        const char *missing[] = { "missing", NULL };
        ASSERT_TRUE(berth_image_export(c, missing, path, NULL, &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        berth_error_free(e);
        berth_client_free(c);
        fixture_stop(&f);
        ASSERT_STREQ(seen.export_format, "docker");
        ASSERT_TRUE(stat(path, &st) < 0 && errno == ENOENT);
        /* the dir is empty again (no temp file): fixture_stop's rmdir succeeded */
        ASSERT_TRUE(stat(f.dir, &st) < 0 && errno == ENOENT);
}

TEST(errors_when_the_daemon_goes_away) {
        fixture f;
        fixture_start(&f);
        berth_client *c = connect_test(&f);
        fixture_stop(&f);
        berth_server_version v = {};
        berr *e = NULL;
        ASSERT_TRUE(berth_version(c, &v, &e) < 0);
        ASSERT_EQ(berth_error_code(e), BERR_UNAVAILABLE);
        berth_error_free(e);
        berth_client_free(c);
}

TEST(reference_normalize) {
        static const char *const cases[][2] = {
                { "busybox", "docker.io/library/busybox:latest" },
                { "busybox:1.36", "docker.io/library/busybox:1.36" },
                { "me/app", "docker.io/me/app:latest" },
                { "docker.io/library/busybox:latest", "docker.io/library/busybox:latest" },
                { "127.0.0.1:5000/x", "127.0.0.1:5000/x:latest" },
                { "127.0.0.1:5000/x:v2", "127.0.0.1:5000/x:v2" },
                { "localhost/x", "localhost/x:latest" },
                { "ghcr.io/a/b@sha256:abcd", "ghcr.io/a/b@sha256:abcd" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *n = berth_reference_normalize(cases[i][0]);
                ASSERT_STREQ(n, cases[i][1]);
        }
}

/* The container side is implemented now (tests/unit/test-client-containers.c); what stays here: NULL is fine. */
TEST(container_accessors_accept_null) {
        ASSERT_NULL(berth_container_id(NULL));
        ASSERT_NULL(berth_container_free(NULL));
}
