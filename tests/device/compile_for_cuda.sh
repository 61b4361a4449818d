#!/usr/bin/env bash
# Compiles, without a GPU and without linking, what a CUDA build compiles: every
# translation unit of the SDK, the plugins and the host (process_group.cpp with NCCL,
# -DBALLISTA_NCCL) and tests/device/cuda_check.cpp, against a newer, CUDA LibTorch's
# headers: Debian trixie's libtorch-cuda-dev (PyTorch 2.6) with nvidia-cuda-dev
# (CUDA 12.4), libnccl-dev and libcu++-dev. The packages (about 1 GB) are downloaded by
# apt into WORK with a private configuration and unpacked there; nothing is installed.
# It reads the compile commands of a configured build (BUILD, default build/; the
# README's test command makes one) and keeps their warnings as errors.
#   tests/device/compile_for_cuda.sh [WORK]      default: /tmp/ballista-cuda-headers
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=${1:-/tmp/ballista-cuda-headers}
build=${BUILD:-build}
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "compile_for_cuda.sh: $build/compile_commands.json is missing: configure a build first" \
       "(scripts/test, or cmake -S . -B $build)" >&2
  exit 2
fi
mkdir -p "$work"/{etc,lists/partial,cache/archives/partial,debs,root}
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main contrib non-free" \
  > "$work/etc/sources.list"
touch "$work/status"
apt_options=(-o APT::Sandbox::User=root -o Dir::Etc::sourcelist="$work/etc/sources.list" -o Dir::Etc::sourceparts=/dev/null
             -o Dir::State::Lists="$work/lists" -o Dir::State::status="$work/status"
             -o Dir::Cache="$work/cache" -o Dir::Cache::archives="$work/cache/archives")
packages=(libtorch-cuda-dev nvidia-cuda-dev libnccl-dev libcu++-dev)
if [[ ! -f "$work/root/usr/include/nccl.h" ]]; then
  apt-get "${apt_options[@]}" -q update
  (cd "$work/debs" && apt-get "${apt_options[@]}" -q download "${packages[@]}")
  for deb in "$work"/debs/*.deb; do
    dpkg -x "$deb" "$work/root"
  done
fi
include="$work/root/usr/include"
torch_version=$(printf '#include <torch/version.h>\nTORCH_VERSION\n' |
  g++ -E -P -isystem "$include/torch/csrc/api/include" -x c++ - | tail -n 1 | tr -d '" ')
echo "LibTorch $torch_version, CUDA $(sed -n 's/^#define CUDA_VERSION \([0-9]*\)/\1/p' "$include/cuda.h"), headers in $include"

# The GPU check's own translation unit, as run_cuda_check.sh compiles it.
tests/device/sdk_version_header.sh "$work/generated" 0.0.0-cuda-compile
# The host checks at compile time that CMake recorded the LibTorch it compiles against.
mkdir -p "$work/generated-host"
sed "s/@BALLISTA_LIBTORCH_VERSION@/$torch_version/" host/src/catalog/libtorch_version.hpp.in \
  > "$work/generated-host/libtorch_version.hpp"

INCLUDE="$include" GENERATED="$work/generated" GENERATED_HOST="$work/generated-host" BUILD="$build" ROOT="$root" python3 - <<'EOF'
import concurrent.futures, json, os, re, shlex, subprocess, sys

include, root = os.environ["INCLUDE"], os.environ["ROOT"]
build = os.path.realpath(os.environ["BUILD"])
api = include + "/torch/csrc/api/include"
jobs = []
for entry in json.load(open(os.path.join(os.environ["BUILD"], "compile_commands.json"))):
    source = entry["file"]
    if not source.startswith(root + "/") or source.startswith(build + "/") or any(part in source for part in ("/tests/", "/bench/", "/fuzz/", "/cmake/")):
        continue
    words, command = shlex.split(entry["command"]), []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-include" and "cmake_pch" in words[i + 1] or word == "-o":
            i += 2
            continue
        if word in ("-c", "-Winvalid-pch"):
            i += 1
            continue
        if word == "-isystem" and words[i + 1] == "/usr/include/torch/csrc/api/include":
            command += ["-isystem", include, "-isystem", api]
            i += 2
            continue
        if word.startswith("-I") and word.endswith("/host/src/catalog/generated"):
            word = "-I" + os.environ["GENERATED_HOST"]
        command.append("-O0" if word.startswith("-O") else word)
        i += 1
    if source.endswith("/process_group.cpp"):
        command += ["-DUSE_C10D_NCCL", "-DBALLISTA_NCCL"]
    jobs.append((source, [command[0], "-fsyntax-only"] + command[1:], entry["directory"]))
jobs.append((root + "/tests/device/cuda_check.cpp",
             ["g++", "-fsyntax-only", "-std=c++20", "-Wall", "-Wextra", "-Werror", "-D_GLIBCXX_USE_CXX11_ABI=1",
              "-DBOOST_DLL_USE_STD_FS", "-DUSE_C10D_GLOO", "-DUSE_C10D_NCCL", "-DBALLISTA_NCCL",
              "-Isdk/include", "-I" + os.environ["GENERATED"], "-Ihost/src/run", "-Ihost/src/base",
              "-isystem", include, "-isystem", api, "tests/device/cuda_check.cpp"], root))

def compile_one(job):
    source, command, directory = job
    # -H lists every header opened: none may come from the system's own LibTorch.
    done = subprocess.run(command + ["-H"], cwd=directory, capture_output=True, text=True)
    lines = done.stderr.splitlines()
    strays = [path for path in (l.lstrip(". ") for l in lines if l.startswith("."))
              if path.startswith(tuple("/usr/include/" + d + "/" for d in ("torch", "ATen", "c10", "caffe2")))]
    errors = [l for l in lines if not l.startswith((".", "Multiple include guards")) and not re.fullmatch(r"[^:\s]+", l)]
    return source, done.returncode, errors, strays

failed = 0
with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
    for source, code, errors, strays in pool.map(compile_one, jobs):
        name = os.path.relpath(source, root)
        if code != 0 or strays:
            failed += 1
            print(f"FAILED {name}" + (f": {len(strays)} headers from the system's LibTorch, e.g. {strays[0]}" if strays else ""))
            print("\n".join(l for l in errors if not l.startswith(("In file included", "                 from")))[:4000])
        else:
            print(f"ok     {name}")
print(f"{len(jobs) - failed} of {len(jobs)} translation units compile against the CUDA LibTorch")
sys.exit(1 if failed else 0)
EOF
