#!/usr/bin/env bats
# More of the shim under real containerd 1.6: grouped shims, Update, file:// and binary:// IO, stdin and CloseIO,
# checkpoint, and events forwarded after containerd restarts. runc is the OCI runtime (the shim's choice is
# covered in shim-containerd.bats).

load helpers

setup_file() {
        suite_setup
        control_mode && skip "berth-specific checks"
        SHIM_CALL=$BERTH_BUILD/tools/shim-call
        [ -x "$SHIM_CALL" ] || { echo "# $SHIM_CALL not built" >&3; return 1; }
        export SHIM_CALL
}
teardown_file() { suite_teardown; }
setup() {
        : >"$SUITE_DIR/test-ids"
        use_oci runc
}
teardown() { test_cleanup; }

shim_socket_of() { local a; a=$(cat "$(ctrd_bundle "$D" "$1")/address") && echo "${a#unix://}"; }

@test "grouped containers share one shim, which outlives the first and exits after the last" {
        local a b pa pb shim sock
        a=$(new_id "$D" grpa)
        b=$(new_id "$D" grpb)
        c "$D" run -d $FLAGS --label io.containerd.runc.v2.group=g-$a "$IMG" "$a" sleep 1000
        c "$D" run -d $FLAGS --label io.containerd.runc.v2.group=g-$a "$IMG" "$b" sleep 1000
        wait_until 50 task_status_is "$D" "$a" RUNNING
        wait_until 50 task_status_is "$D" "$b" RUNNING
        [ "$(shim_socket_of "$a")" = "$(shim_socket_of "$b")" ]
        sock=$(shim_socket_of "$a")
        pa=$(task_state "$D" "$a" | cut -d' ' -f2)
        pb=$(task_state "$D" "$b" | cut -d' ' -f2)
        shim=$(parent_of "$pa")
        [ "$(parent_of "$pb")" = "$shim" ]
        # Connect answers per container on the shared socket
        run "$SHIM_CALL" "$sock" connect "$b"
        [ "$status" -eq 0 ]
        [ "${lines[1]}" = "task_pid $pb" ]

        c "$D" task kill -s KILL "$a"
        wait_until 50 task_status_is "$D" "$a" STOPPED
        c "$D" task rm "$a"
        c "$D" containers rm "$a"
        # containerd sent Shutdown after the delete; the shim keeps serving b
        proc_alive "$shim"
        [ "$(task_state "$D" "$b")" = "RUNNING $pb" ]
        run c "$D" task exec --exec-id e1 "$b" echo still grouped
        [ "$output" = "still grouped" ]

        c "$D" task kill -s KILL "$b"
        wait_until 50 task_status_is "$D" "$b" STOPPED
        c "$D" task rm "$b"
        c "$D" containers rm "$b"
        wait_until 50 gone "$shim"
        [ ! -e "$sock" ]
}

@test "Update changes the container's cgroup limits; bad resources are refused" {
        local id sock pid cg
        id=$(new_id "$D" upd)
        c "$D" run -d $FLAGS "$IMG" "$id" sleep 1000
        wait_until 50 task_status_is "$D" "$id" RUNNING
        sock=$(shim_socket_of "$id")
        pid=$(task_state "$D" "$id" | cut -d' ' -f2)
        cg=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")
        run "$SHIM_CALL" "$sock" update "$id" '{"memory":{"limit":67108864}}'
        [ "$status" -eq 0 ]
        [ "$(cat "$cg/memory.limit_in_bytes")" = 67108864 ]
        run "$SHIM_CALL" "$sock" update "$id" 'not json'
        [ "$status" -eq 1 ]
        [[ "$output" == "error 3: "* ]]
        [ "$(cat "$cg/memory.limit_in_bytes")" = 67108864 ]
        run "$SHIM_CALL" "$sock" state "$id" nosuchexec
        [ "$output" = "error 5: process does not exist nosuchexec: not found" ]
        run "$SHIM_CALL" "$sock" state "$id"
        [ "${lines[2]}" = "status 2" ]
        # not exited: Go's zero time, which containerd expects
        [ "${lines[4]}" = "exited_at -62135596800" ]
}

