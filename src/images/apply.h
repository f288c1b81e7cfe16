/* Layer application (containerd's diff/apply + archive.Apply): one pass that reads a layer blob, digests it as read
 * (compressed digest), decompresses it (gzip/zstd/none), digests the tar (diffID), and extracts it with libarchive
 * into a snapshot directory, applying OCI whiteouts and opaque directories. Extraction is hardened: every path is
 * resolved below the root dirfd with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV), so ".."
 * escapes, absolute paths, symlinked parents and hardlinks that would lead outside are rejected with
 * BERR_INVALID_ARGUMENT (`path "../x" escapes the layer root: invalid argument`). On any error the caller discards
 * the snapshot: what was extracted so far stays inside the root but is incomplete.
 *
 * Everything here blocks; run it on a worker thread (apply_stream is made for that). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "basic/mount.h"
#include "images/digest.h"

typedef enum apply_compression {
        APPLY_COMPRESSION_AUTO = 0, /* sniff gzip / zstd magic, else plain tar */
        APPLY_COMPRESSION_NONE,
        APPLY_COMPRESSION_GZIP,
        APPLY_COMPRESSION_ZSTD,
} apply_compression;

/* OCI and Docker layer media types (incl. the non-distributable/foreign ones) to a compression; anything else
 * is BERR_UNIMPLEMENTED "failed to get stream processor for <mt>: no processor for media-type: not implemented". */
int apply_compression_from_media_type(const char *media_type, apply_compression *ret, berr **err);

typedef enum apply_whiteouts {
        /* native/plain directories: ".wh.x" deletes x, ".wh..wh..opq" empties the dir of older content */
        APPLY_WHITEOUT_DELETE = 0,
        /* the upper dir of an overlay: ".wh.x" becomes a 0/0 character device x, ".wh..wh..opq" sets
         * trusted.overlay.opaque=y on the dir */
        APPLY_WHITEOUT_OVERLAY,
} apply_whiteouts;

typedef struct apply_options {
        apply_compression compression;
        apply_whiteouts whiteouts;
        /* Character/block device nodes from the layer are created only if set (and the process may mknod);
         * otherwise such an entry fails with BERR_PERMISSION_DENIED. 0/0 character devices (overlay
         * whiteouts) and fifos are always allowed. */
        bool allow_devices;
        /* Overlay lower dirs, nearest first (not owned): a directory the layer implies without an entry of its
         * own takes owner, mode, times and xattrs from the first lower that has it, as containerd's mkparent. */
        const int *parent_fds;
        size_t n_parent_fds;
        /* The caller vouches for the compressed bytes: they come from the content store, which verified them
         * against their digest at commit, or from a pull that feeds the bytes its ingest is hashing and commits
         * (verifies) the blob before the snapshot. Then the compressed digest is not computed again
         * (apply_result.compressed_digest is ""; compressed_size is still counted). */
        bool compressed_verified;
} apply_options;

typedef struct apply_result {
        char diff_id[DIGEST_STRING_MAX];           /* sha256 of the uncompressed tar stream */
        char compressed_digest[DIGEST_STRING_MAX]; /* sha256 of the bytes as read (the blob digest); "" when
                                                      apply_options.compressed_verified */
        int64_t compressed_size;
        int64_t uncompressed_size;
} apply_result;

/* Pull-model input: returns bytes read (0 at EOF) or -1 with errno set. */
typedef ssize_t (*apply_read_fn)(void *userdata, void *buf, size_t len);

/* Applies the layer read through fn into the directory root_fd (not consumed). The whole input is consumed and
 * digested, including anything after the tar's end-of-archive blocks. */
int apply_layer(int root_fd, apply_read_fn fn, void *userdata, const apply_options *opts, apply_result *ret,
                berr **err);
/* Same, reading fd from its current position to EOF. */
int apply_layer_fd(int root_fd, int fd, const apply_options *opts, apply_result *ret, berr **err);
/* Only decompresses and digests (no extraction): the diffID and the compressed digest. */
int layer_diff_id(apply_read_fn fn, void *userdata, apply_compression compression, apply_result *ret, berr **err);

/* Push model for pull (fetch + digest + decompress + unpack in one pass): start spawns a worker thread that
 * extracts what feed hands it through a bounded buffer; feed blocks while the buffer is full. feed fails (with
 * the extraction's error) once extraction has failed. finish signals EOF, waits and reports; abort cancels.
 * Both finish and abort free s. root_fd and opts->parent_fds are duplicated, so the caller may close its own. */
typedef struct apply_stream apply_stream;
int apply_stream_start(int root_fd, const apply_options *opts, apply_stream **ret, berr **err);
int apply_stream_feed(apply_stream *s, const void *buf, size_t len, berr **err);
int apply_stream_finish(apply_stream *s, apply_result *ret, berr **err);
void apply_stream_abort(apply_stream *s);

/* Where to apply for a snapshot's mounts, as containerd's diff applier decides: one overlay mount with an
 * upperdir -> that upper (overlay whiteouts, lowerdirs as parents); one bind mount -> its source (whiteouts
 * delete). Other shapes (read-only views, several mounts) are BERR_UNIMPLEMENTED. */
typedef struct apply_target {
        int root_fd;
        int *parent_fds;
        size_t n_parent_fds;
        apply_whiteouts whiteouts;
} apply_target;
int apply_target_from_mounts(const berth_mount *mounts, size_t n, apply_target *ret, berr **err);
void apply_target_done(apply_target *t);
/* Options for t (compression left AUTO, devices as given). */
apply_options apply_target_options(const apply_target *t, bool allow_devices);
