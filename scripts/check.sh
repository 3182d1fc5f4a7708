#!/usr/bin/env bash
# The contributor's loop (docs/contributing.md): the format and lint checks,
# a CPU-only build (CMake preset `dev`, in build-dev/), the ctest tests
# labelled fast and the Python tests not marked slow, from the source tree
# against that build. scripts/test.sh is the whole suite, which CI runs.
#
#   scripts/check.sh            everything above
#   scripts/check.sh -k polish  the same, pytest given the extra arguments
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

# Each stage says how long it took, so a slow one shows.
# shellcheck disable=SC1091
source scripts/stages.sh

stage "dependencies"
bash scripts/install-deps.sh
# shellcheck disable=SC1091
source scripts/env.sh

stage "format and lint (scripts/check-format.sh)"
bash scripts/check-format.sh

stage "build (cmake --preset dev)"
cmake --preset dev >/dev/null
cmake --build --preset dev

stage "ctest, label fast"
ctest --preset dev -j "$(nproc)"

stage "pytest, not slow"
PTYCHOPATCH_LIBRARY="$repo/build-dev/libptychopatch.so" PYTHONPATH="$repo/capi/python" \
  "$PYTHON" -m pytest -q -p no:cacheprovider -m "not slow" "$repo/tests/python" "$@"
