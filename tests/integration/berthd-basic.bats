#!/usr/bin/env bats
# berthd on its own: flags, directories, locking, the socket, signals, and the services that need no storage
# (version, introspection, health, namespaces), driven by Debian's ctr and tests/tools/grpc-probe.

load berthd-helpers

setup_file() { berthd_suite_setup; }
teardown_file() { berthd_suite_teardown; }
teardown() { berthd_stop_all; }

@test "version and help" {
        run "$BERTHD" --version
        [ "$status" -eq 0 ]
        [[ "$output" == "berthd 0.1.0 (containerd API 1.6.20"* ]]
        run "$BERTHD" --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"--root DIR"* ]]
        run "$BERTHD" --no-such-flag
        [ "$status" -eq 2 ]
        run "$BERTHD" stray-argument
        [ "$status" -eq 2 ]
}

@test "ctr version shows the server version and the persisted uuid" {
        berthd_start a
        run bctr a version
        [ "$status" -eq 0 ]
        [[ "$output" == *"Server:"*"Version:  1.6.20+berth.0.1.0"* ]]
        uuid=$(cat "$(berthd_dir a)/root/uuid")
        [[ "$output" == *"UUID: $uuid"* ]]
}

@test "directories, lock files and socket modes" {
        berthd_start a
        local dir
        dir=$(berthd_dir a)
        [ "$(stat -c %a "$dir/root")" = 711 ]
        [ "$(stat -c %a "$dir/state")" = 700 ]
        [ "$(stat -c %a "$dir/state/berthd.sock")" = 600 ]
        [ "$(cat "$dir/root/berthd.lock")" = "$(berthd_pid a)" ]
        [ "$(cat "$dir/state/berthd.lock")" = "$(berthd_pid a)" ]
}

@test "ctr plugins ls lists the snapshotters and the services" {
        berthd_start a
        run bctr a plugins ls
        [ "$status" -eq 0 ]
        echo "$output" | grep -E '^io\.containerd\.snapshotter\.v1 +overlayfs +linux/amd64 +ok'
        echo "$output" | grep -E '^io\.containerd\.snapshotter\.v1 +native +linux/amd64 +ok'
        echo "$output" | grep -E '^io\.containerd\.content\.v1 +content '
        echo "$output" | grep -E '^io\.containerd\.grpc\.v1 +version '
        echo "$output" | grep -E '^io\.containerd\.grpc\.v1 +introspection '
        echo "$output" | grep -E '^io\.containerd\.grpc\.v1 +healthcheck '

        run bctr a plugins ls type==io.containerd.snapshotter.v1
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 3 ] # header + 2

        run bctr a plugins ls -d id==overlayfs
        [ "$status" -eq 0 ]
        [[ "$output" == *"root      $(berthd_dir a)/root/snapshots/overlayfs"* ]]

        run bctr a plugins ls 'id=='
        [ "$status" -ne 0 ]
        [[ "$output" == *"invalid argument"* ]]
}

@test "health check and unknown methods" {
        berthd_start a
        run "$GRPC_PROBE" "$(berthd_sock a)" health
        [ "$status" -eq 0 ]
        [ "$output" = SERVING ]
        run "$GRPC_PROBE" "$(berthd_sock a)" call /containerd.services.nope.v1.Nope/Get
        [ "$status" -eq 0 ]
        [[ "$output" == UNIMPLEMENTED:* ]]
}

@test "two daemons side by side on different roots" {
        berthd_start a
        berthd_start b
        run bctr a version
        [ "$status" -eq 0 ]
        out_a=$output
        run bctr b version
        [ "$status" -eq 0 ]
        [ "$(cat "$(berthd_dir a)/root/uuid")" != "$(cat "$(berthd_dir b)/root/uuid")" ]
        [[ "$out_a" == *"UUID: $(cat "$(berthd_dir a)/root/uuid")"* ]]
        [[ "$output" == *"UUID: $(cat "$(berthd_dir b)/root/uuid")"* ]]
}

@test "a second daemon on the same root, state or address fails clearly" {
        berthd_start a
        local dir pid
        dir=$(berthd_dir a)
        pid=$(berthd_pid a)

        run "$BERTHD" --root "$dir/root" --state "$BERTHD_TEST_DIR/other-state" 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"root $dir/root is in use by another berthd (pid $pid"* ]]

        run "$BERTHD" --root "$BERTHD_TEST_DIR/other-root" --state "$dir/state" 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"state $dir/state is in use by another berthd (pid $pid"* ]]

        run "$BERTHD" --root "$BERTHD_TEST_DIR/other-root" --state "$BERTHD_TEST_DIR/other-state" \
                --address "$dir/state/berthd.sock" 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"address $dir/state/berthd.sock is in use"* ]]

        # The first one is untouched and still serving.
        [ -S "$dir/state/berthd.sock" ]
        run bctr a version
        [ "$status" -eq 0 ]
}

@test "SIGTERM stops gracefully: socket removed, exit 0, root reusable" {
        local dir pid
        dir=$(berthd_dir t)
        mkdir -p "$dir"
        "$BERTHD" --root "$dir/root" --state "$dir/state" >"$dir/berthd.log" 2>&1 3>&- &
        pid=$!
        for i in $(seq 1 100); do [ -S "$dir/state/berthd.sock" ] && break; sleep 0.05; done
        [ -S "$dir/state/berthd.sock" ]
        kill -TERM "$pid"
        local rc=0
        wait "$pid" || rc=$?
        [ "$rc" -eq 0 ]
        [ ! -e "$dir/state/berthd.sock" ]
        grep -q 'msg="received SIGTERM, shutting down"' "$dir/berthd.log"
        grep -q 'msg="berthd stopped"' "$dir/berthd.log"
        # The same root and state serve again at once.
        berthd_start t
        run bctr t version
        [ "$status" -eq 0 ]
}

