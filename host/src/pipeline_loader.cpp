// YAML → Pipeline, with every error located and all of them reported at once.
#include "pipeline_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace ballista::host {

namespace {

const std::vector<std::string> kTopKeys{"name", "seed", "data", "train", "models", "evaluate"};
const std::vector<std::string> kDataKeys{"source", "rng", "inputs", "constants", "targets", "sets"};
const std::vector<std::string> kTargetKeys{"expression", "noise", "clip"};
const std::vector<std::string> kSetKeys{"rows", "inputs", "seed"};
const std::vector<std::string> kEvaluateKeys{"sets", "metrics", "probes"};
const std::vector<std::string> kMetrics{"mse", "rmse", "mae", "r2", "max_error"};
const std::vector<std::string> kDistributions{"uniform", "normal"};

// Seeds derived from the pipeline seed and a label: SplitMix64 over seed ⊕ FNV-1a(label).
std::uint64_t derive_seed(std::uint64_t seed, const std::string& label) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char c : label) {
    hash = (hash ^ c) * 1099511628211ULL;
  }
  std::uint64_t z = seed ^ hash;
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

std::string describe_node(const YAML::Node& node) {
  if (node.IsScalar()) {
    return "'" + node.Scalar() + "'";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  if (node.IsMap()) {
    return "a mapping";
  }
  return "nothing";
}

class Loader {
 public:
  Loader(std::filesystem::path file, const PluginCatalog& catalog, std::vector<std::string> overrides)
      : file_(std::move(file)), catalog_(catalog), override_texts_(std::move(overrides)) {}

  Pipeline load() {
    YAML::Node root;
    try {
      root.reset(YAML::LoadFile(file_.string()));
    } catch (const YAML::BadFile&) {
      throw InputError({{{file_, 0, 0}, "cannot read the pipeline file"}});
    } catch (const YAML::ParserException& problem) {
      throw InputError({{{file_, problem.mark.line + 1, problem.mark.column + 1}, "invalid YAML: " + problem.msg}});
    }
    Pipeline pipeline;
    pipeline.file = file_;
    pipeline.name = file_.stem().string();
    if (!root.IsMap()) {
      error(root, "a pipeline is a mapping with keys " + join(kTopKeys) + ", found " + describe_node(root));
      throw InputError(diagnostics_);
    }
    expand_merge_keys(root);
    apply_overrides(root);
    check_keys(root, kTopKeys, "the pipeline");
    if (root["name"]) {
      pipeline.name = scalar_string(root["name"], "name");
      if (!std::regex_match(pipeline.name, std::regex("[A-Za-z0-9_.-]+"))) {
        error(root["name"], "name must use only letters, digits, '_', '.', '-', found '" + pipeline.name + "'");
      }
    }
    if (root["seed"]) {
      pipeline.seed = static_cast<std::uint32_t>(
          integer(root["seed"], "seed", 0, std::numeric_limits<std::uint32_t>::max()));
    }
    if (require(root, "data", "the pipeline")) {
      pipeline.data = load_data(root["data"]);
    }
    resolve_train_set(root, pipeline);
    resolve_set_seeds(pipeline);
    if (require(root, "models", "the pipeline")) {
      load_models(root["models"], pipeline);
    }
    load_evaluation(root["evaluate"], pipeline);
    if (!diagnostics_.empty()) {
      throw InputError(diagnostics_);
    }
    return pipeline;
  }

 private:
  // --- reporting ---------------------------------------------------------------
  SourceLocation where(const YAML::Node& node) const {
    for (const auto& [value, text] : overrides_) {
      if (node.is(value)) {
        return {"--set " + text, 0, 0};
      }
    }
    const auto mark = node.Mark();
    if (mark.is_null()) {
      return {file_, 0, 0};
    }
    return {file_, mark.line + 1, mark.column + 1};
  }
  void error(const YAML::Node& node, std::string message) { diagnostics_.push_back({where(node), std::move(message)}); }
  static std::string join(const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) {
      text += (text.empty() ? "" : ", ") + item;
    }
    return text;
  }

  // --- YAML merge keys ------------------------------------------------------------
  // yaml-cpp reads `<<: *base` as an ordinary key. Expand it as YAML 1.1 does: the
  // mapping (or list of mappings) it names supplies every key the mapping lacks.
  void expand_merge_keys(YAML::Node node) {
    if (node.IsSequence()) {
      for (auto element : node) {
        expand_merge_keys(element);
      }
      return;
    }
    if (!node.IsMap()) {
      return;
    }
    if (const auto merge = node["<<"]) {
      std::vector<YAML::Node> sources;
      if (merge.IsMap()) {
        sources.push_back(merge);
      } else if (merge.IsSequence()) {
        for (const auto& element : merge) {
          sources.push_back(element);
        }
      }
      node.remove("<<");
      for (const auto& source : sources) {
        if (!source.IsMap()) {
          error(merge, "'<<' merges mappings, found " + describe_node(source));
          continue;
        }
        for (const auto& entry : source) {
          if (!node[entry.first.Scalar()]) {
            node[entry.first.Scalar()] = entry.second;
          }
        }
      }
    }
    for (auto entry : node) {
      expand_merge_keys(entry.second);
    }
  }

  // --- command-line overrides -------------------------------------------------------
  // Each "a.b.c=value" walks existing mappings a, b and sets key c to the YAML value.
  void apply_overrides(YAML::Node& root) {
    for (const auto& text : override_texts_) {
      const SourceLocation origin{"--set " + text, 0, 0};
      const auto equals = text.find('=');
      if (equals == std::string::npos || equals == 0) {
        diagnostics_.push_back({origin, "expected KEY.PATH=VALUE, e.g. --set models.mlp.lr=0.001"});
        continue;
      }
      std::vector<std::string> keys;
      std::stringstream path(text.substr(0, equals));
      for (std::string key; std::getline(path, key, '.');) {
        keys.push_back(key);
      }
      YAML::Node node;
      node.reset(root);
      std::string walked;
      bool found = true;
      for (std::size_t i = 0; i + 1 < keys.size() && found; ++i) {
        std::vector<std::string> present;
        if (node.IsMap()) {
          for (const auto& entry : node) {
            present.push_back(entry.first.Scalar());
          }
        }
        if (!node.IsMap() || !node[keys[i]] || !node[keys[i]].IsMap()) {
          diagnostics_.push_back({origin, "no mapping '" + keys[i] + "' " +
                                              (walked.empty() ? "at the top of the pipeline" : "under '" + walked + "'") +
                                              suggest(keys[i], present)});
          found = false;
          continue;
        }
        node.reset(node[keys[i]]);
        walked += (walked.empty() ? "" : ".") + keys[i];
      }
      if (!found) {
        continue;
      }
      YAML::Node value;
      try {
        value.reset(YAML::Load(text.substr(equals + 1)));
      } catch (const YAML::ParserException& problem) {
        diagnostics_.push_back({origin, "the value is not valid YAML: " + problem.msg});
        continue;
      }
      node[keys.back()] = value;
      for (const auto& entry : node) {
        if (entry.first.Scalar() == keys.back()) {
          overrides_.emplace_back(entry.first, text);
          overrides_.emplace_back(entry.second, text);
        }
      }
    }
  }

  // --- structure ----------------------------------------------------------------
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& context) {
    for (const auto& entry : map) {
      const auto key = entry.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(entry.first, "unknown key '" + key + "' in " + context + suggest(key, allowed));
      }
    }
  }
  bool require(const YAML::Node& map, const std::string& key, const std::string& context) {
    if (!map[key]) {
      error(map, context + " needs the key '" + key + "'");
      return false;
    }
    return true;
  }
  bool expect_map(const YAML::Node& node, const std::string& what) {
    if (!node.IsMap()) {
      error(node, what + " must be a mapping, found " + describe_node(node));
      return false;
    }
    return true;
  }
  bool expect_sequence(const YAML::Node& node, const std::string& what) {
    if (!node.IsSequence()) {
      error(node, what + " must be a list, found " + describe_node(node));
      return false;
    }
    return true;
  }
  std::string scalar_string(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      error(node, what + " must be a string, found " + describe_node(node));
      return {};
    }
    return node.Scalar();
  }
  std::int64_t integer(const YAML::Node& node, const std::string& what, std::int64_t low, std::int64_t high) {
    std::int64_t value = 0;
    if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value)) {
      error(node, what + " must be an integer, found " + describe_node(node));
      return low;
    }
    if (value < low || value > high) {
      error(node, what + " must be between " + std::to_string(low) + " and " + std::to_string(high) +
                      ", found " + std::to_string(value));
      return low;
    }
    return value;
  }
  // A number, or an expression over the constants declared so far ("pi/2", "2*g").
  double number(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) {
      error(node, what + " must be a number, found " + describe_node(node));
      return 0.0;
    }
    return constant_expression(node, node.Scalar(), what);
  }
  double constant_expression(const YAML::Node& node, const std::string& text, const std::string& what) {
    try {
      const double value = Expression::parse(text).evaluate(constants_);
      if (!std::isfinite(value)) {
        error(node, what + " must be finite, '" + text + "' is " + std::to_string(value));
      }
      return value;
    } catch (const ExpressionError& problem) {
      error(node, what + ": '" + text + "': " + problem.what());
      return 0.0;
    }
  }
  bool identifier(const YAML::Node& key, const std::string& what) {
    static const std::regex pattern("[A-Za-z_][A-Za-z0-9_]*");
    const auto& name = key.Scalar();
    if (!std::regex_match(name, pattern)) {
      error(key, what + " '" + name + "' must be an identifier (letters, digits, '_'; not starting with a digit)");
      return false;
    }
    static const auto functions = Expression::function_names();
    if (std::find(functions.begin(), functions.end(), name) != functions.end() || name == "pi" || name == "e") {
      error(key, what + " '" + name + "' is a built-in name of the expression language");
      return false;
    }
    if (!declared_names_.insert(name).second) {
      error(key, what + " '" + name + "' is already declared");
      return false;
    }
    return true;
  }

  // --- data -----------------------------------------------------------------------
  Distribution distribution(const YAML::Node& node, const std::string& what) {
    Distribution result;
    if (!node.IsScalar()) {
      error(node, what + " must be a distribution such as uniform(0, 10) or normal(0, 1), found " +
                      describe_node(node));
      return result;
    }
    result.text = node.Scalar();
    static const std::regex call(R"(\s*([A-Za-z_]\w*)\s*\((.*)\)\s*)");
    std::smatch match;
    if (!std::regex_match(result.text, match, call)) {
      const bool cut_by_flow_comma = result.text.find('(') != std::string::npos &&
                                     result.text.find(')') == std::string::npos;
      error(node, what + " must be a distribution such as uniform(0, 10) or normal(0, 1), found '" +
                      result.text + "'" +
                      (cut_by_flow_comma ? " (inside {…} or […] YAML splits at commas: quote it, \"uniform(0, 10)\")"
                                         : ""));
      return result;
    }
    result.kind = match[1].str();
    if (std::find(kDistributions.begin(), kDistributions.end(), result.kind) == kDistributions.end()) {
      error(node, what + ": unknown distribution '" + result.kind + "'" + suggest(result.kind, kDistributions));
      return result;
    }
    const std::string arguments = match[2].str();
    int depth = 0;
    std::string current;
    for (const char c : arguments + ",") {
      if (c == ',' && depth == 0) {
        result.arguments.push_back(constant_expression(node, current, what));
        current.clear();
        continue;
      }
      depth += (c == '(') ? 1 : (c == ')') ? -1 : 0;
      current += c;
    }
    if (result.arguments.size() != 2) {
      error(node, what + ": " + result.kind + " takes 2 arguments (" +
                      (result.kind == "uniform" ? "low, high" : "mean, standard deviation") + "), found " +
                      std::to_string(result.arguments.size()));
    } else if (result.kind == "uniform" && !(result.arguments[0] < result.arguments[1])) {
      error(node, what + ": uniform(low, high) needs low < high");
    } else if (result.kind == "normal" && !(result.arguments[1] > 0)) {
      error(node, what + ": normal(mean, sd) needs sd > 0");
    }
    return result;
  }

  DataSpec load_data(const YAML::Node& node) {
    DataSpec data;
    if (!expect_map(node, "data")) {
      return data;
    }
    check_keys(node, kDataKeys, "data");
    if (node["source"] && scalar_string(node["source"], "data.source") != "formula") {
      error(node["source"], "data.source must be 'formula' (the only source so far), found '" +
                                node["source"].Scalar() + "'");
    }
    if (node["rng"] && scalar_string(node["rng"], "data.rng") != "numpy") {
      error(node["rng"], "data.rng must be 'numpy' (NumPy's legacy MT19937 stream), found '" +
                             node["rng"].Scalar() + "'");
    }
    if (node["constants"] && expect_map(node["constants"], "data.constants")) {
      for (const auto& entry : node["constants"]) {
        if (identifier(entry.first, "constant")) {
          const double value = number(entry.second, "constant '" + entry.first.Scalar() + "'");
          constants_[entry.first.Scalar()] = value;
          data.constants.emplace_back(entry.first.Scalar(), value);
        }
      }
    }
    if (require(node, "inputs", "data") && expect_map(node["inputs"], "data.inputs")) {
      for (const auto& entry : node["inputs"]) {
        if (identifier(entry.first, "input")) {
          data.inputs.push_back({entry.first.Scalar(), distribution(entry.second, "input '" + entry.first.Scalar() + "'")});
        }
      }
      if (data.inputs.empty()) {
        error(node["inputs"], "data.inputs must declare at least one input");
      }
    }
    if (require(node, "targets", "data") && expect_map(node["targets"], "data.targets")) {
      for (const auto& entry : node["targets"]) {
        if (identifier(entry.first, "target")) {
          load_target(entry.first.Scalar(), entry.second, data);
        }
      }
      if (data.targets.empty()) {
        error(node["targets"], "data.targets must declare at least one target");
      }
    }
    if (require(node, "sets", "data") && expect_map(node["sets"], "data.sets")) {
      for (const auto& entry : node["sets"]) {
        load_set(entry.first, entry.second, data);
      }
    }
    return data;
  }

  void load_target(const std::string& name, const YAML::Node& node, DataSpec& data) {
    const std::string what = "target '" + name + "'";
    // yaml-cpp's Node assignment writes through to the document, so pick with reset().
    YAML::Node expression_node;
    expression_node.reset(node);
    TargetSpec target{name, Expression::parse("0"), 0.0, std::nullopt, std::nullopt};
    if (node.IsMap()) {
      check_keys(node, kTargetKeys, what);
      if (!require(node, "expression", what)) {
        return;
      }
      expression_node.reset(node["expression"]);
      if (node["noise"]) {
        target.noise = number(node["noise"], what + " noise");
        if (target.noise < 0) {
          error(node["noise"], what + " noise must be >= 0 (the σ of additive normal noise)");
        }
      }
      if (const auto clip = node["clip"]; clip) {
        if (!clip.IsSequence() || clip.size() != 2) {
          error(clip, what + " clip must be [low, high] (null for no bound), found " + describe_node(clip));
        } else {
          if (!clip[0].IsNull()) {
            target.clip_min = number(clip[0], what + " clip low");
          }
          if (!clip[1].IsNull()) {
            target.clip_max = number(clip[1], what + " clip high");
          }
        }
      }
    }
    const std::string text = scalar_string(expression_node, what + " expression");
    try {
      target.expression = Expression::parse(text);
      for (const auto& used : target.expression.names()) {
        const bool is_input = std::any_of(data.inputs.begin(), data.inputs.end(),
                                          [&](const InputSpec& input) { return input.name == used; });
        if (!is_input && constants_.count(used) == 0 && used != "pi" && used != "e") {
          std::vector<std::string> known = data.input_names();
          for (const auto& [constant, value] : data.constants) {
            known.push_back(constant);
          }
          error(expression_node, what + " expression '" + text + "' uses unknown name '" + used + "'" +
                                     suggest(used, known));
        }
      }
    } catch (const ExpressionError& problem) {
      error(expression_node, what + " expression '" + text + "': " + problem.what());
    }
    data.targets.push_back(std::move(target));
  }

  void load_set(const YAML::Node& key, const YAML::Node& node, DataSpec& data) {
    SetSpec set;
    set.name = key.Scalar();
    set.location = where(key);
    const std::string what = "set '" + set.name + "'";
    if (data.find_set(set.name) != nullptr) {
      error(key, what + " is declared twice");
      return;
    }
    if (expect_map(node, what)) {
      check_keys(node, kSetKeys, what);
      if (require(node, "rows", what)) {
        set.rows = integer(node["rows"], what + " rows", 1, std::int64_t{1} << 40);
      }
      if (node["seed"]) {
        set.seed = static_cast<std::uint32_t>(
            integer(node["seed"], what + " seed", 0, std::numeric_limits<std::uint32_t>::max()));
        explicit_seeds_.insert(set.name);
      }
      if (node["inputs"] && expect_map(node["inputs"], what + " inputs")) {
        const auto names = data.input_names();
        for (const auto& entry : node["inputs"]) {
          const auto& input = entry.first.Scalar();
          if (std::find(names.begin(), names.end(), input) == names.end()) {
            error(entry.first, what + " overrides unknown input '" + input + "'" + suggest(input, names));
            continue;
          }
          set.overrides.push_back({input, distribution(entry.second, what + " input '" + input + "'")});
        }
      }
    }
    data.sets.push_back(std::move(set));
  }

  void resolve_train_set(const YAML::Node& root, Pipeline& pipeline) {
    std::vector<std::string> names;
    for (const auto& set : pipeline.data.sets) {
      names.push_back(set.name);
    }
    if (root["train"]) {
      pipeline.train_set = scalar_string(root["train"], "train");
      if (!names.empty() && pipeline.data.find_set(pipeline.train_set) == nullptr) {
        error(root["train"], "train names unknown set '" + pipeline.train_set + "'" + suggest(pipeline.train_set, names));
      }
    } else if (pipeline.data.find_set("train") != nullptr) {
      pipeline.train_set = "train";
    } else if (!names.empty()) {
      pipeline.train_set = names.front();
    }
  }

  // The training set draws from the pipeline seed itself (so `seed: 0` reproduces
  // np.random.seed(0)); every other set from a seed derived from its name.
  void resolve_set_seeds(Pipeline& pipeline) const {
    for (auto& set : pipeline.data.sets) {
      if (explicit_seeds_.count(set.name) != 0) {
        continue;
      }
      set.seed = set.name == pipeline.train_set
                     ? pipeline.seed
                     : static_cast<std::uint32_t>(derive_seed(pipeline.seed, "set/" + set.name));
    }
  }

  // --- models -------------------------------------------------------------------
  void load_models(const YAML::Node& node, Pipeline& pipeline) {
    if (!expect_map(node, "models")) {
      return;
    }
    if (node.size() == 0) {
      error(node, "models must declare at least one model");
    }
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      const std::string what = "model '" + name + "'";
      if (!std::regex_match(name, std::regex("[A-Za-z0-9_.-]+"))) {
        error(entry.first, what + ": names use only letters, digits, '_', '.', '-'");
        continue;
      }
      if (!expect_map(entry.second, what) || !require(entry.second, "plugin", what)) {
        continue;
      }
      ModelSpec model;
      model.name = name;
      model.location = where(entry.first);
      model.seed = derive_seed(pipeline.seed, "model/" + name);
      model.plugin = scalar_string(entry.second["plugin"], what + " plugin");
      const auto* plugin = catalog_.find(model.plugin);
      if (plugin == nullptr) {
        const auto names = catalog_.names();
        error(entry.second["plugin"], what + " uses unknown plugin '" + model.plugin + "'" +
                                          did_you_mean(model.plugin, names) +
                                          "; plugins found: " + (names.empty() ? "none" : join(names)) +
                                          " (see `ballista plugins --verbose`)");
        continue;
      }
      if (load_parameters(entry.second, *plugin, what, model)) {
        pipeline.models.push_back(std::move(model));
      }
    }
  }

  std::optional<ParameterValue> parameter_value(const YAML::Node& node, const ParameterSpec& spec) {
    switch (spec.type()) {
      case ParameterType::integer: {
        std::int64_t value = 0;
        if (node.IsScalar() && YAML::convert<std::int64_t>::decode(node, value)) {
          return value;
        }
        return std::nullopt;
      }
      case ParameterType::real: {
        double value = 0.0;
        if (node.IsScalar() && YAML::convert<double>::decode(node, value)) {
          return value;
        }
        return std::nullopt;
      }
      case ParameterType::boolean: {
        bool value = false;
        if (node.IsScalar() && YAML::convert<bool>::decode(node, value)) {
          return value;
        }
        return std::nullopt;
      }
      case ParameterType::string:
        if (node.IsScalar()) {
          return node.Scalar();
        }
        return std::nullopt;
      case ParameterType::integer_list: {
        std::vector<std::int64_t> values;
        if (!node.IsSequence()) {
          return std::nullopt;
        }
        for (const auto& element : node) {
          std::int64_t value = 0;
          if (!element.IsScalar() || !YAML::convert<std::int64_t>::decode(element, value)) {
            return std::nullopt;
          }
          values.push_back(value);
        }
        return values;
      }
      case ParameterType::string_list: {
        std::vector<std::string> values;
        if (!node.IsSequence()) {
          return std::nullopt;
        }
        for (const auto& element : node) {
          if (!element.IsScalar()) {
            return std::nullopt;
          }
          values.push_back(element.Scalar());
        }
        return values;
      }
    }
    return std::nullopt;
  }

  bool load_parameters(const YAML::Node& node, const LoadedPlugin& plugin, const std::string& what,
                       ModelSpec& model) {
    std::vector<std::string> names{"plugin"};
    for (const auto& spec : plugin.definition.parameters) {
      names.push_back(spec.name());
    }
    const std::size_t errors_before = diagnostics_.size();
    check_keys(node, names, what + " (plugin " + plugin.name + ")");
    std::map<std::string, ParameterValue> values;
    std::map<std::string, YAML::Node> written;
    for (const auto& spec : plugin.definition.parameters) {
      const auto value_node = node[spec.name()];
      if (!value_node) {
        if (spec.is_required()) {
          error(node, what + " needs parameter '" + spec.name() + "' (" + spec.allowed() + ": " + spec.doc() +
                          "), e.g. " + to_string(spec.default_value()));
        }
        values[spec.name()] = spec.default_value();
        continue;
      }
      written[spec.name()] = value_node;
      const auto value = parameter_value(value_node, spec);
      const std::string problem = value ? spec.check(*value) : "must be " + spec.allowed() + ", found " +
                                                                   describe_node(value_node);
      if (!problem.empty()) {
        error(value_node, what + " parameter '" + spec.name() + "' " + problem);
        continue;
      }
      values[spec.name()] = *value;
    }
    if (diagnostics_.size() != errors_before) {
      return false;
    }
    model.parameters = Parameters(std::move(values));
    // The plugin's own checks (an expression that does not parse, say), located where
    // the user wrote the parameter.
    try {
      (void)plugin.definition.create(model.parameters);
    } catch (const ParameterError& problem) {
      const auto found = written.find(problem.parameter());
      error(found != written.end() ? found->second : node,
            what + " parameter '" + problem.parameter() + "': " + problem.what());
      return false;
    } catch (const std::exception& problem) {
      error(node, what + ": plugin " + plugin.name + " rejected the parameters: " + problem.what());
      return false;
    }
    return true;
  }

  // --- evaluation -----------------------------------------------------------------
  void load_evaluation(const YAML::Node& node, Pipeline& pipeline) {
    auto& evaluation = pipeline.evaluation;
    evaluation.metrics = {"mse"};
    std::vector<std::string> set_names;
    for (const auto& set : pipeline.data.sets) {
      set_names.push_back(set.name);
    }
    evaluation.sets = set_names;
    if (!node) {
      return;
    }
    if (!expect_map(node, "evaluate")) {
      return;
    }
    check_keys(node, kEvaluateKeys, "evaluate");
    if (node["sets"] && expect_sequence(node["sets"], "evaluate.sets")) {
      evaluation.sets.clear();
      for (const auto& element : node["sets"]) {
        const auto name = scalar_string(element, "evaluate.sets entry");
        if (!set_names.empty() && std::find(set_names.begin(), set_names.end(), name) == set_names.end()) {
          error(element, "evaluate.sets names unknown set '" + name + "'" + suggest(name, set_names));
        }
        evaluation.sets.push_back(name);
      }
    }
    if (node["metrics"] && expect_sequence(node["metrics"], "evaluate.metrics")) {
      evaluation.metrics.clear();
      for (const auto& element : node["metrics"]) {
        const auto name = scalar_string(element, "evaluate.metrics entry");
        if (std::find(kMetrics.begin(), kMetrics.end(), name) == kMetrics.end()) {
          error(element, "unknown metric '" + name + "'" + suggest(name, kMetrics));
        }
        evaluation.metrics.push_back(name);
      }
    }
    if (node["probes"] && expect_sequence(node["probes"], "evaluate.probes")) {
      const auto inputs = pipeline.data.input_names();
      for (const auto& element : node["probes"]) {
        if (!expect_map(element, "a probe")) {
          continue;
        }
        check_keys(element, inputs, "a probe");
        ProbeSpec probe;
        for (const auto& input : inputs) {
          if (require(element, input, "a probe")) {
            probe.point.push_back(number(element[input], "probe input '" + input + "'"));
          }
        }
        evaluation.probes.push_back(std::move(probe));
      }
    }
  }

  std::filesystem::path file_;
  const PluginCatalog& catalog_;
  std::vector<Diagnostic> diagnostics_;
  Expression::ScalarBindings constants_;
  std::set<std::string> declared_names_;
  std::set<std::string> explicit_seeds_;
  std::vector<std::string> override_texts_;
  std::vector<std::pair<YAML::Node, std::string>> overrides_;  // value set by --set, and the --set text
};

