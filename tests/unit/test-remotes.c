/* The registry client against a real docker-registry (started here with scripts/registry.sh; skipped when the
 * binary is missing) and against a small HTTP server of our own in a thread, which misbehaves on purpose:
 * drops connections mid-blob, ignores Range, serves wrong digests, oversized or unknown documents, and speaks
 * the bearer token protocol. Tests run from the repository root. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/fileio.h"
#include "basic/strv.h"
#include "remotes/auth.h"
#include "remotes/credentials.h"
#include "remotes/hosts.h"
#include "remotes/registry.h"
#include "tap.h"

/* ---- helpers ------------------------------------------------------------------------------------------ */

static char *sha256_of(const void *buf, size_t len) {
        unsigned char md[32];
        unsigned n;
        EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
        char *s = xmalloc(7 + 64 + 1);
        strcpy(s, "sha256:");
        for (int i = 0; i < 32; i++)
                sprintf(s + 7 + 2 * i, "%02x", md[i]);
        return s;
}

typedef struct sink {
        char *buf;
        size_t len, cap;
        int fail_after; /* make write() fail once this many bytes arrived (0: never) */
} sink;

static int sink_write(const void *buf, size_t len, void *userdata) {
        sink *s = userdata;
        if (s->len + len + 1 > s->cap) {
                s->cap = (s->len + len + 1) * 2;
                s->buf = xrealloc(s->buf, s->cap);
        }
        memcpy(s->buf + s->len, buf, len);
        s->len += len;
        if (s->fail_after && s->len >= (size_t) s->fail_after)
                return -1;
        return 0;
}

static char *tmpdir(void) {
        char *d = xstrdup("/tmp/berth-test-remotes.XXXXXX");
        if (!mkdtemp(d))
                abort();
        return d;
}

static void rmtree(const char *d) {
        berr *e = NULL;
        if (rm_rf(d, &e) < 0)
                berr_free(e);
}

static registry *new_registry(const registry_options *o) {
        registry *r = NULL;
        berr *e = NULL;
        if (registry_new(o, &r, &e) < 0)
                abort();
        return r;
}

static image_ref *ref_of(const char *s) {
        image_ref *r = NULL;
        berr *e = NULL;
        if (image_ref_parse_normalized(s, &r, &e) < 0) {
                printf("# %s\n", e->msg);
                abort();
        }
        return r;
}

/* ---- a small HTTP/1.1 server in a thread ------------------------------------------------------------------ */

typedef struct blob {
        char *data;
        size_t len;
        char *digest;
} blob;

typedef struct srv {
        int lfd, port;
        pthread_t thread;
        atomic_bool stop;
        /* behaviour */
        int drop_mode;       /* 1: drop a blob GET without Range halfway; 2: drop every blob GET halfway */
        bool ignore_range;   /* answer Range requests with 200 and the whole blob */
        bool bearer;         /* require "Bearer tok123"; /token hands it out */
        const char *token_basic; /* /token requires this "Authorization: Basic ..." value (NULL: anonymous) */
        bool redirect;       /* blob GETs redirect to /storage/<digest> */
        bool head_no_digest; /* HEAD without Docker-Content-Digest (and without Content-Length) */
        bool stall;          /* blob GETs send a little, then stall until stop */
        bool not_found;      /* everything is 404 */
        const char *manifest_type;
        char *manifest;
        size_t manifest_len;
        char *manifest_digest;    /* the digest the manifest is served under */
        bool manifest_no_length;  /* GET manifest without Content-Length (close-delimited) */
        blob blobs[4];
        size_t n_blobs;
        /* observations */
        atomic_int requests, token_requests, range_requests, ns_requests, blob_gets;
        atomic_int active; /* connection threads running */
} srv;

typedef struct req {
        char method[16];
        char path[2048];
        char range[128];
        char auth[512];
} req;

static void send_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
                if (n <= 0)
                        return;
                p += n;
                len -= n;
        }
}

static void send_str(int fd, const char *s) {
        send_all(fd, s, strlen(s));
}

static void respond(int fd, int status, const char *reason, const char *headers, const void *body, size_t len,
                    bool head) {
        char *h = xasprintf("HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n", status, reason,
                            len, headers ? headers : "");
        send_str(fd, h);
        free(h);
        if (!head && len)
                send_all(fd, body, len);
}

static bool read_request(int fd, req *rq) {
        char buf[8192];
        size_t n = 0;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (n < sizeof buf - 1) {
                if (poll(&p, 1, 5000) <= 0)
                        return false;
                ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
                if (k <= 0)
                        return false;
                n += k;
                buf[n] = '\0';
                if (strstr(buf, "\r\n\r\n"))
                        break;
        }
        memset(rq, 0, sizeof *rq);
        if (sscanf(buf, "%15s %2047s", rq->method, rq->path) != 2)
                return false;
        for (char *line = strstr(buf, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
                char *l = line + 2;
                size_t ll = strcspn(l, "\r");
                if (strncasecmp(l, "Range: ", 7) == 0)
                        snprintf(rq->range, sizeof rq->range, "%.*s", (int) (ll - 7), l + 7);
                else if (strncasecmp(l, "Authorization: ", 15) == 0)
                        snprintf(rq->auth, sizeof rq->auth, "%.*s", (int) (ll - 15), l + 15);
        }
        return true;
}

static const char unauthorized_body[] =
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}";

static void serve_blob(srv *s, int fd, const req *rq, const blob *b) {
        atomic_fetch_add(&s->blob_gets, 1);
        uint64_t from = 0;
        bool ranged = false;
        if (rq->range[0] && sscanf(rq->range, "bytes=%" SCNu64 "-", &from) == 1) {
                atomic_fetch_add(&s->range_requests, 1);
                ranged = !s->ignore_range;
        }
        if (!ranged)
                from = 0;
        if (from > b->len)
                from = b->len;
        size_t left = b->len - from;
        char *h = ranged ? xasprintf("HTTP/1.1 206 Partial Content\r\nConnection: close\r\nContent-Length: %zu\r\n"
                                     "Content-Range: bytes %" PRIu64 "-%zu/%zu\r\n"
                                     "Content-Type: application/octet-stream\r\n\r\n",
                                     left, from, b->len - 1, b->len)
                         : xasprintf("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %zu\r\n"
                                     "Content-Type: application/octet-stream\r\n\r\n",
                                     left);
        send_str(fd, h);
        free(h);
        if (s->stall) {
                /* A trickle, then silence (curl's speed check averages over seconds: keep the burst small). */
                send_all(fd, b->data + from, 100);
                for (int i = 0; i < 200 && !atomic_load(&s->stop); i++)
                        usleep(50 * 1000);
                return;
        }
        bool drop = (s->drop_mode == 1 && !rq->range[0]) || s->drop_mode == 2;
        send_all(fd, b->data + from, drop ? left / 2 : left);
}

