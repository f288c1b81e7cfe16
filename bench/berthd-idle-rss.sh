#!/usr/bin/env bash
# Idle resident memory of berthd vs containerd 1.6, side by side in one run: both started on empty temp roots,
# measured after IDLE seconds (default 5) doing nothing, then again after `ctr images import` of the busybox image
# and `ctr images ls` against each (same client, same work), and IDLE more seconds. RSS and PSS come from
# /proc/PID/smaps_rollup (PSS divides each shared page by the number of processes mapping it). Prints a table and
# the berthd/containerd ratios. Never fails on the numbers; cleans up everything it starts.
#   BERTH_BUILD   build directory holding berthd (default build/)
#   IDLE          seconds to idle before each measurement (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${IDLE:-5}

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
BERTHD=$BERTH_BUILD/berthd
[ -x "$BERTHD" ] || { echo "build berthd first (make $BERTHD)" >&2; exit 1; }
image=$(scripts/build-image.sh)

dir=$(mktemp -d /tmp/berth-bench-idle.XXXXXX)
berthd_pid=
cleanup() {
        if [ -n "$berthd_pid" ] && kill -0 "$berthd_pid" 2>/dev/null; then
                kill -TERM "$berthd_pid" 2>/dev/null || true
                for _ in $(seq 1 100); do kill -0 "$berthd_pid" 2>/dev/null || break; sleep 0.05; done
                kill -KILL "$berthd_pid" 2>/dev/null || true
                wait "$berthd_pid" 2>/dev/null || true
        fi
        ctrd_cleanup "$dir/containerd"
        _ctrd_unmount_under "$dir"
        rm -rf "$dir"
}
trap cleanup EXIT

bsock=$dir/berthd/state/berthd.sock
mkdir -p "$dir/berthd"
"$BERTHD" --root "$dir/berthd/root" --state "$dir/berthd/state" --address "$bsock" \
        </dev/null >"$dir/berthd/berthd.log" 2>&1 &
berthd_pid=$!
for _ in $(seq 1 200); do
        ctr -a "$bsock" --connect-timeout 1s version >/dev/null 2>&1 && break
        kill -0 "$berthd_pid" 2>/dev/null || { cat "$dir/berthd/berthd.log" >&2; exit 1; }
        sleep 0.05
done
ctrd_start "$dir/containerd" >/dev/null
ctrd_pid=$(ctrd_pid "$dir/containerd")
ns=$(ctrd_ns "$dir/containerd")

field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup"; }
threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"; }

declare -A rss pss thr
measure() { # phase
        local who pid
        sleep "$IDLE"
        for who in berthd containerd; do
                pid=$berthd_pid
                [ "$who" = containerd ] && pid=$ctrd_pid
                rss[$who,$1]=$(field "$pid" Rss)
                pss[$who,$1]=$(field "$pid" Pss)
                thr[$who,$1]=$(threads "$pid")
        done
}

measure empty
ctr -a "$bsock" -n "$ns" images import "$image" >/dev/null
ctrd_ctr "$dir/containerd" images import "$image" >/dev/null
ctr -a "$bsock" -n "$ns" images ls -q >/dev/null
ctrd_ctr "$dir/containerd" images ls -q >/dev/null
measure image

printf '%-28s %10s %10s %8s\n' "daemon (after ${IDLE}s idle)" "RSS kB" "PSS kB" threads
for phase in empty image; do
        label=$([ "$phase" = empty ] && echo "empty root" || echo "after import + ls")
        for who in berthd containerd; do
                printf '%-28s %10d %10d %8d\n' "$who, $label" "${rss[$who,$phase]}" "${pss[$who,$phase]}" \
                        "${thr[$who,$phase]}"
        done
        awk -v a="${rss[berthd,$phase]}" -v b="${rss[containerd,$phase]}" -v c="${pss[berthd,$phase]}" \
                -v d="${pss[containerd,$phase]}" -v l="$label" \
                'BEGIN { printf "ratio berthd/containerd, %s: RSS %.3f, PSS %.3f (goal: berthd RSS <= 4096 kB: %s)\n",
                         l, a / b, c / d, (a <= 4096) ? "met" : "not met" }'
done
