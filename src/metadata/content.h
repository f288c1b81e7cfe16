/* Per-namespace content records (containerd's metadata content store): the blobs themselves live once in
 * the shared content store; a namespace sees a blob only through its record here. Also the ingest
 * records that map a client's ref to the content store's (namespace-unique) backend ref. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/db.h"
#include "metadata/labels.h"

typedef struct meta_content_info {
        char *digest;
        int64_t size;
        meta_labels labels;
        int64_t created_at; /* ns since the epoch */
        int64_t updated_at;
} meta_content_info;

void meta_content_info_done(meta_content_info *info);
void meta_content_infos_free(meta_content_info *v, size_t n);

/* NOT_FOUND `content digest sha256:...: not found`. */
int meta_content_get(meta_db *db, const char *ns, const char *digest, meta_content_info *ret, berr **err);
/* Sorted by digest. Filter fields: digest, labels.<k> (size is never present, as in containerd). */
int meta_content_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters,
                      meta_content_info **ret, size_t *ret_n, berr **err);
/* Records a committed blob in ns (created_at = updated_at = now). INVALID_ARGUMENT for a bad digest or
 * label; ALREADY_EXISTS `content sha256:...: already exists` (the caller commits the rest of its transaction
 * anyway, as containerd's writer does). ret may be NULL. */
int meta_content_add(meta_db *db, const char *ns, const meta_content_info *info, meta_content_info *ret,
                     berr **err);
/* Field paths "labels" and "labels.<k>"; none replaces the labels. Others: INVALID_ARGUMENT
 * `cannot update "x" field on content info "sha256:..."`. ret may be NULL. */
int meta_content_update(meta_db *db, const char *ns, const meta_content_info *info, const char *const *paths,
                        size_t n_paths, meta_content_info *ret, berr **err);
/* Removes the record (not the blob: GC or the caller decides, see meta_content_in_use). */
int meta_content_delete(meta_db *db, const char *ns, const char *digest, berr **err);
/* Whether any namespace still has a record of the blob, or an ingest expects it (shared ingest). */
int meta_content_in_use(meta_db *db, const char *digest, bool *ret, berr **err);

typedef struct meta_ingest {
        char *ref;         /* the client's ref, unique in its namespace */
        char *backend_ref; /* the content store's ref: "<namespace>/<n>/<ref>", unique overall */
        char *expected;    /* digest of content shared from another namespace, or NULL */
        int64_t expires_at; /* 0 while a lease holds it */
        int64_t created_at;
} meta_ingest;

void meta_ingest_done(meta_ingest *ing);
void meta_ingests_free(meta_ingest *v, size_t n);

#define META_INGEST_EXPIRY_NS (24LL * 3600 * 1000000000) /* containerd: unleased ingests live a day */

/* containerd's Writer bookkeeping: returns the ingest record for ref, creating it (with a new backend ref)
 * if needed. With a lease (non-NULL, non-empty) the ingest is added to it (NOT_FOUND `lease does not exist:
 * not found` if it does not exist); without, its expiry is set to now + META_INGEST_EXPIRY_NS. expected, if
 * non-NULL, records the shared digest. */
int meta_ingest_open(meta_db *db, const char *ns, const char *ref, const char *expected, const char *lease,
                     meta_ingest *ret, berr **err);
/* NOT_FOUND `reference <ref>: not found`. */
int meta_ingest_get(meta_db *db, const char *ns, const char *ref, meta_ingest *ret, berr **err);
/* Filter field: ref. Sorted by ref. */
int meta_ingest_list(meta_db *db, const char *ns, const char *const *filters, size_t n_filters, meta_ingest **ret,
                     size_t *ret_n, berr **err);
/* Removes the record and its lease references (Abort, or after a commit). NOT_FOUND as meta_ingest_get. */
int meta_ingest_delete(meta_db *db, const char *ns, const char *ref, berr **err);
/* Whether some namespace's ingest record uses this backend ref (the content store aborts the others). */
int meta_ingest_backend_in_use(meta_db *db, const char *backend_ref, bool *ret, berr **err);
