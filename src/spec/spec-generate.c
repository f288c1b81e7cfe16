/* spec_generate: the default Unix spec, then the image config (containerd's WithImageConfig), then the user's
 * options in the order `ctr run` applies them. Everything is validated before anything is returned, so a bad
 * option never leaves a half-made container behind. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "spec/spec-default.h"
#include "basic/strv.h"

/* docker's floor: below this the container is OOM-killed while the runtime sets it up. */
#define SPEC_MIN_MEMORY (6 * 1024 * 1024)

void spec_options_init(spec_options *o) {
        *o = (spec_options) { .rootfs_fd = -1 };
}

static json_t *strv_to_json(char *const *v) {
        json_t *a = json_array();
        for (; v && *v; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

/* WithImageConfig's env: the image's (with the default PATH when it has none) overridden by the user's. */
static char **build_env(const spec_options *o, const image_config_min *img) {
        _cleanup_strv_free_ char **defaults = NULL;
        if (spec_env_find(img->env, "PATH", 4) < 0)
                strv_extend(&defaults, SPEC_DEFAULT_PATH_ENV);
        for (char *const *e = img->env; e && *e; e++)
                strv_extend(&defaults, *e);
        char **env = spec_env_merge(defaults, o->env);
        /* WithTTY. */
        if (o->terminal && spec_env_find(env, "TERM", 4) < 0)
                strv_extend(&env, "TERM=xterm");
        return env;
}

static int build_args(const spec_options *o, const image_config_min *img, char ***ret, berr **err) {
        char **args = strv_copy_n(img->entrypoint, strv_length(img->entrypoint));
        char *const *cmd = o->args && *o->args ? o->args : img->cmd;
        for (; cmd && *cmd; cmd++)
                strv_extend(&args, *cmd);
        if (!args[0] || !args[0][0]) {
                strv_free(args);
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "no command specified: the image has no Entrypoint or Cmd and none was given");
        }
        *ret = args;
        return 0;
}

static int resolve_user(const spec_options *o, const image_config_min *img, spec_user *ret, berr **err) {
        const char *user = o->user && *o->user ? o->user : img->user;
        if (o->rootfs_fd >= 0)
                return spec_user_resolve_at(o->rootfs_fd, user, ret, err);
        if (o->rootfs_dir)
                return spec_user_resolve(o->rootfs_dir, user, ret, err);
        return spec_user_parse_numeric(user, ret, err);
}

static json_t *user_to_json(const spec_user *u) {
        json_t *gids = json_array();
        for (size_t i = 0; i < u->n_additional_gids; i++)
                json_array_append_new(gids, json_integer(u->additional_gids[i]));
        return json_pack("{s:I, s:I, s:o}", "uid", (json_int_t) u->uid, "gid", (json_int_t) u->gid,
                         "additionalGids", gids);
}

/* jansson (and JSON) only carries UTF-8; refuse early rather than drop a string silently. */
static bool utf8_ok(const char *s) {
        json_t *j = s ? json_string(s) : NULL;
        json_decref(j);
        return !s || j;
}

static bool strv_utf8_ok(char *const *v) {
        for (; v && *v; v++)
                if (!utf8_ok(*v))
                        return false;
        return true;
}

static int validate(const spec_options *o, const image_config_min *img, berr **err) {
        if (!strv_utf8_ok(o->args) || !strv_utf8_ok(o->env) || !utf8_ok(o->workdir) || !utf8_ok(o->user) ||
            !utf8_ok(o->hostname) || !utf8_ok(o->root_path) || !utf8_ok(o->cgroups_path) ||
            !strv_utf8_ok(img->env) || !strv_utf8_ok(img->entrypoint) || !strv_utf8_ok(img->cmd) ||
            !utf8_ok(img->working_dir))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "the command, environment or an option is not UTF-8");
        for (size_t i = 0; i < o->n_binds; i++)
                if (!utf8_ok(o->binds[i].source) || !utf8_ok(o->binds[i].destination))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "a bind mount path is not UTF-8");
        if (!o->ns || !*o->ns || !o->id || !*o->id)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "a spec needs a namespace and a container id");
        if (o->workdir && *o->workdir && o->workdir[0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid working directory '%s': it must be an absolute path", o->workdir);
        if (o->hostname && strlen(o->hostname) > HOST_NAME_MAX)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid hostname '%s': longer than %d characters",
                                o->hostname, HOST_NAME_MAX);
        if (o->memory_bytes < 0 || (o->memory_bytes > 0 && o->memory_bytes < SPEC_MIN_MEMORY))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid memory limit %lld bytes: the minimum is 6 MiB", (long long) o->memory_bytes);
        if (o->pids_limit < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid pids limit %lld", (long long) o->pids_limit);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        if (o->nano_cpus > 0 && ncpu > 0 && o->nano_cpus > (uint64_t) ncpu * 1000000000ULL)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid CPU count %.2f: the range is 0.01 to %ld.00 (CPUs available)",
                                (double) o->nano_cpus / 1e9, ncpu);
        for (size_t i = 0; i < o->n_binds; i++) {
                const spec_bind *b = &o->binds[i];
                struct stat st;
                if (!b->source || b->source[0] != '/' || !b->destination || b->destination[0] != '/')
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid bind mount: paths must be absolute");
                if (stat(b->source, &st) < 0)
                        return berr_errno(err, errno, "bind mount source '%s'", b->source);
        }
        return 0;
}

