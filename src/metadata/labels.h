/* Label maps as plain sorted arrays: what every metadata record carries and what filters look into.
 * An entry with an empty value means "no label" (containerd drops such labels when storing). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

#define META_LABEL_MAX_SIZE 4096 /* containerd: len(key) + len(value) */

typedef struct meta_label {
        char *key;
        char *value;
} meta_label;

typedef struct meta_labels {
        meta_label *v; /* sorted by key, keys unique */
        size_t n;
} meta_labels;

/* Frees the entries; leaves an empty map. */
void meta_labels_done(meta_labels *l);
const char *meta_labels_get(const meta_labels *l, const char *key);
/* Inserts or replaces; a NULL or empty value removes the key. */
void meta_labels_set(meta_labels *l, const char *key, const char *value);
/* Replaces *dst with a deep copy of src (which may be NULL: empty). Empty values are dropped. */
void meta_labels_copy(meta_labels *dst, const meta_labels *src);
/* One path of an update's field mask, from in to cur: "labels" (the whole map) or "labels.<key>" (that key;
 * absent in in: removed). False for any other path, which is left to the caller. */
bool meta_labels_apply_path(meta_labels *cur, const meta_labels *in, const char *path);
/* containerd's labels.Validate for every entry; the message starts with `what` (e.g. "image.Labels"). */
int meta_labels_validate(const meta_labels *l, const char *what, berr **err);
/* containerd's checkMap for filters: the value of the key path[0].path[1]..., NULL when absent. */
const char *meta_labels_lookup(const meta_labels *l, const char *const *path, size_t n);
