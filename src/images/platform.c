#include "images/platform.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "basic/macro.h"
#include "basic/strv.h"

static bool streq(const char *a, const char *b) {
        return strcmp(a ? a : "", b ? b : "") == 0;
}

static void set_str(char **field, const char *value) {
        free(*field);
        *field = value && *value ? xstrdup(value) : NULL;
}

static void lowercase(char *s) {
        for (; s && *s; s++)
                *s = tolower((unsigned char) *s);
}

void platform_done(oci_platform *p) {
        if (!p)
                return;
        free(p->os);
        free(p->architecture);
        free(p->variant);
        free(p->os_version);
        strv_free(p->os_features);
        *p = (oci_platform) { 0 };
}

void platform_copy(oci_platform *dst, const oci_platform *src) {
        *dst = (oci_platform) {
                .os = src->os ? xstrdup(src->os) : NULL,
                .architecture = src->architecture ? xstrdup(src->architecture) : NULL,
                .variant = src->variant ? xstrdup(src->variant) : NULL,
                .os_version = src->os_version ? xstrdup(src->os_version) : NULL,
                .os_features = src->os_features ? strv_copy_n(src->os_features, strv_length(src->os_features)) : NULL,
        };
}

static void normalize_os(char **os) {
        if (!*os || !**os) {
                set_str(os, "linux");
                return;
        }
        lowercase(*os);
        if (streq(*os, "macos"))
                set_str(os, "darwin");
}

/* containerd's normalizeArch: canonical architecture names and the variants that are implied by them. */
static void normalize_arch(char **arch, char **variant) {
        lowercase(*arch);
        lowercase(*variant);
        const char *a = *arch ? *arch : "", *v = *variant ? *variant : "";
        if (streq(a, "i386")) {
                set_str(arch, "386");
                set_str(variant, NULL);
        } else if (streq(a, "x86_64") || streq(a, "x86-64") || streq(a, "amd64")) {
                set_str(arch, "amd64");
                if (streq(v, "v1"))
                        set_str(variant, NULL);
        } else if (streq(a, "aarch64") || streq(a, "arm64")) {
                set_str(arch, "arm64");
                if (streq(v, "8") || streq(v, "v8"))
                        set_str(variant, NULL);
        } else if (streq(a, "armhf")) {
                set_str(arch, "arm");
                set_str(variant, "v7");
        } else if (streq(a, "armel")) {
                set_str(arch, "arm");
                set_str(variant, "v6");
        } else if (streq(a, "arm")) {
                if (streq(v, "") || streq(v, "7"))
                        set_str(variant, "v7");
                else if (streq(v, "5") || streq(v, "6") || streq(v, "8")) {
                        _cleanup_free_ char *nv = xasprintf("v%s", v);
                        set_str(variant, nv);
                }
        }
}

void platform_normalize(oci_platform *p) {
        normalize_os(&p->os);
        normalize_arch(&p->architecture, &p->variant);
}

static bool is_known_os(const char *os) {
        static const char *const known[] = { "aix",   "android", "darwin",  "dragonfly", "freebsd", "hurd",
                                             "illumos", "ios",   "js",      "linux",     "nacl",    "netbsd",
                                             "openbsd", "plan9", "solaris", "windows",   "zos" };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(os, known[i]))
                        return true;
        return false;
}

static bool is_known_arch(const char *arch) {
        static const char *const known[] = { "386",      "amd64",      "amd64p32", "arm",      "armbe",    "arm64",
                                             "arm64be",  "ppc64",      "ppc64le",  "loong64",  "mips",     "mipsle",
                                             "mips64",   "mips64le",   "mips64p32", "mips64p32le", "ppc",   "riscv",
                                             "riscv64",  "s390",       "s390x",    "sparc",    "sparc64",  "wasm" };
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(arch, known[i]))
                        return true;
        return false;
}

static bool specifier_component_valid(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-')
                        return false;
        return true;
}

int platform_parse(const char *specifier, oci_platform *ret, berr **err) {
        if (!specifier)
                specifier = "";
        if (strchr(specifier, '*'))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "\"%s\": wildcards not yet supported: invalid argument",
                                specifier);
        _cleanup_strv_free_ char **parts = strv_split(specifier, '/');
        size_t n = strv_length(parts);
        for (size_t i = 0; i < n; i++)
                if (!specifier_component_valid(parts[i]))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "\"%s\" is an invalid component of \"%s\": platform specifier component must "
                                        "match \"^[A-Za-z0-9_-]+$\": invalid argument",
                                        parts[i], specifier);

        oci_platform host = { 0 };
        platform_default(&host);
        oci_platform p = { 0 };
        switch (n) {
        case 1:
                p.os = xstrdup(parts[0]);
                normalize_os(&p.os);
                if (is_known_os(p.os)) {
                        p.architecture = xstrdup(host.architecture);
                        if (streq(p.architecture, "arm") && host.variant && !streq(host.variant, "v7"))
                                p.variant = xstrdup(host.variant);
                        break;
                }
                free(p.os);
                p.os = NULL;
                p.architecture = xstrdup(parts[0]);
                normalize_arch(&p.architecture, &p.variant);
                if (streq(p.architecture, "arm") && streq(p.variant, "v7"))
                        set_str(&p.variant, NULL);
                if (!is_known_arch(p.architecture)) {
                        platform_done(&p);
                        platform_done(&host);
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "\"%s\": unknown operating system or architecture: invalid argument",
                                        specifier);
                }
                p.os = xstrdup(host.os);
                break;
        case 2:
        case 3:
                p.os = xstrdup(parts[0]);
                normalize_os(&p.os);
                p.architecture = xstrdup(parts[1]);
                if (n == 3)
                        p.variant = xstrdup(parts[2]);
                normalize_arch(&p.architecture, &p.variant);
                if (n == 2 && streq(p.architecture, "arm") && streq(p.variant, "v7"))
                        set_str(&p.variant, NULL);
                if (n == 3 && streq(p.architecture, "arm64") && !p.variant)
                        p.variant = xstrdup("v8");
                break;
        default:
                platform_done(&host);
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "\"%s\": cannot parse platform specifier: invalid argument", specifier);
        }
        platform_done(&host);
        *ret = p;
        return 0;
}

