#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build in Release, and
# run the built-in default job (han demo: train on a synthetic corpus and
# explain a few held-out reviews).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHAN_BUILD_TESTS=OFF
cmake --build build --target han_app
build/han demo -o han-demo
