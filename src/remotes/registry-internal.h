/* Internals shared by the registry client's files: the registry object, auth state and the transfer engine. */
#pragma once

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "remotes/auth.h"
#include "remotes/hosts.h"
#include "remotes/registry.h"

typedef struct auth_token {
        char *scope;
        char *value; /* the full Authorization header value */
} auth_token;

/* What one endpoint (host[:port]) asked for, and the credentials that answer it. */
typedef struct auth_handler {
        char *host;
        auth_scheme scheme;
        char *realm, *service, *challenge_scope;
        char *username, *secret;
        auth_token *tokens;
        size_t n_tokens;
} auth_handler;

typedef struct host_list {
        char *domain;
        registry_host *hosts;
        size_t n;
} host_list;

struct registry {
        char *hosts_dir;
        char *docker_config;
        char *username, *password;
        bool plain_http, skip_verify;
        char *user_agent;
        long connect_timeout_ms, low_speed_time_s;
        int auto_resume;
        registry_host_settings *settings; /* deep copies of options.hosts */
        size_t n_settings;

        pthread_mutex_t lock; /* guards everything below */
        auth_handler *auth;
        size_t n_auth;
        host_list *host_lists;
        size_t n_host_lists;
        CURLM **active; /* multi handles in use, for registry_cancel's wakeups */
        size_t n_active;
        atomic_bool canceled;
};

/* Hosts to try for a domain (cached per registry; valid until registry_free). */
int registry_hosts_for(registry *r, const char *domain, const registry_host **ret, size_t *ret_n, berr **err);

/* Common curl options: timeouts, TLS settings of host (NULL: defaults), protocols, user agent. */
void registry_curl_setup(registry *r, CURL *easy, const registry_host *host, char *errbuf);

/* The Authorization header value to send to host for scope, or NULL when host has asked for nothing yet.
 * May fetch a bearer token (blocking). */
int registry_auth_header(registry *r, const registry_host *host, const char *scope, char **ret, berr **err);
/* Digest a 401: set up (or reset) the host's auth handler so a retry can succeed. `sent_auth`: the failed
 * request carried credentials already. server_msg: the registry's error text, for the error message. */
int registry_auth_challenge(registry *r, const registry_host *host, char **challenges, size_t n,
                            const char *scope, bool sent_auth, const char *server_msg, berr **err);
void registry_auth_free_all(registry *r);

/* "unauthorized: authentication required" from a registry's {"errors": [...]} body, or NULL. */
char *registry_error_text(const char *body, size_t len);

typedef enum xfer_sink {
        XFER_SINK_NONE,   /* HEAD */
        XFER_SINK_MEMORY, /* manifests: collected, capped at mem_limit */
        XFER_SINK_STREAM, /* blobs: handed to a registry_fetch */
} xfer_sink;

/* One logical request, retried across hosts, auth challenges and dropped connections. */
typedef struct xfer {
        registry *reg;
        const char *domain;
        const char *repo;
        char *scope;
        const char *kind;   /* "manifests" or "blobs" */
        const char *object; /* tag or digest */
        char *const *urls;  /* alternative full URLs tried before the hosts (foreign layers), may be NULL */
        bool head;
        const char *accept;
        unsigned need_caps;
        const registry_host *hosts;
        size_t n_hosts;

        xfer_sink sink;
        size_t mem_limit;
        registry_fetch *fetch;
        int64_t total;  /* expected size, -1 unknown */
        uint64_t start; /* the offset asked for by the caller */
        uint64_t pos;   /* absolute position of the next byte */

        /* per attempt */
        size_t target;        /* index over urls, then hosts */
        CURL *easy;
        struct curl_slist *headers;
        char *url;
        char errbuf[CURL_ERROR_SIZE];
        bool sent_auth, body_started, body_is_error;
        uint64_t req_offset, skip;
        char *errbody;
        size_t errbody_len;
        berr *cb_error;
        unsigned auth_retries;

        /* results */
        char *mem;
        size_t mem_len;
        EVP_MD_CTX *md;
        long status;
        char *content_type, *docker_digest;
        int64_t content_length;
        berr *first_error;
        berr *error;
        bool done;
} xfer;

void xfer_init(xfer *x, registry *r, const image_ref *ref, const char *kind, const char *object);
void xfer_done(xfer *x);
/* Runs the transfers to completion (each ends with x->done, x->error set on failure), at most `parallel` at once.
 * Returns 0, or -1 if the engine itself could not run (then *err is set and the xfers are untouched). */
int xfer_run(registry *r, xfer *const *xs, size_t n, unsigned parallel, berr **err);

/* EVP digest for "sha256:..." / "sha384:..." / "sha512:..." digests; NULL if unsupported. */
const EVP_MD *registry_digest_md(const char *digest);
/* "<alg>:<hex>" of the context's current state (the context is finalized). */
char *registry_digest_final(EVP_MD_CTX *md, const char *alg);
