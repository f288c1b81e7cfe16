#!/usr/bin/env bash
# Daemon restart with COUNT (default 50) live detached containers (`sleep 100000`, runc on both sides), side by
# side in one run: the daemon is SIGKILLed (containers and shims stay), then the time is measured from the exec of
# a new daemon to the first moment its client lists all COUNT containers as running:
#   berth       `berth ps` (lines with "Up") against a private berthd (--oci-runtime runc, our shim); when
#               build/berth has no ps command yet, `ctr -a <berthd> --connect-timeout 1s task ls` (RUNNING rows);
#               the header says which client was used
#   containerd  `ctr --connect-timeout 1s task ls` (RUNNING rows) on a private containerd 1.6
# Both are polled back to back with a 10 ms pause. ROUNDS (default 3) kill/restart rounds alternate between the two
# daemons. Prints every round, the means and the ratio berth/containerd (goal <= 0.3). Never fails on the numbers.
#   COUNT=50 ROUNDS=3
#   BERTH_BUILD       build directory holding berthd, berth and the shim (default build/)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
COUNT=${COUNT:-50}
ROUNDS=${ROUNDS:-3}
LIST_TIMEOUT=${LIST_TIMEOUT:-60}

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
# shellcheck source=lib-berthd.sh
source bench/lib-berthd.sh
for f in "$BERTHD_BIN" "$BERTH_BUILD/containerd-shim-berth-v2"; do
        [ -x "$f" ] || { echo "build first: $f missing (make BUILD=$BERTH_BUILD)" >&2; exit 1; }
done
image=$(scripts/build-image.sh)
work=$(mktemp -d /tmp/berth-bench-restart.XXXXXX)
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' ')
NS=bench-restart-$suffix
bdir=$work/berthd
cdir=$work/ctrd

cleanup() {
        set +e
        bb_berthd_cleanup "$bdir" "$NS"
        ctrd_cleanup "$cdir"
        rm -rf "$work"
}
trap cleanup EXIT

# Clients: berth's ps when the CLI has run and ps, else ctr against berthd.
client=ctr
if [ "$(bb_client)" = berth ] && "$BERTH_BIN" ps --help >/dev/null 2>&1; then client=berth; fi

# In a subshell, so that containerd is not this shell's job (no "Killed" notice when it is SIGKILLed).
_=$(ctrd_start "$cdir")
ctrd_ctr "$cdir" images import "$image" >/dev/null
bb_berthd_start "$bdir" --oci-runtime runc
bb_ctr "$bdir" "$NS" images import "$image" >/dev/null
bsock=$(bb_berthd_sock "$bdir")

if [ "$client" = berth ]; then
        echo "# berth client: $BERTH_BIN ps (containers started with berth run -d; berthd --oci-runtime runc)"
else
        echo "# berth client: ctr -a <berthd> task ls (fallback: $BERTH_BIN has no run/ps command yet; containers" \
                "started with ctr run -d --runtime io.containerd.berth.v2)"
fi
echo "# $COUNT live containers per daemon, runc on both sides, $ROUNDS rounds; $(nproc) CPUs"

for ((i = 1; i <= COUNT; i++)); do
        id=rs-$suffix-$i
        echo "$id" >>"$bdir/ids"
        if [ "$client" = berth ]; then
                bb_run -a "$bsock" -n "$NS" run -d --name "$id" "$BB_IMG" sleep 100000 >/dev/null
        else
                bb_ctr "$bdir" "$NS" run -d --runtime io.containerd.berth.v2 "$BB_IMG" "$id" sleep 100000 >/dev/null
        fi
        ctrd_ctr "$cdir" run -d --runtime io.containerd.runc.v2 "$BB_IMG" "$(ctrd_new_id "$cdir" "rs-$i")" \
                sleep 100000 >/dev/null
done </dev/null

# Number of running containers the daemon lists right now (0 while it does not answer).
running_berth() {
        if [ "$client" = berth ]; then
                bb_run -a "$bsock" -n "$NS" ps 2>/dev/null | awk 'NR > 1 && / Up / { n++ } END { print n + 0 }'
        else
                ctr -a "$bsock" -n "$NS" --connect-timeout 1s task ls 2>/dev/null |
                        awk 'NR > 1 && $3 == "RUNNING" { n++ } END { print n + 0 }'
        fi
}
running_containerd() {
        ctr --address "$(ctrd_sock "$cdir")" --namespace "$(ctrd_ns "$cdir")" --connect-timeout 1s task ls 2>/dev/null |
                awk 'NR > 1 && $3 == "RUNNING" { n++ } END { print n + 0 }'
}

