/* berth top CONTAINER: the container's processes in `ps -ef` columns, as docker top shows them
 * (UID PID PPID C STIME TTY TIME CMD). TTY is "?" (the daemon does not report terminals). */
#include <pwd.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/container-format.h"
#include "cli/format.h"

static const char usage[] = "Usage: berth top CONTAINER\n\nDisplay the running processes of a container.\n";

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

/* ps's STIME: HH:MM today, MonDD this year, else the year. */
static void format_stime(int64_t started_ns, int64_t now_ns, char buf[static 16]) {
        time_t t = (time_t) (started_ns / 1000000000LL), now = (time_t) (now_ns / 1000000000LL);
        struct tm tm, tn;
        localtime_r(&t, &tm);
        localtime_r(&now, &tn);
        if (now - t < 24 * 3600 && tm.tm_yday == tn.tm_yday)
                strftime(buf, 16, "%H:%M", &tm);
        else if (tm.tm_year == tn.tm_year)
                strftime(buf, 16, "%b%d", &tm);
        else
                strftime(buf, 16, "%Y", &tm);
}

/* ps's TIME: [DD-]HH:MM:SS of CPU time. */
static void format_cputime(uint64_t ns, char buf[static 32]) {
        uint64_t s = ns / 1000000000ULL;
        if (s >= 86400)
                snprintf(buf, 32, "%llu-%02llu:%02llu:%02llu", (unsigned long long) (s / 86400),
                         (unsigned long long) (s / 3600 % 24), (unsigned long long) (s / 60 % 60),
                         (unsigned long long) (s % 60));
        else
                snprintf(buf, 32, "%02llu:%02llu:%02llu", (unsigned long long) (s / 3600),
                         (unsigned long long) (s / 60 % 60), (unsigned long long) (s % 60));
}

int cmd_top(cli_context *ctx, int argc, char **argv) {
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 1)
                return cli_usage_error(ctx, "requires exactly 1 argument");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_process_info *v = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (berth_top(c, argv[first], &v, &n, &e) < 0) {
                berth_client_free(c);
                return cli_error(e);
        }
        int64_t now = now_realtime_ns();
        static const char *const headers[] = { "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD" };
        table *t = table_new(ELEMENTSOF(headers), headers);
        for (size_t i = 0; i < n; i++) {
                const berth_process_info *p = &v[i];
                char uid[32], pid[16], ppid[16], cpu[16], stime[16], tm[32];
                struct passwd *pw = getpwuid(p->uid);
                snprintf(uid, sizeof uid, "%s", pw ? pw->pw_name : "");
                if (!pw)
                        snprintf(uid, sizeof uid, "%u", p->uid);
                snprintf(pid, sizeof pid, "%u", p->pid);
                snprintf(ppid, sizeof ppid, "%u", p->ppid);
                int64_t alive = p->started_at > 0 && now > p->started_at ? now - p->started_at : 0;
                snprintf(cpu, sizeof cpu, "%d", alive > 0 ? (int) (p->cpu_ns * 100 / (uint64_t) alive) : 0);
                format_stime(p->started_at, now, stime);
                format_cputime(p->cpu_ns, tm);
                const char *row[] = { uid, pid, ppid, cpu, stime, "?", tm, p->command };
                table_add(t, row);
        }
        table_print(t, stdout);
        table_free(t);
        berth_process_infos_free(v, n);
        berth_client_free(c);
        return CLI_EXIT_OK;
}