static void handle(srv *s, int fd, const req *rq) {
        atomic_fetch_add(&s->requests, 1);
        bool head = strcmp(rq->method, "HEAD") == 0;
        if (strstr(rq->path, "?ns="))
                atomic_fetch_add(&s->ns_requests, 1);
        if (s->not_found) {
                const char *nk = "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known\"}]}";
                respond(fd, 404, "Not Found", "Content-Type: application/json\r\n", nk, strlen(nk), head);
                return;
        }
        if (strncmp(rq->path, "/token", 6) == 0) {
                atomic_fetch_add(&s->token_requests, 1);
                if (s->token_basic && strcmp(rq->auth, s->token_basic) != 0) {
                        respond(fd, 401, "Unauthorized", "Content-Type: application/json\r\n", unauthorized_body,
                                strlen(unauthorized_body), head);
                        return;
                }
                if (!strstr(rq->path, "scope=repository%3Atest%2Fapp%3Apull")) {
                        respond(fd, 400, "Bad Request", NULL, "bad scope", 9, head);
                        return;
                }
                const char *tok = "{\"token\":\"tok123\",\"expires_in\":300}";
                respond(fd, 200, "OK", "Content-Type: application/json\r\n", tok, strlen(tok), head);
                return;
        }
        if (s->bearer && strcmp(rq->auth, "Bearer tok123") != 0) {
                char *h = xasprintf("Content-Type: application/json\r\nWWW-Authenticate: Bearer "
                                    "realm=\"http://127.0.0.1:%d/token\",service=\"test-registry\","
                                    "scope=\"repository:test/app:pull\"\r\n",
                                    s->port);
                respond(fd, 401, "Unauthorized", h, unauthorized_body, strlen(unauthorized_body), head);
                free(h);
                return;
        }
        char path[2048];
        snprintf(path, sizeof path, "%.*s", (int) strcspn(rq->path, "?"), rq->path);
        const char *mprefix = "/v2/test/app/manifests/";
        if (strncmp(path, mprefix, strlen(mprefix)) == 0 && s->manifest) {
                const char *obj = path + strlen(mprefix);
                if (strcmp(obj, "latest") != 0 && strcmp(obj, s->manifest_digest) != 0) {
                        respond(fd, 404, "Not Found", NULL, NULL, 0, head);
                        return;
                }
                if (head && s->head_no_digest) {
                        char *h = xasprintf("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: %s\r\n\r\n",
                                            s->manifest_type);
                        send_str(fd, h);
                        free(h);
                        return;
                }
                if (!head && s->manifest_no_length) {
                        char *h = xasprintf("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: %s\r\n\r\n",
                                            s->manifest_type);
                        send_str(fd, h);
                        free(h);
                        send_all(fd, s->manifest, s->manifest_len);
                        return;
                }
                char *h = xasprintf("Content-Type: %s\r\nDocker-Content-Digest: %s\r\n", s->manifest_type,
                                    s->manifest_digest);
                respond(fd, 200, "OK", h, s->manifest, s->manifest_len, head);
                free(h);
                return;
        }
        const char *bprefix = "/v2/test/app/blobs/", *sprefix = "/storage/";
        const char *digest = NULL;
        if (strncmp(path, bprefix, strlen(bprefix)) == 0) {
                digest = path + strlen(bprefix);
                if (s->redirect) {
                        char *h = xasprintf("Location: /storage/%s\r\n", digest);
                        respond(fd, 307, "Temporary Redirect", h, NULL, 0, head);
                        free(h);
                        return;
                }
        } else if (strncmp(path, sprefix, strlen(sprefix)) == 0) {
                digest = path + strlen(sprefix);
        }
        for (size_t i = 0; digest && i < s->n_blobs; i++)
                if (strcmp(s->blobs[i].digest, digest) == 0) {
                        serve_blob(s, fd, rq, &s->blobs[i]);
                        return;
                }
        const char *nf = "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\"}]}";
        respond(fd, 404, "Not Found", "Content-Type: application/json\r\n", nf, strlen(nf), head);
}

typedef struct conn {
        srv *s;
        int fd;
} conn;

/* One thread per connection, so a client holding one connection idle cannot block the others. */
static void *conn_main(void *userdata) {
        conn *c = userdata;
        req rq;
        if (read_request(c->fd, &rq))
                handle(c->s, c->fd, &rq);
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
        atomic_fetch_sub(&c->s->active, 1);
        free(c);
        return NULL;
}

static void *srv_main(void *userdata) {
        srv *s = userdata;
        while (!atomic_load(&s->stop)) {
                struct pollfd p = { .fd = s->lfd, .events = POLLIN };
                if (poll(&p, 1, 50) <= 0)
                        continue;
                int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        continue;
                conn *c = xmalloc(sizeof *c);
                *c = (conn) { .s = s, .fd = fd };
                atomic_fetch_add(&s->active, 1);
                pthread_t t;
                if (pthread_create(&t, NULL, conn_main, c) != 0)
                        abort();
                pthread_detach(t);
        }
        while (atomic_load(&s->active) > 0)
                usleep(1000);
        return NULL;
}

static void srv_start(srv *s) {
        s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *) &a, sizeof a) < 0 || listen(s->lfd, 64) < 0)
                abort();
        socklen_t l = sizeof a;
        getsockname(s->lfd, (struct sockaddr *) &a, &l);
        s->port = ntohs(a.sin_port);
        if (pthread_create(&s->thread, NULL, srv_main, s) != 0)
                abort();
}

static void srv_stop(srv *s) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
        close(s->lfd);
        for (size_t i = 0; i < s->n_blobs; i++) {
                free(s->blobs[i].data);
                free(s->blobs[i].digest);
        }
        free(s->manifest);
        free(s->manifest_digest);
}

static void srv_add_blob(srv *s, size_t len, unsigned seed) {
        blob *b = &s->blobs[s->n_blobs++];
        b->data = xmalloc(len ? len : 1);
        uint32_t x = seed * 2654435761u + 1;
        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b->data[i] = (char) x;
        }
        b->len = len;
        b->digest = sha256_of(b->data, len);
}

static void srv_set_manifest(srv *s, const char *type, const char *body, size_t len) {
        /* A connection thread may still be sending the old manifest to a client that gave up on it (a body cut at
         * the size limit): it ends once the send fails. Replace the manifest only then. */
        for (int i = 0; i < 5000 && atomic_load(&s->active) > 0; i++)
                usleep(1000);
        if (atomic_load(&s->active) > 0)
                TAP_FAIL("a connection thread of the test server is still busy");
        free(s->manifest);
        free(s->manifest_digest);
        s->manifest_type = type;
        s->manifest = xmalloc(len + 1);
        memcpy(s->manifest, body, len);
        s->manifest_len = len;
        s->manifest_digest = sha256_of(body, len);
}

static image_ref *srv_ref(const srv *s) {
        char buf[128];
        snprintf(buf, sizeof buf, "127.0.0.1:%d/test/app:latest", s->port);
        return ref_of(buf);
}

static oci_descriptor blob_desc(const blob *b) {
        return (oci_descriptor) { .media_type = (char *) MT_OCI_LAYER_GZIP, .digest = b->digest,
                                  .size = (int64_t) b->len };
}

/* ---- pure units ---------------------------------------------------------------------------------------------- */

TEST(auth_challenge_parsing) {
        auth_challenge c;
        auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                             "scope=\"repository:library/busybox:pull\"",
                             &c);
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BEARER);
        ASSERT_STREQ(c.realm, "https://auth.docker.io/token");
        ASSERT_STREQ(c.service, "registry.docker.io");
        ASSERT_STREQ(c.scope, "repository:library/busybox:pull");
        auth_challenge_done(&c);
        auth_challenge_parse("basic Realm=berth-test", &c);
        ASSERT_EQ(c.scheme, AUTH_SCHEME_BASIC);
        ASSERT_STREQ(c.realm, "berth-test");
        auth_challenge_done(&c);
        auth_challenge_parse("Bearer realm=\"a\\\"b\", error=\"invalid_token\"", &c);
        ASSERT_STREQ(c.realm, "a\"b");
        ASSERT_STREQ(c.error, "invalid_token");
        auth_challenge_done(&c);
        auth_challenge_parse("Negotiate abc", &c);
        ASSERT_EQ(c.scheme, AUTH_SCHEME_NONE);
        auth_challenge_done(&c);
        auth_challenge_parse("Bearer realm=\"unterminated", &c);
        ASSERT_NULL(c.realm);
        auth_challenge_done(&c);
}