# The same command line ctrd_start uses, without its readiness poll (which would compete for the CPU).
launch_containerd() {
        env PATH="$cdir/opt/bin:$BERTH_BUILD:$PATH" containerd --config "$cdir/config.toml" \
                </dev/null >>"$cdir/containerd.log" 2>&1 3>&- 4>&- &
        echo $! >"$cdir/containerd.pid"
        disown
}
# bb_berthd_launch's command line without its `mkdir -p` (the directory exists): an extra fork and exec in the timed
# window that the containerd side does not pay (~1-2 ms here).
launch_berth() {
        env PATH="$BERTH_BUILD:$PATH" "$BERTHD_BIN" --root "$bdir/root" --state "$bdir/state" \
                --address "$(bb_berthd_sock "$bdir")" --oci-runtime runc </dev/null >>"$bdir/berthd.log" 2>&1 3>&- 4>&- &
        echo $! >"$bdir/berthd.pid"
        disown
}

# Kill, relaunch, poll; prints the milliseconds to a full listing, or "timeout N" when it never came.
restart_and_time() { # side
        local side=$1 t0 n=0 deadline
        if [ "$side" = berth ]; then bb_berthd_kill9 "$bdir"; else ctrd_kill9 "$cdir"; fi
        t0=$EPOCHREALTIME
        "launch_$side"
        deadline=$(awk -v t="$t0" -v s="$LIST_TIMEOUT" 'BEGIN { printf "%d", t + s }')
        while :; do
                n=$("running_$side")
                [ "$n" -ge "$COUNT" ] && break
                if [ "${EPOCHREALTIME%.*}" -ge "$deadline" ]; then
                        echo "timeout $n"
                        return 0
                fi
                sleep 0.01
        done
        bb_ms "$t0" "$EPOCHREALTIME"
}

[ "$(running_berth)" -eq "$COUNT" ] || echo "# warning: berthd lists $(running_berth) of $COUNT before the first kill"
[ "$(running_containerd)" -eq "$COUNT" ] ||
        echo "# warning: containerd lists $(running_containerd) of $COUNT before the first kill"

# The client's own share: one listing from a warm daemon (median of 5), the floor of every number below.
warm_list_ms() { # side
        local i t0
        for ((i = 0; i < 5; i++)); do
                t0=$EPOCHREALTIME
                "running_$1" >/dev/null
                bb_ms "$t0" "$EPOCHREALTIME"
        done >"$work/warm-$1"
        read -r _ med _ <<<"$(bb_stats "$work/warm-$1")"
        echo "$med"
}
echo "# one listing from a warm daemon (the floor): berth $(warm_list_ms berth) ms," \
        "containerd $(warm_list_ms containerd) ms (median of 5)"

printf '\n%-6s %-12s %14s\n' round daemon "ms to list all"
: >"$work/berth"
: >"$work/containerd"
for ((r = 1; r <= ROUNDS; r++)); do
        for side in berth containerd; do
                res=$(restart_and_time "$side")
                if [ "${res%% *}" = timeout ]; then
                        printf '%-6d %-12s %14s\n' "$r" "$side" "listed only ${res#timeout } of $COUNT in ${LIST_TIMEOUT}s"
                else
                        printf '%-6d %-12s %14s\n' "$r" "$side" "$res"
                        echo "$res" >>"$work/$side"
                fi
                sleep 1 # let the new daemon settle before the other side's round
        done
done

read -r bm bmed _ <<<"$(bb_stats "$work/berth")"
read -r cm cmed _ <<<"$(bb_stats "$work/containerd")"
echo
printf '%-12s mean %8s ms, median %8s ms\n' berth "$bm" "$bmed"
printf '%-12s mean %8s ms, median %8s ms\n' containerd "$cm" "$cmed"
r=$(bb_ratio "$bm" "$cm")
echo "ratio berth/containerd (mean): $r, median: $(bb_ratio "$bmed" "$cmed") (goal <= 0.3: $(awk -v r="$r" \
        'BEGIN { print (r != "n/a" && r <= 0.3) ? "met" : "not met" }'))"
exit 0