@test "file:// log URI gets stdout and stderr" {
        local id log=$SUITE_DIR/logs/$BATS_TEST_NUMBER/out.log
        id=$(new_id "$D" file)
        run c "$D" run --rm $FLAGS --log-uri "file://$log" "$IMG" "$id" sh -c 'echo to-out; echo to-err >&2'
        [ "$status" -eq 0 ]
        [ "$(sort "$log")" = "$(printf 'to-err\nto-out')" ]
}

@test "binary:// logger gets the output on fd 3 and 4, its arguments, and only the documented environment" {
        local id dir=$SUITE_DIR/logger-$BATS_TEST_NUMBER
        mkdir -p "$dir"
        cat >"$dir/logger.sh" <<SH
#!/bin/sh
echo "\$@" >"$dir/args"
env | sort >"$dir/env"
exec 5>&-
cat <&3 >"$dir/stdout" &
cat <&4 >"$dir/stderr"
wait
SH
        chmod +x "$dir/logger.sh"
        id=$(new_id "$D" bin)
        run c "$D" run --rm $FLAGS --log-uri "binary://$dir/logger.sh?mode=test" "$IMG" "$id" \
                sh -c 'echo out-line; echo err-line >&2'
        [ "$status" -eq 0 ]
        wait_until 50 test -s "$dir/stderr"
        [ "$(cat "$dir/stdout")" = out-line ]
        [ "$(cat "$dir/stderr")" = err-line ]
        [ "$(cat "$dir/args")" = "mode test" ]
        grep -qx "CONTAINER_ID=$id" "$dir/env"
        grep -qx "CONTAINER_NAMESPACE=$(ctrd_ns "$D")" "$dir/env"
}

@test "exec with stdin: input reaches the process and its EOF (CloseIO) ends it" {
        local id
        id=$(new_id "$D" stdin)
        c "$D" run -d $FLAGS "$IMG" "$id" sleep 1000
        wait_until 50 task_status_is "$D" "$id" RUNNING
        run bash -c "printf 'line one\nline two\n' | timeout 20 ctr --address '$D/containerd.sock' \
                --namespace '$(ctrd_ns "$D")' task exec --exec-id in1 '$id' wc -l"
        [ "$status" -eq 0 ]
        [ "$(echo $output)" = 2 ]
}

@test "checkpoint either works or fails cleanly, and the container keeps running" {
        local id pid
        id=$(new_id "$D" ckpt)
        c "$D" run -d $FLAGS "$IMG" "$id" sleep 1000
        wait_until 50 task_status_is "$D" "$id" RUNNING
        pid=$(task_state "$D" "$id" | cut -d' ' -f2)
        run c "$D" task checkpoint "$id"
        if [ "$status" -ne 0 ]; then
                # this host's criu cannot dump (its vdso check fails): the error must say so
                [[ "$output" == *"checkpoint is not available on this host: criu check fails"* ]]
        fi
        [ "$(task_state "$D" "$id")" = "RUNNING $pid" ]
}

@test "after containerd restarts, the shim's events reach the new containerd" {
        local id ev=$SUITE_DIR/events-restart
        id=$(new_id "$D" evr)
        c "$D" run -d $FLAGS "$IMG" "$id" sleep 1000
        wait_until 50 task_status_is "$D" "$id" RUNNING
        ctrd_kill9 "$D"
        ctrd_start "$D" >/dev/null
        ctrd_events_start "$D" "$ev"
        sleep 0.3
        c "$D" task pause "$id"
        c "$D" task resume "$id"
        c "$D" task kill -s KILL "$id"
        wait_until 100 file_has "$ev" "/tasks/exit .*\"container_id\":\"$id\""
        file_has "$ev" "/tasks/paused .*\"container_id\":\"$id\""
        file_has "$ev" "/tasks/resumed .*\"container_id\":\"$id\""
        c "$D" task rm "$id"
        wait_until 100 file_has "$ev" "/tasks/delete .*\"container_id\":\"$id\""
        c "$D" containers rm "$id"
}
