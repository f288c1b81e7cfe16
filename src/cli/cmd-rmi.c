/* berth rmi NAME|ID... : removes image records (content no longer referenced is collected by the daemon). */
#include <ctype.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
        "Usage: berth rmi IMAGE [IMAGE...]\n\n"
        "Remove one or more images. IMAGE is a name (docker's short names work: busybox = "
        "docker.io/library/busybox:latest)\nor an image ID (a prefix of the digest, as `berth images` shows); "
        "an ID removes every name of that image.\n";

static int no_options(int opt, const char *arg, void *userdata) {
        return 0;
}

static bool looks_like_id(const char *s) {
        if (strncmp(s, "sha256:", 7) == 0)
                s += 7;
        size_t n = strlen(s);
        if (n < 4 || n > 64)
                return false;
        for (; *s; s++)
                if (!isxdigit((unsigned char) *s) || isupper((unsigned char) *s))
                        return false;
        return true;
}

/* Names of the images whose digest starts with the ID; all must share one digest. */
static int names_by_id(berth_client *c, const char *id, char ***ret, berr **err) {
        const char *hex = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
        berth_image *images = NULL;
        size_t n = 0;
        if (berth_images_list(c, NULL, &images, &n, err) < 0)
                return -1;
        char **names = xcalloc(n + 1, sizeof *names);
        size_t k = 0;
        const char *digest = NULL;
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                const char *d = strncmp(images[i].digest, "sha256:", 7) == 0 ? images[i].digest + 7 : "";
                if (strncmp(d, hex, strlen(hex)) != 0)
                        continue;
                if (digest && strcmp(digest, images[i].digest) != 0) {
                        r = berr_set(err, BERR_FAILED_PRECONDITION, 0, "image ID %s is ambiguous: it matches %s and %s",
                                     id, digest, images[i].digest);
                        break;
                }
                digest = images[i].digest;
                names[k++] = xstrdup(images[i].name);
        }
        if (r == 0 && k == 0)
                r = berr_set(err, BERR_NOT_FOUND, 0, "image \"%s\": not found", id);
        berth_images_free(images, n);
        if (r < 0) {
                for (size_t i = 0; i < k; i++)
                        free(names[i]);
                free(names);
                return -1;
        }
        *ret = names;
        return 0;
}

static int remove_one(berth_client *c, const char *arg) {
        _cleanup_berr_ berr *e = NULL;
        if (berth_image_remove(c, arg, &e) == 0) {
                printf("Untagged: %s\n", arg);
                return 0;
        }
        if (e->code != BERR_NOT_FOUND)
                return cli_error(e);
        /* docker habits: a short name, or an image ID */
        _cleanup_free_ char *full = berth_reference_normalize(arg);
        berr_freep(&e);
        if (strcmp(full, arg) != 0 && berth_image_remove(c, full, &e) == 0) {
                printf("Untagged: %s\n", full);
                return 0;
        }
        if (e && e->code != BERR_NOT_FOUND)
                return cli_error(e);
        if (!looks_like_id(arg)) {
                berr_freep(&e);
                berr_set(&e, BERR_NOT_FOUND, 0, "image \"%s\": not found", arg);
                return cli_error(e);
        }
        berr_freep(&e);
        char **names = NULL;
        if (names_by_id(c, arg, &names, &e) < 0)
                return cli_error(e);
        int rc = 0;
        for (char **n = names; *n; n++) {
                _cleanup_berr_ berr *e2 = NULL;
                if (berth_image_remove(c, *n, &e2) < 0)
                        rc = cli_error(e2);
                else
                        printf("Untagged: %s\n", *n);
                free(*n);
        }
        free(names);
        return rc;
}

int cmd_rmi(cli_context *ctx, int argc, char **argv) {
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "", NULL, usage, no_options, NULL, &rc);
        if (first < 0)
                return rc;
        if (argc - first < 1)
                return cli_usage_error(ctx, "requires at least 1 argument");
        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        for (int i = first; i < argc; i++)
                if (remove_one(c, argv[i]) != 0)
                        rc = CLI_EXIT_ERROR;
        berth_client_free(c);
        return rc;
}