TEST(base64) {
        char *e = registry_base64_encode("alice:secret", 12);
        ASSERT_STREQ(e, "YWxpY2U6c2VjcmV0");
        size_t n;
        char *d = registry_base64_decode(e, &n);
        ASSERT_STREQ(d, "alice:secret");
        ASSERT_EQ(n, 12);
        free(d);
        free(e);
        e = registry_base64_encode("ab", 2);
        ASSERT_STREQ(e, "YWI=");
        d = registry_base64_decode("YWI", NULL); /* padding optional */
        ASSERT_STREQ(d, "ab");
        free(d);
        free(e);
        ASSERT_NULL(registry_base64_decode("a$b=", NULL));
}

TEST(docker_config_credentials) {
        char *dir = tmpdir();
        char *path = xasprintf("%s/config.json", dir);
        const char *json = "{\"auths\":{"
                           "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOmh1YnB3\"},"
                           "\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6c2VjcmV0\"},"
                           "\"http://reg.example.com:8443/v2/\":{\"username\":\"bob\",\"password\":\"pw:with:colons\"},"
                           "\"empty.example.com\":{}}}";
        berr *e = NULL;
        ASSERT_OK(write_file_atomic(path, json, strlen(json), 0600, &e));
        char *u = NULL, *p = NULL;
        ASSERT_EQ(registry_credentials_lookup(path, "127.0.0.1:5000", &u, &p, &e), 1);
        ASSERT_STREQ(u, "alice");
        ASSERT_STREQ(p, "secret");
        free(u);
        free(p);
        ASSERT_EQ(registry_credentials_lookup(path, "registry-1.docker.io", &u, &p, &e), 1);
        ASSERT_STREQ(u, "hub");
        free(u);
        free(p);
        ASSERT_EQ(registry_credentials_lookup(path, "reg.example.com:8443", &u, &p, &e), 1);
        ASSERT_STREQ(p, "pw:with:colons");
        free(u);
        free(p);
        ASSERT_EQ(registry_credentials_lookup(path, "127.0.0.1:5001", &u, &p, &e), 0);
        ASSERT_EQ(registry_credentials_lookup(path, "empty.example.com", &u, &p, &e), 0);
        char *missing = xasprintf("%s/nope.json", dir);
        ASSERT_EQ(registry_credentials_lookup(missing, "127.0.0.1:5000", &u, &p, &e), 0);
        free(missing);

        /* $DOCKER_CONFIG picks the directory when no path is given. */
        setenv("DOCKER_CONFIG", dir, 1);
        char *def = registry_docker_config_path(NULL);
        ASSERT_STREQ(def, path);
        free(def);
        unsetenv("DOCKER_CONFIG");

        const char *bad = "{\"auths\":{\"h\":{\"auth\":\"!!\"}}}";
        ASSERT_OK(write_file_atomic(path, bad, strlen(bad), 0600, &e));
        ASSERT_TRUE(registry_credentials_lookup(path, "h", &u, &p, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "not base64") != NULL);
        berr_free(e);
        free(path);
        rmtree(dir);
        free(dir);
}

