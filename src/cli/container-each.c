/* The loop of the commands that act on several containers (stop, kill, rm, pause, unpause, wait). */
#include <stdio.h>

#include "cli/cli.h"

int cli_for_each_container(const cli_context *ctx, int argc, char **argv, int first, cli_container_fn fn,
                           void *userdata, bool print_name) {
        if (argc - first < 1)
                return cli_usage_error(ctx, "requires at least 1 argument");
        berth_client *c = NULL;
        int rc = cli_connect(ctx, &c);
        if (rc != 0)
                return rc;
        for (int i = first; i < argc; i++) {
                _cleanup_berr_ berr *e = NULL;
                if (fn(c, argv[i], userdata, &e) < 0) {
                        rc = cli_error(e);
                        continue;
                }
                if (print_name)
                        printf("%s\n", argv[i]);
                fflush(stdout);
        }
        berth_client_free(c);
        return rc;
}
