/* Registry client (OCI distribution spec / Docker registry v2) over libcurl.
 *
 * A `registry` carries the settings of one pull (hosts, TLS, credentials, plain HTTP) and its auth state
 * (bearer tokens cached per host and scope). It resolves a reference to a root descriptor, fetches manifests
 * into memory (size-limited, digest-verified) and streams blobs to a callback, several at once on one curl
 * multi handle, with HTTP Range resume. Every call blocks: run it from a worker thread; registry_cancel()
 * from any thread stops what is in flight.
 *
 * Hosts for a registry domain come, in order, from <hosts_dir>/<domain>/hosts.toml (see hosts.h): the mirrors
 * listed there, then the origin. Loopback/localhost registries default to plain HTTP, like containerd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "images/manifest.h"
#include "images/reference.h"

typedef struct registry registry;

/* Settings for one registry given inline (e.g. from berthd's config file), applied over its hosts.toml: the
 * mirrors here are tried first (before hosts.toml's), then hosts.toml's, then the origin; plain_http,
 * skip_verify and ca_file apply to the origin (skip_verify and ca_file to these mirrors too). */
typedef struct registry_host_settings {
        const char *domain; /* host[:port] as written in references */
        bool plain_http;
        bool skip_verify;
        const char *ca_file;
        char *const *mirrors; /* NULL-terminated URLs ("http://127.0.0.1:5001"; no scheme: https) */
} registry_host_settings;

typedef struct registry_options {
        const char *hosts_dir;     /* per-registry hosts.toml directory (e.g. /etc/berth/certs.d); NULL: none */
        const char *docker_config; /* credentials file; NULL: $DOCKER_CONFIG/config.json, ~/.docker/config.json */
        const char *username;      /* explicit credentials for every host (override docker_config) */
        const char *password;
        bool plain_http;           /* every host over http:// (ctr --plain-http) */
        bool skip_verify;          /* no TLS verification for any host (ctr --skip-verify) */
        const char *user_agent;    /* NULL: "berth/1" */
        long connect_timeout_ms;   /* 0: 10 s */
        long low_speed_time_s;     /* abort a transfer slower than 1 KiB/s for this long; 0: 30 s */
        int auto_resume;           /* reconnects per blob after a dropped connection: 0 → 3, negative → none */
        const registry_host_settings *hosts; /* per-registry settings (copied), may be NULL */
        size_t n_hosts;
} registry_options;

int registry_new(const registry_options *opts, registry **ret, berr **err);
registry *registry_free(registry *r);
static inline void registry_freep(registry **r) {
        *r = registry_free(*r);
}
#define _cleanup_registry_ _cleanup_(registry_freep)

/* Stops every transfer of r in flight and makes later calls fail at once with BERR_CANCELED
 * ("context canceled"). Safe from any thread and from inside callbacks. */
void registry_cancel(registry *r);
bool registry_is_canceled(registry *r);

/* Resolves ref (needs a domain and a tag or digest; use image_ref_parse_normalized) to the descriptor of its
 * root manifest or index: HEAD with the manifest Accept list, Docker-Content-Digest + Content-Length, else GET
 * and digest the body. The media type is the registry's Content-Type, or detected from the body when the
 * registry sent a generic one. Errors: BERR_NOT_FOUND "<ref>: not found", BERR_UNAUTHENTICATED "... unauthorized
 * ...", BERR_INVALID_ARGUMENT "manifest too large", BERR_UNIMPLEMENTED (schema1, unknown media type),
 * BERR_UNAVAILABLE (connection failures). */
int registry_resolve(registry *r, const image_ref *ref, oci_descriptor **ret, berr **err);

/* Fetches a manifest or index (or any small JSON document, e.g. a config) by desc->digest into memory, refusing
 * more than OCI_DOCUMENT_MAX_SIZE or more than desc->size bytes, and verifies size and digest
 * (BERR_FAILED_PRECONDITION "digest mismatch ..."). *ret_body is NUL-terminated for convenience. */
int registry_fetch_manifest(registry *r, const image_ref *ref, const oci_descriptor *desc, char **ret_body,
                            size_t *ret_len, berr **err);

/* Streaming blob fetch. write() gets the bytes in order from `offset` on; a negative return aborts this fetch
 * (its error then says "write callback failed" unless the callback set f->error itself). */
typedef int (*registry_write_fn)(const void *buf, size_t len, void *userdata);
typedef struct registry_fetch registry_fetch;
typedef void (*registry_progress_fn)(const registry_fetch *f, void *userdata);

struct registry_fetch {
        /* in */
        const oci_descriptor *desc;     /* digest, size, media type, urls (tried first for foreign layers) */
        uint64_t offset;                /* bytes the caller already has: resume with Range: bytes=offset- */
        registry_write_fn write;
        registry_progress_fn progress;  /* optional, after each chunk */
        void *userdata;
        bool verify;                    /* digest the stream and check it; only when offset == 0 (a resuming
                                           caller holds the prefix and must verify itself) */
        /* out */
        uint64_t received;              /* absolute position reached: on failure, where to resume from */
        unsigned resumes;               /* reconnects used (auto_resume) */
        berr *error;                    /* this fetch's failure; freed by registry_fetch_done */
        bool finished;                  /* true once it succeeded */
};

void registry_fetch_done(registry_fetch *f);

/* One blob. On failure f->received tells how far it got; a caller can call again with offset = received.
 * If the server ignores Range (200 instead of 206) the first `offset` bytes are skipped, so write() still sees
 * the stream from `offset`. A connection dropped mid-body is retried from the bytes received up to
 * options.auto_resume times, then fails with BERR_UNAVAILABLE ("connection lost after N of M bytes"). */
int registry_fetch_blob(registry *r, const image_ref *ref, registry_fetch *f, berr **err);

/* Several blobs at once on one curl multi handle (HTTP/2 multiplexed where the server allows), at most
 * max_parallel transfers at a time (0: 4). Each fetch's callbacks run in this thread, in stream order per fetch.
 * Returns 0 if all succeeded, else -1 with *err describing the first failure (each fetch keeps its own). */
int registry_fetch_all(registry *r, const image_ref *ref, registry_fetch *const *fetches, size_t n,
                       unsigned max_parallel, berr **err);

/* For tests under LeakSanitizer: frees libcurl's global state (call once, after every registry is freed). */
void registry_global_cleanup(void);
