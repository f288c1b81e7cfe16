#!/usr/bin/env bash
# COUNT (default 50) detached containers running `sleep 100000`, started one by one, side by side in one run:
#   berth       `berth run -d --name ID IMG sleep 100000` against a private berthd (--oci-runtime runc, our shim);
#               when build/berth has no run command yet, `ctr -a <berthd> run -d --runtime io.containerd.berth.v2`
#               (the header says which client was used)
#   containerd  `ctr run -d --runtime io.containerd.runc.v2` (runc) on a private containerd 1.6
# Starts alternate between the two (berth 1, containerd 1, berth 2, ...). Prints the total start time per side,
# then, after a 1 s idle, the resident memory of the daemon plus its shims (and any helper process the daemon or
# a shim keeps, e.g. a log writer; the containers' own processes are not counted): RSS and PSS summed from
# /proc/PID/smaps_rollup. Ratios berth/containerd (goals: time <= 0.4, memory <= 0.1). Never fails on the numbers.
#   COUNT=50
#   BERTH_BUILD       build directory holding berthd, berth and the shim (default build/)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
COUNT=${COUNT:-50}

# shellcheck source=../scripts/containerd-private.sh
source scripts/containerd-private.sh
# shellcheck source=lib-berthd.sh
source bench/lib-berthd.sh
for f in "$BERTHD_BIN" "$BERTH_BUILD/containerd-shim-berth-v2"; do
        [ -x "$f" ] || { echo "build first: $f missing (make BUILD=$BERTH_BUILD)" >&2; exit 1; }
done
image=$(scripts/build-image.sh)
work=$(mktemp -d /tmp/berth-bench-many.XXXXXX)
suffix=$(od -An -N3 -tx1 /dev/urandom | tr -d ' ')
NS=bench-many-$suffix
bdir=$work/berthd
cdir=$work/ctrd

cleanup() {
        set +e
        bb_berthd_cleanup "$bdir" "$NS"
        ctrd_cleanup "$cdir"
        rm -rf "$work"
}
trap cleanup EXIT

client=$(bb_client)
ctrd_start "$cdir" >/dev/null
ctrd_ctr "$cdir" images import "$image" >/dev/null
bb_berthd_start "$bdir" --oci-runtime runc
bb_ctr "$bdir" "$NS" images import "$image" >/dev/null
bsock=$(bb_berthd_sock "$bdir")

start_berth() { # id
        echo "$1" >>"$bdir/ids"
        if [ "$client" = berth ]; then
                bb_run -a "$bsock" -n "$NS" run -d --name "$1" "$BB_IMG" sleep 100000
        else
                bb_ctr "$bdir" "$NS" run -d --runtime io.containerd.berth.v2 "$BB_IMG" "$1" sleep 100000
        fi
}
start_containerd() { # id
        ctrd_ctr "$cdir" run -d --runtime io.containerd.runc.v2 "$BB_IMG" "$1" sleep 100000
}

if [ "$client" = berth ]; then
        echo "# berth client: $BERTH_BIN run -d (berthd --oci-runtime runc, its default runtime: our shim)"
else
        echo "# berth client: ctr -a <berthd> run -d --runtime io.containerd.berth.v2 (fallback: $BERTH_BIN has no run command yet)"
fi
echo "# $COUNT containers per side, started one by one, alternating; OCI runtime runc on both sides; $(nproc) CPUs"

