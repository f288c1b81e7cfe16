/* berthd: the berth daemon. Serves containerd's gRPC API (and berth's own) on a unix socket. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "basic/log.h"
#include "berthd/config.h"
#include "berthd/daemon.h"
#include "services/berth-version.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: berthd [OPTIONS]\n"
                "\n"
                "The berth daemon: containerd's API (version, namespaces, introspection, health ...) over gRPC.\n"
                "\n"
                "  -r, --root DIR        persistent state (default " BERTHD_DEFAULT_ROOT ")\n"
                "  -s, --state DIR       runtime state (default " BERTHD_DEFAULT_STATE ")\n"
                "  -a, --address SOCK    gRPC socket (default <state>/" BERTHD_SOCKET_NAME ")\n"
                "  -c, --config FILE     config file (default " BERTHD_DEFAULT_CONFIG " if it exists)\n"
                "  -l, --log-level LVL   error, warn, info, debug or trace (default info)\n"
                "      --oci-runtime RT  auto, crun, runc or a path: the OCI runtime shims run (default auto:\n"
                "                        crun where it works on this host, else runc)\n"
                "  -v, --version         print the version and exit\n"
                "  -h, --help            print this help and exit\n"
                "\n"
                "Flags override the config file. See docs/berthd.md for the file's format.\n");
}

/* What the command line set; applied over the config file. */
typedef struct cli_overrides {
        const char *root, *state, *address, *config, *log_level, *oci_runtime;
} cli_overrides;

static int parse_args(int argc, char **argv, cli_overrides *o) {
        static const struct option options[] = {
                { "root", required_argument, NULL, 'r' },      { "state", required_argument, NULL, 's' },
                { "address", required_argument, NULL, 'a' },   { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, 'l' }, { "version", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },            { "oci-runtime", required_argument, NULL, 'O' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "r:s:a:c:l:vh", options, NULL)) != -1) {
                switch (c) {
                case 'r': o->root = optarg; break;
                case 's': o->state = optarg; break;
                case 'a': o->address = optarg; break;
                case 'c': o->config = optarg; break;
                case 'l': o->log_level = optarg; break;
                case 'O': o->oci_runtime = optarg; break;
                case 'v':
                        printf("berthd %s (containerd API %s, revision %s)\n", BERTH_VERSION,
                               BERTH_CONTAINERD_API_VERSION, BERTH_REVISION);
                        exit(EXIT_SUCCESS);
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "berthd: unexpected argument '%s'\n", argv[optind]);
                return -1;
        }
        return 0;
}

static void set_path(char **dst, const char *value) {
        free(*dst);
        *dst = xstrdup(value);
}

static int build_config(const cli_overrides *o, berthd_config *cfg, berr **err) {
        berthd_config_init(cfg);
        /* An explicit --config must exist; the default file is optional. */
        if (o->config) {
                if (berthd_config_load(cfg, o->config, err) < 0)
                        return -1;
        } else if (access(BERTHD_DEFAULT_CONFIG, F_OK) == 0) {
                if (berthd_config_load(cfg, BERTHD_DEFAULT_CONFIG, err) < 0)
                        return -1;
        }
        if (o->root)
                set_path(&cfg->root, o->root);
        if (o->state)
                set_path(&cfg->state, o->state);
        if (o->address)
                set_path(&cfg->address, o->address);
        if (o->oci_runtime)
                set_path(&cfg->oci_runtime, o->oci_runtime);
        if (o->log_level && log_level_from_string(o->log_level, &cfg->log_level) < 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "unknown log level '%s'", o->log_level);
        return berthd_config_finalize(cfg, err);
}

int main(int argc, char **argv) {
        cli_overrides o = { 0 };
        if (parse_args(argc, argv, &o) < 0)
                return 2;

        /* Writes to a client that went away must fail with EPIPE, not kill the daemon. */
        signal(SIGPIPE, SIG_IGN);
        /* Descriptors inherited from whoever started us (a test runner's pipes, a shell's extras) must not reach
         * the shims, which outlive us: every one from 3 up becomes close-on-exec (ours are opened that way). */
        (void) close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

        berthd_config cfg;
        _cleanup_berr_ berr *e = NULL;
        if (build_config(&o, &cfg, &e) < 0) {
                log_error("%s", e->msg);
                berthd_config_done(&cfg);
                return 1;
        }
        log_set_level(cfg.log_level);
        if (cfg.config_file)
                log_debug("loaded config %s", cfg.config_file);

        berthd *d = NULL;
        if (berthd_new(&cfg, &d, &e) < 0) {
                log_error("cannot start: %s", e->msg);
                berthd_config_done(&cfg);
                return 1;
        }
        int r = berthd_run(d);
        berthd_free(d);
        log_info("berthd stopped");
        berthd_config_done(&cfg);
        return r;
}
