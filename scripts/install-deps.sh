#!/usr/bin/env bash
# Installs every Debian package berth needs to build, test and benchmark. Idempotent: installs
# nothing when all are present, and runs `apt-get update` only when something is missing.
# This is the ONE place the package list lives.
#   install-deps.sh          install the full list
#   install-deps.sh --list   print the list and exit
set -euo pipefail

PACKAGES=(
        # build
        build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev libjansson-dev
        # berthd and the CLI (never linked into the shim): metadata, gRPC/HTTP2, registry, layers, digests
        libsqlite3-dev libnghttp2-dev libcurl4-openssl-dev libarchive-dev libssl-dev libzstd-dev zlib1g-dev
        # registry for pull tests (htpasswd for its basic auth), CNI plugins for networking
        docker-registry apache2-utils containernetworking-plugins
        # fuzzing (libFuzzer runtime for clang 14)
        clang libclang-rt-14-dev
        # OCI runtimes and the reference containerd (compatibility tests, benchmarks)
        crun runc containerd criu
        # the podman side of bench/run.sh (start-to-exit latency)
        podman
        # test image and tests
        busybox-static umoci skopeo bats jq python3 socat
        # tools the tests call: ip, mount/unshare/nsenter, script (pty), ps/pgrep
        iproute2 util-linux bsdutils procps
)

if [ "${1:-}" = "--list" ]; then
        printf '%s\n' "${PACKAGES[@]}"
        exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: all ${#PACKAGES[@]} packages already installed"
        exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages (${missing[*]}); run as root" >&2
        exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
