#!/usr/bin/env bats
# The berth CLI's container commands against a private berthd with the local busybox image imported: run (output,
# exit codes, 127 for a missing command, stdin, -it on a pty), run -d, ps (table, json, -a, (Paused)), exec
# (plain and -it), logs (-f, --tail), stop -t on a TERM-ignoring container, kill -s, wait, rm, rm -f, inspect,
# pause/unpause, top, stats --no-stream, events, and berth's own errors (exit 125, nothing left behind).
# berthd finds the shim and berth-logger on PATH: the build directory goes first.

bats_require_minimum_version 1.5.0
load berthd-helpers

BERTH=$BERTH_BUILD/berth
PTY_RUN=$BERTH_ROOT/tests/integration/pty-run.py
IMG=berth/busybox

setup_file() {
        berth_suite_setup main
}

teardown_file() {
        berth_suite_teardown
}

# SIGKILL on timeout: berth forwards SIGTERM to the container (docker's sig-proxy), which may ignore it.
berth() { timeout -s KILL 60 "$BERTH" "$@"; }

# The STATUS column of ps -a for a container.
status_of() { berth ps -a --format json | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["Names"] == sys.argv[1]:
        print(o["Status"])' "$1"; }

# wait_status NAME GLOB [TRIES]: polls ps until the status matches (0.1 s apart).
wait_status() {
        local i s
        for i in $(seq 1 "${3:-50}"); do
                s=$(status_of "$1")
                # shellcheck disable=SC2053
                [[ "$s" == $2 ]] && return 0
                sleep 0.1
        done
        echo "# status of $1: '$s', wanted $2" >&3
        return 1
}

@test "run --rm echo hello; exit codes 0 and 3; stdout and stderr apart" {
        run berth run --rm $IMG echo hello
        [ "$status" -eq 0 ]
        [ "$output" = "hello" ]
        run berth run --rm $IMG sh -c 'exit 3'
        [ "$status" -eq 3 ]
        out=$(berth run --rm $IMG sh -c 'echo to-out; echo to-err >&2' 2>/dev/null)
        [ "$out" = "to-out" ]
        err=$(berth run --rm $IMG sh -c 'echo to-out; echo to-err >&2' 2>&1 >/dev/null)
        [ "$err" = "to-err" ]
        run berth run --rm $IMG sh -c 'sleep 10 & kill -9 $!; wait $!'
        [ "$status" -eq 137 ]
        run berth ps -aq
        [ -z "$output" ]
}

@test "run: command not found -> 127 with the reason, nothing left" {
        run -127 berth run --rm $IMG nosuchcmd
        [[ "$output" == "berth: "*"nosuchcmd"*"not found"* ]]
        run -127 berth run -d --name nf $IMG nosuchcmd
        run berth ps -aq
        [ -z "$output" ]
}

@test "run -i streams stdin (EOF reaches the process); -it on a pty" {
        run bash -c "printf 'a\nb\n' | timeout -s KILL 30 '$BERTH' run -i --rm $IMG sh -c 'cat; echo done'"
        [ "$status" -eq 0 ]
        [ "$output" = "$(printf 'a\nb\ndone')" ]
        run bash -c "seq 1 20000 | timeout -s KILL 30 '$BERTH' run -i --rm $IMG wc -l"
        [ "$status" -eq 0 ]
        [ "$output" = "20000" ]
        run python3 "$PTY_RUN" --timeout 20 --expect '# ' --send 'echo $((6*7))' --expect 42 --send 'exit 6' \
                -- "$BERTH" run -it --rm $IMG sh
        [ "$status" -eq 6 ]
        [[ "$output" == *"42"* ]]
        # the terminal's size reaches the container (sent once it started: give it a moment)
        run python3 "$PTY_RUN" --timeout 20 -- bash -c \
                "stty rows 31 cols 101; exec '$BERTH' run -it --rm $IMG sh -c 'sleep 0.5; stty size'"
        [ "$status" -eq 0 ]
        [[ "$output" == *"31 101"* ]]
}

@test "run -t without -i: the pty is the process's stdin; the window size reaches it; our stdin is not read" {
        # docker's -t alone: stdin, stdout and stderr are the container's terminal, nothing is forwarded to it.
        run python3 "$PTY_RUN" --timeout 20 -- bash -c \
                "stty rows 27 cols 93; exec '$BERTH' run -t --rm $IMG sh -c 'tty; sleep 0.5; stty size; exit 3'"
        [ "$status" -eq 3 ]
        [[ "$output" == *"/dev/pts/0"* ]]
        [[ "$output" == *"27 93"* ]]
        [[ "$output" != *"stty:"* ]]
        # a window change while it runs is sent too (SIGWINCH to berth, as a terminal emulator does)
        run python3 "$PTY_RUN" --timeout 20 -- bash -c \
                "stty rows 27 cols 93; '$BERTH' run -t --rm $IMG sh -c 'sleep 1; stty size' & p=\$!;
                 sleep 0.5; stty rows 40 cols 120; kill -WINCH \$p; wait \$p"
        [ "$status" -eq 0 ]
        [[ "$output" == *"40 120"* ]]
        # not a terminal here: the container still has one; stdin (a pipe with data) is not forwarded
        run bash -c "echo typed | timeout -s KILL 30 '$BERTH' run -t --rm $IMG sh -c 'tty; read -t 1 x; echo \"[\$x]\"'"
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = $'/dev/pts/0\r' ]
        [ "${lines[1]}" = $'[]\r' ]
        run berth ps -aq
        [ -z "$output" ]
}

