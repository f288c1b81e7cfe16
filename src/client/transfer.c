/* libberth: image archives in and out of the daemon (berth.v1.Berth/ImportImage and ExportImage). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/v1/berth.pb-c.h"
#include "client/client-internal.h"

static ssize_t read_full(int fd, uint8_t *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t k = read(fd, buf + got, n - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        return (ssize_t) got;
}

static int write_full(int fd, const uint8_t *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Streams the archive; returns the decoded response. */
static int import_stream(berth_client *c, int fd, const char *path, const berth_import_opts *opts,
                         Berth__V1__ImportResponse **ret, berr **err) {
        Berth__V1__ImportOptions o = BERTH__V1__IMPORT_OPTIONS__INIT;
        o.unpack = !opts->no_unpack;
        o.all_platforms = opts->all_platforms;
        if (opts->snapshotter)
                o.snapshotter = (char *) opts->snapshotter;
        if (opts->base_name)
                o.base_name = (char *) opts->base_name;
        if (opts->platform)
                o.platform = (char *) opts->platform;

        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/berth.v1.Berth/ImportImage", 0, &s, err) < 0)
                return -1;
        Berth__V1__ImportRequest req = BERTH__V1__IMPORT_REQUEST__INIT;
        req.options = &o;
        int r = grpc_stream_send(s, &req.base, err);
        _cleanup_free_ uint8_t *buf = xmalloc(CLIENT_CHUNK_SIZE);
        while (r >= 0) {
                ssize_t n = read_full(fd, buf, CLIENT_CHUNK_SIZE);
                if (n < 0) {
                        r = berr_errno(err, errno, "import: read %s", path);
                        break;
                }
                if (n == 0)
                        break;
                req = (Berth__V1__ImportRequest) BERTH__V1__IMPORT_REQUEST__INIT;
                req.data.data = buf;
                req.data.len = (size_t) n;
                r = grpc_stream_send(s, &req.base, err);
        }
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        _cleanup_free_ uint8_t *msg = NULL;
        size_t len = 0;
        if (r >= 0) {
                r = grpc_stream_recv(s, &msg, &len, err);
                if (r == 0)
                        r = berr_set(err, BERR_INTERNAL, 0, "import: the daemon sent no response");
        }
        if (r > 0) {
                uint8_t *extra = NULL;
                size_t elen;
                r = grpc_stream_recv(s, &extra, &elen, err);
                free(extra);
                if (r > 0)
                        r = berr_set(err, BERR_INTERNAL, 0, "import: more than one response");
        }
        grpc_stream_free(s);
        if (r < 0)
                return -1;
        *ret = berth__v1__import_response__unpack(NULL, len, msg);
        if (!*ret)
                return berr_set(err, BERR_INTERNAL, 0, "import: undecodable ImportResponse");
        return 0;
}

int berth_image_import(berth_client *c, const char *path, const berth_import_opts *opts, berth_image **ret,
                       size_t *ret_n, berr **err) {
        static const berth_import_opts defaults = {};
        if (!opts)
                opts = &defaults;
        bool use_stdin = strcmp(path, "-") == 0;
        _cleanup_close_ int fd = use_stdin ? -1 : open(path, O_RDONLY | O_CLOEXEC);
        if (!use_stdin && fd < 0)
                return berr_errno(err, errno, "open %s", path);
        Berth__V1__ImportResponse *resp = NULL;
        if (import_stream(c, use_stdin ? STDIN_FILENO : fd, path, opts, &resp, err) < 0)
                return -1;
        berth_image *images = xcalloc(resp->n_images + 1, sizeof *images);
        for (size_t i = 0; i < resp->n_images; i++) {
                const Berth__V1__ImportedImage *im = resp->images[i];
                images[i] = (berth_image) {
                        .name = xstrdup(im->name),
                        .digest = xstrdup(im->target ? im->target->digest : ""),
                        .media_type = xstrdup(im->target ? im->target->media_type : ""),
                        .target_size = im->target ? im->target->size : 0,
                        .size = -1,
                };
        }
        *ret_n = resp->n_images;
        *ret = images;
        berth__v1__import_response__free_unpacked(resp, NULL);
        return 0;
}

static int export_stream(berth_client *c, const char *const *refs, const berth_export_opts *opts, int fd,
                         berr **err) {
        _cleanup_free_ char **names = NULL;
        size_t n = 0;
        for (const char *const *r = refs; r && *r; r++)
                n++;
        if (n == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "export: no image given");
        names = xcalloc(n + 1, sizeof *names);
        for (size_t i = 0; i < n; i++)
                names[i] = (char *) refs[i];

        Berth__V1__ExportRequest req = BERTH__V1__EXPORT_REQUEST__INIT;
        req.refs = names;
        req.n_refs = n;
        if (opts->platform)
                req.platform = (char *) opts->platform;
        if (opts->format)
                req.format = (char *) opts->format;
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/berth.v1.Berth/ExportImage", 0, &s, err) < 0)
                return -1;
        int r = grpc_stream_send(s, &req.base, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        while (r >= 0) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len = 0;
                r = grpc_stream_recv(s, &msg, &len, err);
                if (r <= 0)
                        break;
                Berth__V1__ExportChunk *chunk = berth__v1__export_chunk__unpack(NULL, len, msg);
                if (!chunk) {
                        r = berr_set(err, BERR_INTERNAL, 0, "export: undecodable ExportChunk");
                        break;
                }
                if (write_full(fd, chunk->data.data, chunk->data.len) < 0)
                        r = berr_errno(err, errno, "export: write");
                berth__v1__export_chunk__free_unpacked(chunk, NULL);
        }
        grpc_stream_free(s);
        return r < 0 ? -1 : 0;
}

int berth_image_export(berth_client *c, const char *const *refs, const char *path, const berth_export_opts *opts,
                       berr **err) {
        static const berth_export_opts defaults = {};
        if (!opts)
                opts = &defaults;
        if (strcmp(path, "-") == 0)
                return export_stream(c, refs, opts, STDOUT_FILENO, err);

        /* A temporary name next to the target, renamed into place only when the whole archive arrived. */
        _cleanup_free_ char *tmp = xasprintf("%s.berth-export-XXXXXX", path);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return berr_errno(err, errno, "export: create %s", path);
        (void) fchmod(fd, 0644);
        int r = export_stream(c, refs, opts, fd, err);
        if (r >= 0 && fsync(fd) < 0)
                r = berr_errno(err, errno, "export: fsync %s", path);
        if (r >= 0 && rename(tmp, path) < 0)
                r = berr_errno(err, errno, "export: rename to %s", path);
        if (r < 0)
                (void) unlink(tmp);
        return r;
}
