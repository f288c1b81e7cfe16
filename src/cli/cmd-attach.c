/* berth attach [--sig-proxy=false] CONTAINER: the container's output from now on, until it exits; berth then exits
 * with its code (docker's attach). Signals go to the container unless --sig-proxy=false. Stdin is not forwarded: a
 * detached container's output goes through berth-logger, which gives it no stdin (see /work/notes/h2-done). */
#include <stdio.h>
#include <string.h>

#include "cli/attach.h"
#include "cli/cli.h"

static const char usage[] =
        "Usage: berth attach [OPTIONS] CONTAINER\n\n"
        "Attach to a running container's output until it exits; exit with its code.\n\n"
        "Options:\n"
        "      --no-stdin           do not attach stdin (stdin is never attached for now)\n"
        "      --sig-proxy BOOL     forward received signals to the container (default true)\n";

enum {
        OPT_NO_STDIN = 0x100,
        OPT_SIG_PROXY,
};

typedef struct attach_args {
        const cli_context *ctx;
        bool sig_proxy;
        bool bad;
} attach_args;

static int on_option(int opt, const char *arg, void *userdata) {
        attach_args *a = userdata;
        if (opt != OPT_SIG_PROXY)
                return 0;
        if (!arg || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0)
                a->sig_proxy = true;
        else if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0)
                a->sig_proxy = false;
        else {
                cli_usage_error(a->ctx, "invalid --sig-proxy value \"%s\" (true or false)", arg);
                a->bad = true;
        }
        return 0;
}

int cmd_attach(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "no-stdin", no_argument, NULL, OPT_NO_STDIN },
                { "sig-proxy", optional_argument, NULL, OPT_SIG_PROXY },
                {},
        };
        attach_args a = { .ctx = ctx, .sig_proxy = true };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        if (a.bad)
                return CLI_EXIT_USAGE;
        if (argc - first != 1)
                return cli_usage_error(ctx, "requires exactly 1 argument");
        const char *id = argv[first];

        berth_client *c = NULL;
        if (cli_connect(ctx, &c) != 0)
                return 1;
        _cleanup_berr_ berr *e = NULL;
        berth_process *p = NULL;
        int code = 1;
        if (berth_attach(c, id, &p, &e) < 0 || berth_process_close_stdin(p, &e) < 0) {
                code = cli_error(e);
        } else {
                cli_attach_opts ao = { .proxy_signals = a.sig_proxy, .id = id };
                if (cli_attach(c, p, &ao, &code, &e) < 0)
                        code = cli_error(e);
        }
        berth_process_free(p);
        berth_client_free(c);
        return code;
}
