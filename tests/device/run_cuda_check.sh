#!/usr/bin/env bash
# Builds the SDK, the knn, mlp and ode plugins and tests/device/cuda_check.cpp (with the
# host's c10d group, host/src/run/process_group.cpp, built for NCCL) against the CUDA
# LibTorch of the Python `torch` package found on a GPU machine, and runs the check.
# Headers LibTorch does not ship (Boost.DLL, and Gloo's where the package lacks them)
# come from DEPS_INCLUDE, a copy of the few Debian headers needed (see the README,
# Development); NCCL's and CUDA's from the package's nvidia-* wheels or /usr/local/cuda.
#   tests/device/run_cuda_check.sh [DEPS_INCLUDE]     default: .devdeps/include
set -euo pipefail
cd "$(dirname "$0")/../.."
deps=${1:-.devdeps/include}
torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
work=$(mktemp -d)
tests/device/sdk_version_header.sh "$work/include" 0.0.0-cuda-check
flags=(-std=c++20 -O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -DBOOST_DLL_USE_STD_FS -Isdk/include
       -I"$work/include" -isystem "$deps" -isystem "$torch_dir/include"
       -isystem "$torch_dir/include/torch/csrc/api/include")
# shellcheck disable=SC2054 # -Wl,-rpath,DIR is one word: the commas are the linker option's
libs=(-L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda)
# The c10d group: torch's own headers first (Gloo's too, where the package has them).
group_flags=(-std=c++20 -O2 -D_GLIBCXX_USE_CXX11_ABI="$abi" -DBOOST_DLL_USE_STD_FS -DUSE_C10D_GLOO -DUSE_C10D_NCCL -DBALLISTA_NCCL
             -Isdk/include -I"$work/include" -Ihost/src/run -Ihost/src/base -isystem "$torch_dir/include"
             -isystem "$torch_dir/include/torch/csrc/api/include" -isystem "$deps")
while IFS= read -r dir; do
  group_flags+=(-isystem "$dir")
done < <(python3 -c 'import glob, nvidia
print("\n".join(d for p in nvidia.__path__ for d in sorted(glob.glob(p + "/*/include"))))' 2>/dev/null || true)
if [[ -d /usr/local/cuda/include ]]; then
  group_flags+=(-isystem /usr/local/cuda/include)
fi
sdk_sources=(sdk/src/*.cpp)
g++ "${flags[@]}" -shared -fvisibility=hidden -o "$work/knn.so" plugins/knn/*.cpp "${sdk_sources[@]}" "${libs[@]}" &
knn=$!
g++ "${flags[@]}" -shared -fvisibility=hidden -o "$work/mlp.so" plugins/mlp/mlp_model.cpp "${sdk_sources[@]}" "${libs[@]}" &
mlp=$!
g++ "${flags[@]}" -shared -fvisibility=hidden -o "$work/ode.so" plugins/ode/*.cpp "${sdk_sources[@]}" "${libs[@]}" &
ode=$!
g++ "${group_flags[@]}" -o "$work/cuda_check" tests/device/cuda_check.cpp host/src/run/process_group.cpp \
  host/src/base/diagnostics.cpp "${sdk_sources[@]}" "${libs[@]}" -ldl -pthread &
check=$!
wait "$knn" && wait "$mlp" && wait "$ode" && wait "$check"
"$work/cuda_check" "$work/knn.so" "$work/mlp.so" "$work/ode.so"
