/* Per-registry host settings, in containerd's hosts.toml layout (a subset of it):
 *
 *   <hosts_dir>/<registry domain>/hosts.toml     (then <hosts_dir>/_default/hosts.toml)
 *
 *   server = "https://registry.example.com"      # the origin; default: the domain (docker.io → registry-1)
 *   skip_verify = false                          # origin settings: skip_verify, ca, capabilities,
 *   ca = "/etc/berth/certs.d/example/ca.crt"     #   override_path, client, [header]
 *
 *   [host."http://127.0.0.1:5001"]               # mirrors, tried in file order before the origin
 *     capabilities = ["pull", "resolve"]         # pull: blobs + manifests by digest; resolve: tags
 *     skip_verify = true
 *     ca = "ca.crt"                              # relative to the host directory; a string or a list
 *     client = ["client.cert", "client.key"]     # a PEM with both, or [cert, key]
 *     override_path = true                       # the URL path is the API root (no "/v2" appended)
 *     [host."http://127.0.0.1:5001".header]
 *       x-custom = "value"
 *
 * "http://" in a host URL means plain HTTP; without a scheme https is assumed. Without a file the origin is the
 * domain itself over https, or over http when the domain is loopback/localhost (containerd's default). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

enum {
        REGISTRY_CAP_PULL = 1 << 0,
        REGISTRY_CAP_RESOLVE = 1 << 1,
        REGISTRY_CAP_PUSH = 1 << 2,
};

typedef struct registry_host {
        char *scheme;  /* "http" or "https" */
        char *host;    /* host[:port] */
        char *path;    /* API root, "/v2" */
        unsigned caps; /* REGISTRY_CAP_* */
        bool skip_verify;
        char *ca_file;     /* NULL: system CAs */
        char *client_cert; /* NULL: none */
        char *client_key;
        char **headers; /* strv of "Name: value" */
        bool mirror;    /* not the origin: requests carry ?ns=<domain> */
} registry_host;

/* The hosts to try for a registry domain, mirrors first, origin last. plain_http / skip_verify force those
 * settings on every host (command-line overrides). */
int registry_hosts_lookup(const char *hosts_dir, const char *domain, bool plain_http, bool skip_verify,
                          registry_host **ret, size_t *ret_n, berr **err);
/* Parses hosts.toml text (exposed for tests); base_dir resolves relative ca/client paths. */
int registry_hosts_parse(const char *text, const char *base_dir, const char *domain, registry_host **ret,
                         size_t *ret_n, berr **err);
void registry_hosts_free(registry_host *hosts, size_t n);
/* Applies inline settings to a host list (see registry_host_settings): mirrors are put first, plain_http /
 * skip_verify / ca_file go to the origin (the last entry), skip_verify / ca_file to the new mirrors too. */
int registry_hosts_apply(registry_host **hosts, size_t *n, const char *domain, bool plain_http, bool skip_verify,
                         const char *ca_file, char *const *mirrors, berr **err);
/* localhost, 127.0.0.0/8 or ::1, with or without a port. */
bool registry_host_is_loopback(const char *host);
