#!/usr/bin/env bash
# Run HERE, on the development machine (no GPU needed, nvcc needed): builds a
# self-contained release tree in build-gpu/ for a lent GPU machine, which has
# CUDA, CMake, ninja, PyTorch and CuPy but no Debian -dev packages and no
# network.
#
#  1. configures and builds build-gpu (Release, the default
#     CMAKE_CUDA_ARCHITECTURES: the multi-architecture library users get,
#     tests, benchmarks, demo) with $ORIGIN-relative run paths, so the
#     executables find libptychopatch wherever the tree lands;
#  2. copies the shared libraries the built programs load from this
#     machine's system (ldd) into build-gpu/lib, stripped: Google Benchmark,
#     libgomp, FLANN, FFTW, ... Left out: glibc and the loader (ABI-bound to
#     the target's kernel and libc; the target's are newer), the NVIDIA
#     driver (must be the target's own), and libstdc++ / libgcc_s, which go
#     to build-gpu/lib/compat: used there only if the target's own are too
#     old (they are backward compatible; forcing ours would break PyTorch);
#  3. records what scripts/gpu-validate.sh needs to run the tests in another
#     directory: this checkout's and cmake's paths (CTest files hold absolute
#     paths; gpu-validate.sh rewrites them) and the GPU test programs;
#  4. prints the sizes and the exact carry list and command.
#
#   scripts/gpu-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd -P)"
BUILD=build-gpu
LIBDIR="$BUILD/lib"
LIMIT_MIB=64

bash scripts/install-deps.sh
# shellcheck disable=SC1091
source scripts/env.sh
if ! command -v nvcc >/dev/null 2>&1; then
  echo "gpu-prepare: nvcc not found (PATH or /usr/local/cuda): cannot build the CUDA backend" >&2
  exit 1
fi

echo "== configure and build $BUILD (Release, every architecture of a default build) =="
# CMAKE_CUDA_ARCHITECTURES unset: the GPU runs the code users get. A cache
# from an older single-architecture build is cleared of it.
cmake -S . -B "$BUILD" -G Ninja -UCMAKE_CUDA_ARCHITECTURES \
  -DCMAKE_BUILD_TYPE=Release \
  -DPTYCHOPATCH_CUDA=ON \
  -DPTYCHOPATCH_BUILD_TESTS=ON \
  -DPTYCHOPATCH_BUILD_BENCHMARKS=ON \
  -DPTYCHOPATCH_BUILD_EXAMPLES=ON \
  -DPTYCHOPATCH_SANITIZE= \
  -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON >/dev/null
cmake --build "$BUILD"
for required in "$BUILD/libptychopatch.so" "$BUILD/benchmarks/bench_extract_gpu" \
  "$BUILD/benchmarks/bench_extract_cpu"; do
  [ -e "$required" ] || { echo "gpu-prepare: $required was not built" >&2; exit 1; }
done

# Every ELF file the build produced (programs and shared objects), outside
# CMake's own probes and the library folder made below: elf_files "$BUILD".
# shellcheck disable=SC1091
source scripts/elf-files.sh

