// Pipeline validation: every error located (file:line:column), explained, and all of
// them reported at once.
#include "pipeline_loader.hpp"
#include "resolved_yaml.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>

namespace test = ballista::test;
using namespace ballista::host;

namespace {

const char* const kValidData = R"(data:
  constants: {g: 9.81}
  inputs:
    v: uniform(0, 10)
    theta: uniform(0, pi/2)
  targets:
    s: v^2*sin(2*theta)/g
  sets:
    train: {rows: 50}
)";

struct Fixture {
  Fixture() : catalog({test::plugin_dir()}) {}
  Pipeline load(const std::string& text) const {
    const auto file = directory.path() / "pipeline.yaml";
    std::ofstream(file) << text;
    return load_pipeline(file, catalog);
  }
  std::vector<Diagnostic> errors(const std::string& text) const {
    try {
      (void)load(text);
    } catch (const InputError& error) {
      return error.diagnostics();
    }
    BOOST_FAIL("the pipeline loaded but should not have");
    return {};
  }
  test::TemporaryDirectory directory;
  PluginCatalog catalog;
};

bool has(const std::vector<Diagnostic>& diagnostics, int line, int column, const std::string& text) {
  for (const auto& diagnostic : diagnostics) {
    if (diagnostic.location.line == line && diagnostic.location.column == column &&
        diagnostic.message.find(text) != std::string::npos) {
      return true;
    }
  }
  std::string all;
  for (const auto& diagnostic : diagnostics) {
    all += diagnostic.str() + "\n";
  }
  BOOST_TEST_MESSAGE("looked for " << line << ":" << column << " '" << text << "' in\n" << all);
  return false;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(pipeline_loader, Fixture)

BOOST_AUTO_TEST_CASE(the_cannon_pipeline_loads_with_defaults_filled_in) {
  const auto pipeline = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog);
  BOOST_TEST(pipeline.name == "cannon");
  BOOST_TEST(pipeline.seed == 0U);
  BOOST_TEST(pipeline.train_set == "all");
  BOOST_TEST(pipeline.models.size() == 6U);
  BOOST_TEST(pipeline.data.find_set("all")->seed == 0U);  // the article's np.random.seed(0)
  BOOST_TEST(pipeline.data.find_set("all")->rows == 1000);
  BOOST_TEST(pipeline.data.find_set("test")->seed != 0U);
  BOOST_TEST(pipeline.data.find_set("test")->rows == 1000);
  BOOST_TEST(pipeline.evaluation.probes.size() == 2U);
  const auto& mlp = pipeline.models.back();
  BOOST_TEST(mlp.parameters.get<std::string>("activation") == "sigmoid");
  BOOST_TEST((mlp.parameters.get<std::vector<std::int64_t>>("hidden") == std::vector<std::int64_t>{256, 256}));
  const auto& knn = pipeline.models.front();
  BOOST_TEST(knn.parameters.get<std::int64_t>("k") == 1);
}

BOOST_AUTO_TEST_CASE(resolved_yaml_loads_back_to_the_same_pipeline) {
  for (const auto& overrides : {std::vector<std::string>{},
                                std::vector<std::string>{"data.split={fit: 0.8, check: 0.2}", "train=fit",
                                                         "models.mlp.lr={sweep: [0.1, 0.01]}",
                                                         "data.sets.plot={inputs: {v: 'grid(0, 20, 5)'}}",
                                                         "data.targets.s.noise={relative: 0.1}"}}) {
    const auto original = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog, overrides);
    const auto again = load(resolved_yaml(original, catalog));
    BOOST_TEST(resolved_yaml(again, catalog) == resolved_yaml(original, catalog));
    BOOST_TEST(again.data.find_set("far")->seed == original.data.find_set("far")->seed);
    BOOST_TEST(again.models.back().seed == original.models.back().seed);
    BOOST_TEST((again.data.units == original.data.units));
  }
}

