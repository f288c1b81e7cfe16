#!/usr/bin/env bats
# `berth pull` against hostile or broken registries, end to end through berthd: htpasswd auth with docker
# config.json credentials, layers escaping the snapshot (`..`, an absolute symlink written through, hardlinks out),
# an unknown layer media type, manifests over the 4 MiB limit and a registry that drops every blob transfer half
# way. Each failure must be a clear error (exit code 1), write nothing outside berthd's root (a canary directory
# stays untouched), leave the store consistent (no image, no Active snapshot, every listed blob verifies) and a
# good pull must work afterwards on the same daemon.
#
# Registries: Debian's docker-registry (scripts/registry.sh; one with htpasswd, one open, hostile images pushed
# with skopeo) and tests/integration/fake-registry.py serving an OCI layout built by oci-build.py (for documents
# docker-registry would refuse, and for cutting connections).

load berthd-helpers

BERTH=$BERTH_BUILD/berth
USERPASS=berth:pull-s3cret

setup_file() {
        berthd_suite_setup
        [ -x "$BERTH" ] || { echo "# $BERTH not built" >&3; return 1; }
        SMALL=$("$BERTH_ROOT/scripts/build-image.sh")
        # not below BERTHD_TEST_DIR: berthd_stop_all stops whatever has a pid file there
        W=$(mktemp -d /tmp/berthd-pull-bad.XXXXXX)
        export SMALL W
        CANARY=$W/canary
        mkdir -p "$CANARY"
        echo target >"$CANARY/target"
        export CANARY

        # The fake registry's layout: the busybox image (tag "latest") plus the bad images.
        local build="python3 $BATS_TEST_DIRNAME/oci-build.py" lay=$W/layout k
        mkdir -p "$lay"
        tar xf "$SMALL" -C "$lay"
        for k in dotdot abs-symlink hardlink-dotdot hardlink-symlink plain; do
                $build layer "$k" "$W/$k.tar.gz" "$CANARY"
                $build oci-image "$lay" "$k" "$W/$k.tar.gz" >/dev/null
        done
        $build oci-image "$lay" unknown-mt --layer-media-type application/vnd.example.unknown \
                "$W/plain.tar.gz" >/dev/null
        BIG_MANIFEST=$($build oci-image "$lay" oversized --pad 5000000 "$W/plain.tar.gz")
        $build oci-index "$lay" oversized-child "$BIG_MANIFEST" >/dev/null
        # a 2 MiB incompressible layer (the one to cut) under a small one
        head -c 2097152 /dev/urandom >"$W/random.bin"
        python3 - "$W/random.bin" "$W/random.tar.gz" <<'EOF'
import gzip, io, sys, tarfile
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
    t.add(sys.argv[1], arcname="random.bin")
open(sys.argv[2], "wb").write(gzip.compress(raw.getvalue(), compresslevel=1, mtime=0))
EOF
        $build oci-image "$lay" cut "$W/random.tar.gz" "$W/plain.tar.gz" >/dev/null
        CUT_LAYER=sha256:$(sha256sum "$W/random.tar.gz" | cut -d' ' -f1)
        export BIG_MANIFEST CUT_LAYER

        python3 "$BATS_TEST_DIRNAME/fake-registry.py" "$lay" "$W/fake-addr" --cut-blobs "$W/cut" \
                2>"$W/fake-registry.log" 3>&- &
        echo $! >"$W/fake-pid"
        local i
        for i in $(seq 1 100); do
                [ -s "$W/fake-addr" ] && break
                sleep 0.05
        done
        FAKE=$(cat "$W/fake-addr")
        export FAKE

        AUTHREG=$("$BERTH_ROOT/scripts/registry.sh" start "$W/reg-auth" --htpasswd "$USERPASS")
        "$BERTH_ROOT/scripts/registry.sh" push "$W/reg-auth" "$SMALL" berth/busybox:latest --creds "$USERPASS"
        OPENREG=$("$BERTH_ROOT/scripts/registry.sh" start "$W/reg-open")
        "$BERTH_ROOT/scripts/registry.sh" push "$W/reg-open" "$SMALL" berth/busybox:latest
        for k in dotdot abs-symlink hardlink-dotdot hardlink-symlink; do
                skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$lay:$k" \
                        "docker://$OPENREG/evil/$k:latest"
        done
        export AUTHREG OPENREG
}

