#!/usr/bin/env bash
# Compile time of one plugin source file, as an out-of-tree plugin build compiles it
# (Release: -O3 -DNDEBUG, C++20, the SDK's and LibTorch's include directories):
#   torch.h   docs/examples/poly_ridge/poly_ridge_model.cpp with <torch/torch.h> added
#   sdk only  the same file as it is: <ballista/plugin.hpp> only (<torch/types.h>)
#   pch       the same file with <ballista/plugin.hpp> precompiled, as
#             ballista_add_plugin does for a plugin of two or more source files
# plus the one-time cost of that precompiled header. Each figure is the best of
# RUNS (default 2) compiles, measured in this run; ratios are against "sdk only".
# Usage: bench/plugin_compile_time.sh [BUILD_DIR]   (BUILD_DIR: a configured build,
# for the generated <ballista/version.hpp>; default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${RUNS:-2}
cxx=${CXX:-c++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=gnu++20 -O3 -DNDEBUG -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 -fopenmp
       -I sdk/include -I "$build/sdk/include" -isystem /usr/include/torch/csrc/api/include)
source=docs/examples/poly_ridge/poly_ridge_model.cpp
{ echo '#include <torch/torch.h>'; cat "$source"; } > "$work/with_torch.cpp"
echo '#include <ballista/plugin.hpp>' > "$work/plugin_pch.hpp"

best() {  # best wall time in seconds of RUNS runs of the command
  local best_time=""
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    best_time=$(python3 -c "t=$end-$start; b='$best_time'; print(t if not b or t<float(b) else b)")
  done
  echo "$best_time"
}

torch_h=$(best "$cxx" "${flags[@]}" -c "$work/with_torch.cpp" -o "$work/a.o")
sdk_only=$(best "$cxx" "${flags[@]}" -c "$source" -o "$work/b.o")
pch_build=$(best "$cxx" "${flags[@]}" -x c++-header "$work/plugin_pch.hpp" -o "$work/plugin_pch.hpp.gch")
with_pch=$(best "$cxx" "${flags[@]}" -Winvalid-pch -include "$work/plugin_pch.hpp" -c "$source" -o "$work/c.o")
python3 - "$torch_h" "$sdk_only" "$pch_build" "$with_pch" "$runs" <<'PY'
import sys
torch_h, sdk_only, pch_build, with_pch = map(float, sys.argv[1:5])
print(f"poly_ridge_model.cpp, one compile (best of {sys.argv[5]}):")
print(f"  with <torch/torch.h>           {torch_h:6.1f} s   {torch_h / sdk_only:4.2f}x sdk only")
print(f"  <ballista/plugin.hpp> only     {sdk_only:6.1f} s   1.00x")
print(f"  with the precompiled header    {with_pch:6.1f} s   {with_pch / sdk_only:4.2f}x sdk only")
print(f"  the precompiled header itself  {pch_build:6.1f} s   (once per plugin)")
for files in (1, 2, 4, 8):
    plain = files * sdk_only
    pch = pch_build + files * with_pch
    print(f"  {files} source file{'s' if files > 1 else ' '}: {plain:6.1f} s without, {pch:6.1f} s with the precompiled header")
PY
