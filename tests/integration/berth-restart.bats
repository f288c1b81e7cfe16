#!/usr/bin/env bats
# berthd SIGKILLed under three detached containers, driven by the berth CLI (issue 4, "Done when" 4): one keeps
# running, one exits with 7 while berthd is down, one traps TERM. After the restart the live ones are still Up (same
# pids), the exit is reported with its real code (ps -a, inspect, wait, the restarted berthd publishing it), and once
# all are stopped and removed nothing is left: no shim or logger process, no mount under berthd's root or state, no
# cgroup of the namespace, no fd berthd did not have before. The fd baseline is taken on the same daemon: the first
# one before any container, the restarted one after a second run/stop/rm cycle.

bats_require_minimum_version 1.5.0
load berthd-helpers

BERTH=$BERTH_BUILD/berth
IMG=berth/busybox

setup_file() {
        export BERTH_NAMESPACE=brestart-$$
        berth_suite_setup r
}

teardown_file() {
        berth_suite_teardown
        # What even that could not remove: the shims and their children (loggers, containers' init).
        if [ -n "${BERTH_ADDRESS:-}" ]; then
                local left
                left=$(berthd_children "$BERTH_ADDRESS")
                [ -n "$left" ] && kill -KILL $left 2>/dev/null
        fi
        # The namespace's (empty) cgroup parents, which berth leaves like containerd does.
        rmdir /sys/fs/cgroup/*/"$BERTH_NAMESPACE" /sys/fs/cgroup/unified/"$BERTH_NAMESPACE" 2>/dev/null || true
}

berth() { timeout -s KILL 60 "$BERTH" "$@"; }

# berthd's open fds, one line each: the target with numbers blanked (sockets, pipes, anon inodes are alike). The
# sealed copy of the OCI runtime (made at the first container start, kept for the next ones) is not a leak.
fd_set() {
        ls -l "/proc/$1/fd" | grep -v 'memfd:berth-sealed-runtime' | awk 'NR > 1 { print $NF }' |
                sed 's/[0-9][0-9]*/N/g' | sort
}

# Processes started for this berthd: shims (their command line names its socket) and the shims' children.
berthd_children() {
        local sock=$1 p c
        for p in /proc/[0-9]*; do
                c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
                [[ "$c" == *" -address $sock "* || "$c" == *" -address $sock" ]] || continue
                echo "${p#/proc/}"
                ps -o pid= --ppid "${p#/proc/}" 2>/dev/null
        done | awk '{ print $1 }' | sort -n
}

