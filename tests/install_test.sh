#!/usr/bin/env bash
# The installed han: `cmake --install` into an empty prefix gives a working
# program, the Python module (when built) and a CMake package that
# examples/cpp builds against, and only the public headers.
#   tests/install_test.sh BUILD_DIR SOURCE_DIR [GENERATOR]
set -uo pipefail
build=${1:?usage: install_test.sh BUILD_DIR SOURCE_DIR [GENERATOR]}
source_dir=${2:?}
generator=${3:-Ninja}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1 && ok || fail "cmake --install: $(tail "$work/install.log")"
expect 0 "train" -- "$prefix/bin/han" --help
[ -f "$prefix/lib/cmake/han/hanConfig.cmake" ] && ok || fail "no CMake package installed"
[ -f "$prefix/include/han/infer/infer.h" ] && ok || fail "public header han/infer/infer.h not installed"
for internal in han/kernels/layers.h han/train/engine.h han/base/memory.h; do
  [ ! -e "$prefix/include/$internal" ] && ok || fail "internal header $internal was installed"
done
[ -d "$prefix/share/doc/han" ] && ok || fail "documentation not installed"

# Every installed header compiles on its own: none needs a header left out.
flags=$(grep -o -- '-isystem [^ ]*\|-I/usr/include/torch[^ ]*' "$build/compile_commands.json" | sort -u | tr '\n' ' ')
check_alone() {  # check_alone HEADER: prints HEADER when it does not compile by itself
  echo "#include \"$1\"" | g++ -std=c++17 -fsyntax-only -x c++ -I"$prefix/include" $flags -D_GLIBCXX_USE_CXX11_ABI=1 - \
    > /dev/null 2>&1 || { echo "$1"; }
}
export -f check_alone
export prefix flags
headers=$(cd "$prefix/include" && find han -name '*.h' | sort)
broken=$(xargs -P "$(nproc)" -I{} bash -c 'check_alone {}' <<< "$headers")
[ -n "$headers" ] && [ -z "$broken" ] && ok || fail "installed headers that do not compile alone: $broken"

# A model to use, from the program just installed.
"$prefix/bin/han" -q demo -o "$work/demo" --documents 120 --epochs 1 --heldout 2 > /dev/null 2>&1 \
  && ok || fail "the installed han could not run its demo"
model=$work/demo/demo.han

# examples/cpp against the installed tree only.
if cmake -S "$source_dir/examples/cpp" -B "$work/example" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" \
     -DCMAKE_BUILD_TYPE=Release > "$work/example.log" 2>&1 \
   && cmake --build "$work/example" >> "$work/example.log" 2>&1; then
  ok
  output=$("$work/example/classify" "$model" "A dreadful night in the old house. Something moved in the cellar." 2>&1)
  expected=$("$prefix/bin/han" -q classify "$model" <<< "A dreadful night in the old house. Something moved in the cellar.")
  label=$(cut -f1 <<< "$output")
  [ -n "$label" ] && [ "$label" = "$(cut -f2 <<< "$expected")" ] && ok \
    || fail "examples/cpp and han classify disagree: '$output' vs '$expected'"
else
  fail "examples/cpp did not build against the installed han: $(tail -20 "$work/example.log")"
fi

# The Python module from the prefix, when this build has one.
if ls "$build"/python/han/_core*.so > /dev/null 2>&1; then
  out=$(cd "$work" && PYTHONPATH="$prefix/lib/python3/dist-packages" python3 -c \
    "import han; m = han.load('$model'); print(han.__file__); print(m.classify(['A dreadful night.'])[0]['labels'][0]['label'])" 2>&1)
  [[ "$out" == "$prefix/lib/python3/dist-packages/han/__init__.py"* ]] && ok || fail "import han from the prefix: $out"
fi
summary
