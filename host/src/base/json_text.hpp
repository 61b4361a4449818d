// JSON text of what the host writes (metrics.json, environment.json, compare --format
// json, schema, the --isolate channel), never stopped by text that is not UTF-8.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ballista::host {

// `value` as JSON text (`indent` as in nlohmann::json::dump: -1 on one line), each byte
// that is not UTF-8 replaced by U+FFFD. File names, `units` text and a plugin's
// describe() or explain() may come in Latin-1; a plain dump() throws on them, which
// would end a run at its first metrics.json.
inline std::string json_text(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ballista::host
