#!/usr/bin/env bash
# Copies into DIR (default .devdeps/include) the Debian headers that the GPU check needs
# and a GPU machine with only Python's torch lacks: Boost.DLL's, as `g++ -M` lists
# them, and Gloo's (libgloo-dev). Run here (scripts/setup installed both), then carry
# DIR to the GPU machine with the tree: tests/device/run_cuda_check.sh reads it.
#   tests/device/copy_headers.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.devdeps/include}
mkdir -p "$out"
# shellcheck disable=SC1003,SC2020 # tr turns spaces and backslashes into newlines
echo '#include <boost/dll/alias.hpp>' |
  g++ -std=c++20 -DBOOST_DLL_USE_STD_FS -M -x c++ - |
  tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u |
  while read -r header; do
    relative=${header#/usr/include/}
    mkdir -p "$out/$(dirname "$relative")"
    cp "$header" "$out/$relative"
  done
rm -rf "$out/gloo"
cp -r /usr/include/gloo "$out/gloo"
echo "copied $(find "$out" -type f | wc -l) headers into $out ($(du -sh "$out" | cut -f1))"
