#!/usr/bin/env bats
# berthd's snapshots and diff services through Debian's ctr: prepare/view/commit/mounts/ls/info/label/usage/rm
# on both snapshotters (the mount commands ctr prints are run for real), the errors containerd gives, leases,
# persistence across restarts, and layer application (import, unpack, a corrupted blob, an unknown media type).

load berthd-helpers

setup_file() { berthd_suite_setup; }
teardown_file() { berthd_suite_teardown; }

setup() {
        I=t$BATS_TEST_NUMBER # one instance per test
        MNT=$BERTHD_TEST_DIR/mnt-$BATS_TEST_NUMBER
        mkdir -p "$MNT"
}

teardown() {
        umount -R "$MNT" 2>/dev/null || true
        berthd_stop_all
        [ -z "${REG:-}" ] || "$BERTH_ROOT/scripts/registry.sh" cleanup "$REG" >/dev/null 2>&1 || true
}

# sn NAME SNAPSHOTTER ARGS...: ctr snapshots against an instance with the given snapshotter.
sn() {
        local name=$1 snapshotter=$2
        shift 2
        bctr "$name" snapshots --snapshotter "$snapshotter" "$@"
}

# Runs the mount command `ctr snapshots mounts` prints for KEY onto $MNT.
mount_snapshot() {
        local name=$1 snapshotter=$2 key=$3 cmd
        cmd=$(sn "$name" "$snapshotter" mounts "$MNT" "$key")
        [[ "$cmd" == "mount -t "* ]] || { echo "unexpected mount command: $cmd"; return 1; }
        eval "$cmd"
}

# The content service (another part of berthd) is needed for layer tests.
need_content_service() {
        local out
        out=$("$GRPC_PROBE" -n default "$(berthd_sock "$1")" call /containerd.services.content.v1.Content/ListStatuses)
        [[ "$out" != UNIMPLEMENTED* ]] || skip "berthd has no content service yet"
}

snapshot_lifecycle() {
        local s=$1 root
        root=$(berthd_dir $I)/root/snapshots/$s/snapshots
        berthd_start $I

        run sn $I "$s" prepare k1
        [ "$status" -eq 0 ]
        mount_snapshot $I "$s" k1
        echo one >"$MNT/one"
        mkdir "$MNT/dir"
        umount "$MNT"
        run sn $I "$s" commit c1 k1
        [ "$status" -eq 0 ]

        run sn $I "$s" prepare k2 c1
        [ "$status" -eq 0 ]
        mount_snapshot $I "$s" k2
        [ "$(cat "$MNT/one")" = one ]
        echo two >"$MNT/two"
        rm "$MNT/one"
        umount "$MNT"
        run sn $I "$s" commit c2 k2
        [ "$status" -eq 0 ]

        # a view of the chain is read-only and shows the top layer's changes over the bottom one
        run sn $I "$s" view v2 c2
        [ "$status" -eq 0 ]
        mount_snapshot $I "$s" v2
        [ "$(cat "$MNT/two")" = two ]
        [ ! -e "$MNT/one" ]
        [ -d "$MNT/dir" ]
        run touch "$MNT/x"
        [ "$status" -ne 0 ]
        [[ "$output" == *"Read-only file system"* ]]
        umount "$MNT"

        run sn $I "$s" ls
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = "KEY PARENT KIND      " ]
        [[ "${lines[1]}" =~ ^c1\ +Committed ]]
        [[ "${lines[2]}" =~ ^c2\ +c1\ +Committed ]]
        [[ "${lines[3]}" =~ ^v2\ +c2\ +View ]]
        [ "${#lines[@]}" -eq 4 ]

        # the backend directories by backend id, the committed ones without an overlay work dir (a native
        # view has no directory of its own: it mounts its parent)
        [ -d "$root/1/fs" ] && [ -d "$root/2/fs" ]
        [ ! -e "$root/1/work" ] && [ ! -e "$root/2/work" ]

        run sn $I "$s" info c2
        [ "$status" -eq 0 ]
        [[ "$output" == *'"Kind": "Committed"'* ]]
        [[ "$output" == *'"Name": "c2"'* ]]
        [[ "$output" == *'"Parent": "c1"'* ]]

        run sn $I "$s" usage -b c1
        [ "$status" -eq 0 ]
        # fs root, one, dir: 3 inodes; 4 KiB blocks each
        [[ "${lines[1]}" =~ ^c1\ +12288\ +3 ]]

        # removal: not a parent with children, not something missing; children first works
        run sn $I "$s" rm c1
        [ "$status" -ne 0 ]
        [[ "$output" == *'failed to remove "c1": cannot remove snapshot with child: failed precondition'* ]]
        run sn $I "$s" rm v2 c2 c1
        [ "$status" -eq 0 ]
        run sn $I "$s" ls
        [ "${#lines[@]}" -eq 1 ]
        [ "$(find "$root" -mindepth 1 -maxdepth 1 | wc -l)" -eq 0 ]
}

