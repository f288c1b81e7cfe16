/* Docker's short image names, and this machine's platform. */
#include <string.h>
#include <sys/utsname.h>

#include "client/client-internal.h"

/* The first component is a registry host when it has a '.' or ':' or is "localhost" (docker's rule). */
static bool has_domain(const char *ref) {
        const char *slash = strchr(ref, '/');
        if (!slash)
                return false;
        size_t n = (size_t) (slash - ref);
        return memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && strncmp(ref, "localhost", 9) == 0);
}

char *berth_reference_normalize(const char *ref) {
        _cleanup_free_ char *full = NULL;
        if (has_domain(ref))
                full = xstrdup(ref);
        else if (strchr(ref, '/'))
                full = xasprintf("docker.io/%s", ref);
        else
                full = xasprintf("docker.io/library/%s", ref);

        const char *last = strrchr(full, '/');
        if (strchr(full, '@') || strchr(last ? last : full, ':'))
                return TAKE_PTR(full);
        return xasprintf("%s:latest", full);
}

void client_host_platform(const char **os, const char **arch, const char **variant) {
        struct utsname u;
        *os = "linux";
        *arch = "amd64";
        *variant = "";
        if (uname(&u) < 0)
                return;
        if (strcmp(u.machine, "aarch64") == 0 || strcmp(u.machine, "arm64") == 0) {
                *arch = "arm64";
                *variant = "v8";
        } else if (strncmp(u.machine, "armv7", 5) == 0) {
                *arch = "arm";
                *variant = "v7";
        } else if (strncmp(u.machine, "armv6", 5) == 0) {
                *arch = "arm";
                *variant = "v6";
        } else if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
                *arch = "386";
        else if (strcmp(u.machine, "ppc64le") == 0 || strcmp(u.machine, "s390x") == 0 ||
                 strcmp(u.machine, "riscv64") == 0)
                *arch = u.machine[0] == 'p' ? "ppc64le" : u.machine[0] == 's' ? "s390x" : "riscv64";
}
