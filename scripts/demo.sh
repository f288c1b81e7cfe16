#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root): install what is missing, build
# berth, build the busybox image locally, start a private containerd, and run a container through
# berth's shim (runtime io.containerd.berth.v2). No network is used. Everything started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export BUILD=${BUILD:-build} # make's build directory
export BERTH_BUILD=$PWD/$BUILD
make -j"$(nproc)" "$BUILD/containerd-shim-berth-v2"
image=$(scripts/build-image.sh)

# shellcheck source=containerd-private.sh
source scripts/containerd-private.sh
dir=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'ctrd_cleanup "$dir"' EXIT
ctrd_start "$dir" >/dev/null
ctrd_ctr "$dir" images import "$image" >/dev/null

id=$(ctrd_new_id "$dir" demo)
echo "+ ctr run --rm --runtime io.containerd.berth.v2 docker.io/berth/busybox:latest $id sh -c '...'"
ctrd_ctr "$dir" run --rm --runtime io.containerd.berth.v2 docker.io/berth/busybox:latest "$id" \
        sh -c 'echo "hello from a berth container: $(uname -s) $(id -un), pid $$, hostname $(hostname)"'
