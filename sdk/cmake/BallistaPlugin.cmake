# ballista_add_plugin(<name> SOURCES <files>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds a Ballista model plugin: a CMake MODULE library (loadable, never linked
# against) named <name>.so, with hidden symbols (only the BALLISTA_PLUGIN aliases are
# exported), linked to the SDK and LibTorch. The imported torch target carries the
# _GLIBCXX_USE_CXX11_ABI flag that the host and every plugin must share.
# `cmake --install` puts it in <prefix>/lib/ballista/plugins (unless NO_INSTALL), where
# a `ballista` installed in the same prefix finds it.
# Used unchanged in this repository and, after find_package(Ballista), out of tree.
function(ballista_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES")
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
  endif()
  if(NOT arg_NO_INSTALL)
    include(GNUInstallDirs)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/ballista/plugins)
  endif()
endfunction()
