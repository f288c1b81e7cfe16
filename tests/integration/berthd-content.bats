#!/usr/bin/env bats
# berthd's content, leases and images services and its garbage collector, driven by Debian's ctr (the containerd
# 1.6 Go client): ingest, list, get, label, remove, leases, images import/label/rm, GC after lease and image
# removal, and bad input. The expected outputs were checked against a private containerd 1.6.

load berthd-helpers

setup_file() { berthd_suite_setup; }
teardown_file() { berthd_suite_teardown; }
setup() {
        berthd_start a
        SCRATCH=$(mktemp -d "$BERTHD_TEST_DIR/scratch.XXXXXX")
}
teardown() {
        berthd_stop_all
        rm -rf "$SCRATCH"
}

BUSYBOX_TAR=$BERTH_ROOT/build/images/busybox.tar

blobs_dir() { echo "$(berthd_dir a)/root/content/blobs/sha256"; }

# A file of N random bytes; prints its digest.
random_blob() {
        head -c "$2" /dev/urandom >"$1"
        echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"
}

@test "content ingest, ls, get, label, rm" {
        dg=$(random_blob "$SCRATCH/blob" 3000000)
        run bctr a content ingest ref1 <"$SCRATCH/blob"
        [ "$status" -eq 0 ]

        run bctr a content ls
        [ "$status" -eq 0 ]
        echo "$output" | grep -E "^$dg"$'\t'"3MB"$'\t'
        [ -f "$(blobs_dir)/${dg#sha256:}" ]

        bctr a content get "$dg" >"$SCRATCH/back"
        cmp "$SCRATCH/blob" "$SCRATCH/back"

        run bctr a content label "$dg" a=1 b=2
        [ "$status" -eq 0 ]
        run bctr a content ls -q "labels.a==1"
        [ "$output" = "$dg" ]
        run bctr a content label "$dg" a=
        run bctr a content ls -q "labels.a==1"
        [ "$output" = "" ]
        run bctr a content ls -q "labels.b==2"
        [ "$output" = "$dg" ]

        # Other namespaces do not see it.
        run bctr a -n other content get "$dg"
        [ "$status" -ne 0 ]
        [[ "$output" == *"content digest $dg: not found"* ]]

        run bctr a content rm "$dg"
        [ "$status" -eq 0 ]
        run bctr a content ls -q
        [ "$output" = "" ]
        run bctr a content get "$dg"
        [ "$status" -ne 0 ]
        [[ "$output" == *"content digest $dg: not found"* ]]
}

@test "ingest with expectations: match, mismatch, already there" {
        dg=$(random_blob "$SCRATCH/blob" 1000)
        run bctr a content ingest --expected-digest sha256:0000000000000000000000000000000000000000000000000000000000000000 \
                bad <"$SCRATCH/blob"
        [ "$status" -ne 0 ]
        [[ "$output" == *"unexpected commit digest $dg, expected sha256:0000000000000000000000000000000000000000000000000000000000000000: failed precondition"* ]]
        run bctr a content ls -q
        [ "$output" = "" ]
        # The failed ingest is still there to resume or abort.
        run bctr a content active
        [[ "$output" == *bad* ]]

        run bctr a content ingest --expected-size 999 short <"$SCRATCH/blob"
        [ "$status" -ne 0 ]

        run bctr a content ingest --expected-digest "$dg" --expected-size 1000 good <"$SCRATCH/blob"
        [ "$status" -eq 0 ]
        run bctr a content ls -q
        [ "$output" = "$dg" ]
        # Ingesting what the namespace has is fine (AlreadyExists counts as success for the client).
        run bctr a content ingest --expected-digest "$dg" again <"$SCRATCH/blob"
        [ "$status" -eq 0 ]
        run bctr a content ingest again2 <"$SCRATCH/blob"
        [ "$status" -eq 0 ]

        run bctr a content get sha256:00
        [ "$status" -ne 0 ]
        [[ "$output" == *"invalid checksum digest length"* ]]
}

@test "leases: create, ls, rm; rm --sync collects what nothing references" {
        run bctr a leases create --id keep team=blue
        [ "$status" -eq 0 ]
        [ "$output" = keep ]
        run bctr a leases create --id keep
        [ "$status" -ne 0 ]
        [[ "$output" == *'lease "keep": already exists'* ]]
        run bctr a leases create
        [ "$status" -eq 0 ]
        [[ "$output" =~ ^[0-9]+-[A-Za-z0-9_-]{4}$ ]]
        generated=$output
        run bctr a leases ls
        [ "$status" -eq 0 ]
        echo "$output" | grep -E "^keep +[0-9T:-]+Z +containerd.io/gc.expire=[^,]+,team=blue|^keep +[0-9T:-]+Z +team=blue,containerd.io/gc.expire="
        echo "$output" | grep -E "^$generated "

        dg=$(random_blob "$SCRATCH/blob" 5000)
        bctr a content ingest loose <"$SCRATCH/blob"
        [ -f "$(blobs_dir)/${dg#sha256:}" ]

        run bctr a leases rm --sync "$generated"
        [ "$status" -eq 0 ]
        run bctr a content ls -q
        [ "$output" = "" ]
        [ ! -e "$(blobs_dir)/${dg#sha256:}" ]

        run bctr a leases rm nope
        [ "$status" -ne 0 ]
        [[ "$output" == *'lease "nope": not found'* ]]
        run bctr a leases rm keep
        [ "$status" -eq 0 ]
        run bctr a leases ls -q
        [ "$output" = "" ]
}

