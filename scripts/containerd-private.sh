#!/usr/bin/env bash
# A private containerd for tests and benchmarks: its own root, state, sockets and namespace,
# CRI disabled, debug log, and a PATH that finds berth's shim (build/) first.
#
# Use as a library (source it) or as a command:
#   containerd-private.sh start DIR [VAR=value...]   start (or restart) one in DIR; prints its socket
#   containerd-private.sh stop DIR                   stop it, keep DIR
#   containerd-private.sh cleanup DIR                remove tasks, containers, shims, cgroups, mounts, DIR
#   containerd-private.sh ctr DIR ARGS...            run ctr against it
#
# Library API (every function takes the instance directory first):
#   ctrd_start DIR [VAR=value...]  start containerd; the extra variables go into its environment,
#                                  and so into every shim it starts (e.g. BERTH_OCI_RUNTIME=runc)
#   ctrd_ctr DIR ARGS...           ctr --address <sock> --namespace <ns> ARGS
#   ctrd_ns DIR / ctrd_sock DIR    the namespace / gRPC socket of the instance
#   ctrd_pid DIR                   containerd's pid
#   ctrd_kill9 DIR                 SIGKILL containerd (containers and shims stay)
#   ctrd_stop DIR                  SIGTERM containerd and wait (containers and shims stay)
#   ctrd_events_start DIR FILE     `ctr events` into FILE in the background; ctrd_events_stop DIR ends it
#   ctrd_shim_pids DIR             pids of the shims this instance started
#   ctrd_new_id DIR PREFIX         a unique container id, remembered for cleanup
#   ctrd_shim_socket DIR ID        /run/containerd/s/<hash> of the shim serving ID
#   ctrd_forget DIR ID             remove a dead shim's socket file and ctr's FIFOs for ID
#   ctrd_bundle DIR ID             the task bundle <state>/io.containerd.runtime.v2.task/<ns>/<id>
#   ctrd_cleanup DIR               everything above undone; only touches what this instance made
#
# Facts this relies on (containerd 1.6): shim sockets live in /run/containerd/s whatever `state` is,
# named sha256(<grpc address>/<ns>/<id>); runc's root is /run/containerd/runc/<ns>; ctr's default
# cgroup path is /<ns>/<id>. The namespace is random per instance, so cgroups and runc state named
# after it belong to us alone.

