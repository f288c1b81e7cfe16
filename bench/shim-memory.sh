#!/usr/bin/env bash
# Memory of berth's shim vs containerd's runc shim, side by side in one private containerd.
# For 1, 10 and 50 running containers per shim kind (COUNTS="1 10 50"), both using runc as the OCI
# runtime: the average RSS and PSS per shim process (from /proc/PID/smaps_rollup) and the ratios.
# Never fails on the numbers; fails only if containers cannot be started.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${COUNTS:-"1 10 50"}
OURS=${OURS:-io.containerd.berth.v2}
THEIRS=io.containerd.runc.v2
IMG=docker.io/berth/busybox:latest

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
[ -x "$BERTH_BUILD/containerd-shim-berth-v2" ] || { echo "build the shim first (make)" >&2; exit 1; }
image=$(scripts/build-image.sh)
dir=$(mktemp -d /tmp/berth-bench-mem.XXXXXX)
trap 'ctrd_cleanup "$dir"' EXIT
ctrd_start "$dir" BERTH_OCI_RUNTIME=runc >/dev/null
ctrd_ctr "$dir" images import "$image" >/dev/null

# Sum of field $2 (kB) of smaps_rollup over pids on stdin, and the count.
rollup() {
        local field=$1 pid total=0 n=0 v
        while read -r pid; do
                v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
                [ -n "$v" ] || continue
                total=$((total + v))
                n=$((n + 1))
        done
        echo "$total $n"
}

# Shim pids of the given runtime: parents of the init pids of our containers.
shim_pids_of() {
        local prefix=$1
        ctrd_ctr "$dir" task ls | awk -v p="$prefix-" 'index($1, p) == 1 { print $2 }' |
                while read -r pid; do awk '{ print $4 }' "/proc/$pid/stat"; done | sort -u
}

measure() { # runtime, label, count -> "label count rss_avg pss_avg"
        local runtime=$1 label=$2 count=$3 i id
        for ((i = 0; i < count; i++)); do
                id=$(ctrd_new_id "$dir" "$label")
                ctrd_ctr "$dir" run -d --runtime "$runtime" "$IMG" "$id" sleep 100000 >/dev/null
        done
        local pids rss pss
        # Find the shims first (`ctr task ls` asks each shim for its state), then let every shim idle a moment, so
        # both kinds are measured idle, as they spend a container's life.
        pids=$(shim_pids_of "$label")
        sleep 1
        read -r rss n <<<"$(rollup Rss <<<"$pids")"
        read -r pss _ <<<"$(rollup Pss <<<"$pids")"
        [ "$n" -eq "$count" ] || echo "warning: found $n $label shims for $count containers" >&2
        for id in $(ctrd_ctr "$dir" task ls -q); do
                ctrd_ctr "$dir" task rm -f "$id" >/dev/null 2>&1 || true
                ctrd_ctr "$dir" containers rm "$id" >/dev/null 2>&1 || true
        done
        echo "$label $count $((rss / n)) $((pss / n))"
}

printf '%-10s %5s %14s %14s\n' shim containers "RSS/shim kB" "PSS/shim kB"
for count in $COUNTS; do
        read -r _ _ ours_rss ours_pss <<<"$(measure "$OURS" berth "$count")"
        read -r _ _ theirs_rss theirs_pss <<<"$(measure "$THEIRS" runc "$count")"
        printf '%-10s %5d %14d %14d\n' berth "$count" "$ours_rss" "$ours_pss"
        printf '%-10s %5d %14d %14d\n' runc-v2 "$count" "$theirs_rss" "$theirs_pss"
        awk -v a="$ours_rss" -v b="$theirs_rss" -v c="$ours_pss" -v d="$theirs_pss" -v n="$count" \
                'BEGIN { printf "ratio berth/runc-v2 at %d: RSS %.3f, PSS %.3f\n", n, a / b, c / d }'
done