@test "overlayfs: prepare, mount, commit, view, ls, info, usage, rm" {
        snapshot_lifecycle overlayfs
}

@test "native: prepare, mount, commit, view, ls, info, usage, rm" {
        snapshot_lifecycle native
}

@test "errors are containerd's" {
        berthd_start $I
        sn $I overlayfs prepare k1
        run sn $I overlayfs prepare k1
        [ "$status" -ne 0 ]
        [[ "$output" == *'snapshot "k1": already exists'* ]]
        run sn $I overlayfs prepare k2 k1
        [ "$status" -ne 0 ]
        [[ "$output" == *'parent "k1" is not committed snapshot: invalid argument'* ]]
        run sn $I overlayfs prepare k2 nope
        [ "$status" -ne 0 ]
        [[ "$output" == *"parent snapshot nope does not exist: not found"* ]]
        run sn $I overlayfs commit c1 nope
        [ "$status" -ne 0 ]
        [[ "$output" == *"snapshot nope does not exist: not found"* ]]
        sn $I overlayfs commit c1 k1
        sn $I overlayfs view v1 c1
        run sn $I overlayfs commit c2 v1
        [ "$status" -ne 0 ]
        [[ "$output" == *'snapshot "v1" is not active: failed precondition'* ]]
        sn $I overlayfs prepare k3 c1
        run sn $I overlayfs commit c1 k3
        [ "$status" -ne 0 ]
        [[ "$output" == *'snapshot "c1": already exists'* ]]
        run sn $I overlayfs info nope
        [ "$status" -ne 0 ]
        [[ "$output" == *"snapshot nope does not exist: not found"* ]]
        run sn $I overlayfs rm nope
        [ "$status" -ne 0 ]
        [[ "$output" == *'failed to remove "nope": snapshot nope does not exist: not found'* ]]
        run sn $I overlayfs mounts "$MNT" nope
        [ "$status" -ne 0 ]
        [[ "$output" == *"snapshot nope does not exist: not found"* ]]
        run sn $I nosuch ls
        [ "$status" -ne 0 ]
        [[ "$output" == *"snapshotter not loaded: nosuch: invalid argument"* ]]
        # a failed commit leaves the active snapshot usable
        mount_snapshot $I overlayfs k3
        touch "$MNT/still-writable"
        umount "$MNT"
}

@test "labels: label, info, commit labels, update times" {
        berthd_start $I
        sn $I overlayfs prepare k1
        run sn $I overlayfs label k1 foo=bar color=blue
        [ "$status" -eq 0 ]
        run sn $I overlayfs info k1
        [[ "$output" == *'"foo": "bar"'* ]]
        [[ "$output" == *'"color": "blue"'* ]]
        created=$(echo "$output" | sed -n 's/.*"Created": "\(.*\)".*/\1/p')
        updated=$(echo "$output" | sed -n 's/.*"Updated": "\(.*\)".*/\1/p')
        [ -n "$created" ]
        [ "$created" != "$updated" ]
        # an empty value removes the label
        run sn $I overlayfs label k1 foo=
        [ "$status" -eq 0 ]
        run sn $I overlayfs info k1
        [[ "$output" != *'"foo"'* ]]
        [[ "$output" == *'"color": "blue"'* ]]
}