BOOST_AUTO_TEST_CASE(units_label_inputs_and_targets_and_only_those) {
  const auto pipeline = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog);
  BOOST_TEST((pipeline.data.units == std::map<std::string, std::string>{{"v", "m/s"}, {"theta", "rad"}, {"s", "m"}}));
  BOOST_TEST(pipeline.data.label("v") == "v [m/s]");
  const auto partial = load(std::string(kValidData) + "  units: {s: m}\nmodels:\n  line: {plugin: linear}\n");
  BOOST_TEST(partial.data.label("s") == "s [m]");
  BOOST_TEST(partial.data.label("v") == "v");  // no unit given: the bare name
  const auto diagnostics =
      errors(std::string(kValidData) + "  units: {vv: m/s, s: [m]}\nmodels:\n  line: {plugin: linear}\n");
  BOOST_TEST(has(diagnostics, 10, 11, "data.units: 'vv' is neither an input, a target nor a constant (did you mean 'v'?)"));
  BOOST_TEST(has(diagnostics, 10, 23, "the unit of 's'"));
}

BOOST_AUTO_TEST_CASE(unknown_keys_get_a_did_you_mean) {
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  mlp:
    plugin: mlp
    epoch: 10
)");
  BOOST_TEST(has(diagnostics, 13, 5, "unknown key 'epoch' in model 'mlp' (plugin mlp) (did you mean 'epochs'?)"));
}

BOOST_AUTO_TEST_CASE(wrong_types_and_ranges_name_what_is_allowed) {
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  a:
    plugin: mlp
    lr: fast
    activation: swish
    hidden: [256, 0]
  b:
    plugin: knn
    k: 0
)");
  BOOST_TEST(has(diagnostics, 13, 9, "parameter 'lr' must be real > 0, found 'fast'"));
  BOOST_TEST(has(diagnostics, 14, 17, "must be one of: sigmoid, tanh, relu, gelu, silu, got 'swish'"));
  BOOST_TEST(has(diagnostics, 15, 13, "every element must be >= 1, got 0"));
  BOOST_TEST(has(diagnostics, 18, 8, "parameter 'k' must be integer >= 1, got 0"));
  BOOST_TEST(diagnostics.size() == 4U);  // all of them, not just the first
}

BOOST_AUTO_TEST_CASE(unknown_plugins_list_the_plugins_found) {
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  m:
    plugin: mpl
)");
  BOOST_TEST(has(diagnostics, 12, 13, "unknown plugin 'mpl' (did you mean 'mlp'?); model plugins found: "));
}

BOOST_AUTO_TEST_CASE(plugin_checks_are_located_at_the_parameter) {
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  m:
    plugin: basis
    functions: [v, v^2*sin(2theta)]
)");
  BOOST_TEST(has(diagnostics, 13, 16, "functions[1] 'v^2*sin(2theta)': expected ')' to close the call of sin at column 10"));
}

BOOST_AUTO_TEST_CASE(a_basis_model_needs_functions_or_a_library) {
  // The factory's ParameterError, at the model's `plugin` line.
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  m:
    plugin: basis
)");
  BOOST_TEST(has(diagnostics, 12, 5, "model 'm' parameter 'functions': give `functions`, a `library`, or both"));
}

BOOST_AUTO_TEST_CASE(data_errors_are_located) {
  const auto diagnostics = errors(R"(seed: -1
data:
  inputs:
    v: uniform(10, 0)
    w: gaussian(0, 1)
  targets:
    s: v^2 + q
  sets:
    train: {rows: 0}
models:
  m: {plugin: knn}
evaluate:
  sets: [train, tset]
  metrics: [mse, mape]
  probes:
    - {v: 1}
)");
  BOOST_TEST(has(diagnostics, 1, 7, "seed must be between 0 and 4294967295, found -1"));
  BOOST_TEST(has(diagnostics, 4, 8, "uniform(low, high) needs low < high"));
  BOOST_TEST(has(diagnostics, 5, 8, "unknown distribution 'gaussian'"));
  BOOST_TEST(has(diagnostics, 7, 8, "uses unknown name 'q'"));
  BOOST_TEST(has(diagnostics, 9, 19, "set 'train' rows must be between 1 and"));
  BOOST_TEST(has(diagnostics, 13, 17, "unknown set 'tset' (allowed: train)"));
  BOOST_TEST(has(diagnostics, 14, 18, "unknown metric 'mape'"));
  BOOST_TEST(has(diagnostics, 16, 7, "a probe needs the key 'w'"));
}

