#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs each one from our seed files.
#
#   scripts/fuzz.sh [--time SECONDS | --runs N] [TARGET...]
#
# Default: 60 seconds per target (what CI runs). --runs 10000000 is the long
# run recorded in docs/FUZZING.md. Crashes are written to fuzz-work/TARGET/
# and make the script exit non-zero. Builds in build-fuzz/ (CMakePresets.json).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(text corpus folder prepared model_file request)
build=build-fuzz
command -v clang++ > /dev/null || { echo "scripts/fuzz.sh: clang++ is missing (apt-get install clang)" >&2; exit 1; }
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz --target $(printf 'fuzz_%s ' "${targets[@]}")
status=0
for target in "${targets[@]}"; do
  work=fuzz-work/$target
  mkdir -p "$work/corpus"
  cp -n fuzz/seeds/"$target"/* "$work/corpus/" 2> /dev/null || true
  echo "== fuzz_$target ${limit[*]}"
  # Inputs up to 64 KiB; more than 2 GiB of memory counts as a failure (a hostile file must not cost that).
  if ! "$build/fuzz/fuzz_$target" "${limit[@]}" -max_len=65536 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/corpus" 2> "$work/log.txt"; then
    status=1
    echo "fuzz_$target FAILED; see $work/log.txt and the crash-* file beside it" >&2
    tail -40 "$work/log.txt" >&2
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|DONE" "$work/log.txt" | tr '\n' ' '
  echo
done
exit $status