@test "usage of an active snapshot is measured, of a view is zero" {
        berthd_start $I
        sn $I native prepare k1
        mount_snapshot $I native k1
        head -c 100000 /dev/urandom >"$MNT/blob"
        umount "$MNT"
        run sn $I native usage -b k1
        [ "$status" -eq 0 ]
        size=$(echo "${lines[1]}" | awk '{print $2}')
        inodes=$(echo "${lines[1]}" | awk '{print $3}')
        [ "$size" -ge 100000 ]
        [ "$inodes" -eq 2 ]
        sn $I native commit c1 k1
        sn $I native view v1 c1
        run sn $I native usage -b
        [[ "$output" == *"c1 "*"$size"*"2"* ]]
        [[ "${lines[2]}" =~ ^v1\ +0\ +0 ]]
}

@test "namespaces are separate; records survive a restart" {
        berthd_start $I
        bctr $I -n one snapshots --snapshotter overlayfs prepare k1
        run bctr $I -n two snapshots --snapshotter overlayfs info k1
        [ "$status" -ne 0 ]
        [[ "$output" == *"snapshot k1 does not exist: not found"* ]]
        bctr $I -n two snapshots --snapshotter overlayfs prepare k1
        bctr $I -n one snapshots --snapshotter overlayfs commit c1 k1
        berthd_stop $I
        berthd_start $I
        run bctr $I -n one snapshots --snapshotter overlayfs ls
        [[ "${lines[1]}" =~ ^c1\ +Committed ]]
        run bctr $I -n two snapshots --snapshotter overlayfs ls
        [[ "${lines[1]}" =~ ^k1\ +Active ]]
        # distinct backend directories
        [ "$(find "$(berthd_dir $I)/root/snapshots/overlayfs/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ]
}

@test "images import unpacks through diff Apply; the chain is committed and viewable" {
        berthd_start $I
        need_content_service $I
        "$BERTH_ROOT/scripts/build-image.sh" >/dev/null
        run bctr $I images import "$BERTH_ROOT/build/images/busybox.tar"
        [ "$status" -eq 0 ]
        [[ "$output" == *"unpacking docker.io/berth/busybox:latest"*"done"* ]]
        run bctr $I snapshots ls
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 2 ]
        [[ "${lines[1]}" =~ ^sha256:[0-9a-f]{64}\ +Committed ]]
        chain=$(echo "${lines[1]}" | awk '{print $1}')
        bctr $I snapshots view busy "$chain"
        mount_snapshot $I overlayfs busy
        [ -x "$MNT/bin/busybox" ]
        "$MNT/bin/busybox" true
        umount "$MNT"
        bctr $I snapshots rm busy
        # a second import finds the chain by Stat and applies nothing
        run bctr $I images import "$BERTH_ROOT/build/images/busybox.tar"
        [ "$status" -eq 0 ]
        run bctr $I snapshots ls
        [ "${#lines[@]}" -eq 2 ]
        [[ "${lines[1]}" == "$chain "* ]]
        # one backend directory: the chain's
        [ "$(find "$(berthd_dir $I)/root/snapshots/overlayfs/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 1 ]
}

