#include "remotes/hosts.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "basic/fileio.h"
#include "basic/strv.h"
#include "remotes/hosts-toml.h"

bool registry_host_is_loopback(const char *host) {
        _cleanup_free_ char *h = NULL;
        if (host[0] == '[') { /* [::1]:5000 */
                const char *close = strchr(host, ']');
                h = close ? xstrndup(host + 1, close - host - 1) : xstrdup(host);
        } else {
                const char *colon = strchr(host, ':');
                /* One colon is a port; more is a bare IPv6 address. */
                h = (colon && !strchr(colon + 1, ':')) ? xstrndup(host, colon - host) : xstrdup(host);
        }
        if (strcasecmp(h, "localhost") == 0)
                return true;
        struct in_addr a4;
        struct in6_addr a6;
        if (inet_pton(AF_INET, h, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, h, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}

static void host_done(registry_host *h) {
        free(h->scheme);
        free(h->host);
        free(h->path);
        free(h->ca_file);
        free(h->client_cert);
        free(h->client_key);
        strv_free(h->headers);
}

void registry_hosts_free(registry_host *hosts, size_t n) {
        for (size_t i = 0; i < n; i++)
                host_done(&hosts[i]);
        free(hosts);
}

/* A host entry while parsing: the URL is applied at the end, when override_path is known. */
typedef struct host_entry {
        char *url; /* NULL for the origin when `server` is absent */
        registry_host h;
        bool caps_set, override_path;
} host_entry;

typedef struct hosts_ctx {
        const char *base_dir;
        host_entry origin;
        host_entry *mirrors;
        size_t n_mirrors;
} hosts_ctx;

static char *abs_path(const char *base, const char *p) {
        if (p[0] == '/' || !base)
                return xstrdup(p);
        return xasprintf("%s/%s", base, p);
}

static host_entry *mirror_get(hosts_ctx *c, const char *url) {
        for (size_t i = 0; i < c->n_mirrors; i++)
                if (strcmp(c->mirrors[i].url, url) == 0)
                        return &c->mirrors[i];
        c->mirrors = xrealloc(c->mirrors, (c->n_mirrors + 1) * sizeof *c->mirrors);
        host_entry *e = &c->mirrors[c->n_mirrors++];
        *e = (host_entry) { .url = xstrdup(url) };
        return e;
}

static int want_type(const toml_value *v, toml_type t, const char *key, berr **err) {
        if (v->type != t)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml: invalid type for \"%s\"", key);
        return 0;
}

static int host_set(hosts_ctx *c, host_entry *e, char *const *key, size_t n, const toml_value *v, berr **err) {
        if (n == 2 && strcmp(key[0], "header") == 0) {
                if (v->type == TOML_STRING) {
                        strv_push(&e->h.headers, xasprintf("%s: %s", key[1], v->s));
                        return 0;
                }
                if (v->type == TOML_ARRAY) {
                        for (size_t i = 0; i < v->n; i++) {
                                if (want_type(&v->items[i], TOML_STRING, key[1], err) < 0)
                                        return -1;
                                strv_push(&e->h.headers, xasprintf("%s: %s", key[1], v->items[i].s));
                        }
                        return 0;
                }
                return want_type(v, TOML_STRING, key[1], err);
        }
        if (n != 1)
                return 0; /* unknown nested keys: ignored, as containerd ignores unknown fields */
        const char *k = key[0];
        if (strcmp(k, "skip_verify") == 0) {
                if (want_type(v, TOML_BOOL, k, err) < 0)
                        return -1;
                e->h.skip_verify = v->b;
        } else if (strcmp(k, "override_path") == 0) {
                if (want_type(v, TOML_BOOL, k, err) < 0)
                        return -1;
                e->override_path = v->b;
        } else if (strcmp(k, "capabilities") == 0) {
                if (want_type(v, TOML_ARRAY, k, err) < 0)
                        return -1;
                e->h.caps = 0;
                e->caps_set = true;
                for (size_t i = 0; i < v->n; i++) {
                        if (want_type(&v->items[i], TOML_STRING, k, err) < 0)
                                return -1;
                        const char *cap = v->items[i].s;
                        if (strcasecmp(cap, "pull") == 0)
                                e->h.caps |= REGISTRY_CAP_PULL;
                        else if (strcasecmp(cap, "resolve") == 0)
                                e->h.caps |= REGISTRY_CAP_RESOLVE;
                        else if (strcasecmp(cap, "push") == 0)
                                e->h.caps |= REGISTRY_CAP_PUSH;
                        else
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml: unknown capability %s",
                                                cap);
                }
        } else if (strcmp(k, "ca") == 0) {
                /* curl takes one CA bundle file per handle: the first one listed. */
                const toml_value *first = v->type == TOML_ARRAY && v->n > 0 ? &v->items[0] : v;
                if (want_type(first, TOML_STRING, k, err) < 0)
                        return -1;
                free(e->h.ca_file);
                e->h.ca_file = abs_path(c->base_dir, first->s);
        } else if (strcmp(k, "client") == 0) {
                const toml_value *pair = v;
                if (v->type == TOML_ARRAY && v->n > 0 && v->items[0].type == TOML_ARRAY)
                        pair = &v->items[0];
                if (pair->type == TOML_STRING) {
                        e->h.client_cert = abs_path(c->base_dir, pair->s);
                } else if (pair->type == TOML_ARRAY && pair->n >= 1 && pair->n <= 2 &&
                           pair->items[0].type == TOML_STRING &&
                           (pair->n == 1 || pair->items[1].type == TOML_STRING)) {
                        e->h.client_cert = abs_path(c->base_dir, pair->items[0].s);
                        if (pair->n == 2)
                                e->h.client_key = abs_path(c->base_dir, pair->items[1].s);
                } else {
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml: invalid type for \"client\"");
                }
        }
        return 0;
}

