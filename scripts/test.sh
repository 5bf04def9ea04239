#!/usr/bin/env bash
# Command 2 of the README: install what is missing, build, and run the whole
# test suite through CTest. .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake --preset release
cmake --build --preset release
ctest --preset release --timeout 1800
