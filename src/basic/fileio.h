/* File helpers: whole-fd I/O, atomic replace, bounded reads, mkdir -p and rm -rf. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"

/* Writes all len bytes, retrying on EINTR and short writes; on a non-blocking fd it waits with poll()
 * on EAGAIN. Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);
/* Reads until len bytes or EOF, retrying on EINTR (and polling on EAGAIN). Returns the number of bytes
 * read (less than len only at EOF), or -1 with errno set. */
ssize_t read_all(int fd, void *buf, size_t len);

/* Replaces path (relative to dirfd, or AT_FDCWD) atomically with exactly these bytes: a temp file
 * ".<base>.XXXXXX" in the same directory, written, chmod'ed to mode (umask does not apply), fsynced,
 * renamed over path, then the directory fsynced. On failure the temp file is removed and any previous
 * content of path is untouched. */
int write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode, berr **err);
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, berr **err);
/* The same without the two fsyncs: atomic against a crash of any process (readers see the old or the new bytes,
 * never a partial file), not against power loss. For runtime state under the state dir (task bundles, shim
 * address files), which a reboot makes stale anyway: every container died with the host, and a file left empty by
 * a power cut reads as "no shim here". Each fsync cost 0.2-7 ms on a container's start path. */
int write_file_replace(const char *path, const void *data, size_t len, mode_t mode, berr **err);

/* Reads a whole file (regular file or a /proc-style one reporting size 0) into a NUL-terminated buffer.
 * *ret_len (may be NULL) excludes the NUL. Fails with BERR_OUT_OF_RANGE (errno EFBIG) if the file is
 * larger than max bytes. */
int read_file(const char *path, char **ret, size_t *ret_len, size_t max, berr **err);

/* Creates path and its missing parents with mode (subject to umask). An existing directory is fine;
 * an existing non-directory fails with ENOTDIR. */
int mkdir_p(const char *path, mode_t mode, berr **err);

/* Removes path recursively. A missing path is success. Never follows symlinks (a symlink is removed,
 * not its target) and never descends into another mount: a mount point below path is left alone and
 * makes the call fail with BERR_FAILED_PRECONDITION (EBUSY) after removing everything else. */
int rm_rf(const char *path, berr **err);
