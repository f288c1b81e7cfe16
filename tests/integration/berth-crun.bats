#!/usr/bin/env bats
# berthd with --oci-runtime crun: containers run, exec, stop and go, and crun runs from berthd's sealed copy of it
# (src/basic/sealed-exe.h): no per-call self-copy by crun. Skipped when crun cannot create containers here (the
# hybrid cgroup layout needs the v1 hugetlb mount that scripts/crun-usable.sh makes and undoes).

bats_require_minimum_version 1.5.0
load berthd-helpers

BERTH=$BERTH_BUILD/berth
IMG=berth/busybox

setup_file() {
        berthd_suite_setup
        # shellcheck source=../../scripts/crun-usable.sh
        source "$BERTH_ROOT/scripts/crun-usable.sh"
        export BERTH_HUGETLB_OWNER=$$
        if ! crun_hugetlb_setup 2>"$BERTHD_TEST_DIR/crun-setup.err"; then
                export CRUN_SKIP="crun cannot create containers here: $(tr '\n' ' ' <"$BERTHD_TEST_DIR/crun-setup.err")"
                return 0
        fi
        berth_suite_setup main --oci-runtime crun
}

teardown_file() {
        berth_suite_teardown
        # shellcheck source=../../scripts/crun-usable.sh
        source "$BERTH_ROOT/scripts/crun-usable.sh"
        crun_hugetlb_teardown || true
}

setup() {
        [ -z "${CRUN_SKIP:-}" ] || skip "$CRUN_SKIP"
}

berth() { timeout -s KILL 60 "$BERTH" "$@"; }

@test "crun: run --rm, exit codes, a detached container with exec and stop" {
        run berth run --rm "$IMG" sh -c 'echo hi; exit 3'
        [ "$status" -eq 3 ]
        [ "$output" = hi ]
        berth run -d --name c1 "$IMG" sleep 1000
        run berth exec c1 cat /proc/1/cmdline
        [ "$status" -eq 0 ]
        [[ "$output" == sleep* ]]
        berth stop -t 1 c1
        berth rm c1
        run berth ps -aq
        [ -z "$output" ]
}

@test "crun runs from berthd's sealed copy: the shim holds it, the log says it was made" {
        grep -q "OCI runtime $(command -v crun): sealed copy made" "$(berthd_dir main)/berthd.log"
        berth run -d --name c2 "$IMG" sleep 1000
        local shim
        shim=$(ps -eo pid=,args= | awk -v a="$BERTH_ADDRESS" '$2 ~ /containerd-shim-berth-v2/ && index($0, "-address " a) &&
                / -id c2( |$)/ { print $1 }')
        [ -n "$shim" ]
        # The shim keeps berthd's sealed copy open (close-on-exec) and executes crun from it.
        run sh -c "ls -l /proc/$shim/fd | grep -c 'memfd:berth-sealed-runtime'"
        [ "$output" -ge 1 ]
        run berth exec c2 echo via-sealed-crun
        [ "$status" -eq 0 ]
        [ "$output" = via-sealed-crun ]
        berth rm -f c2
}
