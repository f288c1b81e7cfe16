#!/usr/bin/env bats
# berth.v1.Berth inside berthd: Pull from a local docker-registry (small and ~100 MB 4-layer images), the records
# ctr then sees (images, content with gc.ref labels, snapshots named by chain ID), a SIGKILL mid-pull and the
# resumed pull, GC afterwards, cancellation, Info, and import/export round trips with ctr and skopeo archives.
# Driven by tests/tools/grpc-berth (independent of the berth CLI).

load berthd-helpers

GRPC_BERTH=$BERTH_BUILD/tools/grpc-berth

setup_file() {
        berthd_suite_setup
        [ -x "$GRPC_BERTH" ] || { echo "# $GRPC_BERTH not built" >&3; return 1; }
        SMALL=$("$BERTH_ROOT/scripts/build-image.sh")
        BIG=$("$BERTH_ROOT/scripts/build-big-image.sh")
        # not below BERTHD_TEST_DIR: berthd_stop_all stops whatever has a pid file there
        REG=$(mktemp -d /tmp/berthd-pull-registry.XXXXXX)
        ADDR=$("$BERTH_ROOT/scripts/registry.sh" start "$REG")
        "$BERTH_ROOT/scripts/registry.sh" push "$REG" "$SMALL" berth/busybox:latest
        "$BERTH_ROOT/scripts/registry.sh" push "$REG" "$BIG" berth/big:latest
        export SMALL BIG REG ADDR
}

teardown_file() {
        [ -z "${REG:-}" ] || "$BERTH_ROOT/scripts/registry.sh" cleanup "$REG" >/dev/null 2>&1 || true
        berthd_suite_teardown
}

setup() {
        I=t$BATS_TEST_NUMBER
        MNT=$BERTHD_TEST_DIR/mnt-$BATS_TEST_NUMBER
        mkdir -p "$MNT"
}

teardown() {
        umount -R "$MNT" 2>/dev/null || true
        [ -z "${CLIENT_PID:-}" ] || kill "$CLIENT_PID" 2>/dev/null || true
        berthd_stop_all
}

gb() { # gb [-n NS] NAME ARGS... : grpc-berth against an instance
        local ns=default name
        if [ "$1" = -n ]; then
                ns=$2
                shift 2
        fi
        name=$1
        shift
        timeout 120 "$GRPC_BERTH" -n "$ns" "$(berthd_sock "$name")" "$@"
}

# The digest printed on the "done" line.
done_field() { awk -v f="$2" '/^done /{for (i = 1; i <= NF; i++) if ($i ~ "^" f "=") {sub(f "=", "", $i); print $i}}' "$1"; }

top_chain() { # the gc.ref.snapshot label on the image's config blob
        bctr "$1" content ls | grep -o 'containerd.io/gc.ref.snapshot.[a-z]*=sha256:[0-9a-f]*' | head -1 | cut -d= -f2
}

@test "pull the small image: image, content labels, one snapshot with the files" {
        berthd_start "$I"
        run gb "$I" pull "$ADDR/berth/busybox:latest"
        [ "$status" -eq 0 ]
        [[ "$output" == *"progress fetching"* ]]
        [[ "$output" == *"done $ADDR/berth/busybox:latest sha256:"* ]]
        run bctr "$I" images ls -q
        [ "$output" = "$ADDR/berth/busybox:latest" ]
        run bctr "$I" images check
        [[ "$output" == *"complete"* ]]
        run bctr "$I" content ls
        [[ "$output" == *"containerd.io/gc.ref.content.config=sha256:"* ]]
        [[ "$output" == *"containerd.io/gc.ref.content.l.0=sha256:"* ]]
        [[ "$output" == *"containerd.io/uncompressed=sha256:"* ]]
        [[ "$output" == *"containerd.io/distribution.source.127.0.0.1=berth/busybox"* ]]
        chain=$(top_chain "$I")
        [ -n "$chain" ]
        run bctr "$I" snapshots ls
        [ "${#lines[@]}" -eq 2 ]
        [[ "${lines[1]}" == "$chain"*Committed* ]]
        run bctr "$I" snapshots info "$chain"
        [[ "$output" == *"\"containerd.io/snapshot.ref\": \"$chain\""* ]]
        bctr "$I" snapshots view tv "$chain" >/dev/null
        cmd=$(bctr "$I" snapshots mounts "$MNT" tv)
        eval "$cmd"
        [ -x "$MNT/bin/busybox" ]
        [ -L "$MNT/bin/sh" ]
        umount "$MNT"
        # no leases left: the pull deletes its own
        run bctr "$I" leases ls -q
        [ -z "$output" ]
        # pulling again fetches nothing
        run gb "$I" pull "$ADDR/berth/busybox:latest"
        [ "$status" -eq 0 ]
        [[ "$output" == *" exists "* ]]
        [[ "$output" == *"fetched=0 resumed=0"* ]]
}

