#!/usr/bin/env bash
# The Debian package: cpack builds han_<version>_amd64.deb; it holds the
# program, headers, CMake package, Python module and docs, depends on what
# they load, and the copy unpacked from it runs.
#   tests/package_test.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: package_test.sh BUILD_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

if ! (cd "$build" && cpack -B "$work/out" > "$work/cpack.log" 2>&1); then
  fail "cpack: $(tail -20 "$work/cpack.log")"
  summary
  exit 1
fi
deb=$(ls "$work"/out/han_*_amd64.deb 2>/dev/null | head -1)
[ -n "$deb" ] && ok || { fail "no han_<version>_amd64.deb in $(ls "$work/out")"; summary; exit 1; }

files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/han ./usr/include/han/infer/infer.h ./usr/lib/cmake/han/hanConfig.cmake \
            ./usr/share/doc/han/README.md ./usr/share/doc/han/CLI.md; do
  grep -qx "$path" <<< "$files" && ok || fail "the package lacks $path"
done
grep -q '^./usr/include/han/kernels/layers.h$' <<< "$files" && fail "the package holds an internal header" || ok
grep -q '^./usr/lib/.*\.a$' <<< "$files" && ok || fail "the package holds no library"
depends=$(dpkg-deb -f "$deb" Depends)
for package in libtorch python3-numpy libicu; do
  [[ "$depends" == *"$package"* ]] && ok || fail "Depends lacks $package: $depends"
done

root=$work/root
dpkg-deb -x "$deb" "$root" && ok || fail "dpkg-deb -x"
expect 0 "Hierarchical Attention" -- "$root/usr/bin/han" --help
if grep -q 'dist-packages/han/__init__.py' <<< "$files"; then
  out=$(cd "$work" && PYTHONPATH="$root/usr/lib/python3/dist-packages" python3 -c 'import han; print(han.__file__, han.__version__)' 2>&1)
  [[ "$out" == "$root/usr/lib/python3/dist-packages/han/__init__.py"* ]] && ok || fail "import han from the package: $out"
elif ls "$build"/python/han/_core*.so > /dev/null 2>&1; then
  fail "the build has the Python module but the package does not"
fi
summary
