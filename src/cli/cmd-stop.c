/* berth stop [-t SECS] CONTAINER...: SIGTERM (or the image's stop signal), SIGKILL after SECS (default 10). */
#include <stdlib.h>

#include "cli/cli.h"

static const char usage[] =
        "Usage: berth stop [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Stop one or more running containers.\n\n"
        "Options:\n"
        "  -t, --time SECS       seconds to wait before killing it (default 10)\n";

typedef struct stop_args {
        const cli_context *ctx;
        int timeout;
} stop_args;

static int on_option(int opt, const char *arg, void *userdata) {
        stop_args *a = userdata;
        char *end;
        long v = strtol(arg, &end, 10);
        if (!*arg || *end || v < -1 || v > 100000000) {
                cli_usage_error(a->ctx, "invalid value for --time: %s", arg);
                return -1;
        }
        a->timeout = (int) v;
        return 0;
}

static int stop_one(berth_client *c, const char *id, void *userdata, berr **err) {
        const stop_args *a = userdata;
        return berth_stop(c, id, a->timeout, err);
}

int cmd_stop(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "time", required_argument, NULL, 't' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        stop_args a = { .ctx = ctx, .timeout = -1 };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "t:", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        return cli_for_each_container(ctx, argc, argv, first, stop_one, &a, true);
}
