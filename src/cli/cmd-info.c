/* berth info: daemon-wide information (berth.v1.Berth/Info). */
#include <inttypes.h>

#include "cli/cli.h"
#include "cli/format.h"

static const char usage[] = "Usage: berth info\n\nDisplay daemon-wide information.\n";

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

int cmd_info(cli_context *ctx, int argc, char **argv) {
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        if (argc - first != 0)
                return cli_usage_error(ctx, "accepts no arguments");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_info info = {};
        _cleanup_berr_ berr *e = NULL;
        if (berth_info_get(c, &info, &e) < 0) {
                berth_client_free(c);
                return cli_error(e);
        }
        char bytes[16];
        printf("Server:\n");
        printf(" Version:      %s\n", info.version);
        printf(" Revision:     %s\n", info.revision);
        printf(" PID:          %" PRIu32 "\n", info.pid);
        printf(" UUID:         %s\n", info.uuid);
        printf(" Address:      %s\n", info.address);
        printf(" Root Dir:     %s\n", info.root);
        printf(" State Dir:    %s\n", info.state);
        printf(" Snapshotter:  %s\n", info.snapshotter);
        printf(" OCI Runtime:  %s\n", info.oci_runtime);
        printf(" Log Level:    %s\n", info.log_level);
        printf(" Namespaces:   %" PRId64 "\n", info.namespaces);
        printf(" Content:      %" PRId64 " blobs, %s on disk\n", info.content_blobs,
               format_size(info.content_bytes, bytes));
        printf(" Namespace:    %s\n", berth_client_namespace(c));
        printf("  Images:      %" PRId64 "\n", info.images);
        printf("  Snapshots:   %" PRId64 "\n", info.snapshots);
        printf("  Leases:      %" PRId64 "\n", info.leases);
        printf("  Containers:  %" PRId64 "\n", info.containers);
        berth_info_done(&info);
        berth_client_free(c);
        return CLI_EXIT_OK;
}
