/* The local content store, laid out like containerd's (content/local):
 *   <dir>/blobs/sha256/<hex>                 committed, read-only blobs
 *   <dir>/ingest/<sha256(ref)>/{data,ref,startedat,updatedat,total}   resumable writes keyed by ref
 * The daemon opens it at <root>/content. This layer knows nothing about namespaces, labels or leases (those
 * live in SQLite, src/metadata); it only stores bytes and verifies them. All calls are safe from any thread;
 * a writer object must be used by one thread at a time. Timestamps are ns since the epoch. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "images/digest.h"

typedef struct content_store content_store;

/* Creates dir/blobs/sha256 and dir/ingest as needed (0755, like containerd's MkdirAll). */
int content_store_open(const char *dir, content_store **ret, berr **err);
content_store *content_store_free(content_store *s);
static inline void content_store_freep(content_store **s) {
        *s = content_store_free(*s);
}
const char *content_store_dir(const content_store *s);

typedef struct content_info {
        char digest[DIGEST_STRING_MAX];
        int64_t size;
        int64_t created_at; /* blob mtime (set at commit) */
        int64_t updated_at; /* blob atime, as containerd reports it */
} content_info;

/* BERR_INVALID_ARGUMENT for a bad digest; BERR_NOT_FOUND "content sha256:...: not found". */
int content_info_get(content_store *s, const char *digest, content_info *ret, berr **err);
/* "<dir>/blobs/sha256/<hex>" (whether or not it exists). */
int content_blob_path(content_store *s, const char *digest, char **ret, berr **err);
/* Removes a blob. BERR_NOT_FOUND "content sha256:...: not found" if absent. */
int content_delete(content_store *s, const char *digest, berr **err);
/* Calls fn for every blob (order unspecified); a negative return from fn stops the walk and is returned (with
 * *err left as fn set it). Files with names that are not valid digests are skipped. */
typedef int (*content_walk_fn)(const content_info *info, void *userdata, berr **err);
int content_walk(content_store *s, content_walk_fn fn, void *userdata, berr **err);

/* Readers: an fd on the blob, for pread/sendfile (the Read RPC) or streaming into unpack. */
typedef struct content_reader content_reader;
int content_reader_open(content_store *s, const char *digest, content_reader **ret, berr **err);
content_reader *content_reader_free(content_reader *r);
static inline void content_reader_freep(content_reader **r) {
        *r = content_reader_free(*r);
}
int64_t content_reader_size(const content_reader *r);
/* The reader's fd (owned by the reader; O_RDONLY|O_CLOEXEC). */
int content_reader_fd(const content_reader *r);
/* Reads up to len bytes at offset; returns the count (0 at or past the end) or -1 and *err. */
ssize_t content_reader_pread(content_reader *r, void *buf, size_t len, int64_t offset, berr **err);

/* Ingest status (containerd's content.Status). */
typedef struct content_status {
        char *ref;
        int64_t offset; /* bytes on disk */
        int64_t total;  /* expected size if known, else 0 */
        int64_t started_at;
        int64_t updated_at;
} content_status;
void content_status_done(content_status *st);
void content_statuses_free(content_status *sts, size_t n);

/* Status of the ingest for ref. BERR_NOT_FOUND if there is none. */
int content_status_get(content_store *s, const char *ref, content_status *ret, berr **err);
/* All ingests (ones vanishing meanwhile are skipped). Filtering is the caller's business. */
int content_list_statuses(content_store *s, content_status **ret, size_t *ret_n, berr **err);
/* Removes the ingest for ref, even if a writer holds it (that writer then fails at commit).
 * BERR_NOT_FOUND `ingest ref "x": not found` if there is none. */
int content_abort(content_store *s, const char *ref, berr **err);

/* Writers. One writer per ref at a time, across threads and processes (an flock on the ingest directory):
 * a second open fails with BERR_UNAVAILABLE "ref X locked: unavailable". Opening an existing ingest resumes
 * it: the bytes on disk are re-hashed and the offset is their count (also after the previous writer was
 * SIGKILLed). total > 0 records the expected size (a conflicting total on resume is an error); expected
 * (may be NULL/"") makes the open fail with BERR_ALREADY_EXISTS "content sha256:...: already exists" if that
 * blob is already committed. */
typedef struct content_writer content_writer;
int content_writer_open(content_store *s, const char *ref, int64_t total, const char *expected,
                        content_writer **ret, berr **err);
/* Closes without committing: the ingest stays for a later resume (updatedat is written). NULL ok. */
content_writer *content_writer_close(content_writer *w);
static inline void content_writer_closep(content_writer **w) {
        *w = content_writer_close(*w);
}
/* Appends len bytes at the current offset. */
int content_writer_write(content_writer *w, const void *buf, size_t len, berr **err);
/* The Write RPC's rule: offset > 0 must equal the current offset (else BERR_OUT_OF_RANGE
 * "write @N must occur at current offset M"); offset 0 with data already written restarts the ingest
 * (truncate); then len bytes (possibly 0) are appended. */
int content_writer_write_at(content_writer *w, int64_t offset, const void *buf, size_t len, berr **err);
/* Only size 0 is supported (as containerd): drops everything written so far. */
int content_writer_truncate(content_writer *w, int64_t size, berr **err);
int64_t content_writer_offset(const content_writer *w);
/* Fills ret (ref is copied; release with content_status_done). */
void content_writer_status(const content_writer *w, content_status *ret);
void content_writer_digest(const content_writer *w, char ret[DIGEST_STRING_MAX]);
/* Verifies and publishes the data: size > 0 must match (BERR_FAILED_PRECONDITION "unexpected commit size
 * N, expected M: failed precondition"), expected (NULL/"" = any) must match (BERR_FAILED_PRECONDITION
 * "unexpected commit digest sha256:x, expected sha256:y: failed precondition"; an invalid expected digest is
 * BERR_INVALID_ARGUMENT), then fsync + atomic rename into blobs + fsync of the directory, and the ingest is
 * removed. A blob that already exists gives BERR_ALREADY_EXISTS "content sha256:...: already exists" (the
 * ingest is removed too). Success or not, the writer is closed afterwards (its lock released; a failed
 * commit leaves the ingest on disk); the caller still calls content_writer_close() to free it. ret_digest
 * may be NULL. */
int content_writer_commit(content_writer *w, int64_t size, const char *expected, char ret_digest[DIGEST_STRING_MAX],
                          berr **err);
