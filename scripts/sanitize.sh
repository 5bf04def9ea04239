#!/usr/bin/env bash
# Builds with AddressSanitizer and UndefinedBehaviorSanitizer (the "sanitize"
# CMake preset, -DHAN_SANITIZE=ON) and runs tests under them.
#
#   scripts/sanitize.sh            every unit test, the fused kernels' included (what CI runs)
#   scripts/sanitize.sh --all      the whole suite except the aclImdb subset
# Env: BUILD (default build-sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-sanitize}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAN_SANITIZE=ON -DHAN_BUILD_TESTS=ON > /dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${1:-}" = "--all" ]; then
  cmake --build "$build"
  ctest --test-dir "$build" --output-on-failure -E imdb_subset
else
  unit_tests=(test_text test_corpus test_vocab_config test_word2vec test_real_corpora test_report test_request
              test_model test_fused test_model_file test_training test_embeddings test_serve test_distributed)
  cmake --build "$build" --target "${unit_tests[@]}"
  ctest --test-dir "$build" --output-on-failure -R "^($(IFS='|'; echo "${unit_tests[*]}"))\$"
fi
