# Shared by the bats files in this directory: private containerd instances, the test image, the
# runtime under test, and small waits. Load with `load helpers`.
#
#   BERTH_TEST_RUNTIME   runtime name under test (default io.containerd.berth.v2). Set it to
#                        io.containerd.runc.v2 to run the same cases against containerd's own shim
#                        as a control (not done in CI: it doubles the time).
#   CTR_TIMEOUT          seconds any single ctr call may take (default 30), so a hung shim fails a test
#                        instead of hanging the suite.

BERTH_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export BERTH_ROOT
export BERTH_BUILD=${BERTH_BUILD:-$BERTH_ROOT/build}
# shellcheck source=../../scripts/containerd-private.sh
source "$BERTH_ROOT/scripts/containerd-private.sh"
# shellcheck source=../../scripts/crun-usable.sh
source "$BERTH_ROOT/scripts/crun-usable.sh"

RUNTIME=${BERTH_TEST_RUNTIME:-io.containerd.berth.v2}
IMG=docker.io/berth/busybox:latest
CTR_TIMEOUT=${CTR_TIMEOUT:-30}

control_mode() { [ "$RUNTIME" = io.containerd.runc.v2 ]; }

# Per-file setup: a work dir (exported as SUITE_DIR) and the image. Call from setup_file.
suite_setup() {
        SUITE_DIR=$(mktemp -d /tmp/berth-it.XXXXXX)
        export SUITE_DIR
        # The owner of our hugetlb reference must outlive the tests: the bats file process.
        export BERTH_HUGETLB_OWNER=$$
        "$BERTH_ROOT/scripts/build-image.sh" "$BERTH_BUILD/images/busybox.tar" >/dev/null
        if ! control_mode; then
                local shim="$BERTH_BUILD/containerd-shim-${RUNTIME#io.containerd.}"
                shim=${shim%.v2}-v2
                [ -x "$shim" ] || { echo "# shim $shim not built" >&3; return 1; }
        fi
}

# Per-file teardown: every instance cleaned, the hugetlb mount (if we made it) undone.
suite_teardown() {
        [ -n "${SUITE_DIR:-}" ] && [ -d "$SUITE_DIR" ] || return 0
        local d logs=$BERTH_BUILD/test-logs
        mkdir -p "$logs"
        for d in "$SUITE_DIR"/ctrd-*; do
                [ -d "$d" ] || continue
                # containerd's log holds the shims' stderr too (the bundle's log FIFO): keep it.
                cp "$d/containerd.log" "$logs/$(basename "$BATS_TEST_FILENAME" .bats)-${d##*/ctrd-}.containerd.log" 2>/dev/null
                ctrd_cleanup "$d"
        done
        crun_hugetlb_teardown || true
        rm -rf "$SUITE_DIR"
}

# The directory of the instance NAME, started on first use with the given env (later calls ignore
# it). Prints the directory.
instance() {
        local name=$1
        shift
        local dir=$SUITE_DIR/ctrd-$name
        if ! _ctrd_alive "$(ctrd_pid "$dir")"; then
                ctrd_start "$dir" "$@" >/dev/null || return 1
                ctr --address "$dir/containerd.sock" --namespace "$(ctrd_ns "$dir")" \
                        images import "$BERTH_BUILD/images/busybox.tar" >/dev/null || return 1
        fi
        echo "$dir"
}

# Sets D (the instance) and FLAGS (for `ctr run`) for OCI runtime $1 (runc or crun); skips the test
# when crun cannot work here. With our shim the choice travels as BERTH_OCI_RUNTIME in containerd's
# env; in control mode as --runc-binary. Call directly, not in $(...), so that skip works.
use_oci() {
        local oci=$1
        if [ "$oci" = crun ]; then need_crun; fi
        if control_mode; then
                D=$(instance "$oci")
        else
                D=$(instance "$oci" BERTH_OCI_RUNTIME="$oci")
        fi
        FLAGS=$(run_flags "$oci")
        OCI=$oci
}

# Skips the test unless crun can be made usable (mounting a v1 hugetlb hierarchy if needed).
need_crun() {
        [ -e "$SUITE_DIR/crun-ok" ] && return 0
        if crun_hugetlb_setup 2>"$SUITE_DIR/crun-setup.err"; then
                touch "$SUITE_DIR/crun-ok"
                return 0
        fi
        skip "crun cannot create containers here: $(tr '\n' ' ' <"$SUITE_DIR/crun-setup.err")"
}

# Flags for `ctr run` selecting the runtime under test and, in control mode, the OCI runtime.
run_flags() {
        local oci=$1
        if control_mode; then
                echo "--runtime $RUNTIME --runc-binary $oci"
        else
                echo "--runtime $RUNTIME"
        fi
}

# ctr against instance DIR, bounded in time.
c() {
        local dir=$1
        shift
        timeout "$CTR_TIMEOUT" ctr --address "$dir/containerd.sock" --namespace "$(ctrd_ns "$dir")" "$@"
}

# A fresh container id in instance DIR; the test's teardown removes it whatever happened.
new_id() {
        local dir=$1 id
        id=$(ctrd_new_id "$dir" "${2:-c}")
        echo "$dir $id" >>"$SUITE_DIR/test-ids"
        echo "$id"
}

# Call from teardown(): force-remove the containers this test made, stop its event readers.
test_cleanup() {
        local dir id
        if [ -s "$SUITE_DIR/test-ids" ]; then
                while read -r dir id; do
                        _ctrd_alive "$(ctrd_pid "$dir")" || continue
                        c "$dir" task rm -f "$id" >/dev/null 2>&1 || true
                        c "$dir" containers rm "$id" >/dev/null 2>&1 || true
                done <"$SUITE_DIR/test-ids"
        fi
        : >"$SUITE_DIR/test-ids"
        for dir in "$SUITE_DIR"/ctrd-*; do
                [ -d "$dir" ] && ctrd_events_stop "$dir"
        done
        return 0
}

# Status and pid of task ID as `ctr task ls` shows them ("RUNNING 1234"), empty when not listed.
task_state() {
        c "$1" task ls | awk -v id="$2" '$1 == id { print $3, $2 }'
}

# Waits until `cmd...` succeeds; $1 = tenths of a second.
wait_until() {
        local n=$1
        shift
        while ! "$@"; do
                [ "$n" -gt 0 ] || return 1
                sleep 0.1
                n=$((n - 1))
        done
}

task_status_is() { [ "$(task_state "$1" "$2" | cut -d' ' -f1)" = "$3" ]; }
file_has() { grep -qE -- "$2" "$1"; }

# Which OCI runtime holds container ID: runc keeps <root>/<id>/state.json, crun <root>/<id>/status.
# Any root under /run qualifies, so this does not depend on where the shim points --root.
oci_of() {
        local id=$1 d
        while read -r d; do
                if [ -e "$d/state.json" ]; then echo runc; return; fi
                if [ -e "$d/status" ]; then echo crun; return; fi
        done < <(find /run -maxdepth 6 -type d -name "$id" -not -path '/run/containerd/fifo/*' 2>/dev/null)
        echo unknown
}

# Alive and not a zombie.
proc_alive() { _ctrd_alive "$1"; }

# Mount points at or under PATH.
mounts_under() {
        awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

parent_of() { awk '{ print $4 }' "/proc/$1/stat"; }
gone() { ! proc_alive "$1"; }