static int visit(char *const *path, size_t n, const toml_value *v, void *userdata, berr **err) {
        hosts_ctx *c = userdata;
        if (n >= 2 && strcmp(path[0], "host") == 0) {
                host_entry *e = mirror_get(c, path[1]); /* a table header alone fixes the order */
                return v ? host_set(c, e, path + 2, n - 2, v, err) : 0;
        }
        if (!v)
                return 0;
        if (n == 1 && strcmp(path[0], "server") == 0) {
                if (want_type(v, TOML_STRING, "server", err) < 0)
                        return -1;
                free(c->origin.url);
                c->origin.url = xstrdup(v->s);
                return 0;
        }
        return host_set(c, &c->origin, path, n, v, err);
}

/* Turns "http://h:5000/path" into scheme, host and API root path. */
static int apply_url(host_entry *e, const char *url, berr **err) {
        const char *rest = url;
        if (strncmp(url, "http://", 7) == 0) {
                e->h.scheme = xstrdup("http");
                rest = url + 7;
        } else if (strncmp(url, "https://", 8) == 0) {
                e->h.scheme = xstrdup("https");
                rest = url + 8;
        } else if (strstr(url, "://")) {
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml: unsupported URL scheme in \"%s\"", url);
        } else {
                e->h.scheme = xstrdup("https");
        }
        size_t hl = strcspn(rest, "/?#");
        if (hl == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml: no host in \"%s\"", url);
        e->h.host = xstrndup(rest, hl);
        _cleanup_free_ char *path = xstrndup(rest + hl, strcspn(rest + hl, "?#"));
        size_t pl = strlen(path);
        while (pl > 0 && path[pl - 1] == '/')
                path[--pl] = '\0';
        if (e->override_path)
                e->h.path = xstrdup(path);
        else if (pl >= 3 && strcmp(path + pl - 3, "/v2") == 0)
                e->h.path = xstrdup(path);
        else
                e->h.path = xasprintf("%s/v2", path);
        return 0;
}

static void default_origin(host_entry *e, const char *domain) {
        if (strcmp(domain, "docker.io") == 0) {
                e->h.scheme = xstrdup("https");
                e->h.host = xstrdup("registry-1.docker.io");
        } else {
                e->h.scheme = xstrdup(registry_host_is_loopback(domain) ? "http" : "https");
                e->h.host = xstrdup(domain);
        }
        e->h.path = xstrdup("/v2");
}

