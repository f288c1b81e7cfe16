#!/usr/bin/env bats
# The berth CLI (and through it libberth) against a private berthd and a local registry: pull with progress
# (plain lines when stdout is not a terminal, redrawn in place on a pty), images (table, json, -q), rmi,
# image export/import round trip, info, version, and the errors (unknown image, daemon not running, bad flags).

load berthd-helpers

BERTH=$BERTH_BUILD/berth
REGISTRY_SH=$BERTH_ROOT/scripts/registry.sh

setup_file() {
        berthd_suite_setup
        [ -x "$BERTH" ] || { echo "# $BERTH not built" >&3; return 1; }
        ARCHIVE=$("$BERTH_ROOT/scripts/build-image.sh")
        REG_DIR=$BERTHD_TEST_DIR/registry
        REG=$("$REGISTRY_SH" start "$REG_DIR")
        "$REGISTRY_SH" push "$REG_DIR" "$ARCHIVE" berth/busybox:latest
        export ARCHIVE REG_DIR REG
        berthd_start main
        export BERTH_ADDRESS
        BERTH_ADDRESS=$(berthd_sock main)
        # What the archive holds: the manifest digest, and config + layers (what `berth images` sums).
        read -r MANIFEST_DIGEST IMAGE_SIZE < <(python3 - "$ARCHIVE" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
def member(name):
    names = t.getnames()
    return t.extractfile(name if name in names else "./" + name)
def blob(d):
    return json.load(member("blobs/" + d.replace(":", "/")))
m = json.load(member("index.json"))["manifests"][0]
man = blob(m["digest"])
print(m["digest"], man["config"]["size"] + sum(l["size"] for l in man["layers"]))
PY
        )
        export MANIFEST_DIGEST IMAGE_SIZE
}

teardown_file() {
        [ -n "${REG_DIR:-}" ] && "$REGISTRY_SH" cleanup "$REG_DIR"
        berthd_suite_teardown
}

berth() { timeout 60 "$BERTH" "$@"; }

@test "version: client and server" {
        run berth version
        [ "$status" -eq 0 ]
        [[ "$output" == *"Client:"*"Version:   0.1.0"* ]]
        [[ "$output" == *"Server:"*"berthd:"*"Version:  1.6.20+berth.0.1.0"* ]]
        run berth --version
        [ "$status" -eq 0 ]
        [ "$output" = "berth version 0.1.0" ]
}

@test "help and usage errors exit 2" {
        run berth --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"-a, --address"*"BERTH_ADDRESS"*"pull"*"images"*"rmi"* ]]
        run berth pull --help
        [ "$status" -eq 0 ]
        [[ "$output" == *"--plain-http"* ]]
        run berth images --bogus
        [ "$status" -eq 2 ]
        [[ "$output" == *"berth images: unknown flag: --bogus"*"See 'berth images --help'."* ]]
        run berth pull
        [ "$status" -eq 2 ]
        [[ "$output" == *"requires exactly 1 argument"* ]]
        run berth pull --platform
        [ "$status" -eq 2 ]
        [[ "$output" == *"flag needs an argument: --platform"* ]]
        run berth images --format yaml
        [ "$status" -eq 2 ]
        run berth frobnicate
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown command: frobnicate"* ]]
        run berth image
        [ "$status" -eq 2 ]
        run berth image export only-one-arg
        [ "$status" -eq 2 ]
        run berth
        [ "$status" -eq 2 ]
}

@test "daemon not running: clear message, exit 1" {
        run berth -a "$BERTHD_TEST_DIR/nothing-here.sock" images
        [ "$status" -eq 1 ]
        local want="berth: cannot connect to berthd at $BERTHD_TEST_DIR/nothing-here.sock: No such file or directory"
        [ "$output" = "$want" ]
        # env var, and the unix:// form
        BERTH_ADDRESS=unix://$BERTHD_TEST_DIR/nothing-here.sock run berth version
        [ "$status" -eq 1 ]
        [[ "$output" == *"Client:"* ]]
        [[ "$output" == *"berth: cannot connect to berthd at $BERTHD_TEST_DIR/nothing-here.sock: "* ]]
}

@test "pull --plain-http: plain progress lines, then name and digest" {
        run berth pull --plain-http "$REG/berth/busybox:latest"
        echo "$output"
        [ "$status" -eq 0 ]
        # No terminal: no escape sequences, one line per event.
        [[ "$output" != *$'\e'* ]]
        grep -Eq '^sha256:[0-9a-f]{12} (downloading|done|exists)' <<<"$output"
        grep -Eq "^sha256:${MANIFEST_DIGEST:7:12} (done|exists)" <<<"$output"
        [ "${lines[-2]}" = "Digest: $MANIFEST_DIGEST" ]
        [ "${lines[-1]}" = "Pulled $REG/berth/busybox:latest" ]
}