BERTH_ROOT=${BERTH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BERTH_BUILD=${BERTH_BUILD:-$BERTH_ROOT/build}

ctrd_sock() { echo "$1/containerd.sock"; }
ctrd_ns() { cat "$1/namespace"; }
ctrd_pid() { cat "$1/containerd.pid" 2>/dev/null; }

ctrd_ctr() {
        local dir=$1
        shift
        ctr --address "$dir/containerd.sock" --namespace "$(cat "$dir/namespace")" "$@"
}

# True while PID is a live process (a zombie counts as gone).
_ctrd_alive() {
        local pid=$1 state
        [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
        state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
        [ -n "$state" ] && [ "$state" != Z ]
}

_ctrd_wait_gone() { # pid, tenths of a second
        local pid=$1 n=${2:-100}
        while [ "$n" -gt 0 ] && _ctrd_alive "$pid"; do
                sleep 0.1
                n=$((n - 1))
        done
        ! _ctrd_alive "$pid"
}

_ctrd_write_config() {
        local dir=$1
        mkdir -p "$dir/root" "$dir/state" "$dir/opt/bin"
        cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = "$dir/debug.sock"
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
TOML
}

ctrd_start() {
        local dir=$1
        shift
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        if _ctrd_alive "$(ctrd_pid "$dir")"; then
                echo "ctrd_start: containerd already running in $dir" >&2
                return 1
        fi
        [ -s "$dir/namespace" ] || echo "berth-test-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')" >"$dir/namespace"
        [ -s "$dir/config.toml" ] || _ctrd_write_config "$dir"
        # Extra env for a restart is remembered, so a restarted instance behaves like the first one.
        if [ $# -gt 0 ]; then printf '%s\n' "$@" >"$dir/env"; fi
        local -a extra=()
        [ -s "$dir/env" ] && mapfile -t extra <"$dir/env"

        # opt/bin comes first (the opt plugin prepends it anyway), then berth's build directory.
        # fds: nothing inherited, so a bats test does not wait on containerd's copy of its pipes.
        env PATH="$dir/opt/bin:$BERTH_BUILD:$PATH" "${extra[@]}" \
                containerd --config "$dir/config.toml" </dev/null >>"$dir/containerd.log" 2>&1 3>&- 4>&- &
        local pid=$!
        echo "$pid" >"$dir/containerd.pid"

        local n=0
        until ctr --address "$dir/containerd.sock" --connect-timeout 1s version >/dev/null 2>&1; do
                if ! _ctrd_alive "$pid" || [ $n -ge 150 ]; then
                        echo "ctrd_start: containerd did not come up; last log lines:" >&2
                        tail -n 20 "$dir/containerd.log" >&2
                        return 1
                fi
                sleep 0.1
                n=$((n + 1))
        done
        echo "$dir/containerd.sock"
}

ctrd_kill9() {
        local pid
        pid=$(ctrd_pid "$1")
        _ctrd_alive "$pid" || return 0
        kill -KILL "$pid"
        _ctrd_wait_gone "$pid" 50
}

ctrd_stop() {
        local pid
        pid=$(ctrd_pid "$1")
        _ctrd_alive "$pid" || return 0
        kill -TERM "$pid" 2>/dev/null || true
        _ctrd_wait_gone "$pid" 100 || { kill -KILL "$pid" 2>/dev/null; _ctrd_wait_gone "$pid" 50; }
}

ctrd_new_id() {
        local dir=$1 prefix=${2:-c} id
        id="$prefix-$(od -An -N3 -tx1 /dev/urandom | tr -d ' ')"
        echo "$id" >>"$dir/ids"
        echo "$id"
}

ctrd_shim_socket() {
        local dir=$1 id=$2 hash
        hash=$(printf '%s' "$dir/containerd.sock/$(ctrd_ns "$dir")/$id" | sha256sum | cut -d' ' -f1)
        echo "/run/containerd/s/$hash"
}

# Removes what a dead shim leaves behind for ID: its socket file and ctr's FIFOs.
ctrd_forget() {
        local dir=$1 id=$2 f
        rm -f "$(ctrd_shim_socket "$dir" "$id")"
        for f in /run/containerd/fifo/*/"$id"-std{in,out,err}; do
                [ -p "$f" ] || continue
                rm -f "$f"
                rmdir "$(dirname "$f")" 2>/dev/null || true
        done
}

ctrd_bundle() { echo "$1/state/io.containerd.runtime.v2.task/$(ctrd_ns "$1")/$2"; }

# Pids of shims this instance started: a containerd-shim-* whose argv carries "-address <our socket>".
ctrd_shim_pids() {
        local sock=$1/containerd.sock pidd
        for pidd in /proc/[0-9]*; do
                tr '\0' '\n' 2>/dev/null <"$pidd/cmdline" |
                        awk -v s="$sock" 'NR == 1 { n = split($0, p, "/"); if (p[n] !~ /^containerd-shim-/) exit 1 }
                                          prev == "-address" && $0 == s { found = 1 } { prev = $0 }
                                          END { exit !found }' || continue
                echo "${pidd#/proc/}"
        done
}

# `ctr events` into FILE in the background; ctrd_events_stop ends it. One per instance.
ctrd_events_start() {
        local dir=$1 file=$2
        ctr --address "$dir/containerd.sock" --namespace "$(ctrd_ns "$dir")" events >"$file" 2>&1 </dev/null 3>&- 4>&- &
        echo $! >"$dir/events.pid"
        sleep 0.2 # let it subscribe before anything happens
}

ctrd_events_stop() {
        local pid
        pid=$(cat "$1/events.pid" 2>/dev/null) || return 0
        rm -f "$1/events.pid"
        _ctrd_alive "$pid" && kill "$pid" 2>/dev/null
        _ctrd_wait_gone "$pid" 30 || true
}

# Kills every process in the cgroups named after our namespace and removes those cgroups.
_ctrd_clean_cgroups() {
        local ns=$1 hier cg pid pass
        for hier in /sys/fs/cgroup/*/; do
                cg="$hier$ns"
                [ -d "$cg" ] || continue
                # A frozen task does not die until thawed.
                [ -e "$hier/freezer.state" ] && find "$cg" -name freezer.state -exec sh -c 'echo THAWED >"$1"' _ {} \; 2>/dev/null
                for pass in 1 2 3 4 5 6 7 8 9 10; do
                        local any=0
                        while read -r pid; do
                                [ -n "$pid" ] || continue
                                any=1
                                kill -KILL "$pid" 2>/dev/null || true
                        done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
                        [ $any -eq 0 ] && break
                        sleep 0.1
                done
                find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
}

_ctrd_unmount_under() {
        local dir=$1 mp
        # mountinfo field 5 is the mount point; deepest first.
        awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
                while read -r mp; do
                        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
                done
}

ctrd_cleanup() {
        local dir=$1 ns pid id
        [ -d "$dir" ] || return 0
        dir=$(cd "$dir" && pwd)
        ns=$(ctrd_ns "$dir" 2>/dev/null || true)
        if [ -n "$ns" ] && _ctrd_alive "$(ctrd_pid "$dir")"; then
                local -a c=(ctr --address "$dir/containerd.sock" --namespace "$ns" --connect-timeout 2s)
                for id in $(timeout 10 "${c[@]}" task ls -q 2>/dev/null); do
                        timeout 20 "${c[@]}" task rm -f "$id" >/dev/null 2>&1 || true
                done
                for id in $(timeout 10 "${c[@]}" containers ls -q 2>/dev/null); do
                        timeout 20 "${c[@]}" containers rm "$id" >/dev/null 2>&1 || true
                done
        fi
        ctrd_events_stop "$dir"
        ctrd_stop "$dir"
        for pid in $(ctrd_shim_pids "$dir"); do
                kill -KILL "$pid" 2>/dev/null || true
                _ctrd_wait_gone "$pid" 30 || true
        done
        if [ -n "$ns" ]; then
                _ctrd_clean_cgroups "$ns"
                # OCI runtime state: /run/containerd/<runtime basename>/<ns> (runc shim: runc; berth: runc,
                # crun, or the basename of a BERTH_OCI_RUNTIME path).
                local rootdir
                for rootdir in /run/containerd/*/"$ns"; do
                        [ -d "$rootdir" ] || continue
                        rm -rf "$rootdir"
                        [ "${rootdir%/*}" = /run/containerd/runc ] || rmdir "${rootdir%/*}" 2>/dev/null || true
                done
                if [ -s "$dir/ids" ]; then
                        while read -r id; do
                                ctrd_forget "$dir" "$id"
                        done <"$dir/ids"
                fi
        fi
        _ctrd_unmount_under "$dir"
        rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        set -euo pipefail
        cmd=${1:-}
        [ $# -ge 2 ] || { sed -n '5,10p' "$0" >&2; exit 2; }
        shift
        case "$cmd" in
        start) ctrd_start "$@" ;;
        stop) ctrd_stop "$1" ;;
        cleanup) ctrd_cleanup "$1" ;;
        ctr) ctrd_ctr "$@" ;;
        *) sed -n '5,10p' "$0" >&2; exit 2 ;;
        esac
fi
