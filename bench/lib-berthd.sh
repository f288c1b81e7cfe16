#!/usr/bin/env bash
# Shared by bench/run.sh, many-containers.sh and restart.sh (source it after scripts/containerd-private.sh):
# a private berthd per bench, the client that talks to it, timing and statistics helpers.
#
#   bb_berthd_launch DIR [BERTHD ARGS...]  start berthd in the background (root, state and socket under DIR, its
#                                          build directory first on PATH so it finds our shim); no waiting
#   bb_berthd_start DIR [BERTHD ARGS...]   the same, then wait until it answers (fails with its log if it does not)
#   bb_berthd_pid DIR / bb_berthd_sock DIR
#   bb_berthd_kill9 DIR                    SIGKILL berthd (containers and shims stay)
#   bb_berthd_cleanup DIR NS               tasks, containers, berthd, its shims, cgroups, OCI state, mounts, DIR
#   bb_client                              "berth" when build/berth has a run command, else "ctr" (the fallback)
#   bb_run ... / bb_ctr DIR NS ARGS...     the berth CLI / ctr against a private berthd
#   bb_now                                 $EPOCHREALTIME (seconds, microseconds); bb_ms T0 T1: milliseconds between
#   bb_stats FILE                          "mean median min max" (ms, one decimal) of the numbers in FILE
#
# Facts used: berthd's shims, like containerd's, put their sockets in /run/containerd/s, named
# sha256(<address>/<ns>/<id>), and the runc state of namespace NS in /run/containerd/<runtime>/NS; ctr and berth use
# the cgroup path /<ns>/<id>. Every bench uses a namespace of its own, so those cgroups and state dirs are its own.

BERTH_ROOT=${BERTH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BERTH_BUILD=${BERTH_BUILD:-$BERTH_ROOT/build}
BERTH_BIN=$BERTH_BUILD/berth
BERTHD_BIN=$BERTH_BUILD/berthd
# shellcheck disable=SC2034 # used by the scripts that source this
BB_IMG=docker.io/berth/busybox:latest

bb_berthd_sock() { echo "$1/berthd.sock"; }
bb_berthd_pid() { cat "$1/berthd.pid" 2>/dev/null; }

bb_berthd_launch() {
        local dir=$1
        shift
        mkdir -p "$dir"
        env PATH="$BERTH_BUILD:$PATH" "$BERTHD_BIN" --root "$dir/root" --state "$dir/state" \
                --address "$dir/berthd.sock" "$@" </dev/null >>"$dir/berthd.log" 2>&1 3>&- 4>&- &
        echo $! >"$dir/berthd.pid"
        disown # no "Killed" notice from the shell when a bench SIGKILLs it
}

bb_berthd_start() {
        local dir=$1 pid n=0
        bb_berthd_launch "$@"
        pid=$(bb_berthd_pid "$dir")
        until ctr -a "$dir/berthd.sock" --connect-timeout 1s version >/dev/null 2>&1; do
                if ! _ctrd_alive "$pid" || [ $n -ge 200 ]; then
                        echo "berthd did not come up; last log lines:" >&2
                        tail -n 20 "$dir/berthd.log" >&2
                        return 1
                fi
                sleep 0.05
                n=$((n + 1))
        done
}

bb_berthd_kill9() {
        local pid
        pid=$(bb_berthd_pid "$1")
        _ctrd_alive "$pid" || return 0
        kill -KILL "$pid"
        _ctrd_wait_gone "$pid" 50
}

bb_ctr() {
        local dir=$1 ns=$2
        shift 2
        ctr -a "$dir/berthd.sock" -n "$ns" "$@"
}

bb_client() {
        if [ -x "$BERTH_BIN" ] && "$BERTH_BIN" run --help >/dev/null 2>&1; then echo berth; else echo ctr; fi
}

bb_run() { "$BERTH_BIN" "$@"; }

# Shims whose argv carries "-address <sock>" (berthd's, not any other daemon's).
bb_shim_pids() {
        local sock=$1 pidd
        for pidd in /proc/[0-9]*; do
                tr '\0' '\n' 2>/dev/null <"$pidd/cmdline" |
                        awk -v s="$sock" 'NR == 1 { n = split($0, p, "/"); if (p[n] !~ /^containerd-shim-/) exit 1 }
                                          prev == "-address" && $0 == s { found = 1 } { prev = $0 }
                                          END { exit !found }' || continue
                echo "${pidd#/proc/}"
        done
}

bb_berthd_cleanup() {
        local dir=$1 ns=$2 sock pid id hash rootdir
        [ -d "$dir" ] || return 0
        sock=$dir/berthd.sock
        if _ctrd_alive "$(bb_berthd_pid "$dir")"; then
                local -a ctl=(ctr -a "$sock" -n "$ns" --connect-timeout 2s)
                for id in $(timeout 10 "${ctl[@]}" task ls -q 2>/dev/null); do
                        timeout 20 "${ctl[@]}" task rm -f "$id" >/dev/null 2>&1 || true
                done
                for id in $(timeout 10 "${ctl[@]}" containers ls -q 2>/dev/null); do
                        timeout 20 "${ctl[@]}" containers rm "$id" >/dev/null 2>&1 || true
                done
                pid=$(bb_berthd_pid "$dir")
                kill -TERM "$pid" 2>/dev/null || true
                _ctrd_wait_gone "$pid" 100 || { kill -KILL "$pid" 2>/dev/null; _ctrd_wait_gone "$pid" 50; }
        fi
        for pid in $(bb_shim_pids "$sock"); do
                kill -KILL "$pid" 2>/dev/null || true
                _ctrd_wait_gone "$pid" 30 || true
        done
        _ctrd_clean_cgroups "$ns"
        for rootdir in /run/containerd/*/"$ns"; do
                [ -d "$rootdir" ] || continue
                rm -rf "$rootdir"
                [ "${rootdir%/*}" = /run/containerd/runc ] || rmdir "${rootdir%/*}" 2>/dev/null || true
        done
        # Sockets of shims that were killed rather than shut down, and the FIFOs ctr made for detached tasks.
        if [ -s "$dir/ids" ]; then
                local f
                while read -r id; do
                        hash=$(printf '%s' "$sock/$ns/$id" | sha256sum | cut -d' ' -f1)
                        rm -f "/run/containerd/s/$hash"
                        for f in /run/containerd/fifo/*/"$id"-std{in,out,err}; do
                                [ -p "$f" ] || continue
                                rm -f "$f"
                                rmdir "$(dirname "$f")" 2>/dev/null || true
                        done
                done <"$dir/ids"
        fi
        _ctrd_unmount_under "$dir"
        rm -rf "$dir"
}

bb_now() { echo "$EPOCHREALTIME"; }
bb_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'; }

bb_stats() {
        sort -n "$1" | awk '{ v[NR] = $1; s += $1 } END {
                if (NR == 0) { print "nan nan nan nan"; exit }
                m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                printf "%.1f %.1f %.1f %.1f\n", s / NR, m, v[1], v[NR] }'
}

# "a/b" to three decimals, or "n/a" when either side is missing.
bb_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0 || a == "nan" || b == "nan")
                                                     print "n/a"; else printf "%.3f\n", a / b }'; }