@test "run -d --name web; ps shows Up; ps --format json; exec; exec exit codes" {
        run berth run -d --name web $IMG sh -c 'while :; do echo tick; sleep 0.2; done'
        [ "$status" -eq 0 ]
        [ "$output" = "web" ]
        wait_status web 'Up *'
        run berth ps
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "CONTAINER ID"*"IMAGE"*"COMMAND"*"CREATED"*"STATUS"*"NAMES" ]]
        [[ "${lines[1]}" == "web "*"berth/busybox"*'"sh -c while :; do e…"'*"ago"*"Up "*"web" ]]
        run berth ps --format json
        [ "$status" -eq 0 ]
        echo "$output" | python3 -c '
import json, sys
o = json.loads(sys.stdin.readline())
assert o["ID"] == "web" and o["Names"] == "web" and o["State"] == "running", o
assert o["Status"].startswith("Up "), o
assert o["Image"] == "berth/busybox", o'
        run berth exec web echo hi
        [ "$status" -eq 0 ]
        [ "$output" = "hi" ]
        run berth exec web sh -c 'exit 4'
        [ "$status" -eq 4 ]
        run -127 berth exec web nosuch
        [[ "$output" == "berth: "*"nosuch"* ]]
        run berth exec -e FOO=bar -w /etc web sh -c 'echo $FOO $(pwd)'
        [ "$output" = "bar /etc" ]
        run berth exec nosuchcontainer true
        [ "$status" -eq 1 ]
        [[ "$output" == "berth: "*"nosuchcontainer"* ]]
}

@test "exec -it web sh driven through a pty" {
        run python3 "$PTY_RUN" --timeout 20 --expect '# ' --send 'echo $((6*7))' --expect 42 --send 'exit' \
                -- "$BERTH" exec -it web sh
        [ "$status" -eq 0 ]
        [[ "$output" == *"42"* ]]
}

@test "logs web, --tail, -t and logs -f" {
        run berth logs web
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = "tick" ]
        run berth logs --tail 2 web
        [ "${#lines[@]}" -eq 2 ]
        run berth logs -t --tail 1 web
        [[ "$output" =~ ^20[0-9-]+T[0-9:.]+Z\ tick$ ]]
        # -f keeps following: new lines keep coming (stop after a few)
        run bash -c "timeout -s KILL 10 '$BERTH' logs -f --tail 0 web | head -n 3"
        [ "${#lines[@]}" -eq 3 ]
        [ "${lines[2]}" = "tick" ]
        # -f ends when the container exits
        berth run -d --name short $IMG sh -c 'for i in 1 2 3; do echo l$i; sleep 0.3; done; echo e >&2'
        run berth logs -f short
        [ "$status" -eq 0 ]
        [ "$output" = "$(printf 'l1\nl2\nl3\ne')" ]
        [ "$(berth logs short 2>/dev/null)" = "$(printf 'l1\nl2\nl3')" ]
        berth rm short
}

