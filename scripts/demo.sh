#!/usr/bin/env bash
# The main job: install dependencies, build, and extract a PtychoPINN-sized
# batch (5,000 groups x gridsize 2, N = 64, 1,024^2 object) on the best
# available backend, printing the backend, the sizes and the time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/env.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target ptychopatch_demo
./build/ptychopatch_demo "$@"