TEST(hosts_toml) {
        const char *text = "# mirrors first\n"
                           "server = \"https://registry.example.com\"\n"
                           "ca = \"origin-ca.crt\"\n"
                           "\n"
                           "[host.\"http://127.0.0.1:5001\"]\n"
                           "  capabilities = [\"pull\", \"resolve\"]\n"
                           "  skip_verify = true\n"
                           "  [host.\"http://127.0.0.1:5001\".header]\n"
                           "    x-mirror = \"yes\"\n"
                           "[host.'https://mirror.example.com/proxy']\n"
                           "  capabilities = [\n"
                           "    \"pull\",   # blobs only\n"
                           "  ]\n"
                           "  ca = [\"/abs/ca.pem\", \"second.pem\"]\n"
                           "  client = [[\"c.cert\", \"c.key\"]]\n"
                           "[host.\"https://raw.example.com/api\"]\n"
                           "  override_path = true\n";
        registry_host *h = NULL;
        size_t n = 0;
        berr *e = NULL;
        ASSERT_OK(registry_hosts_parse(text, "/etc/berth/certs.d/registry.example.com", "registry.example.com", &h,
                                       &n, &e));
        ASSERT_EQ(n, 4);
        ASSERT_STREQ(h[0].scheme, "http");
        ASSERT_STREQ(h[0].host, "127.0.0.1:5001");
        ASSERT_STREQ(h[0].path, "/v2");
        ASSERT_EQ(h[0].caps, REGISTRY_CAP_PULL | REGISTRY_CAP_RESOLVE);
        ASSERT_TRUE(h[0].skip_verify);
        ASSERT_TRUE(h[0].mirror);
        ASSERT_STREQ(h[0].headers[0], "x-mirror: yes");
        ASSERT_STREQ(h[1].host, "mirror.example.com");
        ASSERT_STREQ(h[1].path, "/proxy/v2");
        ASSERT_EQ(h[1].caps, REGISTRY_CAP_PULL);
        ASSERT_STREQ(h[1].ca_file, "/abs/ca.pem");
        ASSERT_STREQ(h[1].client_cert, "/etc/berth/certs.d/registry.example.com/c.cert");
        ASSERT_STREQ(h[1].client_key, "/etc/berth/certs.d/registry.example.com/c.key");
        ASSERT_STREQ(h[2].path, "/api");
        ASSERT_STREQ(h[3].scheme, "https");
        ASSERT_STREQ(h[3].host, "registry.example.com");
        ASSERT_STREQ(h[3].ca_file, "/etc/berth/certs.d/registry.example.com/origin-ca.crt");
        ASSERT_FALSE(h[3].mirror);
        ASSERT_EQ(h[3].caps, REGISTRY_CAP_PULL | REGISTRY_CAP_RESOLVE | REGISTRY_CAP_PUSH);
        registry_hosts_free(h, n);

        /* Defaults without a file: docker.io → registry-1, loopback → plain http. */
        ASSERT_OK(registry_hosts_lookup(NULL, "docker.io", false, false, &h, &n, &e));
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(h[0].host, "registry-1.docker.io");
        ASSERT_STREQ(h[0].scheme, "https");
        ASSERT_FALSE(h[0].mirror);
        registry_hosts_free(h, n);
        ASSERT_OK(registry_hosts_lookup("/nonexistent", "127.0.0.1:5000", false, false, &h, &n, &e));
        ASSERT_STREQ(h[0].scheme, "http");
        registry_hosts_free(h, n);
        ASSERT_OK(registry_hosts_lookup(NULL, "registry.example.com", true, true, &h, &n, &e));
        ASSERT_STREQ(h[0].scheme, "http");
        ASSERT_TRUE(h[0].skip_verify);
        registry_hosts_free(h, n);

        /* Inline settings over a list: mirrors first, origin settings last. */
        ASSERT_OK(registry_hosts_parse(NULL, NULL, "registry.example.com", &h, &n, &e));
        char *mirrors[] = { (char *) "mirror.example.com:5000", (char *) "https://m2.example.com/base", NULL };
        ASSERT_OK(registry_hosts_apply(&h, &n, "registry.example.com", true, false, "/ca.pem", mirrors, &e));
        ASSERT_EQ(n, 3);
        ASSERT_STREQ(h[0].scheme, "http");
        ASSERT_STREQ(h[0].host, "mirror.example.com:5000");
        ASSERT_TRUE(h[0].mirror);
        ASSERT_STREQ(h[1].scheme, "https");
        ASSERT_STREQ(h[1].path, "/base/v2");
        ASSERT_STREQ(h[2].scheme, "http");
        ASSERT_STREQ(h[2].host, "registry.example.com");
        ASSERT_STREQ(h[2].ca_file, "/ca.pem");
        ASSERT_FALSE(h[2].mirror);
        registry_hosts_free(h, n);

        ASSERT_TRUE(registry_host_is_loopback("localhost:5000"));
        ASSERT_TRUE(registry_host_is_loopback("127.1.2.3"));
        ASSERT_TRUE(registry_host_is_loopback("[::1]:5000"));
        ASSERT_FALSE(registry_host_is_loopback("10.0.0.1:5000"));

        static const char *const bad[][2] = {
                { "server = \"x\"\nbogus", "expected '='" },
                { "[host.\"h\"]\ncapabilities = [\"fly\"]\n", "unknown capability fly" },
                { "skip_verify = \"yes\"\n", "invalid type for \"skip_verify\"" },
                { "a = {b = 1}\n", "inline tables are not supported" },
                { "[[host]]\n", "arrays of tables" },
                { "server = \"unterminated\n", "unterminated string" },
                { "server = \"ftp://x\"\n", "unsupported URL scheme" },
                { "x = 1979-05-27\n", "unsupported number or date" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (registry_hosts_parse(bad[i][0], NULL, "h", &h, &n, &e) == 0)
                        TAP_FAIL("hosts %zu parsed", i);
                if (!strstr(e->msg, bad[i][1]))
                        TAP_FAIL("hosts %zu: %s", i, e->msg);
                berr_free(e);
                e = NULL;
        }
}

/* ---- our own server ---------------------------------------------------------------------------------------- */

TEST(resolve_and_fetch_own_server) {
        srv s = { 0 };
        srv_add_blob(&s, 300000, 1);
        const char *doc = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"config\":{\"mediaType\":"
                          "\"" MT_OCI_CONFIG "\",\"size\":2,\"digest\":\"sha256:"
                          "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},\"layers\":[]}";
        srv_set_manifest(&s, MT_OCI_MANIFEST, doc, strlen(doc));
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        berr *e = NULL;

        oci_descriptor *d = NULL;
        ASSERT_OK(registry_resolve(r, ref, &d, &e));
        ASSERT_STREQ(d->media_type, MT_OCI_MANIFEST);
        ASSERT_STREQ(d->digest, s.manifest_digest);
        ASSERT_EQ(d->size, (int64_t) s.manifest_len);
        ASSERT_EQ(atomic_load(&s.requests), 1); /* HEAD was enough */
        char *body = NULL;
        size_t len;
        ASSERT_OK(registry_fetch_manifest(r, ref, d, &body, &len, &e));
        ASSERT_EQ(len, s.manifest_len);
        ASSERT_TRUE(memcmp(body, s.manifest, len) == 0);
        free(body);
        oci_descriptor_free(d);

        /* HEAD without digest: resolve GETs and digests the body itself. */
        s.head_no_digest = true;
        ASSERT_OK(registry_resolve(r, ref, &d, &e));
        ASSERT_STREQ(d->digest, s.manifest_digest);
        ASSERT_EQ(d->size, (int64_t) s.manifest_len);
        oci_descriptor_free(d);
        s.head_no_digest = false;

        /* A blob with digest verification, through a redirect. */
        s.redirect = true;
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &f, &e));
        ASSERT_TRUE(f.finished);
        ASSERT_EQ(f.received, s.blobs[0].len);
        ASSERT_EQ(k.len, s.blobs[0].len);
        ASSERT_TRUE(memcmp(k.buf, s.blobs[0].data, k.len) == 0);
        free(k.buf);
        registry_fetch_done(&f);

        /* Unknown blob: not found. */
        oci_descriptor missing = { .media_type = (char *) MT_OCI_LAYER,
                                   .digest = (char *) "sha256:"
                                                      "0000000000000000000000000000000000000000000000000000000000000000",
                                   .size = 10 };
        k = (sink) { 0 };
        registry_fetch f2 = { .desc = &missing, .write = sink_write, .userdata = &k };
        ASSERT_TRUE(registry_fetch_blob(r, ref, &f2, &e) < 0);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_EQ(f2.error->code, BERR_NOT_FOUND);
        berr_free(e);
        e = NULL;
        registry_fetch_done(&f2);
        free(k.buf);

        /* Unknown tag. */
        image_ref *nope = ref_of("127.0.0.1:1/x:y");
        free(nope->domain);
        nope->domain = xasprintf("127.0.0.1:%d", s.port);
        free(nope->path);
        nope->path = xstrdup("test/app");
        free(nope->tag);
        nope->tag = xstrdup("nosuchtag");
        ASSERT_TRUE(registry_resolve(r, nope, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_TRUE(strstr(e->msg, "test/app:nosuchtag: not found") != NULL);
        berr_free(e);
        image_ref_free(nope);

        image_ref_free(ref);
        registry_free(r);
        srv_stop(&s);
}

TEST(blob_dropped_midway_resume) {
        srv s = { .drop_mode = 1 };
        srv_add_blob(&s, 1 << 20, 2);
        srv_start(&s);
        registry_options o = { .auto_resume = -1 };
        registry *r = new_registry(&o);
        image_ref *ref = srv_ref(&s);
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        berr *e = NULL;
        ASSERT_TRUE(registry_fetch_blob(r, ref, &f, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        if (!strstr(e->msg, "connection lost after 524288 of 1048576 bytes"))
                TAP_FAIL("%s", e->msg);
        ASSERT_EQ(f.received, 1 << 19);
        ASSERT_EQ(k.len, 1 << 19);
        berr_free(e);
        e = NULL;

        /* The caller resumes from what it has: a Range request, the rest arrives. */
        f.offset = f.received;
        f.verify = false;
        ASSERT_OK(registry_fetch_blob(r, ref, &f, &e));
        ASSERT_EQ(atomic_load(&s.range_requests), 1);
        ASSERT_EQ(k.len, s.blobs[0].len);
        ASSERT_TRUE(memcmp(k.buf, s.blobs[0].data, k.len) == 0);
        char *dg = sha256_of(k.buf, k.len);
        ASSERT_STREQ(dg, s.blobs[0].digest);
        free(dg);
        free(k.buf);
        registry_fetch_done(&f);
        registry_free(r);

        /* With auto_resume (default), the client reconnects by itself and still verifies the whole digest. */
        r = new_registry(NULL);
        k = (sink) { 0 };
        registry_fetch g = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &g, &e));
        ASSERT_EQ(g.resumes, 1);
        ASSERT_EQ(k.len, s.blobs[0].len);
        ASSERT_TRUE(memcmp(k.buf, s.blobs[0].data, k.len) == 0);
        free(k.buf);
        registry_fetch_done(&g);

        /* A server that always drops exhausts the retries. */
        s.drop_mode = 2;
        k = (sink) { 0 };
        registry_fetch h = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_TRUE(registry_fetch_blob(r, ref, &h, &e) < 0);
        ASSERT_EQ(h.resumes, 3);
        ASSERT_TRUE(strstr(e->msg, "connection lost after") != NULL);
        ASSERT_TRUE(h.received > (1u << 19) && h.received < (1u << 20));
        ASSERT_EQ(k.len, h.received);
        ASSERT_TRUE(memcmp(k.buf, s.blobs[0].data, k.len) == 0);
        berr_free(e);
        free(k.buf);
        registry_fetch_done(&h);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(server_ignores_range) {
        srv s = { .ignore_range = true };
        srv_add_blob(&s, 200000, 3);
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        sink k = { 0 };
        /* Ask from 12345: the server answers 200 with everything; the prefix is dropped. */
        registry_fetch f = { .desc = &bd, .offset = 12345, .write = sink_write, .userdata = &k };
        berr *e = NULL;
        ASSERT_OK(registry_fetch_blob(r, ref, &f, &e));
        ASSERT_EQ(atomic_load(&s.range_requests), 1);
        ASSERT_EQ(k.len, s.blobs[0].len - 12345);
        ASSERT_TRUE(memcmp(k.buf, s.blobs[0].data + 12345, k.len) == 0);
        ASSERT_EQ(f.received, s.blobs[0].len);
        free(k.buf);
        registry_fetch_done(&f);

        /* Offset == size: nothing to fetch. */
        k = (sink) { 0 };
        registry_fetch g = { .desc = &bd, .offset = s.blobs[0].len, .write = sink_write, .userdata = &k };
        int before = atomic_load(&s.requests);
        ASSERT_OK(registry_fetch_blob(r, ref, &g, &e));
        ASSERT_EQ(k.len, 0);
        ASSERT_TRUE(g.finished);
        ASSERT_EQ(atomic_load(&s.requests), before); /* no request at all */
        registry_fetch_done(&g);

        /* A descriptor that claims less than the server sends. */
        oci_descriptor small = bd;
        small.size = 1000;
        k = (sink) { 0 };
        registry_fetch h = { .desc = &small, .write = sink_write, .userdata = &k };
        ASSERT_TRUE(registry_fetch_blob(r, ref, &h, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "more than the expected 1000 bytes") != NULL);
        berr_free(e);
        free(k.buf);
        registry_fetch_done(&h);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(wrong_digest_and_write_errors) {
        srv s = { 0 };
        srv_add_blob(&s, 5000, 4);
        const char *doc = "{\"schemaVersion\":2,\"manifests\":[]}";
        srv_set_manifest(&s, MT_OCI_INDEX, doc, strlen(doc));
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        berr *e = NULL;

        /* The manifest served under a digest it does not have. */
        char *real = s.manifest_digest;
        s.manifest_digest = xstrdup("sha256:1111111111111111111111111111111111111111111111111111111111111111");
        free(real);
        oci_descriptor d = { .media_type = (char *) MT_OCI_INDEX, .digest = s.manifest_digest,
                             .size = (int64_t) s.manifest_len };
        char *body = NULL;
        ASSERT_TRUE(registry_fetch_manifest(r, ref, &d, &body, NULL, &e) < 0);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        ASSERT_TRUE(strstr(e->msg, "digest mismatch for manifest sha256:1111") != NULL);
        berr_free(e);
        e = NULL;
        d.size = 3;
        ASSERT_TRUE(registry_fetch_manifest(r, ref, &d, &body, NULL, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "size mismatch") != NULL);
        berr_free(e);
        e = NULL;

        /* A blob whose bytes do not hash to the descriptor's digest. */
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        char *orig = s.blobs[0].digest;
        s.blobs[0].digest = xstrdup("sha256:2222222222222222222222222222222222222222222222222222222222222222");
        bd.digest = s.blobs[0].digest;
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_TRUE(registry_fetch_blob(r, ref, &f, &e) < 0);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        if (!strstr(e->msg, "digest mismatch for blob sha256:2222"))
                TAP_FAIL("%s", e->msg);
        ASSERT_TRUE(strstr(e->msg, orig) != NULL); /* says what it got */
        free(orig);
        berr_free(e);
        e = NULL;
        free(k.buf);
        registry_fetch_done(&f);

        /* The writer refuses: the fetch stops with its error. */
        k = (sink) { .fail_after = 1 };
        registry_fetch g = { .desc = &bd, .write = sink_write, .userdata = &k };
        ASSERT_TRUE(registry_fetch_blob(r, ref, &g, &e) < 0);
        ASSERT_EQ(e->code, BERR_ABORTED);
        ASSERT_TRUE(strstr(e->msg, "write callback failed") != NULL);
        berr_free(e);
        free(k.buf);
        registry_fetch_done(&g);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(oversized_unknown_schema1) {
        srv s = { 0 };
        size_t big = (5u << 20);
        char *doc = xmalloc(big);
        memset(doc, ' ', big);
        doc[0] = '{';
        doc[big - 1] = '}';
        srv_set_manifest(&s, MT_OCI_MANIFEST, doc, big);
        free(doc);
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        berr *e = NULL;
        oci_descriptor *d = NULL;

        /* HEAD says 5 MiB. */
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        if (!strstr(e->msg, "manifest too large"))
                TAP_FAIL("%s", e->msg);
        berr_free(e);
        e = NULL;
        /* No length anywhere: the GET is cut at 4 MiB. */
        s.head_no_digest = true;
        s.manifest_no_length = true;
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        if (!strstr(e->msg, "manifest too large"))
                TAP_FAIL("%s", e->msg);
        berr_free(e);
        e = NULL;
        /* A descriptor over the limit is refused before any request. */
        oci_descriptor bigd = { .media_type = (char *) MT_OCI_MANIFEST, .digest = s.manifest_digest,
                                .size = (int64_t) big };
        char *body;
        ASSERT_TRUE(registry_fetch_manifest(r, ref, &bigd, &body, NULL, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "manifest too large") != NULL);
        berr_free(e);
        e = NULL;

        /* Unknown media type. */
        s.head_no_digest = s.manifest_no_length = false;
        const char *odd = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
        srv_set_manifest(&s, "application/vnd.example.unknown+json", odd, strlen(odd));
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        if (!strstr(e->msg, "unknown media type \"application/vnd.example.unknown+json\""))
                TAP_FAIL("%s", e->msg);
        berr_free(e);
        e = NULL;

        /* Generic type: the document says what it is. */
        const char *idx = "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}";
        srv_set_manifest(&s, "application/json", idx, strlen(idx));
        ASSERT_OK(registry_resolve(r, ref, &d, &e));
        ASSERT_STREQ(d->media_type, MT_OCI_INDEX);
        oci_descriptor_free(d);

        /* Schema 1. */
        const char *s1 = "{\"schemaVersion\":1,\"fsLayers\":[]}";
        srv_set_manifest(&s, MT_DOCKER_SCHEMA1_SIGNED, s1, strlen(s1));
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNIMPLEMENTED);
        ASSERT_TRUE(strstr(e->msg, "schema 1 not supported") != NULL);
        berr_free(e);

        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(bearer_token_flow) {
        srv s = { .bearer = true, .token_basic = "Basic YWxpY2U6c2VjcmV0" };
        for (unsigned i = 0; i < 3; i++)
                srv_add_blob(&s, 70000 + i, 10 + i);
        const char *doc = "{\"schemaVersion\":2,\"manifests\":[]}";
        srv_set_manifest(&s, MT_OCI_INDEX, doc, strlen(doc));
        srv_start(&s);
        image_ref *ref = srv_ref(&s);
        berr *e = NULL;
        oci_descriptor *d = NULL;

        /* No credentials: the token service refuses. */
        registry_options none = { .docker_config = "/nonexistent/config.json" };
        registry *r = new_registry(&none);
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAUTHENTICATED);
        if (!strstr(e->msg, "unauthorized"))
                TAP_FAIL("%s", e->msg);
        berr_free(e);
        e = NULL;
        registry_free(r);

        /* Explicit credentials: one token, reused for the resolve and every blob. */
        registry_options o = { .username = "alice", .password = "secret" };
        r = new_registry(&o);
        ASSERT_OK(registry_resolve(r, ref, &d, &e));
        oci_descriptor_free(d);
        oci_descriptor bds[3];
        sink ks[3] = { 0 };
        registry_fetch fs[3];
        registry_fetch *fp[3];
        for (int i = 0; i < 3; i++) {
                bds[i] = blob_desc(&s.blobs[i]);
                fs[i] = (registry_fetch) { .desc = &bds[i], .write = sink_write, .userdata = &ks[i], .verify = true };
                fp[i] = &fs[i];
        }
        ASSERT_OK(registry_fetch_all(r, ref, fp, 3, 3, &e));
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(ks[i].len, s.blobs[i].len);
                free(ks[i].buf);
                registry_fetch_done(&fs[i]);
        }
        ASSERT_EQ(atomic_load(&s.token_requests), 2); /* one refused above, one here */
        registry_free(r);

        /* Blobs first, all at once, on a fresh client: every 401 is answered with the same single token. */
        r = new_registry(&o);
        for (int i = 0; i < 3; i++) {
                ks[i] = (sink) { 0 };
                fs[i] = (registry_fetch) { .desc = &bds[i], .write = sink_write, .userdata = &ks[i], .verify = true };
        }
        if (registry_fetch_all(r, ref, fp, 3, 3, &e) < 0)
                TAP_FAIL("%s", e->msg);
        for (int i = 0; i < 3; i++) {
                ASSERT_TRUE(fs[i].finished);
                free(ks[i].buf);
                registry_fetch_done(&fs[i]);
        }
        ASSERT_EQ(atomic_load(&s.token_requests), 3);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(fetch_all_concurrent) {
        srv s = { 0 };
        for (unsigned i = 0; i < 4; i++)
                srv_add_blob(&s, (1 << 20) + i * 777, 20 + i);
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        oci_descriptor bds[4];
        sink ks[4] = { 0 };
        registry_fetch fs[4];
        registry_fetch *fp[4];
        for (int i = 0; i < 4; i++) {
                bds[i] = blob_desc(&s.blobs[i]);
                fs[i] = (registry_fetch) { .desc = &bds[i], .write = sink_write, .userdata = &ks[i], .verify = true };
                fp[i] = &fs[i];
        }
        /* One bad descriptor does not stop the others. */
        oci_descriptor bad = bds[3];
        bad.digest = (char *) "sha256:nothex";
        fs[3].desc = &bad;
        berr *e = NULL;
        ASSERT_TRUE(registry_fetch_all(r, ref, fp, 4, 2, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "invalid checksum digest") != NULL);
        berr_free(e);
        e = NULL;
        for (int i = 0; i < 3; i++) {
                ASSERT_TRUE(fs[i].finished);
                ASSERT_NULL(fs[i].error);
                ASSERT_EQ(ks[i].len, s.blobs[i].len);
                ASSERT_TRUE(memcmp(ks[i].buf, s.blobs[i].data, ks[i].len) == 0);
        }
        ASSERT_NOT_NULL(fs[3].error);
        for (int i = 0; i < 4; i++) {
                free(ks[i].buf);
                ks[i] = (sink) { 0 };
                registry_fetch_done(&fs[i]);
        }
        fs[3].desc = &bds[3];
        ASSERT_OK(registry_fetch_all(r, ref, fp, 4, 4, &e));
        for (int i = 0; i < 4; i++) {
                ASSERT_EQ(ks[i].len, s.blobs[i].len);
                free(ks[i].buf);
                registry_fetch_done(&fs[i]);
        }
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

typedef struct cancel_ctx {
        registry *r;
        int delay_ms;
} cancel_ctx;

static void *cancel_later(void *userdata) {
        cancel_ctx *c = userdata;
        usleep(c->delay_ms * 1000);
        registry_cancel(c->r);
        return NULL;
}

TEST(cancel_from_another_thread) {
        srv s = { .stall = true };
        srv_add_blob(&s, 1 << 20, 30);
        srv_start(&s);
        registry *r = new_registry(NULL);
        image_ref *ref = srv_ref(&s);
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k };
        cancel_ctx c = { .r = r, .delay_ms = 200 };
        pthread_t t;
        pthread_create(&t, NULL, cancel_later, &c);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        berr *e = NULL;
        ASSERT_TRUE(registry_fetch_blob(r, ref, &f, &e) < 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        pthread_join(t, NULL);
        ASSERT_EQ(e->code, BERR_CANCELED);
        ASSERT_STREQ(e->msg, "context canceled");
        double secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
        ASSERT_TRUE(secs < 2.0);
        ASSERT_TRUE(f.received > 0 && f.received < (uint64_t) bd.size);
        berr_free(e);
        e = NULL;
        /* Later calls fail at once. */
        oci_descriptor *d = NULL;
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_CANCELED);
        berr_free(e);
        free(k.buf);
        registry_fetch_done(&f);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(stalled_transfer_times_out) {
        srv s = { .stall = true };
        srv_add_blob(&s, 1 << 20, 31);
        srv_start(&s);
        registry_options o = { .low_speed_time_s = 1, .auto_resume = -1 };
        registry *r = new_registry(&o);
        image_ref *ref = srv_ref(&s);
        oci_descriptor bd = blob_desc(&s.blobs[0]);
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k };
        berr *e = NULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        ASSERT_TRUE(registry_fetch_blob(r, ref, &f, &e) < 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        if (!strstr(e->msg, "connection lost after 100 of 1048576 bytes") || !strstr(e->msg, "too slow"))
                TAP_FAIL("%s", e->msg);
        double secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
        if (secs > 4.0) /* the server would only hang up after 10 s */
                TAP_FAIL("took %.1f s", secs);
        berr_free(e);
        free(k.buf);
        registry_fetch_done(&f);
        registry_free(r);
        image_ref_free(ref);
        srv_stop(&s);
}

TEST(mirrors_then_origin) {
        srv mirror = { .not_found = true }, origin = { 0 };
        srv_add_blob(&origin, 4096, 40);
        srv_add_blob(&mirror, 4096, 40);
        srv_start(&mirror);
        srv_start(&origin);
        char *dir = tmpdir();
        char *hostdir = xasprintf("%s/127.0.0.1:%d", dir, origin.port);
        berr *e = NULL;
        ASSERT_OK(mkdir_p(hostdir, 0755, &e));
        /* A dead mirror first, then one that answers 404: both fall through to the origin. */
        char *toml = xasprintf("[host.\"http://127.0.0.1:1\"]\n  capabilities = [\"pull\"]\n"
                               "[host.\"http://127.0.0.1:%d\"]\n  capabilities = [\"pull\"]\n",
                               mirror.port);
        char *file = xasprintf("%s/hosts.toml", hostdir);
        ASSERT_OK(write_file_atomic(file, toml, strlen(toml), 0644, &e));
        registry_options o = { .hosts_dir = dir };
        registry *r = new_registry(&o);
        image_ref *ref = srv_ref(&origin);
        oci_descriptor bd = blob_desc(&origin.blobs[0]);
        sink k = { 0 };
        registry_fetch f = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &f, &e));
        ASSERT_EQ(atomic_load(&mirror.ns_requests), 1); /* the mirror was asked, with ?ns= */
        ASSERT_EQ(atomic_load(&origin.requests), 1);
        ASSERT_EQ(atomic_load(&origin.ns_requests), 0);
        free(k.buf);
        registry_fetch_done(&f);
        registry_free(r);

        /* A mirror that has the blob serves it; the origin is not asked. */
        mirror.not_found = false;
        r = new_registry(&o);
        k = (sink) { 0 };
        registry_fetch g = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &g, &e));
        ASSERT_EQ(atomic_load(&origin.requests), 1);
        ASSERT_EQ(atomic_load(&mirror.blob_gets), 1);
        free(k.buf);
        registry_fetch_done(&g);

        /* Pull-only mirrors are not used to resolve tags (resolve capability). */
        oci_descriptor *d = NULL;
        int before = atomic_load(&mirror.requests);
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0); /* the origin has no manifest */
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_EQ(atomic_load(&mirror.requests), before);
        berr_free(e);
        registry_free(r);

        /* Inline settings (berthd's config): their mirror goes first, with ?ns=, plain http from plain_http. */
        char *mirror_hostport = xasprintf("127.0.0.1:%d", mirror.port);
        char *inline_mirrors[] = { mirror_hostport, NULL };
        char *origin_domain = xasprintf("127.0.0.1:%d", origin.port);
        registry_host_settings hs = { .domain = origin_domain, .plain_http = true, .mirrors = inline_mirrors };
        registry_options io = { .hosts = &hs, .n_hosts = 1 };
        r = new_registry(&io);
        int mirror_gets = atomic_load(&mirror.blob_gets), origin_reqs = atomic_load(&origin.requests);
        k = (sink) { 0 };
        registry_fetch h = { .desc = &bd, .write = sink_write, .userdata = &k, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &h, &e));
        ASSERT_EQ(atomic_load(&mirror.blob_gets), mirror_gets + 1);
        ASSERT_EQ(atomic_load(&origin.requests), origin_reqs);
        free(k.buf);
        registry_fetch_done(&h);
        registry_free(r);
        free(mirror_hostport);
        free(origin_domain);

        image_ref_free(ref);
        free(toml);
        free(file);
        free(hostdir);
        rmtree(dir);
        free(dir);
        srv_stop(&mirror);
        srv_stop(&origin);
}

