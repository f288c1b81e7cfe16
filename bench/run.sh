#!/usr/bin/env bash
# Start-to-exit latency of a container running /bin/true, side by side in one run, per OCI runtime (crun, runc):
#   berth        `berth run --rm IMG /bin/true` against a private berthd (--oci-runtime RT, our shim); when
#                build/berth has no run command yet, `ctr -a <berthd> run --rm --runtime io.containerd.berth.v2`
#                instead (the header says which client was used)
#   berthd+ctr   Debian's ctr against the same berthd (only when the berth client is used: same client as
#                containerd's row, so the two daemons compare alone)
#   containerd   `ctr run --rm --runtime io.containerd.runc.v2 --runc-binary RT` on a private containerd 1.6
#   podman       `podman run --rm --network=none` with a private root/runroot, cgroupfs, --runtime RT
#   bare         `RT run` on a prepared bundle: the busybox image's layer unpacked once, config.json from
#                `runc spec` with args /bin/true and terminal false, its namespaces kept (pid, network, ipc, uts,
#                mount: the network namespace stays, as ctr and podman --network=none make one too), cgroupsPath
#                under the bench's namespace. The floor: no daemon, no shim, no image, no snapshot.
# Iterations are interleaved (one of each contender in turn). Prints mean/median/min/max ms and the ratios
# (goal: berth/containerd <= 0.25 with crun). Never fails on the numbers. crun needs the v1 hugetlb mount on this
# host's hybrid cgroup layout: scripts/crun-usable.sh sets it up and tears it down here.
#   N=20              iterations per contender and runtime
#   RUNTIMES="crun runc"
#   BERTH_BUILD       build directory holding berthd, berth and the shim (default build/)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
N=${N:-20}
RUNTIMES=${RUNTIMES:-"crun runc"}

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
# shellcheck source=../scripts/crun-usable.sh
source scripts/crun-usable.sh
# shellcheck source=lib-berthd.sh
source bench/lib-berthd.sh
for f in "$BERTHD_BIN" "$BERTH_BUILD/containerd-shim-berth-v2"; do
        [ -x "$f" ] || { echo "build first: $f missing (make BUILD=$BERTH_BUILD)" >&2; exit 1; }
done
image=$(scripts/build-image.sh)
work=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
NS=bench-run-$(od -An -N3 -tx1 /dev/urandom | tr -d ' ')
export BERTH_HUGETLB_OWNER=$$
hugetlb=0
had_run_containers=0
[ -e /run/containers ] && had_run_containers=1

PODMAN=(podman --root "$work/podman/root" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
        --network-config-dir "$work/podman/net" --cgroup-manager=cgroupfs --events-backend=file)

cleanup() {
        set +e
        local d
        for d in "$work"/berthd-*; do [ -d "$d" ] && bb_berthd_cleanup "$d" "$NS"; done
        [ -d "$work/ctrd" ] && ctrd_cleanup "$work/ctrd"
        if [ -d "$work/podman" ]; then
                # podman run --rm removed every container; the storage (overlay mounts) goes with the dir.
                "${PODMAN[@]}" rm -af >/dev/null 2>&1
                _ctrd_unmount_under "$work/podman"
                _ctrd_clean_cgroups "$NS-podman"
                # podman makes /run/containers/networks whatever --network-config-dir says.
                [ "$had_run_containers" = 1 ] || rm -rf /run/containers
        fi
        for d in "$work"/bare-root-*; do
                [ -d "$d" ] || continue
                "${d##*/bare-root-}" --root "$d" delete -f bare >/dev/null 2>&1
        done
        _ctrd_clean_cgroups "$NS"
        [ "$hugetlb" = 1 ] && crun_hugetlb_teardown
        _ctrd_unmount_under "$work"
        rm -rf "$work"
}
trap cleanup EXIT

runtimes=()
for rt in $RUNTIMES; do
        command -v "$rt" >/dev/null || { echo "# $rt not installed: skipped"; continue; }
        if [ "$rt" = crun ]; then
                if crun_hugetlb_setup 2>"$work/crun.err"; then
                        hugetlb=1
                else
                        echo "# crun not usable here ($(tr '\n' ' ' <"$work/crun.err")): skipped"
                        continue
                fi
        fi
        runtimes+=("$rt")
