// Pipeline → YAML (see resolved_yaml.hpp).
#include "resolved_yaml.hpp"

#include "parameter_yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <optional>

namespace ballista::host {

namespace {

void emit_parameters(YAML::Emitter& out, const Parameters& parameters, const LoadedPlugin* plugin) {
  for (const auto& [name, value] : parameters.values()) {
    out << YAML::Key << name << YAML::Value;
    emit_parameter_value(out, value);
    if (plugin != nullptr) {
      for (const auto& spec : plugin->parameters()) {
        if (spec.name() == name) {
          out << YAML::Comment(spec.doc());
        }
      }
    }
  }
}

std::string number_text(double value) { return to_string(ParameterValue{value}); }

void emit_clip(YAML::Emitter& out, const std::optional<double>& low, const std::optional<double>& high) {
  out << YAML::Key << "clip" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& bound : {low, high}) {
    if (bound) {
      out << number_text(*bound);
    } else {
      out << YAML::Null;
    }
  }
  out << YAML::EndSeq;
}

void emit_input(YAML::Emitter& out, const InputSpec& input) {
  if (!input.clip_min && !input.clip_max) {
    out << input.distribution.text;
    return;
  }
  out << YAML::BeginMap << YAML::Key << "distribution" << YAML::Value << input.distribution.text;
  emit_clip(out, input.clip_min, input.clip_max);
  out << YAML::EndMap;
}

void emit_source(YAML::Emitter& out, const SourceSpec& source, const PluginCatalog& catalog) {
  out << YAML::Key << "source" << YAML::Value << source.name();
  if (source.kind == SourceSpec::Kind::csv) {
    out << YAML::Key << "file" << YAML::Value << std::filesystem::absolute(source.file).lexically_normal().string();
    out << YAML::Key << "inputs" << YAML::Value << YAML::Flow << source.input_names();
    out << YAML::Key << "targets" << YAML::Value << YAML::Flow << source.target_names();
    out << YAML::Key << "drop_invalid" << YAML::Value << source.drop_invalid;
    if (source.dropped_rows > 0) {
      out << YAML::Comment(std::to_string(source.dropped_rows) + " rows dropped");
    }
    return;
  }
  out << YAML::Key << "rng" << YAML::Value << "numpy";
  if (source.rows > 0) {
    out << YAML::Key << "n" << YAML::Value << source.rows;
  }
  emit_parameters(out, source.parameters, catalog.find(source.name()));
  if (!source.constants.empty()) {
    out << YAML::Key << "constants" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, value] : source.constants) {
      out << YAML::Key << name << YAML::Value << number_text(value);
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
  for (const auto& input : source.inputs) {
    out << YAML::Key << input.name << YAML::Value;
    emit_input(out, input);
  }
  out << YAML::EndMap;
  out << YAML::Key << "targets" << YAML::Value << YAML::BeginMap;
  for (const auto& target : source.targets) {
    out << YAML::Key << target.name << YAML::Value << YAML::BeginMap;
    if (target.expression) {
      out << YAML::Key << "expression" << YAML::Value << target.expression->text();
    }
    out << YAML::Key << "noise" << YAML::Value;
    if (target.relative_noise) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "relative" << YAML::Value << number_text(target.noise)
          << YAML::EndMap;
    } else {
      out << number_text(target.noise);
    }
    emit_clip(out, target.clip_min, target.clip_max);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

}  // namespace

std::string resolved_yaml(const Pipeline& pipeline, const PluginCatalog& catalog) {
  const auto number = number_text;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << pipeline.name;
  out << YAML::Key << "seed" << YAML::Value << pipeline.seed;
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  emit_source(out, pipeline.data.source, catalog);
  const auto& sets = pipeline.data.sets;
  if (std::any_of(sets.begin(), sets.end(), [](const SetSpec& set) { return set.origin == SetSpec::Origin::split; })) {
    out << YAML::Key << "shuffle" << YAML::Value << pipeline.data.shuffle;
    out << YAML::Key << "split" << YAML::Value << YAML::BeginMap;
    for (const auto& set : sets) {
      if (set.origin == SetSpec::Origin::split) {
        out << YAML::Key << set.name << YAML::Value << to_string(ParameterValue{set.fraction})
            << YAML::Comment(std::to_string(set.rows) + " rows");
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "sets" << YAML::Value << YAML::BeginMap;
  for (const auto& set : sets) {
    if (set.origin != SetSpec::Origin::drawn && set.origin != SetSpec::Origin::other) {
      continue;
    }
    out << YAML::Key << set.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "seed" << YAML::Value << set.seed;
    if (set.origin == SetSpec::Origin::other) {
      out << YAML::Key << "source" << YAML::Value << YAML::BeginMap;
      emit_source(out, *set.source, catalog);
      out << YAML::EndMap;
    } else {
      out << YAML::Key << "rows" << YAML::Value << set.rows;
      if (!set.overrides.empty()) {
        out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
        for (const auto& input : set.overrides) {
          out << YAML::Key << input.name << YAML::Value;
          emit_input(out, input);
        }
        out << YAML::EndMap;
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  if (!pipeline.data.units.empty()) {
    out << YAML::Key << "units" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [name, unit] : pipeline.data.units) {
      out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << unit;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "train" << YAML::Value << pipeline.train_set;
  out << YAML::Key << "models" << YAML::Value << YAML::BeginMap;
  for (const auto& model : pipeline.models) {
    out << YAML::Key << model.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "plugin" << YAML::Value << model.plugin;
    out << YAML::Key << "seed" << YAML::Value << model.seed;
    emit_parameters(out, model.parameters, catalog.find(model.plugin));
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "evaluate" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "sets" << YAML::Value << YAML::Flow << pipeline.evaluation.sets;
  out << YAML::Key << "metrics" << YAML::Value << YAML::Flow << pipeline.evaluation.metrics;
  out << YAML::Key << "probes" << YAML::Value << YAML::BeginSeq;
  const auto inputs = pipeline.data.input_names();
  for (const auto& probe : pipeline.evaluation.probes) {
    out << YAML::Flow << YAML::BeginMap;
    for (std::size_t i = 0; i < inputs.size() && i < probe.point.size(); ++i) {
      out << YAML::Key << inputs[i] << YAML::Value << number(probe.point[i]);
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace ballista::host
