#!/usr/bin/env bash
# Run THERE, on a lent GPU machine, from the repository root, with build-gpu/
# made by scripts/gpu-prepare.sh carried along: the items docs/gpu-validation.md
# left open, in one short run (PTP_FOLLOWUP_BUDGET seconds, default 480). The
# full check is scripts/gpu-validate.sh; this one measures what it could not:
#
#   gpu-tests     the GPU test program
#   bench-align   bench_align_gpu on the 24 MP scene, pinned frames: the
#                 default (verify:3, host refinement on every core) and the
#                 coarse estimate alone (verify:0)
#   nsys          an Nsight Systems timeline of the verify:0 scene and its
#                 kernel, API and copy summaries, where the image has nsys
#   racecheck     compute-sanitizer racecheck on the two parameterised
#                 alignment suites, Layouts/GpuAlignMatchesCpu.* and
#                 Layouts/GpuAlignDefaultsMatchCpu.* (the same kernels as
#                 GpuAlign.*, on other scenes; their run is the longest
#                 under it), in PTP_RACE_SHARDS processes (default 4,
#                 gtest's sharding: together every test once), since one
#                 process did not finish them inside a lease; beside pytest
#   pytest        the WHOLE Python suite under pytest-xdist, one OpenMP
#                 thread per worker, each test named as it finishes (-v)
#   memcheck      compute-sanitizer memcheck and synccheck on GpuAlign.*,
#   synccheck     after pytest
#   profile       benchmarks/profile_align_gpu.py (PyTorch's profiler: the
#                 coarse estimate's kernels and copies), if time is left
#
# Logs: a folder under /tmp; where $OUT is set (the device tool), at the end
# $OUT gets console.log, bench_align_gpu.json and followup-logs.tar.gz (every
# log), within the tool's limit of 8 files. Exits 1 when any step that ran
# failed (each named at the end), else 0; steps the budget left out are named
# too but do not fail the run. A step fails on a non-zero exit status, and
# also where it exited 0 without doing its work: a GoogleTest step (the GPU
# tests, each racecheck shard, memcheck, synccheck) that skipped a test or
# passed none, bench-align without a usable device, a profile without its
# kernel summary.
#
#   bash scripts/gpu-followup.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO="$(pwd -P)"
BUILD=build-gpu
BUDGET="${PTP_FOLLOWUP_BUDGET:-480}"
T0=$SECONDS
LOGDIR="$(mktemp -d /tmp/ptp-gpu-followup.XXXXXX)"
exec > >(tee -a "$LOGDIR/console.log") 2>&1

left() { echo $((BUDGET - (SECONDS - T0))); }
# step NAME CAP COMMAND...: COMMAND under min(CAP, what is left), output in
# $LOGDIR/NAME.log; prints the status and the time taken, and records a
# failure or a step not run in $LOGDIR (a file, so steps run in the
# background count too).
step() {
  local name="$1" cap="$2"
  shift 2
  local limit
  limit="$(left)"
  [ "$cap" -lt "$limit" ] && limit="$cap"
  if [ "$limit" -lt 10 ]; then
    echo ">> $name: not run (budget spent)"
    echo "$name" >>"$LOGDIR/steps-not-run"
    return 125
  fi
  local t=$SECONDS rc
  echo "-- $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$LOGDIR/$name.log" 2>&1 </dev/null
  rc=$?
  echo ">> $name: rc=$rc ($((SECONDS - t)) s)"
  [ "$rc" -ne 0 ] && echo "$name rc=$rc" >>"$LOGDIR/steps-failed"
  return "$rc"
}
# A step that exited 0 without doing its work fails too: failed NAME WHY
# records it. gtest_ran NAME: the GoogleTest step NAME (if it ran) passed at
# least one test and skipped none; a program that finds no device skips
# its tests, and a filter that matches nothing passes 0, both with exit 0.
failed() {
  echo ">> $1: FAILED: $2"
  echo "$1 $2" >>"$LOGDIR/steps-failed"
}
gtest_ran() {
  local log="$LOGDIR/$1.log"
  [ -f "$log" ] || return 0 # not run (budget spent): named as such
  if grep -q '^\[  SKIPPED \]' "$log"; then
    failed "$1" "tests skipped"
  elif ! grep -qE '^\[  PASSED  \] [1-9]' "$log"; then
    failed "$1" "no test passed"
  fi
}

