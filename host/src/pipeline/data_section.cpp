// The `data` section of a pipeline (see data_section.hpp).
#include "data_section.hpp"

#include "csv_table.hpp"
#include "pipeline_names.hpp"
#include "plugin_parameters.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

namespace ballista::host {

namespace {

const std::vector<std::string> kInputKeys{"distribution", "clip"};
const std::vector<std::string> kSetKeys{"rows", "inputs", "seed", "source"};
constexpr std::int64_t kMaxRows = std::int64_t{1} << 40;
const Variant kNoSweep{};

class DataSectionReader {
 public:
  DataSectionReader(YamlDocument& document, const PluginCatalog& catalog) : document_(document), catalog_(catalog) {}

  DataSection read(const YAML::Node& node) {
    DataSection section;
    section.data = load_data(node);
    check_data_fits(node, section.data);
    section.explicit_seeds = std::move(explicit_seeds_);
    section.constants = std::move(constants_);
    return section;
  }

 private:
  // A name declared in the source being read (a constant, an input, a target): an
  // identifier, not a built-in name, not declared twice.
  bool identifier(const YAML::Node& key, const std::string& what) {
    const auto& name = key.Scalar();
    if (!is_identifier(name)) {
      document_.error(key,
                      what + " '" + name + "' must be an identifier (letters, digits, '_'; not starting with a digit)");
      return false;
    }
    static const auto functions = Expression::function_names();
    if (std::find(functions.begin(), functions.end(), name) != functions.end() || name == "pi" || name == "e") {
      document_.error(key, what + " '" + name + "' is a built-in name of the expression language");
      return false;
    }
    if (!declared_names_.insert(name).second) {
      document_.error(key, what + " '" + name + "' is already declared");
      return false;
    }
    return true;
  }

  Distribution distribution(const YAML::Node& node, const std::string& what) {
    Distribution result;
    const std::string examples = " such as uniform(0, 10), normal(0, 1), loguniform(1e-3, 1), choice(1, 2, 5) or "
                                 "grid(0, 10, 50)";
    if (!node.IsScalar()) {
      document_.error(node, what + " must be a distribution" + examples + ", found " + describe_node(node));
      return result;
    }
    result.text = node.Scalar();
    // name(arguments), spaces allowed around each part.
    const auto first = result.text.find_first_not_of(" \t");
    const auto last = result.text.find_last_not_of(" \t");
    const auto open = result.text.find('(');
    std::string name = open == std::string::npos || first == std::string::npos || open < first
                           ? std::string()
                           : result.text.substr(first, result.text.find_last_not_of(" \t", open - 1) + 1 - first);
    if (open == std::string::npos || result.text[last] != ')' || !is_identifier(name) || open == first) {
      const bool cut_by_flow_comma = result.text.find('(') != std::string::npos &&
                                     result.text.find(')') == std::string::npos;
      document_.error(node, what + " must be a distribution" + examples + ", found '" + result.text + "'" +
                                (cut_by_flow_comma
                                     ? " (inside {…} or […] YAML splits at commas: quote it, \"uniform(0, 10)\")"
                                     : ""));
      return result;
    }
    const auto kind = Distribution::kind_named(name);
    if (!kind) {
      document_.error(node, what + ": unknown distribution '" + name + "'" + suggest(name, Distribution::kind_names()));
      return result;
    }
    result.kind = *kind;
    const std::string arguments = result.text.substr(open + 1, last - open - 1);
    int depth = 0;
    std::string current;
    const auto errors_before = document_.error_count();
    for (const char c : arguments + ",") {
      if (c == ',' && depth == 0) {
        result.arguments.push_back(document_.constant_expression(node, current, what, constants_));
        current.clear();
        continue;
      }
      depth += (c == '(') ? 1 : (c == ')') ? -1 : 0;
      current += c;
    }
    const auto& a = result.arguments;
    const auto arity = [&](std::size_t count, const std::string& names) {
      if (a.size() != count) {
        document_.error(node, what + ": " + name + " takes " + std::to_string(count) + " arguments (" + names +
                                  "), found " + std::to_string(a.size()));
        return false;
      }
      return true;
    };
    using Kind = Distribution::Kind;
    if (document_.error_count() != errors_before) {
      return result;
    }
    if (result.kind == Kind::uniform && arity(2, "low, high") && !(a[0] < a[1])) {
      document_.error(node, what + ": uniform(low, high) needs low < high");
    } else if (result.kind == Kind::normal && arity(2, "mean, standard deviation") && !(a[1] > 0)) {
      document_.error(node, what + ": normal(mean, sd) needs sd > 0");
    } else if (result.kind == Kind::loguniform && arity(2, "low, high") && !(0 < a[0] && a[0] < a[1])) {
      document_.error(node, what + ": loguniform(low, high) needs 0 < low < high");
    } else if (result.kind == Kind::grid && arity(3, "low, high, count")) {
      if (!(a[0] < a[1])) {
        document_.error(node, what + ": grid(low, high, count) needs low < high");
      } else if (!(a[2] >= 2 && a[2] <= 1e7 && a[2] == std::floor(a[2]))) {
        document_.error(node, what + ": grid(low, high, count) needs an integer count from 2 to 10000000");
      }
    } else if (result.kind == Kind::choice && (a.empty() || a.size() > 1000000)) {
      document_.error(node, what + ": choice(a, b, ...) needs at least one value");
    }
    return result;
  }

