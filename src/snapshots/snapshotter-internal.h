/* The vtable each snapshotter implementation fills in (overlay.c, native.c). */
#pragma once

#include "snapshots/snapshots.h"

typedef struct snapshotter_ops {
        const char *name;
        /* Feature checks at open. */
        int (*init)(snapshotter *s, berr **err);
        /* Fills the fresh temp dir td (which will become <id>); false from needs_dir means no dir at all. */
        bool (*needs_dir)(snapshot_kind kind, size_t n_parents);
        int (*populate)(snapshotter *s, const char *td, snapshot_kind kind, char *const *parent_ids,
                        size_t n_parents, berr **err);
        int (*mounts)(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                      size_t n_parents, berth_mount **ret, size_t *ret_n, berr **err);
        int (*commit)(snapshotter *s, const char *id, berr **err);
} snapshotter_ops;

struct snapshotter {
        const snapshotter_ops *ops;
        char *root;
        char *snapshots_dir; /* <root>/snapshots */
        char *check_cache; /* where the overlay check's outcome is remembered (snapshotter_open_cached), or NULL */
        /* overlay features, detected at open */
        bool index_off;
        bool userxattr;
};

extern const snapshotter_ops overlay_ops;
extern const snapshotter_ops native_ops;

/* <root>/snapshots/<id>[/<sub>] */
char *snapshot_path(const snapshotter *s, const char *id, const char *sub);
/* One mount entry; options is a NULL-terminated list of words, copied. */
void mount_fill(berth_mount *m, const char *type, const char *source, const char *const *options);
void mount_add_option(berth_mount *m, char *option_taken);
