#!/usr/bin/env bash
# ThreadSanitizer: builds the library and the eight-thread stress test
# (tests/cpp/test_thread_stress.cpp) with clang -fsanitize=thread in
# build-tsan/ (CPU-only), and runs it for PTYCHOPATCH_STRESS_SECONDS (default
# 10). The library's thread pool (src/core/thread_pool.cpp) is compiled with
# the rest, so its synchronisation is checked too; FFTW and the other system
# libraries are not instrumented, so their insides are not checked (calls
# into them are); tests/tsan.supp says what is suppressed and why. Any
# report fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPTYCHOPATCH_CUDA=OFF -DPTYCHOPATCH_SANITIZE=thread -DPTYCHOPATCH_BUILD_BENCHMARKS=OFF \
  -DPTYCHOPATCH_BUILD_EXAMPLES=OFF -DPTYCHOPATCH_FORTRAN=OFF >/dev/null
cmake --build build-tsan --target ptychopatch_stress_tests

echo "== ThreadSanitizer stress run (${PTYCHOPATCH_STRESS_SECONDS:-10} s)"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}" \
  PTYCHOPATCH_STRESS_SECONDS="${PTYCHOPATCH_STRESS_SECONDS:-10}" \
  PTYCHOPATCH_MIN_PARALLEL_WORK=0 \
  build-tsan/tests/ptychopatch_stress_tests