void emit_value(YAML::Emitter& out, const ParameterValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::vector<std::int64_t>> || std::is_same_v<T, std::vector<std::string>>) {
          out << YAML::Flow << YAML::BeginSeq;
          for (const auto& element : v) {
            out << element;
          }
          out << YAML::EndSeq;
        } else if constexpr (std::is_same_v<T, double>) {
          out << to_string(ParameterValue{v});
        } else {
          out << v;
        }
      },
      value);
}

}  // namespace

std::vector<std::string> DataSpec::input_names() const {
  std::vector<std::string> names;
  for (const auto& input : inputs) {
    names.push_back(input.name);
  }
  return names;
}

std::vector<std::string> DataSpec::target_names() const {
  std::vector<std::string> names;
  for (const auto& target : targets) {
    names.push_back(target.name);
  }
  return names;
}

const SetSpec* DataSpec::find_set(const std::string& name) const {
  const auto found = std::find_if(sets.begin(), sets.end(), [&](const SetSpec& set) { return set.name == name; });
  return found == sets.end() ? nullptr : &*found;
}

Pipeline load_pipeline(const std::filesystem::path& file, const PluginCatalog& catalog,
                       const std::vector<std::string>& overrides) {
  return Loader(file, catalog, overrides).load();
}

std::string resolved_yaml(const Pipeline& pipeline, const PluginCatalog& catalog) {
  const auto number = [](double value) { return to_string(ParameterValue{value}); };
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << pipeline.name;
  out << YAML::Key << "seed" << YAML::Value << pipeline.seed;
  out << YAML::Key << "data" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "source" << YAML::Value << "formula";
  out << YAML::Key << "rng" << YAML::Value << "numpy";
  if (!pipeline.data.constants.empty()) {
    out << YAML::Key << "constants" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, value] : pipeline.data.constants) {
      out << YAML::Key << name << YAML::Value << number(value);
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
  for (const auto& input : pipeline.data.inputs) {
    out << YAML::Key << input.name << YAML::Value << input.distribution.text;
  }
  out << YAML::EndMap;
  out << YAML::Key << "targets" << YAML::Value << YAML::BeginMap;
  for (const auto& target : pipeline.data.targets) {
    out << YAML::Key << target.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "expression" << YAML::Value << target.expression.text();
    out << YAML::Key << "noise" << YAML::Value << number(target.noise);
    out << YAML::Key << "clip" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& bound : {target.clip_min, target.clip_max}) {
      if (bound) {
        out << number(*bound);
      } else {
        out << YAML::Null;
      }
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "sets" << YAML::Value << YAML::BeginMap;
  for (const auto& set : pipeline.data.sets) {
    out << YAML::Key << set.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "rows" << YAML::Value << set.rows;
    out << YAML::Key << "seed" << YAML::Value << set.seed;
    if (!set.overrides.empty()) {
      out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
      for (const auto& input : set.overrides) {
        out << YAML::Key << input.name << YAML::Value << input.distribution.text;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "train" << YAML::Value << pipeline.train_set;
  out << YAML::Key << "models" << YAML::Value << YAML::BeginMap;
  for (const auto& model : pipeline.models) {
    out << YAML::Key << model.name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "plugin" << YAML::Value << model.plugin;
    const auto* plugin = catalog.find(model.plugin);
    for (const auto& [name, value] : model.parameters.values()) {
      out << YAML::Key << name << YAML::Value;
      emit_value(out, value);
      if (plugin != nullptr) {
        for (const auto& spec : plugin->definition.parameters) {
          if (spec.name() == name) {
            out << YAML::Comment(spec.doc());
          }
        }
      }
    }
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
