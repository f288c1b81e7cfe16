/* berth pull [--plain-http] [--platform P] REF */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/format.h"
#include "cli/progress.h"

static const char usage[] =
        "Usage: berth pull [OPTIONS] NAME[:TAG|@DIGEST]\n\n"
        "Pull an image from a registry into berthd (and unpack it into the default snapshotter).\n\n"
        "Options:\n"
        "      --plain-http         talk plain HTTP to the registry\n"
        "      --skip-verify        do not verify the registry's TLS certificate\n"
        "      --platform PLATFORM  os/arch[/variant] to pull (default: the daemon's)\n"
        "      --snapshotter NAME   snapshotter to unpack into (default: the daemon's)\n"
        "      --no-unpack          fetch the content only\n"
        "  -q, --quiet              print only the image name\n"
        "\nProgress is redrawn in place on a terminal and printed one line per event otherwise.\n";

enum { OPT_PLAIN_HTTP = 0x100, OPT_SKIP_VERIFY, OPT_PLATFORM, OPT_SNAPSHOTTER, OPT_NO_UNPACK };

typedef struct pull_args {
        berth_pull_opts opts;
        bool quiet;
} pull_args;

static int on_option(int opt, const char *arg, void *userdata) {
        pull_args *a = userdata;
        switch (opt) {
        case OPT_PLAIN_HTTP:
                a->opts.plain_http = true;
                break;
        case OPT_SKIP_VERIFY:
                a->opts.skip_verify = true;
                break;
        case OPT_PLATFORM:
                a->opts.platform = arg;
                break;
        case OPT_SNAPSHOTTER:
                a->opts.snapshotter = arg;
                break;
        case OPT_NO_UNPACK:
                a->opts.no_unpack = true;
                break;
        case 'q':
                a->quiet = true;
                break;
        }
        return 0;
}

int cmd_pull(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
                { "skip-verify", no_argument, NULL, OPT_SKIP_VERIFY },
                { "platform", required_argument, NULL, OPT_PLATFORM },
                { "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
                { "no-unpack", no_argument, NULL, OPT_NO_UNPACK },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        pull_args a = {};
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "q", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 1)
                return cli_usage_error(ctx, "requires exactly 1 argument");
        const char *ref = argv[first];

        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        _cleanup_free_ char *name = berth_reference_normalize(ref);
        progress_view *view = a.quiet ? NULL : progress_new(stdout, isatty(STDOUT_FILENO), name);
        berth_image img = {};
        _cleanup_berr_ berr *e = NULL;
        int r = berth_pull(c, ref, &a.opts, view ? progress_update : NULL, view, &img, &e);
        if (view)
                progress_finish(view);
        if (r < 0)
                rc = cli_error(e);
        else if (a.quiet)
                printf("%s\n", img.name);
        else {
                printf("Digest: %s\n", img.digest);
                printf("Pulled %s\n", img.name);
        }
        progress_free(view);
        berth_image_done(&img);
        berth_client_free(c);
        return rc;
}