/* User mounts replace a default mount with the same destination (as docker does), then come after. */
static void apply_binds(json_t *spec, const spec_options *o) {
        json_t *mounts = json_object_get(spec, "mounts");
        for (size_t i = 0; i < o->n_binds; i++) {
                const spec_bind *b = &o->binds[i];
                for (size_t j = json_array_size(mounts); j-- > 0;) {
                        const char *dst = json_string_value(json_object_get(json_array_get(mounts, j), "destination"));
                        if (dst && streq(dst, b->destination))
                                json_array_remove(mounts, j);
                }
                json_t *options = json_array();
                json_array_append_new(options, json_string("rbind"));
                if (b->propagation)
                        json_array_append_new(options, json_string(b->propagation));
                json_array_append_new(options, json_string(b->readonly ? "ro" : "rw"));
                json_array_append_new(mounts, spec_mount_new(b->destination, "bind", b->source, options));
        }
}

static void apply_resources(json_t *spec, const spec_options *o) {
        json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
        if (o->memory_bytes > 0)
                json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t) o->memory_bytes));
        if (o->nano_cpus > 0) {
                /* docker's NanoCPUs: period 100 ms, quota scaled to it. */
                json_int_t quota = (json_int_t) (o->nano_cpus * SPEC_CPU_PERIOD / 1000000000ULL);
                json_object_set_new(res, "cpu", json_pack("{s:I, s:I}", "quota", quota, "period",
                                                          (json_int_t) SPEC_CPU_PERIOD));
        }
        if (o->pids_limit > 0)
                json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t) o->pids_limit));
}

void spec_process_set_console_size(json_t *process, bool terminal, uint32_t width, uint32_t height) {
        /* struct winsize holds unsigned shorts: a bigger size would wrap around in the runtime. */
        if (!terminal || width == 0 || height == 0 || width > USHRT_MAX || height > USHRT_MAX) {
                json_object_del(process, "consoleSize");
                return;
        }
        json_object_set_new(process, "consoleSize", json_pack("{s:I, s:I}", "height", (json_int_t) height,
                                                              "width", (json_int_t) width));
}

int spec_generate_json(const spec_options *o, const image_config_min *img, json_t **ret, berr **err) {
        static const image_config_min no_image = {};
        if (!img)
                img = &no_image;
        if (validate(o, img, err) < 0)
                return -1;

        _cleanup_strv_free_ char **args = NULL;
        if (build_args(o, img, &args, err) < 0)
                return -1;
        _cleanup_(spec_user_done) spec_user user = {};
        if (resolve_user(o, img, &user, err) < 0)
                return -1;
        _cleanup_strv_free_ char **env = build_env(o, img);

        _cleanup_free_ char *cgroups_path = o->cgroups_path ? xstrdup(o->cgroups_path)
                                                           : xasprintf("/%s/%s", o->ns, o->id);
        json_t *spec = spec_default_unix(cgroups_path);
        if (!spec)
                abort(); /* json_pack only fails on OOM or a format bug */

        json_t *process = json_object_get(spec, "process");
        if (o->terminal) {
                /* Go's field order puts terminal first; jansson appends, which runtimes do not mind. */
                json_object_set_new(process, "terminal", json_true());
        }
        spec_process_set_console_size(process, o->terminal, o->console_width, o->console_height);
        json_object_set_new(process, "user", user_to_json(&user));
        json_object_set_new(process, "args", strv_to_json(args));
        json_object_set_new(process, "env", strv_to_json(env));
        const char *cwd = o->workdir && *o->workdir ? o->workdir
                          : img->working_dir && *img->working_dir ? img->working_dir : "/";
        json_object_set_new(process, "cwd", json_string(cwd));

        json_t *root = json_object_get(spec, "root");
        if (o->root_path)
                json_object_set_new(root, "path", json_string(o->root_path));
        if (o->readonly_rootfs)
                json_object_set_new(root, "readonly", json_true());
        if (o->hostname && *o->hostname)
                json_object_set_new(spec, "hostname", json_string(o->hostname));

        apply_binds(spec, o);
        apply_resources(spec, o);
        *ret = spec;
        return 0;
}

int spec_generate(const spec_options *o, const image_config_min *img, char **ret_json, berr **err) {
        json_t *spec;
        if (spec_generate_json(o, img, &spec, err) < 0)
                return -1;
        char *s = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(spec);
        if (!s)
                return berr_set(err, BERR_INTERNAL, ENOMEM, "cannot serialize the spec");
        *ret_json = s;
        return 0;
}
