/* grpc-berth: drives berth.v1.Berth for integration tests, independent of the berth CLI.
 *   grpc-berth [-n NS] SOCKET pull [--plain-http] [--no-unpack] [--snapshotter S] [--platform P] [--user U:P] REF
 *       prints one line per progress message ("progress <phase> <n blobs> <bytes done>/<bytes total>" and one
 *       "blob <digest> <status> <offset>/<total>" per blob that changed), then
 *       "done <name> <digest> fetched=<n> resumed=<n> elapsed=<ms>"
 *   grpc-berth [-n NS] SOCKET info                      prints key=value lines
 *   grpc-berth [-n NS] SOCKET import [--no-unpack] [--base-name N] FILE   prints "imported <name> <digest>"
 *   grpc-berth [-n NS] SOCKET export [--docker] FILE REF...              writes the archive to FILE
 * Errors print "<CODE>: <message>" on stderr and exit 1; usage and transport errors exit 2. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "berth/v1/berth.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"

static int fail(const berr *e) {
        fprintf(stderr, "%s: %s\n", berr_code_name(e->code), e->msg ? e->msg : "");
        return 1;
}

static int pull(grpc_client *c, int argc, char **argv) {
        Berth__V1__PullRequest req = BERTH__V1__PULL_REQUEST__INIT;
        Berth__V1__RegistryAuth auth = BERTH__V1__REGISTRY_AUTH__INIT;
        req.unpack = true;
        int i;
        for (i = 0; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--plain-http") == 0)
                        req.plain_http = true;
                else if (strcmp(argv[i], "--no-unpack") == 0)
                        req.unpack = false;
                else if (strcmp(argv[i], "--snapshotter") == 0 && i + 1 < argc)
                        req.snapshotter = argv[++i];
                else if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc)
                        req.platform = argv[++i];
                else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
                        char *up = argv[++i], *colon = strchr(up, ':');
                        if (!colon)
                                return 2;
                        *colon = '\0';
                        auth.username = up;
                        auth.password = colon + 1;
                        req.auth = &auth;
                } else
                        return 2;
        }
        if (i != argc - 1)
                return 2;
        req.ref = argv[i];
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_stream_open(c, "/berth.v1.Berth/Pull", 0, &s, &e) < 0 || grpc_stream_send(s, &req.base, &e) < 0 ||
            grpc_stream_close_send(s, &e) < 0) {
                grpc_stream_free(s);
                return fail(e);
        }
        char **last = NULL;
        size_t n_last = 0;
        int rc = 1;
        for (;;) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(s, &buf, &len, &e);
                if (r < 0) {
                        rc = fail(e);
                        break;
                }
                if (r == 0)
                        break;
                Berth__V1__PullProgress *m = berth__v1__pull_progress__unpack(NULL, len, buf);
                if (!m) {
                        fprintf(stderr, "undecodable PullProgress\n");
                        rc = 2;
                        break;
                }
                int64_t done = 0, total = 0;
                for (size_t k = 0; k < m->n_layers; k++) {
                        done += m->layers[k]->offset;
                        total += m->layers[k]->total;
                }
                printf("progress %s %zu %" PRId64 "/%" PRId64 "\n", m->phase, m->n_layers, done, total);
                if (m->n_layers > n_last) {
                        last = realloc(last, m->n_layers * sizeof *last);
                        for (size_t k = n_last; k < m->n_layers; k++)
                                last[k] = NULL;
                        n_last = m->n_layers;
                }
                for (size_t k = 0; k < m->n_layers; k++) {
                        Berth__V1__LayerProgress *l = m->layers[k];
                        char line[512];
                        snprintf(line, sizeof line, "blob %s %s %" PRId64 "/%" PRId64 " rate=%" PRId64, l->digest,
                                 l->status, l->offset, l->total, l->rate);
                        if (!last[k] || strcmp(last[k], line) != 0) {
                                printf("%s\n", line);
                                free(last[k]);
                                last[k] = strdup(line);
                        }
                }
                if (m->done) {
                        printf("done %s %s fetched=%" PRId64 " resumed=%" PRId64 " elapsed=%" PRId64 "\n",
                               m->done->name, m->done->digest, m->done->fetched_bytes, m->done->resumed_bytes,
                               m->done->elapsed_ms);
                        rc = 0;
                }
                fflush(stdout);
                berth__v1__pull_progress__free_unpacked(m, NULL);
        }
        for (size_t k = 0; k < n_last; k++)
                free(last[k]);
        free(last);
        grpc_stream_free(s);
        return rc;
}

static int info(grpc_client *c) {
        Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_unary(c, "/berth.v1.Berth/Info", &req.base, 10000000, &resp, &len, &e) < 0)
                return fail(e);
        Berth__V1__InfoResponse *r = berth__v1__info_response__unpack(NULL, len, resp);
        if (!r)
                return 2;
        printf("version=%s\nroot=%s\nstate=%s\nsnapshotter=%s\npid=%u\nnamespaces=%" PRId64 "\nimages=%" PRId64
               "\ncontent_blobs=%" PRId64 "\ncontent_bytes=%" PRId64 "\nsnapshots=%" PRId64 "\nleases=%" PRId64 "\n",
               r->version, r->root, r->state, r->snapshotter, r->pid, r->namespaces, r->images, r->content_blobs,
               r->content_bytes, r->snapshots, r->leases);
        berth__v1__info_response__free_unpacked(r, NULL);
        return 0;
}

static int import(grpc_client *c, int argc, char **argv) {
        Berth__V1__ImportOptions o = BERTH__V1__IMPORT_OPTIONS__INIT;
        o.unpack = true;
        int i;
        for (i = 0; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "--no-unpack") == 0)
                        o.unpack = false;
                else if (strcmp(argv[i], "--base-name") == 0 && i + 1 < argc)
                        o.base_name = argv[++i];
                else
                        return 2;
        }
        if (i != argc - 1)
                return 2;
        _cleanup_close_ int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                perror(argv[i]);
                return 2;
        }
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        _cleanup_free_ uint8_t *resp = NULL, *more = NULL;
        size_t len = 0;
        if (grpc_client_stream_open(c, "/berth.v1.Berth/ImportImage", 0, &s, &e) < 0)
                return fail(e);
        Berth__V1__ImportRequest first = BERTH__V1__IMPORT_REQUEST__INIT;
        first.options = &o;
        int rc = 1;
        if (grpc_stream_send(s, &first.base, &e) < 0)
                goto out;
        static uint8_t buf[1 << 20];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        perror("read");
                        rc = 2;
                        goto done;
                }
                if (n == 0)
                        break;
                Berth__V1__ImportRequest req = BERTH__V1__IMPORT_REQUEST__INIT;
                req.data.data = buf;
                req.data.len = (size_t) n;
                if (grpc_stream_send(s, &req.base, &e) < 0)
                        goto out;
        }
        if (grpc_stream_close_send(s, &e) < 0)
                goto out;
        if (grpc_stream_recv(s, &resp, &len, &e) < 0)
                goto out;
        Berth__V1__ImportResponse *r = berth__v1__import_response__unpack(NULL, len, resp);
        if (!r) {
                rc = 2;
                goto done;
        }
        for (size_t k = 0; k < r->n_images; k++)
                printf("imported %s %s\n", r->images[k]->name, r->images[k]->target ? r->images[k]->target->digest : "");
        berth__v1__import_response__free_unpacked(r, NULL);
        /* the trailing status */
        if (grpc_stream_recv(s, &more, &len, &e) < 0)
                goto out;
        rc = 0;
        goto done;
