#!/usr/bin/env bash
# Mutation test of the GPU tests (issue 11): shows that the emulated GPU
# suite can fail. In a scratch copy of this checkout (tracked files and
# untracked ones git does not ignore; the checkout itself is never touched)
# it builds the emulated GPU library and test program
# (ptychopatch_gpu_tests_emulated, tests/emulation/), runs the relevant GPU
# tests unmutated (they must pass), then, one at a time, applies each seeded
# kernel mutation below, rebuilds (ninja recompiles only what changed), runs
# the tests again and restores the file. Every mutation must make the tests
# fail (a failed test, a crash or a timeout): KILLED. A mutation whose tests
# pass (SURVIVED) or that does not compile (BUILD-FAILED) fails the script.
#
# Each mutation is an exact text replacement that must match exactly once
# in its file: all are checked before building, and the script fails loudly
# when one no longer matches (the code changed: update the mutation here).
# The tests run on the emulated device's forward thread order, then, if they
# pass, on a shuffled order (PTYCHOPATCH_EMU_ORDER, as ctest's "shuffled:"
# tests), which is what exposes a missing barrier; either failing kills.
#
#   scripts/mutation-test.sh          run everything, in a temporary directory
#   scripts/mutation-test.sh --keep   keep the scratch directory (its path is
#                                     printed; its build is left mutated)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