  std::pair<std::optional<double>, std::optional<double>> clip(const YAML::Node& node, const std::string& what) {
    std::pair<std::optional<double>, std::optional<double>> bounds;
    if (!node.IsSequence() || node.size() != 2) {
      document_.error(node, what + " clip must be [low, high] (null for no bound), found " + describe_node(node));
      return bounds;
    }
    if (!node[0].IsNull()) {
      bounds.first = document_.number(node[0], what + " clip low", constants_);
    }
    if (!node[1].IsNull()) {
      bounds.second = document_.number(node[1], what + " clip high", constants_);
    }
    if (bounds.first && bounds.second && !(*bounds.first <= *bounds.second)) {
      document_.error(node, what + " clip needs low <= high");
    }
    return bounds;
  }

  // `v: uniform(0, 10)` or `v: {distribution: normal(5, 2), clip: [0, null]}`.
  InputSpec load_input(const YAML::Node& key, const YAML::Node& node, const std::string& what) {
    InputSpec spec{key.Scalar(), {}, std::nullopt, std::nullopt};
    if (node.IsMap()) {
      document_.check_keys(node, kInputKeys, what);
      if (document_.require(node, "distribution", what)) {
        spec.distribution = distribution(node["distribution"], what);
      }
      if (node["clip"]) {
        std::tie(spec.clip_min, spec.clip_max) = clip(node["clip"], what);
      }
      return spec;
    }
    spec.distribution = distribution(node, what);
    return spec;
  }

  // The keys a source of this kind reads, besides those of the pipeline's `data` only.
  std::vector<std::string> source_keys(SourceSpec::Kind kind, const LoadedPlugin* plugin) const {
    std::vector<std::string> keys{"source", "inputs", "targets"};
    if (kind == SourceSpec::Kind::csv) {
      keys.insert(keys.end(), {"file", "drop_invalid", "n"});  // n: refused with its own message
      return keys;
    }
    keys.insert(keys.end(), {"rng", "n", "constants"});
    if (plugin != nullptr) {
      for (const auto& spec : plugin->parameters()) {
        keys.push_back(spec.name());
      }
    }
    return keys;
  }

