/* berth's version, and the containerd-compatible version string berthd reports on containerd's Version service:
 * containerd's clients and tools compare it as semver, so it carries the containerd API level berth implements
 * (1.6.20) with berth's own version as build metadata. */
#pragma once

#define BERTH_VERSION "0.1.0"
#define BERTH_CONTAINERD_API_VERSION "1.6.20"
#define BERTH_CONTAINERD_VERSION BERTH_CONTAINERD_API_VERSION "+berth." BERTH_VERSION

/* The build may pass -DBERTH_REVISION='"<git hash>"'. */
#ifndef BERTH_REVISION
#define BERTH_REVISION "berth-" BERTH_VERSION
#endif
