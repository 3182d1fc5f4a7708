#!/usr/bin/env bash
# Every test (scripts/check.sh is the fast loop over part of them): install
# dependencies; check the format (scripts/check-format.sh); build (with CUDA
# when nvcc exists; CMakePresets.json's presets) and run
# the C++, C and ABI tests; compare the library's ABI with the baseline in
# abi/ (scripts/check-abi.sh, fails on an incompatible change); rebuild the
# tests under AddressSanitizer + UndefinedBehaviorSanitizer (CPU-only) and run
# them again; build the self-contained Python wheel (scripts/build-wheel.sh),
# install it and run the Python tests against it. The GPU tests (ctest label
# gpu) run on the emulated CUDA device of tests/emulation/ where no GPU is
# present, in both builds; scripts/fuzz.sh
# fuzzes every C entry point briefly (45 s a target), scripts/tsan.sh runs
# eight threads on every entry point under ThreadSanitizer; then
# scripts/mutation-test.sh checks that they fail on seeded kernel bugs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage prints how long it took, so a CI log shows where the time goes.
# shellcheck disable=SC1091
source scripts/stages.sh

stage "install dependencies"
bash scripts/install-deps.sh
source scripts/env.sh
# PYTHON: the virtual environment install-deps.sh filled (scripts/env.sh).

stage "format and lint (scripts/check-format.sh)"
bash scripts/check-format.sh

stage "build and test (release; CMakePresets.json's default)"
cmake --preset default >/dev/null
cmake --build --preset default
ctest --preset default -j "$(nproc)"

stage "ABI check (abidiff against abi/, docs/abi.md)"
bash scripts/check-abi.sh

stage "build and test (AddressSanitizer + UndefinedBehaviorSanitizer; preset asan)"
cmake --preset asan >/dev/null
cmake --build --preset asan
# The two longest emulated-GPU alignment comparisons (about 12 minutes
# together under ASan on two cores, 40 s in the release stage above, which
# runs them) are left out here: the other GpuAlign tests take the same code
# paths under the sanitizers, and CI has 90 minutes for every stage.
ctest --preset asan -j "$(nproc)" \
  -E '^GpuAlign\.(VerifiedCropsMatchTheCpu|TinyBudgetsForceManyBatches)$'

stage "fuzzing the C ABI (clang, libFuzzer, ASan + UBSan; docs/reliability.md)"
FUZZ_SECONDS="${FUZZ_SECONDS:-45}" bash scripts/fuzz.sh

stage "ThreadSanitizer: eight threads on every entry point"
bash scripts/tsan.sh

stage "kernel mutations (the emulated GPU suite must fail on each)"
bash scripts/mutation-test.sh

stage "Python package (the self-contained wheel of scripts/build-wheel.sh)"
wheel="$(bash scripts/build-wheel.sh | tail -n 1)"
"$PYTHON" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
# tests/python/test_wheel_bundled.py fails, rather than skips, unless the
# package under test is that wheel, installed.
export PTYCHOPATCH_EXPECT_REPAIRED_WHEEL=1
# Run from outside the checkout so the installed package is what is tested.
repo="$(pwd)"
(cd /tmp && "$PYTHON" -m pytest -q "$repo/tests/python")
# The command line as installed: the console script and python -m.
scripts_dir="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
(cd /tmp && "$scripts_dir/ptychopatch" --version && "$PYTHON" -m ptychopatch info >/dev/null)

stage "Python on the emulated GPU (backend auto takes the GPU paths)"
# The Python tests whose calls take another path where a GPU is usable, run
# against the emulated-device library (preloaded, as in
# tests/python/test_backend_info.py), so that a test assuming the CPU
# backend fails here and not first on a lent GPU (docs/gpu-validation.md,
# 2026-11-26: 10 such tests). The whole suite takes about 13 minutes this
# way; the two slowest alignment studies are left out.
emulation="$repo/build/tests/emulation"
# The environment that loads the emulated library (also for the GPU part
# of the benchmark suite below).
on_emulated_gpu=(env PTYCHOPATCH_LIBRARY="$emulation/libptychopatch_emulated.so"
  LD_PRELOAD="$emulation/libptychopatch_cuda_emulator.so $emulation/libptychopatch_emulated.so")
(cd /tmp && "${on_emulated_gpu[@]}" PYTHONPATH="$repo/capi/python" \
  "$PYTHON" -c 'import ptychopatch as p; i = p.backend_info(); assert i.backend == "gpu", i; print(i)' &&
  "${on_emulated_gpu[@]}" PYTHONPATH="$repo/capi/python" "$PYTHON" -m pytest -q -p no:cacheprovider \
    -k "not test_polish_sees_detail_that_only_the_colours_carry and not test_default_confidence_is_the_probability_that_the_crop_is_right" \
    "$repo/tests/python/test_registration.py" "$repo/tests/python/test_packed_fft.py" \
    "$repo/tests/python/test_extract.py" "$repo/tests/python/test_reassemble.py" \
    "$repo/tests/python/test_get_image_patches.py" "$repo/tests/python/test_outside_object.py" \
    "$repo/tests/python/test_progress.py" "$repo/tests/python/test_out_arguments.py" \
    "$repo/tests/python/test_device_arrays.py" "$repo/tests/python/test_reliability.py" \
    "$repo/tests/python/test_align.py" "$repo/tests/python/test_align_verify.py")

stage "benchmark suite, quick set (runs and writes its outputs; no timing is checked)"
# docs/benchmarks.md. The installed command, so the suite cannot rot in the
# wheel; the figures of a quick run on a busy CI machine mean nothing.
bench_out="$repo/build/bench-quick"
rm -rf "$bench_out"
(cd /tmp && "$scripts_dir/ptychopatch" bench --quick --out "$bench_out")
test -s "$bench_out/results.json" && test -s "$bench_out/report.md"
ls "$bench_out"/plots/*.png >/dev/null
# The GPU part (gpu-* curves) on the emulated device of the release build,
# for plumbing: it must run and every figure must come out marked emulated,
# never as a speed. The emulator is preloaded (its thread-local storage).
bench_emulated="$repo/build/bench-quick-gpu-emulated"
rm -rf "$bench_emulated"
(cd /tmp && "${on_emulated_gpu[@]}" \
  "$scripts_dir/ptychopatch" bench --quick --only 'gpu-*' --out "$bench_emulated")
"$PYTHON" - "$bench_emulated" <<'EOF_CHECK'
import json, os, sys
out = sys.argv[1]
doc = json.load(open(os.path.join(out, "results.json")))
results = [r for c in doc["cases"] for r in c["results"] if r["status"] == "ok"]
assert doc["library"]["gpu"]["emulated"] and len(doc["cases"]) == 6, doc["library"]["gpu"]
assert all(c["emulated"] for c in doc["cases"]), "a GPU case not marked emulated"
assert all(r["emulated"] and r["items_per_s"] is None and r["ratio_to_ours"] is None
           for r in results), "an emulated figure reported as a speed"
assert "EMULATED" in open(os.path.join(out, "report.md")).read()
assert os.path.getsize(os.path.join(out, "plots", "gpu-extract-patches.png")) > 0
print(f"emulated GPU part: {len(doc['cases'])} cases, {len(results)} results, all marked emulated")
EOF_CHECK