keep=0
while (($#)); do
  case "$1" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mutation-test: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# shellcheck disable=SC1091
source scripts/env.sh
start=$SECONDS

# Test selections (gtest filters) per mutated code path.
PATCH_TESTS='Gpu.*:AllTypesAndLayouts/GpuMatchesCpu.*:GpuChunking.*:GpuPinned.*:GpuDeviceArrays.*:GpuHostArrays.*:GpuReassembly.*'
ALIGN_TESTS='Layouts/GpuAlignMatchesCpu.*'
SEARCH_TESTS='GpuAlign.MaxShiftBoundsRowsAcrossPeakSearchSegments'
# A selection that starts with PLANE_PROGRAM runs the plane-kernel tests
# (tests/emulation/ptychopatch_align_plane_kernel_tests) instead.
PLANE_PROGRAM='plane-kernels:'
PLANE_TESTS="${PLANE_PROGRAM}AlignPlaneKernels.*"
LUMA_TESTS="${PLANE_PROGRAM}LumaKernels.*"
BIN_TESTS="${PLANE_PROGRAM}TileBins.*"
SHUFFLE_ORDER='shuffle:20261122'  # the seed of ctest's "shuffled:" tests
RUN_TIMEOUT=300                   # seconds per test run

# The mutations: name, file, tests, text, replacement.
names=() files=() tests=() olds=() news=()
mutation() {
  names+=("$1") files+=("$2") tests+=("$3") olds+=("$4") news+=("$5")
}
mutation swap-x-y cuda/extract_kernel.cuh "$PATCH_TESTS" \
  'const math::AxisTap tx = math::axis_tap(x, ox);' \
  'const math::AxisTap tx = math::axis_tap(x, oy);'
mutation gather-patches-descending cuda/reassemble_kernel.cuh "$PATCH_TESTS" \
  'for (int q = 0; q < batch; ++q) {' \
  'for (int q = batch - 1; q >= 0; --q) {'
mutation gather-row-weights-swapped cuda/reassemble_kernel.cuh "$PATCH_TESTS" \
  'const float y_w = ry.w[i];' \
  'const float y_w = ry.w[ry.count - 1 - i];'
mutation bin-chunks-start-from-zero cuda/reassemble_gpu.cu "$PATCH_TESTS" \
  'gather(p0, bins, accumulate || p0 > 0);' \
  'gather(p0, bins, accumulate);'
mutation bins-unsorted cuda/tile_bins.cu "$BIN_TESTS" \
  'if (m < 2) continue;' \
  'if (m >= 0) continue;'
mutation bins-sorted-descending cuda/tile_bins.cu "$BIN_TESTS" \
  'if (b < a) {' \
  'if (a < b) {'
mutation bins-last-column-dropped cuda/tile_bins.cuh "$BIN_TESTS" \
  't <= hi && t < end; ++t)' \
  't < hi && t < end; ++t)'
mutation chunks-start-from-zero cuda/reassemble_gpu.cu "$PATCH_TESTS" \
  '(b1 - b0) * g.group_size, chunk > 0,' \
  '(b1 - b0) * g.group_size, false,'
mutation chunks-unordered cuda/reassemble_gpu.cu "$PATCH_TESTS" \
  'if (chunk > 0)  // after the previous chunk' \
  'if (false)  // after the previous chunk'
mutation complex-lane-swap cuda/extract_kernel.cuh "$PATCH_TESTS" \
  'value[0] = math::blend(w, v00.x, v01.x, v10.x, v11.x);' \
  'value[0] = math::blend(w, v00.y, v01.y, v10.y, v11.y);'
mutation member-carry-drops-x cuda/extract_kernel.cuh "$PATCH_TESTS" \
  $'k -= c;\n          x += 1;' \
  'k -= c;'
mutation inside-rows-one-too-many cuda/extract_kernel.cuh "$PATCH_TESTS" \
  'math::add_rn(last_row, 1.0f)' \
  'math::add_rn(last_row, 2.0f)'
mutation inside-rows-lower-row-twice cuda/extract_kernel.cuh "$PATCH_TESTS" \
  $'float value[kLanes];\n      blend_inside<kLanes, kPairs>(\n          object + index, object + (index + row_floats32),' \
  $'float value[kLanes];\n      blend_inside<kLanes, kPairs>(\n          object + index, object + index,'
mutation tile-lower-row-twice cuda/extract_kernel.cuh "$PATCH_TESTS" \
  $'row0_index;\n        blend_inside<kLanes, kPairs>(\n            object + index, object + (index + row_floats32),' \
  $'row0_index;\n        blend_inside<kLanes, kPairs>(\n            object + index, object + index,'
mutation skip-last-chunk cuda/extract_gpu.cu "$PATCH_TESTS" \
  'chunk < plan.num_chunks; ++chunk' \
  'chunk < plan.num_chunks - 1; ++chunk'
mutation drop-block-reduce-barrier cuda/block_reduce.cuh "$ALIGN_TESTS" \
  $'shared[tid] = value;\n  __syncthreads();' \
  'shared[tid] = value;'
mutation joint-drops-last-plane cuda/align_kernels.cu "$ALIGN_TESTS" \
  $'for (int64_t p = 0; p < d.planes; ++p) {\n          if (!informative(energy, reference_energy, f, p, d.planes)) continue;\n          const float2 m' \
  $'for (int64_t p = 0; p < d.planes - 1; ++p) {\n          if (!informative(energy, reference_energy, f, p, d.planes)) continue;\n          const float2 m'

mutation window-does-not-track cuda/align_gpu.cu "$ALIGN_TESTS" \
  'align::tracked_joint(plane_data, s.reference->as<float>(), passes == 1 ? nullptr : peaks,' \
  'align::tracked_joint(plane_data, s.reference->as<float>(), nullptr,'
mutation frames-summed-in-float cuda/align_kernels.cu "$PLANE_TESTS" \
  'acc += static_cast<double>(plane[y * d.width + x]);' \
  'acc = static_cast<float>(acc + plane[y * d.width + x]);'
mutation window-tap-conjugated cuda/align_kernels.cu "$ALIGN_TESTS" \
  'return {tap, 0.5f, make_float2(tap.x, -tap.y)};' \
  'return {make_float2(tap.x, -tap.y), 0.5f, tap};'
mutation peak-search-rows-from-segment-start cuda/align_kernels.cu "$SEARCH_TESTS" \
  'math::within_shift_limit(first_row + r, d.fft_rows, d.limit_fft_rows)' \
  'math::within_shift_limit(r + first_row * 0, d.fft_rows, d.limit_fft_rows)'
mutation bound-last-row-dropped cuda/align_kernels.cu "$ALIGN_TESTS" \
  'for (int64_t r = blockIdx.x; r < d.fft_rows; r += kBoundBlocks) {' \
  'for (int64_t r = blockIdx.x; r + 1 < d.fft_rows; r += kBoundBlocks) {'
mutation luma-window-off-by-one cuda/luma_kernels.cu "$LUMA_TESTS" \
  'math::window_mean<kPeriod, kWindow>(frame, d.width, d.stride * i, d.stride * j, use)' \
  'math::window_mean<kPeriod, kWindow>(frame, d.width, d.stride * i, d.stride * j + (j > 3), use)'
mutation luma-huge-frames-unscaled cuda/luma_kernels.cu "$LUMA_TESTS" \
  'fit->exponent = fit->informative ? math::luma_scale_exponent(residual) : 0;' \
  'fit->exponent = 0;'
mutation luma-trend-rows-reversed cuda/luma_kernels.cu "$LUMA_TESTS" \
  $'const math::TrendRow row = math::trend_row(trend, axes.a[i], axes.q[i]);\n    *at' \
  $'const math::TrendRow row = math::trend_row(trend, axes.a[d.rows - 1 - i], axes.q[i]);\n    *at'
mutation luma-row-lane-column-dropped cuda/luma_kernels.cu "$LUMA_TESTS" \
  'for (int64_t j = lane; j < d.cols; j += kRowSumThreads)' \
  'for (int64_t j = lane; j + 1 < d.cols; j += kRowSumThreads)'
mutation upsample-rows-tile-dropped cuda/align_kernels.cu "$ALIGN_TESTS" \
  'const int64_t n = tiles - t0 < 32 ? tiles - t0 : 32;' \
  'const int64_t n = tiles - t0 < 32 ? tiles - t0 - 1 : 31;'
mutation luma-fit-run-overread cuda/luma_kernels.cu "$LUMA_TESTS" \
  'const int count = d.rows - i0 < kThreads ? static_cast<int>(d.rows - i0) : kThreads;' \
  'const int count = kThreads;'
# replace FILE OLD [NEW]: replaces the one occurrence of OLD in FILE by NEW;
# fails unless OLD occurs exactly once. Without NEW it only checks.
replace() {
  python3 - "$@" <<'EOF'
import sys
path, old, new = (sys.argv[1:] + [None])[:3]
with open(path, encoding="utf-8") as f:
    text = f.read()
count = text.count(old)
if count != 1:
    sys.exit(f"mutation-test: {path}: the text to mutate occurs {count} times, not once:\n{old}")
if new is not None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))
EOF
}

