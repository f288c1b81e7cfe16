#!/usr/bin/env bash
# Can crun create containers on this host? And the hugetlb workaround for hybrid cgroup layouts.
#
# crun 1.8.1 refuses the "hybrid" layout (v1 hierarchies plus a cgroup2 hierarchy that still holds a
# controller, here hugetlb). Mounting a v1 hugetlb hierarchy takes the controller off cgroup2, and
# crun then works. The mount is shared host state, so it is reference-counted across test runs:
# the first user mounts, the last one unmounts, and a mount we did not make is never touched.
#
# Command:  crun-usable.sh            exit 0 if crun works as the host is now, 1 if not (reason on stderr)
#           crun-usable.sh setup      make crun usable (mount if needed); exit 0 if it then works
#           crun-usable.sh teardown   undo what setup did for this caller (see BERTH_HUGETLB_OWNER)
# Library:  crun_usable, crun_hugetlb_setup, crun_hugetlb_teardown (same meanings).
# BERTH_HUGETLB_OWNER names the reference setup takes and teardown drops (default: the caller's pid,
# i.e. $PPID for the command form; a test suite should set it to its own pid).

CRUN_STATE_DIR=${CRUN_STATE_DIR:-/run/berth-test/hugetlb}
CRUN_HUGETLB_MNT=/sys/fs/cgroup/hugetlb

# Runs `true` in a throw-away busybox bundle with crun. The cgroup path is unique and removed after.
crun_usable() {
        local crun busybox tmp name rc
        crun=$(command -v crun) || { echo "crun-usable: crun not installed" >&2; return 1; }
        busybox=$(command -v busybox) || { echo "crun-usable: busybox not installed" >&2; return 1; }
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-crun-probe.XXXXXX")
        name="berth-crun-probe-$$-$RANDOM"
        mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/root"
        cp "$(readlink -f "$busybox")" "$tmp/bundle/rootfs/bin/busybox"
        ln -s busybox "$tmp/bundle/rootfs/bin/true"
        (cd "$tmp/bundle" && "$crun" spec) || { rm -rf "$tmp"; return 1; }
        jq --arg cg "/$name/c" '.process.args = ["/bin/true"] | .process.terminal = false |
                .linux.cgroupsPath = $cg' "$tmp/bundle/config.json" >"$tmp/config.json" &&
                mv "$tmp/config.json" "$tmp/bundle/config.json"
        (cd "$tmp/bundle" && "$crun" --root "$tmp/root" run "$name") </dev/null >"$tmp/out" 2>&1
        rc=$?
        [ $rc -eq 0 ] || echo "crun-usable: crun failed: $(tr '\n' ' ' <"$tmp/out")" >&2
        "$crun" --root "$tmp/root" delete -f "$name" >/dev/null 2>&1 || true
        local d
        for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rm -rf "$tmp"
        return $rc
}

_crun_hugetlb_on_v2() { grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; }
_crun_hugetlb_v1_mounted() { awk '$3 == "cgroup" && $4 ~ /(^|,)hugetlb(,|$)/ { f = 1 } END { exit !f }' /proc/mounts; }

# Hierarchy id of hugetlb in /proc/cgroups: 0 when it is on cgroup2.
_crun_hugetlb_hier() { awk '$1 == "hugetlb" { print $2 }' /proc/cgroups; }

_crun_prune_refs() {
        local f
        for f in "$CRUN_STATE_DIR"/refs/*; do
                [ -e "$f" ] || continue
                kill -0 "${f##*/}" 2>/dev/null || rm -f "$f"
        done
}

