/* Docker reference grammar, written out by hand instead of with regular expressions: each part of a reference
 * has a fixed delimiter ('@' starts the digest, the last ':' after the last '/' starts the tag, the first '/'
 * ends a domain), so the leftmost-first regexp match docker uses reduces to these splits plus per-part checks. */
#include "images/reference.h"

#include <ctype.h>
#include <string.h>

#include "basic/macro.h"

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

static bool is_lower_hex(char c) {
        return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (sep [a-z0-9]+)* with sep one of '.', '_', '__', '-'+ . */
static bool path_component_valid(const char *s, size_t n) {
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                while (j < n && !is_lower_alnum(s[j]))
                        j++;
                size_t len = j - i;
                bool ok = (len == 1 && (s[i] == '.' || s[i] == '_')) || (len == 2 && s[i] == '_' && s[i + 1] == '_');
                if (!ok) {
                        ok = true;
                        for (size_t k = i; k < j; k++)
                                if (s[k] != '-')
                                        ok = false;
                }
                if (!ok)
                        return false;
                i = j;
        }
        return true;
}

static bool path_valid(const char *s, size_t n) {
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || s[i] == '/') {
                        if (!path_component_valid(s + start, i - start))
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

static bool domain_label_valid(const char *s, size_t n) {
        if (n == 0 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* domain := label ('.' label)* [':' [0-9]+] */
static bool domain_valid(const char *s, size_t n) {
        const char *colon = memchr(s, ':', n);
        size_t host_len = colon ? (size_t) (colon - s) : n;
        if (colon) {
                size_t plen = n - host_len - 1;
                if (plen == 0)
                        return false;
                for (size_t i = 0; i < plen; i++)
                        if (!isdigit((unsigned char) colon[1 + i]))
                                return false;
        }
        size_t start = 0;
        for (size_t i = 0; i <= host_len; i++) {
                if (i == host_len || s[i] == '.') {
                        if (!domain_label_valid(s + start, i - start))
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

static bool tag_valid(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 128 || !is_word(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
                        return false;
        return true;
}

/* The syntactic digest grammar: [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,} */
static bool digest_syntax_valid(const char *s) {
        const char *colon = strchr(s, ':');
        if (!colon || colon == s)
                return false;
        bool need_alpha = true;
        for (const char *p = s; p < colon; p++) {
                if (need_alpha) {
                        if (!isalpha((unsigned char) *p))
                                return false;
                        need_alpha = false;
                } else if (*p == '-' || *p == '_' || *p == '+' || *p == '.') {
                        need_alpha = true;
                } else if (!isalnum((unsigned char) *p)) {
                        return false;
                }
        }
        if (need_alpha)
                return false;
        size_t hex = strlen(colon + 1);
        if (hex < 32)
                return false;
        for (const char *p = colon + 1; *p; p++)
                if (!isxdigit((unsigned char) *p))
                        return false;
        return true;
}

int image_digest_validate(const char *digest, berr **err) {
        const char *colon = digest ? strchr(digest, ':') : NULL;
        if (!colon || colon == digest || colon[1] == '\0')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid digest \"%s\": invalid checksum digest format",
                                digest ? digest : "");
        size_t alg_len = colon - digest, want;
        if (alg_len == 6 && strncmp(digest, "sha256", 6) == 0)
                want = 64;
        else if (alg_len == 6 && strncmp(digest, "sha384", 6) == 0)
                want = 96;
        else if (alg_len == 6 && strncmp(digest, "sha512", 6) == 0)
                want = 128;
        else if (!digest_syntax_valid(digest))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid digest \"%s\": invalid checksum digest format",
                                digest);
        else
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid digest \"%s\": unsupported digest algorithm",
                                digest);
        const char *hex = colon + 1;
        if (strlen(hex) != want)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid digest \"%s\": invalid checksum digest length",
                                digest);
        for (const char *p = hex; *p; p++)
                if (!is_lower_hex(*p))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "invalid digest \"%s\": invalid checksum digest format", digest);
        return 0;
}

bool image_digest_is_valid(const char *digest) {
        return image_digest_validate(digest, NULL) == 0;
}

image_ref *image_ref_free(image_ref *r) {
        if (!r)
                return NULL;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        free(r);
        return NULL;
}

image_ref *image_ref_copy(const image_ref *r) {
        image_ref *c = xcalloc(1, sizeof *c);
        c->domain = xstrdup(r->domain ? r->domain : "");
        c->path = xstrdup(r->path);
        c->tag = r->tag ? xstrdup(r->tag) : NULL;
        c->digest = r->digest ? xstrdup(r->digest) : NULL;
        return c;
}

typedef enum ref_problem {
        REF_OK,
        REF_EMPTY,
        REF_FORMAT,
        REF_TOO_LONG,
        REF_TAG,
} ref_problem;

/* Splits and checks s; on REF_OK fills *out (all fields allocated). */
static ref_problem ref_split(const char *s, image_ref *out) {
        if (*s == '\0')
                return REF_EMPTY;
        const char *at = strchr(s, '@');
        size_t name_tag_len = at ? (size_t) (at - s) : strlen(s);
        if (at && !digest_syntax_valid(at + 1))
                return REF_FORMAT;

        /* The tag starts at the last ':' that follows the last '/'. */
        const char *tag = NULL;
        for (size_t i = name_tag_len; i > 0; i--) {
                if (s[i - 1] == '/')
                        break;
                if (s[i - 1] == ':') {
                        tag = s + i;
                        break;
                }
        }
        size_t name_len = tag ? (size_t) (tag - 1 - s) : name_tag_len;
        if (tag) {
                _cleanup_free_ char *t = xstrndup(tag, name_tag_len - name_len - 1);
                if (!tag_valid(t))
                        return REF_FORMAT;
        }
        if (name_len == 0)
                return REF_FORMAT;

        const char *slash = memchr(s, '/', name_len);
        size_t domain_len = 0;
        if (slash && domain_valid(s, slash - s) && path_valid(slash + 1, name_len - (slash - s) - 1))
                domain_len = slash - s;
        else if (!path_valid(s, name_len))
                return REF_FORMAT;
        if (name_len > IMAGE_REF_NAME_MAX)
                return REF_TOO_LONG;

        out->domain = xstrndup(s, domain_len);
        out->path = domain_len ? xstrndup(slash + 1, name_len - domain_len - 1) : xstrndup(s, name_len);
        out->tag = tag ? xstrndup(tag, name_tag_len - name_len - 1) : NULL;
        out->digest = at ? xstrdup(at + 1) : NULL;
        return REF_OK;
}

int image_ref_parse(const char *s, image_ref **ret, berr **err) {
        _cleanup_image_ref_ image_ref *r = xcalloc(1, sizeof *r);
        if (!s)
                s = "";
        switch (ref_split(s, r)) {
        case REF_OK:
                break;
        case REF_EMPTY:
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid reference \"\": repository name must have at least one component");
        case REF_TOO_LONG:
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid reference \"%s\": repository name must not be more than %d characters", s,
                                IMAGE_REF_NAME_MAX);
        case REF_FORMAT:
        case REF_TAG: {
                _cleanup_free_ char *lower = xstrdup(s);
                for (char *p = lower; *p; p++)
                        *p = tolower((unsigned char) *p);
                image_ref tmp = { 0 };
                ref_problem lp = ref_split(lower, &tmp);
                free(tmp.domain);
                free(tmp.path);
                free(tmp.tag);
                free(tmp.digest);
                if (lp == REF_OK)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "invalid reference \"%s\": repository name must be lowercase", s);
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid reference \"%s\": invalid reference format", s);
        }
        }
        if (r->digest && image_digest_validate(r->digest, err) < 0)
                return berr_wrap(err, "invalid reference \"%s\"", s);
        *ret = TAKE_PTR(r);
        return 0;
}

