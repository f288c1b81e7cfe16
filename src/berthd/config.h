/* berthd's settings: built-in defaults, then the config file, then command-line flags (each overriding the one
 * before). The file is a TOML subset (see docs/berthd.md):
 *
 *   root = "/var/lib/berth"             # persistent state: metadata, content, snapshots
 *   state = "/run/berth"                # runtime state (lock, socket)
 *   address = "/run/berth/berthd.sock"  # default: <state>/berthd.sock
 *   log_level = "info"                  # error, warn, info, debug, trace
 *   snapshotter = "overlayfs"           # default snapshotter: overlayfs or native
 *   hosts_dir = "/etc/berth/certs.d"    # containerd-style <registry>/hosts.toml files
 *   oci_runtime = "auto"                # auto, crun, runc or a path: the OCI runtime shims run
 *
 *   [registry."127.0.0.1:5000"]         # per-registry settings, by host[:port] as written in references
 *   plain_http = true
 *   skip_verify = false
 *   mirrors = ["http://127.0.0.1:5001"]
 *   ca = "/etc/berth/ca.pem"
 *
 * Unknown keys are errors, so a typo does not silently fall back to a default. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"
#include "basic/log.h"

#define BERTHD_DEFAULT_ROOT "/var/lib/berth"
#define BERTHD_DEFAULT_STATE "/run/berth"
#define BERTHD_DEFAULT_CONFIG "/etc/berth/config.toml"
#define BERTHD_DEFAULT_HOSTS_DIR "/etc/berth/certs.d"
#define BERTHD_SOCKET_NAME "berthd.sock"

typedef struct berthd_registry {
        char *host; /* host[:port] */
        bool plain_http;
        bool skip_verify;
        char **mirrors; /* strv of host URLs, tried in order before the registry itself */
        char *ca;       /* CA bundle file; NULL: the system's */
} berthd_registry;

typedef struct berthd_config {
        char *root;
        char *state;
        char *address; /* NULL until berthd_config_finalize: then <state>/berthd.sock unless set */
        char *config_file; /* the file loaded, NULL if none */
        log_level log_level;
        char *snapshotter;
        char *hosts_dir;
        char *oci_runtime; /* "auto", "crun", "runc" or a path (runtime/runtime.h) */
        berthd_registry *registries;
        size_t n_registries;
} berthd_config;

/* Built-in defaults. */
void berthd_config_init(berthd_config *c);
void berthd_config_done(berthd_config *c);

/* Applies the settings in text (the contents of the file named source, for messages) over c. Errors are
 * INVALID_ARGUMENT naming the source and the offending key or line. */
int berthd_config_parse(berthd_config *c, const char *text, const char *source, berr **err);
/* Reads and applies a config file; a missing file is NOT_FOUND. */
int berthd_config_load(berthd_config *c, const char *path, berr **err);

/* Fills what derives from other settings (the address from the state dir) and makes every path absolute
 * (relative paths are taken against the working directory). */
int berthd_config_finalize(berthd_config *c, berr **err);

/* The settings for a registry host, or NULL. */
const berthd_registry *berthd_config_registry(const berthd_config *c, const char *host);
