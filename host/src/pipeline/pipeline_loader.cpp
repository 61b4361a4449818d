// YAML → Pipeline, with every error located and all of them reported at once: the
// top-level keys, the models (and their sweeps) and the evaluation, read through a
// YamlDocument; the `data` section is data_section.cpp's.
#include "pipeline_loader.hpp"

#include "data_section.hpp"
#include "fnv1a.hpp"
#include "pipeline_names.hpp"
#include "plugin_parameters.hpp"
#include "yaml_document.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

namespace ballista::host {

namespace {

const std::vector<std::string> kEvaluateKeys{"sets", "metrics", "probes"};
const std::vector<std::string> kMetrics{"mse", "rmse", "mae", "r2", "max_error"};

// Seeds derived from the pipeline seed and a label: SplitMix64 over seed ⊕ FNV-1a(label).
std::uint64_t derive_seed(std::uint64_t seed, const std::string& label) {
  std::uint64_t z = seed ^ fnv1a(label);
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

class Loader {
 public:
  Loader(std::filesystem::path file, const PluginCatalog& catalog, std::vector<std::string> overrides)
      : file_(std::move(file)), catalog_(catalog), document_(file_, std::move(overrides)) {}

  Pipeline load() {
    YAML::Node root = document_.top_level();
    Pipeline pipeline;
    pipeline.file = file_;
    pipeline.name = file_.stem().string();
    document_.check_keys(root, kTopKeys, "the pipeline");
    // The name is a directory under runs/, beside runs/latest.
    const auto name_problem = [](const std::string& name) -> std::string {
      if (!is_plain_name(name)) {
        return "name must use only letters, digits, '_', '.', '-'";
      }
      if (name == "latest") {
        return "name 'latest' is taken by the link runs/latest";
      }
      const auto problem = file_name_problem(name);
      return problem.empty() ? "" : "name: " + problem;
    };
    if (root["name"]) {
      pipeline.name = document_.scalar_string(root["name"], "name");
      if (const auto problem = name_problem(pipeline.name); !problem.empty()) {
        document_.error(root["name"], problem + ", found '" + printable(pipeline.name) + "'");
      }
    } else {
      // Named after its file: characters a name cannot have become '_' ("my run.yaml"
      // runs as my_run), but a name that would still escape or clash is refused.
      for (auto& c : pipeline.name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-')) {
          c = '_';
        }
      }
      if (const auto problem = name_problem(pipeline.name); !problem.empty()) {
        document_.error(root, "the pipeline has no `name:` and its file name cannot be one (" + problem + ", found '" +
                                  printable(pipeline.name) + "'); add `name: ...`");
      }
    }
    if (root["seed"]) {
      pipeline.seed = static_cast<std::uint32_t>(
          document_.integer(root["seed"], "seed", 0, std::numeric_limits<std::uint32_t>::max()));
    }
    if (document_.require(root, "data", "the pipeline")) {
      auto data = read_data_section(document_, catalog_, root["data"]);
      pipeline.data = std::move(data.data);
      explicit_seeds_ = std::move(data.explicit_seeds);
      constants_ = std::move(data.constants);
    }
    resolve_train_set(root, pipeline);
    resolve_set_seeds(pipeline);
    if (document_.require(root, "models", "the pipeline")) {
      load_models(root["models"], pipeline);
    }
    load_evaluation(root["evaluate"], pipeline);
    document_.throw_if_errors();
    return pipeline;
  }

 private:
  // --- the training set and the sets' seeds ---------------------------------------
  void resolve_train_set(const YAML::Node& root, Pipeline& pipeline) {
    std::vector<std::string> names;
    for (const auto& set : pipeline.data.sets) {
      names.push_back(set.name);
    }
    if (root["train"]) {
      pipeline.train_set = document_.scalar_string(root["train"], "train");
      if (!names.empty() && pipeline.data.find_set(pipeline.train_set) == nullptr) {
        document_.error(root["train"], "train names unknown set '" + pipeline.train_set + "'" +
                                           suggest(pipeline.train_set, names) +
                                           (pipeline.train_set == "all"
                                                ? "; 'all' exists when data.n is given or the source is a csv file"
                                                : ""));
      }
    } else if (pipeline.data.find_set("train") != nullptr) {
      pipeline.train_set = "train";
    } else if (!names.empty()) {
      pipeline.train_set = names.front();
    }
  }

  // The source's own table draws from the pipeline seed itself (so `seed: 0` reproduces
  // np.random.seed(0)); so does a drawn training set when there is no such table. Every
  // other set draws from a seed derived from its name, the shuffle from "split".
  void resolve_set_seeds(Pipeline& pipeline) const {
    auto& data = pipeline.data;
    data.seed = pipeline.seed;
    data.split_seed = static_cast<std::uint32_t>(derive_seed(pipeline.seed, "split"));
    const bool has_table = data.find_set("all") != nullptr && data.find_set("all")->origin == SetSpec::Origin::all;
    for (auto& set : data.sets) {
      if (set.origin == SetSpec::Origin::all || set.origin == SetSpec::Origin::split) {
        set.seed = set.origin == SetSpec::Origin::all ? data.seed : data.split_seed;
        continue;
      }
      if (explicit_seeds_.count(set.name) != 0) {
        continue;
      }
      set.seed = set.name == pipeline.train_set && !has_table
                     ? pipeline.seed
                     : static_cast<std::uint32_t>(derive_seed(pipeline.seed, "set/" + set.name));
    }
  }

  // --- models -------------------------------------------------------------------
  void load_models(const YAML::Node& node, Pipeline& pipeline) {
    if (!document_.expect_map(node, "models")) {
      return;
    }
    if (node.size() == 0) {
      document_.error(node, "models must declare at least one model");
    }
    std::set<std::string> names;
    for (const auto& entry : node) {
      names.insert(entry.first.Scalar());
    }
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      const std::string what = "model '" + name + "'";
      // Also the characters of a swept model's name, so a resolved pipeline reloads.
      if (!is_word(name, true, "_.-", "_.-@,=+[]^*()")) {
        document_.error(entry.first, "model '" + printable(name) + "': names use only letters, digits, '_', '.', '-'");
        continue;
      }
      if (const auto problem = file_name_problem(name); !problem.empty()) {
        document_.error(entry.first, "model '" + printable(name) + "': " + problem);
        continue;
      }
      if (!document_.expect_map(entry.second, what) || !document_.require(entry.second, "plugin", what)) {
        continue;
      }
      const auto plugin_name = document_.scalar_string(entry.second["plugin"], what + " plugin");
      if (plugin_name.empty()) {
        continue;  // reported by scalar_string
      }
      const auto* plugin = catalog_.find(plugin_name);
      if (plugin == nullptr || plugin->kind != PluginKind::model) {
        std::vector<std::string> known;
        for (const auto& candidate : catalog_.available()) {
          if (candidate.kind == PluginKind::model) {
            known.push_back(candidate.name);
          }
        }
        const auto* refusal = catalog_.refusal_for(plugin_name);
        document_.error(entry.second["plugin"],
                        what + " uses " +
                            (plugin != nullptr ? "'" + plugin_name + "', a data source plugin, not a model"
                             : refusal != nullptr
                                 ? "plugin '" + plugin_name + "', which was found in " + refusal->file.string() +
                                       " but refused: " + refusal->reason
                                 : "unknown plugin '" + plugin_name + "'" + did_you_mean(plugin_name, known)) +
                            "; model plugins found: " + (known.empty() ? "none" : join(known)) +
                            " (see `ballista plugins --verbose`)");
        continue;
      }
      std::vector<std::string> keys{"plugin", "seed"};
      for (const auto& spec : plugin->parameters()) {
        keys.push_back(spec.name());
      }
      document_.check_keys(entry.second, keys, what + " (plugin " + plugin_name + ")");
      const auto variants = sweep_variants(entry.second, what, pipeline.models.size());
      if (!variants) {
        continue;
      }
      for (const auto& variant : *variants) {
        const ModelView view{entry.second, variant};
        ModelSpec model;
        model.name = name;
        for (const auto& swept : variant) {
          model.name += (model.swept.empty() ? "@" : ",") + swept.parameter + "=" + swept.label;
          model.swept.emplace_back(swept.parameter, swept.label);
        }
        model.swept_from = variant.empty() ? "" : name;
        model.location = document_.where(entry.first);
        // Variants of a sweep share the seed, so they differ by the swept values alone.
        model.seed = derive_seed(pipeline.seed, "model/" + name);
        if (const auto seed = view["seed"];
            seed && !decode_decimal(seed, model.seed)) {
          document_.error(seed, what + " seed must be an integer from 0 to 18446744073709551615, found " +
                                    describe_node(seed));
        }
        model.plugin = plugin_name;
        if (model.name.size() > kMaxNameLength) {
          document_.error(entry.first, "the sweep of " + what + " makes a model name of " +
                                           std::to_string(model.name.size()) + " characters, '" +
                                           model.name.substr(0, 60) + "...'; names are at most " +
                                           std::to_string(kMaxNameLength) + " characters (they become file names)");
          break;
        }
        if (!variant.empty() && !names.insert(model.name).second) {
          document_.error(entry.first,
                          "the sweep of " + what + " makes a model '" + model.name + "' that already exists");
          continue;
        }
        if (load_parameters(view, *plugin, "model '" + model.name + "'", pipeline.data, model)) {
          pipeline.models.push_back(std::move(model));
        }
      }
    }
  }

