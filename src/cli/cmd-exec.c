/* berth exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]
 * Exits with the process's code; like docker exec: 126 when the command is not executable, 127 when it is not found,
 * 1 for other errors (unknown or stopped container). */
#include <stdio.h>
#include <string.h>

#include "basic/strv.h"
#include "cli/attach.h"
#include "cli/cli.h"

static const char usage[] =
        "Usage: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
        "Run a command in a running container.\n\n"
        "Options:\n"
        "  -d, --detach          run the command in the background\n"
        "  -e, --env K=V         set an environment variable\n"
        "  -i, --interactive     keep stdin open\n"
        "  -t, --tty             allocate a pseudo-terminal\n"
        "  -u, --user USER       user (uid[:gid] or a name)\n"
        "  -w, --workdir DIR     working directory inside the container\n";

typedef struct exec_args {
        berth_exec_opts o;
        char **env;
} exec_args;

static int on_option(int opt, const char *arg, void *userdata) {
        exec_args *a = userdata;
        switch (opt) {
        case 'd':
                a->o.detach = true;
                break;
        case 'i':
                a->o.stdin_open = true;
                break;
        case 't':
                a->o.tty = true;
                break;
        case 'e':
                strv_extend(&a->env, arg);
                break;
        case 'u':
                a->o.user = arg;
                break;
        case 'w':
                a->o.workdir = arg;
                break;
        }
        return 0;
}

static int exec_run(berth_client *c, const char *id, const exec_args *a) {
        berth_process *p = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (berth_exec(c, id, &a->o, &p, &e) < 0)
                return cli_error(e);
        int code = 0, r;
        if (a->o.detach) {
                /* Started (or failed): nothing else comes. */
                berth_process_event ev;
                code = CLI_EXIT_OK;
                while ((r = berth_process_next(p, -1, &ev, &e)) == 1)
                        if (ev.kind == BERTH_PROCESS_EXIT)
                                code = ev.exit_code;
                if (r < 0) {
                        fprintf(stderr, "berth: %s\n", e->msg);
                        code = code ? code : berth_run_exit_code(e) == 125 ? CLI_EXIT_ERROR : berth_run_exit_code(e);
                }
        } else {
                cli_attach_opts ao = { .tty = a->o.tty, .stdin_open = a->o.stdin_open };
                r = cli_attach(c, p, &ao, &code, &e);
                if (r < 0) {
                        fprintf(stderr, "berth: %s\n", e->msg);
                        code = berth_run_exit_code(e) == 125 ? CLI_EXIT_ERROR : berth_run_exit_code(e);
                }
        }
        berth_process_free(p);
        return code;
}

int cmd_exec(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "detach", no_argument, NULL, 'd' },
                { "interactive", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                { "env", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },
                { "workdir", required_argument, NULL, 'w' },
                {},
        };
        exec_args a = {};
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "+dite:u:w:", longopts, usage, on_option, &a, &rc);
        if (first >= 0 && argc - first < 2) {
                rc = cli_usage_error(ctx, "requires at least 2 arguments");
                first = -1;
        }
        if (first >= 0) {
                a.o.env = (const char *const *) a.env;
                a.o.args = (const char *const *) argv + first + 1;
                if (a.o.tty)
                        (void) cli_terminal_size(&a.o.console_width, &a.o.console_height);
                berth_client *c = NULL;
                if ((rc = cli_connect(ctx, &c)) == 0) {
                        rc = exec_run(c, argv[first], &a);
                        berth_client_free(c);
                }
        }
        strv_free(a.env);
        return rc;
}
