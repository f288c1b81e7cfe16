#include "remotes/credentials.h"

#include <jansson.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/macro.h"

char *registry_docker_config_path(const char *path) {
        if (path && *path)
                return xstrdup(path);
        const char *dir = getenv("DOCKER_CONFIG");
        if (dir && *dir)
                return xasprintf("%s/config.json", dir);
        const char *home = getenv("HOME");
        return xasprintf("%s/.docker/config.json", home && *home ? home : "/root");
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *registry_base64_encode(const void *buf, size_t len) {
        const unsigned char *p = buf;
        char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = p[i] << 16 | (i + 1 < len ? p[i + 1] << 8 : 0) | (i + 2 < len ? p[i + 2] : 0);
                *o++ = b64[(v >> 18) & 63];
                *o++ = b64[(v >> 12) & 63];
                *o++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? b64[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

char *registry_base64_decode(const char *s, size_t *ret_len) {
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '=')
                n--;
        if (n % 4 == 1)
                return NULL;
        char *out = xmalloc(n / 4 * 3 + 3 + 1);
        size_t o = 0;
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
                const char *c = s[i] ? strchr(b64, s[i]) : NULL;
                if (!c) {
                        free(out);
                        return NULL;
                }
                acc = (acc << 6) | (unsigned) (c - b64);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[o] = '\0';
        if (ret_len)
                *ret_len = o;
        return out;
}

/* "https://host:5000/v1/" → "host:5000". */
static char *key_host(const char *key) {
        const char *p = strstr(key, "://");
        p = p ? p + 3 : key;
        return xstrndup(p, strcspn(p, "/"));
}

static bool host_matches(const char *key, const char *host) {
        _cleanup_free_ char *kh = key_host(key);
        if (strcmp(kh, host) == 0)
                return true;
        static const char *const docker_aliases[] = { "docker.io", "index.docker.io", "registry-1.docker.io",
                                                      "registry.hub.docker.com" };
        bool kd = false, hd = false;
        for (size_t i = 0; i < ELEMENTSOF(docker_aliases); i++) {
                kd = kd || strcmp(kh, docker_aliases[i]) == 0;
                hd = hd || strcmp(host, docker_aliases[i]) == 0;
        }
        return kd && hd;
}

static int entry_credentials(json_t *entry, const char *key, char **ret_user, char **ret_secret, berr **err) {
        if (!json_is_object(entry))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "auths entry \"%s\" is not an object", key);
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        if (auth && *auth) {
                _cleanup_free_ char *plain = registry_base64_decode(auth, NULL);
                char *colon = plain ? strchr(plain, ':') : NULL;
                if (!colon)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "auths entry \"%s\": \"auth\" is not base64 of user:password", key);
                *ret_user = xstrndup(plain, colon - plain);
                *ret_secret = xstrdup(colon + 1);
                return 1;
        }
        const char *user = json_string_value(json_object_get(entry, "username"));
        const char *pass = json_string_value(json_object_get(entry, "password"));
        if (user && pass) {
                *ret_user = xstrdup(user);
                *ret_secret = xstrdup(pass);
                return 1;
        }
        return 0;
}

int registry_credentials_lookup(const char *config_path, const char *host, char **ret_user, char **ret_secret,
                                berr **err) {
        _cleanup_free_ char *path = registry_docker_config_path(config_path);
        _cleanup_free_ char *text = NULL;
        size_t len;
        _cleanup_berr_ berr *e = NULL;
        if (read_file(path, &text, &len, 4 << 20, &e) < 0) {
                if (e->errnum == ENOENT || e->errnum == ENOTDIR)
                        return 0;
                return berr_set(err, e->code, e->errnum, "docker config: %s", e->msg);
        }
        json_error_t jerr;
        json_t *root = json_loadb(text, len, 0, &jerr);
        if (!root)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "docker config %s: invalid JSON: %s (line %d)", path,
                                jerr.text, jerr.line);
        int r = 0;
        json_t *auths = json_object_get(root, "auths");
        if (json_is_object(auths)) {
                /* An exact key wins over an alias (docker.io vs. index.docker.io). */
                for (int pass = 0; pass < 2 && r == 0; pass++) {
                        const char *key;
                        json_t *entry;
                        json_object_foreach(auths, key, entry) {
                                _cleanup_free_ char *kh = key_host(key);
                                bool hit = pass == 0 ? strcmp(kh, host) == 0 : host_matches(key, host);
                                if (!hit)
                                        continue;
                                r = entry_credentials(entry, key, ret_user, ret_secret, err);
                                if (r != 0)
                                        break;
                        }
                }
        }
        json_decref(root);
        if (r < 0)
                return berr_wrap(err, "docker config %s", path);
        return r;
}
