/* SHA-256 (FIPS 180-4). The shim needs it only to name its socket (containerd hashes address/ns/id) and must not link
 * libcrypto just for that. berthd's content store uses libcrypto for speed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LENGTH_BYTES 32

typedef struct sha256_ctx {
        uint32_t state[8];
        uint64_t length; /* bytes hashed so far */
        uint8_t block[64];
        size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, uint8_t out[SHA256_DIGEST_LENGTH_BYTES]);
/* Hex digest of data into out (65 bytes with NUL). */
void sha256_hex(const void *data, size_t len, char out[2 * SHA256_DIGEST_LENGTH_BYTES + 1]);
