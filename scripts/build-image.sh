#!/usr/bin/env bash
# Builds the busybox test image from Debian's busybox-static with umoci, no network.
# Output: an OCI archive (tar of an OCI image layout) that `ctr images import` accepts as
# docker.io/berth/busybox:latest. Cached: rebuilt only when missing or older than /bin/busybox.
#   build-image.sh [OUT.tar]     default build/images/busybox.tar; prints the path on stdout
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/images/busybox.tar}
ref=${BERTH_TEST_IMAGE:-docker.io/berth/busybox:latest}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "build-image: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
busybox=$(readlink -f "$busybox")

if [ -s "$out" ] && [ "$out" -nt "$busybox" ] && [ "$out" -nt "$0" ]; then
        echo "$out"
        exit 0
fi
# A dynamically linked busybox would not run in an image that has no libc.
if ! file_out=$(LC_ALL=C readelf -l "$busybox" 2>/dev/null) || grep -q 'INTERP' <<<"$file_out"; then
        echo "build-image: $busybox is not a static binary (apt-get install busybox-static)" >&2
        exit 1
fi

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:latest" >/dev/null
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null

rfs=$work/bundle/rootfs
mkdir -p "$rfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var,run}
chmod 1777 "$rfs/tmp"
install -m 0755 "$busybox" "$rfs/bin/busybox"
for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] && continue
        ln -sf busybox "$rfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rfs/etc/group"
printf 'berth-test-image\n' >"$rfs/etc/hostname"

umoci repack --image "$work/oci:latest" "$work/bundle" >/dev/null
umoci config --image "$work/oci:latest" \
        --config.cmd sh \
        --config.env PATH=/bin:/sbin:/usr/bin:/usr/sbin \
        --config.workingdir / \
        --architecture "$(dpkg --print-architecture)" --os linux >/dev/null
umoci gc --layout "$work/oci"

# ctr names an imported image after the index annotation; give it the full reference.
jq --arg ref "$ref" '.manifests |= map(.annotations = {
        "org.opencontainers.image.ref.name": $ref, "io.containerd.image.name": $ref })' \
        "$work/oci/index.json" >"$work/index.json"
mv "$work/index.json" "$work/oci/index.json"

tar -C "$work/oci" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