BOOST_AUTO_TEST_CASE(names_may_not_shadow_the_expression_language) {
  const auto diagnostics = errors(R"(data:
  constants: {pi: 3}
  inputs:
    sqrt: uniform(0, 1)
    2x: uniform(0, 1)
  targets: {s: 1}
  sets: {train: {rows: 5}}
models: {m: {plugin: knn}}
)");
  BOOST_TEST(has(diagnostics, 2, 15, "constant 'pi' is a built-in name of the expression language"));
  BOOST_TEST(has(diagnostics, 4, 5, "input 'sqrt' is a built-in name of the expression language"));
  BOOST_TEST(has(diagnostics, 5, 5, "input '2x' must be an identifier"));
}

BOOST_AUTO_TEST_CASE(command_line_overrides_change_the_pipeline_before_validation) {
  const auto file = test::source_dir() / "configs/cannon.yaml";
  const auto pipeline = load_pipeline(file, catalog,
                                      {"models.mlp.lr=0.001", "data.n=5000", "models.knn.k=3",
                                       "models.mlp.hidden=[8, 4]"});
  const auto& mlp = pipeline.models.back();
  BOOST_TEST(mlp.parameters.get<double>("lr") == 0.001);
  BOOST_TEST((mlp.parameters.get<std::vector<std::int64_t>>("hidden") == std::vector<std::int64_t>{8, 4}));
  BOOST_TEST(pipeline.data.find_set("all")->rows == 5000);
  BOOST_TEST(pipeline.models.front().parameters.get<std::int64_t>("k") == 3);
  // The override is part of the resolved pipeline a run directory keeps.
  BOOST_TEST(resolved_yaml(pipeline, catalog).find("lr: 0.001") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(command_line_overrides_are_validated_and_named_in_errors) {
  try {
    (void)load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog,
                        {"models.mpl.lr=2", "models.knn.k=0", "models.knn.kk=2", "nonsense", "seed=[1"});
    BOOST_FAIL("bad overrides accepted");
  } catch (const InputError& error) {
    const std::string all = error.what();
    BOOST_TEST(all.find("--set models.mpl.lr=2: error: no mapping 'mpl' under 'models' (did you mean 'mlp'?)") !=
                   std::string::npos,
               all);
    BOOST_TEST(all.find("--set models.knn.k=0: error: model 'knn' parameter 'k' must be integer >= 1, got 0") !=
                   std::string::npos,
               all);
    BOOST_TEST(all.find("--set models.knn.kk=2: error: unknown key 'kk'") != std::string::npos, all);
    BOOST_TEST(all.find("--set nonsense: error: expected KEY.PATH=VALUE") != std::string::npos, all);
    BOOST_TEST(all.find("--set seed=[1: error: the value is not valid YAML") != std::string::npos, all);
    BOOST_TEST(error.diagnostics().size() == 5U);
  }
}

// Issue 15: `--set KEY=null` removes the key, as `null` does in a file that extends
// another (before: "must be a mapping, found nothing" for a model).
BOOST_AUTO_TEST_CASE(command_line_null_removes_a_key_as_in_a_file_that_extends_another) {
  const auto file = test::source_dir() / "configs/cannon.yaml";
  const auto full = load_pipeline(file, catalog);
  const auto removed = load_pipeline(file, catalog, {"models.knn=null", "models.mlp.epochs=~"});
  std::vector<std::string> names;
  for (const auto& model : full.models) {
    if (model.name != "knn") {
      names.push_back(model.name);
    }
  }
  std::vector<std::string> kept;
  for (const auto& model : removed.models) {
    kept.push_back(model.name);
  }
  BOOST_TEST(kept == names);
  BOOST_REQUIRE(full.models.size() == removed.models.size() + 1);
  // The parameter removed takes its declared default again: the same as a file that
  // extends cannon.yaml and writes `epochs: null`.
  const test::TemporaryDirectory work;
  std::ofstream(work.path() / "child.yaml") << "extends: " << file.string()
                                            << "\nmodels:\n  knn: null\n  mlp: {epochs: null}\n";
  const auto extended = load_pipeline(work.path() / "child.yaml", catalog);
  std::vector<std::string> extended_names;
  for (const auto& model : extended.models) {
    extended_names.push_back(model.name);
  }
  std::sort(extended_names.begin(), extended_names.end());  // a file that extends lists its own models first
  std::sort(names.begin(), names.end());
  BOOST_TEST(extended_names == names);
  BOOST_TEST(extended.models.front().name == "mlp");
  BOOST_TEST(extended.models.front().parameters.get<std::int64_t>("epochs") ==
             removed.models.back().parameters.get<std::int64_t>("epochs"));
  const auto* mlp = &removed.models.back();
  BOOST_TEST(mlp->name == "mlp");
  const auto* spec = catalog.find("mlp");
  const auto declared = std::find_if(spec->definition.parameters.begin(), spec->definition.parameters.end(),
                                     [](const ballista::ParameterSpec& parameter) { return parameter.name() == "epochs"; });
  BOOST_REQUIRE(declared != spec->definition.parameters.end());
  BOOST_TEST(mlp->parameters.get<std::int64_t>("epochs") == std::get<std::int64_t>(declared->default_value()));
  // Removing what is not there is an error, with a suggestion.
  try {
    (void)load_pipeline(file, catalog, {"models.knm=null"});
    BOOST_FAIL("removing an absent key accepted");
  } catch (const InputError& error) {
    const std::string all = error.what();
    BOOST_TEST(all.find("--set models.knm=null: error: null removes a key, but there is no 'knm' under 'models' "
                        "(did you mean 'knn'?)") != std::string::npos,
               all);
  }
  // A quoted "null" is a string, not a removal.
  BOOST_CHECK_THROW((void)load_pipeline(file, catalog, {"models.knn=\"null\""}), InputError);
}

BOOST_AUTO_TEST_CASE(anchors_and_merge_keys_share_settings) {
  const auto pipeline = load(std::string(kValidData) + R"(models:
  small: &small {plugin: mlp, hidden: [8], epochs: 10, lr: 0.05}
  smaller_lr:
    <<: *small
    lr: 0.01
  both:
    <<: [*small, {activation: tanh}]
)");
  BOOST_REQUIRE_EQUAL(pipeline.models.size(), 3U);
  const auto& smaller = pipeline.models[1];
  BOOST_TEST(smaller.plugin == "mlp");
  BOOST_TEST(smaller.parameters.get<double>("lr") == 0.01);  // its own key wins
  BOOST_TEST(smaller.parameters.get<std::int64_t>("epochs") == 10);
  const auto& both = pipeline.models[2];
  BOOST_TEST(both.parameters.get<double>("lr") == 0.05);
  BOOST_TEST(both.parameters.get<std::string>("activation") == "tanh");
  // A bad value inherited through a merge is reported where it was written.
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  base: &base {plugin: knn, k: 0}
  copy:
    <<: *base
)");
  BOOST_TEST(has(diagnostics, 11, 32, "model 'copy' parameter 'k' must be integer >= 1, got 0"));
}

