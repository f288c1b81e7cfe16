/* Registry credentials from a docker config.json:
 *   {"auths": {"<host>": {"auth": "<base64 user:password>"}}}   or {"username": ..., "password": ...}
 * Keys may carry a scheme and path ("https://index.docker.io/v1/"); docker.io matches its usual aliases.
 * Credential helpers (credsStore/credHelpers) are not run. */
#pragma once

#include "basic/error.h"

/* The config path to use: `path` if set, else $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
 * Returns a new string. */
char *registry_docker_config_path(const char *path);

/* Looks host (host[:port]) up in the config file. Returns 1 with *ret_user and *ret_secret set, 0 if the file or
 * an entry is missing, -1 if the file is unreadable or malformed. */
int registry_credentials_lookup(const char *config_path, const char *host, char **ret_user, char **ret_secret,
                                berr **err);

/* Standard base64 (with padding). */
char *registry_base64_encode(const void *buf, size_t len);
/* Decodes standard base64 (padding optional); NULL if malformed. *ret_len excludes the added NUL. */
char *registry_base64_decode(const char *s, size_t *ret_len);
