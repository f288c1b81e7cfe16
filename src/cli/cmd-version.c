/* berth version: the client's version, then the daemon's (containerd's Version service). */
#include "cli/cli.h"

static const char usage[] = "Usage: berth version\n\nShow the berth client and berthd versions.\n";

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

int cmd_version(cli_context *ctx, int argc, char **argv) {
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 0)
                return cli_usage_error(ctx, "accepts no arguments");
        printf("Client:\n");
        printf(" Version:   %s\n", berth_client_version());
        printf(" Address:   %s\n", ctx->address);
        printf("\n");
        fflush(stdout);
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_server_version v = {};
        _cleanup_berr_ berr *e = NULL;
        if (berth_version(c, &v, &e) < 0)
                rc = cli_error(e);
        else {
                printf("Server:\n");
                printf(" berthd:\n");
                printf("  Version:  %s\n", v.version);
                printf("  Revision: %s\n", v.revision);
        }
        berth_server_version_done(&v);
        berth_client_free(c);
        return rc;
}