@test "a stale socket after SIGKILL is replaced on restart" {
        berthd_start k
        berthd_stop k KILL || true
        [ -S "$(berthd_sock k)" ]
        berthd_start k
        run bctr k version
        [ "$status" -eq 0 ]
}

@test "config file, flags override it, bad config is a clear error" {
        local dir=$BERTHD_TEST_DIR/cfg
        mkdir -p "$dir"
        cat >"$dir/config.toml" <<TOML
# test config
root = "$dir/root"
state = "$dir/state"
address = "$dir/cfg.sock"
log_level = "warn"

[registry."127.0.0.1:5000"]
plain_http = true
TOML
        "$BERTHD" --config "$dir/config.toml" --log-level debug >"$dir/berthd.log" 2>&1 3>&- &
        echo $! >"$dir/pid"
        for i in $(seq 1 100); do [ -S "$dir/cfg.sock" ] && break; sleep 0.05; done
        run timeout "$CTR_TIMEOUT" ctr -a "$dir/cfg.sock" version
        [ "$status" -eq 0 ]
        [ -f "$dir/root/uuid" ]
        # --log-level debug beat the file's warn: the info line is there.
        grep -q 'level=info msg="berthd 0.1.0' "$dir/berthd.log"
        berthd_stop cfg

        echo 'snapshoter = "native"' >"$dir/bad.toml"
        run "$BERTHD" --config "$dir/bad.toml" 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"config $dir/bad.toml: unknown key snapshoter"* ]]

        run "$BERTHD" --config "$dir/missing.toml" 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"$dir/missing.toml"* ]]

        run "$BERTHD" --root "$dir/r2" --state "$dir/s2" --log-level loud 3>&-
        [ "$status" -eq 1 ]
        [[ "$output" == *"unknown log level 'loud'"* ]]
}

@test "namespaces through ctr: create, ls, label, rm" {
        berthd_start a
        run bctr a namespaces create team-a env=test owner=me
        [ "$status" -eq 0 ]
        bctr a namespaces create team-b
        run bctr a namespaces ls
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = "NAME   LABELS         " ] || [[ "${lines[0]}" =~ ^NAME\ +LABELS ]]
        [[ "${lines[1]}" =~ ^team-a\ +env=test,owner=me ]]
        [[ "${lines[2]}" =~ ^team-b ]]
        run bctr a namespaces ls -q
        [ "$output" = "$(printf 'team-a\nteam-b')" ]

        bctr a namespaces label team-a env=prod extra=1
        bctr a namespaces label team-a owner=
        run bctr a namespaces ls
        [[ "${lines[1]}" =~ ^team-a\ +env=prod,extra=1\ *$ ]]

        run bctr a namespaces create team-a
        [ "$status" -ne 0 ]
        [[ "$output" == *'namespace "team-a": already exists'* ]]
        run bctr a namespaces create 'no good'
        [ "$status" -ne 0 ]
        [[ "$output" == *"invalid argument"* ]]

        run bctr a namespaces rm team-b
        [ "$status" -eq 0 ]
        run bctr a namespaces ls -q
        [ "$output" = team-a ]

        # Metadata persists across a restart.
        berthd_stop a
        berthd_start a
        run bctr a namespaces ls
        [[ "${lines[1]}" =~ ^team-a\ +env=prod,extra=1 ]]
}

@test "SIGHUP reloads the log level from the config file" {
        local dir=$BERTHD_TEST_DIR/hup
        mkdir -p "$dir"
        printf 'log_level = "info"\n' >"$dir/config.toml"
        "$BERTHD" --config "$dir/config.toml" --root "$dir/root" --state "$dir/state" >"$dir/berthd.log" 2>&1 3>&- &
        echo $! >"$dir/pid"
        for i in $(seq 1 100); do [ -S "$dir/state/berthd.sock" ] && break; sleep 0.05; done
        printf 'log_level = "error"\n' >"$dir/config.toml"
        kill -HUP "$(cat "$dir/pid")"
        for i in $(seq 1 100); do grep -q 'msg="reloaded' "$dir/berthd.log" && break; sleep 0.05; done
        grep -q "msg=\"reloaded $dir/config.toml: log level applied" "$dir/berthd.log"
        # At level error the shutdown lines are no longer logged.
        berthd_stop hup
        ! grep -q 'msg="received SIGTERM' "$dir/berthd.log"
        # A broken file on reload keeps the daemon running with its settings.
        "$BERTHD" --config "$dir/config.toml" --root "$dir/root" --state "$dir/state" >"$dir/berthd2.log" 2>&1 3>&- &
        echo $! >"$dir/pid"
        for i in $(seq 1 100); do [ -S "$dir/state/berthd.sock" ] && break; sleep 0.05; done
        echo 'log_level = ' >"$dir/config.toml"
        kill -HUP "$(cat "$dir/pid")"
        for i in $(seq 1 100); do grep -q 'reload failed' "$dir/berthd2.log" && break; sleep 0.05; done
        grep -q 'level=error msg="reload failed, keeping the current settings: config' "$dir/berthd2.log"
        run timeout "$CTR_TIMEOUT" ctr -a "$dir/state/berthd.sock" version
        [ "$status" -eq 0 ]
}
