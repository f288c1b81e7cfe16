#include <string.h>

#include "metadata/labels.h"

void meta_labels_done(meta_labels *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].key);
                free(l->v[i].value);
        }
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

/* Index of key, or of where it would be inserted (with *found false). */
static size_t find(const meta_labels *l, const char *key, bool *found) {
        size_t lo = 0, hi = l->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(l->v[mid].key, key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

const char *meta_labels_get(const meta_labels *l, const char *key) {
        bool found;
        if (!l || !key)
                return NULL;
        size_t i = find(l, key, &found);
        return found ? l->v[i].value : NULL;
}

void meta_labels_set(meta_labels *l, const char *key, const char *value) {
        bool found;
        size_t i = find(l, key, &found);
        if (!value || !*value) {
                if (!found)
                        return;
                free(l->v[i].key);
                free(l->v[i].value);
                memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof *l->v);
                l->n--;
                return;
        }
        if (found) {
                free(l->v[i].value);
                l->v[i].value = xstrdup(value);
                return;
        }
        l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
        memmove(l->v + i + 1, l->v + i, (l->n - i) * sizeof *l->v);
        l->v[i] = (meta_label) { .key = xstrdup(key), .value = xstrdup(value) };
        l->n++;
}

void meta_labels_copy(meta_labels *dst, const meta_labels *src) {
        meta_labels tmp = { 0 };
        if (src)
                for (size_t i = 0; i < src->n; i++)
                        meta_labels_set(&tmp, src->v[i].key, src->v[i].value);
        meta_labels_done(dst);
        *dst = tmp;
}

bool meta_labels_apply_path(meta_labels *cur, const meta_labels *in, const char *path) {
        if (strncmp(path, "labels.", 7) == 0)
                meta_labels_set(cur, path + 7, meta_labels_get(in, path + 7));
        else if (strcmp(path, "labels") == 0)
                meta_labels_copy(cur, in);
        else
                return false;
        return true;
}

int meta_labels_validate(const meta_labels *l, const char *what, berr **err) {
        if (!l)
                return 0;
        for (size_t i = 0; i < l->n; i++) {
                const char *k = l->v[i].key, *v = l->v[i].value ? l->v[i].value : "";
                if (strlen(k) + strlen(v) > META_LABEL_MAX_SIZE)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "%s: label key and value greater than maximum size (%d bytes), key: %.10s: "
                                        "invalid argument",
                                        what, META_LABEL_MAX_SIZE, k);
        }
        return 0;
}

/* Compares key against the path joined with '.', without building the joined string. */
static bool key_equals_path(const char *key, const char *const *path, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && *key++ != '.')
                        return false;
                size_t len = strlen(path[i]);
                if (strncmp(key, path[i], len) != 0)
                        return false;
                key += len;
        }
        return *key == '\0';
}

const char *meta_labels_lookup(const meta_labels *l, const char *const *path, size_t n) {
        if (!l || l->n == 0)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                if (key_equals_path(l->v[i].key, path, n))
                        return l->v[i].value;
        return NULL;
}