int registry_hosts_parse(const char *text, const char *base_dir, const char *domain, registry_host **ret,
                         size_t *ret_n, berr **err) {
        hosts_ctx c = { .base_dir = base_dir };
        int r = text ? toml_parse(text, visit, &c, err) : 0;
        size_t n = c.n_mirrors + 1;
        registry_host *hosts = xcalloc(n, sizeof *hosts);
        for (size_t i = 0; i < n; i++) {
                host_entry *e = i < c.n_mirrors ? &c.mirrors[i] : &c.origin;
                if (r >= 0) {
                        if (e->url)
                                r = apply_url(e, e->url, err);
                        else
                                default_origin(e, domain);
                }
                if (!e->caps_set)
                        e->h.caps = REGISTRY_CAP_PULL | REGISTRY_CAP_RESOLVE | REGISTRY_CAP_PUSH;
                if (r >= 0 && e->h.host)
                        e->h.mirror = strcmp(e->h.host, domain) != 0 &&
                                      !(strcmp(domain, "docker.io") == 0 &&
                                        strcmp(e->h.host, "registry-1.docker.io") == 0);
                hosts[i] = e->h;
                free(e->url);
        }
        free(c.mirrors);
        if (r < 0) {
                registry_hosts_free(hosts, n);
                return -1;
        }
        *ret = hosts;
        *ret_n = n;
        return 0;
}

int registry_hosts_apply(registry_host **hosts, size_t *n, const char *domain, bool plain_http, bool skip_verify,
                         const char *ca_file, char *const *mirrors, berr **err) {
        size_t nm = 0;
        while (mirrors && mirrors[nm])
                nm++;
        registry_host *out = xcalloc(*n + nm, sizeof *out);
        for (size_t i = 0; i < nm; i++) {
                host_entry e = { .h.caps = REGISTRY_CAP_PULL | REGISTRY_CAP_RESOLVE | REGISTRY_CAP_PUSH };
                _cleanup_free_ char *url = !strstr(mirrors[i], "://") && plain_http
                                                   ? xasprintf("http://%s", mirrors[i])
                                                   : xstrdup(mirrors[i]);
                if (apply_url(&e, url, err) < 0) {
                        host_done(&e.h);
                        registry_hosts_free(out, i);
                        return berr_wrap(err, "mirror of %s", domain);
                }
                e.h.mirror = strcmp(e.h.host, domain) != 0;
                e.h.skip_verify = skip_verify;
                e.h.ca_file = ca_file ? xstrdup(ca_file) : NULL;
                out[i] = e.h;
        }
        memcpy(out + nm, *hosts, *n * sizeof *out);
        free(*hosts);
        registry_host *origin = &out[nm + *n - 1];
        if (plain_http) {
                free(origin->scheme);
                origin->scheme = xstrdup("http");
        }
        if (skip_verify)
                origin->skip_verify = true;
        if (ca_file) {
                free(origin->ca_file);
                origin->ca_file = xstrdup(ca_file);
        }
        *hosts = out;
        *n += nm;
        return 0;
}

int registry_hosts_lookup(const char *hosts_dir, const char *domain, bool plain_http, bool skip_verify,
                          registry_host **ret, size_t *ret_n, berr **err) {
        _cleanup_free_ char *text = NULL, *dir = NULL;
        if (hosts_dir && *hosts_dir) {
                /* A domain is never "..": the reference grammar allows only [A-Za-z0-9.-:] labels. */
                const char *candidates[] = { domain, "_default" };
                for (size_t i = 0; i < ELEMENTSOF(candidates) && !text; i++) {
                        _cleanup_free_ char *d = xasprintf("%s/%s", hosts_dir, candidates[i]);
                        _cleanup_free_ char *file = xasprintf("%s/hosts.toml", d);
                        _cleanup_berr_ berr *e = NULL;
                        if (read_file(file, &text, NULL, 1 << 20, &e) < 0) {
                                if (e->errnum == ENOENT || e->errnum == ENOTDIR)
                                        continue;
                                if (err) {
                                        *err = TAKE_PTR(e);
                                        return berr_wrap(err, "reading %s", file);
                                }
                                return -1;
                        }
                        dir = TAKE_PTR(d);
                }
        }
        registry_host *hosts;
        size_t n;
        if (registry_hosts_parse(text, dir, domain, &hosts, &n, err) < 0)
                return berr_wrap(err, "hosts for %s", domain);
        for (size_t i = 0; i < n; i++) {
                if (plain_http) {
                        free(hosts[i].scheme);
                        hosts[i].scheme = xstrdup("http");
                }
                if (skip_verify)
                        hosts[i].skip_verify = true;
        }
        *ret = hosts;
        *ret_n = n;
        return 0;
}
