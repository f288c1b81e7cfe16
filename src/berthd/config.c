#include <string.h>

#include "basic/fileio.h"
#include "basic/strv.h"
#include "berthd/config.h"
#include "remotes/hosts-toml.h"

#define BERTHD_CONFIG_MAX (1u << 20)

static void set_string(char **dst, const char *value) {
        free(*dst);
        *dst = value ? xstrdup(value) : NULL;
}

void berthd_config_init(berthd_config *c) {
        *c = (berthd_config) {
                .root = xstrdup(BERTHD_DEFAULT_ROOT),
                .state = xstrdup(BERTHD_DEFAULT_STATE),
                .log_level = LOG_LVL_INFO,
                .snapshotter = xstrdup("overlayfs"),
                .hosts_dir = xstrdup(BERTHD_DEFAULT_HOSTS_DIR),
                .oci_runtime = xstrdup("auto"),
        };
}

static void registry_done(berthd_registry *r) {
        free(r->host);
        strv_free(r->mirrors);
        free(r->ca);
}

void berthd_config_done(berthd_config *c) {
        free(c->root);
        free(c->state);
        free(c->address);
        free(c->config_file);
        free(c->snapshotter);
        free(c->hosts_dir);
        free(c->oci_runtime);
        for (size_t i = 0; i < c->n_registries; i++)
                registry_done(&c->registries[i]);
        free(c->registries);
        *c = (berthd_config) { 0 };
}

const berthd_registry *berthd_config_registry(const berthd_config *c, const char *host) {
        for (size_t i = 0; i < c->n_registries; i++)
                if (strcmp(c->registries[i].host, host) == 0)
                        return &c->registries[i];
        return NULL;
}

static berthd_registry *registry_get(berthd_config *c, const char *host) {
        berthd_registry *r = (berthd_registry *) berthd_config_registry(c, host);
        if (r)
                return r;
        c->registries = xrealloc(c->registries, (c->n_registries + 1) * sizeof *c->registries);
        r = &c->registries[c->n_registries++];
        *r = (berthd_registry) { .host = xstrdup(host) };
        return r;
}

typedef struct parse_state {
        berthd_config *c;
        const char *source;
} parse_state;

/* "registry.\"127.0.0.1:5000\".plain_http", for messages. */
static char *key_name(char *const *path, size_t n) {
        _cleanup_strv_free_ char **parts = NULL;
        for (size_t i = 0; i < n; i++) {
                bool bare = *path[i] != '\0';
                for (const char *p = path[i]; *p; p++)
                        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p))
                                bare = false;
                strv_push(&parts, bare ? xstrdup(path[i]) : xasprintf("\"%s\"", path[i]));
        }
        return strv_join(parts, ".");
}

static int want_type(const parse_state *ps, char *const *path, size_t n, const toml_value *v, toml_type type,
                     berr **err) {
        static const char *const names[] = {
                [TOML_STRING] = "a string", [TOML_BOOL] = "a boolean",
                [TOML_INT] = "an integer", [TOML_ARRAY] = "an array",
        };
        if (v->type == type)
                return 0;
        _cleanup_free_ char *key = key_name(path, n);
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: %s must be %s", ps->source, key, names[type]);
}

static int unknown_key(const parse_state *ps, char *const *path, size_t n, berr **err) {
        _cleanup_free_ char *key = key_name(path, n);
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: unknown key %s", ps->source, key);
}

static int top_level_key(parse_state *ps, char *const *path, const toml_value *v, berr **err) {
        berthd_config *c = ps->c;
        const char *k = path[0];
        char **dst = strcmp(k, "root") == 0          ? &c->root
                     : strcmp(k, "state") == 0       ? &c->state
                     : strcmp(k, "address") == 0     ? &c->address
                     : strcmp(k, "snapshotter") == 0 ? &c->snapshotter
                     : strcmp(k, "hosts_dir") == 0   ? &c->hosts_dir
                     : strcmp(k, "oci_runtime") == 0 ? &c->oci_runtime
                     : strcmp(k, "log_level") == 0   ? NULL
                                                     : (char **) -1;
        if (dst == (char **) -1)
                return unknown_key(ps, path, 1, err);
        if (want_type(ps, path, 1, v, TOML_STRING, err) < 0)
                return -1;
        if (!dst) {
                if (log_level_from_string(v->s, &c->log_level) < 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: unknown log_level \"%s\"",
                                        ps->source, v->s);
                return 0;
        }
        if (!*v->s)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: %s must not be empty", ps->source, k);
        set_string(dst, v->s);
        return 0;
}

