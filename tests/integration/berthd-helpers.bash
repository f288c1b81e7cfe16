# Starting and stopping private berthd instances for the bats files in this directory. Load with
# `load berthd-helpers`. Every instance lives under $BERTHD_TEST_DIR/<name>/{root,state} with its socket at
# <state>/berthd.sock and its log at <name>/berthd.log; berthd_cleanup_all stops them by PID and removes the dirs.
#
#   BERTH_BUILD   build directory holding berthd and tools/ (default: <repo>/build)

BERTH_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export BERTH_BUILD=${BERTH_BUILD:-$BERTH_ROOT/build}
BERTHD=$BERTH_BUILD/berthd
GRPC_PROBE=$BERTH_BUILD/tools/grpc-probe
CTR_TIMEOUT=${CTR_TIMEOUT:-30}

# Call from setup_file.
berthd_suite_setup() {
        [ -x "$BERTHD" ] || { echo "# $BERTHD not built" >&3; return 1; }
        BERTHD_TEST_DIR=$(mktemp -d /tmp/berthd-it.XXXXXX)
        export BERTHD_TEST_DIR
}

# Call from teardown_file: stops every instance still running, keeps the logs, removes the dirs.
berthd_suite_teardown() {
        [ -n "${BERTHD_TEST_DIR:-}" ] && [ -d "$BERTHD_TEST_DIR" ] || return 0
        local d logs=$BERTH_BUILD/test-logs
        mkdir -p "$logs"
        berthd_stop_all
        for d in "$BERTHD_TEST_DIR"/*/; do
                [ -d "$d" ] || continue
                cp "$d/berthd.log" "$logs/$(basename "$BATS_TEST_FILENAME" .bats)-$(basename "$d").berthd.log" \
                        2>/dev/null || true
        done
        rm -rf "$BERTHD_TEST_DIR"
}

berthd_dir() { echo "$BERTHD_TEST_DIR/$1"; }
berthd_sock() { echo "$BERTHD_TEST_DIR/$1/state/berthd.sock"; }
berthd_pid() { cat "$BERTHD_TEST_DIR/$1/pid" 2>/dev/null; }

# berthd_wait_startup_gc NAME [LINE]: waits (10 s at most) until the instance's start-up garbage collection ran (its
# log from line LINE on, default 1, has the pass's debug line). The pass runs shortly after serving, like containerd's
# (gc startup_delay), and takes whatever no lease or reference holds: a test that writes such content must not race it.
berthd_wait_startup_gc() {
        local log i
        log=$(berthd_dir "$1")/berthd.log
        for i in $(seq 1 200); do
                tail -n +"${2:-1}" "$log" | grep -q 'msg="gc: .* removed in' && return 0
                sleep 0.05
        done
        echo "# no start-up garbage collection in $log" >&3
        return 1
}

# berthd_start NAME [EXTRA ARGS...]: starts an instance in the background with its own root, state and address
# and waits until it answers on its socket and its start-up GC has run. Returns 1 (log on fd 3) if it exits or
# does not come up in 10 s.
berthd_start() {
        local name=$1 dir
        shift
        dir=$(berthd_dir "$name")
        mkdir -p "$dir"
        local first_line=$(($(cat "$dir/berthd.log" 2>/dev/null | wc -l) + 1))
        "$BERTHD" --root "$dir/root" --state "$dir/state" --address "$dir/state/berthd.sock" \
                --log-level debug "$@" >>"$dir/berthd.log" 2>&1 3>&- &
        echo $! >"$dir/pid"
        local i pid=$! sock=$dir/state/berthd.sock
        for i in $(seq 1 200); do
                kill -0 "$pid" 2>/dev/null || break
                if [ -S "$sock" ] && "$GRPC_PROBE" "$sock" health >/dev/null 2>&1; then
                        # Ours answered, not an older instance on the same socket. Its start-up GC comes ~100 ms
                        # later and takes what no lease holds (ctr content/snapshot commands make such things).
                        kill -0 "$pid" 2>/dev/null || break
                        berthd_wait_startup_gc "$name" "$first_line" && return 0
                        break
                fi
                sleep 0.05
        done
        echo "# berthd $name did not come up:" >&3
        sed 's/^/#   /' "$dir/berthd.log" >&3
        return 1
}

# berthd_stop NAME [SIGNAL]: signals the instance (default TERM), waits up to 10 s, then SIGKILLs it. Prints
# nothing; returns berthd's exit status (137 after SIGKILL).
berthd_stop() {
        local name=$1 sig=${2:-TERM} pid i
        pid=$(berthd_pid "$name")
        [ -n "$pid" ] || return 0
        rm -f "$(berthd_dir "$name")/pid"
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
        kill -"$sig" "$pid" 2>/dev/null
        for i in $(seq 1 200); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
}

# Stops every instance of this file (for teardown).
berthd_stop_all() {
        local d
        for d in "$BERTHD_TEST_DIR"/*/; do
                [ -f "$d/pid" ] && berthd_stop "$(basename "$d")"
        done
        return 0
}

