/* Layer input: digest the raw bytes, decompress them ourselves (not through libarchive's filters) so the diffID
 * covers exactly the uncompressed stream, and hand the tar to libarchive block by block. */
#include <string.h>

#include "images/apply-internal.h"

#define IN_SIZE (256 * 1024)
#define OUT_SIZE (256 * 1024)

int layer_source_init(layer_source *src, apply_read_fn fn, void *userdata, apply_compression compression,
                      bool digest_compressed, berr **err) {
        *src = (layer_source) {
                .read = fn,
                .userdata = userdata,
                .compression = compression,
                .compressed = digest_compressed ? digester_new() : NULL,
                .uncompressed = digester_new(),
                .in = xmalloc(IN_SIZE),
                .out = xmalloc(OUT_SIZE),
        };
        return 0;
}

void layer_source_done(layer_source *src) {
        if (src->z_ready)
                inflateEnd(&src->z);
        ZSTD_freeDStream(src->zstd);
        digester_free(src->compressed);
        digester_free(src->uncompressed);
        free(src->in);
        free(src->out);
        berr_free(src->err);
        *src = (layer_source) { 0 };
}

static int fail(layer_source *src, berr_code code, int errnum, const char *what) {
        return berr_set(&src->err, code, errnum, "%s", what);
}

/* Every raw byte read passes here once. */
static void take_raw(layer_source *src, const void *buf, size_t n) {
        src->compressed_size += n;
        if (src->compressed)
                digester_update(src->compressed, buf, n);
}

/* Refills the input buffer if it is empty. Returns 0 (data or EOF) or -1. */
static int fill(layer_source *src) {
        if (src->in_pos < src->in_len || src->in_eof)
                return 0;
        for (;;) {
                ssize_t n = src->read(src->userdata, src->in, IN_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return berr_errno(&src->err, errno, "read layer");
                }
                src->in_pos = 0;
                src->in_len = (size_t) n;
                if (n == 0)
                        src->in_eof = true;
                else
                        take_raw(src, src->in, (size_t) n);
                return 0;
        }
}

