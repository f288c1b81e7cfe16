/* libFuzzer target for image references (src/images/reference.c) and platform specifiers (platform.c).
 * Every input must parse or fail with INVALID_ARGUMENT; what parses must survive a round trip: formatting a
 * parsed reference and parsing it again gives the same parts, and normalizing is idempotent.
 * Build: make fuzz. Regression: build-fuzz/fuzz-reference -runs=20000 -seed=1 <empty dir> fuzz/corpus/reference */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "images/platform.h"
#include "images/reference.h"

static int streq0(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_error(berr *e) {
        if (!e || e->code != BERR_INVALID_ARGUMENT || !e->msg || !*e->msg)
                abort();
        berr_free(e);
}

static void round_trip(const image_ref *r) {
        char *s = image_ref_to_string(r);
        image_ref *again = NULL;
        berr *e = NULL;
        if (image_ref_parse(s, &again, &e) < 0)
                abort();
        if (!streq0(again->domain, r->domain) || !streq0(again->path, r->path) || !streq0(again->tag, r->tag) ||
            !streq0(again->digest, r->digest))
                abort();
        image_ref_free(again);
        free(s);
        free(image_ref_familiar(r));
        free(image_ref_name(r));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 1024)
                return 0;
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';

        image_ref *r = NULL;
        berr *e = NULL;
        if (image_ref_parse(s, &r, &e) == 0) {
                round_trip(r);
                image_ref_free(r);
        } else {
                check_error(e);
        }

        e = NULL;
        if (image_ref_parse_normalized(s, &r, &e) == 0) {
                if (!r->domain || !*r->domain || (!r->tag && !r->digest))
                        abort();
                round_trip(r);
                char *full = image_ref_to_string(r);
                image_ref *n2 = NULL;
                if (image_ref_parse_normalized(full, &n2, &e) < 0)
                        abort();
                char *full2 = image_ref_to_string(n2);
                if (strcmp(full, full2) != 0)
                        abort();
                free(full);
                free(full2);
                image_ref_free(n2);
                image_ref_free(r);
        } else {
                check_error(e);
        }

        e = NULL;
        (void) image_digest_validate(s, &e);
        berr_free(e);

        oci_platform p;
        e = NULL;
        if (platform_parse(s, &p, &e) == 0) {
                char *f = platform_format(&p);
                platform_matcher *m = platform_matcher_only(&p);
                if (platform_matcher_rank(m, &p) != 0)
                        abort();
                platform_matcher_free(m);
                free(f);
                platform_done(&p);
        } else {
                check_error(e);
        }
        free(s);
        return 0;
}
