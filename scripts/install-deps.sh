#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages han needs, only those missing.
#   scripts/install-deps.sh [--test | --bench]
#   (--test adds what the test suite uses; --bench what bench/ compares han with)
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config
          libtorch-dev nlohmann-json3-dev libcli11-dev libfmt-dev libicu-dev zlib1g-dev libboost-dev libgloo-dev
          libopenblas0-pthread
          pybind11-dev python3-dev python3-numpy)  # the Python module (python/)
if [ "${1:-}" = "--test" ]; then
  # clang and its runtime libraries build the libFuzzer targets (scripts/fuzz.sh);
  # python3-torch runs the Python reference HAN (bench/reference/), an oracle in the tests;
  # chromium (headless) and a CJK font check the HTML report as a browser draws it;
  # clang-format checks that the sources keep .clang-format's style (scripts/format.sh --check).
  # python3-pytest runs the Python module's tests; python3-onnx checks its ONNX export.
  # dpkg-dev (dpkg-shlibdeps) lets cpack find the .deb's dependencies.
  packages+=(catch2 python3 python3-pytest python3-torch python3-onnx dpkg-dev clang clang-format chromium fonts-wqy-zenhei)
  if apt-cache show libclang-rt-dev > /dev/null 2>&1; then packages+=(libclang-rt-dev); fi
elif [ "${1:-}" = "--bench" ]; then
  # The baselines of bench/baselines.py: TF-IDF + logistic regression, and fastText.
  packages+=(python3 python3-sklearn fasttext)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || { echo "install-deps: run as root or install sudo; missing: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