static int registry_key(parse_state *ps, char *const *path, const toml_value *v, berr **err) {
        berthd_registry *r = registry_get(ps->c, path[1]);
        const char *k = path[2];
        if (strcmp(k, "plain_http") == 0 || strcmp(k, "skip_verify") == 0) {
                if (want_type(ps, path, 3, v, TOML_BOOL, err) < 0)
                        return -1;
                *(strcmp(k, "plain_http") == 0 ? &r->plain_http : &r->skip_verify) = v->b;
                return 0;
        }
        if (strcmp(k, "ca") == 0) {
                if (want_type(ps, path, 3, v, TOML_STRING, err) < 0)
                        return -1;
                set_string(&r->ca, *v->s ? v->s : NULL);
                return 0;
        }
        if (strcmp(k, "mirrors") == 0) {
                if (want_type(ps, path, 3, v, TOML_ARRAY, err) < 0)
                        return -1;
                strv_free(r->mirrors);
                r->mirrors = NULL;
                for (size_t i = 0; i < v->n; i++) {
                        if (v->items[i].type != TOML_STRING) {
                                _cleanup_free_ char *key = key_name(path, 3);
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                "config %s: %s must be an array of strings", ps->source, key);
                        }
                        strv_extend(&r->mirrors, v->items[i].s);
                }
                return 0;
        }
        return unknown_key(ps, path, 3, err);
}

static int visit(char *const *path, size_t n, const toml_value *v, void *userdata, berr **err) {
        parse_state *ps = userdata;
        bool registry = n >= 1 && strcmp(path[0], "registry") == 0;
        if (!v) { /* a table header: only [registry."host"] exists */
                if (registry && n == 2 && *path[1]) {
                        registry_get(ps->c, path[1]);
                        return 0;
                }
                _cleanup_free_ char *key = key_name(path, n);
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: unknown table [%s]", ps->source, key);
        }
        if (n == 1)
                return top_level_key(ps, path, v, err);
        if (registry && n == 3 && *path[1])
                return registry_key(ps, path, v, err);
        return unknown_key(ps, path, n, err);
}

int berthd_config_parse(berthd_config *c, const char *text, const char *source, berr **err) {
        parse_state ps = { .c = c, .source = source };
        _cleanup_berr_ berr *e = NULL;
        if (toml_parse(text, visit, &ps, &e) >= 0)
                return 0;
        const char *msg = e->msg ? e->msg : "";
        if (strncmp(msg, "config ", 7) == 0) /* from visit(): already says where */
                return berr_set(err, e->code, 0, "%s", msg);
        /* A syntax error. The TOML reader names the file hosts.toml (its first user); here it is ours. */
        if (strncmp(msg, "hosts.toml ", 11) == 0)
                msg += 11;
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "config %s: %s", source, msg);
}

int berthd_config_load(berthd_config *c, const char *path, berr **err) {
        _cleanup_free_ char *text = NULL;
        if (read_file(path, &text, NULL, BERTHD_CONFIG_MAX, err) < 0)
                return berr_wrap(err, "config %s", path);
        if (berthd_config_parse(c, text, path, err) < 0)
                return -1;
        set_string(&c->config_file, path);
        return 0;
}

static int make_absolute(char **path, const char *what, berr **err) {
        if (!*path || **path == '/')
                return 0;
        _cleanup_free_ char *cwd = get_current_dir_name();
        if (!cwd)
                return berr_errno(err, errno, "cannot make %s path %s absolute", what, *path);
        char *abs = xasprintf("%s/%s", cwd, *path);
        free(*path);
        *path = abs;
        return 0;
}

int berthd_config_finalize(berthd_config *c, berr **err) {
        if (!c->address)
                c->address = xasprintf("%s/%s", c->state, BERTHD_SOCKET_NAME);
        if (make_absolute(&c->root, "root", err) < 0 || make_absolute(&c->state, "state", err) < 0 ||
            make_absolute(&c->address, "address", err) < 0 || make_absolute(&c->hosts_dir, "hosts_dir", err) < 0)
                return -1;
        if (strcmp(c->snapshotter, "overlayfs") != 0 && strcmp(c->snapshotter, "native") != 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "unknown snapshotter \"%s\" (berthd has overlayfs and native)", c->snapshotter);
        return 0;
}
