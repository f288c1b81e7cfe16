#!/usr/bin/env bash
# Runs every suite and prints one closing line: "N passed, N failed, N skipped".
#   SUITES  space-separated subset of: unit asan fuzz integration asan-integration   (default: all)
#     fuzz              every libFuzzer target replays its seed corpus plus a short deterministic mutation run
#     asan-integration  the shim suites again with the ASan+UBSan shim, and berth-run-rm, berth-restart and berthd-run
#                       with the ASan+UBSan berthd, CLI and logger (ASAN_BERTHD_SUITES); any sanitizer report fails
# Every suite speaks TAP; this script only counts. Logs of each suite go to build/test-logs/.
set -u
cd "$(dirname "$0")/.."
SUITES=${SUITES:-"unit asan fuzz integration asan-integration"}
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
        fuzz)
                if make -s fuzz >"$logdir/fuzz-build.log" 2>&1; then
                        for f in build-fuzz/fuzz-*; do
                                [ -x "$f" ] || continue
                                name=${f##*/fuzz-}
                                corpus=fuzz/corpus/$name
                                scratch=$(mktemp -d)
                                if "$f" -runs=3000 -seed=1 "$scratch" "$corpus" >"$logdir/fuzz-$name.log" 2>&1; then
                                        count_tap fuzz <<<"ok - fuzz/$name replays its corpus and 3000 mutations cleanly"
                                else
                                        count_tap fuzz <<<"not ok - fuzz/$name (see $logdir/fuzz-$name.log)"
                                fi
                                rm -rf "$scratch"
                        done
                else
                        failed=$((failed + 1))
                        echo "FAIL [fuzz] fuzz build failed (see $logdir/fuzz-build.log)" >>"$logdir/failures"
                fi
                ;;
        asan-integration)
                # The shim as ASan+UBSan builds it (dynamically linked), under real containerd: reports go to files
                # (the shim's stderr belongs to containerd's log), and a report of any kind fails the suite.
                asan_dir=$(mktemp -d /tmp/berth-asan.XXXXXX)
                if make -s SANITIZE=1 >"$logdir/asan-build.log" 2>&1; then
                        for f in tests/integration/shim-*.bats; do
                                name=$(basename "$f" .bats)
                                echo "== asan-integration/$name (runc)"
                                count_tap "asan-integration/$name" < <(BERTH_BUILD=$PWD/build-asan \
                                        ASAN_OPTIONS=log_path=$asan_dir/report:detect_leaks=1 \
                                        UBSAN_OPTIONS=log_path=$asan_dir/report:print_stacktrace=1 \
                                        bats --tap -f "${ASAN_FILTER:-^(runc: |grouped|Update|file|binary|exec with|after|malformed)}" "$f" 2>&1 |
                                        tee "$logdir/asan-integration-$name.tap")
                        done
                        # berthd itself (and the CLI, shim and logger it runs) on the paths with the most
                        # asynchronous bookkeeping: background removals, restarts after SIGKILL, run/exec/stop/rm.
                        for name in ${ASAN_BERTHD_SUITES:-berth-run-rm berth-restart berthd-run}; do
                                echo "== asan-integration/$name (berthd)"
                                count_tap "asan-integration/$name" < <(BERTH_BUILD=$PWD/build-asan \
                                        ASAN_OPTIONS=log_path=$asan_dir/report:detect_leaks=1 \
                                        UBSAN_OPTIONS=log_path=$asan_dir/report:print_stacktrace=1 \
                                        bats --tap "tests/integration/$name.bats" 2>&1 |
                                        tee "$logdir/asan-integration-$name.tap")
                        done
                        if compgen -G "$asan_dir/report*" >/dev/null; then
                                count_tap asan-integration \
                                        <<<"not ok - asan-integration: sanitizer reports (see $logdir/asan-reports)"
                                cat "$asan_dir"/report* >"$logdir/asan-reports"
                        else
                                count_tap asan-integration <<<"ok - asan-integration: no sanitizer report from any shim, berthd, CLI or logger"
                        fi
                else
                        failed=$((failed + 1))
                        echo "FAIL [asan-integration] sanitizer build failed (see $logdir/asan-build.log)" >>"$logdir/failures"
                fi
                rm -rf "$asan_dir"
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
