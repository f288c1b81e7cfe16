/* berth attach [--no-stdin] [--sig-proxy=false] CONTAINER: the container's output from now on, until it exits; berth
 * then exits with its code (docker's attach). A container run with -i (-d -i, -d -i -t) also gets our stdin; with -t
 * in raw mode, with the terminal's size, and ctrl-p ctrl-q detaches (exit 1 after "read escape sequence", as
 * docker). The end of our stdin does not close the container's. Signals go to the container unless
 * --sig-proxy=false (and never for a terminal, where ctrl-c is just a byte for the container's pty). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/attach.h"
#include "cli/cli.h"

static const char usage[] =
        "Usage: berth attach [OPTIONS] CONTAINER\n\n"
        "Attach to a running container's output (and its stdin, when it was run with -i) until it exits;\n"
        "exit with its code. With a terminal (-t), ctrl-p ctrl-q detaches and leaves it running.\n\n"
        "Options:\n"
        "      --no-stdin           do not attach stdin\n"
        "      --sig-proxy BOOL     forward received signals to the container (default true)\n";

enum {
        OPT_NO_STDIN = 0x100,
        OPT_SIG_PROXY,
};

typedef struct attach_args {
        const cli_context *ctx;
        bool sig_proxy;
        bool no_stdin;
        bool bad;
} attach_args;

static int on_option(int opt, const char *arg, void *userdata) {
        attach_args *a = userdata;
        if (opt == OPT_NO_STDIN)
                a->no_stdin = true;
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
        berth_container *ct = NULL;
        berth_process *p = NULL;
        int code = 1;
        if (berth_container_get(c, id, &ct, &e) < 0) {
                code = cli_error(e);
                goto out;
        }
        const berth_container_info *info = berth_container_get_info(ct);
        bool with_stdin = info->stdin_open && !a.no_stdin;
        if (with_stdin && info->tty && !isatty(STDIN_FILENO)) {
                fputs("berth: the input device is not a TTY\n", stderr);
                goto out;
        }
        if (berth_attach(c, id, &p, &e) < 0 || (!with_stdin && berth_process_close_stdin(p, &e) < 0)) {
                code = cli_error(e);
                goto out;
        }
        cli_attach_opts ao = { .tty = info->tty, .stdin_open = with_stdin, .proxy_signals = a.sig_proxy && !info->tty,
                               .id = id, .detach_keys = with_stdin && info->tty };
        if (cli_attach(c, p, &ao, &code, &e) < 0)
                code = cli_error(e);
out:
        berth_process_free(p);
        berth_container_free(ct);
        berth_client_free(c);
        return code;
}