BOOST_AUTO_TEST_CASE(invalid_yaml_is_located) {
  const auto diagnostics = errors("data: [1, 2\nmodels: {}\n");
  BOOST_REQUIRE_EQUAL(diagnostics.size(), 1U);
  BOOST_TEST(diagnostics[0].location.line >= 1);
  BOOST_TEST(diagnostics[0].message.find("invalid YAML") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unquoted_distribution_in_flow_mapping_gets_a_hint) {
  const auto diagnostics = errors(R"(data:
  inputs: {v: uniform(0, 10)}
  targets: {s: v}
  sets: {train: {rows: 5}}
models: {m: {plugin: knn}}
)");
  BOOST_TEST(has(diagnostics, 2, 15, "YAML splits at commas: quote it"));
}

BOOST_AUTO_TEST_CASE(extends_fills_in_what_a_pipeline_lacks_and_locates_errors_in_the_base) {
  std::ofstream(directory.path() / "base.yaml") << std::string(kValidData) + R"(models:
  mlp: {plugin: mlp, epochs: 10, lr: 0.5}
  knn: {plugin: knn, k: 0}
evaluate: {metrics: [mae]}
)";
  const auto diagnostics = errors(R"(extends: base.yaml
models:
  mlp: {lr: 0.01}
)");
  // The error is in base.yaml, and named there.
  BOOST_REQUIRE_EQUAL(diagnostics.size(), 1U);
  BOOST_TEST(diagnostics[0].location.file.filename() == "base.yaml");
  BOOST_TEST(has(diagnostics, 12, 25, "parameter 'k'"));
  const auto pipeline = load(R"(extends: base.yaml
name: child
models:
  mlp: {lr: 0.01}
  knn: {k: 3}
)");
  BOOST_TEST(pipeline.name == "child");
  BOOST_REQUIRE_EQUAL(pipeline.models.size(), 2U);
  BOOST_TEST(pipeline.models[0].parameters.get<double>("lr") == 0.01);        // the child's
  BOOST_TEST(pipeline.models[0].parameters.get<std::int64_t>("epochs") == 10);  // the base's
  BOOST_TEST(pipeline.models[1].parameters.get<std::int64_t>("k") == 3);
  BOOST_TEST(pipeline.evaluation.metrics == std::vector<std::string>{"mae"});
  std::ofstream(directory.path() / "loop.yaml") << "extends: pipeline.yaml\n";
  BOOST_TEST(has(errors("extends: loop.yaml\n"), 1, 10, "extends makes a cycle"));
  BOOST_TEST(has(errors("extends: missing.yaml\n"), 1, 10, "cannot read the file"));
}

