/* berth stats [--no-stream] [CONTAINER...]: CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, PIDS — docker's
 * columns without network and block I/O. CPU % needs two samples: --no-stream takes them a second apart (as
 * docker's daemon does); streaming redraws every second until Ctrl-C. No names: every running container. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/container-format.h"
#include "cli/format.h"

static const char usage[] =
        "Usage: berth stats [OPTIONS] [CONTAINER...]\n\n"
        "Display a live stream of container resource usage statistics.\n\n"
        "Options:\n"
        "      --no-stream       print the first result only\n";

enum { OPT_NO_STREAM = 0x100 };

static int on_option(int opt, const char *arg, void *userdata) {
        *(bool *) userdata = true;
        return 0;
}

typedef struct stats_row {
        char *id;
        berth_stats prev, now;
        bool have_prev, have_now;
} stats_row;

static void sample(berth_client *c, stats_row *rows, size_t n) {
        for (size_t i = 0; i < n; i++) {
                rows[i].prev = rows[i].now;
                rows[i].have_prev = rows[i].have_now;
                rows[i].have_now = berth_container_stats(c, rows[i].id, &rows[i].now, NULL) == 0;
        }
}

static void print_table(const stats_row *rows, size_t n) {
        static const char *const headers[] = { "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS" };
        table *t = table_new(ELEMENTSOF(headers), headers);
        for (size_t i = 0; i < n; i++) {
                const stats_row *r = &rows[i];
                _cleanup_free_ char *id = xstrndup(r->id, 12);
                char cpu[32] = "--", mem[80] = "-- / --", memp[32] = "--", pids[32] = "--", a[32], b[32];
                if (r->have_now) {
                        snprintf(cpu, sizeof cpu, "%.2f%%",
                                 r->have_prev ? berth_stats_cpu_percent(&r->prev, &r->now) : 0.0);
                        snprintf(mem, sizeof mem, "%s / %s", format_bytes_docker(r->now.memory_usage, a),
                                 format_bytes_docker(r->now.memory_limit, b));
                        snprintf(memp, sizeof memp, "%.2f%%",
                                 r->now.memory_limit ? (double) r->now.memory_usage * 100.0 /
                                                               (double) r->now.memory_limit
                                                     : 0.0);
                        snprintf(pids, sizeof pids, "%llu", (unsigned long long) r->now.pids_current);
                }
                const char *row[] = { id, r->id, cpu, mem, memp, pids };
                table_add(t, row);
        }
        table_print(t, stdout);
        table_free(t);
        fflush(stdout);
}

int cmd_stats(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "no-stream", no_argument, NULL, OPT_NO_STREAM },
                {},
        };
        bool no_stream = false;
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", longopts, usage, on_option, &no_stream, &rc);
        if (first < 0)
                return rc;
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        stats_row *rows = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (first < argc) {
                n = (size_t) (argc - first);
                rows = xcalloc(n, sizeof *rows);
                for (size_t i = 0; i < n; i++) {
                        berth_container *ct = NULL;
                        /* Unknown names are an error at once, like docker. */
                        if (berth_container_get(c, argv[first + (int) i], &ct, &e) < 0) {
                                rc = cli_error(e);
                                break;
                        }
                        rows[i].id = xstrdup(berth_container_id(ct));
                        berth_container_free(ct);
                }
        } else {
                berth_container **v = NULL;
                size_t nv = 0;
                if (berth_containers_list(c, NULL, &v, &nv, &e) < 0)
                        rc = cli_error(e);
                rows = xcalloc(nv + 1, sizeof *rows);
                for (size_t i = 0; i < nv; i++) {
                        const berth_container_info *info = berth_container_get_info(v[i]);
                        if (info->running || info->paused)
                                rows[n++].id = xstrdup(info->id);
                }
                berth_containers_free(v, nv);
        }
        if (rc == 0) {
                bool tty = isatty(STDOUT_FILENO);
                sample(c, rows, n);
                for (;;) {
                        struct timespec sec = { .tv_sec = 1 };
                        nanosleep(&sec, NULL);
                        sample(c, rows, n);
                        if (tty && !no_stream)
                                fputs("\033[2J\033[H", stdout); /* redraw in place */
                        print_table(rows, n);
                        if (no_stream)
                                break;
                }
        }
        for (size_t i = 0; i < n; i++)
                free(rows[i].id);
        free(rows);
        berth_client_free(c);
        return rc;
}