/* ---- a real docker-registry ----------------------------------------------------------------------------- */

static bool have(const char *bin) {
        char *cmd = xasprintf("command -v %s >/dev/null 2>&1", bin);
        int rc = system(cmd);
        free(cmd);
        return rc == 0;
}

static char *run_capture(const char *cmd) {
        FILE *p = popen(cmd, "r");
        if (!p)
                return NULL;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = '\0';
        int rc = pclose(p);
        if (rc != 0)
                return NULL;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return xstrdup(buf);
}

typedef struct real_registry {
        char *dir;
        char *addr;
} real_registry;

/* Starts a registry and pushes the busybox image as berth/busybox:latest. NULL addr: skip (reason printed). */
static bool real_start(real_registry *rr, const char *creds, const char **skip) {
        *rr = (real_registry) { 0 };
        if (!have("docker-registry")) {
                *skip = "docker-registry not installed";
                return false;
        }
        if (!have("skopeo") || !have("umoci")) {
                *skip = "skopeo or umoci not installed";
                return false;
        }
        char *img = run_capture("scripts/build-image.sh 2>/dev/null");
        if (!img) {
                *skip = "scripts/build-image.sh failed (busybox-static?)";
                return false;
        }
        rr->dir = tmpdir();
        char *cmd = xasprintf("scripts/registry.sh start %s%s%s", rr->dir, creds ? " --htpasswd " : "",
                              creds ? creds : "");
        rr->addr = run_capture(cmd);
        free(cmd);
        if (!rr->addr) {
                free(img);
                *skip = "registry did not start";
                return false;
        }
        cmd = xasprintf("scripts/registry.sh push %s %s berth/busybox:latest%s%s", rr->dir, img,
                        creds ? " --creds " : "", creds ? creds : "");
        int rc = system(cmd);
        free(cmd);
        free(img);
        if (rc != 0) {
                *skip = "skopeo push failed";
                return false;
        }
        return true;
}

