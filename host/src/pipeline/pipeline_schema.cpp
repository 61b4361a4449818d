// JSON Schema of the pipeline format (see pipeline_schema.hpp). Mirrors the keys
// pipeline_loader.cpp reads; docs/pipelines.md explains them.
#include "pipeline_schema.hpp"

#include "json_text.hpp"

#include <string>
#include <vector>

namespace ballista::host {

namespace {

using nlohmann::json;

json ref(const std::string& name) { return {{"$ref", "#/$defs/" + name}}; }

// Bounds of a number, or of each element of a list.
void add_bounds(json& schema, const ParameterSpec& spec) {
  if (const auto& low = spec.lower_bound()) {
    schema[spec.lower_bound_inclusive() ? "minimum" : "exclusiveMinimum"] = *low;
  }
  if (const auto& high = spec.upper_bound()) {
    schema["maximum"] = *high;
  }
}

json value_schema(const ParameterSpec& spec) {
  json schema;
  switch (spec.type()) {
    case ParameterType::integer:
      schema = {{"type", "integer"}};
      add_bounds(schema, spec);
      break;
    case ParameterType::real:
      schema = {{"type", "number"}};
      add_bounds(schema, spec);
      break;
    case ParameterType::boolean:
      schema = {{"type", "boolean"}};
      break;
    case ParameterType::string:
      schema = {{"type", "string"}};
      if (!spec.choices().empty()) {
        schema["enum"] = spec.choices();
      }
      break;
    case ParameterType::integer_list: {
      json items = {{"type", "integer"}};
      add_bounds(items, spec);
      schema = {{"type", "array"}, {"items", items}};
      break;
    }
    case ParameterType::string_list:
      schema = {{"type", "array"}, {"items", {{"type", "string"}}}};
      break;
  }
  if (spec.is_non_empty()) {
    schema["minItems"] = 1;
  }
  return schema;
}

json default_value(const ParameterValue& value) {
  return std::visit([](const auto& v) { return json(v); }, value);
}

// A parameter: its value, or (for models) {sweep: [value, ...]}.
json parameter_schema(const ParameterSpec& spec, bool sweepable) {
  const auto value = value_schema(spec);
  json schema = value;
  if (sweepable) {
    const json sweep = {{"type", "object"},
                        {"additionalProperties", false},
                        {"required", {"sweep"}},
                        {"properties", {{"sweep", {{"type", "array"}, {"minItems", 1}, {"items", value}}}}}};
    schema = {{"anyOf", {value, sweep}}};
  }
  schema["description"] = spec.doc() + " (" + spec.allowed() + ")";
  if (!spec.is_required()) {
    schema["default"] = default_value(spec.default_value());
  }
  return schema;
}

json model_schema(const LoadedPlugin& plugin) {
  json properties = {{"plugin", {{"const", plugin.name}, {"description", plugin.summary}}},
                     {"seed",
                      {{"type", "integer"},
                       {"minimum", 0},
                       {"description", "this model's seed (default: derived from the pipeline seed and the name)"}}}};
  json required = {"plugin"};
  for (const auto& spec : plugin.parameters()) {
    properties[spec.name()] = parameter_schema(spec, true);
    if (spec.is_required()) {
      required.push_back(spec.name());
    }
  }
  return {{"type", "object"}, {"additionalProperties", false}, {"required", required}, {"properties", properties}};
}

// Keys every `data` mapping may have besides its source's.
json with_sets(json properties) {
  properties["sets"] = {{"type", "object"}, {"additionalProperties", ref("set")},
                        {"description", "more named sets: drawn anew, or from another source"}};
  properties["split"] = {{"type", "object"},
                         {"additionalProperties", {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", 1}}},
                         {"description", "fractions of the source's own rows, e.g. {train: 0.8, test: 0.2}"}};
  properties["shuffle"] = {{"type", "boolean"}, {"default", true}, {"description", "shuffle before splitting"}};
  properties["units"] = {{"type", "object"},
                         {"additionalProperties", {{"type", "string"}, {"minLength", 1}}},
                         {"description", "unit of each input or target, for plot axes and reports, e.g. {v: m/s}"}};
  return properties;
}

json drawn_source_properties() {
  return {{"rng", {{"const", "numpy"}, {"description", "NumPy's legacy MT19937 stream"}}},
          {"n", {{"type", "integer"}, {"minimum", 1}, {"description", "rows of the source's own set `all`"}}},
          {"constants", {{"type", "object"}, {"additionalProperties", ref("number")}}}};
}

json formula_source() {
  auto properties = drawn_source_properties();
  properties["source"] = {{"const", "formula"}};
  properties["inputs"] = {{"type", "object"}, {"minProperties", 1}, {"additionalProperties", ref("input")}};
  properties["targets"] = {{"type", "object"}, {"minProperties", 1}, {"additionalProperties", ref("formula_target")}};
  return {{"type", "object"}, {"required", {"inputs", "targets"}}, {"additionalProperties", false},
          {"properties", with_sets(properties)}};
}

json csv_source() {
  const json names = {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "string"}}}};
  json properties = {{"source", {{"const", "csv"}}},
                     {"file", {{"type", "string"}, {"description", "CSV file with a header; relative to the YAML file"}}},
                     {"inputs", names},
                     {"targets", names},
                     {"drop_invalid", {{"type", "boolean"}, {"default", false}}}};
  return {{"type", "object"}, {"required", {"source", "file", "inputs", "targets"}}, {"additionalProperties", false},
          {"properties", with_sets(properties)}};
}

json plugin_source(const LoadedPlugin& plugin) {
  auto properties = drawn_source_properties();
  properties["source"] = {{"const", plugin.name}, {"description", plugin.summary}};
  json inputs = json::object();
  for (const auto& name : plugin.source.inputs) {
    inputs[name] = ref("input");
  }
  json targets = json::object();
  for (const auto& name : plugin.source.targets) {
    targets[name] = ref("plugin_target");
  }
  properties["inputs"] = {{"type", "object"}, {"additionalProperties", false}, {"required", plugin.source.inputs},
                          {"properties", inputs}};
  properties["targets"] = {{"type", "object"}, {"additionalProperties", false}, {"properties", targets}};
  json required = {"source", "inputs"};
  for (const auto& spec : plugin.parameters()) {
    properties[spec.name()] = parameter_schema(spec, false);
    if (spec.is_required()) {
      required.push_back(spec.name());
    }
  }
  return {{"type", "object"}, {"required", required}, {"additionalProperties", false},
          {"properties", with_sets(properties)}};
}

json definitions(const PluginCatalog& catalog) {
  json defs;
  defs["number"] = {{"type", {"number", "string"}}, {"description", "a number, or an expression of constants: pi/2"}};
  defs["distribution"] = {
      {"type", "string"},
      {"pattern", R"(^\s*(uniform|normal|loguniform|choice|grid)\s*\(.*\)\s*$)"},
      {"description", "uniform(low, high), normal(mean, sd), loguniform(low, high), choice(a, b, ...) or "
                      "grid(low, high, count)"}};
  defs["clip"] = {{"type", "array"}, {"minItems", 2}, {"maxItems", 2},
                  {"items", {{"type", {"number", "string", "null"}}}},
                  {"description", "[low, high], null for no bound"}};
  defs["input"] = {{"anyOf",
                    {ref("distribution"),
                     {{"type", "object"},
                      {"additionalProperties", false},
                      {"required", {"distribution"}},
                      {"properties", {{"distribution", ref("distribution")}, {"clip", ref("clip")}}}}}}};
  defs["noise"] = {{"anyOf",
                    {ref("number"),
                     {{"type", "object"}, {"additionalProperties", false}, {"minProperties", 1}, {"maxProperties", 1},
                      {"properties", {{"absolute", ref("number")}, {"relative", ref("number")}}}}}},
                   {"description", "σ of additive normal noise, {absolute: σ} or {relative: σ}"}};
  defs["formula_target"] = {{"anyOf",
                             {{{"type", "string"}, {"description", "an expression of the inputs and constants"}},
                              {{"type", "object"},
                               {"additionalProperties", false},
                               {"required", {"expression"}},
                               {"properties",
                                {{"expression", {{"type", "string"}}}, {"noise", ref("noise")}, {"clip", ref("clip")}}}}}}};
  defs["plugin_target"] = {{"type", "object"}, {"additionalProperties", false},
                           {"properties", {{"noise", ref("noise")}, {"clip", ref("clip")}}}};
  defs["set"] = {{"type", "object"},
                 {"additionalProperties", false},
                 {"properties",
                  {{"rows", {{"type", "integer"}, {"minimum", 1}}},
                   {"seed", {{"type", "integer"}, {"minimum", 0}, {"maximum", 4294967295U}}},
                   {"inputs", {{"type", "object"}, {"additionalProperties", ref("input")}}},
                   {"source",
                    {{"type", "object"},
                     {"description", "another source; keys not written are the pipeline's data's"}}}}}};
  // One branch per source kind and per model plugin, chosen by `source` / `plugin`
  // (if/then rather than oneOf, so a validator reports the chosen branch's errors).
  const auto chosen_by = [](const std::string& key, const std::string& value) {
    return json{{"required", {key}}, {"properties", {{key, {{"const", value}}}}}};
  };
  json source_names = {"formula", "csv"};
  json source_branches = {
      {{"if", {{"anyOf", {{{"not", {{"required", {"source"}}}}}, chosen_by("source", "formula")}}}},
       {"then", formula_source()}},
      {{"if", chosen_by("source", "csv")}, {"then", csv_source()}}};
  json model_names = json::array();
  json model_branches = json::array();
  for (const auto& plugin : catalog.plugins()) {
    if (plugin.kind == PluginKind::source) {
      source_names.push_back(plugin.name);
      source_branches.push_back({{"if", chosen_by("source", plugin.name)}, {"then", plugin_source(plugin)}});
    } else {
      model_names.push_back(plugin.name);
      model_branches.push_back({{"if", chosen_by("plugin", plugin.name)}, {"then", model_schema(plugin)}});
    }
  }
  defs["data"] = {{"type", "object"},
                  {"properties", {{"source", {{"enum", source_names}, {"default", "formula"}}}}},
                  {"allOf", source_branches}};
  defs["model"] = {{"type", "object"}, {"required", {"plugin"}}, {"properties", {{"plugin", {{"enum", model_names}}}}}};
  if (!model_branches.empty()) {
    defs["model"]["allOf"] = model_branches;
  }
  defs["evaluate"] = {
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"sets", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"metrics",
         {{"type", "array"}, {"items", {{"enum", {"mse", "rmse", "mae", "r2", "max_error"}}}}, {"default", {"mse"}}}},
        {"probes", {{"type", "array"}, {"items", {{"type", "object"}, {"additionalProperties", ref("number")}}}}}}}};
  return defs;
}

}  // namespace

