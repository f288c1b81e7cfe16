/* libFuzzer target for containerd's filter grammar (src/metadata/filters.c). Input: filter strings
 * separated by '\n' (OR'ed, as a List request carries them). Every input must either parse, and then
 * evaluate against a sample object without crashing, or fail with INVALID_ARGUMENT and a "filters: " message.
 * Build: make fuzz. Regression: build-fuzz/fuzz-filters -runs=20000 -seed=1 <empty dir> fuzz/corpus/filters */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metadata/filters.h"
#include "metadata/labels.h"

static meta_labels sample_labels;

static const char *lookup(const char *const *path, size_t n, void *obj) {
        (void) obj;
        if (n == 0)
                abort();
        for (size_t i = 0; i < n; i++)
                if (!path[i])
                        abort();
        if (strcmp(path[0], "name") == 0)
                return "docker.io/library/busybox:latest";
        if (strcmp(path[0], "labels") == 0)
                return meta_labels_lookup(&sample_labels, path + 1, n - 1);
        return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!sample_labels.n) {
                meta_labels_set(&sample_labels, "containerd.io/gc.root", "1");
                meta_labels_set(&sample_labels, "a.b", "c,d");
        }
        if (size > 4096)
                return 0;
        char *buf = malloc(size + 1);
        memcpy(buf, data, size);
        buf[size] = '\0';
        /* NUL bytes cannot reach the parser through C strings: treat them as separators too. */
        const char *strs[64];
        size_t n = 0;
        char *p = buf, *end = buf + size;
        while (p <= end && n < 64) {
                char *nl = p;
                while (nl < end && *nl != '\n' && *nl != '\0')
                        nl++;
                *nl = '\0';
                strs[n++] = p;
                p = nl + 1;
        }
        meta_filter *f = NULL;
        berr *e = NULL;
        if (meta_filter_parse(strs, n, &f, &e) < 0) {
                if (!e || e->code != BERR_INVALID_ARGUMENT || strncmp(e->msg, "filters: ", 9) != 0 || f)
                        abort();
                berr_free(e);
        } else {
                if (!f || e)
                        abort();
                (void) meta_filter_match(f, lookup, NULL);
                meta_filter_free(f);
        }
        free(buf);
        return 0;
}
