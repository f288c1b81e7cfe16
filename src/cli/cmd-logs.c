/* berth logs [-f] [--tail N] [-t] CONTAINER: stdout records to stdout, stderr records to stderr; -f follows until
 * the container is no longer running (or Ctrl-C). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/container-format.h"

static const char usage[] =
        "Usage: berth logs [OPTIONS] CONTAINER\n\n"
        "Fetch the logs of a container.\n\n"
        "Options:\n"
        "  -f, --follow          follow the output until the container stops\n"
        "      --tail N          number of lines from the end (\"all\" = everything)\n"
        "  -t, --timestamps      show timestamps\n";

enum { OPT_TAIL = 0x100 };

typedef struct logs_args {
        const cli_context *ctx;
        berth_logs_opts o;
        bool timestamps;
} logs_args;

static int on_option(int opt, const char *arg, void *userdata) {
        logs_args *a = userdata;
        switch (opt) {
        case 'f':
                a->o.follow = true;
                break;
        case 't':
                a->timestamps = true;
                break;
        case OPT_TAIL: {
                if (strcmp(arg, "all") == 0) {
                        a->o.tail = -1;
                        break;
                }
                char *end;
                long long n = strtoll(arg, &end, 10);
                if (!*arg || *end || n < 0) {
                        cli_usage_error(a->ctx, "invalid value for --tail: %s", arg);
                        return -1;
                }
                a->o.tail = n;
                break;
        }
        }
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int on_entry(const berth_log_entry *e, void *userdata) {
        const logs_args *a = userdata;
        int fd = e->is_stderr ? STDERR_FILENO : STDOUT_FILENO;
        if (a->timestamps) {
                _cleanup_free_ char *ts = format_rfc3339(e->time);
                _cleanup_free_ char *prefix = xasprintf("%s ", ts);
                if (write_all(fd, (const uint8_t *) prefix, strlen(prefix)) < 0)
                        return 1;
        }
        /* A reader that went away (| head) ends the command quietly. */
        return write_all(fd, e->data, e->len) < 0 ? 1 : 0;
}

int cmd_logs(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "follow", no_argument, NULL, 'f' },
                { "timestamps", no_argument, NULL, 't' },
                { "tail", required_argument, NULL, OPT_TAIL },
                {},
        };
        logs_args a = { .ctx = ctx, .o = { .tail = -1 } };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "ft", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 1)
                return cli_usage_error(ctx, "requires exactly 1 argument");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        _cleanup_berr_ berr *e = NULL;
        if (berth_logs(c, argv[first], &a.o, on_entry, &a, &e) < 0)
                rc = cli_error(e);
        berth_client_free(c);
        return rc;
}
