#!/usr/bin/env bash
# Run THERE, on a lent GPU machine, from the repository root, with build-gpu/
# made by scripts/gpu-prepare.sh carried along: the items docs/gpu-validation.md
# left open after the H200 lease of 2026-11-26 (seventh session), in one short
# run (about 8 minutes at most, PTP_FOLLOWUP_BUDGET seconds, default 480). The
# full check is scripts/gpu-validate.sh; this one measures what it could not:
#
#   gpu-tests     the GPU test program
#   bench-align   bench_align_gpu on the 24 MP scene, pinned frames: the
#                 default (verify:3, host refinement on every core) and the
#                 coarse estimate alone (verify:0: 48.4 ms a scene on the
#                 H200 after the host change of 9ca060a, 101-104 before)
#   nsys          an Nsight Systems timeline of the verify:0 scene and its
#                 kernel, API and copy summaries (the H200 image has no nsys;
#                 then benchmarks/profile_align_gpu.py, PyTorch's profiler,
#                 the same tables and a Chrome trace, over two calls in one
#                 session: the lone profiled call of 2026-11-26 waited 28 ms
#                 for its first CUDA call, which the C++ benchmark does not;
#                 a second call tells whether that is the profiler's start-up)
#   pytest        the WHOLE Python suite under pytest-xdist, one OpenMP
#                 thread per worker, each test named as it finishes (-v)
#   racecheck     compute-sanitizer racecheck on the two parameterised
#                 alignment suites, Layouts/GpuAlignMatchesCpu.* and
#                 Layouts/GpuAlignDefaultsMatchCpu.*, the only GPU tests
#                 never run under it (the same kernels as GpuAlign.*, on
#                 other scenes), beside pytest, which leaves it two cores
#   memcheck      compute-sanitizer memcheck and synccheck on GpuAlign.*,
#                 after pytest
#
# Logs and outputs: $OUT (as on the device tool), else a folder under /tmp.
#
#   bash scripts/gpu-followup.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO="$(pwd -P)"
BUILD=build-gpu
BUDGET="${PTP_FOLLOWUP_BUDGET:-480}"
T0=$SECONDS
LOGDIR="${OUT:-$(mktemp -d /tmp/ptp-gpu-followup.XXXXXX)}"
mkdir -p "$LOGDIR"
exec > >(tee -a "$LOGDIR/console.log") 2>&1

left() { echo $((BUDGET - (SECONDS - T0))); }
# step NAME CAP COMMAND...: COMMAND under min(CAP, what is left), output in
# $LOGDIR/NAME.log; prints the status and the time taken.
step() {
  local name="$1" cap="$2"
  shift 2
  local limit
  limit="$(left)"
  [ "$cap" -lt "$limit" ] && limit="$cap"
  if [ "$limit" -lt 10 ]; then
    echo ">> $name: not run (budget spent)"
    return 125
  fi
  local t=$SECONDS rc
  echo "-- $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$LOGDIR/$name.log" 2>&1 </dev/null
  rc=$?
  echo ">> $name: rc=$rc ($((SECONDS - t)) s)"
  return "$rc"
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
grep -E '^\[==========\]|^\[  PASSED  \] [0-9]|^\[  FAILED  \]|^\[  SKIPPED \] [0-9]' \
  "$LOGDIR/gpu-tests.log" | head -n 20

BENCH="$BUILD/benchmarks/bench_align_gpu"
step bench-align 150 "$BENCH" --benchmark_min_time=0.2 --benchmark_color=false \
  --benchmark_filter='scene:0/upsample:(1|10)/pinned:1/|BM_CopyH2D' \
  --benchmark_out="$LOGDIR/bench_align_gpu.json" --benchmark_out_format=json
sed -n '/^scene alignment/,$p' "$LOGDIR/bench-align.log"

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

# Without nsys, PyTorch's profiler (CUPTI) sees the library's kernels too.
if [ -z "$NSYS" ]; then
  step profile 90 env PYTHONPATH="$REPO/capi/python" LD_LIBRARY_PATH="$PY_LD" \
    PTYCHOPATCH_LIBRARY="$REPO/$BUILD/libptychopatch.so" \
    python3 benchmarks/profile_align_gpu.py --verify none --calls 2 \
    --trace "$LOGDIR/align_verify0_trace.json"
  gzip -f "$LOGDIR/align_verify0_trace.json" 2>/dev/null
  head -n 40 "$LOGDIR/profile.log"
fi

# pytest (all files, 14 workers) and racecheck side by side. (The images of
# 2026-11-26 had no nsys: that step is then left out.)
RACE_FILTER='Layouts/GpuAlignMatchesCpu.*:Layouts/GpuAlignDefaultsMatchCpu.*'
race_cap=$(($(left) - 20))
if [ -n "$SANITIZER" ]; then
  step racecheck "$race_cap" "$SANITIZER" --tool racecheck --error-exitcode 86 --print-limit 20 \
    "$GPU_TESTS" --gtest_color=no --gtest_filter="$RACE_FILTER" &
  RACE_PID=$!
fi
workers=14
[ "$(nproc)" -lt 16 ] && workers=$(($(nproc) > 2 ? $(nproc) - 2 : 1))
XDIST=()
python3 -c "import xdist" >/dev/null 2>&1 && XDIST=(-n "$workers")
# shellcheck disable=SC2016 # $@ is expanded by the inner shell
step pytest $(($(left) - 15)) env PYTHONPATH="$REPO/capi/python" OMP_NUM_THREADS=1 \
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
  done
fi
[ -n "${RACE_PID:-}" ] && wait "$RACE_PID"
grep -E 'RACECHECK SUMMARY|^\[  (PASSED|FAILED) |^\[ RUN      \]' "$LOGDIR/racecheck.log" 2>/dev/null |
  tail -n 4
echo "gpu-followup: done in $((SECONDS - T0)) s"
sleep 1
