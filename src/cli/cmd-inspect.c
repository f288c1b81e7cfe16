/* berth inspect [-f TEMPLATE] CONTAINER...: a JSON array shaped like docker's; -f prints one field per container
 * for the simple templates '{{.State.Pid}}' and '{{json .Config}}'. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/container-format.h"

static const char usage[] =
        "Usage: berth inspect [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Display detailed information on one or more containers.\n\n"
        "Options:\n"
        "  -f, --format TEMPLATE   print a field: '{{.State.Status}}', '{{json .Config}}'\n";

static int on_option(int opt, const char *arg, void *userdata) {
        *(const char **) userdata = arg;
        return 0;
}

/* Prints a template made of text and {{.Path.To.Field}} / {{json .Path}} actions. */
static int print_template(const cli_context *ctx, const char *tmpl, json_t *o) {
        const char *p = tmpl;
        while (*p) {
                const char *open = strstr(p, "{{");
                if (!open) {
                        fputs(p, stdout);
                        break;
                }
                fwrite(p, 1, (size_t) (open - p), stdout);
                const char *close = strstr(open, "}}");
                if (!close)
                        return cli_usage_error(ctx, "template: unclosed action");
                _cleanup_free_ char *action = xstrndup(open + 2, (size_t) (close - open - 2));
                char *a = action;
                while (*a == ' ')
                        a++;
                for (char *e = a + strlen(a); e > a && e[-1] == ' '; e--)
                        e[-1] = '\0';
                bool as_json = strncmp(a, "json ", 5) == 0;
                if (as_json)
                        for (a += 5; *a == ' '; a++)
                                ;
                if (*a != '.')
                        return cli_usage_error(ctx, "template: unsupported action \"%s\"", action);
                json_t *v = o;
                for (char *tok = strtok(a + 1, "."); tok && v; tok = strtok(NULL, "."))
                        v = json_object_get(v, tok);
                if (!v)
                        return cli_usage_error(ctx, "template: no field \"%s\"", a);
                if (json_is_string(v) && !as_json)
                        fputs(json_string_value(v), stdout);
                else {
                        _cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
                        fputs(s, stdout);
                }
                p = close + 2;
        }
        putchar('\n');
        return 0;
}

int cmd_inspect(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "format", required_argument, NULL, 'f' },
                {},
        };
        const char *format = NULL;
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "f:", longopts, usage, on_option, &format, &rc);
        if (first < 0)
                return rc;
        if (argc - first < 1)
                return cli_usage_error(ctx, "requires at least 1 argument");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        json_t *all = json_array();
        for (int i = first; i < argc; i++) {
                berth_container *ct = NULL;
                _cleanup_berr_ berr *e = NULL;
                if (berth_container_get(c, argv[i], &ct, &e) < 0) {
                        rc = cli_error(e);
                        continue;
                }
                json_t *o = container_inspect_json(berth_container_get_info(ct));
                berth_container_free(ct);
                if (format) {
                        if (print_template(ctx, format, o) != 0)
                                rc = CLI_EXIT_USAGE;
                        json_decref(o);
                } else
                        json_array_append_new(all, o);
        }
        if (!format) {
                _cleanup_free_ char *text = json_dumps(all, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
                printf("%s\n", text);
        }
        json_decref(all);
        berth_client_free(c);
        return rc;
}
