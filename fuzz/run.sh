#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run one fuzz target (or all) for N seconds under libFuzzer with ASan+UBSan.
#
#   fuzz/run.sh [--merge] <name>|all <seconds> [build-dir]
#
# build-dir (default build-fuzz) is configured with clang and CLEAT_FUZZ=ON
# when it is not yet, and the target is built.  The committed corpus
# fuzz/corpus/<name>/ is read, never written: what the run finds goes to a
# scratch dir, and --merge adds the inputs that give new coverage to the
# committed corpus afterwards.  Prints the execs and exec/s of each run.  A
# crash, leak, timeout or broken invariant fails (exit 1) and prints the path
# of the reproducer, which any build's fuzz_<name> runs again:
# build/fuzz/fuzz_<name> <file>.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
merge=0
if [[ "${1:-}" == "--merge" ]]; then
    merge=1
    shift
fi
if (($# < 2)); then
    sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
name=$1 seconds=$2 build=${3:-$root/build-fuzz}

# The wired targets: the cleat_fuzz_target() lines of fuzz/CMakeLists.txt.
targets=$(sed -n 's/^cleat_fuzz_target(\([a-z0-9_]*\).*/\1/p' "$here/CMakeLists.txt")
if [[ "$name" != all ]] && ! grep -qx "$name" <<<"$targets"; then
    echo "no fuzz target '$name'; there are: all" $targets >&2
    exit 2
fi
[[ "$name" == all ]] && names=$targets || names=$name

if ! grep -q '^CLEAT_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLEAT_FUZZ=ON -DCLEAT_WERROR=ON >/dev/null
fi
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' $names) >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$(mktemp -d /tmp/cleat-fuzz.XXXXXX)
status=0
for t in $names; do
    mkdir -p "$out/$t/new" "$out/$t/crash"
    log=$out/$t/log
    r=0
    # New inputs go to the first dir (scratch); the committed corpus is only read.
    "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/$t/crash/" "$out/$t/new" "$here/corpus/$t" >"$log" 2>&1 || r=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    found=$(find "$out/$t/new" -type f | wc -l)
    if ((r != 0)); then
        status=1
        echo "FAIL $t after ${execs:-?} execs: exit $r"
        grep -E 'ERROR|runtime error|fuzz invariant|SUMMARY' "$log" | head -5 | sed 's/^/    /'
        for f in "$out/$t"/crash/*; do
            [[ -e "$f" ]] || continue
            # Its bytes too: a CI machine's /tmp does not outlive the run.
            echo "    reproducer: $f ($(stat -c %s "$f") bytes; the first 256 in hex:)"
            od -An -tx1 -N256 "$f" | sed 's/^/    /'
        done
        echo "    log: $log"
        continue
    fi
    echo "ok   $t: ${execs:-?} execs in ${seconds} s, ${rate:-?} exec/s, $found new inputs"
    if ((merge && found)); then
        "$build/fuzz/fuzz_$t" -merge=1 "$here/corpus/$t" "$out/$t/new" >>"$log" 2>&1
        echo "     merged into fuzz/corpus/$t: $(find "$here/corpus/$t" -type f | wc -l) files now"
    fi
done
if ((status == 0)); then
    rm -rf "$out"
fi
exit $status
