#!/usr/bin/env bats
# berthd's Tasks service and task manager driven by Debian's ctr: run/exec/ps/pause/metrics/kill/rm through our shim
# (io.containerd.berth.v2) and containerd's own (io.containerd.runc.v2), dead shims, and a berthd SIGKILL with
# detached containers running (one exiting meanwhile) followed by a restart.

load berthd-helpers

IMAGE=docker.io/berth/busybox:latest
IMAGE_TAR=${IMAGE_TAR:-$BERTH_ROOT/build/images/busybox.tar}

setup_file() {
        berthd_suite_setup
        [ -f "$IMAGE_TAR" ] || bash "$BERTH_ROOT/scripts/build-image.sh" "$IMAGE_TAR" >/dev/null
        # Our own namespace: runc state (/run/containerd/runc/<ns>) and cgroups (/<ns>/<id>) are ours alone.
        export TNS=t3-$$
        berthd_start a
        bctr a -n "$TNS" images import "$IMAGE_TAR" >/dev/null
}

teardown_file() {
        local sock id pid
        sock=$(berthd_sock a)
        if [ -S "$sock" ]; then
                for id in $(bctr a -n "$TNS" task ls -q 2>/dev/null); do
                        bctr a -n "$TNS" task kill -s 9 "$id" >/dev/null 2>&1
                done
                sleep 0.3
                for id in $(bctr a -n "$TNS" task ls -q 2>/dev/null); do
                        bctr a -n "$TNS" task rm -f "$id" >/dev/null 2>&1
                done
                for id in $(bctr a -n "$TNS" c ls -q 2>/dev/null); do
                        bctr a -n "$TNS" c rm "$id" >/dev/null 2>&1
                done
        fi
        # Anything a failed test left behind: shims of this instance, by pid.
        for pid in $(shim_pids); do
                kill -9 "$pid" 2>/dev/null
        done
        berthd_suite_teardown
        # The namespace-level cgroups and runc state dir that runc leaves (as under containerd); empty by now.
        local d
        for d in /sys/fs/cgroup/*/"$TNS" /sys/fs/cgroup/unified/"$TNS"; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rmdir /run/containerd/*/"$TNS" 2>/dev/null || true
        # ctr's FIFOs (/run/containerd/fifo/<n>/<id>-std*) of the tasks whose shim was killed: with no ctr left to
        # delete them and berthd cleaning up the dead task itself, nothing else removes them (as under containerd).
        local id f
        for id in dead1 dead2 gone1; do
                for f in /run/containerd/fifo/*/"$id"-std{in,out,err}; do
                        [ -p "$f" ] || continue
                        rm -f "$f"
                        rmdir "${f%/*}" 2>/dev/null || true
                done
        done
}

c() { bctr a -n "$TNS" "$@"; }

# Shim servers started for this berthd (they carry its socket as -address).
shim_pids() {
        ps -eo pid=,args= | awk -v a="$(berthd_sock a)" '$2 ~ /containerd-shim/ && index($0, "-address " a) { print $1 }'
}

shim_pid_of() {
        ps -eo pid=,args= | awk -v a="$(berthd_sock a)" -v id="$1" \
                '$2 ~ /containerd-shim/ && index($0, "-address " a) && index($0, "-id " id " ") { print $1 }'
}

@test "ctr run --rm prints and exits with the container's code (berth and runc shims)" {
        run c run --rm --runtime io.containerd.berth.v2 "$IMAGE" r1 echo hi
        [ "$status" -eq 0 ]
        [ "$output" = hi ]
        run c run --rm "$IMAGE" r2 echo hi-runc
        [ "$status" -eq 0 ]
        [ "$output" = hi-runc ]
        run c run --rm --runtime io.containerd.berth.v2 "$IMAGE" r3 sh -c 'exit 3'
        [ "$status" -eq 3 ]
        run c run --rm --runtime io.containerd.runc.v2 "$IMAGE" r4 sh -c 'exit 5'
        [ "$status" -eq 5 ]
        run c task ls -q
        [ -z "$output" ]
        [ -z "$(ls "$(berthd_dir a)/state/tasks/$TNS" 2>/dev/null)" ]
}

@test "detached task: exec, ps, pause/resume, metrics, kill, rm" {
        local rt id
        for rt in io.containerd.berth.v2 io.containerd.runc.v2; do
                id=det-${rt//./-}
                run c run -d --runtime "$rt" "$IMAGE" "$id" sleep 1000
                [ "$status" -eq 0 ]
                run c task ls
                echo "$output" | grep -E "^$id +[0-9]+ +RUNNING"
                run c task exec --exec-id e1 "$id" ls /
                [ "$status" -eq 0 ]
                [[ "$output" == *bin*etc*proc* ]]
                run c task exec --exec-id e2 "$id" sh -c 'exit 4'
                [ "$status" -eq 4 ]
                run c task ps "$id"
                [ "$status" -eq 0 ]
                [ "${#lines[@]}" -ge 2 ]
                c task pause "$id"
                run c task ls
                echo "$output" | grep -E "^$id +[0-9]+ +PAUSED"
                c task resume "$id"
                run c task ls
                echo "$output" | grep -E "^$id +[0-9]+ +RUNNING"
                run c task metrics "$id"
                [ "$status" -eq 0 ]
                [[ "$output" == *"$id"* && "$output" == *memory.usage_in_bytes* ]]
                c task kill -s KILL "$id"
                for _ in $(seq 50); do
                        c task ls | grep -qE "^$id +[0-9]+ +STOPPED" && break
                        sleep 0.1
                done
                c task ls | grep -E "^$id +[0-9]+ +STOPPED"
                run c task rm "$id"
                [ "$status" -eq 0 ]
                [[ "$output" == *"exit code 137"* ]]
                c c rm "$id"
                [ -z "$(shim_pid_of "$id")" ]
        done
        [ -z "$(grep " $(berthd_dir a)/state/tasks/" /proc/mounts)" ]
}

@test "errors: unknown runtime, duplicate task, missing task" {
        run c run --rm --runtime io.containerd.nosuch.v2 "$IMAGE" bad1 true
        [ "$status" -ne 0 ]
        [[ "$output" == *'runtime "io.containerd.nosuch.v2" binary not installed "containerd-shim-nosuch-v2"'* ]]
        [ ! -e "$(berthd_dir a)/state/tasks/$TNS/bad1" ]
        # ctr run removed the container record itself after the failure.
        run c c ls -q
        [[ "$output" != *bad1* ]]

        c run -d --runtime io.containerd.berth.v2 "$IMAGE" dup1 sleep 1000
        run c task start dup1
        [ "$status" -ne 0 ]
        [[ "$output" == *"task dup1: already exists"* ]]
        c task kill -s KILL dup1
        sleep 0.3
        c task rm dup1
        c c rm dup1

        c c create "$IMAGE" notask true
        run c task kill notask
        [ "$status" -ne 0 ]
        [[ "$output" == *"task notask not found"* ]]
        c c rm notask
}

@test "a shim killed from outside: exit 137 published, task gone" {
        c run -d --runtime io.containerd.runc.v2 "$IMAGE" dead1 sleep 1000
        c run -d --runtime io.containerd.berth.v2 "$IMAGE" dead2 sleep 1000
        local events=$BERTHD_TEST_DIR/events.txt
        bctr a -n "$TNS" events >"$events" 2>&1 &
        local evpid=$!
        sleep 0.3
        kill -9 "$(shim_pid_of dead1)" "$(shim_pid_of dead2)"
        for _ in $(seq 50); do
                [ "$(grep -c /tasks/delete "$events")" -ge 2 ] && break
                sleep 0.1
        done
        kill "$evpid"
        wait "$evpid" || true
        grep -E '/tasks/exit .*"container_id":"dead1".*"exit_status":137' "$events"
        grep -E '/tasks/exit .*"container_id":"dead2".*"exit_status":137' "$events"
        run c task ls -q
        [[ "$output" != *dead* ]]
        [ ! -e "$(berthd_dir a)/state/tasks/$TNS/dead1" ]
        c c rm dead1 dead2
}

@test "berthd SIGKILLed with detached tasks, one exiting meanwhile: restart reconnects and reports real exits" {
        c run -d --runtime io.containerd.berth.v2 "$IMAGE" live1 sleep 1000
        c run -d --runtime io.containerd.runc.v2 "$IMAGE" live2 sleep 1000
        c run -d --runtime io.containerd.berth.v2 "$IMAGE" exit7 sh -c 'sleep 2; exit 7'
        c run -d --runtime io.containerd.runc.v2 "$IMAGE" exit9 sh -c 'sleep 2; exit 9'
        berthd_stop a KILL || true
        sleep 3
        [ -n "$(shim_pid_of live1)" ] && [ -n "$(shim_pid_of live2)" ]
        berthd_start a
        run c task ls
        echo "$output" | grep -E "^live1 +[0-9]+ +RUNNING"
        echo "$output" | grep -E "^live2 +[0-9]+ +RUNNING"
        echo "$output" | grep -E "^exit7 +[0-9]+ +STOPPED"
        echo "$output" | grep -E "^exit9 +[0-9]+ +STOPPED"
        grep -q 'task '"$TNS"'/exit7 exited while berthd was down (status 7)' "$(berthd_dir a)/berthd.log"
        run c task rm exit7
        [[ "$output" == *"exit code 7"* ]]
        run c task rm exit9
        [[ "$output" == *"exit code 9"* ]]

        # Still fully driven after the restart.
        run c task exec --exec-id after live1 echo still-here
        [ "$output" = still-here ]
        c task kill -s KILL live1
        c task kill -s KILL live2
        sleep 0.5
        c task rm live1
        c task rm live2
        c c rm live1 live2 exit7 exit9
        # Shims exit right after answering Shutdown.
        for _ in $(seq 30); do
                [ -z "$(shim_pids)" ] && break
                sleep 0.1
        done
        [ -z "$(shim_pids)" ]
        [ -z "$(grep " $(berthd_dir a)/state/tasks/" /proc/mounts)" ]
        [ -z "$(ls "$(berthd_dir a)/state/tasks/$TNS" 2>/dev/null)" ]
}

@test "restart with a shim that died while berthd was down: cleaned up" {
        c run -d --runtime io.containerd.berth.v2 "$IMAGE" gone1 sleep 1000
        berthd_stop a KILL || true
        kill -9 "$(shim_pid_of gone1)"
        sleep 0.3
        berthd_start a
        run c task ls -q
        [[ "$output" != *gone1* ]]
        grep -q "task $TNS/gone1: shim gone, cleaned up" "$(berthd_dir a)/berthd.log"
        [ ! -e "$(berthd_dir a)/state/tasks/$TNS/gone1" ]
        c c rm gone1
}

@test "--oci-runtime: a binary that does not exist is refused at start-up" {
        run "$BERTHD" --root "$BERTHD_TEST_DIR/x/root" --state "$BERTHD_TEST_DIR/x/state" --oci-runtime /no/such/runc
        [ "$status" -eq 1 ]
        [[ "$output" == *'/no/such/runc'*'is not an executable in PATH'* ]]
}

@test "--oci-runtime runc: the runc shim gets binary_name runc" {
        berthd_stop a || true
        berthd_start a --oci-runtime runc
        c run -d --runtime io.containerd.runc.v2 "$IMAGE" ocir sleep 1000
        # The runc shim records Options.binary_name in <bundle>/runtime.
        [ "$(cat "$(berthd_dir a)/state/tasks/$TNS/ocir/runtime")" = runc ]
        grep -q 'OCI runtime: runc (configured)' "$(berthd_dir a)/berthd.log"
        c task kill -s KILL ocir
        sleep 0.3
        c task rm ocir
        c c rm ocir
        berthd_stop a || true
        berthd_start a
}
