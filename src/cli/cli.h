/* The berth CLI: shared state and helpers of the command files (one file per command, dispatched by main.c). */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "basic/error.h"
#include "berth/berth.h"

/* Exit codes: 0 ok, 1 an error (from the daemon or the system), 2 a usage error. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

typedef struct cli_context {
        const char *address;
        const char *namespace_;
        const char *command; /* e.g. "pull", "image import": for messages */
} cli_context;

typedef int (*cli_command_fn)(cli_context *ctx, int argc, char **argv);

/* Global options accepted by every command too (nerdctl habit: `berth images -n other`). */
#define CLI_GLOBAL_SHORT "a:n:"
/* Values of the global long options (a command may use -a, -n or -h for something else, like docker's ps -a). */
enum { CLI_OPT_ADDRESS = 0x7f00, CLI_OPT_NAMESPACE, CLI_OPT_HELP };
#define CLI_GLOBAL_LONG                                                                                          \
        { "address", required_argument, NULL, CLI_OPT_ADDRESS },                                                \
                { "namespace", required_argument, NULL, CLI_OPT_NAMESPACE },                                    \
                { "help", no_argument, NULL, CLI_OPT_HELP }

/* Parses argv with getopt_long (messages are ours). For each option other than the global ones and -h, calls
 * on_option; returns the index of the first operand, or -1 after printing help (exit 0) or a usage error
 * (*exit_code set to 2). on_option returns <0 for a bad value (a usage error it has printed). */
int cli_parse(cli_context *ctx, int argc, char **argv, const char *shortopts, const struct option *longopts,
              const char *usage, int (*on_option)(int opt, const char *arg, void *userdata), void *userdata,
              int *exit_code);
/* Prints "berth COMMAND: message" + the --help hint; returns 2. */
int cli_usage_error(const cli_context *ctx, const char *fmt, ...) _printf_(2, 3);
/* Prints "berth: message" for an error; returns 1. */
int cli_error(const berr *e);
/* Connects or prints why not; returns 0 or 1 (the exit code). */
int cli_connect(const cli_context *ctx, berth_client **ret);

int cmd_pull(cli_context *ctx, int argc, char **argv);
int cmd_images(cli_context *ctx, int argc, char **argv);
int cmd_rmi(cli_context *ctx, int argc, char **argv);
int cmd_image(cli_context *ctx, int argc, char **argv); /* image import|export|ls|rm|pull */
int cmd_image_import(cli_context *ctx, int argc, char **argv);
int cmd_image_export(cli_context *ctx, int argc, char **argv);
int cmd_info(cli_context *ctx, int argc, char **argv);
int cmd_version(cli_context *ctx, int argc, char **argv);
/* Containers (cmd-run.c, cmd-ps.c, ...). */
int cmd_run(cli_context *ctx, int argc, char **argv);
int cmd_ps(cli_context *ctx, int argc, char **argv);
int cmd_logs(cli_context *ctx, int argc, char **argv);
int cmd_exec(cli_context *ctx, int argc, char **argv);
int cmd_attach(cli_context *ctx, int argc, char **argv);
int cmd_stop(cli_context *ctx, int argc, char **argv);
int cmd_kill(cli_context *ctx, int argc, char **argv);
int cmd_rm(cli_context *ctx, int argc, char **argv);
int cmd_pause(cli_context *ctx, int argc, char **argv);   /* pause and unpause (ctx->command tells) */
int cmd_wait(cli_context *ctx, int argc, char **argv);
int cmd_inspect(cli_context *ctx, int argc, char **argv);
int cmd_top(cli_context *ctx, int argc, char **argv);
int cmd_stats(cli_context *ctx, int argc, char **argv);
int cmd_events(cli_context *ctx, int argc, char **argv);

/* Runs fn for each container named in argv[first..argc) on one connection, docker's way: each name is printed when
 * fn succeeds (print_name), each failure as "berth: message"; returns 1 if any failed. */
typedef int (*cli_container_fn)(berth_client *c, const char *id, void *userdata, berr **err);
int cli_for_each_container(const cli_context *ctx, int argc, char **argv, int first, cli_container_fn fn,
                           void *userdata, bool print_name);

/* Finds the stored name for what the user typed: the name as given, else its docker-normalized form. */
int cli_resolve_image(berth_client *c, const char *arg, char **ret_name, berr **err);