status_of() { berth ps -a --format json | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["Names"] == sys.argv[1]:
        print(o["Status"])' "$1"; }

wait_for() { # wait_for TRIES(0.1 s) COMMAND...
        local n=$1 i
        shift
        for i in $(seq 1 "$n"); do
                "$@" && return 0
                sleep 0.1
        done
        "$@"
}

# fds_settled BASE1 START2 PID2 [verbose]: the restarted daemon (PID2) holds no more than it held when it came
# back (START2: the same fds plus, per task it reconnected to, the shim connection and the log FIFO under
# state/tasks/), nothing under state/tasks/ any more, and as many sockets as the first daemon had before any
# container (BASE1: its listeners). Other differences between the two daemons are what bats left open in them.
fds_settled() {
        python3 - "$1" "$2" "$(fd_set "$3")" "$BERTHD_TEST_DIR" ${4:-} <<'PY'
import collections, sys
base1, start2, after2 = (collections.Counter(filter(None, a.split("\n"))) for a in sys.argv[1:4])
state_tasks = sys.argv[4] + "/r/state/tasks/"
problems = []
extra = after2 - start2
if extra:
    problems.append("new since the restart: %s" % dict(extra))
left = [f for f in after2 if f.startswith(state_tasks)]
if left:
    problems.append("task files still open: %s" % left)
if after2["socket:[N]"] != base1["socket:[N]"]:
    problems.append("sockets: %d, the first daemon had %d" % (after2["socket:[N]"], base1["socket:[N]"]))
if problems and len(sys.argv) > 5:
    for p in problems:
        print("# " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }

@test "SIGKILL berthd with 3 containers, one exits meanwhile: restart reports exit 7, nothing leaks" {
        local sock pid1 base1 dir
        sock=$(berthd_sock r)
        dir=$(berthd_dir r)
        pid1=$(berthd_pid r)
        base1=$(fd_set "$pid1")

        berth run -d --name live $IMG sleep 1000
        # seven exits once /tmp/go exists in it (created from the host through /proc/PID/root)
        berth run -d --name seven $IMG sh -c 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7'
        berth run -d --name trapper $IMG sh -c 'trap "echo got TERM; exit 5" TERM; while :; do sleep 0.1; done'
        live_pid=$(berth inspect -f '{{.State.Pid}}' live)
        seven_pid=$(berth inspect -f '{{.State.Pid}}' seven)
        trap_pid=$(berth inspect -f '{{.State.Pid}}' trapper)
        [ "$live_pid" -gt 0 ] && [ "$seven_pid" -gt 0 ] && [ "$trap_pid" -gt 0 ]
        procs=$(berthd_children "$sock")
        echo "# shims and loggers: $(echo $procs)" >&3
        [ "$(echo "$procs" | wc -w)" -ge 3 ]
        # what is checked for leaks below exists now
        [ -d "/sys/fs/cgroup/memory/$BERTH_NAMESPACE/live" ] && [ -d "/sys/fs/cgroup/pids/$BERTH_NAMESPACE/seven" ]
        grep -qF " $dir/" /proc/self/mountinfo

        berthd_stop r KILL || true
        touch "/proc/$seven_pid/root/tmp/go"
        wait_for 100 pid_gone "$seven_pid"
        berthd_start r
        pid2=$(berthd_pid r)
        start2=$(fd_set "$pid2")

        # the live ones are still the same processes and Up; the exit shows with its code
        [ "$(berth inspect -f '{{.State.Pid}} {{.State.Running}}' live)" = "$live_pid true" ]
        [ "$(berth inspect -f '{{.State.Pid}} {{.State.Running}}' trapper)" = "$trap_pid true" ]
        [[ "$(status_of live)" == "Up "* ]]
        [[ "$(status_of trapper)" == "Up "* ]]
        wait_for 50 eval '[[ "$(status_of seven)" == "Exited (7) "*" ago" ]]'
        [ "$(berth inspect -f '{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}' seven)" = "exited false 7" ]
        [ "$(berth wait seven)" = 7 ]
        # the restarted berthd published the exit it collected (no subscriber can be connected before it is
        # up, so its own log is the witness)
        grep -E "task $BERTH_NAMESPACE/seven exited while berthd was down \(status 7\)" "$dir/berthd.log"

        # the trapper gets TERM and exits 5; live (sleep as pid 1 ignores TERM) is killed after 1 s
        run berth stop -t 10 trapper
        [ "$status" -eq 0 ]
        [ "$(berth wait trapper)" = 5 ]
        run berth stop -t 1 live
        [ "$status" -eq 0 ]
        [[ "$(status_of live)" == "Exited (137) "* ]]
        run berth rm live seven trapper
        [ "$status" -eq 0 ]
        run berth ps -aq
        [ -z "$output" ]

        # nothing left: processes, mounts, cgroups, fds
        for p in $procs; do
                wait_for 50 pid_gone "$p" || { echo "# $p still runs: $(tr '\0' ' ' </proc/$p/cmdline)" >&3; false; }
        done
        [ -z "$(berthd_children "$sock")" ]
        run grep -F " $dir/" /proc/self/mountinfo
        [ -z "$output" ] || { echo "# mounts left: $output" >&3; false; }
        run bash -c "ls -d /sys/fs/cgroup/*/$BERTH_NAMESPACE/* 2>/dev/null | grep -v '/cgroup\.\|/tasks$\|/notify_on_release$' | \
                while read -r d; do [ -d \"\$d\" ] && echo \"\$d\"; done"
        [ -z "$output" ] || { echo "# cgroups left: $output" >&3; false; }
        [ ! -e "$dir/root/containers/$BERTH_NAMESPACE/seven" ]
        # the restarted daemon has the first one's fds: nothing of the tasks it reconnected to stays open
        wait_for 30 fds_settled "$base1" "$start2" "$pid2" || fds_settled "$base1" "$start2" "$pid2" verbose 2>&3
}

@test "the restarted berthd: a run/exec/logs/stop/rm cycle leaves its fds as they were" {
        local pid before
        pid=$(berthd_pid r)
        before=$(fd_set "$pid")
        berth run -d --name again $IMG sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
        berth exec again true
        berth logs again
        berth stop again
        berth rm again
        run berth run --rm $IMG echo hi
        [ "$output" = hi ]
        # connections of the clients that just ended close as berthd notices: give it a moment
        wait_for 30 eval '[ "$(fd_set "$pid")" = "$before" ]' ||
                diff <(echo "$before") <(fd_set "$pid") | sed 's/^/# /' >&3
        [ "$(fd_set "$pid")" = "$before" ]
}
