/* Container resource statistics in containerd's shapes: io.containerd.cgroups.v1.Metrics from the v1
 * controllers (legacy and hybrid hosts), io.containerd.cgroups.v2.Metrics from a cgroup2 directory
 * (unified hosts). Missing files leave fields zero; nothing here fails because a controller is
 * absent. The returned messages are heap trees: free them with the generated
 * io__containerd__cgroups__v{1,2}__metrics__free_unpacked(m, NULL). */
#pragma once

#include <sys/types.h>

#include "basic/error.h"
#include "cgroups/cgroup.h"
#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "google/protobuf/any.pb-c.h"

/* Always carries pids, cpu (usage and throttling), memory (usage, swap, kernel, kernel_tcp entries)
 * and memory_oom_control, so readers such as ctr can dereference them; blkio and hugetlb only when
 * those controllers are mounted. */
Io__Containerd__Cgroups__V1__Metrics *cg_stats_v1(const cg_paths *p);
/* Always carries pids, cpu, memory and io; memory_events when memory.events exists. */
Io__Containerd__Cgroups__V2__Metrics *cg_stats_v2(const char *dir);

/* The Stats RPC answer (StatsResponse.stats): Any{type_url "io.containerd.cgroups.v1.Metrics" or
 * "io.containerd.cgroups.v2.Metrics", value = packed message}, v2 only on unified hosts. Free with
 * google__protobuf__any__free_unpacked(a, NULL). */
int cg_stats_any_for_paths(const cg_paths *p, Google__Protobuf__Any **ret, berr **err);
/* Resolves pid's cgroups first; a pid that is gone fails with BERR_NOT_FOUND. */
int cg_stats_any_for_pid(pid_t pid, Google__Protobuf__Any **ret, berr **err);
