#include <stdio.h>
#include <string.h>

#include "basic/identifier.h"

/* containerd prints its compiled regexp in the message; keep the same text. */
#define IDENTIFIER_PATTERN "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$"

static bool is_alnum_ascii(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool matches_pattern(const char *s) {
        /* Alphanumeric runs separated by single separators; no separator at either end. */
        bool need_alnum = true;
        for (; *s; s++) {
                if (is_alnum_ascii(*s))
                        need_alnum = false;
                else if (strchr("._-", *s) && !need_alnum)
                        need_alnum = true;
                else
                        return false;
        }
        return !need_alnum;
}

/* Go's %q, near enough: the id came from a client and may hold quotes or control characters, which must
 * not break the one-line error message. */
static char *quote(const char *s) {
        char *r = xmalloc(strlen(s) * 4 + 3), *p = r;
        *p++ = '"';
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\') {
                        *p++ = '\\';
                        *p++ = (char) c;
                } else if (c == '\n') {
                        p = stpcpy(p, "\\n");
                } else if (c == '\t') {
                        p = stpcpy(p, "\\t");
                } else if (c < 0x20 || c == 0x7f) {
                        p += sprintf(p, "\\x%02x", c);
                } else
                        *p++ = (char) c;
        }
        *p++ = '"';
        *p = '\0';
        return r;
}

bool identifier_is_valid(const char *s) {
        if (!s)
                return false;
        size_t n = strlen(s);
        return n > 0 && n <= IDENTIFIER_MAX_LENGTH && matches_pattern(s);
}

int identifier_validate(const char *s, berr **err) {
        if (!s || !*s)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "identifier must not be empty");
        if (strlen(s) > IDENTIFIER_MAX_LENGTH) {
                _cleanup_free_ char *q = quote(s);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                "identifier %s greater than maximum length (%d characters)", q,
                                IDENTIFIER_MAX_LENGTH);
        }
        if (!matches_pattern(s)) {
                _cleanup_free_ char *q = quote(s);
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "identifier %s must match %s", q,
                                IDENTIFIER_PATTERN);
        }
        return 0;
}