done
[ ${#runtimes[@]} -gt 0 ] || { echo "no OCI runtime to measure" >&2; exit 1; }

client=$(bb_client)
have_podman=1
command -v podman >/dev/null || { have_podman=0; echo "# podman not installed (scripts/install-deps.sh): skipped"; }

# --- set-up: daemons, image, bundle -------------------------------------------------------------------------------
ctrd_start "$work/ctrd" >/dev/null
ctrd_ctr "$work/ctrd" images import "$image" >/dev/null
for rt in "${runtimes[@]}"; do
        bb_berthd_start "$work/berthd-$rt" --oci-runtime "$rt"
        bb_ctr "$work/berthd-$rt" "$NS" images import "$image" >/dev/null
done
if [ $have_podman = 1 ]; then
        mkdir -p "$work/podman"
        "${PODMAN[@]}" pull -q "oci-archive:$image" >/dev/null
fi

bundle=$work/bundle
mkdir -p "$work/oci" "$bundle/rootfs"
tar -xf "$image" -C "$work/oci"
manifest=$(jq -r '.manifests[0].digest' "$work/oci/index.json")
for layer in $(jq -r '.layers[].digest' "$work/oci/blobs/sha256/${manifest#sha256:}"); do
        tar -xf "$work/oci/blobs/sha256/${layer#sha256:}" -C "$bundle/rootfs"
done
(cd "$bundle" && runc spec)
jq --arg cg "/$NS/bare" '.process.args = ["/bin/true"] | .process.terminal = false | .linux.cgroupsPath = $cg' \
        "$bundle/config.json" >"$work/config.json"
mv "$work/config.json" "$bundle/config.json"

# --- contenders: each runs one container to completion; $1 = runtime, $2 = iteration --------------------------------
run_berth() {
        local dir=$work/berthd-$1 id=lat-$1-$2
        echo "$id" >>"$dir/ids"
        if [ "$client" = berth ]; then
                bb_run -a "$(bb_berthd_sock "$dir")" -n "$NS" run --rm --name "$id" "$BB_IMG" /bin/true
        else
                bb_ctr "$dir" "$NS" run --rm --runtime io.containerd.berth.v2 "$BB_IMG" "$id" /bin/true
        fi
}
run_berthd_ctr() {
        local dir=$work/berthd-$1 id=latc-$1-$2
        echo "$id" >>"$dir/ids"
        bb_ctr "$dir" "$NS" run --rm --runtime io.containerd.berth.v2 "$BB_IMG" "$id" /bin/true
}
run_containerd() {
        ctrd_ctr "$work/ctrd" run --rm --runtime io.containerd.runc.v2 --runc-binary "$1" "$BB_IMG" \
                "$(ctrd_new_id "$work/ctrd" "lat-$1")" /bin/true
}
run_podman() {
        "${PODMAN[@]}" --runtime "$1" run --rm --network=none --cgroup-parent "/$NS-podman" \
                --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$BB_IMG" /bin/true
}
run_bare() {
        mkdir -p "$work/bare-root-$1"
        "$1" --root "$work/bare-root-$1" run --bundle "$bundle" bare
}

contenders=(berth)
[ "$client" = berth ] && contenders+=(berthd_ctr)
contenders+=(containerd)
[ $have_podman = 1 ] && contenders+=(podman)
contenders+=(bare)

label() { # contender, runtime
        case $1 in
        berth) [ "$client" = berth ] && echo "berth run" || echo "berth (ctr->berthd)" ;;
        berth_removed) echo "berth run, until removed" ;;
        berthd_ctr) echo "berthd + ctr" ;;
        containerd) echo "containerd + ctr" ;;
        podman) echo "podman" ;;
        bare) echo "bare $2 run" ;;
        esac
}