  // A data source: `data` itself, or a set's `source:`. `parent` is the pipeline's
  // source when this is a set's; a csv source takes its column names from it by default.
  SourceSpec load_source(const YAML::Node& node, const std::string& what, const SourceSpec* parent,
                         const std::vector<std::string>& extra_keys) {
    SourceSpec source;
    const auto name = node["source"] ? document_.scalar_string(node["source"], what + ".source") : "formula";
    if (name == "csv") {
      source.kind = SourceSpec::Kind::csv;
    } else if (name != "formula") {
      source.kind = SourceSpec::Kind::plugin;
      source.plugin = name;
    }
    const LoadedPlugin* plugin = nullptr;
    if (source.kind == SourceSpec::Kind::plugin) {
      plugin = catalog_.find(source.plugin);
      if (plugin == nullptr || plugin->kind != PluginKind::source) {
        std::vector<std::string> kinds{"formula", "csv"};
        for (const auto& candidate : catalog_.available()) {
          if (candidate.kind == PluginKind::source) {
            kinds.push_back(candidate.name);
          }
        }
        document_.error(node["source"],
                        what + ".source '" + source.plugin + "' is " +
                            (plugin != nullptr ? "a model plugin, not a data source" : "not a known source") +
                            suggest(source.plugin, kinds) + " (source plugins: `ballista plugins`)");
        return source;
      }
    }
    auto keys = source_keys(source.kind, plugin);
    keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
    document_.check_keys(node, keys, what + " (source " + source.name() + ")");
    // Names and constants are scoped to one source.
    constants_.clear();
    declared_names_.clear();
    if (node["rng"] && document_.scalar_string(node["rng"], what + ".rng") != "numpy") {
      document_.error(node["rng"], what + ".rng must be 'numpy' (NumPy's legacy MT19937 stream), found '" +
                                       node["rng"].Scalar() + "'");
    }
    if (node["n"]) {
      source.rows = document_.integer(node["n"], what + ".n", 1, kMaxRows);
      if (source.kind == SourceSpec::Kind::csv) {
        document_.error(node["n"], what + ".n is for drawn sources; a csv source has its file's rows");
      }
    }
    if (source.kind == SourceSpec::Kind::csv) {
      load_csv_source(node, what, parent, source);
      return source;
    }
    if (node["constants"] && document_.expect_map(node["constants"], what + ".constants")) {
      for (const auto& entry : node["constants"]) {
        if (identifier(entry.first, "constant")) {
          const double value = document_.number(entry.second, "constant '" + entry.first.Scalar() + "'", constants_);
          constants_[entry.first.Scalar()] = value;
          source.constants.emplace_back(entry.first.Scalar(), value);
        }
      }
    }
    if (document_.require(node, "inputs", what) && document_.expect_map(node["inputs"], what + ".inputs")) {
      for (const auto& entry : node["inputs"]) {
        if (identifier(entry.first, "input")) {
          source.inputs.push_back(load_input(entry.first, entry.second, "input '" + entry.first.Scalar() + "'"));
        }
      }
      if (source.inputs.empty()) {
        document_.error(node["inputs"], what + ".inputs must declare at least one input");
      }
    }
    if (node["n"]) {
      check_grid_multiple(node["n"], what + ".n", source.rows, grid_product(source.inputs, {}));
    }
    if (plugin != nullptr) {
      load_plugin_source(node, what, *plugin, source);
      return source;
    }
    if (document_.require(node, "targets", what) && document_.expect_map(node["targets"], what + ".targets")) {
      for (const auto& entry : node["targets"]) {
        if (identifier(entry.first, "target")) {
          load_target(entry.first.Scalar(), entry.second, source);
        }
      }
      if (source.targets.empty()) {
        document_.error(node["targets"], what + ".targets must declare at least one target");
      }
    }
    return source;
  }

  void load_plugin_source(const YAML::Node& node, const std::string& what, const LoadedPlugin& plugin,
                          SourceSpec& source) {
    const auto& definition = plugin.source;
    if (node["inputs"] && source.input_names() != definition.inputs) {
      document_.error(node["inputs"], what + ".inputs must be " + join(definition.inputs) + ", in this order (source " +
                                          plugin.name + " simulates those), found " + join(source.input_names()));
    }
    std::set<std::string> written;
    if (node["targets"] && document_.expect_map(node["targets"], what + ".targets")) {
      for (const auto& entry : node["targets"]) {
        const auto& name = entry.first.Scalar();
        if (std::find(definition.targets.begin(), definition.targets.end(), name) == definition.targets.end()) {
          document_.error(entry.first, what + ".targets: source " + plugin.name + " computes no target '" + name + "'" +
                                           suggest(name, definition.targets));
        }
        written.insert(name);
      }
    }
    for (const auto& name : definition.targets) {
      if (written.count(name) != 0) {
        load_target(name, node["targets"][name], source);
      } else {
        source.targets.push_back({name, std::nullopt, 0.0, false, std::nullopt, std::nullopt});
      }
    }
    source.create = definition.create;
    if (auto parameters = plugin_parameters(document_, ModelView{node, kNoSweep}, plugin, what)) {
      source.parameters = std::move(*parameters);
      try {
        (void)definition.create(source.parameters);
      } catch (const ParameterError& problem) {
        document_.error(node[problem.parameter()] ? node[problem.parameter()] : node,
                        what + " parameter '" + problem.parameter() + "': " + problem.what());
      } catch (const std::exception& problem) {
        document_.error(node, what + ": source plugin " + plugin.name + " rejected the parameters: " + problem.what());
      }
    }
  }