berth_s=0
ctrd_s=0
for ((i = 1; i <= COUNT; i++)); do
        t0=$EPOCHREALTIME
        start_berth "mc-$suffix-$i" </dev/null >"$work/out" 2>&1 || {
                echo "berth: start $i failed: $(head -c 400 "$work/out")" >&2
                exit 1
        }
        t1=$EPOCHREALTIME
        id=$(ctrd_new_id "$cdir" "mc-$i")
        start_containerd "$id" </dev/null >"$work/out" 2>&1 || {
                echo "containerd: start $i failed: $(head -c 400 "$work/out")" >&2
                exit 1
        }
        t2=$EPOCHREALTIME
        berth_s=$(awk -v s="$berth_s" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", s + b - a }')
        ctrd_s=$(awk -v s="$ctrd_s" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.6f", s + b - a }')
done

# Running tasks and their init pids ("ID PID STATUS" from ctr task ls) for both daemons.
bb_ctr "$bdir" "$NS" task ls | awk 'NR > 1 && $3 == "RUNNING" { print $2 }' >"$work/berth-inits"
ctrd_ctr "$cdir" task ls | awk 'NR > 1 && $3 == "RUNNING" { print $2 }' >"$work/ctrd-inits"
nb=$(wc -l <"$work/berth-inits")
nc=$(wc -l <"$work/ctrd-inits")
[ "$nb" -eq "$COUNT" ] || echo "# warning: berthd lists $nb running tasks, expected $COUNT"
[ "$nc" -eq "$COUNT" ] || echo "# warning: containerd lists $nc running tasks, expected $COUNT"

# The daemon's support processes: the daemon, its shims, and every descendant of either that is not a container
# (a container's init and everything below it).
support_pids() { # daemon pid, file of shim pids, file of container init pids
        ps -eo pid=,ppid= | awk -v d="$1" -v sf="$2" -v inf="$3" '
                BEGIN { while ((getline p < sf) > 0) root[p] = 1; root[d] = 1
                        while ((getline p < inf) > 0) init[p] = 1 }
                { parent[$1] = $2 }
                END {
                        for (p in parent) {
                                q = p; ok = 0
                                while (q in parent && q > 1) {
                                        if (q in init) break
                                        if (q in root) { ok = 1; break }
                                        q = parent[q]
                                }
                                if (ok) print p
                        }
                }'
}
rollup() { # field, pids on stdin -> "total_kB count"
        local pid total=0 n=0 v
        while read -r pid; do
                v=$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
                [ -n "$v" ] || continue
                total=$((total + v))
                n=$((n + 1))
        done
        echo "$total $n"
}

bb_shim_pids "$bsock" >"$work/berth-shims"
ctrd_shim_pids "$cdir" >"$work/ctrd-shims"
sleep 1
support_pids "$(bb_berthd_pid "$bdir")" "$work/berth-shims" "$work/berth-inits" >"$work/berth-support"
support_pids "$(ctrd_pid "$cdir")" "$work/ctrd-shims" "$work/ctrd-inits" >"$work/ctrd-support"
read -r b_rss b_n <<<"$(rollup Rss <"$work/berth-support")"
read -r b_pss _ <<<"$(rollup Pss <"$work/berth-support")"
read -r c_rss c_n <<<"$(rollup Rss <"$work/ctrd-support")"
read -r c_pss _ <<<"$(rollup Pss <"$work/ctrd-support")"
b_d_rss=$(awk '$1 == "Rss:" { print $2 }' "/proc/$(bb_berthd_pid "$bdir")/smaps_rollup")
c_d_rss=$(awk '$1 == "Rss:" { print $2 }' "/proc/$(ctrd_pid "$cdir")/smaps_rollup")

printf '\n%-12s %10s %12s %10s %10s %12s %12s %12s\n' side "start s" "ms/container" shims procs \
        "RSS kB" "PSS kB" "daemon RSS"
printf '%-12s %10.3f %12.1f %10d %10d %12d %12d %12d\n' berth "$berth_s" \
        "$(awk -v s="$berth_s" -v n="$COUNT" 'BEGIN { print s * 1000 / n }')" "$(wc -l <"$work/berth-shims")" \
        "$b_n" "$b_rss" "$b_pss" "$b_d_rss"
printf '%-12s %10.3f %12.1f %10d %10d %12d %12d %12d\n' containerd "$ctrd_s" \
        "$(awk -v s="$ctrd_s" -v n="$COUNT" 'BEGIN { print s * 1000 / n }')" "$(wc -l <"$work/ctrd-shims")" \
        "$c_n" "$c_rss" "$c_pss" "$c_d_rss"
echo "(procs: the daemon, its shims and their helper processes; memory summed over them after 1 s idle)"

verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r != "n/a" && r <= g) ? "met" : "not met" }'; }
rt=$(bb_ratio "$berth_s" "$ctrd_s")
rr=$(bb_ratio "$b_rss" "$c_rss")
rp=$(bb_ratio "$b_pss" "$c_pss")
echo
echo "ratio berth/containerd, start time of $COUNT: $rt (goal <= 0.4: $(verdict "$rt" 0.4))"
echo "ratio berth/containerd, memory RSS: $rr, PSS: $rp (goal <= 0.1: RSS $(verdict "$rr" 0.1), PSS $(verdict "$rp" 0.1))"
exit 0