@test "images: table with size and id, -q, REPOSITORY filter" {
        run berth images
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "REPOSITORY"*"TAG"*"IMAGE ID"*"CREATED"*"SIZE" ]]
        local size
        size=$(python3 -c "print('%.1f MiB' % ($IMAGE_SIZE / 1048576))")
        local since='(Less than a second|[0-9]+ seconds|About a minute) ago'
        grep -Eq "^$REG/berth/busybox +latest +${MANIFEST_DIGEST:7:12} +$since +$size\$" <<<"$output"
        run berth images -q
        [ "$status" -eq 0 ]
        [ "$output" = "${MANIFEST_DIGEST:7:12}" ]
        run berth images "$REG/berth/busybox"
        [ "${#lines[@]}" -eq 2 ]
        run berth images "$REG/berth/other"
        [ "${#lines[@]}" -eq 1 ]
        # The namespace is per call: another one is empty.
        run berth -n other-ns images -q
        [ "$status" -eq 0 ]
        [ -z "$output" ]
        BERTH_NAMESPACE=other-ns run berth images -q
        [ -z "$output" ]
}

@test "images --format json: one object per line with docker's keys" {
        run berth images --format json
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ]
        python3 - "$output" "$REG" "$MANIFEST_DIGEST" "$IMAGE_SIZE" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
reg, digest, size = sys.argv[2], sys.argv[3], int(sys.argv[4])
assert o["Repository"] == reg + "/berth/busybox", o
assert o["Tag"] == "latest", o
assert o["ID"] == digest[7:19], o
assert o["Digest"] == digest, o
assert o["Name"] == reg + "/berth/busybox:latest", o
assert o["SizeBytes"] == size, o
assert o["Size"].endswith("MiB"), o
assert o["CreatedSince"].endswith(" ago"), o
PY
}

@test "ctr sees what berth pulled" {
        run bctr main images ls -q
        [ "$status" -eq 0 ]
        [ "$output" = "$REG/berth/busybox:latest" ]
}

@test "pull of an unknown image: clear message, exit 1" {
        run berth pull --plain-http "$REG/berth/nosuch:latest"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "${lines[-1]}" == "berth: "*"not found"* ]]
        run berth images -q
        [ "$output" = "${MANIFEST_DIGEST:7:12}" ]
}

@test "rmi of an unknown image: exit 1" {
        run berth rmi nosuch
        [ "$status" -eq 1 ]
        [ "$output" = 'berth: image "nosuch": not found' ]
}

@test "image export, rmi, image import: round trip" {
        local out=$BERTHD_TEST_DIR/export.tar
        run berth image export "$REG/berth/busybox:latest" "$out"
        echo "$output"
        [ "$status" -eq 0 ]
        [ -s "$out" ]
        tar -tf "$out" | grep -Eqx '(\./)?index.json'
        tar -tf "$out" | grep -Eqx '(\./)?oci-layout'
        tar -tf "$out" | grep -Eqx "(\./)?blobs/sha256/${MANIFEST_DIGEST:7}"
        # no temp file left next to it
        [ -z "$(ls "$BERTHD_TEST_DIR" | grep berth-export)" ]

        run berth rmi "$REG/berth/busybox:latest"
        [ "$status" -eq 0 ]
        [ "$output" = "Untagged: $REG/berth/busybox:latest" ]
        run berth images -q
        [ -z "$output" ]

        run berth image import "$out"
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$output" = "Loaded image: $REG/berth/busybox:latest ($MANIFEST_DIGEST)" ]
        run berth images -q
        [ "$output" = "${MANIFEST_DIGEST:7:12}" ]

        # by image ID too (docker habit)
        run berth rmi "${MANIFEST_DIGEST:7:12}"
        [ "$status" -eq 0 ]
        [ "$output" = "Untagged: $REG/berth/busybox:latest" ]
        run berth image import "$ARCHIVE"
        [ "$status" -eq 0 ]
        [ "$output" = "Loaded image: docker.io/berth/busybox:latest ($MANIFEST_DIGEST)" ]
        run berth images
        [[ "$output" == *"berth/busybox "*"latest"* ]]
        run berth image export missing/image "$BERTHD_TEST_DIR/missing.tar"
        [ "$status" -eq 1 ]
        [[ "$output" == "berth: "*"not found"* ]]
        [ ! -e "$BERTHD_TEST_DIR/missing.tar" ]
}

@test "info" {
        run berth info
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"Version:      0.1.0"* ]]
        [[ "$output" == *"PID:          $(berthd_pid main)"* ]]
        [[ "$output" == *"Root Dir:     $(berthd_dir main)/root"* ]]
        [[ "$output" == *"Namespace:    default"* ]]
        grep -Eq '^  Images: +[1-9]' <<<"$output"
}

@test "pull on a terminal: progress redrawn in place, then name and digest" {
        # Another namespace, so the image is registered (and shown) afresh.
        run python3 "$BATS_TEST_DIRNAME/pty-run.py" --timeout 60 -- \
                "$BERTH" -n tty-ns pull --plain-http "$REG/berth/busybox:latest"
        echo "$output" | cat -v
        [ "$status" -eq 0 ]
        # cursor up over the previous drawing, and lines cleared before being rewritten
        grep -Pq '\e\[[0-9]+A' <<<"$output"
        grep -Pq '\e\[2Ksha256:[0-9a-f]{12} ' <<<"$output"
        grep -Pq "\e\[2K$REG/berth/busybox:latest: " <<<"$output"
        [[ "$output" == *"Digest: $MANIFEST_DIGEST"$'\r'*"Pulled $REG/berth/busybox:latest"* ]]
        run berth -n tty-ns images -q
        [ "$output" = "${MANIFEST_DIGEST:7:12}" ]
}