  // Column names: `inputs: [v, theta]`; a set's csv source defaults to the pipeline's.
  std::vector<std::string> column_names(const YAML::Node& node, const std::string& key, const std::string& what,
                                        const std::vector<std::string>* fallback) {
    std::vector<std::string> names;
    if (!node[key]) {
      if (fallback != nullptr) {
        return *fallback;
      }
      document_.error(node, what + " needs the key '" + key + "' (a list of column names, e.g. " +
                                (key == "inputs" ? "[v, theta]" : "[s]") + ")");
      return names;
    }
    if (!document_.expect_sequence(node[key], what + "." + key)) {
      return names;
    }
    for (const auto& element : node[key]) {
      if (element.IsScalar() && identifier(element, key == "inputs" ? "input" : "target")) {
        names.push_back(element.Scalar());
      } else if (!element.IsScalar()) {
        document_.error(element, what + "." + key + " entries are column names, found " + describe_node(element));
      }
    }
    if (names.empty() && node[key].size() == 0) {
      document_.error(node[key], what + "." + key + " must name at least one column");
    }
    return names;
  }

  void load_csv_source(const YAML::Node& node, const std::string& what, const SourceSpec* parent,
                       SourceSpec& source) {
    const auto parent_inputs = parent != nullptr ? parent->input_names() : std::vector<std::string>{};
    const auto parent_targets = parent != nullptr ? parent->target_names() : std::vector<std::string>{};
    for (const auto& name : column_names(node, "inputs", what, parent != nullptr ? &parent_inputs : nullptr)) {
      source.inputs.push_back({name, {}, std::nullopt, std::nullopt});
    }
    for (const auto& name : column_names(node, "targets", what, parent != nullptr ? &parent_targets : nullptr)) {
      source.targets.push_back({name, std::nullopt, 0.0, false, std::nullopt, std::nullopt});
    }
    if (node["drop_invalid"]) {
      source.drop_invalid = document_.boolean(node["drop_invalid"], what + ".drop_invalid");
    }
    if (!document_.require(node, "file", what)) {
      return;
    }
    const auto text = document_.scalar_string(node["file"], what + ".file");
    if (text.empty() || source.inputs.empty() || source.targets.empty()) {
      return;
    }
    // Relative to the file that names it (a base pipeline's, for an inherited key).
    source.file = std::filesystem::path(text);
    if (source.file.is_relative()) {
      source.file = document_.where(node["file"]).file.parent_path() / source.file;
    }
    CsvTable table;
    try {
      table = read_csv(source.file);
    } catch (const std::exception& problem) {
      document_.error(node["file"], what + ".file: " + problem.what());
      return;
    }
    std::vector<std::string> names = source.input_names();
    const auto targets = source.target_names();
    names.insert(names.end(), targets.begin(), targets.end());
    bool columns_found = true;
    for (const auto& name : names) {
      if (std::find(table.header.begin(), table.header.end(), name) == table.header.end()) {
        document_.error(node["file"], what + ": " + source.file.string() + " has no column '" + name + "'" +
                                          suggest(name, table.header));
        columns_found = false;
      }
    }
    if (!columns_found) {
      return;
    }
    const auto columns = checked_numeric_columns(table, names);
    if (!source.drop_invalid) {
      constexpr std::size_t kShown = 20;
      for (std::size_t i = 0; i < columns.problems.size() && i < kShown; ++i) {
        const auto& problem = columns.problems[i];
        document_.error({source.file, problem.line, problem.column},
                        problem.message + (i == 0 ? " (`drop_invalid: true` in " + what + " drops such rows)" : ""));
      }
      if (columns.problems.size() > kShown) {
        document_.error(node["file"], what + ": " + std::to_string(columns.problems.size() - kShown) +
                                          " more invalid cells in " + source.file.string());
      }
      if (!columns.problems.empty()) {
        return;
      }
    }
    source.dropped_rows = columns.dropped_rows;
    const auto inputs = static_cast<std::int64_t>(source.inputs.size());
    source.csv_inputs = columns.values.slice(1, 0, inputs).contiguous();
    source.csv_targets = columns.values.slice(1, inputs).contiguous();
    source.rows = columns.values.size(0);
    if (source.rows == 0) {
      document_.error(node["file"], what + ": " + source.file.string() + " has no " +
                                        (columns.dropped_rows > 0 ? "valid " : "") + "rows" +
                                        (columns.dropped_rows > 0 ? " (all " + std::to_string(columns.dropped_rows) +
                                                                        " were dropped by drop_invalid)"
                                                                  : ""));
    }
  }