scratch="$(mktemp -d "${TMPDIR:-/tmp}/ptychopatch-mutation.XXXXXX")"
if ((keep)); then
  echo "mutation-test: scratch directory $scratch (kept)"
else
  trap 'rm -rf "$scratch"' EXIT
fi
echo "mutation-test: copying the checkout to $scratch"
# --ignore-failed-read: a tracked file deleted in the work tree is skipped.
git -C "$root" ls-files -z --cached --others --exclude-standard |
  tar -C "$root" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$scratch" -xf -
mkdir -p "$scratch/logs"
for i in "${!names[@]}"; do
  replace "$scratch/${files[$i]}" "${olds[$i]}" || {
    echo "mutation-test: mutation ${names[$i]} no longer applies: update scripts/mutation-test.sh" >&2
    exit 2
  }
done
program="$scratch/build/tests/ptychopatch_gpu_tests_emulated"
plane_program="$scratch/build/tests/emulation/ptychopatch_align_plane_kernel_tests"

build() {  # build LOG
  cmake --build "$scratch/build" --target ptychopatch_gpu_tests_emulated \
    ptychopatch_align_plane_kernel_tests >"$1" 2>&1
}

# run_tests FILTER ORDER LOG: the exit status of one run of the test program.
run_tests() {
  local rc=0 runs="$program" filter="$1"
  if [[ "$filter" == "$PLANE_PROGRAM"* ]]; then
    runs="$plane_program" filter="${filter#"$PLANE_PROGRAM"}"
  fi
  PTYCHOPATCH_GPU_TESTS=emulated PTYCHOPATCH_EMU_ORDER="$2" \
    timeout "$RUN_TIMEOUT" "$runs" --gtest_filter="$filter" --gtest_brief=1 --gtest_fail_fast \
    >"$3" 2>&1 || rc=$?
  return "$rc"
}

