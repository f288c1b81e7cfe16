/* Helpers shared by the command files: option parsing with docker-like messages, errors, connecting. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_usage_error(const cli_context *ctx, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "berth %s: ", ctx->command);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nSee 'berth %s --help'.\n", ctx->command);
        return CLI_EXIT_USAGE;
}

int cli_error(const berr *e) {
        fprintf(stderr, "berth: %s\n", e && e->msg ? e->msg : "unknown error");
        return CLI_EXIT_ERROR;
}

int cli_connect(const cli_context *ctx, berth_client **ret) {
        _cleanup_berr_ berr *e = NULL;
        if (berth_client_connect(ctx->address, ctx->namespace_, ret, &e) < 0)
                return cli_error(e);
        return CLI_EXIT_OK;
}

int cli_parse(cli_context *ctx, int argc, char **argv, const char *shortopts, const struct option *longopts,
              const char *usage, int (*on_option)(int opt, const char *arg, void *userdata), void *userdata,
              int *exit_code) {
        static const struct option global[] = { CLI_GLOBAL_LONG };
        size_t n = 0;
        while (longopts && longopts[n].name)
                n++;
        _cleanup_free_ struct option *all = xcalloc(n + ELEMENTSOF(global) + 1, sizeof *all);
        memcpy(all, global, sizeof global);
        if (n > 0)
                memcpy(all + ELEMENTSOF(global), longopts, n * sizeof *all);
        /* A leading '+' (stop at the first operand: `run IMAGE CMD...`) must lead the whole string; a command's own
         * short option wins over a global one with the same letter (docker's `ps -a`). */
        if (!shortopts)
                shortopts = "";
        bool stop_at_operand = shortopts[0] == '+';
        if (stop_at_operand)
                shortopts++;
        char global_short[8] = "", *g = global_short;
        for (const char *p = CLI_GLOBAL_SHORT "h"; *p; p++) {
                if (*p == ':')
                        continue;
                if (strchr(shortopts, *p))
                        continue;
                *g++ = *p;
                if (p[1] == ':')
                        *g++ = ':';
        }
        _cleanup_free_ char *optstring = xasprintf("%s:%s%s", stop_at_operand ? "+" : "", global_short, shortopts);

        opterr = 0;
        optind = 0; /* GNU: full re-initialization for a new argv */
        int opt;
        while ((opt = getopt_long(argc, argv, optstring, all, NULL)) != -1) {
                if ((opt == 'a' || opt == 'n' || opt == 'h') && strchr(global_short, opt))
                        opt = opt == 'a' ? CLI_OPT_ADDRESS : opt == 'n' ? CLI_OPT_NAMESPACE : CLI_OPT_HELP;
                switch (opt) {
                case CLI_OPT_ADDRESS:
                        ctx->address = optarg;
                        break;
                case CLI_OPT_NAMESPACE:
                        ctx->namespace_ = optarg;
                        break;
                case CLI_OPT_HELP:
                        printf("%s", usage);
                        *exit_code = CLI_EXIT_OK;
                        return -1;
                case ':':
                        *exit_code = cli_usage_error(ctx, "flag needs an argument: %s", argv[optind - 1]);
                        return -1;
                case '?':
                        if (optopt && optopt != '?')
                                *exit_code = cli_usage_error(ctx, "unknown shorthand flag: '%c' in %s", optopt,
                                                             argv[optind - 1]);
                        else
                                *exit_code = cli_usage_error(ctx, "unknown flag: %s", argv[optind - 1]);
                        return -1;
                default:
                        if (on_option(opt, optarg, userdata) < 0) {
                                *exit_code = CLI_EXIT_USAGE;
                                return -1;
                        }
                }
        }
        return optind;
}

int cli_resolve_image(berth_client *c, const char *arg, char **ret_name, berr **err) {
        berth_image img = {};
        _cleanup_berr_ berr *first = NULL;
        if (berth_image_get(c, arg, &img, &first) == 0) {
                *ret_name = TAKE_PTR(img.name);
                berth_image_done(&img);
                return 0;
        }
        _cleanup_free_ char *full = berth_reference_normalize(arg);
        if (first->code != BERR_NOT_FOUND || strcmp(full, arg) == 0) {
                *err = TAKE_PTR(first);
                return -1;
        }
        if (berth_image_get(c, full, &img, err) < 0)
                return -1;
        *ret_name = TAKE_PTR(img.name);
        berth_image_done(&img);
        return 0;
}
