#!/usr/bin/env bash
# Cold pull, berth vs containerd 1.6, side by side in one run, from the same local registry (Debian's
# docker-registry on 127.0.0.1, plain HTTP) holding the same two images:
#   big    ~100 MB in 4 layers (scripts/build-big-image.sh: 4 x 25 MiB of random data on busybox): throughput
#   small  ~1 MB busybox (scripts/build-image.sh): latency
# "Cold" means an empty daemon: every pull gets a freshly started daemon on fresh temp dirs (root, state, socket),
# for both sides; only the client command is timed (daemon start-up is not). Unpack into the overlayfs
# snapshotter is part of the pull on both sides (ctr unpacks by default; berth pull unpacks unless --no-unpack),
# and the bench checks afterwards that each daemon holds the image's snapshots. Iterations alternate which side
# goes first, and every pull starts after a sync (no write-back of the previous pull's data meanwhile).
# Clients: build/berth pull --plain-http if it is built, else ctr against berthd (the output says which);
# containerd: ctr --debug images pull --plain-http. Prints every run, then mean and median seconds, MiB/s (image
# bytes: manifest + config + compressed layers) and the ratios. Never fails on timing; stops and removes
# everything it starts (daemons by PID, the registry, mounts, temp dirs).
#   BERTH_BUILD   build directory holding berthd and berth (default build/)
#   BIG_N=3 SMALL_N=10   cold pulls per side
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_N=${BIG_N:-3}
SMALL_N=${SMALL_N:-10}

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
BERTHD=$BERTH_BUILD/berthd
BERTH=$BERTH_BUILD/berth
[ -x "$BERTHD" ] || { echo "build berthd first (make $BERTHD)" >&2; exit 1; }

big_tar=$(scripts/build-big-image.sh)
small_tar=$(scripts/build-image.sh)

dir=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
berthd_pid=
stop_berthd() {
        [ -n "$berthd_pid" ] || return 0
        if kill -0 "$berthd_pid" 2>/dev/null; then
                kill -TERM "$berthd_pid" 2>/dev/null || true
                for _ in $(seq 1 200); do kill -0 "$berthd_pid" 2>/dev/null || break; sleep 0.05; done
                kill -KILL "$berthd_pid" 2>/dev/null || true
        fi
        wait "$berthd_pid" 2>/dev/null || true
        berthd_pid=
}
cleanup() {
        stop_berthd
        ctrd_cleanup "$dir/containerd"
        scripts/registry.sh cleanup "$dir/registry" >/dev/null 2>&1 || true
        _ctrd_unmount_under "$dir"
        rm -rf "$dir"
}
trap cleanup EXIT

registry=$(scripts/registry.sh start "$dir/registry")
scripts/registry.sh push "$dir/registry" "$big_tar" berth/big:latest
scripts/registry.sh push "$dir/registry" "$small_tar" berth/busybox:latest

# Bytes a pull moves: manifest + config + layers, from the archive's index (the registry holds the same bytes:
# registry.sh pushes with --preserve-digests). Also the layer count, to check the unpack.
image_facts() { # archive -> "bytes layers"
        python3 - "$1" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
files = {n.name.lstrip("./"): n for n in t.getmembers()}
read = lambda name: t.extractfile(files[name]).read()
blob = lambda d: read("blobs/sha256/" + d.split(":")[1])
index = json.loads(read("index.json"))
desc = index["manifests"][0]
m = json.loads(blob(desc["digest"]))
print(desc["size"] + m["config"]["size"] + sum(l["size"] for l in m["layers"]), len(m["layers"]))
EOF
}

if [ -x "$BERTH" ]; then
        berth_client="berth pull --plain-http ($BERTH)"
else
        berth_client="ctr images pull --plain-http against berthd (no $BERTH built)"
fi

# Fresh instances. Each prints nothing; the sockets are $dir/berthd/state/berthd.sock and $dir/containerd/...
start_berthd() {
        rm -rf "$dir/berthd"
        mkdir -p "$dir/berthd"
        "$BERTHD" --root "$dir/berthd/root" --state "$dir/berthd/state" --address "$dir/berthd/state/berthd.sock" \
                </dev/null >"$dir/berthd.log" 2>&1 &
        berthd_pid=$!
        for _ in $(seq 1 200); do
                ctr -a "$dir/berthd/state/berthd.sock" --connect-timeout 1s version >/dev/null 2>&1 && return 0
                kill -0 "$berthd_pid" 2>/dev/null || break
                sleep 0.05
        done
        cat "$dir/berthd.log" >&2
        return 1
}

