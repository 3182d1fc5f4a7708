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

# Each step says how long it took, so a slow step shows.
step_start=$SECONDS
step() {
  [ -z "${step_name:-}" ] || echo "-- ${step_name}: $((SECONDS - step_start)) s"
  step_name="$1"
  step_start=$SECONDS
  [ -z "$1" ] || echo "== $1 =="
}
trap 'step ""; echo "-- check.sh: ${SECONDS} s"' EXIT

step "dependencies"
bash scripts/install-deps.sh
# shellcheck disable=SC1091
source scripts/env.sh

step "format and lint (scripts/check-format.sh)"
bash scripts/check-format.sh

step "build (cmake --preset dev)"
cmake --preset dev >/dev/null
cmake --build --preset dev

step "ctest, label fast"
ctest --preset dev -j "$(nproc)"

step "pytest, not slow"
PTYCHOPATCH_LIBRARY="$repo/build-dev/libptychopatch.so" PYTHONPATH="$repo/capi/python" \
  "$PYTHON" -m pytest -q -p no:cacheprovider -m "not slow" "$repo/tests/python" "$@"
