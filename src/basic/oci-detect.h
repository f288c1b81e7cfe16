/* Which OCI runtime binary works on this host, shared by the shim (its default when no binary_name is given) and
 * berthd (`--oci-runtime auto`): crun where it can create containers here, else runc. */
#pragma once

#include <stdbool.h>

/* True when name (a bare name looked up in PATH, or a path) is an executable file. */
bool oci_binary_in_path(const char *name);
/* The file execvp would run for name: name itself when it has a slash, else the first executable regular file
 * in PATH; NULL when there is none. Freed by the caller. */
char *oci_binary_resolve(const char *name);

/* "crun" or "runc". *ret_crun (may be NULL) tells which; *ret_reason (may be NULL) says why, for a log line.
 * crun 1.8 refuses a "hybrid" cgroup layout whose cgroup2 hierarchy still holds controllers. */
const char *oci_detect_default(bool *ret_crun, const char **ret_reason);
