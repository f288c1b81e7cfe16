#!/usr/bin/env bats
# A registry serving wrong bytes for a layer (same size, one byte flipped in its storage): berthd's pull hashes
# each layer once, in the ingest, and the ingest's commit must reject the blob before it is visible, whether the
# layer was being streamed into its extraction (every layer of an in-order pull) or not. Nothing of the bad layer
# may remain: no image, no content, no snapshot of its chain, no ingest of it; the good layers before it stay.

load berthd-helpers

GRPC_BERTH=$BERTH_BUILD/tools/grpc-berth

setup_file() {
        berthd_suite_setup
        [ -x "$GRPC_BERTH" ] || { echo "# $GRPC_BERTH not built" >&3; return 1; }
        SMALL=$("$BERTH_ROOT/scripts/build-image.sh")
        BIG=$("$BERTH_ROOT/scripts/build-big-image.sh")
        REG=$(mktemp -d /tmp/berthd-pull-verify-registry.XXXXXX)
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
}

teardown() {
        berthd_stop_all
}

gb() { # gb NAME ARGS... : grpc-berth against an instance
        local name=$1
        shift
        timeout 120 "$GRPC_BERTH" "$(berthd_sock "$name")" "$@"
}

layers_of() { # archive -> the manifest's layer digests, in order
        python3 - "$1" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
files = {n.name.lstrip("./"): n for n in t.getmembers()}
blob = lambda d: t.extractfile(files["blobs/sha256/" + d.split(":")[1]]).read()
index = json.loads(t.extractfile(files["index.json"]).read())
for l in json.loads(blob(index["manifests"][0]["digest"]))["layers"]:
    print(l["digest"])
EOF
}

corrupt() { # digest: flip one byte in the middle of the registry's copy (same size, other digest)
        local hex=${1#sha256:} data
        data=$REG/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
        [ -f "$data" ]
        cp "$data" "$data.orig"
        python3 - "$data" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0xff]))
EOF
}

restore() { # digest
        local hex=${1#sha256:}
        mv "$REG/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data.orig" \
                "$REG/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}

# The pull failed on BAD's digest and left nothing of it behind.
check_rejected() { # instance image bad-digest output
        local inst=$1 image=$2 bad=$3 out=$4
        echo "pull output: $out"   # shown if a check fails
        [[ "$out" == *"FAILED_PRECONDITION"* ]]
        [[ "$out" == *"unexpected commit digest"*"expected $bad"* ]]
        ! bctr "$inst" images ls -q | grep -qx "$image"
        ! bctr "$inst" content ls -q | grep -qx "$bad"
        # the bad bytes are not kept to resume from (later layers' ingests may stay, as after any failed pull)
        ! bctr "$inst" content active | grep -q "${bad#sha256:}"
        ! bctr "$inst" snapshots ls | grep -q Active
}

@test "a corrupted single-layer image (streamed into its extraction) is rejected" {
        bad=$(layers_of "$SMALL" | head -1)
        corrupt "$bad"
        berthd_start "$I"
        run gb "$I" pull "$ADDR/berth/busybox:latest"
        restore "$bad"
        [ "$status" -eq 1 ]
        check_rejected "$I" "$ADDR/berth/busybox:latest" "$bad" "$output"
        [ "$(bctr "$I" snapshots ls | tail -n +2 | wc -l)" -eq 0 ]
        # the registry fixed: the same daemon pulls it
        gb "$I" pull "$ADDR/berth/busybox:latest" >/dev/null
        bctr "$I" images ls -q | grep -qx "$ADDR/berth/busybox:latest"
}

@test "a corrupted third layer of four is rejected; the layers before it were unpacked and stay" {
        mapfile -t layers < <(layers_of "$BIG")
        [ "${#layers[@]}" -eq 4 ]
        bad=${layers[2]}
        corrupt "$bad"
        berthd_start "$I"
        run gb "$I" pull "$ADDR/berth/big:latest"
        restore "$bad"
        [ "$status" -eq 1 ]
        check_rejected "$I" "$ADDR/berth/big:latest" "$bad" "$output"
        [ "$(bctr "$I" snapshots ls | grep -c Committed)" -eq 2 ]
        gb "$I" pull "$ADDR/berth/big:latest" >/dev/null
        run bctr "$I" images check
        [[ "$output" == *"complete"* ]]
        [ "$(bctr "$I" snapshots ls | grep -c Committed)" -eq 4 ]
}
