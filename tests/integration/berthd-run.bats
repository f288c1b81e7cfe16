#!/usr/bin/env bats
# berth.v1.Containers (berth's own run/ps/logs/exec/stop/rm service) and the task + restart monitors, driven by
# tests/tools/grpc-berth-run against a private berthd with the local busybox image imported.

load berthd-helpers
bats_require_minimum_version 1.5.0

IMAGE=docker.io/berth/busybox:latest
IMAGE_TAR=${IMAGE_TAR:-$BERTH_ROOT/build/images/busybox.tar}
RUNTOOL=$BERTH_BUILD/tools/grpc-berth-run

setup_file() {
        berthd_suite_setup
        [ -x "$RUNTOOL" ] || { echo "# $RUNTOOL not built" >&3; return 1; }
        [ -f "$IMAGE_TAR" ] || bash "$BERTH_ROOT/scripts/build-image.sh" "$IMAGE_TAR" >/dev/null
        # berthd finds the shim and berth-logger next to itself or on PATH: this build first.
        export PATH=$BERTH_BUILD:$PATH
        export TNS=t5-$$
        berthd_start a
        bctr a -n "$TNS" images import "$IMAGE_TAR" >/dev/null
}

teardown_file() {
        local sock id pid
        sock=$(berthd_sock a)
        if [ -S "$sock" ]; then
                for id in $(b ps -a 2>/dev/null | awk '{ print $1 }'); do
                        b rm -f "$id" >/dev/null 2>&1
                done
        fi
        for pid in $(shim_pids); do
                kill -9 "$pid" 2>/dev/null
        done
        berthd_suite_teardown
        local d
        for d in /sys/fs/cgroup/*/"$TNS" /sys/fs/cgroup/unified/"$TNS"; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rmdir "/run/containerd/runc/$TNS" "/run/containerd/crun/$TNS" 2>/dev/null || true
}

b() { timeout 60 "$RUNTOOL" -n "$TNS" "$(berthd_sock a)" "$@"; }

shim_pids() {
        ps -eo pid=,args= | awk -v a="$(berthd_sock a)" '$2 ~ /containerd-shim/ && index($0, "-address " a) { print $1 }'
}

# The init pid of a running container, from inspect.
pid_of() { b inspect "$1" | sed -n 's/^pid=//p'; }
field() { b inspect "$1" | sed -n "s/^$2=//p"; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
        local n=$(($1 * 10))
        shift
        while [ "$n" -gt 0 ]; do
                "$@" && return 0
                sleep 0.1
                n=$((n - 1))
        done
        return 1
}

@test "run --rm echo hello: output, exit 0, nothing left" {
        run b run --rm "$IMAGE" echo hello
        [ "$status" -eq 0 ]
        [ "$output" = hello ]
        run b ps -a
        [ -z "$output" ]
        run bctr a -n "$TNS" c ls -q
        [ -z "$output" ]
        run bctr a -n "$TNS" snapshots ls
        [[ "$output" != *ACTIVE* ]]
        [ -z "$(ls "$(berthd_dir a)/root/containers/$TNS" 2>/dev/null)" ]
}

@test "exit codes: 3 propagated, stdout and stderr apart, command not found 127, not executable 126" {
        run --separate-stderr b run --rm "$IMAGE" sh -c 'echo out; echo err >&2; exit 3'
        [ "$status" -eq 3 ]
        [ "$output" = out ]
        [ "$stderr" = err ]
        run -127 b run --rm "$IMAGE" nosuchcommand
        [[ "$output" == *nosuchcommand* ]]
        run b run --rm "$IMAGE" /etc/passwd
        [ "$status" -eq 126 ]
        run b ps -a
        [ -z "$output" ]
}

@test "stdin (-i) reaches the container, and a tty run has a terminal" {
        run b run --rm -i "some input" "$IMAGE" cat
        [ "$status" -eq 0 ]
        [ "$output" = "some input" ]
        run b run --rm -t "$IMAGE" sh -c 'tty; echo "$TERM"'
        [ "$status" -eq 0 ]
        [[ "$output" == */dev/pts/* ]]
        [[ "$output" == *xterm* ]]
}

@test "detached run: list, logs, exec, top, stats, stop -t 2 on a TERM-ignoring container, rm" {
        run b run -d --name web "$IMAGE" sh -c 'trap "" TERM; i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.2; done'
        [ "$status" -eq 0 ]
        [ "$output" = web ]
        run b ps
        [[ "$output" == "web running pid="* ]]
        # The parents of per-container directories carry ext4's top-dir hint (src/basic/topdir.h), where the
        # filesystem takes it: bundles, snapshots, log dirs and the OCI runtime's state dirs.
        local probe="$BERTHD_TEST_DIR/topdir-probe" d
        mkdir "$probe"
        if chattr +T "$probe" 2>/dev/null; then
                for d in "$(berthd_dir a)/state/tasks/$TNS" "$(berthd_dir a)/root/snapshots/overlayfs/snapshots" \
                        "$(berthd_dir a)/root/containers/$TNS" /run/containerd/*/"$TNS"; do
                        echo "lsattr $d: $(lsattr -d "$d")"
                        lsattr -d "$d" | awk '{ exit ($1 ~ /T/) ? 0 : 1 }'
                done
        fi
        rmdir "$probe"
        wait_for 5 sh -c "$RUNTOOL -n $TNS $(berthd_sock a) logs web | grep -q 'line 3'"
        run b logs --tail 1 web
        [ "${#lines[@]}" -eq 1 ]
        [[ "$output" == "line "* ]]
        run b exec web sh -c 'echo in-exec; exit 4'
        [ "$status" -eq 4 ]
        [ "$output" = in-exec ]
        run b exec -i abc web wc -c
        [ "$output" = 3 ]
        run -127 b exec web nosuch
        run b top web
        [[ "$output" == *"trap"* ]]
        run b stats web
        [[ "$output" == *memory_usage=* ]]
        local start=$(date +%s%N)
        run b stop -t 2 web
        [ "$status" -eq 0 ]
        local ms=$((($(date +%s%N) - start) / 1000000))
        echo "stop took $ms ms"
        [ "$ms" -ge 1900 ] && [ "$ms" -lt 4000 ]
        [ "$(field web status)" = exited ]
        [ "$(field web exit_code)" = 137 ]
        # logs stay readable after the exit
        run b logs web
        [[ "$output" == *"line 1"* ]]
        run b rm web
        [ "$status" -eq 0 ]
        run b ps -a
        [ -z "$output" ]
        [ ! -d "$(berthd_dir a)/root/containers/$TNS/web" ]
}