static void real_stop(real_registry *rr) {
        if (rr->dir) {
                char *cmd = xasprintf("scripts/registry.sh cleanup %s", rr->dir);
                if (system(cmd) != 0)
                        printf("# cleanup of %s failed\n", rr->dir);
                free(cmd);
        }
        free(rr->dir);
        free(rr->addr);
}

/* Resolve, walk to the manifest, fetch config and layers (verified); returns the layer count or -1. */
static int pull_everything(registry *r, const image_ref *ref, berr **err) {
        oci_descriptor *root = NULL;
        if (registry_resolve(r, ref, &root, err) < 0)
                return -1;
        char *body = NULL;
        size_t len;
        if (registry_fetch_manifest(r, ref, root, &body, &len, err) < 0) {
                oci_descriptor_free(root);
                return -1;
        }
        oci_manifest *m = NULL;
        if (mediatype_is_index(root->media_type)) {
                oci_index *idx = NULL;
                const oci_descriptor *pick;
                platform_matcher *pm = platform_matcher_default();
                int rc = oci_index_parse(body, len, root->media_type, &idx, err);
                if (rc >= 0)
                        rc = oci_index_select(idx, pm, root->digest, &pick, err);
                free(body);
                body = NULL;
                if (rc >= 0)
                        rc = registry_fetch_manifest(r, ref, pick, &body, &len, err);
                if (rc >= 0)
                        rc = oci_manifest_parse(body, len, pick->media_type, &m, err);
                platform_matcher_free(pm);
                oci_index_free(idx);
                if (rc < 0) {
                        free(body);
                        oci_descriptor_free(root);
                        return -1;
                }
        } else if (oci_manifest_parse(body, len, root->media_type, &m, err) < 0) {
                free(body);
                oci_descriptor_free(root);
                return -1;
        }
        free(body);
        oci_descriptor_free(root);

        char *cfg = NULL;
        size_t cfg_len;
        oci_image_config *c = NULL;
        if (registry_fetch_manifest(r, ref, &m->config, &cfg, &cfg_len, err) < 0 ||
            oci_image_config_parse(cfg, cfg_len, &c, err) < 0) {
                free(cfg);
                oci_manifest_free(m);
                return -1;
        }
        free(cfg);
        int n = (int) m->n_layers;
        bool ok = strcmp(c->os, "linux") == 0 && strv_length(c->diff_ids) == m->n_layers;
        oci_image_config_free(c);
        sink *ks = xcalloc(n, sizeof *ks);
        registry_fetch *fs = xcalloc(n, sizeof *fs);
        registry_fetch **fp = xcalloc(n, sizeof *fp);
        for (int i = 0; i < n; i++) {
                fs[i] = (registry_fetch) { .desc = &m->layers[i], .write = sink_write, .userdata = &ks[i],
                                           .verify = true };
                fp[i] = &fs[i];
        }
        int rc = registry_fetch_all(r, ref, fp, n, 4, err);
        for (int i = 0; i < n; i++) {
                if (rc == 0 && (int64_t) ks[i].len != m->layers[i].size)
                        ok = false;
                free(ks[i].buf);
                registry_fetch_done(&fs[i]);
        }
        free(ks);
        free(fs);
        free(fp);
        oci_manifest_free(m);
        if (rc < 0)
                return -1;
        return ok ? n : -2;
}

