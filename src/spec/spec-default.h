/* The default Unix spec, before any option (private to src/spec; the tests use it too). */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "spec/spec-internal.h"

#define SPEC_DEFAULT_NOFILE 1024

/* {ociVersion, process, root, mounts, linux} as containerd's populateDefaultUnixSpec + WithDefaultUnixDevices
 * (+ the /sys/fs/cgroup mount). process.args and process.env are empty arrays to be filled. */
json_t *spec_default_unix(const char *cgroups_path);
json_t *spec_default_mounts(void);
/* RLIMIT_NOFILE for the container: 1024/1024 clamped to the caller's hard limit. */
void spec_nofile_limits(uint64_t *ret_soft, uint64_t *ret_hard);

json_t *spec_string_array(const char *const *v, size_t n);
json_t *spec_mount_new(const char *destination, const char *type, const char *source, json_t *options);
