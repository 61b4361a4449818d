#!/usr/bin/env bash
# Writes DIR/ballista/version.hpp from sdk/include/ballista/version.hpp.in, as CMake's
# configure_file does, for the GPU scripts that compile the SDK without CMake
# (run_cuda_check.sh, compile_for_cuda.sh): VERSION as the project's, and the SDK's ABI
# number from sdk/CMakeLists.txt.
#   tests/device/sdk_version_header.sh DIR VERSION
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1
version=$2
abi_number=$(sed -n 's/^set(BALLISTA_SDK_ABI \([0-9]*\)).*/\1/p' sdk/CMakeLists.txt)
mkdir -p "$out/ballista"
sed -e "s/@PROJECT_VERSION@/$version/" -e "s/@BALLISTA_SDK_ABI@/$abi_number/" \
  sdk/include/ballista/version.hpp.in > "$out/ballista/version.hpp"
