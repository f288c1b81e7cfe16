/* berth pause CONTAINER... and berth unpause CONTAINER... (the command name tells which). */
#include <string.h>

#include "cli/cli.h"

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

static int pause_one(berth_client *c, const char *id, void *userdata, berr **err) {
        return berth_pause(c, id, err);
}

static int unpause_one(berth_client *c, const char *id, void *userdata, berr **err) {
        return berth_unpause(c, id, err);
}

int cmd_pause(cli_context *ctx, int argc, char **argv) {
        bool un = strcmp(ctx->command, "unpause") == 0;
        _cleanup_free_ char *usage = xasprintf("Usage: berth %s CONTAINER [CONTAINER...]\n\n%s all processes within "
                                               "one or more containers.\n",
                                               ctx->command, un ? "Unpause" : "Pause");
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        return cli_for_each_container(ctx, argc, argv, first, un ? unpause_one : pause_one, NULL, true);
}