# Why a run failed, in a few words: its first failed test, or its exit.
failure() {  # failure LOG RC
  local first
  first="$(grep -m1 -o '\[  FAILED  \] [^ ,]*' "$1" | sed 's/.*\] //' || true)"
  if [ -n "$first" ]; then echo "$first"
  elif [ "$2" = 124 ]; then echo "timed out after ${RUN_TIMEOUT}s"
  else echo "exit status $2 (crash?)"
  fi
}

launcher=()
if command -v ccache >/dev/null 2>&1; then  # only if installed
  export CCACHE_BASEDIR="$scratch"           # hits across scratch directories
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
echo "mutation-test: configuring and building the emulated GPU tests (unmutated)"
cmake -S "$scratch" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPTYCHOPATCH_CUDA=OFF -DPTYCHOPATCH_BUILD_BENCHMARKS=OFF -DPTYCHOPATCH_FORTRAN=OFF \
  "${launcher[@]}" \
  >"$scratch/logs/configure.log" 2>&1 || { tail -n 40 "$scratch/logs/configure.log"; exit 1; }
build "$scratch/logs/build-unmutated.log" || { tail -n 40 "$scratch/logs/build-unmutated.log"; exit 1; }

# The unmutated tests must pass, in both orders, or the kills mean nothing.
for filter in "$PATCH_TESTS" "$ALIGN_TESTS" "$ALIGN_TESTS" "$SEARCH_TESTS" "$PLANE_TESTS" \
  "$LUMA_TESTS"; do
  for order in forward "$SHUFFLE_ORDER"; do
    log="$scratch/logs/unmutated.log"
    echo "mutation-test: unmutated, order $order: $filter"
    rc=0
    run_tests "$filter" "$order" "$log" || rc=$?
    if ((rc != 0)); then
      tail -n 40 "$log"
      echo "mutation-test: the unmutated tests fail ($(failure "$log" "$rc")): fix them first" >&2
      exit 1
    fi
  done
done

verdicts=() details=()
for i in "${!names[@]}"; do
  name="${names[$i]}" file="${files[$i]}" log="$scratch/logs/${names[$i]}.log"
  echo
  echo "== mutation $((i + 1))/${#names[@]}: $name ($file)"
  printf -- '-  %s\n' "${olds[$i]//$'\n'/$'\n   '}"
  printf -- '+  %s\n' "${news[$i]//$'\n'/$'\n   '}"
  cp "$scratch/$file" "$scratch/logs/original"
  replace "$scratch/$file" "${olds[$i]}" "${news[$i]}"
  if ! build "$log"; then
    verdict=BUILD-FAILED detail="does not compile (errors above)"
    tail -n 30 "$log"
  else
    verdict=SURVIVED detail="tests pass in both orders"
    for order in forward "$SHUFFLE_ORDER"; do
      rc=0
      run_tests "${tests[$i]}" "$order" "$log" || rc=$?
      if ((rc != 0)); then
        verdict=KILLED detail="order $order: $(failure "$log" "$rc")"
        break
      fi
    done
  fi
  # A fresh copy (new mtime): ninja recompiles the file for the next mutation.
  cp "$scratch/logs/original" "$scratch/$file"
  echo "   $verdict: $detail"
  verdicts+=("$verdict") details+=("$detail")
done

echo
echo "mutation-test: results"
killed=0
for i in "${!names[@]}"; do
  printf '  %-26s %-13s %s\n' "${names[$i]}" "${verdicts[$i]}" "${details[$i]}"
  [ "${verdicts[$i]}" = KILLED ] && killed=$((killed + 1))
done
echo "mutation-test: $killed of ${#names[@]} mutations killed ($((SECONDS - start)) s)"
((killed == ${#names[@]}))
