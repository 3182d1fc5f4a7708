#!/usr/bin/env bash
# Builds the manylinux_2_28 wheel (scripts/build-wheel-glibc228.sh) and
# tests it: its glibc floor (tests/python/test_wheel_glibc228.py), then the
# Python tests of extraction, grouping, reassembly, alignment and
# registration against the package installed from it, from outside the
# checkout, so the wheel's own library is what runs.
#
#   scripts/check-wheel-glibc228.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
repo="$PWD"

wheel="$(bash scripts/build-wheel-glibc228.sh | tail -n 1)"
site="$(mktemp -d)"
trap 'rm -rf "$site"' EXIT
"$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target "$site" "$wheel"

unset PTYCHOPATCH_LIBRARY
export PTYCHOPATCH_GLIBC228_WHEEL="$repo/$wheel"
cd /tmp
PYTHONPATH="$site" "$PYTHON" -c 'import ptychopatch, sys
path = ptychopatch._native.LIBRARY_PATH
assert path.startswith(sys.argv[1]), path
print("testing", path)' "$site"
PYTHONPATH="$site" "$PYTHON" -m pytest -q -p no:cacheprovider \
  "$repo/tests/python/test_wheel_glibc228.py" "$repo/tests/python/test_extract.py" \
  "$repo/tests/python/test_group.py" "$repo/tests/python/test_reassemble.py" \
  "$repo/tests/python/test_align.py" "$repo/tests/python/test_align_verify.py" \
  "$repo/tests/python/test_registration.py" "$repo/tests/python/test_get_image_patches.py"
