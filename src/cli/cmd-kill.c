/* berth kill [-s SIGNAL] CONTAINER...: SIGKILL unless told (names "TERM"/"SIGTERM" or numbers). */
#include "cli/cli.h"

static const char usage[] =
        "Usage: berth kill [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Kill one or more running containers.\n\n"
        "Options:\n"
        "  -s, --signal SIGNAL   signal to send (default KILL)\n";

static int on_option(int opt, const char *arg, void *userdata) {
        *(const char **) userdata = arg;
        return 0;
}

static int kill_one(berth_client *c, const char *id, void *userdata, berr **err) {
        return berth_kill_named(c, id, userdata, err);
}

int cmd_kill(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "signal", required_argument, NULL, 's' },
                {},
        };
        const char *signal = NULL;
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "s:", longopts, usage, on_option, &signal, &rc);
        if (first < 0)
                return rc;
        return cli_for_each_container(ctx, argc, argv, first, kill_one, (void *) signal, true);
}