  // A formula target: `s: v^2*sin(2*theta)/g`, or a mapping with expression, noise, clip.
  // A source plugin's target: a mapping with noise and clip only.
  void load_target(const std::string& name, const YAML::Node& node, SourceSpec& source) {
    const std::string what = "target '" + name + "'";
    const bool formula = source.kind == SourceSpec::Kind::formula;
    TargetSpec target{name, std::nullopt, 0.0, false, std::nullopt, std::nullopt};
    // yaml-cpp's Node assignment writes through to the document, so pick with reset().
    YAML::Node expression_node;
    expression_node.reset(node);
    if (node.IsMap()) {
      std::vector<std::string> keys{"noise", "clip"};
      if (formula) {
        keys.insert(keys.begin(), "expression");
      }
      document_.check_keys(node, keys, what);
      if (formula) {
        if (!document_.require(node, "expression", what)) {
          return;
        }
        expression_node.reset(node["expression"]);
      }
      if (node["noise"]) {
        load_noise(node["noise"], what, target);
      }
      if (node["clip"]) {
        std::tie(target.clip_min, target.clip_max) = clip(node["clip"], what);
      }
    } else if (!formula) {
      document_.error(node, what + " of source " + source.name() + " takes a mapping with noise and clip, found " +
                                describe_node(node));
      return;
    }
    if (formula) {
      target.expression = target_expression(expression_node, what, source);
    }
    source.targets.push_back(std::move(target));
  }

  // `noise: 0.01` (σ of additive normal noise), `{absolute: 0.01}` or `{relative: 0.05}`
  // (y·(1 + 0.05·N(0, 1))).
  void load_noise(const YAML::Node& node, const std::string& what, TargetSpec& target) {
    YAML::Node value;
    value.reset(node);
    if (node.IsMap()) {
      document_.check_keys(node, {"absolute", "relative"}, what + " noise");
      if (node.size() != 1) {
        document_.error(node, what + " noise must be a number, {absolute: σ} or {relative: σ}");
        return;
      }
      target.relative_noise = static_cast<bool>(node["relative"]);
      // A misspelt key has already been reported; a missing node must not reach reset(),
      // which throws on an invalid node.
      const YAML::Node chosen = target.relative_noise ? node["relative"] : node["absolute"];
      if (!chosen) {
        return;
      }
      value.reset(chosen);
    }
    target.noise = document_.number(value, what + " noise", constants_);
    if (target.noise < 0) {
      document_.error(value, what + " noise must be >= 0 (the σ of the normal noise)");
    }
  }

  std::optional<Expression> target_expression(const YAML::Node& node, const std::string& what,
                                              const SourceSpec& source) {
    const std::string text = document_.scalar_string(node, what + " expression");
    try {
      auto expression = Expression::parse(text);
      for (const auto& used : expression.names()) {
        const auto inputs = source.input_names();
        if (std::find(inputs.begin(), inputs.end(), used) == inputs.end() && constants_.count(used) == 0 &&
            used != "pi" && used != "e") {
          std::vector<std::string> known = inputs;
          for (const auto& [constant, value] : source.constants) {
            known.push_back(constant);
          }
          document_.error(node,
                          what + " expression '" + text + "' uses unknown name '" + used + "'" + suggest(used, known));
        }
      }
      return expression;
    } catch (const ExpressionError& problem) {
      document_.error(node, what + " expression '" + text + "': " + problem.what());
    }
    return std::nullopt;
  }

  DataSpec load_data(const YAML::Node& node) {
    DataSpec data;
    if (!document_.expect_map(node, "data")) {
      return data;
    }
    data.source = load_source(node, "data", nullptr, {"sets", "split", "shuffle", "units"});
    const bool has_table = data.source.rows > 0 || (data.source.kind == SourceSpec::Kind::csv && !data.source.file.empty());
    if (has_table) {
      SetSpec all;
      all.name = "all";
      all.origin = SetSpec::Origin::all;
      all.rows = data.source.rows;
      all.location = document_.where(node["n"] ? node["n"] : node);
      data.sets.push_back(std::move(all));
    }
    if (node["shuffle"]) {
      data.shuffle = document_.boolean(node["shuffle"], "data.shuffle");
    }
    if (node["split"]) {
      load_split(node["split"], data, has_table);
    }
    if (node["sets"] && document_.expect_map(node["sets"], "data.sets")) {
      for (const auto& entry : node["sets"]) {
        load_set(entry.first, entry.second, node, data);
      }
    }
    if (data.sets.empty() && !node["split"]) {
      document_.error(node,
                      "data declares no set: give `n` (rows of the source's own set `all`), a `split`, or `sets`");
    }
    if (node["units"]) {
      load_units(node["units"], data);
    }
    return data;
  }

