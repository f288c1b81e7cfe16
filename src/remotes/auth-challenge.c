#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "basic/macro.h"
#include "remotes/auth.h"

/* RFC 7230 token characters. */
static bool is_token_char(unsigned char c) {
        return c > 31 && c < 127 && !strchr(" \t\"(),/:;<=>?@[]\\{}", c);
}

static const char *skip_space(const char *s) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
                s++;
        return s;
}

static char *read_token(const char **s) {
        const char *b = *s;
        while (**s && is_token_char((unsigned char) **s))
                (*s)++;
        return xstrndup(b, *s - b);
}

/* A token, or a quoted string with backslash escapes; NULL on an unterminated quote. */
static char *read_value(const char **s) {
        if (**s != '"')
                return read_token(s);
        const char *p = *s + 1;
        char *out = xmalloc(strlen(p) + 1);
        size_t n = 0;
        for (; *p; p++) {
                if (*p == '\\' && p[1]) {
                        out[n++] = *++p;
                } else if (*p == '"') {
                        out[n] = '\0';
                        *s = p + 1;
                        return out;
                } else {
                        out[n++] = *p;
                }
        }
        free(out);
        return NULL;
}

void auth_challenge_parse(const char *value, auth_challenge *ret) {
        *ret = (auth_challenge) { 0 };
        const char *s = skip_space(value ? value : "");
        _cleanup_free_ char *scheme = read_token(&s);
        if (strcasecmp(scheme, "basic") == 0)
                ret->scheme = AUTH_SCHEME_BASIC;
        else if (strcasecmp(scheme, "bearer") == 0)
                ret->scheme = AUTH_SCHEME_BEARER;
        else
                return;
        for (;;) {
                s = skip_space(s);
                _cleanup_free_ char *key = read_token(&s);
                if (!*key || *s != '=')
                        return;
                s++;
                char *v = read_value(&s);
                if (!v)
                        return;
                char **slot = NULL;
                if (strcasecmp(key, "realm") == 0)
                        slot = &ret->realm;
                else if (strcasecmp(key, "service") == 0)
                        slot = &ret->service;
                else if (strcasecmp(key, "scope") == 0)
                        slot = &ret->scope;
                else if (strcasecmp(key, "error") == 0)
                        slot = &ret->error;
                if (slot) {
                        free(*slot);
                        *slot = v;
                } else {
                        free(v);
                }
                s = skip_space(s);
                if (*s != ',')
                        return;
                s++;
        }
}

void auth_challenge_done(auth_challenge *c) {
        free(c->realm);
        free(c->service);
        free(c->scope);
        free(c->error);
        *c = (auth_challenge) { 0 };
}
