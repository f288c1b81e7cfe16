/* The little URI parsing that containerd's stdio strings need ("file:///p", "binary:///p?k=v&k2=v2", plain
 * paths). Shaped after Go's net/url, which is what containerd clients use to build them. */
#include <ctype.h>
#include <string.h>

#include "shim/stdio-internal.h"
#include "basic/strv.h"

/* Go's getScheme: [A-Za-z][A-Za-z0-9+.-]* followed by ':'. Anything else means "no scheme" (a path). */
char *stdio_uri_scheme(const char *s, const char **ret_rest) {
        if (!s || !isalpha((unsigned char) s[0]))
                return NULL;
        size_t i = 1;
        while (isalnum((unsigned char) s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
                i++;
        if (s[i] != ':')
                return NULL;
        char *scheme = xstrndup(s, i);
        for (char *c = scheme; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (ret_rest)
                *ret_rest = s + i + 1;
        return scheme;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *stdio_uri_unescape(const char *s, size_t n, bool plus_is_space) {
        char *out = xmalloc(n + 1), *o = out;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
                        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
                        if (hi < 0 || lo < 0) {
                                free(out);
                                return NULL;
                        }
                        *o++ = (char) (hi << 4 | lo);
                        i += 2;
                } else if (plus_is_space && s[i] == '+')
                        *o++ = ' ';
                else
                        *o++ = s[i];
        }
        *o = 0;
        return out;
}

int stdio_uri_split(const char *rest, char **ret_path, char **ret_query) {
        size_t end = strcspn(rest, "#");
        const char *q = memchr(rest, '?', end);
        size_t path_end = q ? (size_t) (q - rest) : end;
        const char *p = rest;
        /* "//authority": the host part means nothing for local paths (Go keeps it apart, containerd ignores it). */
        if (path_end >= 2 && p[0] == '/' && p[1] == '/') {
                const char *slash = memchr(p + 2, '/', path_end - 2);
                p = slash ? slash : rest + path_end;
        }
        char *path = stdio_uri_unescape(p, (size_t) (rest + path_end - p), false);
        if (!path)
                return -1;
        *ret_path = path;
        if (ret_query)
                *ret_query = q ? xstrndup(q + 1, end - path_end - 1) : xstrdup("");
        return 0;
}

int stdio_uri_query_args(const char *query, char ***ret) {
        size_t n = 0, cap = 8;
        char **args = xcalloc(cap, sizeof *args);
        for (const char *s = query; *s;) {
                size_t len = strcspn(s, "&");
                if (len > 0) {
                        const char *eq = memchr(s, '=', len);
                        size_t klen = eq ? (size_t) (eq - s) : len;
                        char *k = stdio_uri_unescape(s, klen, true);
                        char *v = eq ? stdio_uri_unescape(eq + 1, len - klen - 1, true) : xstrdup("");
                        if (!k || !v) {
                                free(k);
                                free(v);
                                strv_free(args);
                                return -1;
                        }
                        if (n + 3 > cap) {
                                cap *= 2;
                                args = xrealloc(args, cap * sizeof *args);
                        }
                        args[n++] = k;
                        args[n++] = v;
                        args[n] = NULL;
                }
                s += len;
                if (*s == '&')
                        s++;
        }
        *ret = args;
        return 0;
}
