# Sourced by install-deps.sh and env.sh: where the project's Python lives.
# PTYCHOPATCH_VENV is the project's virtual environment (default: .venv in
# the repository); an already active virtual environment (VIRTUAL_ENV) is
# used instead of making one.
_ptp_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PTYCHOPATCH_VENV="${PTYCHOPATCH_VENV:-$VIRTUAL_ENV}"
else
  PTYCHOPATCH_VENV="${PTYCHOPATCH_VENV:-$_ptp_repo/.venv}"
fi
unset _ptp_repo