teardown_file() {
        if [ -n "${W:-}" ]; then
                "$BERTH_ROOT/scripts/registry.sh" cleanup "$W/reg-auth" >/dev/null 2>&1 || true
                "$BERTH_ROOT/scripts/registry.sh" cleanup "$W/reg-open" >/dev/null 2>&1 || true
                local pid
                pid=$(cat "$W/fake-pid" 2>/dev/null || true)
                if [ -n "$pid" ]; then
                        kill "$pid" 2>/dev/null || true
                        wait "$pid" 2>/dev/null || true
                fi
        fi
        berthd_suite_teardown
        [ -z "${W:-}" ] || rm -rf "$W"
}

setup() {
        I=t$BATS_TEST_NUMBER
        rm -f "$W/cut"
        # every test starts without credentials (an empty DOCKER_CONFIG dir: no config.json)
        export DOCKER_CONFIG=$W/docker-$I
        mkdir -p "$DOCKER_CONFIG"
}

teardown() {
        rm -f "$W/cut"
        berthd_stop_all
}

pull() { # pull NAME REF : berth pull through instance NAME
        timeout 120 "$BERTH" -a "$(berthd_sock "$1")" pull --plain-http "$2"
}

# The canary outside the store is exactly as setup_file left it: one file "target" with one link and its text.
canary_intact() {
        [ "$(ls -A "$CANARY")" = target ]
        [ "$(stat -c %h "$CANARY/target")" -eq 1 ]
        [ "$(cat "$CANARY/target")" = target ]
}

# After a failed pull of REF: no such image, no Active snapshot, every blob ctr lists is on disk and verifies,
# nothing outside the store touched.
store_consistent() { # NAME REF
        local name=$1 ref=$2 d blobs
        blobs=$(berthd_dir "$name")/root/content/blobs/sha256
        [ "$(bctr "$name" images ls -q | grep -cxF "$ref")" -eq 0 ]
        [ "$(bctr "$name" snapshots ls | grep -c Active)" -eq 0 ]
        for d in $(bctr "$name" content ls -q); do
                [ "$(sha256sum "$blobs/${d#sha256:}" | cut -d' ' -f1)" = "${d#sha256:}" ]
        done
        # no orphaned snapshot directory on disk: one per snapshot ctr lists (the failed one removed)
        [ "$(find "$(berthd_dir "$name")"/root/snapshots/*/snapshots -mindepth 1 -maxdepth 1 | wc -l)" -eq \
                "$(bctr "$name" snapshots ls | tail -n +2 | wc -l)" ]
        canary_intact
}

# (Negations are written as counts: bats does not fail a test on a `! cmd` that is not its last command.)

# A good pull on the same daemon still works and gives a complete, unpacked image.
good_pull_works() { # NAME
        local ref=$FAKE/berth/busybox:latest
        run pull "$1" "$ref"
        echo "good pull: $output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Pulled $ref"* ]]
        bctr "$1" images ls -q | grep -qxF "$ref"
        run bctr "$1" images check
        [[ "$output" == *"complete"* ]]
        bctr "$1" snapshots ls | grep -q Committed
        [ "$(bctr "$1" snapshots ls | grep -c Active)" -eq 0 ]
}

@test "htpasswd registry: no or wrong credentials fail 'unauthorized'; config.json credentials pull" {
        DOCKER_CONFIG=$W/docker-$I berthd_start "$I"
        ref=$AUTHREG/berth/busybox:latest
        run pull "$I" "$ref"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"unauthorized"* ]]
        store_consistent "$I" "$ref"
        # wrong password (config.json is read at each pull)
        printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$AUTHREG" "$(printf 'berth:wrong' | base64 -w0)" \
                >"$W/docker-$I/config.json"
        run pull "$I" "$ref"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"unauthorized"* ]]
        store_consistent "$I" "$ref"
        printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$AUTHREG" "$(printf '%s' "$USERPASS" | base64 -w0)" \
                >"$W/docker-$I/config.json"
        run pull "$I" "$ref"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Pulled $ref"* ]]
        run bctr "$I" images check
        [[ "$output" == *"$ref"*"complete"* ]]
        [ "$(bctr "$I" snapshots ls | grep -c Active)" -eq 0 ]
        canary_intact
}

