/* Leases (containerd's metadata lease manager): named holds on content, ingests and snapshots that keep
 * them from garbage collection until the lease is deleted or expires (label containerd.io/gc.expire,
 * RFC 3339). A resource is {id, type} with type "content" (id a digest), "ingests" (id an ingest ref) or
 * "snapshots/<snapshotter>" (id a snapshot key). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

typedef struct meta_lease {
        char *id;
        meta_labels labels;
        int64_t created_at; /* ns since the epoch */
} meta_lease;

typedef struct meta_lease_resource {
        char *id;
        char *type;
} meta_lease_resource;

void meta_lease_done(meta_lease *l);
void meta_leases_free(meta_lease *v, size_t n);
void meta_lease_resources_free(meta_lease_resource *v, size_t n);

/* INVALID_ARGUMENT `lease id must be provided` for an empty id; ALREADY_EXISTS `lease "x": already exists`.
 * ret may be NULL. */
int meta_lease_create(meta_db *db, const char *ns, const char *id, const meta_labels *labels, meta_lease *ret,
                      berr **err);
/* NOT_FOUND `lease "x": not found`. Its resources are released (GC decides what goes). */
int meta_lease_delete(meta_db *db, const char *ns, const char *id, berr **err);
/* Sorted by id. Filter fields: id, labels.<k>. */
int meta_lease_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_lease **ret,
                    size_t *ret_n, berr **err);
/* containerd's AddResource/DeleteResource/ListResources. NOT_FOUND `lease "x": not found`; a bad resource
 * type is INVALID_ARGUMENT (`invalid snapshot resource type x`, `invalid content resource id x: ...`) or
 * UNIMPLEMENTED (`resource type x not supported yet`). Adding twice is fine; deleting a missing one too. */
int meta_lease_add_resource(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                            berr **err);
int meta_lease_delete_resource(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                               berr **err);
/* Content first, then ingests, then snapshots (by snapshotter), each sorted by id. */
int meta_lease_list_resources(meta_db *db, const char *ns, const char *lease, meta_lease_resource **ret,
                              size_t *ret_n, berr **err);

/* What the services do with the request's lease (the containerd-lease header): no-op when lease is NULL
 * or ""; otherwise add (hold) or remove (release) the resource. hold: NOT_FOUND `lease does not exist: not
 * found` if the lease is missing; release: a missing lease or resource is not an error. */
int meta_lease_hold(meta_db *db, const char *ns, const char *lease, const char *type, const char *id, berr **err);
int meta_lease_release(meta_db *db, const char *ns, const char *lease, const char *type, const char *id,
                       berr **err);
