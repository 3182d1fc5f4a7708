# Sourced by the scripts: puts a CUDA toolkit in /usr/local/cuda on PATH so
# CMake finds nvcc, and picks the parallelism of this machine.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# The Python that install-deps.sh installed the packages into: PYTHON if set,
# else the project's virtual environment (scripts/python-env.sh).
source "$(dirname "${BASH_SOURCE[0]}")/python-env.sh"
if [ -z "${PYTHON:-}" ]; then
  export PYTHON="$PTYCHOPATCH_VENV/bin/python"
fi
