/* Keeps the kernel's cgroup migration lock in its fast state while an OCI runtime moves a container's
 * processes into their cgroups.
 *
 * Every write to a cgroup.procs (or tasks) file takes the kernel's global cgroup_threadgroup_rwsem for
 * writing, and the first writer after a quiet spell waits a whole RCU grace period for it (rcu_sync_enter):
 * 6-8 ms on this 2-CPU VM, paid by runc and crun on every create and every exec, twice per `runc create`
 * (measured: 38.6 ms with the lock cold, 23.7 ms warm). A writer that comes while the grace period of the
 * previous one is still fresh gets the lock in about 0.1 ms. So while holds are taken, a thread of ours moves
 * this process into the cgroup it is already in every 2 ms: a migration that changes nothing and keeps the
 * lock warm for the runtime's real ones. (The kernel's own remedy, cgroup2's favordynmods mount option, is a
 * host-wide setting that is not a container runtime's to change.)
 *
 * Where the process's cgroup cannot be written (no cgroups, no permission), the warmer turns itself off;
 * starts are then as fast as they would be without it. Holds are cheap: the thread starts with the first one and
 * exits 300 ms after the last release, so an idle process has no extra thread. */
#pragma once

#include <stdbool.h>

typedef struct cgroup_warmer cgroup_warmer;

cgroup_warmer *cgroup_warmer_new(void);
/* Stops the thread (waiting at most for one migration) and frees. NULL-safe. */
cgroup_warmer *cgroup_warmer_free(cgroup_warmer *w);

/* While at least one hold is taken, and for at most CGROUP_WARMER_MAX_HOLD_MS after the latest hold, the
 * lock is kept warm. Every hold needs one release. NULL-safe. */
#define CGROUP_WARMER_MAX_HOLD_MS 5000
void cgroup_warmer_hold(cgroup_warmer *w);
void cgroup_warmer_release(cgroup_warmer *w);

/* For tests: migrations done so far, and whether the warmer has turned itself off. */
unsigned long cgroup_warmer_migrations(cgroup_warmer *w);
bool cgroup_warmer_disabled(cgroup_warmer *w);
