#!/usr/bin/env bash
# Builds the tests that run threads with ThreadSanitizer (the "tsan" CMake
# preset, -DHAN_TSAN=ON) and runs them under it: the thread runner, parallel
# tokenizing, word2vec, training on several threads, the server's batcher
# and workers, and data-parallel ranks. CI runs this.
#
# LibTorch is not built with ThreadSanitizer: tests/tsan.supp silences
# reports whose stacks pass through it, each with its reason. Builds in
# build-tsan/ (CMakePresets.json).
set -euo pipefail
cd "$(dirname "$0")/.."
threaded_tests=(test_base test_corpus test_prepared test_word2vec test_training test_embeddings test_serve test_distributed)
cmake --preset tsan > /dev/null
cmake --build --preset tsan --target "${threaded_tests[@]}"
# The tsan test preset sets TSAN_OPTIONS (the suppressions, halt on the first report).
ctest --preset tsan -R "^($(IFS='|'; echo "${threaded_tests[*]}"))\$"