@test "attach: output from now on until the exit, the container's code; signals proxied; errors" {
        berth run -d --name att $IMG sh -c \
                'trap "echo got TERM; exit 9" TERM; echo early; sleep 0.6; i=1; while :; do echo a$i; i=$((i+1)); sleep 0.1; done'
        wait_status att 'Up *'
        for i in $(seq 1 50); do
                [ "$(berth logs att | head -n 1)" = early ] && break
                sleep 0.05
        done
        out=$BERTHD_TEST_DIR/attach.out
        timeout -s KILL 30 "$BERTH" attach att >"$out" 2>&1 &
        apid=$!
        for i in $(seq 1 100); do
                grep -q '^a3$' "$out" && break
                sleep 0.05
        done
        # (TERM: a background job of a script ignores SIGINT)
        kill -TERM "$apid"
        st=0
        wait "$apid" || st=$?
        [ "$st" -eq 9 ] || { cat "$out" >&3; false; }
        ! grep -q early "$out"
        grep -qx 'got TERM' "$out"
        [ "$(berth wait att)" = 9 ]
        run berth attach att
        [ "$status" -eq 1 ]
        [[ "$output" == "berth: "*"att"*"not running"* ]]
        run berth attach nosuch
        [ "$status" -eq 1 ]
        [[ "$output" == "berth: "*"nosuch"*"not found"* ]]
        berth rm att
}

@test "run -d -i keeps stdin open for attach; -dit: attach on a pty, ctrl-p ctrl-q detaches; --no-stdin" {
        # docker's -d -i: stdin stays open (cat does not see EOF) until an attach writes to it
        berth run -d -i --name din $IMG cat
        sleep 0.5
        [[ "$(status_of din)" == "Up "* ]]
        out=$BERTHD_TEST_DIR/attach-in.out in=$BERTHD_TEST_DIR/attach-in.fifo
        # The attach's stdin: a FIFO this shell holds open (no writer process to clean up), so it does not end.
        mkfifo "$in"
        exec 7<>"$in"
        timeout -s KILL 30 "$BERTH" attach din <"$in" >"$out" 2>&1 &
        apid=$!
        printf 'one\ntwo\n' >&7
        for i in $(seq 1 100); do
                grep -qx two "$out" && break
                sleep 0.05
        done
        [ "$(cat "$out")" = "$(printf 'one\ntwo')" ] || { cat "$out" >&3; false; }
        # a second attach whose input ends: the container's stdin stays open
        printf 'three\n' | timeout -s KILL 30 "$BERTH" attach din >/dev/null 2>&1 &
        apid2=$!
        for i in $(seq 1 100); do
                grep -qx three "$out" && break
                sleep 0.05
        done
        grep -qx three "$out"
        [[ "$(status_of din)" == "Up "* ]]
        # --no-stdin: output only (the input goes nowhere)
        printf 'four\n' | timeout -s KILL 30 "$BERTH" attach --no-stdin din >/dev/null 2>&1 &
        apid3=$!
        sleep 0.5
        ! grep -qx four "$out"
        berth kill din
        st=0
        wait "$apid" || st=$?
        [ "$st" -eq 137 ]
        wait "$apid2" || true
        wait "$apid3" || true
        exec 7>&-
        rm -f "$in"
        [ "$(berth logs din)" = "$(printf 'one\ntwo\nthree')" ]
        berth rm din

        # -dit: a shell on a pty, reached by attach; ctrl-p ctrl-q leaves it running (exit 1, as docker)
        berth run -dit --name tin $IMG sh
        wait_status tin 'Up *'
        run python3 "$PTY_RUN" --timeout 20 --send 'echo $((6*7))-mark' --expect 42-mark --keys '^P^Q' \
                --expect 'read escape sequence' -- "$BERTH" attach tin
        [ "$status" -eq 1 ]
        [[ "$(status_of tin)" == "Up "* ]]
        # attached again, the shell's exit ends the attach with its code
        run python3 "$PTY_RUN" --timeout 20 --send 'exit 5' -- "$BERTH" attach tin
        [ "$status" -eq 5 ]
        # a terminal's stdin must be a terminal (docker's rule)
        run bash -c "echo x | '$BERTH' attach tin"
        [ "$status" -eq 1 ]
        [[ "$output" == *"not a TTY"* ]] || [[ "$output" == *"not running"* ]]
        berth rm -f tin
}

