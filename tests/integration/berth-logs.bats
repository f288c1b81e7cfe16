#!/usr/bin/env bats
# Log rotation end to end through the berth CLI: --log-opt max-size/max-files (one comma-separated --log-opt, or
# docker's separate ones with its max-file spelling) keeps at most max-files files of at most max-size bytes in
# <root>/containers/<ns>/<id>/, and `berth logs` reads exactly the lines still kept, in order and without gaps,
# across the files (plain, --tail, and -f following a container whose files rotate while it is read).
# Rules (src/logs/log-format.md): a record is never split; the file rotates before a record that would push it past
# max-size, so the kept lines are computed here by replaying those rules on the records' known sizes.

bats_require_minimum_version 1.5.0
load berthd-helpers

BERTH=$BERTH_BUILD/berth
IMG=berth/busybox

setup_file() {
        berth_suite_setup main
}

teardown_file() {
        berth_suite_teardown
}

berth() { timeout -s KILL 60 "$BERTH" "$@"; }

logdir() { echo "$(berthd_dir main)/root/containers/default/$1"; }

# wait_exited NAME: until the container's task is gone (berth wait prints its code).
wait_exited() { timeout 30 "$BERTH" wait "$1" >/dev/null; }

# expected_first MAX_SIZE MAX_FILES LAST: replays the writer's rotation on the records of "line-1".."line-LAST"
# (each {"log":"line-N\n","stream":"stdout","time":<30 chars>}\n) and prints the first line number still kept.
expected_first() {
        python3 - "$@" <<'PY'
import sys
max_size, max_files, last = map(int, sys.argv[1:])
files = [[]]  # newest last; each a list of (n, size)
size = 0
for n in range(1, last + 1):
    rec = len('{"log":"line-%d\\n","stream":"stdout","time":"2024-05-01T12:00:00.000000000Z"}\n' % n)
    if size > 0 and size + rec > max_size:
        files.append([])
        files = files[-max_files:]
        size = 0
    files[-1].append(n)
    size += rec
print(files[0][0])
PY
}

# check_files NAME MAX_SIZE MAX_FILES: at most MAX_FILES files, each within MAX_SIZE, each rotated file full
# (its size plus the next file's first record exceeds MAX_SIZE: it rotated only when it had to).
check_files() {
        python3 - "$(logdir "$1")" "$1" "$2" "$3" <<'PY'
import os, sys
d, id_, max_size, max_files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
names = sorted(os.listdir(d))
assert len(names) <= max_files, names
cur = id_ + "-json.log"
order = [cur + ".%d" % k for k in range(max_files - 1, 0, -1) if os.path.exists(os.path.join(d, cur + ".%d" % k))]
order.append(cur)
assert sorted(order) == names, (order, names)
data = [open(os.path.join(d, n), "rb").read() for n in order]
for n, b in zip(order, data):
    assert len(b) <= max_size, (n, len(b))
    assert b.endswith(b"\n"), n
for i in range(len(data) - 1):
    first_next = len(data[i + 1].split(b"\n", 1)[0]) + 1
    assert len(data[i]) + first_next > max_size, (order[i], len(data[i]), first_next)
print(len(names))
PY
}

@test "--log-opt max-size=4k,max-files=3: three full files within 4 KiB; logs reads exactly the kept lines" {
        run berth run -d --name rot --log-opt max-size=4k,max-files=3 $IMG \
                sh -c 'i=1; while [ $i -le 1000 ]; do echo line-$i; i=$((i+1)); done'
        [ "$status" -eq 0 ]
        wait_exited rot
        run check_files rot 4096 3
        [ "$status" -eq 0 ]
        [ "$output" = 3 ]
        first=$(expected_first 4096 3 1000)
        echo "# first kept line: $first" >&3
        [ "$first" -gt 1 ]
        run berth logs rot
        [ "$status" -eq 0 ]
        [ "$output" = "$(seq -f 'line-%g' "$first" 1000)" ]
        run berth logs --tail 5 rot
        [ "$output" = "$(seq -f 'line-%g' 996 1000)" ]
        # more than the current file holds: the tail starts in a rotated one
        run berth logs --tail 100 rot
        [ "$output" = "$(seq -f 'line-%g' 901 1000)" ]
        # more than is kept: all of it
        run berth logs --tail 5000 rot
        [ "$output" = "$(seq -f 'line-%g' "$first" 1000)" ]
        berth rm rot
        [ ! -e "$(logdir rot)" ]
}

@test "docker's spelling: --log-opt max-size=5k --log-opt max-file=2" {
        run berth run -d --name rot2 --log-opt max-size=5k --log-opt max-file=2 $IMG \
                sh -c 'i=1; while [ $i -le 700 ]; do echo line-$i; i=$((i+1)); done'
        [ "$status" -eq 0 ]
        wait_exited rot2
        run check_files rot2 5120 2
        [ "$status" -eq 0 ]
        [ "$output" = 2 ]
        first=$(expected_first 5120 2 700)
        [ "$(berth logs rot2)" = "$(seq -f 'line-%g' "$first" 700)" ]
        berth rm rot2
}

@test "bad --log-opt values: exit 125, a clear message, nothing created" {
        run berth run -d --name badlog --log-opt max-size=1k $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"max-size"*"4k"* ]]
        run berth run -d --name badlog --log-opt max-files=3 $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"max-files needs max-size"* ]]
        run berth run -d --name badlog --log-opt max-size=4k,colour=red $IMG true
        [ "$status" -eq 125 ]
        [[ "$output" == "berth: "*"unknown log option 'colour'"* ]]
        run berth ps -aq
        [ -z "$output" ]
        [ ! -e "$(logdir badlog)" ]
}

@test "logs -f follows across rotations while the container runs: every line once, in order" {
        # "ready" first; then, once the follower has shown it (and /tmp/go was made from the host), 600 lines in bursts (about 11 rotations of 4 KiB
        # files, only 2 kept), so lines the follower read were rotated away and deleted before it ended.
        berth run -d --name follow --log-opt max-size=4k,max-files=2 $IMG sh -c '
                echo ready
                while [ ! -e /tmp/go ]; do sleep 0.05; done
                i=1
                while [ $i -le 600 ]; do
                        echo line-$i
                        [ $((i % 20)) -eq 0 ] && sleep 0.05
                        i=$((i+1))
                done'
        out=$BERTHD_TEST_DIR/follow.out
        timeout -s KILL 60 "$BERTH" logs -f follow >"$out" 2>&1 &
        fpid=$!
        for i in $(seq 1 100); do
                grep -qx ready "$out" && break
                sleep 0.05
        done
        grep -qx ready "$out"
        touch "/proc/$(berth inspect -f '{{.State.Pid}}' follow)/root/tmp/go"
        wait "$fpid"
        [ "$(cat "$out")" = "$(printf 'ready\n'; seq -f 'line-%g' 1 600)" ]
        # the files kept only the last part meanwhile
        run check_files follow 4096 2
        [ "$output" = 2 ]
        first=$(berth logs follow | head -n 1)
        [ "$first" != "ready" ] && [ "$first" != "line-1" ]
        berth rm follow
}
