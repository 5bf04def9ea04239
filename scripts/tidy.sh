#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy's checks) over the library and the program, or
# over the files given, with the compile commands of build/ (cmake --preset
# release writes them).
#
#   scripts/tidy.sh [FILE.cpp ...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-tidy > /dev/null || { echo "scripts/tidy.sh: clang-tidy is missing (apt-get install clang-tidy)" >&2; exit 1; }
[ -f build/compile_commands.json ] || cmake --preset release > /dev/null
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'han/*.cpp' 'app/*.cpp')
fi
# LibTorch's headers need GCC's include paths, which clang-tidy does not guess.
extra=()
for dir in $(echo | g++ -xc++ -E -v - 2>&1 | sed -n '/#include <...> search starts here:/,/End of search list./p' | grep '^ /'); do
  extra+=(--extra-arg=-isystem"$dir")
done
clang-tidy -p build --quiet "${extra[@]}" "${files[@]}"