@test "inspect: State fields, docker's shape; -f templates" {
        run berth inspect web
        [ "$status" -eq 0 ]
        echo "$output" | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert isinstance(a, list) and len(a) == 1
o = a[0]
assert o["Id"] == "web" and o["Name"] == "/web", o
s = o["State"]
assert s["Status"] == "running" and s["Running"] is True and s["Paused"] is False, s
assert s["ExitCode"] == 0 and s["Pid"] > 0, s
assert o["Path"] == "sh" and o["Args"][0] == "-c", o
assert o["Config"]["Image"] == "docker.io/berth/busybox:latest", o["Config"]
assert o["HostConfig"]["RestartPolicy"]["Name"] == "no", o["HostConfig"]'
        pid=$(berth inspect -f '{{.State.Pid}}' web)
        [ "$pid" -gt 0 ]
        run berth inspect -f '{{.State.Status}} {{.State.Running}}' web
        [ "$output" = "running true" ]
        run berth inspect nosuch
        [ "$status" -eq 1 ]
        [[ "$output" == *"berth: "*"nosuch"*"not found"* ]]
}

@test "pause and unpause show in ps and inspect" {
        run berth pause web
        [ "$status" -eq 0 ]
        wait_status web 'Up * (Paused)' 30
        [ "$(berth inspect -f '{{.State.Status}}' web)" = "paused" ]
        run berth unpause web
        [ "$status" -eq 0 ]
        wait_status web 'Up *[a-z]' 30
        [[ "$(status_of web)" != *"Paused"* ]]
        [ "$(berth inspect -f '{{.State.Status}}' web)" = "running" ]
}

@test "top lists the process; stats --no-stream prints a row" {
        run berth top web
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "UID"*"PID"*"PPID"*"C"*"STIME"*"TTY"*"TIME"*"CMD" ]]
        [[ "$output" == *"sh -c while :; do echo tick; sleep 0.2; done"* ]]
        pid=$(berth inspect -f '{{.State.Pid}}' web)
        [[ "$output" == *" $pid "* ]]

        run berth stats --no-stream web
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "CONTAINER ID"*"NAME"*"CPU %"*"MEM USAGE / LIMIT"*"MEM %"*"PIDS" ]]
        [[ "${lines[1]}" =~ ^web\ +web\ +[0-9.]+%\ +[0-9.]+[KMG]?i?B\ /\ [0-9.]+[KMGT]i?B\ +[0-9.]+%\ +[1-9] ]]
        run berth stats --no-stream
        [ "$status" -eq 0 ]
        [[ "$output" == *"web"* ]]
}

@test "stop -t 2 kills a TERM-ignoring container after ~2 s; ps -a shows Exited (137)" {
        berth run -d --name stubborn $IMG sh -c 'trap "" TERM; while :; do sleep 0.1; done'
        wait_status stubborn 'Up *'
        start=$(date +%s%N)
        run berth stop -t 2 stubborn
        end=$(date +%s%N)
        [ "$status" -eq 0 ]
        [ "$output" = "stubborn" ]
        ms=$(( (end - start) / 1000000 ))
        echo "# stop took $ms ms" >&3
        [ "$ms" -ge 1500 ] && [ "$ms" -le 6000 ]
        [[ "$(status_of stubborn)" == "Exited (137) "*" ago" ]]
        run berth wait stubborn
        [ "$output" = "137" ]
        [ "$(berth inspect -f '{{.State.ExitCode}} {{.State.Running}}' stubborn)" = "137 false" ]
}

