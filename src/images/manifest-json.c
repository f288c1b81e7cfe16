#include <string.h>

#include "basic/strv.h"
#include "images/manifest-internal.h"

const char *oci_map_get(const oci_map *m, const char *key) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->keys[i], key) == 0)
                        return m->values[i];
        return NULL;
}

void oci_map_set(oci_map *m, const char *key, const char *value) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->keys[i], key) == 0) {
                        free(m->values[i]);
                        m->values[i] = xstrdup(value);
                        return;
                }
        m->keys = xrealloc(m->keys, (m->n + 1) * sizeof *m->keys);
        m->values = xrealloc(m->values, (m->n + 1) * sizeof *m->values);
        m->keys[m->n] = xstrdup(key);
        m->values[m->n] = xstrdup(value);
        m->n++;
}

void oci_map_done(oci_map *m) {
        for (size_t i = 0; i < m->n; i++) {
                free(m->keys[i]);
                free(m->values[i]);
        }
        free(m->keys);
        free(m->values);
        *m = (oci_map) { 0 };
}

int manifest_json_load(const void *buf, size_t len, const char *what, json_t **ret, berr **err) {
        if (len > OCI_DOCUMENT_MAX_SIZE)
                return berr_set(err, BERR_INVALID_ARGUMENT, EFBIG,
                                "%s too large: %zu bytes exceeds the limit of %u bytes", what, len,
                                OCI_DOCUMENT_MAX_SIZE);
        json_error_t jerr;
        /* Duplicate keys would let two readers see two different documents behind one digest. */
        json_t *root = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid %s JSON: %s (line %d, column %d)", what,
                                jerr.text, jerr.line, jerr.column);
        if (!json_is_object(root)) {
                json_decref(root);
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid %s: not a JSON object", what);
        }
        *ret = root;
        return 0;
}

int manifest_json_string(json_t *obj, const char *key, bool required, char **ret, berr **err) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v)) {
                if (required)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "missing field \"%s\"", key);
                return 0;
        }
        if (!json_is_string(v))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\" is not a string", key);
        free(*ret);
        *ret = xstrdup(json_string_value(v));
        return 0;
}

int manifest_json_strv(json_t *obj, const char *key, char ***ret, berr **err) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\" is not an array", key);
        /* Sized up front: strv_extend is linear per call and a 4 MiB document can hold ~10^6 entries. */
        char **l = xcalloc(json_array_size(v) + 1, sizeof *l);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
                if (!json_is_string(e)) {
                        strv_free(l);
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\"[%zu] is not a string", key, i);
                }
                l[i] = xstrdup(json_string_value(e));
        }
        strv_free(*ret);
        *ret = l;
        return 0;
}

int manifest_json_map(json_t *obj, const char *key, oci_map *ret, berr **err) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\" is not an object", key);
        /* Keys are unique (the loader rejects duplicates), so append without oci_map_set's search. */
        size_t want = ret->n + json_object_size(v);
        ret->keys = xrealloc(ret->keys, (want + 1) * sizeof *ret->keys);
        ret->values = xrealloc(ret->values, (want + 1) * sizeof *ret->values);
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
                if (!json_is_string(e))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\".\"%s\" is not a string", key, k);
                ret->keys[ret->n] = xstrdup(k);
                ret->values[ret->n] = xstrdup(json_string_value(e));
                ret->n++;
        }
        return 0;
}

int manifest_json_keys(json_t *obj, const char *key, char ***ret, berr **err) {
        json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_object(v))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "field \"%s\" is not an object", key);
        char **l = xcalloc(json_object_size(v) + 1, sizeof *l);
        size_t n = 0;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
                l[n++] = xstrdup(k);
        strv_free(*ret);
        *ret = l;
        return 0;
}
