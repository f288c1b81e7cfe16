#!/usr/bin/env bash
# A throwaway local registry (Debian's docker-registry, distribution v2) for tests, on 127.0.0.1 only.
#   registry.sh start DIR [--htpasswd USER:PASS]   start; prints 127.0.0.1:PORT (also in DIR/addr)
#   registry.sh stop DIR                           stop the registry started in DIR (by its PID), keep DIR
#   registry.sh push DIR OCI_ARCHIVE NAME:TAG [--creds USER:PASS]
#                                                  push an OCI archive with skopeo (plain HTTP)
#   registry.sh cleanup DIR                        stop, then remove DIR
# DIR holds config.yml, storage/, htpasswd, pid, addr and registry.log. Everything it starts is stopped by PID.
set -euo pipefail

die() { echo "registry.sh: $*" >&2; exit 1; }

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# bcrypt for htpasswd: Apache's htpasswd if installed, else Python's crypt module (glibc/libxcrypt "$2b$").
bcrypt_hash() {
        if command -v htpasswd >/dev/null 2>&1; then
                htpasswd -nbB "$1" "$2" | cut -d: -f2-
                return
        fi
        /usr/bin/python3 -W ignore -c '
import crypt, sys
h = crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH))
if not h or not h.startswith("$2"):
    sys.exit("no bcrypt in crypt(3)")
print(h)' "$2"
}

wait_ready() { # $1 = addr, $2 = pid
        local i code
        for i in $(seq 1 100); do
                kill -0 "$2" 2>/dev/null || return 1
                code=$(curl -s -o /dev/null -w '%{http_code}' "http://$1/v2/" 2>/dev/null || true)
                case "$code" in 200|401) return 0 ;; esac
                sleep 0.05
        done
        return 1
}

cmd_start() {
        local dir=$1; shift
        local htpasswd=""
        while [ $# -gt 0 ]; do
                case "$1" in
                --htpasswd) htpasswd=$2; shift 2 ;;
                *) die "unknown option $1" ;;
                esac
        done
        command -v docker-registry >/dev/null || die "docker-registry not installed (apt-get install docker-registry)"
        mkdir -p "$dir/storage"
        dir=$(cd "$dir" && pwd)
        [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && die "a registry already runs in $dir"

        local auth=""
        if [ -n "$htpasswd" ]; then
                local user=${htpasswd%%:*} pass=${htpasswd#*:}
                printf '%s:%s\n' "$user" "$(bcrypt_hash "$user" "$pass")" >"$dir/htpasswd"
                auth="auth:
  htpasswd:
    realm: berth-test
    path: $dir/htpasswd"
        fi

        local attempt port addr pid
        for attempt in 1 2 3 4 5; do
                port=$(free_port)
                addr=127.0.0.1:$port
                cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr
  secret: berth-test-secret
$auth
EOF
                docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
                pid=$!
                if wait_ready "$addr" "$pid"; then
                        echo "$pid" >"$dir/pid"
                        echo "$addr" >"$dir/addr"
                        echo "$addr"
                        return 0
                fi
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        cat "$dir/registry.log" >&2 || true
        die "docker-registry did not come up"
}

# Alive and not a zombie waiting for its (re)parent to reap it. Checks the command too, so a recycled PID is
# never signalled.
alive() {
        local stat
        stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
        [ "$(awk '{print $1}' <<<"${stat##*)}")" != Z ] || return 1
        grep -q docker-registry "/proc/$1/cmdline" 2>/dev/null
}

cmd_stop() {
        local dir=$1 pid
        [ -f "$dir/pid" ] || return 0
        pid=$(cat "$dir/pid")
        if alive "$pid"; then
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 50); do
                        alive "$pid" || break
                        sleep 0.05
                done
                if alive "$pid"; then
                        kill -9 "$pid" 2>/dev/null || true
                fi
        fi
        rm -f "$dir/pid"
}

cmd_push() {
        local dir=$1 archive=$2 name=$3; shift 3
        local creds=()
        while [ $# -gt 0 ]; do
                case "$1" in
                --creds) creds=(--dest-creds "$2"); shift 2 ;;
                *) die "unknown option $1" ;;
                esac
        done
        command -v skopeo >/dev/null || die "skopeo not installed"
        local addr
        addr=$(cat "$dir/addr")
        # --preserve-digests keeps the manifest bytes (and digest) of the archive.
        skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "${creds[@]}" \
                "oci-archive:$archive" "docker://$addr/$name"
}

[ $# -ge 2 ] || die "usage: registry.sh start|stop|push|cleanup DIR ..."
cmd=$1; shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$1" ;;
push) cmd_push "$@" ;;
cleanup) cmd_stop "$1"; rm -rf "$1" ;;
*) die "unknown command $cmd" ;;
esac
