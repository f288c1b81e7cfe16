#!/usr/bin/env bash
# Builds a large multi-layer test image with umoci, no network: the busybox rootfs plus LAYERS layers holding
# LAYER_MB MiB each of incompressible data (from /dev/urandom), for pull throughput and resume tests.
# Output: an OCI archive named docker.io/berth/big:latest (index annotations as in build-image.sh).
#   build-big-image.sh [OUT.tar]     default build/images/big.tar; prints the path on stdout
#   LAYERS=4 LAYER_MB=25 (defaults: ~100 MB of layers). Cached: rebuilt when missing, when the settings changed,
#   or when older than this script.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
layers=${LAYERS:-4}
layer_mb=${LAYER_MB:-25}
out=${1:-$root/build/images/big.tar}
ref=${BERTH_BIG_IMAGE:-docker.io/berth/big:latest}
stamp="$out.settings"
settings="layers=$layers layer_mb=$layer_mb ref=$ref"

if [ -s "$out" ] && [ "$out" -nt "$0" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$settings" ]; then
        echo "$out"
        exit 0
fi
command -v umoci >/dev/null || { echo "build-big-image: umoci not installed" >&2; exit 1; }

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-big-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:latest" >/dev/null
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null
rfs=$work/bundle/rootfs
mkdir -p "$rfs"/{bin,etc,tmp,data}
if busybox=$(command -v busybox); then
        install -m 0755 "$(readlink -f "$busybox")" "$rfs/bin/busybox"
        ln -sf busybox "$rfs/bin/sh"
fi
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rfs/etc/passwd"

# One repack per layer; --refresh-bundle makes the next repack diff against what was just packed.
for i in $(seq 1 "$layers"); do
        head -c "$((layer_mb * 1024 * 1024))" /dev/urandom >"$rfs/data/blob-$i"
        umoci repack --refresh-bundle --image "$work/oci:latest" "$work/bundle" >/dev/null
done
umoci config --image "$work/oci:latest" --config.cmd sh --config.env PATH=/bin \
        --architecture "$(dpkg --print-architecture)" --os linux >/dev/null
umoci gc --layout "$work/oci"

jq --arg ref "$ref" '.manifests |= map(.annotations = {
        "org.opencontainers.image.ref.name": $ref, "io.containerd.image.name": $ref })' \
        "$work/oci/index.json" >"$work/index.json"
mv "$work/index.json" "$work/oci/index.json"

tar -C "$work/oci" --sort=name --owner=0 --group=0 --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$settings" >"$stamp"
echo "$out"
