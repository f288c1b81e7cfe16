/* Digest validation and incremental SHA-256 (OpenSSL EVP). */
#include <openssl/evp.h>
#include <string.h>

#include "basic/fileio.h"
#include "images/digest.h"

struct digester {
        EVP_MD_CTX *ctx;
        uint64_t size;
};

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* go-digest's DigestRegexp: algorithm components [a-z0-9]+ joined by [+._-], ':' then [a-zA-Z0-9=_-]+. */
static bool looks_like_digest(const char *s, const char *colon) {
        if (colon == s)
                return false;
        for (const char *p = s; p < colon; p++) {
                bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
                bool sep = *p == '+' || *p == '.' || *p == '_' || *p == '-';
                if (!alnum && !(sep && p > s && p + 1 < colon))
                        return false;
        }
        for (const char *p = colon + 1; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '=' || *p == '_' || *p == '-'))
                        return false;
        return colon[1] != '\0';
}

int digest_parse(const char *s, char ret_hex[DIGEST_HEX_LEN + 1], berr **err) {
        if (!s)
                s = "";
        const char *colon = strchr(s, ':');
        if (!colon || colon == s || colon[1] == '\0')
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: invalid checksum digest format", s);
        if ((size_t) (colon - s) != 6 || strncmp(s, "sha256", 6) != 0) {
                if (!looks_like_digest(s, colon))
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: invalid checksum digest format", s);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: unsupported digest algorithm", s);
        }
        const char *hex = colon + 1;
        if (strlen(hex) != DIGEST_HEX_LEN)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: invalid checksum digest length", s);
        if (!is_lower_hex(hex, DIGEST_HEX_LEN))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "%s: invalid checksum digest format", s);
        if (ret_hex)
                memcpy(ret_hex, hex, DIGEST_HEX_LEN + 1);
        return 0;
}

bool digest_is_valid(const char *s) {
        return digest_parse(s, NULL, NULL) == 0;
}

digester *digester_new(void) {
        digester *d = xcalloc(1, sizeof *d);
        d->ctx = EVP_MD_CTX_new();
        if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
                abort(); /* only fails on OOM */
        return d;
}

digester *digester_free(digester *d) {
        if (!d)
                return NULL;
        EVP_MD_CTX_free(d->ctx);
        free(d);
        return NULL;
}

void digester_update(digester *d, const void *buf, size_t len) {
        if (len == 0)
                return;
        if (EVP_DigestUpdate(d->ctx, buf, len) != 1)
                abort();
        d->size += len;
}

void digester_reset(digester *d) {
        if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
                abort();
        d->size = 0;
}

static void to_string(const unsigned char *md, char ret[DIGEST_STRING_MAX]) {
        static const char hexdig[] = "0123456789abcdef";
        memcpy(ret, "sha256:", 7);
        for (size_t i = 0; i < 32; i++) {
                ret[7 + 2 * i] = hexdig[md[i] >> 4];
                ret[7 + 2 * i + 1] = hexdig[md[i] & 15];
        }
        ret[7 + DIGEST_HEX_LEN] = '\0';
}

void digester_digest(const digester *d, char ret[DIGEST_STRING_MAX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_MD_CTX *copy = EVP_MD_CTX_new();
        if (!copy || EVP_MD_CTX_copy_ex(copy, d->ctx) != 1 || EVP_DigestFinal_ex(copy, md, &n) != 1 || n != 32)
                abort();
        EVP_MD_CTX_free(copy);
        to_string(md, ret);
}

uint64_t digester_size(const digester *d) {
        return d->size;
}

void digest_buffer(const void *buf, size_t len, char ret[DIGEST_STRING_MAX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
                abort();
        to_string(md, ret);
}

int digester_update_from_fd(digester *d, int fd) {
        size_t bufsz = 1 << 20;
        _cleanup_free_ char *buf = xmalloc(bufsz);
        for (;;) {
                ssize_t n = read(fd, buf, bufsz);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (n == 0)
                        return 0;
                digester_update(d, buf, (size_t) n);
        }
}
