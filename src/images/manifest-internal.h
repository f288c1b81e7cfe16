/* JSON field readers shared by the manifest and config parsers. Each returns 0 (absent is fine unless
 * `required`), or -1 with BERR_INVALID_ARGUMENT naming the field. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "images/manifest.h"

/* Loads a JSON object body, enforcing OCI_DOCUMENT_MAX_SIZE; `what` names it in errors ("manifest", ...). */
int manifest_json_load(const void *buf, size_t len, const char *what, json_t **ret, berr **err);
int manifest_json_string(json_t *obj, const char *key, bool required, char **ret, berr **err);
/* Array of strings; JSON null counts as absent. */
int manifest_json_strv(json_t *obj, const char *key, char ***ret, berr **err);
/* Object of strings. */
int manifest_json_map(json_t *obj, const char *key, oci_map *ret, berr **err);
/* Keys of an object (values ignored), e.g. ExposedPorts. */
int manifest_json_keys(json_t *obj, const char *key, char ***ret, berr **err);