  // `units: {v: m/s, theta: rad, s: m, g: m/s^2}`: labels for plots and reports, and the
  // dimensions a model may check (the basis plugin's `units: strict`). Constants may have units.
  void load_units(const YAML::Node& node, DataSpec& data) {
    if (!document_.expect_map(node, "data.units")) {
      return;
    }
    auto known = data.input_names();
    const auto targets = data.target_names();
    known.insert(known.end(), targets.begin(), targets.end());
    for (const auto& [constant, value] : data.source.constants) {
      known.push_back(constant);
    }
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        document_.error(entry.first, "data.units: '" + name + "' is neither an input, a target nor a constant" +
                                         suggest(name, known) + " (inputs, targets and constants: " + join(known) +
                                         ")");
        continue;
      }
      const std::string unit = document_.scalar_string(entry.second, "the unit of '" + name + "'");
      if (unit.empty() || unit.find_first_of("\n\r") != std::string::npos) {
        document_.error(entry.second, "the unit of '" + name + "' must be one line of text, e.g. m/s");
        continue;
      }
      data.units[name] = unit;
    }
  }

  // `split: {train: 0.8, test: 0.2}`: fractions of the source's table, in order, after
  // one shuffle. Each part gets floor(fraction·n) rows; when the fractions add up to 1,
  // the rows left over by rounding go to the first part.
  void load_split(const YAML::Node& node, DataSpec& data, bool has_table) {
    if (!document_.expect_map(node, "data.split")) {
      return;
    }
    if (!has_table) {
      document_.error(node,
                      "data.split divides the source's own rows: give data.n (drawn sources) or use a csv source");
      return;
    }
    const auto total = data.source.rows;
    double sum = 0.0;
    std::vector<SetSpec> parts;
    for (const auto& entry : node) {
      SetSpec part;
      part.name = entry.first.Scalar();
      part.origin = SetSpec::Origin::split;
      part.location = document_.where(entry.first);
      if (!set_name(entry.first, data, parts)) {
        continue;
      }
      part.fraction = document_.number(entry.second, "split '" + part.name + "'", constants_);
      if (!(part.fraction > 0 && part.fraction <= 1)) {
        document_.error(entry.second,
                        "split '" + part.name + "' must be a fraction in (0, 1], found " + entry.second.Scalar());
        continue;
      }
      sum += part.fraction;
      part.rows = static_cast<std::int64_t>(std::floor(part.fraction * static_cast<double>(total)));
      parts.push_back(std::move(part));
    }
    if (sum > 1.0 + 1e-9) {
      document_.error(node, "data.split fractions add up to " + to_string(ParameterValue{sum}) + ", more than 1");
      return;
    }
    std::int64_t used = 0;
    for (const auto& part : parts) {
      used += part.rows;
    }
    if (!parts.empty() && std::abs(sum - 1.0) <= 1e-9) {
      parts.front().rows += total - used;
    }
    if (total > std::numeric_limits<std::uint32_t>::max()) {
      document_.error(node,
                      "data.split: at most 4294967295 rows can be shuffled, the source has " + std::to_string(total));
    }
    std::int64_t begin = 0;
    for (auto& part : parts) {
      if (part.rows == 0) {
        document_.error(node[part.name], "split '" + part.name + "' gets no rows (" +
                                             to_string(ParameterValue{part.fraction}) + " of " + std::to_string(total) +
                                             ")");
      }
      part.begin = begin;
      begin += part.rows;
      data.sets.push_back(std::move(part));
    }
  }

  bool set_name(const YAML::Node& key, const DataSpec& data, const std::vector<SetSpec>& pending) {
    const auto& name = key.Scalar();
    if (!is_plain_name(name)) {
      document_.error(key, "set '" + printable(name) + "': names use only letters, digits, '_', '.', '-'");
      return false;
    }
    if (const auto problem = file_name_problem(name); !problem.empty()) {
      document_.error(key, "set '" + printable(name) + "': " + problem);
      return false;
    }
    const bool taken = data.find_set(name) != nullptr ||
                       std::any_of(pending.begin(), pending.end(), [&](const SetSpec& s) { return s.name == name; });
    if (taken) {
      document_.error(key, "set '" + name + "' is declared twice" +
                               (name == "all" ? " ('all' is the source's own rows, declared by data.n or a csv source)"
                                              : ""));
      return false;
    }
    return true;
  }