json pipeline_schema(const PluginCatalog& catalog) {
  const json name_pattern = {{"type", "string"}, {"pattern", "^[A-Za-z0-9_.-]+$"}};
  json properties = {
      {"extends",
       {{"anyOf", {{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}}},
        {"description", "base pipeline(s), relative to this file; keys written here win"}}},
      {"name", name_pattern},
      {"seed", {{"type", "integer"}, {"minimum", 0}, {"maximum", 4294967295U}, {"default", 0}}},
      {"data", {{"type", "object"}, {"description", "where the rows come from, and the sets"}}},
      {"train", {{"type", "string"}, {"description", "the set every model is trained on"}}},
      {"models", {{"type", "object"}, {"description", "name → {plugin: NAME, parameters...}"}}},
      {"evaluate", ref("evaluate")}};
  // A pipeline that extends another may leave anything to its base, and state a model
  // only by the parameters it changes.
  const json partial = {
      {"properties", {{"models", {{"type", "object"}, {"additionalProperties", {{"type", "object"}}}}}}}};
  const json complete = {
      {"required", {"data", "models"}},
      {"properties",
       {{"data", ref("data")},
        {"models", {{"type", "object"}, {"minProperties", 1}, {"additionalProperties", ref("model")}}}}}};
  const json schema = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                       {"title", "Ballista pipeline"},
                       {"description", "A Ballista pipeline: data, models and evaluation (docs/pipelines.md)"},
                       {"type", "object"},
                       {"additionalProperties", false},
                       {"properties", properties},
                       {"if", {{"required", {"extends"}}}},
                       {"then", partial},
                       {"else", complete},
                       {"$defs", definitions(catalog)}};
  // A plugin's names and docs may not be UTF-8: with their bad bytes replaced by U+FFFD
  // here, every dump() of the schema works (`ballista schema` prints it with one).
  return json::parse(json_text(schema));
}

}  // namespace ballista::host