/* Reads until at least 4 bytes are buffered (or EOF) and picks the decompressor from the magic. */
static int sniff(layer_source *src) {
        while (src->in_len - src->in_pos < 4 && !src->in_eof) {
                if (src->in_pos > 0) {
                        memmove(src->in, src->in + src->in_pos, src->in_len - src->in_pos);
                        src->in_len -= src->in_pos;
                        src->in_pos = 0;
                }
                ssize_t n = src->read(src->userdata, src->in + src->in_len, IN_SIZE - src->in_len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return berr_errno(&src->err, errno, "read layer");
                }
                if (n == 0)
                        src->in_eof = true;
                take_raw(src, src->in + src->in_len, (size_t) n);
                src->in_len += (size_t) n;
        }
        const uint8_t *p = src->in + src->in_pos;
        size_t avail = src->in_len - src->in_pos;
        if (avail >= 2 && p[0] == 0x1f && p[1] == 0x8b)
                src->compression = APPLY_COMPRESSION_GZIP;
        else if (avail >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
                src->compression = APPLY_COMPRESSION_ZSTD;
        else
                src->compression = APPLY_COMPRESSION_NONE;
        return 0;
}

static ssize_t next_plain(layer_source *src, const void **ret) {
        if (fill(src) < 0)
                return -1;
        size_t n = src->in_len - src->in_pos;
        *ret = src->in + src->in_pos;
        src->in_pos = src->in_len;
        return (ssize_t) n;
}

static ssize_t next_gzip(layer_source *src, const void **ret) {
        if (!src->z_ready) {
                if (inflateInit2(&src->z, 16 + MAX_WBITS) != Z_OK)
                        return fail(src, BERR_INTERNAL, ENOMEM, "gzip: cannot initialize");
                src->z_ready = true;
                /* Input the caller vouches for is covered by its SHA-256 already: skip gzip's CRC-32 (a few % of
                 * a pull's CPU). Unverified input keeps it. */
                if (!src->compressed)
                        inflateValidate(&src->z, 0);
        }
        src->z.next_out = src->out;
        src->z.avail_out = OUT_SIZE;
        while (src->z.avail_out == OUT_SIZE) {
                if (fill(src) < 0)
                        return -1;
                if (src->in_pos == src->in_len) {
                        /* EOF: fine between members, truncation inside one. */
                        if (src->z_member_done)
                                break;
                        return fail(src, BERR_INVALID_ARGUMENT, EIO, "gzip: unexpected EOF");
                }
                if (src->z_member_done) {
                        /* Zero padding after a member (block-padding writers such as libarchive's): skip it. */
                        size_t i = src->in_pos;
                        while (i < src->in_len && src->in[i] == 0)
                                i++;
                        if (i == src->in_len) {
                                src->in_pos = i;
                                continue;
                        }
                        /* Another member follows (concatenated gzip, as Go's reader accepts). */
                        inflateReset(&src->z);
                        src->z_member_done = false;
                }
                src->z.next_in = src->in + src->in_pos;
                src->z.avail_in = (uInt) (src->in_len - src->in_pos);
                int r = inflate(&src->z, Z_NO_FLUSH);
                src->in_pos = src->in_len - src->z.avail_in;
                if (r == Z_STREAM_END)
                        src->z_member_done = true;
                else if (r == Z_BUF_ERROR && src->z.avail_out < OUT_SIZE)
                        break;
                else if (r != Z_OK)
                        return berr_set(&src->err, BERR_INVALID_ARGUMENT, EIO, "gzip: %s",
                                        src->z.msg ? src->z.msg : "invalid data");
        }
        *ret = src->out;
        return (ssize_t) (OUT_SIZE - src->z.avail_out);
}

static ssize_t next_zstd(layer_source *src, const void **ret) {
        if (!src->zstd) {
                src->zstd = ZSTD_createDStream();
                if (!src->zstd || ZSTD_isError(ZSTD_initDStream(src->zstd)))
                        return fail(src, BERR_INTERNAL, ENOMEM, "zstd: cannot initialize");
                src->zstd_last = 0;
        }
        ZSTD_outBuffer out = { src->out, OUT_SIZE, 0 };
        while (out.pos == 0) {
                if (fill(src) < 0)
                        return -1;
                if (src->in_pos == src->in_len) {
                        if (src->zstd_last == 0)
                                break;
                        return fail(src, BERR_INVALID_ARGUMENT, EIO, "zstd: unexpected EOF");
                }
                if (src->zstd_last == 0) {
                        /* Between frames: zero padding from block-padding writers is skipped. */
                        size_t i = src->in_pos;
                        while (i < src->in_len && src->in[i] == 0)
                                i++;
                        if (i == src->in_len) {
                                src->in_pos = i;
                                continue;
                        }
                }
                ZSTD_inBuffer in = { src->in, src->in_len, src->in_pos };
                size_t r = ZSTD_decompressStream(src->zstd, &out, &in);
                src->in_pos = in.pos;
                if (ZSTD_isError(r))
                        return berr_set(&src->err, BERR_INVALID_ARGUMENT, EIO, "zstd: %s", ZSTD_getErrorName(r));
                src->zstd_last = r;
        }
        *ret = src->out;
        return (ssize_t) out.pos;
}

ssize_t layer_source_next(layer_source *src, const void **ret) {
        if (src->err)
                return -1;
        if (src->done)
                return 0;
        if (src->compression == APPLY_COMPRESSION_AUTO && sniff(src) < 0)
                return -1;
        ssize_t n;
        switch (src->compression) {
        case APPLY_COMPRESSION_GZIP:
                n = next_gzip(src, ret);
                break;
        case APPLY_COMPRESSION_ZSTD:
                n = next_zstd(src, ret);
                break;
        default:
                n = next_plain(src, ret);
                break;
        }
        if (n > 0)
                digester_update(src->uncompressed, *ret, (size_t) n);
        else if (n == 0)
                src->done = true;
        return n;
}

int layer_source_drain(layer_source *src, berr **err) {
        const void *buf;
        ssize_t n;
        while ((n = layer_source_next(src, &buf)) > 0)
                ;
        if (n < 0) {
                berr_set(err, src->err->code, src->err->errnum, "%s", src->err->msg);
                return -1;
        }
        return 0;
}

void layer_source_result(const layer_source *src, apply_result *ret) {
        digester_digest(src->uncompressed, ret->diff_id);
        if (src->compressed)
                digester_digest(src->compressed, ret->compressed_digest);
        else
                ret->compressed_digest[0] = '\0';
        ret->uncompressed_size = (int64_t) digester_size(src->uncompressed);
        ret->compressed_size = (int64_t) src->compressed_size;
}