echo "== shared libraries for $LIBDIR =="
rm -rf "$LIBDIR"
mkdir -p "$LIBDIR/compat"
declare -A wanted=()
missing=0
while IFS= read -r elf; do
  while IFS= read -r line; do
    # "libfoo.so.1 => /path/libfoo.so.1 (0x...)" or "libfoo.so.1 => not found"
    [[ "$line" == *"=>"* ]] || continue
    name="$(awk '{print $1}' <<<"$line")"
    path="$(awk '{print $3}' <<<"$line")"
    if [ "$path" = "not" ]; then
      echo "gpu-prepare: $elf needs $name, which is not found here" >&2
      missing=1
      continue
    fi
    case "$path" in "$REPO"/* | "$BUILD"/*) continue ;; esac  # built here: travels anyway
    case "$name" in
      linux-vdso.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | \
        libdl.so.* | librt.so.* | libutil.so.* | libresolv.so.* | libanl.so.* | libnsl.so.*)
        ;; # glibc: the target's own
      libcuda.so.* | libnvidia-*.so.*)
        ;; # the NVIDIA driver: the target's own
      libstdc++.so.* | libgcc_s.so.*)
        wanted["compat/$name"]="$path" ;;
      *)
        wanted["$name"]="$path" ;;
    esac
  done < <(ldd "$elf" 2>/dev/null || true)
done < <(elf_files "$BUILD")
[ "$missing" -eq 0 ] || exit 1

for dest in "${!wanted[@]}"; do
  cp -L "${wanted[$dest]}" "$LIBDIR/$dest"
  chmod u+w "$LIBDIR/$dest"
  if command -v strip >/dev/null 2>&1; then strip --strip-unneeded "$LIBDIR/$dest"; fi
  printf '  %-28s <- %s\n' "$dest" "${wanted[$dest]}"
done

echo "== what gpu-validate.sh needs =="
# The GPU test program built against the real CUDA runtime. (ctest's label
# gpu names the emulated-device program, which hands over to this one where
# a GPU is present: tests/cpp/gpu_tests_main.cpp.)
: >"$BUILD/gpu-test-programs.txt"
for program in "$BUILD/tests/ptychopatch_gpu_tests"; do
  [ -x "$program" ] || { echo "gpu-prepare: $program was not built" >&2; exit 1; }
  echo "$program" >>"$BUILD/gpu-test-programs.txt"
done
sed 's/^/  gpu tests: /' "$BUILD/gpu-test-programs.txt"
{
  echo "PTP_PREPARED_SOURCE_DIR=$REPO"
  echo "PTP_PREPARED_CMAKE=$(command -v cmake)"
  echo "PTP_PREPARED_CTEST=$(command -v ctest)"
  echo "PTP_PREPARED_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
  echo "PTP_PREPARED_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "PTP_PREPARED_HOST_GLIBC=$(ldd --version | head -n1 | awk '{print $NF}')"
} >"$BUILD/gpu-prepare.env"
sed 's/^/  /' "$BUILD/gpu-prepare.env"

# The programs must start from the carried tree with nothing but
# build-gpu/lib on the library path (on a GPU-less machine they say so).
echo "== smoke test with LD_LIBRARY_PATH=$LIBDIR only =="
env LD_LIBRARY_PATH="$LIBDIR" "$BUILD/tests/ptychopatch_c_abi_test" >/dev/null
env LD_LIBRARY_PATH="$LIBDIR" "$BUILD/benchmarks/bench_extract_gpu" --benchmark_filter='^$' \
  2>/dev/null | head -n 1

# Object files and CMake's compiler probes are not run there and would take
# a third of the 64 MiB (2026-11-26: 66 MiB in all with them). Removing them
# makes the next run of this script rebuild from scratch (about two minutes
# here).
echo "== trim what the device does not run =="
find "$BUILD" -name '*.o' -type f -delete
rm -rf "$BUILD/CMakeFiles/CheckCUDA"
# CMake's compiler probes (the CUDA one alone is 5.5 MiB); ctest never reads them.
rm -rf "$BUILD"/CMakeFiles/*/CompilerId* "$BUILD"/CMakeFiles/*/CMakeDetermineCompilerABI_*.bin
# Symbol tables the device never reads (a Release build has no debug lines;
# exported symbols stay): 4.7 MiB of the programs and libraries, which with
# the reassembly bins and the offsets gradient had passed the margin below.
find "$BUILD" -path "$LIBDIR" -prune -o -type f -print | while read -r f; do
  if file -b "$f" | grep -q '^ELF'; then strip --strip-unneeded "$f"; fi
done

echo "== sizes =="
kib_build="$(du -sk "$BUILD" | cut -f1)"
kib_libs="$(du -sk "$LIBDIR" | cut -f1)"
# What else travels: tracked files and untracked files git does not ignore.
kib_tree="$(git ls-files -z --cached --others --exclude-standard |
  xargs -0 -r du -ck -- 2>/dev/null | tail -n 1 | cut -f1)"
kib_total=$((kib_build + kib_tree))
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo "  $BUILD: $(mib "$kib_build") (of which $LIBDIR: $(mib "$kib_libs"))"
echo "  working tree that travels besides it: $(mib "$kib_tree")"
echo "  total: $(mib "$kib_total") of the ${LIMIT_MIB} MiB limit"
if [ "$kib_total" -gt $(((LIMIT_MIB - 8) * 1024)) ]; then
  echo "gpu-prepare: too close to the ${LIMIT_MIB} MiB limit; trim $BUILD" >&2
  exit 1
fi

cat <<EOF

Ready. On a lent GPU (the device tool's run), from the repository root:
  carry:     ["$BUILD"]
  command:   bash scripts/gpu-validate.sh
  timeout_s: 600
Logs come back under \$OUT: summary.txt, console.log, gpu-validate-logs.tar.gz and the
benchmark outputs. See docs/gpu-validation.md, "How to run on a lent GPU".
EOF
