/* berth image COMMAND: import, export, and docker's aliases ls (images), rm (rmi), pull. */
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
        "Usage: berth image COMMAND\n\n"
        "Manage images.\n\n"
        "Commands:\n"
        "  import    Import images from an OCI archive or a docker-archive tar\n"
        "  export    Export images to an OCI archive (or a docker-archive tar)\n"
        "  ls        List images (= berth images)\n"
        "  rm        Remove images (= berth rmi)\n"
        "  pull      Pull an image (= berth pull)\n";

int cmd_image(cli_context *ctx, int argc, char **argv) {
        static const struct {
                const char *name;
                cli_command_fn fn;
                const char *full;
        } subs[] = {
                { "import", cmd_image_import, "image import" }, { "load", cmd_image_import, "image load" },
                { "export", cmd_image_export, "image export" }, { "save", cmd_image_export, "image save" },
                { "ls", cmd_images, "image ls" },               { "list", cmd_images, "image list" },
                { "rm", cmd_rmi, "image rm" },                  { "pull", cmd_pull, "image pull" },
        };
        if (argc < 2) {
                fputs(usage, stderr);
                return CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(usage, stdout);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                if (strcmp(subs[i].name, argv[1]) == 0) {
                        ctx->command = subs[i].full;
                        return subs[i].fn(ctx, argc - 1, argv + 1);
                }
        fprintf(stderr, "berth image: unknown command: %s\nSee 'berth image --help'.\n", argv[1]);
        return CLI_EXIT_USAGE;
}
