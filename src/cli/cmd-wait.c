/* berth wait CONTAINER...: blocks until each has exited and prints its exit code. */
#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
        "Usage: berth wait CONTAINER [CONTAINER...]\n\n"
        "Block until one or more containers stop, then print their exit codes.\n";

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

static int wait_one(berth_client *c, const char *id, void *userdata, berr **err) {
        int32_t code = 0;
        if (berth_wait(c, id, &code, NULL, err) < 0)
                return -1;
        printf("%d\n", (int) code);
        return 0;
}

int cmd_wait(cli_context *ctx, int argc, char **argv) {
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        return cli_for_each_container(ctx, argc, argv, first, wait_one, NULL, false);
}
