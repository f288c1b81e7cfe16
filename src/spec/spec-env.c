/* Environment merging with containerd's semantics (oci/spec_opts.go replaceOrAppendEnvValues). */
#include "spec/spec-internal.h"
#include "basic/strv.h"

ssize_t spec_env_find(char *const *env, const char *key, size_t keylen) {
        for (size_t i = 0; env && env[i]; i++) {
                size_t k = strcspn(env[i], "=");
                if (k == keylen && memcmp(env[i], key, keylen) == 0)
                        return (ssize_t) i;
        }
        return -1;
}

char **spec_env_merge(char *const *defaults, char *const *overrides) {
        char **out = strv_copy_n(defaults, strv_length(defaults));
        size_t n = strv_length(out);
        /* A removed entry keeps its slot as the bare key (no '='), so a later "K=V" lands back in place as in
         * containerd; bare entries are squeezed out at the end. */
        for (char *const *o = overrides; o && *o; o++) {
                const char *eq = strchr(*o, '=');
                size_t keylen = eq ? (size_t) (eq - *o) : strlen(*o);
                ssize_t at = spec_env_find(out, *o, keylen);
                if (!eq) {
                        if (at >= 0) {
                                free(out[at]);
                                out[at] = xstrndup(*o, keylen);
                        }
                        continue;
                }
                if (at >= 0) {
                        free(out[at]);
                        out[at] = xstrdup(*o);
                } else {
                        out = xrealloc(out, (n + 2) * sizeof(char *));
                        out[n++] = xstrdup(*o);
                        out[n] = NULL;
                }
        }
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
                if (strchr(out[i], '='))
                        out[w++] = out[i];
                else
                        free(out[i]);
        }
        out[w] = NULL;
        return out;
}
