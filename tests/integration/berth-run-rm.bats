#!/usr/bin/env bats
# `berth run --rm` answers at the container's exit while the removal goes on in berthd (the runtime's delete, the
# unmount, the shim's exit, snapshot and record). These tests hold that removal open with a gate: berthd runs an OCI
# runtime wrapper whose `delete` waits while a gate file exists. Checked: the exit comes back at once and the
# container is gone from ps/inspect; a run of the same name waits for the removal and then works; `rm -f` of a
# --rm container answers after its removal; a stop signal lets pending removals finish first; after a SIGKILL in
# the middle, the next start finishes the removal. Everything ends with nothing left: no mounts, shims, task dirs.

bats_require_minimum_version 1.5.0
load berthd-helpers

BERTH=$BERTH_BUILD/berth
IMG=berth/busybox

setup_file() {
        berthd_suite_setup
        export GATE=$BERTHD_TEST_DIR/gate
        export RUNTIME=$BERTHD_TEST_DIR/gated-runc
        local real
        real=$(command -v runc)
        cat >"$RUNTIME" <<EOF
#!/bin/sh
# runc whose delete waits while $GATE exists (at most 30 s)
for a in "\$@"; do
        if [ "\$a" = delete ]; then
                n=0
                while [ -e "$GATE" ] && [ \$n -lt 600 ]; do sleep 0.05; n=\$((n + 1)); done
                break
        fi
done
exec "$real" "\$@"
EOF
        chmod +x "$RUNTIME"
        berth_suite_setup main --oci-runtime "$RUNTIME"
}

teardown_file() {
        rm -f "$GATE"
        berth_suite_teardown
        local pid
        for pid in $(shim_pids); do kill -9 "$pid" 2>/dev/null; done
}

teardown() {
        rm -f "$GATE"
}

berth() { timeout -s KILL 60 "$BERTH" "$@"; }

shim_pids() {
        ps -eo pid=,args= | awk -v a="$BERTH_ADDRESS" '$2 ~ /containerd-shim/ && index($0, "-address " a) { print $1 }'
}

mounts_left() { grep -c " $BERTHD_TEST_DIR/" /proc/self/mountinfo || true; }
tasks_left() { find "$BERTHD_TEST_DIR/main/state/tasks" -mindepth 2 -maxdepth 2 2>/dev/null | wc -l; }

# Polls (0.1 s apart, up to 10 s) until nothing of any container is left: no task dir, mount or shim, and ps -a
# empty.
wait_nothing_left() {
        local i
        for i in $(seq 1 100); do
                if [ "$(tasks_left)" = 0 ] && [ "$(mounts_left)" = 0 ] && [ -z "$(shim_pids)" ] &&
                        [ -z "$(berth ps -aq)" ]; then
                        return 0
                fi
                sleep 0.1
        done
        echo "# left: tasks $(tasks_left), mounts $(mounts_left), shims '$(shim_pids)', ps '$(berth ps -aq)'" >&3
        return 1
}

@test "run --rm answers at the exit; the container is gone from ps and inspect while its removal goes on" {
        touch "$GATE"
        run berth run --rm --name r1 "$IMG" sh -c 'echo out; exit 5'
        [ "$status" -eq 5 ]
        [ "$output" = out ]
        # The runtime's delete is still held: the removal is under way ...
        [ "$(tasks_left)" = 1 ]
        # ... and the container is not berth's any more.
        run berth ps -aq
        [ -z "$output" ]
        run berth inspect r1
        [ "$status" -ne 0 ]
        [[ "$output" == *"No such container"* || "$output" == *"not found"* ]]
        rm -f "$GATE"
        wait_nothing_left
}

@test "a run of the same name waits for the removal, then runs" {
        touch "$GATE"
        run berth run --rm --name r2 "$IMG" echo first
        [ "$status" -eq 0 ]
        [ "$output" = first ]
        local out=$BERTHD_TEST_DIR/second.out
        echo hello | berth run --rm -i --name r2 "$IMG" sh -c 'cat; exit 4' >"$out" 2>&1 &
        local pid=$!
        sleep 1
        # still waiting for the name
        kill -0 "$pid"
        rm -f "$GATE"
        local rc=0
        wait "$pid" || rc=$?
        [ "$rc" -eq 4 ]
        [ "$(cat "$out")" = hello ]
        wait_nothing_left
}

@test "rm -f of a running --rm container answers once it is removed" {
        berth run -d --rm --name r3 "$IMG" sleep 1000
        touch "$GATE"
        berth rm -f r3 &
        local pid=$!
        sleep 1
        kill -0 "$pid"
        rm -f "$GATE"
        wait "$pid"
        [ "$(tasks_left)" = 0 ]
        wait_nothing_left
}

@test "SIGTERM lets pending removals finish before berthd exits" {
        touch "$GATE"
        run berth run --rm --name r4 "$IMG" true
        [ "$status" -eq 0 ]
        local pid
        pid=$(berthd_pid main)
        kill -TERM "$pid"
        sleep 1
        # still draining
        kill -0 "$pid"
        rm -f "$GATE"
        local i
        for i in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        ! kill -0 "$pid" 2>/dev/null
        rm -f "$(berthd_dir main)/pid"
        [ "$(tasks_left)" = 0 ]
        [ "$(mounts_left)" = 0 ]
        [ -z "$(shim_pids)" ]
        berthd_start main --oci-runtime "$RUNTIME"
        wait_nothing_left
}

@test "berthd SIGKILLed during a removal: the next start finishes it" {
        touch "$GATE"
        run berth run --rm --name r5 "$IMG" sh -c 'exit 6'
        [ "$status" -eq 6 ]
        berthd_stop main KILL || true
        rm -f "$GATE"
        berthd_start main --oci-runtime "$RUNTIME"
        wait_nothing_left
        # the name is free again
        run berth run --rm --name r5 "$IMG" echo again
        [ "$status" -eq 0 ]
        [ "$output" = again ]
        wait_nothing_left
}