@test "pull the big image: 4 layers, snapshot chain, blobs verify; Info counts" {
        berthd_start "$I"
        gb "$I" pull "$ADDR/berth/big:latest" >"$BERTHD_TEST_DIR/big.out"
        fetched=$(done_field "$BERTHD_TEST_DIR/big.out" fetched)
        [ "$fetched" -gt 100000000 ]
        run bctr "$I" snapshots ls
        [ "${#lines[@]}" -eq 5 ]
        chain=$(top_chain "$I")
        # walk the chain from the top: 4 committed snapshots, the last without parent
        n=0
        key=$chain
        while [ -n "$key" ]; do
                n=$((n + 1))
                key=$(bctr "$I" snapshots ls | awk -v k="$key" '$1 == k && NF == 3 {print $2}')
        done
        [ "$n" -eq 4 ]
        bctr "$I" snapshots view big-view "$chain" >/dev/null
        eval "$(bctr "$I" snapshots mounts "$MNT" big-view)"
        [ -x "$MNT/bin/busybox" ]
        [ "$(find "$MNT" -type f -size +1M | wc -l)" -ge 4 ]
        umount "$MNT"
        # every blob on disk matches its name and ctr content ls lists them all
        blobs=$(berthd_dir "$I")/root/content/blobs/sha256
        for f in "$blobs"/*; do
                [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ]
        done
        [ "$(bctr "$I" content ls -q | wc -l)" -eq "$(ls "$blobs" | wc -l)" ]
        run gb "$I" info
        [ "$status" -eq 0 ]
        [[ "$output" == *"images=1"* ]]
        [[ "$output" == *"content_blobs=6"* ]]
        [[ "$output" == *"snapshots=5"* ]]
}

@test "the event loop stays responsive during a pull; a cancelled pull leaves the store consistent" {
        BERTHD_PULL_RATE_LIMIT=20000000 berthd_start "$I"
        "$GRPC_BERTH" "$(berthd_sock "$I")" pull "$ADDR/berth/big:latest" >"$BERTHD_TEST_DIR/cancel.out" 2>&1 &
        CLIENT_PID=$!
        sleep 1
        start=$(date +%s%N)
        bctr "$I" version >/dev/null
        bctr "$I" images ls >/dev/null
        elapsed_ms=$((($(date +%s%N) - start) / 1000000))
        [ "$elapsed_ms" -lt 1500 ]
        kill -TERM "$CLIENT_PID"
        wait "$CLIENT_PID" || true
        CLIENT_PID=
        sleep 0.5
        grep -q "pull cancelled by the client" "$(berthd_dir "$I")/berthd.log"
        # no image, no half-made snapshot
        [ -z "$(bctr "$I" images ls -q)" ]
        ! bctr "$I" snapshots ls | grep -q Active
}

@test "SIGKILL mid-pull, restart, pull again: resumes with fewer bytes, all blobs verify, no ingest after GC" {
        BERTHD_PULL_RATE_LIMIT=30000000 berthd_start "$I"
        "$GRPC_BERTH" "$(berthd_sock "$I")" pull "$ADDR/berth/big:latest" >"$BERTHD_TEST_DIR/kill.out" 2>&1 &
        CLIENT_PID=$!
        for _ in $(seq 1 100); do
                done_bytes=$(awk '/^progress/{split($4, a, "/"); d = a[1]} END {print d + 0}' "$BERTHD_TEST_DIR/kill.out")
                [ "$done_bytes" -gt 30000000 ] && break
                sleep 0.05
        done
        [ "$done_bytes" -gt 30000000 ]
        berthd_stop "$I" KILL || true
        wait "$CLIENT_PID" || true
        CLIENT_PID=
        ingest=$(berthd_dir "$I")/root/content/ingest
        [ "$(ls "$ingest" | wc -l)" -gt 0 ]

        berthd_start "$I"
        gb "$I" pull "$ADDR/berth/big:latest" >"$BERTHD_TEST_DIR/resume.out"
        fetched=$(done_field "$BERTHD_TEST_DIR/resume.out" fetched)
        resumed=$(done_field "$BERTHD_TEST_DIR/resume.out" resumed)
        total=$(stat -c %s "$BIG")
        [ "$fetched" -lt 90000000 ]
        [ "$resumed" -gt 0 ] || grep -q "exists" "$BERTHD_TEST_DIR/resume.out"
        grep -q "resuming sha256:" "$(berthd_dir "$I")/berthd.log"
        run bctr "$I" images check
        [[ "$output" == *"complete"* ]]
        [ "$(bctr "$I" snapshots ls | grep -c Committed)" -eq 4 ]
        ! bctr "$I" snapshots ls | grep -q Active
        blobs=$(berthd_dir "$I")/root/content/blobs/sha256
        for d in $(bctr "$I" content ls -q); do
                [ "$(sha256sum "$blobs/${d#sha256:}" | cut -d' ' -f1)" = "${d#sha256:}" ]
        done
        [ -z "$(bctr "$I" content active | tail -n +2)" ]
        # the killed pull's lease still holds what it had; dropping it and collecting leaves no ingest behind
        for l in $(bctr "$I" leases ls -q); do bctr "$I" leases rm --sync "$l"; done
        [ "$(ls "$ingest" | wc -l)" -eq 0 ]
        run bctr "$I" images check
        [[ "$output" == *"complete"* ]]
}

@test "errors: unknown image, unreachable registry, bad platform, bad reference" {
        berthd_start "$I"
        run gb "$I" pull "$ADDR/berth/nope:latest"
        [ "$status" -eq 1 ]
        [[ "$output" == *"NOT_FOUND: failed to resolve reference \"$ADDR/berth/nope:latest\""* ]]
        run gb "$I" pull --platform nonsense/x/y/z "$ADDR/berth/busybox:latest"
        [ "$status" -eq 1 ]
        [[ "$output" == *"INVALID_ARGUMENT: invalid platform"* ]]
        run gb "$I" pull "127.0.0.1:1/x:latest"
        [ "$status" -eq 1 ]
        [[ "$output" == *"UNAVAILABLE: failed to resolve reference"* ]]
        run gb "$I" pull "UPPER/x"
        [ "$status" -eq 1 ]
        [[ "$output" == *"INVALID_ARGUMENT: failed to parse reference"* ]]
}

@test "export then import under another namespace; ctr imports our export; we import ctr's and skopeo's" {
        berthd_start "$I"
        gb "$I" pull "$ADDR/berth/busybox:latest" >/dev/null
        out=$BERTHD_TEST_DIR/export-$I.tar
        gb "$I" export "$out" "$ADDR/berth/busybox:latest"
        tar tf "$out" | grep -qx oci-layout
        tar xOf "$out" index.json | grep -q '"org.opencontainers.image.ref.name":"latest"'
        tar xOf "$out" index.json | grep -q "\"io.containerd.image.name\":\"$ADDR/berth/busybox:latest\""
        # round trip in another namespace
        run gb -n other "$I" import "$out"
        [ "$status" -eq 0 ]
        [ "$output" = "imported $ADDR/berth/busybox:latest $(bctr "$I" images ls | awk 'NR==2{print $3}')" ]
        [ "$(bctr "$I" -n other snapshots ls | grep -c Committed)" -eq 1 ]
        # skopeo reads it as an OCI archive
        skopeo --insecure-policy inspect --raw "oci-archive:$out" | grep -q schemaVersion
        # ctr imports it
        run bctr "$I" -n ctrimp images import "$out"
        [ "$status" -eq 0 ]
        [[ "$output" == *"done"* ]]
        # ctr's export, imported by us under the name it carries
        bctr "$I" images export "$BERTHD_TEST_DIR/ctr-export.tar" "$ADDR/berth/busybox:latest"
        run gb -n fromctr "$I" import "$BERTHD_TEST_DIR/ctr-export.tar"
        [ "$status" -eq 0 ]
        [[ "$output" == "imported $ADDR/berth/busybox:latest sha256:"* ]]
        # a docker-archive made by skopeo becomes a docker schema2 manifest (the same digest containerd makes)
        skopeo --insecure-policy copy -q "oci-archive:$SMALL" "docker-archive:$BERTHD_TEST_DIR/da.tar:berth/busybox:da"
        run gb -n da "$I" import "$BERTHD_TEST_DIR/da.tar"
        [ "$status" -eq 0 ]
        [[ "$output" == "imported docker.io/berth/busybox:da sha256:"* ]]
        run bctr "$I" -n da images ls
        [[ "$output" == *"application/vnd.docker.distribution.manifest.v2+json"* ]]
        bctr "$I" -n da snapshots view daview "$(bctr "$I" -n da snapshots ls | awk 'NR==2{print $1}')" >/dev/null
        eval "$(bctr "$I" -n da snapshots mounts "$MNT" daview)"
        [ -x "$MNT/bin/busybox" ]
        umount "$MNT"
        # garbage in, clear error out
        # (over 1 MiB: a smaller upload currently stalls in the gRPC client's close_send, see the s3 report)
        head -c 1100000 /dev/urandom >"$BERTHD_TEST_DIR/garbage.tar"
        run gb "$I" import "$BERTHD_TEST_DIR/garbage.tar"
        [ "$status" -eq 1 ]
        [[ "$output" == "INVALID_ARGUMENT: not a tar archive"* ]]
        run gb "$I" export "$BERTHD_TEST_DIR/x.tar" nope:latest
        [ "$status" -eq 1 ]
        [[ "$output" == *"NOT_FOUND: image \"nope:latest\": not found"* ]]
}