# ctr against an instance: bctr NAME ARGS...
bctr() {
        local name=$1
        shift
        timeout "$CTR_TIMEOUT" ctr -a "$(berthd_sock "$name")" "$@"
}

# ---- suites that drive the berth CLI against one private berthd ----

# berth_suite_setup NAME [BERTHD ARGS...] (from setup_file): the suite's directory unless berthd_suite_setup made it
# already, this build first on PATH (berthd finds the shim and berth-logger there), berthd NAME started,
# BERTH_ADDRESS exported for the CLI, and the local busybox image imported (its archive in ARCHIVE).
berth_suite_setup() {
        local name=$1
        shift
        [ -n "${BERTHD_TEST_DIR:-}" ] || berthd_suite_setup || return 1
        [ -x "$BERTH_BUILD/berth" ] || { echo "# $BERTH_BUILD/berth not built" >&3; return 1; }
        export PATH=$BERTH_BUILD:$PATH
        ARCHIVE=$("$BERTH_ROOT/scripts/build-image.sh") || return 1
        export ARCHIVE BERTH_SUITE_DAEMON=$name BERTH_SUITE_ARGS="$*"
        berthd_start "$name" "$@" || return 1
        export BERTH_ADDRESS
        BERTH_ADDRESS=$(berthd_sock "$name")
        "$BERTH_BUILD/berth" image import "$ARCHIVE" >/dev/null
}

# berth_suite_teardown (from teardown_file): removes whatever failed tests left, first starting berthd again if one
# of them killed it (the new one reconnects to the shims), then stops it like berthd_suite_teardown.
berth_suite_teardown() {
        if [ -n "${BERTH_ADDRESS:-}" ]; then
                local ids pid name=${BERTH_SUITE_DAEMON:-main}
                pid=$(berthd_pid "$name")
                # shellcheck disable=SC2086 # the arguments were joined by berth_suite_setup
                { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || berthd_start "$name" $BERTH_SUITE_ARGS || true
                ids=$(timeout -s KILL 30 "$BERTH_BUILD/berth" ps -aq 2>/dev/null)
                # shellcheck disable=SC2086
                [ -n "$ids" ] && timeout -s KILL 60 "$BERTH_BUILD/berth" rm -f $ids >/dev/null 2>&1
        fi
        berthd_suite_teardown
        # The namespace's parent cgroups and OCI runtime roots (/run/containerd/<runtime>/<ns>), which berth (like
        # containerd) leaves behind empty; rmdir takes only empty ones.
        rmdir /sys/fs/cgroup/*/"${BERTH_NAMESPACE:-default}" 2>/dev/null || true
        [ "${BERTH_NAMESPACE:-default}" = default ] || rmdir /run/containerd/*/"$BERTH_NAMESPACE" 2>/dev/null || true
}