out:
        rc = fail(e);
done:
        grpc_stream_free(s);
        return rc;
}

static int export(grpc_client *c, int argc, char **argv) {
        Berth__V1__ExportRequest req = BERTH__V1__EXPORT_REQUEST__INIT;
        int i = 0;
        if (i < argc && strcmp(argv[i], "--docker") == 0) {
                req.format = (char *) "docker";
                i++;
        }
        if (argc - i < 2)
                return 2;
        const char *file = argv[i++];
        req.refs = argv + i;
        req.n_refs = (size_t) (argc - i);
        _cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                perror(file);
                return 2;
        }
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        int rc = 1;
        if (grpc_client_stream_open(c, "/berth.v1.Berth/ExportImage", 0, &s, &e) < 0 ||
            grpc_stream_send(s, &req.base, &e) < 0 || grpc_stream_close_send(s, &e) < 0)
                goto out;
        for (;;) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(s, &buf, &len, &e);
                if (r < 0)
                        goto out;
                if (r == 0)
                        break;
                Berth__V1__ExportChunk *ch = berth__v1__export_chunk__unpack(NULL, len, buf);
                if (!ch) {
                        rc = 2;
                        goto done;
                }
                int w = write_all(fd, ch->data.data, ch->data.len);
                berth__v1__export_chunk__free_unpacked(ch, NULL);
                if (w < 0) {
                        perror("write");
                        rc = 2;
                        goto done;
                }
        }
        rc = 0;
        goto done;
out:
        rc = fail(e);
done:
        grpc_stream_free(s);
        return rc;
}

int main(int argc, char **argv) {
        const char *ns = "default";
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "-n") == 0) {
                ns = argv[2];
                i = 3;
        }
        if (argc - i < 2) {
                fprintf(stderr, "usage: grpc-berth [-n NS] SOCKET pull|info|import|export ...\n");
                return 2;
        }
        grpc_client *c = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_connect_unix(argv[i], &c, &e) < 0) {
                fprintf(stderr, "connect %s: %s\n", argv[i], e->msg);
                return 2;
        }
        grpc_md md = { "containerd-namespace", ns };
        grpc_client_set_default_metadata(c, &md, 1);
        const char *cmd = argv[i + 1];
        int rc;
        if (strcmp(cmd, "pull") == 0)
                rc = pull(c, argc - i - 2, argv + i + 2);
        else if (strcmp(cmd, "info") == 0)
                rc = info(c);
        else if (strcmp(cmd, "import") == 0)
                rc = import(c, argc - i - 2, argv + i + 2);
        else if (strcmp(cmd, "export") == 0)
                rc = export(c, argc - i - 2, argv + i + 2);
        else
                rc = 2;
        if (rc == 2)
                fprintf(stderr, "grpc-berth: usage error or transport failure\n");
        grpc_client_free(c);
        return rc;
}
