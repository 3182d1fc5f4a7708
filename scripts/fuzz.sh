#!/usr/bin/env bash
# Fuzzes the C ABI: builds the libFuzzer targets of tests/fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer (build-fuzz/, CPU-only),
# then runs each on a scratch copy of its seed corpus (tests/fuzz/corpus/)
# for FUZZ_SECONDS seconds (default 60). Any finding (a sanitizer report, a
# broken check of tests/fuzz/fuzz_support.hpp, a call running longer than 10
# s, more than 2 GiB of memory) fails the script and leaves the input that
# caused it in build-fuzz/findings/. Prints each target's executions.
#
#   scripts/fuzz.sh                      every target, FUZZ_SECONDS each
#   scripts/fuzz.sh align                one target
#   FUZZ_SECONDS=3600 FUZZ_JOBS=8 scripts/fuzz.sh    the long run before a
#                                        release (docs/reliability.md)
#   FUZZ_MERGE=1 scripts/fuzz.sh         also fold new coverage into the
#                                        committed seed corpus
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(extract group align correlate)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPTYCHOPATCH_CUDA=OFF -DPTYCHOPATCH_FUZZ=ON -DPTYCHOPATCH_SANITIZE=address,undefined \
  -DPTYCHOPATCH_BUILD_TESTS=OFF -DPTYCHOPATCH_BUILD_BENCHMARKS=OFF \
  -DPTYCHOPATCH_BUILD_EXAMPLES=OFF -DPTYCHOPATCH_FORTRAN=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"

mkdir -p build-fuzz/findings
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
status=0
for target in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  log="build-fuzz/fuzz_$target.log"
  echo "== fuzz_$target: ${seconds} s, $jobs job(s), $(ls "$corpus" | wc -l) seed inputs"
  parallel=()
  [ "$jobs" -le 1 ] || parallel=(-jobs="$jobs" -workers="$jobs")
  # Run inside build-fuzz: with -jobs libFuzzer writes fuzz-<n>.log files
  # to the working directory.
  if ! (cd build-fuzz && tests/fuzz/fuzz_"$target" "corpus/$target" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -max_len=4096 "${parallel[@]}" \
      -artifact_prefix=findings/"$target"- -print_final_stats=1) >"$log" 2>&1; then
    echo "fuzz_$target: FINDING (inputs in build-fuzz/findings/, log $log):"
    grep -E "ERROR|runtime error|fuzz check failed|SUMMARY" "$log" | head -20 || tail -30 "$log"
    status=1
    continue
  fi
  # With one job libFuzzer writes to the log directly; with several, to
  # fuzz-<n>.log files in the working directory.
  logs=("$log")
  for job_log in build-fuzz/fuzz-*.log; do [ -e "$job_log" ] && logs+=("$job_log"); done
  runs=$( (grep -hoE "stat::number_of_executed_units: *[0-9]+" "${logs[@]}" || true) |
         awk '{s += $2} END {print s + 0}')
  echo "fuzz_$target: clean, $runs executions"
  rm -f build-fuzz/fuzz-*.log
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    merged="build-fuzz/merged/$target"
    rm -rf "$merged" && mkdir -p "$merged"
    build-fuzz/tests/fuzz/fuzz_"$target" -merge=1 -max_len=512 "$merged" "$corpus" \
      tests/fuzz/corpus/"$target" >/dev/null 2>&1
    rm -rf tests/fuzz/corpus/"$target" && mv "$merged" tests/fuzz/corpus/"$target"
    echo "fuzz_$target: seed corpus now $(ls tests/fuzz/corpus/"$target" | wc -l) inputs"
  fi
done
exit $status