@test "rm of a running container needs force; force kills it first" {
        b run -d --name r1 "$IMAGE" sleep 1000
        run b rm r1
        [ "$status" -ne 0 ]
        [[ "$output" == *FAILED_PRECONDITION* ]]
        run b rm -f r1
        [ "$status" -eq 0 ]
        run b inspect r1
        [[ "$output" == *NOT_FOUND* ]]
}

@test "restart=always: an outside SIGKILL of the init brings it back with a new pid" {
        b run -d --name ra --restart always "$IMAGE" sleep 1000
        local p1
        p1=$(pid_of ra)
        [ -n "$p1" ] && [ "$p1" -gt 0 ]
        kill -9 "$p1"
        wait_for 5 sh -c "[ \"\$($RUNTOOL -n $TNS $(berthd_sock a) inspect ra | sed -n 's/^status=//p')\" = running ] &&
                          [ \"\$($RUNTOOL -n $TNS $(berthd_sock a) inspect ra | sed -n 's/^restart_count=//p')\" = 1 ]"
        local p2
        p2=$(pid_of ra)
        [ -n "$p2" ] && [ "$p2" != "$p1" ]
        [ "$(field ra exit_code)" = 137 ]
        # stop is respected: no restart afterwards
        b stop -t 1 ra
        sleep 1
        [ "$(field ra status)" = exited ]
        [ "$(field ra explicitly_stopped)" = 1 ]
        [ "$(field ra restart_count)" = 1 ]
        b rm ra
}

@test "restart=on-failure:2 restarts exactly twice, then stays exited with code 1" {
        b run -d --name of --restart on-failure:2 "$IMAGE" sh -c 'echo ran; exit 1'
        wait_for 10 sh -c "[ \"\$($RUNTOOL -n $TNS $(berthd_sock a) inspect of | sed -n 's/^restart_count=//p')\" = 2 ] &&
                           [ \"\$($RUNTOOL -n $TNS $(berthd_sock a) inspect of | sed -n 's/^status=//p')\" = exited ]"
        sleep 1.5 # a third run would come within the back-off (400 ms)
        [ "$(field of restart_count)" = 2 ]
        [ "$(field of status)" = exited ]
        [ "$(field of exit_code)" = 1 ]
        run b logs of
        [ "${#lines[@]}" -eq 3 ]
        b rm of
}

@test "duplicate name: AlreadyExists, nothing created; bad input: clear errors" {
        b run -d --name dup "$IMAGE" sleep 1000
        local snaps
        snaps=$(bctr a -n "$TNS" snapshots ls | wc -l)
        run b run -d --name dup "$IMAGE" true
        [ "$status" -eq 125 ]
        [[ "$output" == *ALREADY_EXISTS* ]]
        [ "$(bctr a -n "$TNS" snapshots ls | wc -l)" = "$snaps" ]
        b rm -f dup

        run b run --rm docker.io/library/nosuch:latest true
        [ "$status" -eq 125 ]
        [[ "$output" == *NOT_FOUND* && "$output" == *"berth pull"* ]]
        run b run --rm --name 'bad name!' "$IMAGE" true
        [[ "$output" == *INVALID_ARGUMENT* ]]
        run b run --rm --runtime io.containerd.nosuch.v2 "$IMAGE" true
        [[ "$output" == *'binary not installed'* ]]
        run b run --rm --restart sometimes "$IMAGE" true
        [[ "$output" == *"invalid restart policy"* ]]
        run b run --rm --restart always "$IMAGE" true
        [[ "$output" == *conflicting* ]]
        run b ps -a
        [ -z "$output" ]
        run bctr a -n "$TNS" c ls -q
        [ -z "$output" ]
        run bctr a -n "$TNS" snapshots ls
        [[ "$output" != *ACTIVE* ]]
}

@test "berthd SIGKILL: running containers survive, exits while down are recorded with real codes" {
        b run -d --name k1 "$IMAGE" sleep 1000
        b run -d --name k2 "$IMAGE" sh -c 'sleep 1; exit 7'
        local p1
        p1=$(pid_of k1)
        berthd_stop a KILL || true
        sleep 2
        berthd_start a
        wait_for 5 sh -c "[ \"\$($RUNTOOL -n $TNS $(berthd_sock a) inspect k2 | sed -n 's/^status=//p')\" = exited ]"
        [ "$(field k2 exit_code)" = 7 ]
        [ "$(field k1 status)" = running ]
        [ "$(pid_of k1)" = "$p1" ]
        b stop -t 1 k1
        b rm k1
        b rm k2
        run b ps -a
        [ -z "$output" ]
}