@test "ctr pull unpacks into snapshots; removing the image collects them" {
        berthd_start $I
        need_content_service $I
        "$BERTH_ROOT/scripts/build-image.sh" >/dev/null
        REG=$BERTHD_TEST_DIR/registry-$BATS_TEST_NUMBER
        addr=$("$BERTH_ROOT/scripts/registry.sh" start "$REG" | tail -1)
        "$BERTH_ROOT/scripts/registry.sh" push "$REG" "$BERTH_ROOT/build/images/busybox.tar" bb:1 >/dev/null
        run bctr $I images pull --plain-http "$addr/bb:1"
        [ "$status" -eq 0 ]
        run bctr $I snapshots ls
        [ "${#lines[@]}" -eq 2 ]
        [[ "${lines[1]}" =~ ^sha256:[0-9a-f]{64}\ +Committed ]]
        local root
        root=$(berthd_dir $I)/root/snapshots/overlayfs/snapshots
        [ -x "$root/1/fs/bin/busybox" ]
        run bctr $I images rm --sync "$addr/bb:1"
        [ "$status" -eq 0 ]
        run bctr $I snapshots ls
        [ "${#lines[@]}" -eq 1 ]
        [ ! -e "$root/1" ]
}

@test "import with the native snapshotter" {
        berthd_start $I
        need_content_service $I
        "$BERTH_ROOT/scripts/build-image.sh" >/dev/null
        run bctr $I images import --snapshotter native "$BERTH_ROOT/build/images/busybox.tar"
        [ "$status" -eq 0 ]
        chain=$(bctr $I snapshots --snapshotter native ls | awk 'NR == 2 {print $1}')
        [[ "$chain" == sha256:* ]]
        [ -x "$(berthd_dir $I)/root/snapshots/native/snapshots/1/fs/bin/busybox" ]
}

# The image's only layer blob path in instance a's content store.
layer_blob() {
        local manifest
        manifest=$(bctr $I images ls | awk 'NR == 2 {print $3}')
        bctr $I content get "$manifest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])'
}

@test "a blob whose bytes do not match its digest fails Apply with a clear error" {
        berthd_start $I
        need_content_service $I
        "$BERTH_ROOT/scripts/build-image.sh" >/dev/null
        bctr $I images import --no-unpack "$BERTH_ROOT/build/images/busybox.tar"
        layer=$(layer_blob)
        blob=$(berthd_dir $I)/root/content/blobs/sha256/${layer#sha256:}
        # the same tar, compressed differently: decompresses fine, digests differently
        gzip -dc "$blob" | gzip -1 >"$BERTHD_TEST_DIR/recompressed"
        chmod u+w "$blob"
        cat "$BERTHD_TEST_DIR/recompressed" >"$blob"
        manifest=$(bctr $I images ls | awk 'NR == 2 {print $3}')
        run bctr $I snapshots unpack "$manifest"
        [ "$status" -ne 0 ]
        [[ "$output" == *"digest mismatch: content $layer read as sha256:"* ]]
        # the extraction snapshot was removed by the client; nothing committed
        run bctr $I snapshots ls
        [ "${#lines[@]}" -eq 1 ]
}

@test "a layer with an unknown media type is refused by Apply" {
        berthd_start $I
        need_content_service $I
        "$BERTH_ROOT/scripts/build-image.sh" >/dev/null
        local dir=$BERTHD_TEST_DIR/weird
        mkdir -p "$dir"
        tar -C "$dir" -xf "$BERTH_ROOT/build/images/busybox.tar"
        python3 - "$dir" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
idx = json.load(open(f"{d}/index.json"))
desc = idx["manifests"][0]
path = f"{d}/blobs/sha256/{desc['digest'][7:]}"
m = json.load(open(path))
m["layers"][0]["mediaType"] = "application/vnd.example.layer.v1.tar+lz4"
data = json.dumps(m).encode()
dg = hashlib.sha256(data).hexdigest()
open(f"{d}/blobs/sha256/{dg}", "wb").write(data)
desc["digest"] = "sha256:" + dg
desc["size"] = len(data)
json.dump(idx, open(f"{d}/index.json", "w"))
EOF
        tar -C "$dir" -cf "$BERTHD_TEST_DIR/weird.tar" .
        run bctr $I images import "$BERTHD_TEST_DIR/weird.tar"
        [ "$status" -ne 0 ]
        [[ "$output" == *"application/vnd.example.layer.v1.tar+lz4"*"not implemented"* ]]
        run bctr $I snapshots ls
        [ "${#lines[@]}" -eq 1 ]
}