@test "images: import --no-unpack, ls, label, rm --sync collects the content" {
        [ -f "$BUSYBOX_TAR" ] || skip "no $BUSYBOX_TAR (scripts/build-image.sh)"
        run bctr a images import --no-unpack "$BUSYBOX_TAR"
        [ "$status" -eq 0 ]
        run bctr a images ls -q
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 1 ]
        name=${lines[0]}
        run bctr a images ls
        echo "$output" | grep -E "^$name +application/vnd.oci.image.manifest.v1\+json +sha256:[0-9a-f]{64} +1.0 MiB +linux/amd64 +- *$"
        target=$(echo "$output" | awk 'NR==2 {print $3}')

        # The manifest, its config and its layer, with the gc.ref labels the importer set.
        run bctr a content ls
        echo "$output" | grep -E "^$target"$'\t'".*containerd.io/gc.ref.content.config=sha256:"
        echo "$output" | grep -E "^$target"$'\t'".*containerd.io/gc.ref.content.l.0=sha256:"
        bctr a content get "$target" | grep -q '"mediaType": *"application/vnd.oci.image.manifest.v1+json"\|"layers"'

        run bctr a images label "$name" team=blue
        [ "$status" -eq 0 ]
        [ "$output" = team=blue ]
        run bctr a images ls -q labels.team==blue
        [ "$output" = "$name" ]
        run bctr a images ls -q labels.team==red
        [ "$output" = "" ]

        # GC keeps what the image references.
        bctr a leases create --id tmp
        bctr a leases rm --sync tmp
        run bctr a content ls -q
        [ "${#lines[@]}" -ge 3 ]
        [ -f "$(blobs_dir)/${target#sha256:}" ]

        run bctr a images rm nope
        [[ "$output" == *"nope: image not found"* ]]
        run bctr a images rm --sync "$name"
        [ "$status" -eq 0 ]
        run bctr a images ls -q
        [ "$output" = "" ]
        run bctr a content ls -q
        [ "$output" = "" ]
        [ -z "$(ls -A "$(blobs_dir)")" ]
}

@test "images import with unpack (needs the snapshots and diff services)" {
        [ -f "$BUSYBOX_TAR" ] || skip "no $BUSYBOX_TAR (scripts/build-image.sh)"
        bctr a plugins ls | grep -qE '^io\.containerd\.grpc\.v1 +diff ' || skip "no diff service in this build"
        run bctr a images import "$BUSYBOX_TAR"
        [ "$status" -eq 0 ]
        run bctr a images ls -q
        [ "${#lines[@]}" -eq 1 ]
        run bctr a snapshots ls
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -ge 2 ]
        run bctr a images rm --sync "${lines[0]}"
        name=$(bctr a images ls -q)
        [ -z "$name" ] || bctr a images rm --sync "$name"
        run bctr a content ls -q
        [ "$output" = "" ]
}

@test "a restart collects leftovers of a crash" {
        dg=$(random_blob "$SCRATCH/blob" 2000)
        bctr a content ingest kept <"$SCRATCH/blob"
        bctr a content label "$dg" containerd.io/gc.root=1 # else the startup collection takes it too
        berthd_stop a KILL || true
        # A blob no namespace records and an ingest no record names.
        echo stray >"$(blobs_dir)/0000000000000000000000000000000000000000000000000000000000000000"
        mkdir -p "$(berthd_dir a)/root/content/ingest/feed"
        echo default/9/x >"$(berthd_dir a)/root/content/ingest/feed/ref"
        # The log goes on from the earlier tests' instances: only what this start writes counts.
        local log before
        log=$(berthd_dir a)/berthd.log
        before=$(($(wc -l <"$log") + 1))
        berthd_start a
        berthd_wait_startup_gc a "$before"
        [ ! -e "$(blobs_dir)/0000000000000000000000000000000000000000000000000000000000000000" ]
        [ ! -e "$(berthd_dir a)/root/content/ingest/feed" ]
        # Referenced content survives; what nothing references goes (unlabelled, it would have gone too).
        run bctr a content ls -q
        [ "$output" = "$dg" ]
        [ -f "$(blobs_dir)/${dg#sha256:}" ]
        tail -n +"$before" "$log" | grep -q "startup garbage collection: .* 1 blobs, 1 ingests"
}
