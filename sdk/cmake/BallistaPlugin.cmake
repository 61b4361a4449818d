# ballista_add_plugin(<name> SOURCES <files>... [OUTPUT_DIRECTORY <dir>])
#
# Builds a Ballista model plugin: a CMake MODULE library (loadable, never linked
# against) named <name>.so, with hidden symbols (only the BALLISTA_PLUGIN aliases are
# exported), linked to the SDK and LibTorch. The imported torch target carries the
# _GLIBCXX_USE_CXX11_ABI flag that the host and every plugin must share.
# Used unchanged in this repository and, after find_package(Ballista), out of tree.
function(ballista_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_DIRECTORY" "SOURCES")
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
  # Inside the Ballista repository: shared warnings, precompiled header, install rule.
  if(COMMAND ballista_target_defaults AND TARGET ballista_defaults)
    ballista_target_defaults(${name})
    install(TARGETS ${name} LIBRARY DESTINATION ${BALLISTA_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