static bool is_hex64(const char *s) {
        size_t n = 0;
        for (; s[n]; n++)
                if (!is_lower_hex(s[n]))
                        return false;
        return n == 64;
}

int image_ref_parse_normalized(const char *s, image_ref **ret, berr **err) {
        if (!s)
                s = "";
        if (is_hex64(s))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);

        /* A first component is a domain only if it looks like a host: holds '.' or ':' or is localhost. */
        const char *slash = strchr(s, '/');
        _cleanup_free_ char *domain = NULL;
        const char *remainder;
        if (!slash || (!memchr(s, '.', slash - s) && !memchr(s, ':', slash - s) &&
                       !(slash - s == 9 && strncmp(s, "localhost", 9) == 0))) {
                domain = xstrdup(IMAGE_REF_DEFAULT_DOMAIN);
                remainder = s;
        } else {
                domain = xstrndup(s, slash - s);
                remainder = slash + 1;
        }
        if (strcmp(domain, "index.docker.io") == 0) {
                free(domain);
                domain = xstrdup(IMAGE_REF_DEFAULT_DOMAIN);
        }

        size_t remote_len = strcspn(remainder, ":");
        for (size_t i = 0; i < remote_len; i++)
                if (isupper((unsigned char) remainder[i]))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "invalid reference \"%s\": repository name must be lowercase", s);

        /* docker.io's one-component repositories live under library/. */
        const char *library = "";
        size_t path_end = strcspn(remainder, ":@");
        if (strcmp(domain, IMAGE_REF_DEFAULT_DOMAIN) == 0 && !memchr(remainder, '/', path_end))
                library = "library/";

        _cleanup_free_ char *full = xasprintf("%s/%s%s", domain, library, remainder);
        _cleanup_image_ref_ image_ref *r = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (image_ref_parse(full, &r, &e) < 0) {
                /* Report the caller's string, not our expansion of it. */
                const char *why = strstr(e->msg, "\": ");
                return berr_set(err, e->code, 0, "invalid reference \"%s\": %s", s,
                                why ? why + 3 : "invalid reference format");
        }
        /* The first component looked like a host (has '.' or ':') but is not a valid one, e.g. "a_b.com/x":
         * docker would accept it as a path without a domain, which no registry can be asked for. */
        if (!*r->domain)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid reference \"%s\": invalid reference format", s);
        if (!r->tag && !r->digest)
                r->tag = xstrdup(IMAGE_REF_DEFAULT_TAG);
        *ret = TAKE_PTR(r);
        return 0;
}

char *image_ref_name(const image_ref *r) {
        if (!r->domain || !*r->domain)
                return xstrdup(r->path);
        return xasprintf("%s/%s", r->domain, r->path);
}

static char *ref_format(const char *domain, const char *path, const char *tag, const char *digest) {
        return xasprintf("%s%s%s%s%s%s%s", domain, *domain ? "/" : "", path, tag ? ":" : "", tag ? tag : "",
                         digest ? "@" : "", digest ? digest : "");
}

char *image_ref_to_string(const image_ref *r) {
        return ref_format(r->domain ? r->domain : "", r->path, r->tag, r->digest);
}

char *image_ref_familiar(const image_ref *r) {
        const char *domain = r->domain ? r->domain : "";
        const char *path = r->path;
        if (strcmp(domain, IMAGE_REF_DEFAULT_DOMAIN) == 0) {
                domain = "";
                if (strncmp(path, "library/", 8) == 0 && !strchr(path + 8, '/'))
                        path += 8;
        }
        return ref_format(domain, path, r->tag, r->digest);
}

const char *image_ref_object(const image_ref *r) {
        return r->digest ? r->digest : r->tag;
}
