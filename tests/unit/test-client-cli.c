/* The berth CLI's output helpers (src/cli/format.c, progress.c). The CLI is a program, not a library, so its
 * helper files are compiled into this test directly. */
#include <string.h>

#include "cli/format.c"
#include "cli/progress.c"
#include "tap.h"

TEST(sizes) {
        char b[16];
        ASSERT_STREQ(format_size(0, b), "0 B");
        ASSERT_STREQ(format_size(-5, b), "0 B");
        ASSERT_STREQ(format_size(1023, b), "1023 B");
        ASSERT_STREQ(format_size(1024, b), "1.0 KiB");
        ASSERT_STREQ(format_size(1088620, b), "1.0 MiB");
        ASSERT_STREQ(format_size(12897484, b), "12.3 MiB");
        ASSERT_STREQ(format_size(5LL << 40, b), "5.0 TiB");
}

TEST(durations_like_docker) {
        static const struct {
                int64_t s;
                const char *want;
        } cases[] = {
                { 0, "Less than a second" }, { 1, "1 second" },        { 59, "59 seconds" },
                { 60, "About a minute" },    { 150, "2 minutes" },     { 3599, "59 minutes" },
                { 3600, "About an hour" },   { 5400, "2 hours" },      { 47 * 3600, "47 hours" },
                { 3 * 86400, "3 days" },     { 20 * 86400, "2 weeks" }, { 90 * 86400, "3 months" },
                { 800 * 86400, "2 years" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *d = format_duration(cases[i].s * 1000000000LL);
                ASSERT_STREQ(d, cases[i].want);
        }
}

TEST(ids_and_names) {
        _cleanup_free_ char *id = format_short_id("sha256:e1f488a3ead896dbf88514f7eb2bf1c0");
        ASSERT_STREQ(id, "e1f488a3ead8");
        _cleanup_free_ char *d = format_short_digest("sha256:e1f488a3ead896dbf88514f7eb2bf1c0");
        ASSERT_STREQ(d, "sha256:e1f488a3ead8");

        static const char *const cases[][3] = {
                { "docker.io/library/busybox:latest", "busybox", "latest" },
                { "docker.io/berth/busybox:1.36", "berth/busybox", "1.36" },
                { "docker.io/library/a/b:x", "library/a/b", "x" },
                { "127.0.0.1:5000/x/y:v1", "127.0.0.1:5000/x/y", "v1" },
                { "127.0.0.1:5000/x", "127.0.0.1:5000/x", "<none>" },
                { "ghcr.io/a/b@sha256:abcd", "ghcr.io/a/b", "<none>" },
                { "ghcr.io/a/b:t@sha256:abcd", "ghcr.io/a/b", "t" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *repo = NULL, *tag = NULL;
                format_split_name(cases[i][0], &repo, &tag);
                ASSERT_STREQ(repo, cases[i][1]);
                ASSERT_STREQ(tag, cases[i][2]);
        }
}

TEST(table_pads_columns) {
        static const char *const h[] = { "A", "LONGER", "Z" };
        static const char *const r1[] = { "wide cell", "x", "end" };
        table *t = table_new(3, h);
        table_add(t, r1);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        table_print(t, f);
        fclose(f);
        table_free(t);
        ASSERT_STREQ(buf, "A           LONGER   Z\n"
                          "wide cell   x        end\n");
        free(buf);
}

/* ---- progress ---- */

static berth_layer_progress layer(const char *digest, const char *media_type, const char *status, int64_t off,
                                  int64_t total, int64_t rate) {
        return (berth_layer_progress) { .digest = digest, .media_type = media_type, .status = status,
                                        .offset = off, .total = total, .rate = rate };
}

#define L1 "sha256:1111111111111111111111111111"
#define L2 "sha256:2222222222222222222222222222"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"

static char *render(bool tty) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        progress_view *v = progress_new(f, tty, "docker.io/library/busybox:latest");
        berth_pull_progress p = { .phase = "resolving" };
        progress_update(&p, v);

        berth_layer_progress ls[2] = { layer(L1, MT_MANIFEST, "done", 500, 500, 0),
                                       layer(L2, MT_LAYER, "downloading", 12897484, 26214400, 47815065) };
        p = (berth_pull_progress) { .phase = "fetching", .layers = ls, .n_layers = 2 };
        progress_update(&p, v);
        /* the same state again soon after: no new plain line, no redraw within 100 ms */
        progress_update(&p, v);
        ls[1] = layer(L2, MT_LAYER, "done", 26214400, 26214400, 0);
        p = (berth_pull_progress) { .phase = "done", .layers = ls, .n_layers = 2, .done = true,
                                    .name = "docker.io/library/busybox:latest", .digest = "sha256:abc" };
        progress_update(&p, v);
        progress_finish(v);
        progress_free(v);
        fclose(f);
        return buf;
}

static size_t count(const char *hay, const char *needle) {
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

TEST(progress_plain_lines) {
        _cleanup_free_ char *out = render(false);
        ASSERT_NULL(strchr(out, '\033'));
        ASSERT_STREQ(out, "docker.io/library/busybox:latest: resolving\n"
                          "docker.io/library/busybox:latest: fetching\n"
                          "sha256:111111111111 done 500 B\n"
                          "sha256:222222222222 downloading 12.3 MiB / 25.0 MiB 45.6 MiB/s\n"
                          "sha256:222222222222 done 25.0 MiB\n");
}

TEST(progress_terminal_redraws_in_place) {
        _cleanup_free_ char *out = render(true);
        /* draws: resolving (1 line), fetching (3 lines), done (3 lines): cursor up over the previous drawing */
        ASSERT_EQ(count(out, "\033[1A"), 1);
        ASSERT_EQ(count(out, "\033[3A"), 1);
        ASSERT_EQ(count(out, "\033[2K"), 7);
        ASSERT_NOT_NULL(strstr(out, "\033[2Ksha256:222222222222 layer    downloading [===========>            ] "
                                    "12.3 MiB / 25.0 MiB 45.6 MiB/s\n"));
        ASSERT_NOT_NULL(strstr(out, "\033[2Ksha256:111111111111 manifest done        500 B\n"));
        /* the final drawing shows every blob done */
        const char *last = strstr(out, "\033[3A");
        ASSERT_NOT_NULL(last);
        ASSERT_NOT_NULL(strstr(last, "sha256:222222222222 layer    done        25.0 MiB\n"));
        ASSERT_NOT_NULL(strstr(last, "docker.io/library/busybox:latest: done "));
        ASSERT_NULL(strstr(last, "downloading"));
}

TEST(progress_rate_without_the_daemons) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        progress_view *v = progress_new(f, false, "x");
        berth_layer_progress l = layer(L1, MT_LAYER, "downloading", 0, 4 << 20, 0);
        berth_pull_progress p = { .phase = "fetching", .layers = &l, .n_layers = 1 };
        progress_update(&p, v);
        usleep(1100 * 1000); /* past the plain mode's interval, and enough time for a rate */
        l.offset = 2 << 20;
        progress_update(&p, v);
        progress_free(v);
        fclose(f);
        /* first line: no rate known yet; second: about 2 MiB / 1.1 s */
        const char *second = strstr(buf, "sha256:111111111111 downloading 2.0 MiB / 4.0 MiB ");
        ASSERT_NOT_NULL(strstr(buf, "sha256:111111111111 downloading 0 B / 4.0 MiB\n"));
        ASSERT_NOT_NULL(second);
        ASSERT_NOT_NULL(strstr(second, " MiB/s\n"));
        double rate = atof(second + strlen("sha256:111111111111 downloading 2.0 MiB / 4.0 MiB "));
        ASSERT_TRUE(rate > 1.0 && rate < 2.0);
        free(buf);
}
