# Compile settings shared by every target of this repository, and the one precompiled
# LibTorch header they all reuse. LibTorch's headers take ~20 s per translation unit on
# their own; precompiled once, each unit costs a few seconds (CI has two cores).
#
# GCC only reuses a precompiled header compiled with the same code-generation flags, so
# every target gets exactly these settings (explicit -fPIC for executables too, which
# would otherwise default to -fPIE); -Winvalid-pch makes a silently ignored one visible.

add_library(ballista_defaults INTERFACE)
target_compile_features(ballista_defaults INTERFACE cxx_std_20)
target_compile_options(ballista_defaults INTERFACE
  -fPIC -fvisibility=hidden -fvisibility-inlines-hidden
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Winvalid-pch
  $<$<BOOL:${BALLISTA_WERROR}>:-Werror>
  # GCC 12 reports impossible sizes in std::string concatenation at -O2/-O3
  # (false positives, GCC bugs 105329 and 105651); keep the rest of the warnings.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-stringop-overflow -Wno-restrict -Wno-array-bounds>)
target_compile_definitions(ballista_defaults INTERFACE BOOST_DLL_USE_STD_FS)
# -fopenmp, as LibTorch was built: at::parallel_for is inline code with `#pragma omp
# parallel`, which without it runs the whole range on the calling thread. Here too
# because it changes the precompiled header (_OPENMP).
target_link_libraries(ballista_defaults INTERFACE OpenMP::OpenMP_CXX)

add_library(ballista_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cpp)
target_link_libraries(ballista_pch PRIVATE ballista_defaults torch)
target_precompile_headers(ballista_pch PRIVATE <torch/torch.h>)

# Applies the shared settings and the precompiled header to one of our targets.
function(ballista_target_defaults target)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:ballista_defaults>)
  target_precompile_headers(${target} REUSE_FROM ballista_pch)
endfunction()
