#!/usr/bin/env bash
# ThreadSanitizer: builds the library and the eight-thread stress test
# (tests/cpp/test_thread_stress.cpp) with clang -fsanitize=thread in
# build-tsan/ (CPU-only), and runs it for PTYCHOPATCH_STRESS_SECONDS (default
# 10). OpenMP is LLVM's libomp, whose Archer tool (OMP_TOOL_LIBRARIES) tells
# ThreadSanitizer about the runtime's own barriers and tasks; FFTW and the
# other system libraries are not instrumented, so their insides are not
# checked (calls into them are); tests/tsan.supp says what is suppressed
# and why. Any report fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPTYCHOPATCH_CUDA=OFF -DPTYCHOPATCH_SANITIZE=thread -DPTYCHOPATCH_BUILD_BENCHMARKS=OFF \
  -DPTYCHOPATCH_BUILD_EXAMPLES=OFF -DPTYCHOPATCH_FORTRAN=OFF >/dev/null
cmake --build build-tsan --target ptychopatch_stress_tests

archer=""
for candidate in /usr/lib/llvm-*/lib/libarcher.so; do
  [ -e "$candidate" ] && archer="$candidate"
done
if [ -z "$archer" ]; then
  echo "tsan: libarcher.so (LLVM's OpenMP tool, package libomp-dev) not found" >&2
  exit 1
fi
echo "== ThreadSanitizer stress run (${PTYCHOPATCH_STRESS_SECONDS:-10} s, Archer: $archer)"
OMP_TOOL_LIBRARIES="$archer" \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}" \
  PTYCHOPATCH_STRESS_SECONDS="${PTYCHOPATCH_STRESS_SECONDS:-10}" \
  PTYCHOPATCH_MIN_PARALLEL_WORK=0 \
  build-tsan/tests/ptychopatch_stress_tests
