#!/usr/bin/env bash
# Builds a CPU-only wheel that pip installs on glibc 2.28 and later
# (manylinux_2_28: RHEL 8 and 9, Rocky, Alma, and the clusters built on
# them), from what Debian and PyPI offer (docs/packaging.md, "A wheel for
# older glibc"):
#  * the compiler is Zig's clang (PyPI's `ziglang`), targeting
#    x86_64-linux-gnu.2.28: it links against glibc 2.28's symbol versions
#    and links LLVM's C++ runtime statically, so the library needs no
#    libstdc++ newer than the system's;
#  * FFTW is built from Debian's source package (`apt-get source fftw3`,
#    fetched into the build folder without touching the system's apt
#    configuration) with the same compiler and linked statically: Debian's
#    own libfftw3 needs glibc 2.29;
#  * auditwheel bundles LZ4 (glibc 2.14) and checks the manylinux_2_28
#    policy, or fails.
# auditwheel tags the wheel for the oldest glibc its symbols allow (2.17
# for this code: manylinux2014), so pip takes it on glibc 2.28 and later.
# No CUDA: nvcc's static CUDA libraries need libstdc++. GPU users on older
# glibc build from source (docs/packaging.md).
#
#   scripts/build-wheel-glibc228.sh [OUTDIR]     # default OUTDIR: dist
#
# Prints the wheel's path on its last line. Takes about 8 minutes on two
# cores the first time (FFTW twice), under 2 minutes after (build/glibc228
# keeps FFTW and the compiler's cache).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

ZIG_VERSION=0.17.1
FFTW_SOURCE=fftw3=3.3.10-1
out="${1:-dist}"
work="$PWD/build/glibc228"
mkdir -p "$work" "$out"

if ! "$PYTHON" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  "$PYTHON" -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" >&2
fi
# CMake and configure take a compiler as one path.
for tool in cc c++; do
  cat > "$work/zig-$tool" <<EOF
#!/bin/sh
exec "$PYTHON" -m ziglang $tool -target x86_64-linux-gnu.2.28 "\$@"
EOF
  chmod +x "$work/zig-$tool"
done
export ZIG_GLOBAL_CACHE_DIR="$work/zig-cache"

prefix="$work/fftw"
if [ ! -f "$prefix/lib/libfftw3f.a" ] || [ ! -f "$prefix/lib/libfftw3.a" ]; then
  src="$work/fftw-source"
  rm -rf "$src" && mkdir -p "$src/lists/partial" "$src/cache/archives/partial" "$src/parts"
  # Debian's source package, from the mirrors the system's packages come from.
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src/parts/src.sources"
  apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$src/parts"
       -o "Dir::State::Lists=$src/lists" -o "Dir::Cache=$src/cache")
  "${apt[@]}" update >&2
  (cd "$src" && "${apt[@]}" source --download-only "$FFTW_SOURCE" >&2)
  tar -xzf "$src"/fftw3_*.orig.tar.gz -C "$src"
  log="$work/fftw-build.log"
  echo "build-wheel-glibc228: building FFTW (single and double precision; $log)" >&2
  for precision in --enable-float ""; do
    if ! (cd "$src"/fftw-3.* && { make distclean || true; } &&
          CC="$work/zig-cc" ./configure --prefix="$prefix" $precision --enable-static \
            --disable-shared --with-pic --disable-fortran --enable-sse2 --enable-avx --enable-avx2 &&
          make -j"$(nproc)" && make install) >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "build-wheel-glibc228: FFTW's build failed (above; all of it in $log)" >&2
      exit 1
    fi
  done
fi

unrepaired="$work/unrepaired"
rm -rf "$unrepaired" && mkdir -p "$unrepaired"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" "$PYTHON" -m pip wheel -q --disable-pip-version-check \
  --no-deps --no-build-isolation -w "$unrepaired" \
  -Cbuild-dir="$work/wheel-build" \
  -Ccmake.define.CMAKE_C_COMPILER="$work/zig-cc" \
  -Ccmake.define.CMAKE_CXX_COMPILER="$work/zig-c++" \
  -Ccmake.define.PTYCHOPATCH_CUDA=OFF \
  -Ccmake.define.CMAKE_SHARED_LINKER_FLAGS=-Wl,--strip-debug . >&2
built=("$unrepaired"/ptychopatch-*.whl)
rm -f "$out"/ptychopatch-*manylinux_2_28*.whl
"$PYTHON" -m auditwheel repair --plat manylinux_2_28_x86_64 -w "$out" "${built[0]}" >&2
wheel=("$out"/ptychopatch-*manylinux_2_28*.whl)
"$PYTHON" scripts/wheel_bundle_notices.py "${wheel[0]}" --linked-in "$FFTW_SOURCE"
"$PYTHON" -m auditwheel show "${wheel[0]}" >&2
ls "${wheel[0]}"