  void load_set(const YAML::Node& key, const YAML::Node& node, const YAML::Node& data_node, DataSpec& data) {
    SetSpec set;
    set.name = key.Scalar();
    set.location = document_.where(key);
    const std::string what = "set '" + set.name + "'";
    if (!set_name(key, data, {}) || !document_.expect_map(node, what)) {
      return;
    }
    document_.check_keys(node, kSetKeys, what);
    if (node["seed"]) {
      set.seed = static_cast<std::uint32_t>(
          document_.integer(node["seed"], what + " seed", 0, std::numeric_limits<std::uint32_t>::max()));
      explicit_seeds_.insert(set.name);
    }
    if (node["source"]) {
      for (const auto* key_name : {"rows", "inputs"}) {
        if (node[key_name]) {
          document_.error(node[key_name], what + " takes its rows from its own source; give '" + key_name +
                                              "' inside `source:` (as n, or inputs)");
        }
      }
      load_other_source(node["source"], data_node, what, data, set);
      data.sets.push_back(std::move(set));
      return;
    }
    set.origin = SetSpec::Origin::drawn;
    if (!data.source.is_drawn()) {
      document_.error(key, what + " would draw new rows, but a csv source has only its file's rows: use data.split, or "
                                  "`source:` for another file");
      return;
    }
    const auto saved_constants = constants_;
    for (const auto& [name, value] : data.source.constants) {
      constants_[name] = value;
    }
    if (node["inputs"] && document_.expect_map(node["inputs"], what + " inputs")) {
      const auto names = data.input_names();
      for (const auto& entry : node["inputs"]) {
        const auto& name = entry.first.Scalar();
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          document_.error(entry.first, what + " overrides unknown input '" + name + "'" + suggest(name, names));
          continue;
        }
        set.overrides.push_back(load_input(entry.first, entry.second, what + " input '" + name + "'"));
      }
    }
    constants_ = saved_constants;
    // Grids tile: the rows are a multiple of the grid columns' product (once by default).
    const auto grid_rows = grid_product(data.source.inputs, set.overrides);
    if (node["rows"]) {
      set.rows = document_.integer(node["rows"], what + " rows", 1, kMaxRows);
      check_grid_multiple(node["rows"], what + " rows", set.rows, grid_rows);
    } else if (grid_rows > 1) {
      set.rows = grid_rows;
      if (data.source.rows > 0 && data.source.rows % grid_rows == 0) {
        set.rows = data.source.rows;
      }
    } else if (data.source.rows > 0) {
      set.rows = data.source.rows;
    } else {
      document_.error(node, what + " needs 'rows' (or data.n, the default for every set)");
    }
    data.sets.push_back(std::move(set));
  }

  // The sets must fit in this machine's memory: refused here, at the line that sets their
  // size, rather than after minutes of allocation. Each cell of a set costs its float64
  // (8 bytes) and its text in data/<set>.csv (up to 25), before any model's share.
  void check_data_fits(const YAML::Node& data_node, const DataSpec& data) {
    static constexpr double kBytesPerCell = 33;
    const auto columns = static_cast<double>(data.input_names().size() + data.target_names().size());
    const double memory = physical_memory_bytes();
    double total = 0;
    const SetSpec* largest = nullptr;
    for (const auto& set : data.sets) {
      total += static_cast<double>(set.rows) * columns * kBytesPerCell;
      if (largest == nullptr || set.rows > largest->rows) {
        largest = &set;
      }
    }
    if (largest == nullptr || memory <= 0 || total <= memory) {
      return;
    }
    const auto sets = data_node["sets"];
    const YAML::Node at = largest->origin == SetSpec::Origin::all && data_node["n"] ? data_node["n"]
                          : sets && sets.IsMap() && sets[largest->name]      ? sets[largest->name]
                                                                               : data_node;
    document_.error(at, "the data sets need about " + bytes_text(total) + " (" + std::to_string(largest->rows) +
                            " rows in set '" + largest->name + "', " + std::to_string(static_cast<int>(columns)) +
                            " columns, ~" +
                            std::to_string(static_cast<int>(kBytesPerCell)) + " bytes a cell) but this machine has " +
                            bytes_text(memory) + " of memory; use fewer rows");
  }

  static double physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page_size > 0 ? static_cast<double>(pages) * static_cast<double>(page_size) : 0;
  }

  static std::string bytes_text(double bytes) {
    const char* const units[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
    std::size_t unit = 0;
    while (bytes >= 1000 && unit + 1 < std::size(units)) {
      bytes /= 1000;
      ++unit;
    }
    std::ostringstream text;
    text << std::setprecision(bytes < 10 ? 2 : 3) << bytes << " " << units[unit];
    return text.str();
  }

  // The product of the grid counts of the inputs as drawn with `overrides` (1: no grid).
  static std::int64_t grid_product(const std::vector<InputSpec>& inputs, const std::vector<InputSpec>& overrides) {
    std::int64_t product = 1;
    for (const auto& base : inputs) {
      const auto* chosen = &base.distribution;
      for (const auto& override_input : overrides) {
        if (override_input.name == base.name) {
          chosen = &override_input.distribution;
        }
      }
      // Only a count that passed its checks (an integer from 2 to 10^7): a refused one,
      // which may be 0, negative or beyond any integer, has its own error already.
      const auto& arguments = chosen->arguments;
      if (chosen->is_grid() && arguments.size() == 3 && arguments[0] < arguments[1] && arguments[2] >= 2 &&
          arguments[2] <= 1e7 && arguments[2] == std::floor(arguments[2])) {
        product = std::min<std::int64_t>(product * static_cast<std::int64_t>(arguments[2]), kMaxRows + 1);
      }
    }
    return product;
  }

  void check_grid_multiple(const YAML::Node& node, const std::string& what, std::int64_t rows, std::int64_t grid) {
    if (grid > kMaxRows) {
      document_.error(node, what + ": the grids make more than " + std::to_string(kMaxRows) + " rows");
    } else if (rows % grid != 0) {
      document_.error(node, what + " must be a multiple of " + std::to_string(grid) +
                                ", the number of grid points (the grid is repeated rows/" + std::to_string(grid) +
                                " times)");
    }
  }

  // A set from another source. Keys not written are taken from the pipeline's `data`
  // when the source is of the same kind; its inputs and targets must be the pipeline's.
  void load_other_source(const YAML::Node& node, const YAML::Node& data_node, const std::string& what,
                         const DataSpec& data, SetSpec& set) {
    set.origin = SetSpec::Origin::other;
    if (!document_.expect_map(node, what + " source")) {
      return;
    }
    const std::string kind = node["source"] && node["source"].IsScalar() ? node["source"].Scalar() : data.source.name();
    YAML::Node merged(YAML::NodeType::Map);
    if (kind == data.source.name()) {
      for (const auto& entry : data_node) {
        const auto& key = entry.first.Scalar();
        if (key != "sets" && key != "split" && key != "shuffle" && key != "units" && !node[key]) {
          merged[key] = entry.second;
        }
      }
    }
    for (const auto& entry : node) {
      merged[entry.first.Scalar()] = entry.second;
    }
    const auto errors_before = document_.error_count();
    auto source = load_source(merged, what + " source", &data.source, {});
    if (document_.error_count() != errors_before) {
      return;
    }
    if (source.input_names() != data.input_names() || source.target_names() != data.target_names()) {
      document_.error(node, what + " source must have the pipeline's inputs (" + join(data.input_names()) +
                                ") and targets (" + join(data.target_names()) + "), in this order; found inputs (" +
                                join(source.input_names()) + ") and targets (" + join(source.target_names()) + ")");
      return;
    }
    if (source.rows == 0) {
      document_.error(node, what + " source needs n, its number of rows");
      return;
    }
    set.rows = source.rows;
    set.source = std::make_shared<const SourceSpec>(std::move(source));
  }

  YamlDocument& document_;
  const PluginCatalog& catalog_;
  Expression::ScalarBindings constants_;  // declared so far in the source being read
  std::set<std::string> declared_names_;  // inputs, targets and constants of the source being read
  std::set<std::string> explicit_seeds_;  // sets with a `seed:` of their own
};

}  // namespace

DataSection read_data_section(YamlDocument& document, const PluginCatalog& catalog, const YAML::Node& node) {
  return DataSectionReader(document, catalog).read(node);
}

}  // namespace ballista::host