TEST(real_registry_pull) {
        real_registry rr;
        const char *skip = NULL;
        if (!real_start(&rr, NULL, &skip)) {
                real_stop(&rr);
                TAP_SKIP("%s", skip);
        }
        char *s = xasprintf("%s/berth/busybox:latest", rr.addr);
        image_ref *ref = ref_of(s);
        free(s);
        registry *r = new_registry(NULL);
        berr *e = NULL;
        int n = pull_everything(r, ref, &e);
        if (n < 0)
                TAP_FAIL("pull: %s", e ? e->msg : "content check failed");
        ASSERT_TRUE(n >= 1);

        /* Resume a layer from its middle against the real registry (Range support). */
        oci_descriptor *root = NULL;
        ASSERT_OK(registry_resolve(r, ref, &root, &e));
        char *body = NULL;
        size_t len;
        ASSERT_OK(registry_fetch_manifest(r, ref, root, &body, &len, &e));
        oci_manifest *m = NULL;
        if (mediatype_is_index(root->media_type)) {
                oci_index *idx = NULL;
                ASSERT_OK(oci_index_parse(body, len, root->media_type, &idx, &e));
                oci_descriptor pick;
                oci_descriptor_copy(&pick, &idx->manifests[0]);
                oci_index_free(idx);
                free(body);
                ASSERT_OK(registry_fetch_manifest(r, ref, &pick, &body, &len, &e));
                oci_descriptor_done(&pick);
        }
        ASSERT_OK(oci_manifest_parse(body, len, NULL, &m, &e));
        free(body);
        const oci_descriptor *layer = &m->layers[0];
        sink whole = { 0 }, tail = { 0 };
        registry_fetch f = { .desc = layer, .write = sink_write, .userdata = &whole, .verify = true };
        ASSERT_OK(registry_fetch_blob(r, ref, &f, &e));
        uint64_t half = layer->size / 2;
        registry_fetch g = { .desc = layer, .offset = half, .write = sink_write, .userdata = &tail };
        ASSERT_OK(registry_fetch_blob(r, ref, &g, &e));
        ASSERT_EQ(tail.len, layer->size - half);
        ASSERT_TRUE(memcmp(tail.buf, whole.buf + half, tail.len) == 0);
        free(whole.buf);
        free(tail.buf);
        registry_fetch_done(&f);
        registry_fetch_done(&g);
        oci_manifest_free(m);

        /* By digest too. */
        image_ref *byd = image_ref_copy(ref);
        free(byd->tag);
        byd->tag = NULL;
        byd->digest = xstrdup(root->digest);
        oci_descriptor *d2 = NULL;
        ASSERT_OK(registry_resolve(r, byd, &d2, &e));
        ASSERT_STREQ(d2->digest, root->digest);
        ASSERT_EQ(d2->size, root->size);
        oci_descriptor_free(d2);
        image_ref_free(byd);
        oci_descriptor_free(root);

        /* An unknown repository. */
        image_ref *nope = image_ref_copy(ref);
        free(nope->path);
        nope->path = xstrdup("berth/nothing");
        ASSERT_TRUE(registry_resolve(r, nope, &root, &e) < 0);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_free(e);
        image_ref_free(nope);

        registry_free(r);
        image_ref_free(ref);
        real_stop(&rr);
}

