/* berth image import FILE ; berth image export REF... FILE */
#include <string.h>

#include "cli/cli.h"

static const char import_usage[] =
        "Usage: berth image import [OPTIONS] FILE|-\n\n"
        "Import images from an OCI archive (image layout tar) or a docker-archive tar (`docker save`).\n\n"
        "Options:\n"
        "      --base-name NAME     name for images the archive does not name\n"
        "      --platform PLATFORM  platform to unpack (default: the daemon's)\n"
        "      --all-platforms      import content for every platform\n"
        "      --snapshotter NAME   snapshotter to unpack into\n"
        "      --no-unpack          do not unpack\n";

static const char export_usage[] =
        "Usage: berth image export [OPTIONS] IMAGE [IMAGE...] FILE|-\n\n"
        "Export images to an OCI archive (an OCI image layout as a tar) or a docker-archive tar.\n\n"
        "Options:\n"
        "      --platform PLATFORM  only this platform (default: every platform present)\n"
        "      --format FORMAT      \"oci\" (default) or \"docker\"\n";

enum { OPT_BASE_NAME = 0x100, OPT_PLATFORM, OPT_ALL_PLATFORMS, OPT_SNAPSHOTTER, OPT_NO_UNPACK, OPT_FORMAT };

static int import_option(int opt, const char *arg, void *userdata) {
        berth_import_opts *o = userdata;
        switch (opt) {
        case OPT_BASE_NAME:
                o->base_name = arg;
                break;
        case OPT_PLATFORM:
                o->platform = arg;
                break;
        case OPT_ALL_PLATFORMS:
                o->all_platforms = true;
                break;
        case OPT_SNAPSHOTTER:
                o->snapshotter = arg;
                break;
        case OPT_NO_UNPACK:
                o->no_unpack = true;
                break;
        }
        return 0;
}

int cmd_image_import(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "base-name", required_argument, NULL, OPT_BASE_NAME },
                { "platform", required_argument, NULL, OPT_PLATFORM },
                { "all-platforms", no_argument, NULL, OPT_ALL_PLATFORMS },
                { "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
                { "no-unpack", no_argument, NULL, OPT_NO_UNPACK },
                {},
        };
        berth_import_opts o = {};
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", longopts, import_usage, import_option, &o, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 1)
                return cli_usage_error(ctx, "requires exactly 1 argument");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_image *images = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (berth_image_import(c, argv[first], &o, &images, &n, &e) < 0)
                rc = cli_error(e);
        for (size_t i = 0; i < n; i++)
                printf("Loaded image: %s (%s)\n", images[i].name, images[i].digest);
        berth_images_free(images, n);
        berth_client_free(c);
        return rc;
}

typedef struct export_args {
        berth_export_opts opts;
        const cli_context *ctx;
} export_args;

static int export_option(int opt, const char *arg, void *userdata) {
        export_args *a = userdata;
        if (opt == OPT_PLATFORM)
                a->opts.platform = arg;
        else if (opt == OPT_FORMAT) {
                if (strcmp(arg, "oci") != 0 && strcmp(arg, "docker") != 0) {
                        cli_usage_error(a->ctx, "unsupported format \"%s\" (oci or docker)", arg);
                        return -1;
                }
                a->opts.format = arg;
        }
        return 0;
}

int cmd_image_export(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "platform", required_argument, NULL, OPT_PLATFORM },
                { "format", required_argument, NULL, OPT_FORMAT },
                {},
        };
        export_args a = { .ctx = ctx };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", longopts, export_usage, export_option, &a, &rc);
        if (first < 0)
                return rc;
        if (argc - first < 2)
                return cli_usage_error(ctx, "requires at least 2 arguments");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        size_t n = (size_t) (argc - first - 1);
        char **names = xcalloc(n + 1, sizeof *names);
        _cleanup_berr_ berr *e = NULL;
        for (size_t i = 0; i < n && rc == 0; i++)
                if (cli_resolve_image(c, argv[first + (int) i], &names[i], &e) < 0)
                        rc = cli_error(e);
        if (rc == 0 && berth_image_export(c, (const char *const *) names, argv[argc - 1], &a.opts, &e) < 0)
                rc = cli_error(e);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        berth_client_free(c);
        return rc;
}