# One timed run; appends ms to $work/<contender>-<rt>. A failing contender is reported once and dropped.
declare -A failed
timed() { # contender, runtime, iteration
        local who=$1 rt=$2 t0 t1 rc=0
        [ -z "${failed[$who,$rt]:-}" ] || return 0
        t0=$EPOCHREALTIME
        "run_$who" "$rt" "$3" </dev/null >"$work/out" 2>&1 || rc=$?
        t1=$EPOCHREALTIME
        if [ $rc -ne 0 ]; then
                failed[$who,$rt]=1
                echo "# $(label "$who" "$rt") with $rt failed (exit $rc), dropped: $(head -c 400 "$work/out" | tr '\n' ' ')"
                return 0
        fi
        [ "$3" = warm ] || bb_ms "$t0" "$t1" >>"$work/$who-$rt"
        [ "$who" = berth ] && [ "$client" = berth ] && wait_removed "$rt" "$3" "$t0"
        return 0
}

# berth run --rm answers at the exit and berthd removes the container afterwards (the runtime's delete, unmount,
# shim exit, snapshot, record; its FIFO directory goes last). Waited for here, outside the timed run, so that it
# never overlaps the next contender; the time until it is gone is the row "berth run, until removed".
wait_removed() { # runtime, iteration, t0
        local fifos=$work/berthd-$1/state/fifo/$NS/lat-$1-$2 n=0
        while [ -e "$fifos" ] && [ $n -lt 10000 ]; do
                sleep 0.001
                n=$((n + 1))
        done
        [ "$2" = warm ] || bb_ms "$3" "$EPOCHREALTIME" >>"$work/berth_removed-$1"
}

if [ "$client" = berth ]; then
        echo "# berth client: $BERTH_BIN run --rm (berthd's default runtime: our shim)"
else
        echo "# berth client: ctr -a <berthd> run --rm --runtime io.containerd.berth.v2 (fallback: $BERTH_BIN has no run command yet)"
fi
echo "# $N iterations per contender, interleaved; $(nproc) CPUs; kernel $(uname -r)"
echo "# earlier reference on this machine: containerd 110 ms (crun) / 118 ms (runc), podman 187 ms, bare crun 10 ms, bare runc 29 ms"

declare -A mean median
for rt in "${runtimes[@]}"; do
        : >"$work/berth_removed-$rt"
        for who in "${contenders[@]}"; do
                : >"$work/$who-$rt"
                timed "$who" "$rt" warm # page cache, daemons' first-use paths
        done
done
for ((i = 0; i < N; i++)); do
        for rt in "${runtimes[@]}"; do
                for who in "${contenders[@]}"; do timed "$who" "$rt" "$i"; done
        done
done
# A row of its own, measured within berth's runs (not a contender: printed, no ratio goal).
if [ "$client" = berth ]; then
        rows=(berth berth_removed "${contenders[@]:1}")
else
        rows=("${contenders[@]}")
fi

printf '\n%-6s %-26s %5s %9s %9s %9s %9s\n' oci contender runs "mean ms" "median" min max
for rt in "${runtimes[@]}"; do
        for who in "${rows[@]}"; do
                read -r m med mn mx <<<"$(bb_stats "$work/$who-$rt")"
                mean[$who,$rt]=$m
                median[$who,$rt]=$med
                printf '%-6s %-26s %5d %9s %9s %9s %9s\n' "$rt" "$(label "$who" "$rt")" "$(wc -l <"$work/$who-$rt")" \
                        "$m" "$med" "$mn" "$mx"
        done
done

echo
ratio_line() { # runtime, a, b, note
        printf '%-6s %-42s mean %-6s median %-6s %s\n' "$1" "$(label "$2" "$1") / $(label "$3" "$1")" \
                "$(bb_ratio "${mean[$2,$1]}" "${mean[$3,$1]}")" "$(bb_ratio "${median[$2,$1]}" "${median[$3,$1]}")" "${4:-}"
}
for rt in "${runtimes[@]}"; do
        goal=""
        [ "$rt" = crun ] && goal="(goal <= 0.25: $(awk -v r="$(bb_ratio "${median[berth,$rt]}" "${median[containerd,$rt]}")" \
                'BEGIN { print (r != "n/a" && r <= 0.25) ? "met" : "not met" }') on the median)"
        ratio_line "$rt" berth containerd "$goal"
        [ "$client" = berth ] && ratio_line "$rt" berth_removed containerd
        [ "$client" = berth ] && ratio_line "$rt" berthd_ctr containerd
        [ $have_podman = 1 ] && ratio_line "$rt" berth podman
        ratio_line "$rt" berth bare
        ratio_line "$rt" containerd bare
done
exit 0
