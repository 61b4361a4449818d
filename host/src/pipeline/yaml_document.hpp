// A pipeline file as one YAML document: the files it `extends` filled in, YAML merge keys
// expanded and --set overrides applied, each node keeping where it came from
// (file:line:column, or the --set that wrote it). It owns the diagnostics: the located
// errors found reading the file and those its typed readers and the loader's sections
// report, all collected and thrown together.
// It knows of a pipeline only what reading the file needs (a top-level mapping; a
// `source` or `plugin` that differs from the base's replaces the base's mapping); what
// the keys mean is read by pipeline_loader and data_section, and which names an
// expression may use is the caller's (it passes the constants).
#pragma once

#include "diagnostics.hpp"

#include <ballista/expression.hpp>

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ballista::host {

// The keys of a pipeline's top-level mapping.
inline const std::vector<std::string> kTopKeys{"extends", "name", "seed", "data", "train", "models", "evaluate"};

// What a message says was found: "'text'", "a list", "a mapping" or "nothing".
std::string describe_node(const YAML::Node& node);

// Whether a scalar is written with a radix prefix ("0x10", "-0o17"), which yaml-cpp reads
// as a hexadecimal or octal integer; pipelines write numbers in decimal, as expressions do.
bool has_radix_prefix(const std::string& text);

// A decimal integer scalar as T.
template <typename T>
bool decode_decimal(const YAML::Node& node, T& value) {
  return node.IsScalar() && !has_radix_prefix(node.Scalar()) && YAML::convert<T>::decode(node, value);
}

class YamlDocument {
 public:
  // Reads FILE and the files it extends; throws InputError listing every problem if any
  // of them cannot be read as a pipeline. Then applies OVERRIDES ("models.mlp.lr=0.001":
  // a dotted path of mapping keys, then a YAML value, replacing or adding the last key;
  // a null value removes it), whose problems are collected like the readers'.
  YamlDocument(std::filesystem::path file, std::vector<std::string> overrides);
  YamlDocument(const YamlDocument&) = delete;
  YamlDocument& operator=(const YamlDocument&) = delete;

  // The top-level mapping: a handle on the document, not a copy.
  YAML::Node top_level() const { return root_; }

  // --- diagnostics ------------------------------------------------------------------
  // Where NODE was written: its file (the pipeline's, or the base's it came from) and
  // place, or the --set that wrote it.
  SourceLocation where(const YAML::Node& node) const;
  void error(const YAML::Node& node, std::string message);
  void error(SourceLocation location, std::string message);
  // How many errors so far: a section compares it before and after a step.
  std::size_t error_count() const { return diagnostics_.size(); }
  // Throws InputError with every error collected, if there is any.
  void throw_if_errors() const;

  // --- typed readers ----------------------------------------------------------------
  // Each reports what is wrong where it was written, and gives a harmless value (false,
  // "", the lowest allowed, 0.0) so that reading goes on and finds the other errors.
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& context);
  bool require(const YAML::Node& map, const std::string& key, const std::string& context);
  bool expect_map(const YAML::Node& node, const std::string& what);
  bool expect_sequence(const YAML::Node& node, const std::string& what);
  std::string scalar_string(const YAML::Node& node, const std::string& what);
  std::int64_t integer(const YAML::Node& node, const std::string& what, std::int64_t low, std::int64_t high);
  bool boolean(const YAML::Node& node, const std::string& what);
  // A number, or an expression over CONSTANTS ("pi/2", "2*g").
  double number(const YAML::Node& node, const std::string& what, const Expression::ScalarBindings& constants);
  double constant_expression(const YAML::Node& node, const std::string& text, const std::string& what,
                             const Expression::ScalarBindings& constants);

 private:
  YAML::Node load_document(const std::filesystem::path& file, std::vector<std::filesystem::path>& chain,
                           const YAML::Node& named_at);
  void remember_base_nodes(const YAML::Node& node, const std::filesystem::path& file, int depth = 0);
  bool beyond_limits(const YAML::Node& node, int depth);
  void fill_from(YAML::Node target, const YAML::Node& base, int depth = 0);
  void expand_merge_keys(YAML::Node node, int depth = 0);
  void apply_overrides(YAML::Node& root);

  std::filesystem::path file_;
  std::vector<std::string> override_texts_;
  YAML::Node root_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<std::pair<YAML::Node, std::string>> overrides_;  // value set by --set, and the --set text
  std::vector<std::pair<YAML::Node, std::filesystem::path>> base_nodes_;  // nodes read from an `extends` file
  std::size_t visits_ = 0;     // nodes visited by whole-document walks
  int documents_read_ = 0;     // the pipeline and its bases, each time one is read
  bool walk_refused_ = false;  // a walk went beyond its limits (reported once)
};

}  // namespace ballista::host
