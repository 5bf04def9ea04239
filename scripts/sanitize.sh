#!/usr/bin/env bash
# Builds with AddressSanitizer and UndefinedBehaviorSanitizer (the "sanitize"
# CMake preset, -DHAN_SANITIZE=ON) and runs tests under them.
#
#   scripts/sanitize.sh            every unit test, the fused kernels' included (what CI runs)
#   scripts/sanitize.sh --all      the whole suite except the aclImdb subset
# Builds in build-sanitize/ (CMakePresets.json).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset sanitize > /dev/null
# The sanitize test preset sets ASAN_OPTIONS and UBSAN_OPTIONS.
if [ "${1:-}" = "--all" ]; then
  cmake --build --preset sanitize
  ctest --preset sanitize -E "imdb_subset|install"
else
  unit_tests=(test_base test_text test_corpus test_prepared test_vocab_config test_word2vec test_real_corpora
              test_report test_request test_model test_fused test_kernels test_model_file test_training
              test_embeddings test_serve test_distributed)
  cmake --build --preset sanitize --target "${unit_tests[@]}"
  ctest --preset sanitize -R "^($(IFS='|'; echo "${unit_tests[*]}"))\$"
fi
