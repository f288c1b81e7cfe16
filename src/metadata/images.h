/* Image records (containerd's metadata image store): a name in a namespace pointing at a target
 * descriptor. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

typedef struct meta_descriptor {
        char *media_type;
        char *digest;
        int64_t size;
        meta_labels annotations;
} meta_descriptor;

typedef struct meta_image {
        char *name;
        meta_labels labels;
        meta_descriptor target;
        int64_t created_at; /* ns since the epoch */
        int64_t updated_at;
} meta_image;

void meta_descriptor_done(meta_descriptor *d);
void meta_image_done(meta_image *img);
void meta_images_free(meta_image *v, size_t n);

/* NOT_FOUND `image "x": not found`. */
int meta_image_get(meta_db *db, const char *ns, const char *name, meta_image *ret, berr **err);
/* Sorted by name. Filter fields: name, target.digest, target.mediatype, labels.<k>, annotations.<k>. */
int meta_image_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_image **ret,
                    size_t *ret_n, berr **err);
/* Validates (name non-empty, target digest/size>0/media type, label sizes) and stores with fresh
 * timestamps; ALREADY_EXISTS `image "x": already exists`. ret (may be NULL) receives the stored record. */
int meta_image_create(meta_db *db, const char *ns, const meta_image *img, meta_image *ret, berr **err);
/* containerd's field paths: "labels", "labels.<k>", "annotations", "annotations.<k>", "target"; none
 * replaces labels and target. Others: INVALID_ARGUMENT `cannot update "x" field on image "y"`. */
int meta_image_update(meta_db *db, const char *ns, const meta_image *img, const char *const *paths, size_t n_paths,
                      meta_image *ret, berr **err);
int meta_image_delete(meta_db *db, const char *ns, const char *name, berr **err);