@test "kill -s TERM on a trapping container; wait prints its code" {
        berth run -d --name trapper $IMG sh -c 'trap "echo got TERM; exit 5" TERM; while :; do sleep 0.1; done'
        wait_status trapper 'Up *'
        sleep 0.3
        run berth kill -s TERM trapper
        [ "$status" -eq 0 ]
        [ "$output" = "trapper" ]
        run berth wait trapper
        [ "$output" = "5" ]
        run berth logs trapper
        [ "$output" = "got TERM" ]
        [[ "$(status_of trapper)" == "Exited (5) "* ]]
}

@test "rm: stopped containers; a running one needs -f; rm -f of a running container" {
        run berth rm web
        [ "$status" -eq 1 ]
        [[ "$output" == "berth: "* ]]
        run berth rm stubborn trapper
        [ "$status" -eq 0 ]
        [ "$output" = "$(printf 'stubborn\ntrapper')" ]
        run berth rm -f web
        [ "$status" -eq 0 ]
        [ "$output" = "web" ]
        run berth ps -aq
        [ -z "$output" ]
        run berth rm web
        [ "$status" -eq 1 ]
}

@test "events shows /tasks/start and /tasks/exit of a run (all, filtered, docker-style)" {
        dir=$BERTHD_TEST_DIR
        "$BERTH" events >"$dir/ev-all" 2>&1 &
        p1=$!
        "$BERTH" events --filter 'topic=="/tasks/exit"' >"$dir/ev-exit" 2>&1 &
        p2=$!
        "$BERTH" events --filter type=container --filter event=start >"$dir/ev-start" 2>&1 &
        p3=$!
        sleep 0.5
        run berth run --rm --name evt $IMG sh -c 'exit 4'
        [ "$status" -eq 4 ]
        sleep 0.5
        kill "$p1" "$p2" "$p3"
        wait "$p1" "$p2" "$p3" 2>/dev/null || true
        cat "$dir/ev-all" >&3
        grep -E '^20[0-9-]+ [0-9:.]+ [+-][0-9]{4} [A-Z]+ default /tasks/start \{"container_id":"evt","pid":[0-9]+\}$' \
                "$dir/ev-all"
        grep -F '/tasks/exit {"container_id":"evt","id":"evt","pid":' "$dir/ev-all" | grep -F '"exit_status":4'
        grep -F ' /containers/create {"id":"evt"' "$dir/ev-all"
        [ "$(wc -l <"$dir/ev-exit")" -eq 1 ]
        grep -F ' /tasks/exit ' "$dir/ev-exit"
        [ "$(wc -l <"$dir/ev-start")" -eq 1 ]
        grep -F ' /tasks/start ' "$dir/ev-start"
}

@test "berth's own errors: exit 125, clear message, nothing left" {
        run berth run --name 'bad name!' $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: invalid container name \"bad name!\""* ]]
        run berth run --rm nosuchimage true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"docker.io/library/nosuchimage:latest"*"not"* ]]
        berth run -d --name dup $IMG sleep 100
        run berth run --name dup $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"dup"*"already"* ]]
        run berth run --runtime io.containerd.nosuch.v1 --name rt $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"io.containerd.nosuch.v1"* ]]
        run berth run --bogus $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == *"unknown flag: --bogus"* ]]
        run env BERTH_ADDRESS=/nonexistent/berthd.sock "$BERTH" run $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: cannot connect to berthd at /nonexistent/berthd.sock"* ]]
        run berth ps -a --format json
        [ "$(echo "$output" | grep -c .)" -eq 1 ]
        [[ "$output" == *'"Names":"dup"'* ]]
        berth rm -f dup
        run berth ps -aq
        [ -z "$output" ]
}
