#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build, and run the whole
# test suite through CTest. .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAN_BUILD_TESTS=ON
cmake --build build
ctest --test-dir build --output-on-failure --timeout 1800