TEST(real_registry_htpasswd) {
        real_registry rr;
        const char *skip = NULL;
        if (!real_start(&rr, "alice:s3cret", &skip)) {
                real_stop(&rr);
                TAP_SKIP("%s", skip);
        }
        char *s = xasprintf("%s/berth/busybox:latest", rr.addr);
        image_ref *ref = ref_of(s);
        free(s);
        berr *e = NULL;

        /* Credentials from a docker config.json. */
        char *cfgdir = tmpdir();
        char *cfg = xasprintf("%s/config.json", cfgdir);
        char *b64 = registry_base64_encode("alice:s3cret", 12);
        char *json = xasprintf("{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}", rr.addr, b64);
        ASSERT_OK(write_file_atomic(cfg, json, strlen(json), 0600, &e));
        registry_options o = { .docker_config = cfg };
        registry *r = new_registry(&o);
        int n = pull_everything(r, ref, &e);
        if (n < 0)
                TAP_FAIL("pull with credentials: %s", e ? e->msg : "content check failed");
        registry_free(r);

        /* No credentials: unauthorized. */
        registry_options none = { .docker_config = "/nonexistent/config.json" };
        r = new_registry(&none);
        oci_descriptor *d = NULL;
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAUTHENTICATED);
        if (!strstr(e->msg, "unauthorized"))
                TAP_FAIL("%s", e->msg);
        printf("# without credentials: %s\n", e->msg);
        berr_free(e);
        e = NULL;
        registry_free(r);

        /* Wrong password: unauthorized as well. */
        registry_options wrong = { .username = "alice", .password = "nope" };
        r = new_registry(&wrong);
        ASSERT_TRUE(registry_resolve(r, ref, &d, &e) < 0);
        ASSERT_EQ(e->code, BERR_UNAUTHENTICATED);
        ASSERT_TRUE(strstr(e->msg, "unauthorized") != NULL);
        printf("# wrong password: %s\n", e->msg);
        berr_free(e);
        registry_free(r);

        free(b64);
        free(json);
        free(cfg);
        rmtree(cfgdir);
        free(cfgdir);
        image_ref_free(ref);
        real_stop(&rr);
}

/* ~100 MB, 4 layers (scripts/build-big-image.sh); only with BERTH_TEST_BIG=1 since it pushes 100 MB. */
TEST(real_registry_big_image) {
        if (!getenv("BERTH_TEST_BIG"))
                TAP_SKIP("set BERTH_TEST_BIG=1 to pull the ~100 MB image");
        if (!have("docker-registry") || !have("skopeo"))
                TAP_SKIP("docker-registry or skopeo missing");
        char *img = run_capture("scripts/build-big-image.sh 2>/dev/null");
        ASSERT_NOT_NULL(img);
        char *dir = tmpdir();
        char *cmd = xasprintf("scripts/registry.sh start %s", dir);
        char *addr = run_capture(cmd);
        free(cmd);
        ASSERT_NOT_NULL(addr);
        cmd = xasprintf("scripts/registry.sh push %s %s berth/big:latest", dir, img);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        char *s = xasprintf("%s/berth/big:latest", addr);
        image_ref *ref = ref_of(s);
        free(s);
        registry *r = new_registry(NULL);
        berr *e = NULL;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int n = pull_everything(r, ref, &e);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
        printf("# big image: %d layers in %.2f s\n", n, secs);
        if (n < 0)
                TAP_FAIL("%s", e ? e->msg : "content check failed");
        ASSERT_EQ(n, 4);
        registry_free(r);
        image_ref_free(ref);
        cmd = xasprintf("scripts/registry.sh cleanup %s", dir);
        ASSERT_EQ(system(cmd), 0);
        free(cmd);
        free(dir);
        free(addr);
        free(img);
}

/* Last: libcurl's global state, so LeakSanitizer sees a clean exit. */
TEST(zz_global_cleanup) {
        registry_global_cleanup();
}
