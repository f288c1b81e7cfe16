/* berth ps [-a] [-q] [--format table|json]: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS,
 * NAMES) — without PORTS, berth has no networking. -q prints whole IDs (berth takes no ID prefixes). */
#include <jansson.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/container-format.h"
#include "cli/format.h"

static const char usage[] =
        "Usage: berth ps [OPTIONS]\n\n"
        "List containers (running ones unless -a).\n\n"
        "Options:\n"
        "  -a, --all             show all containers\n"
        "  -q, --quiet           only show IDs\n"
        "      --no-trunc        do not truncate output\n"
        "  -f, --filter FILTER   containerd filter on the records (e.g. labels.app==web)\n"
        "      --format FORMAT   \"table\" (default) or \"json\" (one JSON object per line)\n";

enum { OPT_FORMAT = 0x100, OPT_NO_TRUNC };

typedef struct ps_args {
        const cli_context *ctx;
        bool all, quiet, json, no_trunc;
        const char *filters[33];
        size_t n_filters;
} ps_args;

static int on_option(int opt, const char *arg, void *userdata) {
        ps_args *a = userdata;
        switch (opt) {
        case 'a':
                a->all = true;
                break;
        case 'q':
                a->quiet = true;
                break;
        case OPT_NO_TRUNC:
                a->no_trunc = true;
                break;
        case 'f':
                if (a->n_filters + 1 >= ELEMENTSOF(a->filters)) {
                        cli_usage_error(a->ctx, "too many filters");
                        return -1;
                }
                a->filters[a->n_filters++] = arg;
                break;
        case OPT_FORMAT:
                if (strcmp(arg, "json") == 0 || strcmp(arg, "{{json .}}") == 0)
                        a->json = true;
                else if (strcmp(arg, "table") == 0)
                        a->json = false;
                else {
                        cli_usage_error(a->ctx, "unsupported format \"%s\" (table or json)", arg);
                        return -1;
                }
                break;
        }
        return 0;
}

int cmd_ps(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "all", no_argument, NULL, 'a' },
                { "quiet", no_argument, NULL, 'q' },
                { "filter", required_argument, NULL, 'f' },
                { "no-trunc", no_argument, NULL, OPT_NO_TRUNC },
                { "format", required_argument, NULL, OPT_FORMAT },
                {},
        };
        ps_args a = { .ctx = ctx };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "aqf:", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 0)
                return cli_usage_error(ctx, "accepts no arguments");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_container **v = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (berth_containers_list(c, a.n_filters ? a.filters : NULL, &v, &n, &e) < 0) {
                berth_client_free(c);
                return cli_error(e);
        }
        int64_t now = now_realtime_ns();
        static const char *const headers[] = { "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES" };
        table *t = table_new(ELEMENTSOF(headers), headers);
        for (size_t i = 0; i < n; i++) {
                const berth_container_info *info = berth_container_get_info(v[i]);
                if (!a.all && !info->running && !info->paused && !info->restarting)
                        continue;
                if (a.quiet) {
                        printf("%s\n", info->id);
                        continue;
                }
                if (a.json) {
                        json_t *o = container_ps_json(info, now);
                        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
                        json_decref(o);
                        printf("%s\n", text);
                        continue;
                }
                _cleanup_free_ char *id = a.no_trunc ? xstrdup(info->id) : xstrndup(info->id, 12);
                _cleanup_free_ char *image = format_familiar_image(info->image);
                _cleanup_free_ char *cmd = format_container_command(info->command, !a.no_trunc);
                _cleanup_free_ char *created = format_ago(info->created_at, now);
                _cleanup_free_ char *status = format_container_status(info, now);
                const char *row[] = { id, image, cmd, created, status, info->name };
                table_add(t, row);
        }
        if (!a.quiet && !a.json)
                table_print(t, stdout);
        table_free(t);
        berth_containers_free(v, n);
        berth_client_free(c);
        return CLI_EXIT_OK;
}
