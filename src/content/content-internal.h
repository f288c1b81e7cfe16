/* Shared between the store and writer halves of src/content. */
#pragma once

#include <stdint.h>

#include "basic/error.h"
#include "content/content.h"

struct content_store {
        char *dir;
        char *blobs_dir;  /* <dir>/blobs/sha256 */
        char *ingest_dir; /* <dir>/ingest */
};

int64_t content_now_ns(void);
/* "<dir>/ingest/<sha256 hex of ref>": the ref itself is arbitrary text, the hash keeps paths fixed-length. */
char *content_ingest_path(const content_store *s, const char *ref);
/* Timestamps in the ingest files are Go's time.MarshalText form (RFC 3339 with ns), so an ingest directory
 * written by containerd reads back, and ours read in containerd. */
int content_timestamp_write(int dirfd, const char *name, int64_t ns, berr **err);
int content_timestamp_read(int dirfd, const char *name, int64_t *ret, berr **err);
/* Status of an ingest directory (path), as containerd's store.status(). */
int content_ingest_status(const char *path, content_status *ret, berr **err);