crun_hugetlb_setup() {
        local owner=${BERTH_HUGETLB_OWNER:-$$}
        mkdir -p "$CRUN_STATE_DIR/refs"
        (
                flock 9
                _crun_prune_refs
                # A mount made by an earlier run: take a reference so that it stays while we use it.
                if [ -e "$CRUN_STATE_DIR/mounted" ]; then
                        touch "$CRUN_STATE_DIR/refs/$owner"
                        exit 0
                fi
                crun_usable 2>/dev/null && exit 0
                if ! _crun_hugetlb_v1_mounted && _crun_hugetlb_on_v2; then
                        [ -d "$CRUN_HUGETLB_MNT" ] || { mkdir "$CRUN_HUGETLB_MNT" && touch "$CRUN_STATE_DIR/created-dir"; }
                        mount -t cgroup -o hugetlb cgroup "$CRUN_HUGETLB_MNT" || exit 1
                        touch "$CRUN_STATE_DIR/mounted" "$CRUN_STATE_DIR/refs/$owner"
                fi
                exit 0
        ) 9>"$CRUN_STATE_DIR/lock"
        local rc=$?
        # Nothing of ours to keep: leave no trace.
        if [ ! -e "$CRUN_STATE_DIR/mounted" ]; then
                rm -rf "$CRUN_STATE_DIR"
                rmdir "$(dirname "$CRUN_STATE_DIR")" 2>/dev/null
        fi
        [ $rc -eq 0 ] || return 1
        crun_usable
}

# Unmounting succeeds only when the hierarchy has no child cgroups left. The kernel frees removed
# cgroups asynchronously, and a hierarchy unmounted while one still lingers stays alive unmounted
# (hugetlb then belongs to neither v1 nor v2). So: wait for the children, unmount, and if the
# controller did not return to cgroup2, mount and unmount once more to let the kernel release it.
crun_hugetlb_teardown() {
        local owner=${BERTH_HUGETLB_OWNER:-$$}
        [ -d "$CRUN_STATE_DIR/refs" ] || return 0
        (
                flock 9
                rm -f "$CRUN_STATE_DIR/refs/$owner"
                _crun_prune_refs
                [ -e "$CRUN_STATE_DIR/mounted" ] || exit 0
                if [ -n "$(ls -A "$CRUN_STATE_DIR/refs")" ]; then
                        exit 0 # another run still uses it
                fi
                local n=0
                while [ -n "$(find "$CRUN_HUGETLB_MNT" -mindepth 1 -type d 2>/dev/null | head -1)" ]; do
                        if [ $n -ge 50 ]; then
                                echo "crun-usable: child cgroups remain under $CRUN_HUGETLB_MNT; leaving it mounted" >&2
                                exit 1
                        fi
                        sleep 0.1
                        n=$((n + 1))
                done
                local try
                for try in 1 2 3 4 5; do
                        _crun_hugetlb_v1_mounted && { umount "$CRUN_HUGETLB_MNT" || exit 1; }
                        for n in 1 2 3 4 5 6 7 8 9 10; do
                                [ "$(_crun_hugetlb_hier)" = 0 ] && break
                                sleep 0.1
                        done
                        [ "$(_crun_hugetlb_hier)" = 0 ] && break
                        mount -t cgroup -o hugetlb cgroup "$CRUN_HUGETLB_MNT" || break
                done
                if [ -e "$CRUN_STATE_DIR/created-dir" ]; then
                        rmdir "$CRUN_HUGETLB_MNT" 2>/dev/null
                        rm -f "$CRUN_STATE_DIR/created-dir"
                fi
                rm -f "$CRUN_STATE_DIR/mounted"
                rmdir "$CRUN_STATE_DIR/refs" 2>/dev/null
                if [ "$(_crun_hugetlb_hier)" != 0 ]; then
                        echo "crun-usable: hugetlb did not return to cgroup2" >&2
                        exit 1
                fi
                exit 0
        ) 9>"$CRUN_STATE_DIR/lock"
        local rc=$?
        # Leave no trace once nobody uses it (the lock goes too; a racing setup recreates it).
        [ -d "$CRUN_STATE_DIR/refs" ] || rm -rf "$CRUN_STATE_DIR"
        rmdir "$(dirname "$CRUN_STATE_DIR")" 2>/dev/null
        return $rc
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
        set -uo pipefail
        export BERTH_HUGETLB_OWNER=${BERTH_HUGETLB_OWNER:-$PPID}
        case "${1:-check}" in
        check) crun_usable ;;
        setup) crun_hugetlb_setup ;;
        teardown) crun_hugetlb_teardown ;;
        *) sed -n '9,12p' "$0" >&2; exit 2 ;;
        esac
fi
