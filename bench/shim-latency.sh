#!/usr/bin/env bash
# Start-to-exit latency of `ctr run --rm IMG ID /bin/true`: berth's shim vs containerd's runc
# shim, the same OCI runtime binary on both sides (runc; crun too when it works here, or when
# BENCH_CRUN_SETUP=1 lets this script mount the v1 hugetlb hierarchy crun needs, undone at exit).
# Iterations alternate between the two shims. Prints mean and median in ms and the ratios.
# Never fails on the numbers.
#   N=20 (iterations per shim and runtime)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
OURS=${OURS:-io.containerd.berth.v2}
THEIRS=io.containerd.runc.v2
IMG=docker.io/berth/busybox:latest

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
# shellcheck source=../scripts/crun-usable.sh
source scripts/crun-usable.sh
[ -x "$BERTH_BUILD/containerd-shim-berth-v2" ] || { echo "build the shim first (make)" >&2; exit 1; }
image=$(scripts/build-image.sh)
work=$(mktemp -d /tmp/berth-bench-lat.XXXXXX)
export BERTH_HUGETLB_OWNER=$$
cleanup() {
        local d
        for d in "$work"/ctrd-*; do [ -d "$d" ] && ctrd_cleanup "$d"; done
        [ "${BENCH_CRUN_SETUP:-0}" = 1 ] && crun_hugetlb_teardown
        rm -rf "$work"
}
trap cleanup EXIT

runtimes=(runc)
if [ "${BENCH_CRUN_SETUP:-0}" = 1 ]; then
        crun_hugetlb_setup 2>/dev/null && runtimes+=(crun)
elif crun_usable 2>/dev/null; then
        runtimes+=(crun)
else
        echo "# crun not usable here as the host is (BENCH_CRUN_SETUP=1 mounts hugetlb v1); runc only"
fi

now_ns() { date +%s%N; }

# One timed run; prints milliseconds with 3 decimals.
timed_run() { # dir, ctr run flags...
        local dir=$1 t0 t1 id
        shift
        id=$(ctrd_new_id "$dir" lat)
        t0=$(now_ns)
        ctrd_ctr "$dir" run --rm "$@" "$IMG" "$id" /bin/true >/dev/null
        t1=$(now_ns)
        awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f\n", d / 1e6 }'
}

stats() { # file of numbers -> "mean median"
        sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                printf "%.1f %.1f\n", s / NR, m }'
}

printf '%-8s %-8s %4s %10s %10s\n' oci shim runs "mean ms" "median ms"
for oci in "${runtimes[@]}"; do
        dir=$work/ctrd-$oci
        ctrd_start "$dir" BERTH_OCI_RUNTIME="$oci" >/dev/null
        ctrd_ctr "$dir" images import "$image" >/dev/null
        # warm-up: page cache, binary path caches in containerd
        timed_run "$dir" --runtime "$OURS" >/dev/null
        timed_run "$dir" --runtime "$THEIRS" --runc-binary "$oci" >/dev/null
        : >"$work/ours" && : >"$work/theirs"
        for ((i = 0; i < N; i++)); do
                timed_run "$dir" --runtime "$OURS" >>"$work/ours"
                timed_run "$dir" --runtime "$THEIRS" --runc-binary "$oci" >>"$work/theirs"
        done
        read -r om omed <<<"$(stats "$work/ours")"
        read -r tm tmed <<<"$(stats "$work/theirs")"
        printf '%-8s %-8s %4d %10s %10s\n' "$oci" berth "$N" "$om" "$omed"
        printf '%-8s %-8s %4d %10s %10s\n' "$oci" runc-v2 "$N" "$tm" "$tmed"
        awk -v a="$om" -v b="$tm" -v c="$omed" -v d="$tmed" -v o="$oci" \
                'BEGIN { printf "ratio berth/runc-v2 with %s: mean %.3f, median %.3f\n", o, a / b, c / d }'
        ctrd_cleanup "$dir"
done