# Runs one cold pull on SIDE of REF; prints the seconds it took. Checks the image was unpacked (LAYERS snapshots).
pull_once() { # side ref layers
        local side=$1 ref=$2 layers=$3 t0 t1 snaps
        if [ "$side" = berth ]; then
                start_berthd
                local sock=$dir/berthd/state/berthd.sock
                t0=$(date +%s.%N)
                if [ -x "$BERTH" ]; then
                        "$BERTH" -a "$sock" pull --plain-http "$ref" >"$dir/pull.out" 2>&1
                else
                        ctr -a "$sock" images pull --plain-http "$ref" >"$dir/pull.out" 2>&1
                fi || { cat "$dir/pull.out" "$dir/berthd.log" >&2; return 1; }
                t1=$(date +%s.%N)
                snaps=$(ctr -a "$sock" snapshots --snapshotter overlayfs ls | tail -n +2 | wc -l)
                stop_berthd
                rm -rf "$dir/berthd"
        else
                ctrd_start "$dir/containerd" >/dev/null
                t0=$(date +%s.%N)
                ctr --debug -a "$(ctrd_sock "$dir/containerd")" -n "$(ctrd_ns "$dir/containerd")" \
                        images pull --plain-http "$ref" >"$dir/pull.out" 2>&1 ||
                        { cat "$dir/pull.out" >&2; return 1; }
                t1=$(date +%s.%N)
                snaps=$(ctrd_ctr "$dir/containerd" snapshots --snapshotter overlayfs ls | tail -n +2 | wc -l)
                ctrd_cleanup "$dir/containerd"
        fi
        # Not timed: the next pull starts without this one's dirty pages still being written back.
        sync
        [ "$snaps" -ge "$layers" ] || echo "warning: $side holds $snaps snapshots after pulling $ref ($layers layers)" >&2
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# mean and median of the numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1; s += $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                                                      printf "%.4f %.4f\n", s / NR, m }'; }

run_series() { # label ref layers n -> fills $dir/<label>.<side>
        local label=$1 ref=$2 layers=$3 n=$4 i side first second
        : >"$dir/$label.berth"
        : >"$dir/$label.containerd"
        for ((i = 1; i <= n; i++)); do
                if ((i % 2)); then first=berth second=containerd; else first=containerd second=berth; fi
                for side in $first $second; do
                        pull_once "$side" "$ref" "$layers" >>"$dir/$label.$side"
                        printf '  %-6s run %2d %-10s %8.3f s\n' "$label" "$i" "$side" "$(tail -n 1 "$dir/$label.$side")"
                done
        done
}

read -r big_bytes big_layers <<<"$(image_facts "$big_tar")"
read -r small_bytes small_layers <<<"$(image_facts "$small_tar")"
echo "registry $registry; berth client: $berth_client; containerd client: ctr --debug images pull --plain-http"
echo "big: $big_bytes bytes in $big_layers layers, $BIG_N cold pulls per side; small: $small_bytes bytes," \
        "$SMALL_N cold pulls per side"
run_series big "$registry/berth/big:latest" "$big_layers" "$BIG_N"
run_series small "$registry/berth/busybox:latest" "$small_layers" "$SMALL_N"

echo
printf '%-6s %-10s %9s %9s %9s\n' image side "mean s" "median s" "MiB/s"
for label in big small; do
        bytes=$big_bytes
        [ "$label" = small ] && bytes=$small_bytes
        for side in berth containerd; do
                read -r mean median <<<"$(stats <"$dir/$label.$side")"
                eval "${label}_${side}_mean=$mean ${label}_${side}_median=$median"
                awk -v l="$label" -v s="$side" -v a="$mean" -v m="$median" -v b="$bytes" \
                        'BEGIN { printf "%-6s %-10s %9.3f %9.3f %9.1f\n", l, s, a, m, b / 1048576 / a }'
        done
done
# shellcheck disable=SC2154 # set by the eval above
awk -v b="$big_berth_mean" -v c="$big_containerd_mean" -v sb="$small_berth_mean" -v sc="$small_containerd_mean" \
        -v mb="$small_berth_median" -v mc="$small_containerd_median" 'BEGIN {
        printf "throughput ratio berth/containerd (big, mean): %.2fx (goal >= 2x: %s)\n", c / b,
               (c / b >= 2) ? "met" : "not met"
        printf "latency ratio berth/containerd (small): mean %.3f, median %.3f (lower is faster)\n", sb / sc, mb / mc
}'