BOOST_AUTO_TEST_CASE(sweeps_expand_to_one_model_per_value_with_predictable_names) {
  const auto pipeline = load(std::string(kValidData) + R"(models:
  mlp:
    plugin: mlp
    lr: {sweep: [0.1, 0.01]}
    hidden: {sweep: [[8], [16, 16], [4]]}
  knn: {plugin: knn}
)");
  std::vector<std::string> names;
  for (const auto& model : pipeline.models) {
    names.push_back(model.name);
  }
  BOOST_TEST(names == (std::vector<std::string>{"mlp@lr=0.1,hidden=[8]", "mlp@lr=0.1,hidden=[16,16]",
                                                "mlp@lr=0.1,hidden=[4]", "mlp@lr=0.01,hidden=[8]",
                                                "mlp@lr=0.01,hidden=[16,16]", "mlp@lr=0.01,hidden=[4]", "knn"}),
             boost::test_tools::per_element());
  BOOST_TEST(pipeline.models[4].parameters.get<double>("lr") == 0.01);
  BOOST_TEST((pipeline.models[4].parameters.get<std::vector<std::int64_t>>("hidden") == std::vector<std::int64_t>{16, 16}));
  BOOST_TEST(pipeline.models[0].seed == pipeline.models[5].seed);  // the swept values are the only difference
  BOOST_TEST(pipeline.models[0].swept_from == "mlp");
  const auto diagnostics = errors(std::string(kValidData) + R"(models:
  mlp: {plugin: mlp, lr: {sweep: [0.1, -1]}, epochs: {sweep: []}}
)");
  BOOST_TEST(has(diagnostics, 11, 54, "a sweep is {sweep: [value, value, ...]} with at least one value"));
  const auto bad_value = errors(std::string(kValidData) + R"(models:
  mlp: {plugin: mlp, lr: {sweep: [0.1, -1]}}
)");
  BOOST_TEST(has(bad_value, 11, 40, "model 'mlp@lr=-1' parameter 'lr' must be"));
}

