/* berth: the command line client of berthd. Global options, then a command:
 *   berth [-a ADDRESS] [-n NAMESPACE] COMMAND [OPTIONS] [ARGS]
 * ADDRESS defaults to $BERTH_ADDRESS, then /run/berth/berthd.sock; NAMESPACE to $BERTH_NAMESPACE, then
 * "default". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
        const char *name;
        cli_command_fn fn;
        const char *summary;
} commands[] = {
        { "run", cmd_run, "Create and run a new container from an image" },
        { "ps", cmd_ps, "List containers" },
        { "logs", cmd_logs, "Fetch the logs of a container" },
        { "exec", cmd_exec, "Run a command in a running container" },
        { "attach", cmd_attach, "Attach to a running container's output until it exits" },
        { "stop", cmd_stop, "Stop one or more running containers" },
        { "kill", cmd_kill, "Kill one or more running containers" },
        { "rm", cmd_rm, "Remove one or more containers" },
        { "pause", cmd_pause, "Pause all processes within one or more containers" },
        { "unpause", cmd_pause, "Unpause all processes within one or more containers" },
        { "wait", cmd_wait, "Block until containers stop, then print their exit codes" },
        { "inspect", cmd_inspect, "Display detailed information on containers" },
        { "top", cmd_top, "Display the running processes of a container" },
        { "stats", cmd_stats, "Display containers' resource usage statistics" },
        { "events", cmd_events, "Get real time events from the daemon" },
        { "pull", cmd_pull, "Pull an image from a registry" },
        { "images", cmd_images, "List images" },
        { "rmi", cmd_rmi, "Remove one or more images" },
        { "image", cmd_image, "Manage images (import, export, ls, rm, pull)" },
        { "info", cmd_info, "Display daemon-wide information" },
        { "version", cmd_version, "Show the client and daemon versions" },
};

static void usage(FILE *f) {
        fprintf(f, "Usage: berth [OPTIONS] COMMAND\n\n"
                   "A client for berthd, the containerd-compatible container runtime daemon.\n\n"
                   "Options:\n"
                   "  -a, --address PATH       berthd's socket (env BERTH_ADDRESS, default %s)\n"
                   "  -n, --namespace NAME     namespace (env BERTH_NAMESPACE, default \"%s\")\n"
                   "  -h, --help               show this help\n"
                   "  -v, --version            show the client version\n\n"
                   "Commands:\n",
                BERTH_DEFAULT_ADDRESS, BERTH_DEFAULT_NAMESPACE);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'berth COMMAND --help' for more information on a command.\n");
}

int main(int argc, char **argv) {
        cli_context ctx = {
                .address = getenv("BERTH_ADDRESS"),
                .namespace_ = getenv("BERTH_NAMESPACE"),
        };
        if (!ctx.address || !*ctx.address)
                ctx.address = BERTH_DEFAULT_ADDRESS;
        if (!ctx.namespace_ || !*ctx.namespace_)
                ctx.namespace_ = BERTH_DEFAULT_NAMESPACE;

        static const struct option longopts[] = {
                { "address", required_argument, NULL, 'a' },
                { "namespace", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                {},
        };
        opterr = 0;
        int opt;
        /* '+': stop at the command; its options are its own. */
        while ((opt = getopt_long(argc, argv, "+:a:n:hv", longopts, NULL)) != -1) {
                switch (opt) {
                case 'a':
                        ctx.address = optarg;
                        break;
                case 'n':
                        ctx.namespace_ = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return CLI_EXIT_OK;
                case 'v':
                        printf("berth version %s\n", berth_client_version());
                        return CLI_EXIT_OK;
                case ':':
                        fprintf(stderr, "berth: flag needs an argument: %s\n", argv[optind - 1]);
                        fprintf(stderr, "See 'berth --help'.\n");
                        return CLI_EXIT_USAGE;
                default:
                        fprintf(stderr, "berth: unknown flag: %s\n", argv[optind - 1]);
                        fprintf(stderr, "See 'berth --help'.\n");
                        return CLI_EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        const char *name = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (strcmp(commands[i].name, name) == 0) {
                        ctx.command = name;
                        return commands[i].fn(&ctx, argc - optind, argv + optind);
                }
        }
        fprintf(stderr, "berth: unknown command: %s\nSee 'berth --help'.\n", name);
        return CLI_EXIT_USAGE;
}
