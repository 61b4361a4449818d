# ballista_add_plugin(<name> SOURCES <files>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL]
#                     [PRECOMPILED_HEADER | NO_PRECOMPILED_HEADER])
#
# Builds a Ballista plugin, a model (BALLISTA_PLUGIN) or a data source
# (BALLISTA_SOURCE_PLUGIN): a CMake MODULE library (loadable, never linked against)
# named <name>.so, with hidden symbols (only the plugin's aliases are exported), linked
# to the SDK and LibTorch. A plugin of more than one C++ source file gets
# <ballista/plugin.hpp> precompiled (the SDK and the LibTorch tensor API it brings are
# most of each file's compile time): measured by bench/plugin_compile_time.sh, a file
# then compiles in 0.52x the time, after a one-time 37 s for the header, so it pays
# when one file of several is edited and rebuilt, not in a one-off clean build of a few
# files. PRECOMPILED_HEADER forces it for one file, NO_PRECOMPILED_HEADER turns it off. The imported torch target carries the
# _GLIBCXX_USE_CXX11_ABI flag that the host and every plugin must share.
# `cmake --install` puts it in <prefix>/lib/ballista/plugins (unless NO_INSTALL), where
# a `ballista` installed in the same prefix finds it.
# Used unchanged in this repository and, after find_package(Ballista), out of tree.
function(ballista_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_INSTALL;PRECOMPILED_HEADER;NO_PRECOMPILED_HEADER" "OUTPUT_DIRECTORY"
                        "SOURCES")
  if(arg_PRECOMPILED_HEADER AND arg_NO_PRECOMPILED_HEADER)
    message(FATAL_ERROR "ballista_add_plugin(${name}): PRECOMPILED_HEADER and NO_PRECOMPILED_HEADER contradict")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "ballista_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE Ballista::sdk torch)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  # Unresolved symbols are an error at link time, not a dlopen failure at run time.
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY})
  elseif(DEFINED BALLISTA_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${BALLISTA_PLUGIN_OUTPUT_DIR})
  endif()
  # A project that sets no build type would build LibTorch code unoptimised, several
  # times slower: optimise anyway (a chosen build type decides for itself).
  target_compile_options(${name} PRIVATE $<$<CONFIG:>:-O2>)
  # Inside the Ballista repository: shared warnings and the precompiled header.
  if(COMMAND ballista_target_defaults AND TARGET ballista_defaults)
    ballista_target_defaults(${name})
  elseif(NOT arg_NO_PRECOMPILED_HEADER)
    set(cxx_sources ${arg_SOURCES})
    list(FILTER cxx_sources INCLUDE REGEX "\\.(cpp|cc|cxx|C|c\\+\\+)$")
    list(LENGTH cxx_sources cxx_source_count)
    if(cxx_source_count GREATER 1 OR arg_PRECOMPILED_HEADER)
      target_precompile_headers(${name} PRIVATE <ballista/plugin.hpp>)
    endif()
  endif()
  if(NOT arg_NO_INSTALL)
    include(GNUInstallDirs)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/ballista/plugins)
  endif()
endfunction()
