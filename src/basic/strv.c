#include <string.h>

#include "basic/strv.h"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

void strv_push(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **nl = xrealloc(*l, (n + 2) * sizeof(char *));
        nl[n] = s;
        nl[n + 1] = NULL;
        *l = nl;
}

void strv_extend(char ***l, const char *s) {
        strv_push(l, xstrdup(s));
}

char **strv_copy_n(char *const *l, size_t n) {
        char **r = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                r[i] = xstrdup(l[i]);
        return r;
}

char *strv_join(char *const *l, const char *sep) {
        size_t n = strv_length(l), seplen = strlen(sep), total = 1;
        for (size_t i = 0; i < n; i++)
                total += strlen(l[i]) + (i ? seplen : 0);
        char *r = xmalloc(total), *p = r;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        p = stpcpy(p, sep);
                p = stpcpy(p, l[i]);
        }
        *p = '\0';
        return r;
}

char **strv_split(const char *s, char sep) {
        char **r = NULL;
        for (;;) {
                const char *e = strchr(s, sep);
                if (!e) {
                        strv_extend(&r, s);
                        return r;
                }
                strv_push(&r, xstrndup(s, (size_t) (e - s)));
                s = e + 1;
        }
}

bool strv_contains(char *const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (strcmp(l[i], s) == 0)
                        return true;
        return false;
}
