#!/usr/bin/env bats
# berthd's events with Debian's ctr as the subscriber: namespace events, filters, envelopes forwarded by shims over
# <address>.ttrpc (original timestamp kept), containerd's validation, and a subscriber that stops reading.

load berthd-helpers

# A minimal ttrpc client forwarding one or more envelopes the way shims do (shim-v2.md §4): forward.py SOCKET NS
# TOPIC SECONDS NANOS [COUNT [PAD]] — prints "status CODE MESSAGE" for the first non-OK reply, or "ok COUNT".
write_forwarder() {
        cat >"$BERTHD_TEST_DIR/forward.py" <<'PY'
import socket, struct, sys

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)

def fb(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data

def fv(num, v):
    return varint(num << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)

def parse(buf):
    out, i = {}, 0
    while i < len(buf):
        key, i = rv(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = rv(buf, i)
        elif wt == 2:
            n, i = rv(buf, i)
            val, i = buf[i:i + n], i + n
        else:
            raise ValueError(wt)
        out.setdefault(num, []).append(val)
    return out

def rv(buf, i):
    n = shift = 0
    while True:
        b = buf[i]; i += 1
        n |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80:
            return n, i

def recv_exact(s, n):
    d = bytearray()
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            raise EOFError
        d.extend(c)
    return bytes(d)

path, ns, topic, secs, nanos = sys.argv[1:6]
count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
pad = int(sys.argv[7]) if len(sys.argv) > 7 else 0
ts = b""
if int(secs) or int(nanos):
    ts = fb(1, fv(1, int(secs)) + fv(2, int(nanos)))
# TaskOOM{container_id="c9"} (+ padding in an unknown field 15, which decoders skip)
event = fb(1, b"c9") + (fb(15, b"p" * pad) if pad else b"")
env = ts + fb(2, ns.encode()) + fb(3, topic.encode()) + fb(4, fb(1, b"containerd.events.TaskOOM") + fb(2, event))
payload = fb(1, env)
md = fb(1, b"containerd-namespace-ttrpc") + fb(2, ns.encode())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
for i in range(count):
    req = (fb(1, b"containerd.services.events.ttrpc.v1.Events") + fb(2, b"Forward") + fb(3, payload) +
           fv(4, 5000000000) + fb(5, md))
    s.sendall(struct.pack(">IIBB", len(req), 2 * i + 1, 1, 0) + req)
    length, stream, mtype, flags = struct.unpack(">IIBB", recv_exact(s, 10))
    resp = parse(recv_exact(s, length))
    st = parse(resp[1][0]) if 1 in resp else {}
    code = st.get(1, [0])[0]
    if code:
        print("status %d %s" % (code, st.get(2, [b""])[0].decode()))
        sys.exit(0)
print("ok %d" % count)
PY
}

setup_file() {
        berthd_suite_setup
        write_forwarder
        berthd_start ev
}

# Whatever a failed test left running (by the PIDs it recorded).
teardown() {
        local f
        for f in "$BERTHD_TEST_DIR"/*.pid; do
                [ -f "$f" ] || continue
                kill "$(cat "$f")" 2>/dev/null || true
                rm -f "$f"
        done
}

teardown_file() {
        berthd_suite_teardown
}

SOCK() { berthd_sock ev; }
LOG() { echo "$(berthd_dir ev)/berthd.log"; }

# start_events NAME [FILTER...]: `ctr events` in the background, output in $BERTHD_TEST_DIR/NAME.out; waits until
# berthd has registered the subscription (its debug log counts subscribers).
start_events() {
        local name=$1 before i
        shift
        before=$(grep -c "events: subscriber added" "$(LOG)" || true)
        ctr -a "$(SOCK)" events "$@" >"$BERTHD_TEST_DIR/$name.out" 2>&1 3>&- &
        echo $! >"$BERTHD_TEST_DIR/$name.pid"
        for i in $(seq 1 100); do
                [ "$(grep -c "events: subscriber added" "$(LOG)" || true)" -gt "$before" ] && return 0
                sleep 0.05
        done
        echo "# ctr events did not subscribe" >&3
        return 1
}

stop_events() {
        local pid
        pid=$(cat "$BERTHD_TEST_DIR/$1.pid")
        rm -f "$BERTHD_TEST_DIR/$1.pid"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

# wait_for_line NAME REGEX: until the events output has a matching line (5 s).
wait_for_line() {
        local i
        for i in $(seq 1 100); do
                grep -Eq "$2" "$BERTHD_TEST_DIR/$1.out" && return 0
                sleep 0.05
        done
        echo "# no line matching $2 in:" >&3
        sed 's/^/#   /' "$BERTHD_TEST_DIR/$1.out" >&3
        return 1
}

forward() { timeout 20 python3 "$BERTHD_TEST_DIR/forward.py" "$(SOCK).ttrpc" "$@"; }

@test "the ttrpc endpoint is <address>.ttrpc, mode 0600" {
        [ -S "$(SOCK).ttrpc" ]
        [ "$(stat -c %a "$(SOCK).ttrpc")" = 600 ]
}

@test "ctr events sees namespace create, update and delete" {
        start_events all
        bctr ev namespaces create evns1 team=a
        bctr ev namespaces label evns1 team=b
        bctr ev namespaces rm evns1
        wait_for_line all ' /namespaces/delete '
        stop_events all
        cat "$BERTHD_TEST_DIR/all.out"
        # "<time> <namespace> <topic> <json>", as ctr prints containerd's envelopes
        grep -E '^20[0-9-]+ [0-9:.]+ \+0000 UTC default /namespaces/create \{"name":"evns1","labels":\{"team":"a"\}\}$' \
                "$BERTHD_TEST_DIR/all.out"
        grep -E ' default /namespaces/update \{"name":"evns1","labels":\{"team":"b"\}\}$' "$BERTHD_TEST_DIR/all.out"
        grep -E ' evns1 /namespaces/delete \{"name":"evns1"\}$' "$BERTHD_TEST_DIR/all.out"
}

@test "ctr events filters by topic and namespace" {
        start_events deletes 'topic=="/namespaces/delete"'
        start_events k8s 'namespace==k8s.io'
        bctr ev namespaces create evns2
        bctr ev namespaces rm evns2
        run forward k8s.io /tasks/oom 1000000000 0
        [ "$output" = "ok 1" ]
        wait_for_line deletes ' /namespaces/delete '
        wait_for_line k8s ' /tasks/oom '
        sleep 0.2
        stop_events deletes
        stop_events k8s
        [ "$(wc -l <"$BERTHD_TEST_DIR/deletes.out")" -eq 1 ]
        [ "$(wc -l <"$BERTHD_TEST_DIR/k8s.out")" -eq 1 ]
        grep -q 'evns2 /namespaces/delete' "$BERTHD_TEST_DIR/deletes.out"
        grep -q 'k8s.io /tasks/oom' "$BERTHD_TEST_DIR/k8s.out"
}

@test "an envelope forwarded over ttrpc reaches ctr events with its original timestamp" {
        start_events fwd
        run forward ns1 /tasks/oom 1000000000 123
        [ "$output" = "ok 1" ]
        wait_for_line fwd ' /tasks/oom '
        stop_events fwd
        cat "$BERTHD_TEST_DIR/fwd.out"
        grep -qx '2001-09-09 01:46:40.000000123 +0000 UTC ns1 /tasks/oom {"container_id":"c9"}' "$BERTHD_TEST_DIR/fwd.out"
}

@test "invalid envelopes are rejected like containerd" {
        run forward ns1 tasks/oom 1000000000 0
        [ "$output" = "status 3 envelope topic \"tasks/oom\": must start with '/': invalid argument" ]
        run forward ns1 / 1000000000 0
        [ "$output" = "status 3 envelope topic \"/\": must have at least one component: invalid argument" ]
        run forward 'bad ns' /tasks/oom 1000000000 0
        [ "${output:0:57}" = "status 3 event envelope has invalid namespace: identifier" ]
        run forward ns1 /tasks/oom 0 0
        [ "$output" = "status 3 timestamp must be set on forwarded event: invalid argument" ]
        # containerd's own publish client (gRPC Events/Publish) gets the same validation
        run sh -c "printf '' | timeout 10 containerd --address '$(SOCK)' publish --namespace default --topic nope"
        [ "$status" -ne 0 ]
        [[ "$output" == *"must start with '/'"* ]]
}

@test "containerd publish (gRPC Publish) reaches ctr events" {
        start_events pub
        # An Any holding containerd.events.TaskOOM{container_id: "c7"}
        printf '\x0a\x19containerd.events.TaskOOM\x12\x04\x0a\x02c7' |
                timeout 10 containerd --address "$(SOCK)" publish --namespace default --topic /tasks/oom
        wait_for_line pub ' /tasks/oom '
        stop_events pub
        grep -q 'default /tasks/oom {"container_id":"c7"}' "$BERTHD_TEST_DIR/pub.out"
}

@test "a subscriber that stops reading is dropped; berthd's memory stays bounded" {
        local pid rss_before rss_after stuck
        pid=$(berthd_pid ev)
        rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
        # ctr's stdout is a pipe nobody reads: once it fills, ctr stops reading its gRPC stream.
        mkfifo "$BERTHD_TEST_DIR/stuck.fifo"
        sleep 600 <"$BERTHD_TEST_DIR/stuck.fifo" 3>&- &
        stuck=$!
        echo "$stuck" >"$BERTHD_TEST_DIR/stuck-reader.pid"
        before=$(grep -c "events: subscriber added" "$(LOG)" || true)
        ctr -a "$(SOCK)" events >"$BERTHD_TEST_DIR/stuck.fifo" 2>/dev/null 3>&- &
        echo $! >"$BERTHD_TEST_DIR/stuck-ctr.pid"
        for i in $(seq 1 100); do
                [ "$(grep -c "events: subscriber added" "$(LOG)" || true)" -gt "$before" ] && break
                sleep 0.05
        done
        # 40 MB of events (4000 x 10 KB)
        run forward ns1 /tasks/oom 1000000000 0 4000 10000
        [ "$output" = "ok 4000" ]
        grep -q "dropping an events subscriber that stopped reading" "$(LOG)"
        rss_after=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
        echo "# RSS before $rss_before kB, after $rss_after kB" >&3
        # (ASan's quarantine keeps freed memory resident: the bound is only measurable without it)
        grep -q libasan "/proc/$pid/maps" || [ "$rss_after" -lt $((rss_before + 16384)) ]
        kill "$(cat "$BERTHD_TEST_DIR/stuck-ctr.pid")" "$stuck" 2>/dev/null || true
        wait "$(cat "$BERTHD_TEST_DIR/stuck-ctr.pid")" "$stuck" 2>/dev/null || true
        rm -f "$BERTHD_TEST_DIR/stuck-ctr.pid" "$BERTHD_TEST_DIR/stuck-reader.pid"
        # berthd still serves subscribers
        start_events after
        bctr ev namespaces create evns3
        wait_for_line after ' /namespaces/create '
        stop_events after
        bctr ev namespaces rm evns3
}

@test "stopping berthd removes the ttrpc socket" {
        berthd_stop ev || true # (not our child: wait cannot give its status)
        [ ! -e "$(SOCK).ttrpc" ]
        [ ! -e "$(SOCK)" ]
}
