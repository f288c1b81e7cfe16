#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine (as root): install what is missing, build berth, start
# berthd on a private root and state, build the busybox image locally, import it, and run a container with
# `berth run`. No network is used. berthd is stopped and its directories removed at the end (containers too).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD=${BUILD:-build}
make -j"$(nproc)" "$BUILD/berthd" "$BUILD/berth" "$BUILD/containerd-shim-berth-v2" "$BUILD/berth-logger"
image=$(scripts/build-image.sh)

dir=$(mktemp -d /tmp/berth-demo.XXXXXX)
sock=$dir/berthd.sock
berthd_pid=
cleanup() {
        if [ -n "$berthd_pid" ]; then
                "$BUILD/berth" -a "$sock" rm -f demo >/dev/null 2>&1 || true
                kill "$berthd_pid" 2>/dev/null || true
                wait "$berthd_pid" 2>/dev/null || true
                # the namespace's parent cgroups, left empty like containerd leaves them (rmdir takes only empty ones)
                rmdir /sys/fs/cgroup/*/default 2>/dev/null || true
        fi
        # Snapshots are overlay mounts only while a container runs; none should be left, but never leave one.
        awk -v d="$dir" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
                while read -r m; do umount -l "$m"; done
        rm -rf "$dir"
}
trap cleanup EXIT

# berthd finds its shim (containerd-shim-berth-v2) and log writer (berth-logger) next to itself.
echo "+ berthd --root $dir/root --state $dir/state --address $sock &"
"$BUILD/berthd" --root "$dir/root" --state "$dir/state" --address "$sock" 2>"$dir/berthd.log" &
berthd_pid=$!
for _ in $(seq 50); do
        [ -S "$sock" ] && break
        sleep 0.1
done
berth() {
        echo "+ berth $*"
        "$BUILD/berth" -a "$sock" "$@"
}
berth image import "$image"
berth run --rm docker.io/berth/busybox:latest \
        sh -c 'echo "hello from a berth container: $(uname -s) $(id -un), pid $$, hostname $(hostname)"'
berth run -d --name demo docker.io/berth/busybox:latest sh -c 'echo started; sleep 1000'
berth ps
berth logs demo
berth stop -t 1 demo
berth ps -a
berth rm demo
