/* containerd.types.Mount messages to and from berth_mount: what the snapshots service answers with and what the
 * diff service's Apply receives. */
#pragma once

#include <stddef.h>

#include "basic/mount.h"
#include "containerd/types/mount.pb-c.h"

/* Reply messages for mounts: n pointers to messages borrowing their strings from mounts (which must outlive
 * them). Free with service_mounts_pb_free. NULL when n is 0. */
Containerd__Types__Mount **service_mounts_to_pb(const berth_mount *mounts, size_t n);
void service_mounts_pb_free(Containerd__Types__Mount **v, size_t n);

/* Deep copies of request mounts (free with berth_mounts_free); *ret is NULL when n is 0. */
void service_mounts_from_pb(Containerd__Types__Mount *const *v, size_t n, berth_mount **ret);
