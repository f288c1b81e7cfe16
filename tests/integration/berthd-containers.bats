#!/usr/bin/env bats
# The Containers service driven by Debian's ctr: create from an imported image (snapshot + spec built by the
# containerd client), ls with filters, info (spec as JSON), label, rm (with the snapshot), errors as containerd
# words them, the record surviving a daemon restart, and the garbage collector keeping a container's snapshot.

load berthd-helpers

IMG=docker.io/berth/busybox:latest

setup_file() {
        berthd_suite_setup
        ARCHIVE=$BERTH_ROOT/build/images/busybox.tar
        [ -f "$ARCHIVE" ] || "$BERTH_ROOT/scripts/build-image.sh" "$ARCHIVE" >/dev/null
        export ARCHIVE
}
teardown_file() { berthd_suite_teardown; }
teardown() { berthd_stop_all; }

import_busybox() {
        run bctr "$1" images import "$ARCHIVE"
        [ "$status" -eq 0 ] || { echo "# import: $output" >&3; return 1; }
}

@test "no containers: ls prints the header only, info/rm/label of a missing one fail" {
        berthd_start i1
        run bctr i1 containers ls
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ]
        [[ "${lines[0]}" == CONTAINER*IMAGE*RUNTIME* ]]
        run bctr i1 containers ls -q
        [ "$status" -eq 0 ]
        [ -z "$output" ]

        run bctr i1 containers info nope
        [ "$status" -ne 0 ]
        [[ "$output" == *'container "nope" in namespace "default": not found'* ]]
        run bctr i1 containers label nope a=b
        [ "$status" -ne 0 ]
        [[ "$output" == *'container "nope" in namespace "default": not found'* ]]
        run bctr i1 containers rm nope
        [ "$status" -ne 0 ]
        [[ "$output" == *'not found'* ]]
}

@test "create, ls, info, label, rm with ctr" {
        berthd_start i2
        import_busybox i2
        run bctr i2 containers create --label tier=web "$IMG" c1
        [ "$status" -eq 0 ] || { echo "$output"; false; }

        run bctr i2 containers ls
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 2 ]
        echo "${lines[1]}" | grep -E "^c1 +$IMG +io\.containerd\.runc\.v2 *$"

        # The snapshot ctr prepared for it, active, under the container's id.
        run bctr i2 snapshots ls
        [ "$status" -eq 0 ]
        echo "$output" | grep -E '^c1 +sha256:[0-9a-f]{64} +Active'

        run bctr i2 containers info c1
        [ "$status" -eq 0 ]
        python3 - "$output" <<'EOF'
import json, sys
info = json.loads(sys.argv[1])
assert info["ID"] == "c1", info
assert info["Image"] == "docker.io/berth/busybox:latest", info
assert info["Runtime"]["Name"] == "io.containerd.runc.v2", info
assert info["SnapshotKey"] == "c1", info
assert info["Snapshotter"] in ("overlayfs", "native"), info
assert info["Labels"]["tier"] == "web", info
spec = info["Spec"]
assert spec["ociVersion"].startswith("1."), spec
assert spec["process"]["args"] == ["sh"], spec["process"]
assert spec["root"]["path"] == "rootfs", spec["root"]
assert info["CreatedAt"] == info["UpdatedAt"], info
EOF
        run bctr i2 containers info --spec c1
        [ "$status" -eq 0 ]
        [[ "$output" == *'"ociVersion"'* ]]

        # Labels: set, filter on, clear.
        run bctr i2 containers label c1 a=b
        [ "$status" -eq 0 ]
        # ctr prints every label the container has now, in Go map order.
        [[ ",$output," == *",a=b,"* ]]
        [[ ",$output," == *",tier=web,"* ]]
        run bctr i2 containers ls -q labels.a==b
        [ "$status" -eq 0 ]
        [ "$output" = c1 ]
        run bctr i2 containers ls -q 'labels.a==x'
        [ "$status" -eq 0 ]
        [ -z "$output" ]
        run bctr i2 containers ls -q "image==$IMG,runtime.name==io.containerd.runc.v2"
        [ "$output" = c1 ]
        run bctr i2 containers info c1
        python3 -c 'import json,sys; i=json.loads(sys.argv[1]); assert i["Labels"]["a"]=="b" and i["Labels"]["tier"]=="web", i; assert i["UpdatedAt"]!=i["CreatedAt"]' "$output"
        run bctr i2 containers label c1 a=
        [ "$status" -eq 0 ]
        run bctr i2 containers ls -q labels.a
        [ -z "$output" ]

        # Same id again.
        run bctr i2 containers create "$IMG" c1
        [ "$status" -ne 0 ]
        [[ "$output" == *'already exists'* ]]

        # Other namespaces do not see it.
        run bctr i2 -n other containers ls -q
        [ "$status" -eq 0 ]
        [ -z "$output" ]

        run bctr i2 containers rm c1
        [ "$status" -eq 0 ]
        run bctr i2 containers ls -q
        [ -z "$output" ]
        run bctr i2 snapshots ls
        if echo "$output" | grep -E '^c1 '; then false; fi
        run bctr i2 containers rm c1
        [ "$status" -ne 0 ]
        [[ "$output" == *'container "c1" in namespace "default": not found'* ]]
}

@test "invalid container ids are refused with containerd's text" {
        berthd_start i3
        import_busybox i3
        run bctr i3 containers create "$IMG" 'bad/id'
        [ "$status" -ne 0 ]
        [[ "$output" == *'container.ID: identifier "bad/id" must match'* ]]
        run bctr i3 containers ls -q
        [ -z "$output" ]
}

@test "the container keeps its snapshot through garbage collection; rm --keep-snapshot leaves it to GC" {
        berthd_start i4
        import_busybox i4
        run bctr i4 containers create "$IMG" keep
        [ "$status" -eq 0 ]
        # ctr created the snapshot under a lease it deleted at the end; only the container record holds it now.
        run bctr i4 leases ls -q
        [ -z "$output" ]
        # Removing an image triggers a synchronous collection pass (images rm --sync).
        run bctr i4 images tag "$IMG" docker.io/berth/busybox:other
        run bctr i4 images rm --sync docker.io/berth/busybox:other
        [ "$status" -eq 0 ]
        run bctr i4 snapshots ls
        echo "$output" | grep -E '^keep +sha256:'

        run bctr i4 containers rm --keep-snapshot keep
        [ "$status" -eq 0 ]
        run bctr i4 images rm --sync "$IMG"
        [ "$status" -eq 0 ]
        # Nothing references the snapshot (nor its parents) any more.
        for i in $(seq 1 50); do
                run bctr i4 snapshots ls
                echo "$output" | grep -qE '^keep ' || break
                sleep 0.1
        done
        if echo "$output" | grep -E '^keep '; then false; fi
        [ "${#lines[@]}" -eq 1 ]
}

@test "records survive a daemon restart" {
        berthd_start i5
        import_busybox i5
        run bctr i5 containers create --label x=1 "$IMG" persistent
        [ "$status" -eq 0 ]
        berthd_stop i5
        berthd_start i5
        run bctr i5 containers ls -q labels.x==1
        [ "$status" -eq 0 ]
        [ "$output" = persistent ]
        run bctr i5 containers rm persistent
        [ "$status" -eq 0 ]
}
