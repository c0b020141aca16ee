#!/usr/bin/env bash
# The whole test suite: unit (cmocka) and end-to-end (Python grpcio against a
# real cleatd), once in a plain build and once under AddressSanitizer and
# UndefinedBehaviorSanitizer with leak detection; then every fuzz target for
# a while under libFuzzer (FUZZ_SECONDS each, 30 by default; 0 skips).  Run
# as root.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh --test
jobs=$(nproc)

run_suite() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCLEAT_WERROR=ON "$@"
    cmake --build "$dir" -j"$jobs"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs"
}

echo "=== plain build ==="
run_suite build-test

echo "=== release build (what scripts/run.sh builds: -O3 finds more warnings) ==="
cmake -S . -B build-test-release -DCMAKE_BUILD_TYPE=Release -DCLEAT_WERROR=ON
cmake --build build-test-release -j"$jobs"

echo "=== clang build ==="
CC=clang run_suite build-test-clang

echo "=== AddressSanitizer + UndefinedBehaviorSanitizer build ==="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
run_suite build-test-sanitize -DCLEAT_SANITIZE=ON

# Every parser of outside bytes, fuzzed from its corpus (fuzz/README.md).  A
# crash fails the run and names the reproducer.
fuzz_seconds=${FUZZ_SECONDS:-30}
if ((fuzz_seconds > 0)); then
    echo "=== fuzz targets: libFuzzer + ASan + UBSan (clang), ${fuzz_seconds} s each ==="
    start=$SECONDS
    ./fuzz/run.sh all "$fuzz_seconds" build-test-fuzz
    echo "fuzzing took $((SECONDS - start)) s, the build included"
fi