BOOST_AUTO_TEST_CASE(csv_source_errors_name_file_row_and_column) {
  std::ofstream(directory.path() / "shots.csv") << "v,theta,s\n1,0.5,0.1\n2, x ,0.4\n3,0.7,inf\n4,0.8,\n";
  const std::string head = "data:\n  source: csv\n  file: shots.csv\n";
  const auto cells = errors(head + "  inputs: [v, theta]\n  targets: [s]\nmodels: {m: {plugin: knn}}\n");
  BOOST_REQUIRE_EQUAL(cells.size(), 3U);
  BOOST_TEST(cells[0].location.file.filename() == "shots.csv");
  BOOST_TEST(has(cells, 3, 4, "column 'theta': 'x' is not a number (`drop_invalid: true` in data drops such rows)"));
  BOOST_TEST(has(cells, 4, 7, "column 's': 'inf' is not finite"));
  BOOST_TEST(has(cells, 5, 7, "column 's': the cell is empty"));
  BOOST_TEST(has(errors(head + "  inputs: [v, tehta]\n  targets: [s]\nmodels: {m: {plugin: knn}}\n"), 3, 9,
                 "has no column 'tehta' (did you mean 'theta'?)"));
  BOOST_TEST(has(errors("data:\n  source: csv\n  file: nowhere.csv\n  inputs: [v]\n  targets: [s]\n"
                        "models: {m: {plugin: knn}}\n"),
                 3, 9, "cannot read the file"));
  BOOST_TEST(has(errors(head + "  inputs: [v]\n  targets: [s]\n  n: 5\n  sets: {more: {rows: 3}}\n"
                               "models: {m: {plugin: knn}}\n"),
                 7, 10, "a csv source has only its file's rows"));
}

BOOST_AUTO_TEST_CASE(split_and_set_errors_are_located) {
  const std::string source = R"yaml(data:
  inputs: {v: "grid(0, 1, 4)"}
  targets: {s: v}
)yaml";
  const auto diagnostics = errors(source + R"(  n: 6
  split: {a: 0.7, b: 0.5, all: 0.1}
  sets:
    c: {rows: 5}
models: {m: {plugin: knn}}
)");
  BOOST_TEST(has(diagnostics, 4, 6, "data.n must be a multiple of 4"));
  BOOST_TEST(has(diagnostics, 5, 27, "set 'all' is declared twice"));
  BOOST_TEST(has(diagnostics, 5, 10, "fractions add up to 1.2, more than 1"));
  BOOST_TEST(has(diagnostics, 7, 15, "set 'c' rows must be a multiple of 4"));
  BOOST_TEST(has(errors(source + "  split: {a: 0.5}\nmodels: {m: {plugin: knn}}\n"), 4, 10,
                 "data.split divides the source's own rows: give data.n"));
  BOOST_TEST(has(errors(source + "  sets: {a: {rows: 4}}\ntrain: all\nmodels: {m: {plugin: knn}}\n"), 5, 8,
                 "train names unknown set 'all'"));
}

BOOST_AUTO_TEST_CASE(source_plugins_are_checked_like_models) {
  const auto diagnostics = errors(R"yaml(data:
  source: projectile
  drag: -1
  inputs: {theta: "uniform(0, 1)", v: "uniform(0, 10)"}
  targets: {s: {noise: 0.01}, h: {noise: 1}}
  n: 10
models:
  m: {plugin: projectile}
)yaml");
  BOOST_TEST(has(diagnostics, 3, 9, "data parameter 'drag' must be"));
  BOOST_TEST(has(diagnostics, 4, 11, "data.inputs must be v, theta, in this order"));
  BOOST_TEST(has(diagnostics, 5, 31, "source projectile computes no target 'h'"));
  BOOST_TEST(has(diagnostics, 8, 15, "'projectile', a data source plugin, not a model"));
  BOOST_TEST(has(errors("data: {source: knn, n: 5}\nmodels: {m: {plugin: knn}}\n"), 1, 16,
                 "data.source 'knn' is a model plugin, not a data source"));
}

