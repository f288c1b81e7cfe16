/* berth rm [-f] CONTAINER...: removes stopped containers; -f kills running ones first. */
#include "cli/cli.h"

static const char usage[] =
        "Usage: berth rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Remove one or more containers.\n\n"
        "Options:\n"
        "  -f, --force           force the removal of a running container (SIGKILL)\n";

static int on_option(int opt, const char *arg, void *userdata) {
        *(bool *) userdata = true;
        return 0;
}

static int rm_one(berth_client *c, const char *id, void *userdata, berr **err) {
        return berth_container_remove(c, id, *(bool *) userdata, err);
}

int cmd_rm(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "force", no_argument, NULL, 'f' },
                {},
        };
        bool force = false;
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "f", longopts, usage, on_option, &force, &rc);
        if (first < 0)
                return rc;
        return cli_for_each_container(ctx, argc, argv, first, rm_one, &force, true);
}
