/* berth run [OPTIONS] IMAGE [COMMAND [ARG...]]
 * docker's exit codes: the container's own in the foreground, 125 when berth failed (flags, daemon, image, name),
 * 126 when the command is not executable, 127 when it is not found. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/strv.h"
#include "cli/attach.h"
#include "cli/cli.h"

#define EXIT_BERTH_FAILED 125

static const char usage[] =
        "Usage: berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Create and run a new container from an image.\n\n"
        "Options:\n"
        "  -d, --detach             run in the background and print the container ID\n"
        "      --rm                 remove the container when it exits\n"
        "      --name NAME          the container's name (its ID)\n"
        "  -e, --env K=V            set an environment variable (K alone unsets it)\n"
        "  -v, --volume SRC:DST[:ro]  bind mount a host path\n"
        "  -w, --workdir DIR        working directory inside the container\n"
        "  -u, --user UID[:GID]     user (numbers or names from the image)\n"
        "      --restart POLICY     no, always, on-failure[:N], unless-stopped\n"
        "  -m, --memory SIZE        memory limit (64m, 1g)\n"
        "      --cpus N             CPU limit (1.5)\n"
        "  -t, --tty                allocate a pseudo-terminal\n"
        "  -i, --interactive        keep stdin open\n"
        "  -l, --label K=V          set a label\n"
        "      --log-opt K=V        log options: max-size=10m, max-files=3\n"
        "      --runtime NAME       shim runtime (default io.containerd.berth.v2)\n"
        "      --hostname NAME      the container's host name\n"
        "      --read-only          mount the root file system read-only\n"
        "      --snapshotter NAME   snapshotter (default: the daemon's)\n";

enum {
        OPT_RM = 0x100,
        OPT_NAME,
        OPT_RESTART,
        OPT_CPUS,
        OPT_LOG_OPT,
        OPT_RUNTIME,
        OPT_HOSTNAME,
        OPT_READ_ONLY,
        OPT_SNAPSHOTTER,
};

typedef struct run_args {
        const cli_context *ctx;
        berth_run_opts o;
        bool detach;
        char **env, **mounts, **labels, **log_opts;
} run_args;

static int on_option(int opt, const char *arg, void *userdata) {
        run_args *a = userdata;
        switch (opt) {
        case 'd':
                a->detach = true;
                break;
        case 't':
                a->o.tty = true;
                break;
        case 'i':
                a->o.stdin_open = true;
                break;
        case 'e':
                strv_extend(&a->env, arg);
                break;
        case 'v':
                strv_extend(&a->mounts, arg);
                break;
        case 'l':
                strv_extend(&a->labels, arg);
                break;
        case OPT_LOG_OPT:
                strv_extend(&a->log_opts, arg);
                break;
        case 'w':
                a->o.workdir = arg;
                break;
        case 'u':
                a->o.user = arg;
                break;
        case 'm':
                a->o.memory = arg;
                break;
        case OPT_RM:
                a->o.auto_remove = true;
                break;
        case OPT_NAME:
                a->o.name = arg;
                break;
        case OPT_RESTART:
                a->o.restart = arg;
                break;
        case OPT_CPUS:
                a->o.cpus = arg;
                break;
        case OPT_RUNTIME:
                a->o.runtime = arg;
                break;
        case OPT_HOSTNAME:
                a->o.hostname = arg;
                break;
        case OPT_READ_ONLY:
                a->o.read_only = true;
                break;
        case OPT_SNAPSHOTTER:
                a->o.snapshotter = arg;
                break;
        }
        return 0;
}

static int run_detached(berth_client *c, const char *image, const run_args *a) {
        berth_container *ct = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (berth_run(c, image, &a->o, &ct, &e) < 0) {
                fprintf(stderr, "berth: %s\n", e->msg);
                return berth_run_exit_code(e);
        }
        printf("%s\n", berth_container_id(ct));
        berth_container_free(ct);
        return 0;
}

static int run_foreground(berth_client *c, const char *image, const run_args *a) {
        berth_process *p = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (berth_run_attach(c, image, &a->o, &p, &e) < 0) {
                fprintf(stderr, "berth: %s\n", e->msg);
                return EXIT_BERTH_FAILED;
        }
        cli_attach_opts ao = { .tty = a->o.tty, .stdin_open = a->o.stdin_open, .proxy_signals = true };
        int code = 0;
        int r = cli_attach(c, p, &ao, &code, &e);
        berth_process_free(p);
        if (r < 0) {
                fprintf(stderr, "berth: %s\n", e->msg);
                return EXIT_BERTH_FAILED;
        }
        return code;
}

int cmd_run(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "detach", no_argument, NULL, 'd' },
                { "tty", no_argument, NULL, 't' },
                { "interactive", no_argument, NULL, 'i' },
                { "env", required_argument, NULL, 'e' },
                { "volume", required_argument, NULL, 'v' },
                { "label", required_argument, NULL, 'l' },
                { "workdir", required_argument, NULL, 'w' },
                { "user", required_argument, NULL, 'u' },
                { "memory", required_argument, NULL, 'm' },
                { "rm", no_argument, NULL, OPT_RM },
                { "name", required_argument, NULL, OPT_NAME },
                { "restart", required_argument, NULL, OPT_RESTART },
                { "cpus", required_argument, NULL, OPT_CPUS },
                { "log-opt", required_argument, NULL, OPT_LOG_OPT },
                { "runtime", required_argument, NULL, OPT_RUNTIME },
                { "hostname", required_argument, NULL, OPT_HOSTNAME },
                { "read-only", no_argument, NULL, OPT_READ_ONLY },
                { "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
                {},
        };
        run_args a = { .ctx = ctx };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "+dtie:v:l:w:u:m:", longopts, usage, on_option, &a, &rc);
        if (first >= 0 && first >= argc) {
                cli_usage_error(ctx, "requires at least 1 argument");
                first = -1;
                rc = CLI_EXIT_USAGE;
        }
        if (first >= 0) {
                a.o.env = (const char *const *) a.env;
                a.o.mounts = (const char *const *) a.mounts;
                a.o.labels = (const char *const *) a.labels;
                a.o.log_opts = (const char *const *) a.log_opts;
                a.o.args = first + 1 < argc ? (const char *const *) argv + first + 1 : NULL;
                if (a.o.tty)
                        (void) cli_terminal_size(&a.o.console_width, &a.o.console_height);
                berth_client *c = NULL;
                if (cli_connect(ctx, &c) != 0)
                        rc = EXIT_BERTH_FAILED;
                else {
                        rc = a.detach ? run_detached(c, argv[first], &a) : run_foreground(c, argv[first], &a);
                        berth_client_free(c);
                }
        } else if (rc == CLI_EXIT_USAGE)
                rc = EXIT_BERTH_FAILED; /* docker run: 125 for bad flags too */
        strv_free(a.env);
        strv_free(a.mounts);
        strv_free(a.labels);
        strv_free(a.log_opts);
        return rc;
}