// A model that reads inputs and predicts targets by name (Model::required_inputs and
// required_targets: the fixture named_inputs reads b, a and predicts c, d) needs those
// inputs in the data and predicts every target of it, whatever the data's source; each
// miss is said at the model, with what the data has or what the model predicts.
BOOST_AUTO_TEST_CASE(models_that_read_names_are_checked_against_the_data) {
  const PluginCatalog named({test::plugin_dir(), test::named_plugin_dir()});
  const auto file = directory.path() / "named.yaml";
  const auto diagnostics_of = [&](const std::string& text) {
    std::ofstream(file) << text;
    try {
      (void)load_pipeline(file, named);
    } catch (const InputError& error) {
      return error.diagnostics();
    }
    return std::vector<Diagnostic>{};
  };
  const std::string model = "models:\n  grey_box: {plugin: named_inputs}\n";
  // Formula data: the inputs and targets it declares.
  const auto formula = diagnostics_of(R"yaml(data:
  inputs: {a: "uniform(0, 1)", z: "uniform(0, 1)"}
  targets: {c: a + z, h: a}
  sets: {train: {rows: 5}}
)yaml" + model);
  BOOST_TEST(formula.size() == 2U);
  BOOST_TEST(has(formula, 6, 13,
                 "model 'grey_box': plugin named_inputs needs input 'b', which the data does not have (its inputs: a, "
                 "z)"));
  BOOST_TEST(has(formula, 6, 13,
                 "model 'grey_box': the data's target 'h' is not one plugin named_inputs predicts (it predicts: c, d)"));
  BOOST_TEST(formula.at(0).location.file == file);
  // Data with more inputs than the model reads, in another order, and one of its targets: fine.
  const std::string fitting = R"yaml(data:
  inputs: {a: "uniform(0, 1)", b: "uniform(0, 1)", z: "uniform(0, 1)"}
  targets: {d: a - b}
  sets: {train: {rows: 5}}
)yaml";
  BOOST_TEST(diagnostics_of(fitting + model).empty());
  // What the model needs follows its parameters, sweeps included: b_name: w reads w.
  const auto swept = diagnostics_of(fitting + "models:\n  grey_box: {plugin: named_inputs, b_name: {sweep: [b, w]}}\n");
  BOOST_TEST(swept.size() == 1U);
  BOOST_TEST(has(swept, 6, 13,
                 "model 'grey_box@b_name=w': plugin named_inputs needs input 'w', which the data does not have (its "
                 "inputs: a, b, z)"));
  // A csv file: the columns the pipeline names.
  std::ofstream(directory.path() / "table.csv") << "z,a,c\n1,2,3\n4,5,6\n";
  const auto csv = diagnostics_of("data:\n  source: csv\n  file: table.csv\n  inputs: [z, a]\n  targets: [c]\n" + model);
  BOOST_TEST(csv.size() == 1U);
  BOOST_TEST(has(csv, 7, 13,
                 "model 'grey_box': plugin named_inputs needs input 'b', which the data does not have (its inputs: z, "
                 "a)"));
  // A source plugin: the inputs and targets it declares.
  const auto source = diagnostics_of(
      "data: {source: projectile, inputs: {v: \"uniform(0, 1)\", theta: \"uniform(0, 1)\"}, n: 5}\n" + model);
  BOOST_TEST(source.size() == 3U);
  BOOST_TEST(has(source, 3, 13, "plugin named_inputs needs input 'b', which the data does not have (its inputs: v, theta)"));
  BOOST_TEST(has(source, 3, 13, "plugin named_inputs needs input 'a', which the data does not have (its inputs: v, theta)"));
  BOOST_TEST(has(source, 3, 13, "the data's target 's' is not one plugin named_inputs predicts (it predicts: c, d)"));
  // Data whose names are unknown (its source failed) gives no error of the model's.
  const auto unknown = diagnostics_of("data: {source: nosuch, n: 5}\n" + model);
  BOOST_TEST(!unknown.empty());
  for (const auto& diagnostic : unknown) {
    BOOST_TEST(diagnostic.message.find("named_inputs") == std::string::npos, diagnostic.str());
  }
}

BOOST_AUTO_TEST_SUITE_END()
