#!/usr/bin/env bash
# The benchmark suite (docs/benchmarks.md): `ptychopatch bench` on this
# checkout, its library built if needed; every argument goes to the command.
#
#   scripts/bench.sh --quick                    # about a minute
#   scripts/bench.sh --out bench-full           # every curve
#   scripts/bench.sh --install-peers --quick    # first: pip install the peers
#   scripts/bench.sh --install-peers=all ...    # ... and torch, tensorflow
#
# The library: $PTYCHOPATCH_LIBRARY if set, else build/libptychopatch.so
# (configured and built here when absent, Release, CPU and GPU as found).
# The Python: that of scripts/env.sh (the project's .venv, or $PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# The suite installs nothing by itself; these are offered, on request.
peers=(matplotlib scikit-learn opencv-python-headless scipy scikit-image)
case "${1:-}" in
  --install-peers) shift; "$PYTHON" -m pip install -q "${peers[@]}" ;;
  --install-peers=all) shift; "$PYTHON" -m pip install -q "${peers[@]}" torch tensorflow ;;
esac

if [ -z "${PTYCHOPATCH_LIBRARY:-}" ]; then
  if [ ! -e build/libptychopatch.so ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build --target ptychopatch
  fi
  export PTYCHOPATCH_LIBRARY="$PWD/build/libptychopatch.so"
fi
export PYTHONPATH="$PWD/capi/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m ptychopatch bench "$@"
