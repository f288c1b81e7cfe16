#!/usr/bin/env bash
# Runs every suite and prints one closing line: "N passed, N failed, N skipped".
#   SUITES  space-separated subset of: unit asan integration   (default: all)
# Every suite speaks TAP; this script only counts. Logs of each suite go to build/test-logs/.
set -u
cd "$(dirname "$0")/.."
SUITES=${SUITES:-"unit asan integration"}
logdir=build/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0

count_tap() { # $1 = label, stdin = TAP
        local label=$1 line
        while IFS= read -r line; do
                printf '%s\n' "$line"
                case "$line" in
                ok\ *\#\ [Ss][Kk][Ii][Pp]*) skipped=$((skipped + 1)) ;;
                ok\ *) passed=$((passed + 1)) ;;
                not\ ok\ *\#\ TODO*) skipped=$((skipped + 1)) ;;
                not\ ok\ *) failed=$((failed + 1)); echo "FAIL [$label] $line" >>"$logdir/failures" ;;
                esac
        done
}

run_unit_dir() { # $1 = build dir, $2 = label
        local t
        for t in "$1"/tests/test-*; do
                [ -x "$t" ] || continue
                local name
                name=$(basename "$t")
                local out="$logdir/$2-$name.tap"
                "$t" >"$out" 2>&1
                local rc=$?
                count_tap "$2/$name" <"$out" >/dev/null
                # A binary that crashed before or between its tests must not pass silently.
                if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
                        failed=$((failed + 1))
                        echo "FAIL [$2/$name] exited $rc without a failing test line" >>"$logdir/failures"
                fi
                echo "$2/$name: $(grep -c '^ok' "$out") ok, $(grep -c '^not ok' "$out") not ok"
        done
}

: >"$logdir/failures"
for suite in $SUITES; do
        case "$suite" in
        unit)
                run_unit_dir build unit
                ;;
        asan)
                if make -s SANITIZE=1 >"$logdir/asan-build.log" 2>&1; then
                        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                                run_unit_dir build-asan asan
                else
                        failed=$((failed + 1))
                        echo "FAIL [asan] sanitizer build failed (see $logdir/asan-build.log)" >>"$logdir/failures"
                fi
                ;;
        integration)
                for f in tests/integration/*.bats; do
                        [ -f "$f" ] || continue
                        name=$(basename "$f" .bats)
                        echo "== integration/$name"
                        # Not a pipeline into count_tap: its counters must survive (no subshell).
                        count_tap "integration/$name" < <(bats --tap "$f" 2>&1 | tee "$logdir/integration-$name.tap")
                done
                ;;
        esac
done

if [ -s "$logdir/failures" ]; then
        echo "---- failures"
        cat "$logdir/failures"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