  // At most this many models in a pipeline, counting every sweep's grid.
  static constexpr std::size_t kMaxModels = 10000;

  // `lr: {sweep: [0.1, 0.01]}` makes one variant per value; several swept parameters
  // make their grid, the first swept parameter varying slowest. The grid's size is
  // counted before any variant is made, so an oversized sweep is refused at once.
  std::optional<std::vector<Variant>> sweep_variants(const YAML::Node& model, const std::string& what,
                                                     std::size_t models_before) {
    std::vector<std::pair<std::string, YAML::Node>> sweeps;
    std::size_t count = 1;
    for (const auto& entry : model) {
      const auto& parameter = entry.first.Scalar();
      const auto& value = entry.second;
      if (!value.IsMap() || !value["sweep"]) {
        continue;
      }
      if (value.size() != 1 || !value["sweep"].IsSequence() || value["sweep"].size() == 0 || parameter == "plugin") {
        document_.error(value, what + " parameter '" + parameter + "': a sweep is {sweep: [value, value, ...]}" +
                                   (parameter == "plugin" ? " over parameters, not over the plugin"
                                                          : " with at least one value"));
        return std::nullopt;
      }
      const std::size_t values = value["sweep"].size();
      sweeps.emplace_back(parameter, value["sweep"]);
      // Refused as soon as the count passes the cap, so it stays far from overflowing
      // (at most 10^4 times a sequence's length, itself under the document's 10^6 nodes).
      count *= values;
      if (models_before + count > kMaxModels) {
        std::string sizes;
        for (const auto& [name, sequence] : sweeps) {
          sizes += (sizes.empty() ? "" : " x ") + std::to_string(sequence.size()) + " (" + name + ")";
        }
        document_.error(value, what + ": the sweep makes " + (sweeps.size() > 1 ? sizes + " = " : "") +
          std::to_string(count) + " models" +
                                   (models_before > 0 ? ", " + std::to_string(models_before + count) + " with the " +
                                                            std::to_string(models_before) + " before it"
                                                      : "") +
                                   "; a pipeline runs at most " + std::to_string(kMaxModels) + " models");
        return std::nullopt;
      }
    }
    std::vector<Variant> variants;
    variants.reserve(count);
    std::vector<std::size_t> index(sweeps.size(), 0);
    for (std::size_t made = 0; made < count; ++made) {
      Variant variant;
      variant.reserve(sweeps.size());
      for (std::size_t i = 0; i < sweeps.size(); ++i) {
        const YAML::Node& sequence = sweeps[i].second;
        const auto element = sequence[index[i]];
        variant.push_back({sweeps[i].first, element, sweep_label(element)});
      }
      variants.push_back(std::move(variant));
      // Odometer: the last swept parameter varies fastest.
      for (std::size_t i = sweeps.size(); i-- > 0;) {
        if (++index[i] < sweeps[i].second.size()) {
          break;
        }
        index[i] = 0;
      }
    }
    return variants;
  }