char *platform_format(const oci_platform *p) {
        if (!p->os || !*p->os)
                return xstrdup("unknown");
        return xasprintf("%s%s%s%s%s", p->os, p->architecture ? "/" : "", p->architecture ? p->architecture : "",
                         p->variant ? "/" : "", p->variant ? p->variant : "");
}

void platform_default(oci_platform *ret) {
        struct utsname u;
        const char *machine = uname(&u) == 0 ? u.machine : "x86_64";
        oci_platform p = { .os = xstrdup("linux") };
        if (strncmp(machine, "armv", 4) == 0 && isdigit((unsigned char) machine[4])) {
                /* 32-bit arm: "armv7l" → arm/v7. */
                p.architecture = xstrdup("arm");
                p.variant = xasprintf("v%c", machine[4]);
        } else if (strcmp(machine, "i686") == 0 || strcmp(machine, "i586") == 0 || strcmp(machine, "i486") == 0) {
                p.architecture = xstrdup("386");
        } else if (strcmp(machine, "ppc64le") == 0 || strcmp(machine, "s390x") == 0 ||
                   strcmp(machine, "riscv64") == 0 || strcmp(machine, "loongarch64") == 0) {
                p.architecture = xstrdup(strcmp(machine, "loongarch64") == 0 ? "loong64" : machine);
        } else {
                p.architecture = xstrdup(machine);
        }
        platform_normalize(&p);
        *ret = p;
}

bool platform_equal(const oci_platform *a, const oci_platform *b) {
        oci_platform na, nb;
        platform_copy(&na, a);
        platform_copy(&nb, b);
        platform_normalize(&na);
        platform_normalize(&nb);
        bool eq = streq(na.os, nb.os) && streq(na.architecture, nb.architecture) && streq(na.variant, nb.variant);
        platform_done(&na);
        platform_done(&nb);
        return eq;
}

static void vector_add(platform_matcher *m, const char *os, const char *arch, const char *variant) {
        m->vector = xrealloc(m->vector, (m->n + 1) * sizeof *m->vector);
        oci_platform *p = &m->vector[m->n++];
        *p = (oci_platform) { .os = xstrdup(os ? os : ""), .architecture = xstrdup(arch ? arch : "") };
        if (variant && *variant)
                p->variant = xstrdup(variant);
        platform_normalize(p);
}

static int variant_number(const char *variant) {
        if (!variant || !*variant)
                return -1;
        if (*variant == 'v')
                variant++;
        char *end;
        long n = strtol(variant, &end, 10);
        return (*end || end == variant || n < 0 || n > 1000) ? -1 : (int) n;
}

/* containerd's platformVector: p first, then what p can also run, best first. */
static void platform_vector(platform_matcher *m, const oci_platform *p) {
        vector_add(m, p->os, p->architecture, p->variant);
        if (streq(p->architecture, "amd64")) {
                int v = variant_number(p->variant);
                for (int i = v - 1; v > 1 && i >= 1; i--) {
                        char buf[16];
                        snprintf(buf, sizeof buf, "v%d", i);
                        vector_add(m, p->os, "amd64", buf);
                }
                vector_add(m, p->os, "386", NULL);
        } else if (streq(p->architecture, "arm")) {
                int v = variant_number(p->variant);
                for (int i = v - 1; v > 5 && i >= 5; i--) {
                        char buf[16];
                        snprintf(buf, sizeof buf, "v%d", i);
                        vector_add(m, p->os, "arm", buf);
                }
        } else if (streq(p->architecture, "arm64")) {
                oci_platform arm = { .os = p->os, .architecture = (char *) "arm",
                                     .variant = (char *) (p->variant ? p->variant : "v8") };
                platform_vector(m, &arm);
        }
}

platform_matcher *platform_matcher_only(const oci_platform *p) {
        oci_platform n;
        platform_copy(&n, p);
        platform_normalize(&n);
        platform_matcher *m = xcalloc(1, sizeof *m);
        platform_vector(m, &n);
        platform_done(&n);
        return m;
}

platform_matcher *platform_matcher_default(void) {
        oci_platform host;
        platform_default(&host);
        platform_matcher *m = platform_matcher_only(&host);
        platform_done(&host);
        return m;
}

platform_matcher *platform_matcher_strict(const oci_platform *p) {
        platform_matcher *m = xcalloc(1, sizeof *m);
        vector_add(m, p->os, p->architecture, p->variant);
        return m;
}

platform_matcher *platform_matcher_free(platform_matcher *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                platform_done(&m->vector[i]);
        free(m->vector);
        free(m);
        return NULL;
}

int platform_matcher_rank(const platform_matcher *m, const oci_platform *p) {
        for (size_t i = 0; i < m->n; i++)
                if (platform_equal(&m->vector[i], p))
                        return (int) i;
        return -1;
}

bool platform_matcher_match(const platform_matcher *m, const oci_platform *p) {
        return platform_matcher_rank(m, p) >= 0;
}
