/* Platforms (os/architecture/variant) and containerd's matching rules: normalization (x86_64 → amd64,
 * aarch64 → arm64, armhf → arm/v7 ...), "os/arch[/variant]" specifiers, and the ordered fallback vector of
 * platforms.Only (amd64 also runs 386; arm/v7 also v6 and v5; arm64 also arm/v8 ... arm/v5). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

typedef struct oci_platform {
        char *os;
        char *architecture;
        char *variant;    /* NULL when none */
        char *os_version; /* NULL when none */
        char **os_features; /* strv, NULL when none */
} oci_platform;

void platform_done(oci_platform *p);
void platform_copy(oci_platform *dst, const oci_platform *src);
/* Canonical names in place: lowercase, macos → darwin, x86_64 → amd64, aarch64 → arm64 (variant v8 dropped),
 * arm → arm/v7 when no variant, armhf → arm/v7, armel → arm/v6, i386 → 386. */
void platform_normalize(oci_platform *p);
/* Parses "<os>|<arch>|<os>/<arch>[/<variant>]" (containerd's platforms.Parse). BERR_INVALID_ARGUMENT. */
int platform_parse(const char *specifier, oci_platform *ret, berr **err);
/* "os/arch[/variant]". */
char *platform_format(const oci_platform *p);
/* The host: linux plus the architecture uname reports (variant from the machine name on 32-bit arm). */
void platform_default(oci_platform *ret);
/* Equality after normalization (os, architecture, variant). */
bool platform_equal(const oci_platform *a, const oci_platform *b);

/* An ordered list of acceptable platforms; earlier ones are preferred. */
typedef struct platform_matcher {
        oci_platform *vector;
        size_t n;
} platform_matcher;

/* platforms.Only(p): p and what it can also run, best first. */
platform_matcher *platform_matcher_only(const oci_platform *p);
/* platforms.Default(): platform_matcher_only(host). */
platform_matcher *platform_matcher_default(void);
/* Only exactly p (normalized), like platforms.OnlyStrict. */
platform_matcher *platform_matcher_strict(const oci_platform *p);
platform_matcher *platform_matcher_free(platform_matcher *m);
static inline void platform_matcher_freep(platform_matcher **m) {
        *m = platform_matcher_free(*m);
}
#define _cleanup_platform_matcher_ _cleanup_(platform_matcher_freep)

/* Position of p in the matcher's preference order, or -1 if it does not match. */
int platform_matcher_rank(const platform_matcher *m, const oci_platform *p);
bool platform_matcher_match(const platform_matcher *m, const oci_platform *p);
