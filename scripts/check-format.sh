#!/usr/bin/env bash
# The format and lint checks (docs/contributing.md): clang-format
# (.clang-format) on every tracked C, C++ and CUDA file, and ruff
# (pyproject.toml's [tool.ruff]) on the Python. Fails naming each file and
# line; `--fix` rewrites the files instead. scripts/check.sh, scripts/test.sh
# and the pre-commit hooks (.pre-commit-config.yaml) run the same tools.
#
#   scripts/check-format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source scripts/env.sh

# The tracked files (a checkout); without git (an unpacked tarball) every such
# file outside the build trees.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh')
else
  mapfile -t sources < <(find . -path './build*' -prune -o -path './.venv' -prune -o \
    -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.cu' \
    -o -name '*.cuh' \) -print)
fi

if [ "${1:-}" = --fix ]; then
  clang-format -i "${sources[@]}"
  "$PYTHON" -m ruff check --fix .
  exit 0
fi
status=0
clang-format --dry-run --Werror "${sources[@]}" || {
  status=1
  echo "check-format: clang-format would change the files above (scripts/check-format.sh --fix)" >&2
}
"$PYTHON" -m ruff check . || status=1
exit "$status"