echo "gpu-followup: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), $(nproc) cores"
[ -f "$BUILD/gpu-prepare.env" ] && sed 's/^/  /' "$BUILD/gpu-prepare.env"
timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
  echo "gpu-followup: nvidia-smi finds no GPU"
for dir in /usr/local/cuda/bin /usr/local/cuda-*/bin /opt/nvidia/nsight-systems/*/bin; do
  [ -d "$dir" ] && PATH="$PATH:$dir"
done
export PATH
NSYS="$(command -v nsys || true)"
SANITIZER="$(command -v compute-sanitizer || true)"
echo "nsys: ${NSYS:-none}   compute-sanitizer: ${SANITIZER:-none}"

export LD_LIBRARY_PATH="$REPO/$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ldd "$BUILD/tests/ptychopatch_gpu_tests" | grep -q 'not found'; then
  export LD_LIBRARY_PATH="$REPO/$BUILD/lib/compat:$LD_LIBRARY_PATH"
fi
# Python holds PyTorch's libstdc++: build-gpu/lib only if needed there.
PY_LD=""
LD_LIBRARY_PATH="" python3 -c "import ctypes, sys; ctypes.CDLL(sys.argv[1])" \
  "$REPO/$BUILD/libptychopatch.so" 2>/dev/null || PY_LD="$REPO/$BUILD/lib"

GPU_TESTS="$BUILD/tests/ptychopatch_gpu_tests"
step gpu-tests 90 "$GPU_TESTS" --gtest_color=no
gtest_ran gpu-tests
grep -E '^\[==========\]|^\[  PASSED  \] [0-9]|^\[  FAILED  \]|^\[  SKIPPED \] [0-9]' \
  "$LOGDIR/gpu-tests.log" | head -n 20

BENCH="$BUILD/benchmarks/bench_align_gpu"
step bench-align 150 "$BENCH" --benchmark_min_time=0.2 --benchmark_color=false \
  --benchmark_filter='scene:0/upsample:(1|10)/pinned:1/|BM_CopyH2D' \
  --benchmark_out="$LOGDIR/bench_align_gpu.json" --benchmark_out_format=json
sed -n '/^scene alignment/,$p' "$LOGDIR/bench-align.log"
grep -qs "no usable CUDA device" "$LOGDIR/bench-align.log" &&
  failed bench-align "the benchmark found no usable CUDA device"

if [ -n "$NSYS" ]; then
  step nsys 100 "$NSYS" profile --trace=cuda,osrt --sample=none --cpuctxsw=none \
    --force-overwrite=true -o "$LOGDIR/align_verify0" "$BENCH" --benchmark_min_time=0.3 \
    --benchmark_color=false --benchmark_filter='scene:0/upsample:1/pinned:1/budget_gib:0/verify:0'
  if [ -f "$LOGDIR/align_verify0.nsys-rep" ]; then
    step nsys-stats 60 "$NSYS" stats --force-export=true --format csv \
      --report cuda_gpu_kern_sum,cuda_gpu_mem_time_sum,cuda_api_sum,osrt_sum \
      --output "$LOGDIR/align_verify0" "$LOGDIR/align_verify0.nsys-rep"
    step nsys-trace 60 "$NSYS" stats --force-export=false --format csv \
      --report cuda_gpu_trace --output "$LOGDIR/align_verify0" "$LOGDIR/align_verify0.nsys-rep"
    gzip -f "$LOGDIR"/align_verify0_cuda_gpu_trace.csv 2>/dev/null
    rm -f "$LOGDIR/align_verify0.sqlite" "$LOGDIR/align_verify0.nsys-rep"
    head -n 25 "$LOGDIR"/align_verify0_cuda_gpu_kern_sum.csv 2>/dev/null
  fi
fi

# Racecheck (sharded) and pytest side by side; then memcheck, synccheck and,
# with what is left, the profile.
RACE_FILTER='Layouts/GpuAlignMatchesCpu.*:Layouts/GpuAlignDefaultsMatchCpu.*'
SHARDS="${PTP_RACE_SHARDS:-4}"
RACE_PIDS=()
if [ -n "$SANITIZER" ]; then
  race_cap=$(($(left) - 20))
  for ((shard = 0; shard < SHARDS; shard++)); do
    step "racecheck-$shard" "$race_cap" env GTEST_TOTAL_SHARDS="$SHARDS" GTEST_SHARD_INDEX="$shard" \
      "$SANITIZER" --tool racecheck --error-exitcode 86 --print-limit 20 \
      "$GPU_TESTS" --gtest_color=no --gtest_filter="$RACE_FILTER" &
    RACE_PIDS+=($!)
  done
fi
workers=$(($(nproc) - SHARDS - 1))
[ "$workers" -lt 1 ] && workers=1
XDIST=()
python3 -c "import xdist" >/dev/null 2>&1 && XDIST=(-n "$workers")
# shellcheck disable=SC2016 # $@ is expanded by the inner shell
step pytest 150 env PYTHONPATH="$REPO/capi/python" OMP_NUM_THREADS=1 \
  PTYCHOPATCH_LIBRARY="$REPO/$BUILD/libptychopatch.so" LD_LIBRARY_PATH="$PY_LD" \
  bash -c 'cd /tmp && exec python3 -m pytest -v -rfE -p no:cacheprovider --durations=25 "$@"' \
  pytest "${XDIST[@]}" "$REPO/tests/python"
grep -E '(FAILED|ERROR) ' "$LOGDIR/pytest.log" | head -n 40
tail -n 3 "$LOGDIR/pytest.log"
if [ -n "$SANITIZER" ]; then
  for tool in memcheck synccheck; do
    step "$tool" 90 "$SANITIZER" --tool "$tool" --error-exitcode 86 --print-limit 20 \
      "$GPU_TESTS" --gtest_color=no --gtest_filter='GpuAlign.*-GpuAlign.VerifiedCropsMatchTheCpu'
    grep -E 'ERROR SUMMARY|^\[  (PASSED|FAILED) ' "$LOGDIR/$tool.log" | tail -n 3
    gtest_ran "$tool"
  done
fi
# Without nsys, PyTorch's profiler (CUPTI) sees the library's kernels too.
if [ -z "$NSYS" ] && [ "$(left)" -gt 80 ]; then
  step profile 60 env PYTHONPATH="$REPO/capi/python" LD_LIBRARY_PATH="$PY_LD" \
    PTYCHOPATCH_LIBRARY="$REPO/$BUILD/libptychopatch.so" \
    python3 benchmarks/profile_align_gpu.py --verify none --calls 2 \
    --trace "$LOGDIR/align_verify0_trace.json"
  gzip -f "$LOGDIR/align_verify0_trace.json" 2>/dev/null
  head -n 40 "$LOGDIR/profile.log"
  grep -q "kernels (device time)" "$LOGDIR/profile.log" || failed profile "no kernel summary"
fi
for pid in "${RACE_PIDS[@]}"; do wait "$pid"; done
for ((shard = 0; shard < SHARDS; shard++)); do
  echo "racecheck shard $shard:"
  grep -E 'RACECHECK SUMMARY|^\[  (PASSED|FAILED) |^\[==========\]' \
    "$LOGDIR/racecheck-$shard.log" 2>/dev/null | tail -n 4
  grep -c '^\[       OK \]' "$LOGDIR/racecheck-$shard.log" 2>/dev/null |
    sed 's/^/  tests finished: /'
  gtest_ran "racecheck-$shard"
done
echo "gpu-followup: done in $((SECONDS - T0)) s"
status=0
if [ -s "$LOGDIR/steps-failed" ]; then
  echo "gpu-followup: FAILED steps:"
  sed 's/^/  /' "$LOGDIR/steps-failed"
  status=1
fi
if [ -s "$LOGDIR/steps-not-run" ]; then
  echo "gpu-followup: not run (budget spent): $(tr '\n' ' ' <"$LOGDIR/steps-not-run")"
fi
if [ -n "${OUT:-}" ] && mkdir -p "$OUT" 2>/dev/null; then
  cp "$LOGDIR/bench_align_gpu.json" "$OUT/" 2>/dev/null
  sleep 1
  tar -czf "$OUT/followup-logs.tar.gz" -C "$LOGDIR" . 2>/dev/null
  cp "$LOGDIR/console.log" "$OUT/console.log"
fi
exit "$status"
