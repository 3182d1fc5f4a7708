# syntax=docker/dockerfile:1
# libptychopatch in a container (docs/docker.md).
#
#   docker build -t ptychopatch .                        # runtime image
#   docker build --target builder -t ptychopatch:dev .   # build tree, tests, benchmarks
#   docker run --gpus all --rm ptychopatch \
#     python3 -c "import ptychopatch; print(ptychopatch.version(), ptychopatch.cuda_device_count())"
#
# builder: CUDA devel image; installs the dependencies with
#   scripts/install-deps.sh, builds the library, tests, benchmarks and the
#   Fortran module, runs the CPU tests (ctest -L cpu, pytest; no GPU is
#   visible during `docker build`), installs the C/C++/Fortran packages into
#   /opt/ptychopatch and builds the Python wheel.
# runtime: CUDA base image (driver hooks only: the library links the CUDA
#   runtime and cuFFT statically) with the installed prefix, the wheel
#   installed in a virtual environment and the Python examples.
#
# Ubuntu 24.04 because its apt has what the scripts install on Debian 12
# under the same names (CMake 3.28 >= 3.25, FLANN, FFTW, GoogleTest, Google
# Benchmark, gfortran, abigail-tools); Ubuntu 22.04's CMake is too old.
ARG CUDA_VERSION=12.6.3
ARG UBUNTU_VERSION=24.04

# ------------------------------------------------------------------ builder
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS builder

# GPU code for these architectures (CMake's CUDA_ARCHITECTURES list): every
# generation CUDA 12.6 compiles for (Turing to Hopper), plus compute_90 PTX,
# which the driver compiles for Blackwell. With CUDA_VERSION 12.8 or newer
# add "100-real;120" (the project's default list, docs/api.md).
ARG CUDA_ARCHITECTURES="75-real;80-real;86-real;89-real;90"
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/cuda/bin:${PATH}

# Python in a virtual environment: Ubuntu 24.04's system pip refuses
# installs (PEP 668); with the venv first on PATH, install-deps.sh's
# `python3 -m pip` installs into it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

WORKDIR /src
# The dependency layer is cached until these scripts change.
COPY scripts/install-deps.sh scripts/env.sh scripts/
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" \
 && cmake --build build
# Separate steps, so that a failing test names itself in the build log.
# hadolint ignore=DL3059
RUN ctest --test-dir build -L cpu --output-on-failure
# hadolint ignore=DL3059
RUN cmake --install build --prefix /opt/ptychopatch
# The wheel carries its own copy of the library (docs/packaging.md).
# hadolint ignore=DL3059
RUN pip wheel --no-deps -w /wheels \
      --config-settings=cmake.define.CMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" . \
 && pip install /wheels/ptychopatch-*.whl
# From outside the checkout, so that the installed wheel is what is tested.
WORKDIR /tmp
RUN python3 -m pytest -q /src/tests/python
WORKDIR /src

# ------------------------------------------------------------------ runtime
FROM nvidia/cuda:${CUDA_VERSION}-base-ubuntu${UBUNTU_VERSION} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PKG_CONFIG_PATH=/opt/ptychopatch/lib/pkgconfig \
    CMAKE_PREFIX_PATH=/opt/ptychopatch

# What libptychopatch.so loads (ldd): FFTW (single and double), LZ4
# (the C++ runtime is in the base image); Python for the package.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfftw3-single3 libfftw3-double3 liblz4-1 \
      python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

COPY --from=builder /opt/ptychopatch /opt/ptychopatch
COPY --from=builder /wheels /tmp/wheels
COPY --from=builder /src/capi/python/examples /opt/ptychopatch/share/ptychopatch/examples/python
RUN echo /opt/ptychopatch/lib > /etc/ld.so.conf.d/ptychopatch.conf \
 && ldconfig \
 && pip install /tmp/wheels/ptychopatch-*.whl \
 && rm -rf /tmp/wheels \
 && if ldd /opt/ptychopatch/lib/libptychopatch.so | grep 'not found'; then exit 1; fi \
 && python3 -c "import ptychopatch; print('ptychopatch', ptychopatch.version())"

WORKDIR /work
CMD ["python3", "-c", "import ptychopatch; print(ptychopatch.version(), ptychopatch.cuda_device_count())"]