  // A swept value as it appears in the model's name (and file name): the YAML text,
  // lists as [a,b]; characters unsafe in file names become '_'.
  static std::string sweep_label(const YAML::Node& value) {
    std::string text;
    if (value.IsSequence()) {
      text = "[";
      for (std::size_t i = 0; i < value.size(); ++i) {
        text += (i == 0 ? "" : ",") + (value[i].IsScalar() ? value[i].Scalar() : std::string("?"));
      }
      text += "]";
    } else if (value.IsScalar()) {
      text = value.Scalar();
    } else {
      text = "?";
    }
    for (auto& c : text) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_.,=+-[]^*()").find(c) != std::string_view::npos)) {
        c = '_';
      }
    }
    return text;
  }

  bool load_parameters(const ModelView& view, const LoadedPlugin& plugin, const std::string& what,
                       const DataSpec& data, ModelSpec& model) {
    const std::size_t errors_before = document_.error_count();
    auto parameters = plugin_parameters(document_, view, plugin, what);
    if (!parameters || document_.error_count() != errors_before) {
      return false;
    }
    model.parameters = std::move(*parameters);
    // The plugin's own checks (an expression that does not parse, say), located where
    // the user wrote the parameter.
    std::unique_ptr<Model> created;
    try {
      created = plugin.definition.create(model.parameters);
    } catch (const ParameterError& problem) {
      document_.error(view[problem.parameter()] ? view[problem.parameter()] : view.node,
                      what + " parameter '" + problem.parameter() + "': " + problem.what());
      return false;
    } catch (const std::exception& problem) {
      document_.error(view.node, what + ": plugin " + plugin.name + " rejected the parameters: " + problem.what());
      return false;
    } catch (...) {
      document_.error(view.node,
                      what + ": plugin " + plugin.name + " failed to build the model: " + non_standard_exception());
      return false;
    }
    const bool expressions_fine = expressions_read_the_data(view, plugin, what, data, model.parameters);
    const bool names_fine = created == nullptr || names_are_in_the_data(view, plugin, what, data, *created);
    return expressions_fine && names_fine;
  }

  // A model that reads particular inputs, or predicts particular targets, by name
  // (Model::required_inputs, required_targets) needs every one of those inputs in the
  // data, and must predict every target of the data: otherwise its fit() would end the
  // run. Names the data does not know yet (its own section failed) are not judged.
  bool names_are_in_the_data(const ModelView& view, const LoadedPlugin& plugin, const std::string& what,
                             const DataSpec& data, const Model& model) {
    std::vector<std::string> needed;
    std::vector<std::string> predicted;
    try {
      needed = model.required_inputs();
      predicted = model.required_targets();
    } catch (const std::exception& problem) {
      document_.error(view.node, what + ": plugin " + plugin.name +
                                     " failed to say which inputs and targets it needs: " + problem.what());
      return false;
    } catch (...) {
      document_.error(view.node, what + ": plugin " + plugin.name +
                                     " failed to say which inputs and targets it needs: " + non_standard_exception());
      return false;
    }
    if (needed.empty() && predicted.empty()) {
      return true;  // most plugins: any inputs and targets, so no lists of names to build per model
    }
    const auto shown = [](const std::vector<std::string>& names) {
      std::string text;
      for (const auto& name : names) {
        text += (text.empty() ? "" : ", ") + printable(name);
      }
      return text;
    };
    bool fine = true;
    // A needed name may also be one of the pipeline's constants (data.constants): the
    // model reads those from Dataset::constants.
    if (const auto inputs = data.input_names(); !needed.empty() && !inputs.empty()) {
      const auto& constants = data.source.constants;
      std::vector<std::string> constant_names;
      for (const auto& constant : constants) {
        constant_names.push_back(constant.first);
      }
      for (const auto& name : needed) {
        if (std::find(inputs.begin(), inputs.end(), name) == inputs.end() &&
            std::find(constant_names.begin(), constant_names.end(), name) == constant_names.end()) {
          document_.error(view.node, what + ": plugin " + plugin.name + " needs input '" + printable(name) +
                                         "', which the data does not have (its inputs: " + join(inputs) +
                                         (constant_names.empty() ? "" : "; its constants: " + join(constant_names)) +
                                         ")");
          fine = false;
        }
      }
    }
    if (!predicted.empty()) {
      for (const auto& name : data.target_names()) {
        if (std::find(predicted.begin(), predicted.end(), name) == predicted.end()) {
          document_.error(view.node, what + ": the data's target '" + name + "' is not one plugin " + plugin.name +
                                         " predicts (it predicts: " + shown(predicted) + ")");
          fine = false;
        }
      }
    }
    return fine;
  }

  // Parameters declared as expressions() read only the data's inputs and constants (and
  // pi, e): a name that is neither would end the run when the model is fitted.
  bool expressions_read_the_data(const ModelView& view, const LoadedPlugin& plugin, const std::string& what,
                                 const DataSpec& data, const Parameters& parameters) {
    const auto& specs = plugin.parameters();
    if (std::none_of(specs.begin(), specs.end(), [](const ParameterSpec& spec) { return spec.is_expression(); })) {
      return true;  // most plugins: nothing to check, so no lists of names to build per model
    }
    auto known = data.input_names();
    for (const auto& [name, value] : data.source.constants) {
      known.push_back(name);
    }
    std::string known_text;
    for (const auto& name : data.input_names()) {
      known_text += (known_text.empty() ? "inputs: " : ", ") + name;
    }
    if (!data.source.constants.empty()) {
      known_text += "; constants: ";
      for (std::size_t i = 0; i < data.source.constants.size(); ++i) {
        known_text += (i == 0 ? "" : ", ") + data.source.constants[i].first;
      }
    }
    known_text += "; pi, e";
    bool fine = true;
    for (const auto& spec : plugin.parameters()) {
      if (!spec.is_expression()) {
        continue;
      }
      const auto& value = parameters.values().at(spec.name());
      const auto* one = std::get_if<std::string>(&value);
      const auto texts = one != nullptr ? std::vector<std::string>{*one} : std::get<std::vector<std::string>>(value);
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const auto label = spec.name() + (one != nullptr ? "" : "[" + std::to_string(i) + "]");
        const auto located = view[spec.name()] ? view[spec.name()] : view.node;
        try {
          for (const auto& name : Expression::parse(texts[i]).names()) {
            if (name != "pi" && name != "e" && std::find(known.begin(), known.end(), name) == known.end()) {
              document_.error(located, what + " parameter '" + spec.name() + "': " + label + " '" +
                                         printable(texts[i]) + "' reads '" + name +
                                         "', which is not an input or a constant of the data (" + known_text + ")" +
                                         suggest(name, known));
              fine = false;
            }
          }
        } catch (const ExpressionError& problem) {
          document_.error(located, what + " parameter '" + spec.name() + "': " + label + " '" + printable(texts[i]) +
                                     "': " + problem.what());
          fine = false;
        }
      }
    }
    return fine;
  }

  // --- evaluation -----------------------------------------------------------------
  void load_evaluation(const YAML::Node& node, Pipeline& pipeline) {
    auto& evaluation = pipeline.evaluation;
    evaluation.metrics = {"mse"};
    std::vector<std::string> set_names;
    for (const auto& set : pipeline.data.sets) {
      set_names.push_back(set.name);
    }
    // By default every set; `all` only when it is trained on or is the only one, since
    // the splits of a table already cover its rows.
    for (const auto& set : pipeline.data.sets) {
      if (set.origin != SetSpec::Origin::all || set.name == pipeline.train_set || pipeline.data.sets.size() == 1) {
        evaluation.sets.push_back(set.name);
      }
    }
    if (!node) {
      return;
    }
    if (!document_.expect_map(node, "evaluate")) {
      return;
    }
    document_.check_keys(node, kEvaluateKeys, "evaluate");
    if (node["sets"] && document_.expect_sequence(node["sets"], "evaluate.sets")) {
      evaluation.sets.clear();
      for (const auto& element : node["sets"]) {
        const auto name = document_.scalar_string(element, "evaluate.sets entry");
        if (!set_names.empty() && std::find(set_names.begin(), set_names.end(), name) == set_names.end()) {
          document_.error(element, "evaluate.sets names unknown set '" + name + "'" + suggest(name, set_names));
        }
        if (std::find(evaluation.sets.begin(), evaluation.sets.end(), name) != evaluation.sets.end()) {
          document_.error(element, "evaluate.sets names set '" + name + "' twice");
        }
        evaluation.sets.push_back(name);
      }
    }
    if (node["metrics"] && document_.expect_sequence(node["metrics"], "evaluate.metrics")) {
      evaluation.metrics.clear();
      for (const auto& element : node["metrics"]) {
        const auto name = document_.scalar_string(element, "evaluate.metrics entry");
        if (std::find(kMetrics.begin(), kMetrics.end(), name) == kMetrics.end()) {
          document_.error(element, "unknown metric '" + name + "'" + suggest(name, kMetrics));
        }
        if (std::find(evaluation.metrics.begin(), evaluation.metrics.end(), name) != evaluation.metrics.end()) {
          document_.error(element, "evaluate.metrics names metric '" + name + "' twice");
        }
        evaluation.metrics.push_back(name);
      }
    }
    if (node["probes"] && document_.expect_sequence(node["probes"], "evaluate.probes")) {
      const auto inputs = pipeline.data.input_names();
      for (const auto& element : node["probes"]) {
        if (!document_.expect_map(element, "a probe")) {
          continue;
        }
        document_.check_keys(element, inputs, "a probe");
        ProbeSpec probe;
        for (const auto& input : inputs) {
          if (document_.require(element, input, "a probe")) {
            probe.point.push_back(document_.number(element[input], "probe input '" + input + "'", constants_));
          }
        }
        evaluation.probes.push_back(std::move(probe));
      }
    }
  }

  std::filesystem::path file_;
  const PluginCatalog& catalog_;
  YamlDocument document_;
  Expression::ScalarBindings constants_;  // the data's, for the probes
  std::set<std::string> explicit_seeds_;  // sets with a `seed:` of their own
};

}  // namespace

Pipeline load_pipeline(const std::filesystem::path& file, const PluginCatalog& catalog,
                       const std::vector<std::string>& overrides) {
  return Loader(file, catalog, overrides).load();
}

}  // namespace ballista::host