@test "credentials from a daemon started with DOCKER_CONFIG pointing at a config.json" {
        printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$AUTHREG" "$(printf '%s' "$USERPASS" | base64 -w0)" \
                >"$W/docker-$I/config.json"
        DOCKER_CONFIG=$W/docker-$I berthd_start "$I"
        # the client's environment plays no part: the daemon authenticates
        run env DOCKER_CONFIG=/nonexistent timeout 120 "$BERTH" -a "$(berthd_sock "$I")" pull --plain-http \
                "$AUTHREG/berth/busybox:latest"
        echo "$output"
        [ "$status" -eq 0 ]
        bctr "$I" images ls -q | grep -qxF "$AUTHREG/berth/busybox:latest"
        canary_intact
}

# pull_rejected NAME REF EXPECTED-SUBSTRING: the pull fails with exit 1 and the message, then the store checks.
pull_rejected() {
        run pull "$1" "$2"
        echo "pull $2: $output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"$3"* ]]
        store_consistent "$1" "$2"
}

@test "a layer with a ../ path is rejected" {
        berthd_start "$I"
        pull_rejected "$I" "$OPENREG/evil/dotdot:latest" "/dotdot\" escapes the layer root: invalid argument"
        [[ "$output" == *"failed to extract layer sha256:"* ]]
        good_pull_works "$I"
}

@test "a layer writing through an absolute symlink is rejected" {
        berthd_start "$I"
        pull_rejected "$I" "$OPENREG/evil/abs-symlink:latest" \
                "path \"escape/abs-symlink\": parent \"escape\" resolves outside the layer root: invalid argument"
        good_pull_works "$I"
}

@test "a layer with a hardlink to ../ outside the tree is rejected" {
        berthd_start "$I"
        pull_rejected "$I" "$OPENREG/evil/hardlink-dotdot:latest" "/target\" escapes the layer root: invalid argument"
        [[ "$output" == *"hardlink \"hl\" to \""* ]]
        good_pull_works "$I"
}

@test "a layer with a hardlink through an absolute symlink out of the tree is rejected" {
        berthd_start "$I"
        pull_rejected "$I" "$OPENREG/evil/hardlink-symlink:latest" \
                "hardlink \"hl\" to \"out/target\" resolves outside the layer root: invalid argument"
        good_pull_works "$I"
}

@test "an unknown layer media type is rejected" {
        berthd_start "$I"
        pull_rejected "$I" "$FAKE/x/unknown:unknown-mt" "application/vnd.example.unknown"
        [[ "$output" == *"not a layer"* ]]
        # nothing was unpacked for it
        [ -z "$(bctr "$I" snapshots ls | tail -n +2)" ]
        good_pull_works "$I"
}

@test "a manifest over 4 MiB is rejected, by its size on resolve and as an index's child" {
        berthd_start "$I"
        pull_rejected "$I" "$FAKE/x/big:oversized" "manifest too large"
        [[ "$output" == *"rejecting 5000"*" byte manifest"* ]]
        pull_rejected "$I" "$FAKE/x/big:oversized-child" "manifest too large: $BIG_MANIFEST is 5000"
        [ "$(bctr "$I" content ls -q | grep -cxF "$BIG_MANIFEST")" -eq 0 ]
        [ -z "$(bctr "$I" snapshots ls | tail -n +2)" ]
        good_pull_works "$I"
}

@test "a registry dropping every transfer of a blob half way: clear error; served fully, the pull resumes" {
        berthd_start "$I"
        ref=$FAKE/x/cut:cut
        echo "$CUT_LAYER" >"$W/cut"
        pull_rejected "$I" "$ref" "unavailable"
        [[ "$output" == *"$CUT_LAYER"* ]]
        # the half that arrived is kept to resume from
        bctr "$I" content active | grep -q "${CUT_LAYER#sha256:}"
        [ "$(bctr "$I" content ls -q | grep -cxF "$CUT_LAYER")" -eq 0 ]
        # again: still the same clear error, nothing half-made
        pull_rejected "$I" "$ref" "unavailable"
        rm -f "$W/cut"
        run pull "$I" "$ref"
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Pulled $ref"* ]]
        # resumed from the half: at least 1 MiB not fetched again
        grep -E "pulled $ref \(sha256:[0-9a-f]+\) in [0-9]+ ms: [0-9]+ bytes fetched, [0-9]{7,} resumed" \
                "$(berthd_dir "$I")/berthd.log"
        run bctr "$I" images check
        [[ "$output" == *"$ref"*"complete"* ]]
        [ "$(bctr "$I" snapshots ls | grep -c Committed)" -eq 2 ]
        [ "$(bctr "$I" snapshots ls | grep -c Active)" -eq 0 ]
        [ -z "$(bctr "$I" content active | tail -n +2)" ]
        canary_intact
        good_pull_works "$I"
}
