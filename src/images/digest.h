/* OCI content digests ("sha256:<64 lowercase hex>") and an incremental SHA-256 over OpenSSL's EVP, used by the
 * content store (verify before commit) and layer unpack (diffID and compressed digest in one pass). Only sha256
 * is supported, as containerd's canonical algorithm; anything else is rejected with BERR_INVALID_ARGUMENT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

#define DIGEST_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define DIGEST_STRING_MAX (7 + DIGEST_HEX_LEN + 1)

/* Validates s like go-digest's Validate restricted to sha256. On success copies the hex part into ret_hex
 * (may be NULL). Failure: BERR_INVALID_ARGUMENT with go-digest's words after the digest, e.g.
 * `md5:abc: unsupported digest algorithm`, `sha256:12: invalid checksum digest length`,
 * `sha256: invalid checksum digest format`. */
int digest_parse(const char *s, char ret_hex[DIGEST_HEX_LEN + 1], berr **err);
bool digest_is_valid(const char *s);

typedef struct digester digester;

digester *digester_new(void);
digester *digester_free(digester *d);
static inline void digester_freep(digester **d) {
        *d = digester_free(*d);
}
#define _cleanup_digester_ _cleanup_(digester_freep)
void digester_update(digester *d, const void *buf, size_t len);
/* Forgets everything hashed so far. */
void digester_reset(digester *d);
/* "sha256:<hex>" of everything hashed so far; the digester keeps going (the state is copied, not finalized). */
void digester_digest(const digester *d, char ret[DIGEST_STRING_MAX]);
/* Bytes hashed so far. */
uint64_t digester_size(const digester *d);

/* One-shot digest of a buffer. */
void digest_buffer(const void *buf, size_t len, char ret[DIGEST_STRING_MAX]);
/* Digests everything readable from fd (from its current position, until EOF) into d. Returns 0 or -1 with
 * errno set. */
int digester_update_from_fd(digester *d, int fd);
