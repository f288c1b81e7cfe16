/* Pieces of layer application shared by apply*.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>
#include <zstd.h>

#include "images/apply.h"

/* The input side: raw bytes -> compressed digest -> decompressor -> diffID digest -> uncompressed blocks. */
typedef struct layer_source {
        apply_read_fn read;
        void *userdata;
        apply_compression compression;
        digester *compressed; /* NULL when the caller vouches for the raw bytes (apply_options) */
        digester *uncompressed;
        uint64_t compressed_size;
        z_stream z;
        bool z_ready, z_member_done;
        ZSTD_DStream *zstd;
        size_t zstd_last; /* ZSTD_decompressStream's last return: 0 means a frame just ended */
        uint8_t *in;
        size_t in_pos, in_len;
        bool in_eof;
        uint8_t *out;
        bool done;
        berr *err; /* set when a read fails */
} layer_source;

int layer_source_init(layer_source *src, apply_read_fn fn, void *userdata, apply_compression compression,
                      bool digest_compressed, berr **err);
/* Next block of uncompressed bytes in *ret (valid until the next call): returns its length, 0 at the end of a
 * complete stream, -1 with src->err set. */
ssize_t layer_source_next(layer_source *src, const void **ret);
/* Consumes and digests whatever is left. */
int layer_source_drain(layer_source *src, berr **err);
void layer_source_result(const layer_source *src, apply_result *ret);
void layer_source_done(layer_source *src);

/* Lexically cleans a tar path: leading '/' and "." components dropped, ".." resolved; fails if ".." would
 * leave the root. "" means the root itself. */
int tar_path_clean(const char *path, char **ret, berr **err);

/* openat2 beneath dirfd (no magic links, no mount crossing; symlinks only if they stay below dirfd). Falls back
 * to a symlink-refusing walk where openat2 is missing. Returns the fd or -1 with errno (EXDEV: escapes). */
int open_beneath(int dirfd, const char *path, int flags);

/* Removes name in dirfd, recursively, never following symlinks. ENOENT is success. */
int rm_rf_at(int dirfd, const char *name, berr **err);
