#!/usr/bin/env bash
# Formats the C++ sources with .clang-format (Google style, 120 columns).
#
#   scripts/format.sh           rewrite every tracked .h and .cpp in place
#   scripts/format.sh --check   change nothing; list the files that are not formatted and fail (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format > /dev/null || { echo "scripts/format.sh: clang-format is missing (apt-get install clang-format)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.h' '*.cpp')
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "scripts/format.sh: ${#bad[@]} file(s) are not formatted; run scripts/format.sh:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
else
  clang-format -i "${files[@]}"
fi
