/* berth images [--format table|json] [-q] [REPOSITORY[:TAG]]
 * --format json prints one JSON object per line (docker's `--format json` habit) with docker's keys (ID,
 * Repository, Tag, Digest, CreatedAt, CreatedSince, Size) plus Name (the full stored name) and SizeBytes. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/format.h"

static const char usage[] =
        "Usage: berth images [OPTIONS] [REPOSITORY[:TAG]]\n\n"
        "List images.\n\n"
        "Options:\n"
        "      --format FORMAT   \"table\" (default) or \"json\" (one JSON object per line)\n"
        "  -q, --quiet           only show image IDs\n"
        "\nSIZE is the sum of the image's config and layer blobs as stored (compressed) for this platform.\n";

enum { OPT_FORMAT = 0x100 };

typedef struct images_args {
        bool quiet, json;
        const cli_context *ctx;
} images_args;

static int on_option(int opt, const char *arg, void *userdata) {
        images_args *a = userdata;
        if (opt == 'q')
                a->quiet = true;
        else if (opt == OPT_FORMAT) {
                if (strcmp(arg, "json") == 0 || strcmp(arg, "{{json .}}") == 0)
                        a->json = true;
                else if (strcmp(arg, "table") == 0)
                        a->json = false;
                else {
                        cli_usage_error(a->ctx, "unsupported format \"%s\" (table or json)", arg);
                        return -1;
                }
        }
        return 0;
}

/* The repository part of a full name (without :tag or @digest). */
static char *repository_of(const char *name) {
        const char *at = strchr(name, '@');
        _cleanup_free_ char *s = at ? xstrndup(name, (size_t) (at - name)) : xstrdup(name);
        const char *slash = strrchr(s, '/');
        char *colon = strrchr(slash ? slash : s, ':');
        if (colon)
                *colon = '\0';
        return TAKE_PTR(s);
}

/* REPOSITORY[:TAG] as docker matches it: with a tag, the exact name; without, every tag of the repository. */
static bool matches(const char *name, const char *pattern) {
        _cleanup_free_ char *full = berth_reference_normalize(pattern);
        const char *slash = strrchr(pattern, '/');
        if (strchr(pattern, '@') || strchr(slash ? slash : pattern, ':'))
                return strcmp(name, full) == 0 || strcmp(name, pattern) == 0;
        _cleanup_free_ char *want = repository_of(full), *have = repository_of(name);
        return strcmp(want, have) == 0;
}

static char *format_time(int64_t ns) {
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        char buf[64];
        if (ns <= 0 || !localtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm) == 0)
                return xstrdup("");
        return xstrdup(buf);
}

static char *format_since(int64_t ns) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ns = (int64_t) now.tv_sec * 1000000000LL + now.tv_nsec;
        if (ns <= 0)
                return xstrdup("N/A");
        _cleanup_free_ char *d = format_duration(now_ns > ns ? now_ns - ns : 0);
        return xasprintf("%s ago", d);
}

static void print_json(const berth_image *img) {
        _cleanup_free_ char *repo = NULL, *tag = NULL, *id = format_short_id(img->digest);
        _cleanup_free_ char *created = format_time(img->created_at), *since = format_since(img->created_at);
        char size[16];
        format_split_name(img->name, &repo, &tag);
        json_t *o = json_object();
        json_object_set_new(o, "ID", json_string(id));
        json_object_set_new(o, "Repository", json_string(repo));
        json_object_set_new(o, "Tag", json_string(tag));
        json_object_set_new(o, "Digest", json_string(img->digest));
        json_object_set_new(o, "Name", json_string(img->name));
        json_object_set_new(o, "CreatedAt", json_string(created));
        json_object_set_new(o, "CreatedSince", json_string(since));
        json_object_set_new(o, "Size", json_string(img->size >= 0 ? format_size(img->size, size) : ""));
        json_object_set_new(o, "SizeBytes", img->size >= 0 ? json_integer(img->size) : json_null());
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        printf("%s\n", text);
}

int cmd_images(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "quiet", no_argument, NULL, 'q' },
                { "format", required_argument, NULL, OPT_FORMAT },
                {},
        };
        images_args a = { .ctx = ctx };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "q", longopts, usage, on_option, &a, &rc);
        if (first < 0)
                return rc;
        if (argc - first > 1)
                return cli_usage_error(ctx, "accepts at most 1 argument");
        const char *pattern = argc - first == 1 ? argv[first] : NULL;

        berth_client *c = NULL;
        if ((rc = cli_connect(ctx, &c)) != 0)
                return rc;
        berth_image *images = NULL;
        size_t n = 0;
        _cleanup_berr_ berr *e = NULL;
        if (berth_images_list(c, NULL, &images, &n, &e) < 0) {
                berth_client_free(c);
                return cli_error(e);
        }
        static const char *const headers[] = { "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE" };
        table *t = table_new(ELEMENTSOF(headers), headers);
        for (size_t i = 0; i < n; i++) {
                const berth_image *img = &images[i];
                if (pattern && !matches(img->name, pattern))
                        continue;
                _cleanup_free_ char *id = format_short_id(img->digest);
                if (a.quiet) {
                        printf("%s\n", id);
                        continue;
                }
                if (a.json) {
                        print_json(img);
                        continue;
                }
                _cleanup_free_ char *repo = NULL, *tag = NULL, *since = format_since(img->created_at);
                char size[16];
                format_split_name(img->name, &repo, &tag);
                const char *row[] = { repo, tag, id, since, img->size >= 0 ? format_size(img->size, size) : "-" };
                table_add(t, row);
        }
        if (!a.quiet && !a.json)
                table_print(t, stdout);
        table_free(t);
        berth_images_free(images, n);
        berth_client_free(c);
        return CLI_EXIT_OK;
}
