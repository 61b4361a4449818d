// YAML → Pipeline, with every error located and all of them reported at once.
#include "pipeline_loader.hpp"

#include "csv_table.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <set>
#include <string_view>
#include <sstream>

namespace ballista::host {

namespace {

const std::vector<std::string> kTopKeys{"extends", "name", "seed", "data", "train", "models", "evaluate"};
const std::vector<std::string> kInputKeys{"distribution", "clip"};
const std::vector<std::string> kSetKeys{"rows", "inputs", "seed", "source"};
const std::vector<std::string> kEvaluateKeys{"sets", "metrics", "probes"};
const std::vector<std::string> kMetrics{"mse", "rmse", "mae", "r2", "max_error"};
const std::vector<std::string> kDistributions{"uniform", "normal", "loguniform", "choice", "grid"};
constexpr std::int64_t kMaxRows = std::int64_t{1} << 40;

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

// Whether `text` is non-empty, starts with a character of `first` (or a letter or
// digit where allowed) and continues with letters, digits or characters of `rest`.
// Hand-written: std::regex recurses per character and overflows the stack on long text.
bool is_word(std::string_view text, bool digit_first, std::string_view first, std::string_view rest) {
  if (text.empty()) {
    return false;
  }
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  const char head = text.front();
  if (!(std::isalpha(static_cast<unsigned char>(head)) != 0 || (digit_first && alnum(head)) ||
        first.find(head) != std::string_view::npos)) {
    return false;
  }
  return std::all_of(text.begin() + 1, text.end(),
                     [&](char c) { return alnum(c) || rest.find(c) != std::string_view::npos; });
}

// Names of pipelines, sets and models: letters, digits, '_', '.', '-'.
bool is_plain_name(std::string_view text) { return is_word(text, true, "_.-", "_.-"); }

// What is wrong with `name` as a name that becomes a file or directory name (a run, a
// set's CSV, a model's file): empty when nothing. Names starting with '.' would be
// hidden files, '.' and '..' would escape their directory, and a name must leave room
// in the 255 bytes of a file name for its extension and a temporary file's suffix.
constexpr std::size_t kMaxNameLength = 200;
std::string file_name_problem(std::string_view name) {
  if (name == "." || name == "..") {
    return "'" + std::string(name) + "' names a directory, not a file";
  }
  if (!name.empty() && name.front() == '.') {
    return "names must not start with '.' (the files would be hidden)";
  }
  if (name.size() > kMaxNameLength) {
    return "names are at most " + std::to_string(kMaxNameLength) + " characters (they become file names), found " +
           std::to_string(name.size());
  }
  return {};
}

// An identifier of the expression language.
bool is_identifier(std::string_view text) { return is_word(text, false, "_", "_"); }

// Whether a scalar is written with a radix prefix ("0x10", "-0o17"), which yaml-cpp reads
// as a hexadecimal or octal integer; pipelines write numbers in decimal, as expressions do.
bool has_radix_prefix(const std::string& text) {
  const std::size_t digits = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  return text.size() > digits + 1 && text[digits] == '0' &&
         std::string_view("xXoObB").find(text[digits + 1]) != std::string_view::npos;
}

// A decimal integer scalar as T.
template <typename T>
bool decode_decimal(const YAML::Node& node, T& value) {
  return node.IsScalar() && !has_radix_prefix(node.Scalar()) && YAML::convert<T>::decode(node, value);
}

// A YAML value as a value of `spec`'s type, or nothing when it has another shape.
std::optional<ParameterValue> parameter_from_yaml(const YAML::Node& node, const ParameterSpec& spec) {
  switch (spec.type()) {
    case ParameterType::integer: {
      std::int64_t value = 0;
      if (decode_decimal(node, value)) {
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
        if (!decode_decimal(element, value)) {
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

// Where each YAML document of a stream begins, without building nodes. yaml-cpp 0.7 reads a
// stream whose document starts with a stray ',' as endless empty documents at that same
// place (YAML::LoadAll then grows until memory runs out): a start that does not move on
// from the last one ends the count.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                       YAML::EmitterStyle::value /*style*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {}
  void OnMapEnd() override {}

  // Reads TEXT's documents, at most LIMIT of them; true if the reader stalled.
  bool read(const std::string& text, std::size_t limit) {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    while (marks.size() < limit && parser.HandleNextDocument(*this)) {
      if (marks.size() >= 2 && marks[marks.size() - 1].pos == marks[marks.size() - 2].pos) {
        return true;
      }
    }
    return false;
  }
};

class Loader {
 public:
  Loader(std::filesystem::path file, const PluginCatalog& catalog, std::vector<std::string> overrides)
      : file_(std::move(file)), catalog_(catalog), override_texts_(std::move(overrides)) {}

  Pipeline load() {
    std::vector<std::filesystem::path> chain;
    YAML::Node root;
    root.reset(load_document(file_, chain, {}));
    if (!diagnostics_.empty()) {
      throw InputError(diagnostics_);
    }
    Pipeline pipeline;
    pipeline.file = file_;
    pipeline.name = file_.stem().string();
    apply_overrides(root);
    check_keys(root, kTopKeys, "the pipeline");
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
      pipeline.name = scalar_string(root["name"], "name");
      if (const auto problem = name_problem(pipeline.name); !problem.empty()) {
        error(root["name"], problem + ", found '" + printable(pipeline.name) + "'");
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
        error(root, "the pipeline has no `name:` and its file name cannot be one (" + problem + ", found '" +
                        printable(pipeline.name) + "'); add `name: ...`");
      }
    }
    if (root["seed"]) {
      pipeline.seed = static_cast<std::uint32_t>(
          integer(root["seed"], "seed", 0, std::numeric_limits<std::uint32_t>::max()));
    }
    if (require(root, "data", "the pipeline")) {
      pipeline.data = load_data(root["data"]);
      check_data_fits(root["data"], pipeline.data);
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
    std::filesystem::path file = file_;
    for (const auto& [base_node, base_file] : base_nodes_) {
      if (node.is(base_node)) {
        file = base_file;
        break;
      }
    }
    const auto mark = node.Mark();
    if (mark.is_null()) {
      return {file, 0, 0};
    }
    return {file, mark.line + 1, mark.column + 1};
  }

  // --- documents and `extends` ------------------------------------------------------
  // Reads `file` with its merge keys expanded and, if it `extends` others, every key it
  // lacks filled in from them (mappings merged key by key, anything else replaced).
  // Nodes that come from a base file are remembered, so errors name that file.
  YAML::Node load_document(const std::filesystem::path& file, std::vector<std::filesystem::path>& chain,
                           const YAML::Node& named_at) {
    YAML::Node root;
    const auto refuse = [&](const SourceLocation& location, const std::string& message) {
      diagnostics_.push_back({chain.empty() ? location : where(named_at), message});
    };
    const std::string cannot_read =
        chain.empty() ? std::string("cannot read the pipeline file: ") : "extends '" + file.string() + "': cannot read the file: ";
    // Why the file cannot be read, from its status: a loop of symbolic links, a directory
    // without search permission, a name too long (ENOENT is said below, in plain words).
    std::error_code status_error;
    const auto status = std::filesystem::status(file, status_error);
    if (status_error && status_error != std::errc::no_such_file_or_directory) {
      refuse({file, 0, 0}, cannot_read + status_error.message());
      return root;
    }
    if (!status_error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
      refuse({file, 0, 0}, (chain.empty() ? std::string("the pipeline") : "extends '" + file.string() + "'") +
                               " is not a regular file (pipelines are read from files; save what a pipe gives to "
                               "one first)");
      return root;
    }
    if (status_error) {
      refuse({file, 0, 0}, cannot_read + "no such file");
      return root;
    }
    // /dev/stdin redirected from a file has no canonical name (/proc/self/fd/0 → pipe:…).
    std::error_code canonical_error;
    auto canonical = std::filesystem::weakly_canonical(file, canonical_error);
    if (canonical_error) {
      canonical = std::filesystem::absolute(file).lexically_normal();
    }
    if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
      std::string cycle;
      for (const auto& link : chain) {
        cycle += link.filename().string() + " → ";
      }
      error(named_at, "extends makes a cycle: " + cycle + canonical.filename().string());
      return root;
    }
    // A base named several times down a chain is read once per path: bound the reads
    // (and refuse devices and pipes, which would block or never end).
    constexpr int kMaxDocuments = 100;
    if (++documents_read_ > kMaxDocuments) {
      if (documents_read_ == kMaxDocuments + 1) {
        error(named_at, "extends reads more than " + std::to_string(kMaxDocuments) +
                            " files (is a base named many times along a chain?)");
      }
      return YAML::Node();
    }
    errno = 0;
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open() || (!in.good() && !in.eof())) {
      const int reason = errno;
      refuse({file, 0, 0}, cannot_read + (reason != 0 ? std::generic_category().message(reason) : "read error"));
      return YAML::Node();
    }
    // Text that is not UTF-8 would pass here and end the run at its first JSON record.
    if (std::size_t bad = 0; !is_valid_utf8(text, &bad)) {
      const auto line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
      const auto column = bad - (line_start == std::string::npos || bad == 0 ? 0 : line_start + 1) + 1;
      diagnostics_.push_back({{file, static_cast<int>(line), static_cast<int>(column)},
                              "the file is not UTF-8 text: byte 0x" + printable(text.substr(bad, 1)).substr(2) +
                                  " (save it as UTF-8; a Latin-1 'é' is one byte, UTF-8's two)"});
      return YAML::Node();
    }
    try {
      // yaml-cpp's Load keeps the first document of a stream and drops the rest silently:
      // the documents are counted first (and a stray ',' that stalls yaml-cpp is refused).
      constexpr std::size_t kCountedDocuments = 100;
      DocumentStarts starts;
      if (starts.read(text, kCountedDocuments)) {
        const auto& mark = starts.marks.back();
        diagnostics_.push_back({{file, mark.line + 1, mark.column + 1},
                                "invalid YAML: '" + printable(text.substr(static_cast<std::size_t>(mark.pos), 1)) +
                                    "' where a value or key should begin (a ',' separates the items of a "
                                    "[ ] or { } collection only)"});
        return YAML::Node();
      }
      if (starts.marks.size() > 1) {
        diagnostics_.push_back({{file, starts.marks[1].line + 1, 1},
                                "the file holds " +
                                    (starts.marks.size() >= kCountedDocuments
                                         ? "more than " + std::to_string(kCountedDocuments - 1)
                                         : std::to_string(starts.marks.size())) +
                                    " YAML documents (separated by ---); a pipeline is one document"});
        return YAML::Node();
      }
      root.reset(YAML::Load(text));
    } catch (const YAML::ParserException& problem) {
      diagnostics_.push_back({{file, problem.mark.line + 1, problem.mark.column + 1}, "invalid YAML: " + problem.msg});
      return YAML::Node();
    }
    if (!root.IsMap()) {
      // An empty document has no mark: point at its start.
      diagnostics_.push_back({{file, root.Mark().is_null() ? 1 : root.Mark().line + 1,
                               root.Mark().is_null() ? 1 : root.Mark().column + 1},
                              "a pipeline is a mapping with keys " + join(kTopKeys) + ", found " + describe_node(root)});
      return YAML::Node();
    }
    if (!chain.empty()) {
      remember_base_nodes(root, file);
    }
    expand_merge_keys(root);
    const auto extends = root["extends"];
    if (!extends) {
      return root;
    }
    std::vector<YAML::Node> bases;
    if (extends.IsScalar()) {
      bases.push_back(extends);
    } else if (extends.IsSequence()) {
      for (const auto& element : extends) {
        bases.push_back(element);
      }
    }
    if (bases.empty() || !std::all_of(bases.begin(), bases.end(), [](const YAML::Node& b) { return b.IsScalar(); })) {
      error(extends, "extends must be a file name, or a list of them (later ones win), found " + describe_node(extends));
      return root;
    }
    root.remove("extends");
    chain.push_back(canonical);
    // Later bases win: fill from the last one first.
    for (auto base = bases.rbegin(); base != bases.rend(); ++base) {
      auto path = std::filesystem::path(base->Scalar());
      if (path.is_relative()) {
        path = file.parent_path() / path;
      }
      YAML::Node base_root;
      base_root.reset(load_document(path, chain, *base));
      if (base_root.IsMap()) {
        fill_from(root, base_root);
      }
    }
    chain.pop_back();
    return root;
  }

  void remember_base_nodes(const YAML::Node& node, const std::filesystem::path& file, int depth = 0) {
    if (beyond_limits(node, depth)) {
      return;
    }
    base_nodes_.emplace_back(node, file);
    if (node.IsMap()) {
      for (const auto& entry : node) {
        base_nodes_.emplace_back(entry.first, file);
        remember_base_nodes(entry.second, file, depth + 1);
      }
    } else if (node.IsSequence()) {
      for (const auto& element : node) {
        remember_base_nodes(element, file, depth + 1);
      }
    }
  }

  // Walks of the whole document stop at a depth and a node count no pipeline comes
  // near: an alias inside its own anchor (a node that contains itself) or aliases of
  // aliases (exponentially many paths) would otherwise recurse without end.
  bool beyond_limits(const YAML::Node& node, int depth) {
    constexpr int kMaxDepth = 100;
    constexpr std::size_t kMaxVisits = 1000000;
    if (depth <= kMaxDepth && ++visits_ <= kMaxVisits) {
      return false;
    }
    if (!walk_refused_) {
      walk_refused_ = true;
      error(node, depth > kMaxDepth ? "the document nests deeper than 100 levels (is an alias used inside its own "
                                      "anchor?)"
                                    : "the document expands to more than 1000000 nodes through its aliases");
    }
    return true;
  }

  // Every key of `base` that `target` lacks, recursively into mappings both have. A key
  // written as null in `target` removes the base's; a mapping whose `source` or
  // `plugin` differs from the base's replaces it whole (other keys would not apply).
  void fill_from(YAML::Node target, const YAML::Node& base, int depth = 0) {
    if (beyond_limits(base, depth)) {
      return;
    }
    for (const auto* kind : {"source", "plugin"}) {
      if (target[kind] && base[kind] && target[kind].IsScalar() && base[kind].IsScalar() &&
          target[kind].Scalar() != base[kind].Scalar()) {
        return;
      }
    }
    for (const auto& entry : base) {
      const auto& key = entry.first.Scalar();
      if (!target[key]) {
        target[key] = entry.second;
      } else if (target[key].IsNull()) {
        target.remove(key);
      } else if (target[key].IsMap() && entry.second.IsMap()) {
        fill_from(target[key], entry.second, depth + 1);
      }
    }
  }

  void error(const YAML::Node& node, std::string message) { diagnostics_.push_back({where(node), std::move(message)}); }

  // --- YAML merge keys ------------------------------------------------------------
  // yaml-cpp reads `<<: *base` as an ordinary key. Expand it as YAML 1.1 does: the
  // mapping (or list of mappings) it names supplies every key the mapping lacks.
  void expand_merge_keys(YAML::Node node, int depth = 0) {
    if (beyond_limits(node, depth)) {
      return;
    }
    if (node.IsSequence()) {
      for (auto element : node) {
        expand_merge_keys(element, depth + 1);
      }
      return;
    }
    if (!node.IsMap()) {
      return;
    }
    // YAML forbids a key twice in one mapping; yaml-cpp would keep both and we would
    // silently read the first.
    std::map<std::string, YAML::Node> seen;
    for (const auto& entry : node) {
      const auto [first, inserted] = seen.emplace(entry.first.Scalar(), entry.first);
      if (!inserted) {
        error(entry.first, "key '" + entry.first.Scalar() + "' is written twice in this mapping (first at line " +
                               std::to_string(where(first->second).line) + ")");
      }
    }
    if (const auto merge = node["<<"]) {
      std::vector<YAML::Node> sources;
      if (merge.IsSequence()) {
        for (const auto& element : merge) {
          sources.push_back(element);
        }
      } else {
        sources.push_back(merge);
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
      expand_merge_keys(entry.second, depth + 1);
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
      if (!keys.empty() && keys[0] == "extends") {
        // The bases are read before any override applies: changing them here would be
        // silently ignored.
        diagnostics_.push_back({origin, "--set cannot change 'extends' (the bases are read before overrides apply); "
                                        "name the base in the file, or --set the keys it would change"});
        continue;
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
      if (!is_valid_utf8(text)) {
        diagnostics_.push_back({origin, "the value is not UTF-8 text: '" + printable(text) + "'"});
        continue;
      }
      try {
        value.reset(YAML::Load(text.substr(equals + 1)));
      } catch (const YAML::ParserException& problem) {
        diagnostics_.push_back({origin, "the value is not valid YAML: " + problem.msg});
        continue;
      }
      // null removes the key, as it does in a file that extends another: the default, or
      // no such model, applies.
      if (value.IsNull() && text.find_first_not_of(" \t", equals + 1) != std::string::npos) {
        if (!node[keys.back()]) {
          std::vector<std::string> present;
          for (const auto& entry : node) {
            present.push_back(entry.first.Scalar());
          }
          diagnostics_.push_back({origin, "null removes a key, but there is no '" + keys.back() + "' " +
                                              (walked.empty() ? "at the top of the pipeline" : "under '" + walked + "'") +
                                              suggest(keys.back(), present)});
          continue;
        }
        node.remove(keys.back());
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

  // One swept parameter's value in one variant: the value's node in the document (a
  // handle, not a copy) and its label in the model's name.
  struct SweptValue {
    std::string parameter;
    YAML::Node value;
    // cppcheck-suppress unusedStructMember ; read through structured bindings
    std::string label;
  };
  using Variant = std::vector<SweptValue>;

  // A model's mapping as one variant of its sweep sees it: the swept parameters' values
  // in place of their `{sweep: [...]}`. Nothing is copied into a new YAML node, since
  // yaml-cpp merges the memory of every node assigned into another (a sweep of 3000
  // values held gigabytes).
  struct ModelView {
    const YAML::Node& node;
    const Variant& variant;
    YAML::Node operator[](const std::string& key) const {
      for (const auto& swept : variant) {
        if (swept.parameter == key) {
          return swept.value;
        }
      }
      return node[key];
    }
  };
  static inline const Variant kNoSweep{};

  // --- structure ----------------------------------------------------------------
  void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& context) {
    for (const auto& entry : map) {
      const auto key = entry.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        // A key copied from a base pipeline or a merge key is a new node without a place:
        // point at its value, which keeps the place it was written.
        error(entry.first.Mark().is_null() ? entry.second : entry.first,
              "unknown key '" + key + "' in " + context + suggest(key, allowed));
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
    if (!decode_decimal(node, value)) {
      error(node, what + " must be an integer, found " + describe_node(node) +
                      (node.IsScalar() && has_radix_prefix(node.Scalar()) ? " (write integers in decimal)" : ""));
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
    const auto& name = key.Scalar();
    if (!is_identifier(name)) {
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
    const std::string examples = " such as uniform(0, 10), normal(0, 1), loguniform(1e-3, 1), choice(1, 2, 5) or "
                                 "grid(0, 10, 50)";
    if (!node.IsScalar()) {
      error(node, what + " must be a distribution" + examples + ", found " + describe_node(node));
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
      error(node, what + " must be a distribution" + examples + ", found '" + result.text + "'" +
                      (cut_by_flow_comma ? " (inside {…} or […] YAML splits at commas: quote it, \"uniform(0, 10)\")"
                                         : ""));
      return result;
    }
    result.kind = name;
    if (std::find(kDistributions.begin(), kDistributions.end(), result.kind) == kDistributions.end()) {
      error(node, what + ": unknown distribution '" + result.kind + "'" + suggest(result.kind, kDistributions));
      result.kind.clear();
      return result;
    }
    const std::string arguments = result.text.substr(open + 1, last - open - 1);
    int depth = 0;
    std::string current;
    const auto errors_before = diagnostics_.size();
    for (const char c : arguments + ",") {
      if (c == ',' && depth == 0) {
        result.arguments.push_back(constant_expression(node, current, what));
        current.clear();
        continue;
      }
      depth += (c == '(') ? 1 : (c == ')') ? -1 : 0;
      current += c;
    }
    const auto& a = result.arguments;
    const auto arity = [&](std::size_t count, const std::string& names) {
      if (a.size() != count) {
        error(node, what + ": " + result.kind + " takes " + std::to_string(count) + " arguments (" + names +
                        "), found " + std::to_string(a.size()));
        return false;
      }
      return true;
    };
    if (diagnostics_.size() != errors_before) {
      result.kind.clear();
    } else if (result.kind == "uniform" && arity(2, "low, high") && !(a[0] < a[1])) {
      error(node, what + ": uniform(low, high) needs low < high");
    } else if (result.kind == "normal" && arity(2, "mean, standard deviation") && !(a[1] > 0)) {
      error(node, what + ": normal(mean, sd) needs sd > 0");
    } else if (result.kind == "loguniform" && arity(2, "low, high") && !(0 < a[0] && a[0] < a[1])) {
      error(node, what + ": loguniform(low, high) needs 0 < low < high");
    } else if (result.kind == "grid" && arity(3, "low, high, count")) {
      if (!(a[0] < a[1])) {
        error(node, what + ": grid(low, high, count) needs low < high");
      } else if (!(a[2] >= 2 && a[2] <= 1e7 && a[2] == std::floor(a[2]))) {
        error(node, what + ": grid(low, high, count) needs an integer count from 2 to 10000000");
      }
    } else if (result.kind == "choice" && (a.empty() || a.size() > 1000000)) {
      error(node, what + ": choice(a, b, ...) needs at least one value");
    }
    return result;
  }

  std::pair<std::optional<double>, std::optional<double>> clip(const YAML::Node& node, const std::string& what) {
    std::pair<std::optional<double>, std::optional<double>> bounds;
    if (!node.IsSequence() || node.size() != 2) {
      error(node, what + " clip must be [low, high] (null for no bound), found " + describe_node(node));
      return bounds;
    }
    if (!node[0].IsNull()) {
      bounds.first = number(node[0], what + " clip low");
    }
    if (!node[1].IsNull()) {
      bounds.second = number(node[1], what + " clip high");
    }
    if (bounds.first && bounds.second && !(*bounds.first <= *bounds.second)) {
      error(node, what + " clip needs low <= high");
    }
    return bounds;
  }

  // `v: uniform(0, 10)` or `v: {distribution: normal(5, 2), clip: [0, null]}`.
  InputSpec load_input(const YAML::Node& key, const YAML::Node& node, const std::string& what) {
    InputSpec spec{key.Scalar(), {}, std::nullopt, std::nullopt};
    if (node.IsMap()) {
      check_keys(node, kInputKeys, what);
      if (require(node, "distribution", what)) {
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
  std::vector<std::string> source_keys(const std::string& kind, const LoadedPlugin* plugin) const {
    std::vector<std::string> keys{"source", "inputs", "targets"};
    if (kind == "csv") {
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
    source.kind = "formula";
    if (node["source"]) {
      source.kind = scalar_string(node["source"], what + ".source");
    }
    const LoadedPlugin* plugin = nullptr;
    if (source.kind != "formula" && source.kind != "csv") {
      plugin = catalog_.find(source.kind);
      if (plugin == nullptr || plugin->kind != PluginKind::source) {
        std::vector<std::string> kinds{"formula", "csv"};
        for (const auto& candidate : catalog_.available()) {
          if (candidate.kind == PluginKind::source) {
            kinds.push_back(candidate.name);
          }
        }
        error(node["source"], what + ".source '" + source.kind + "' is " +
                                  (plugin != nullptr ? "a model plugin, not a data source" : "not a known source") +
                                  suggest(source.kind, kinds) + " (source plugins: `ballista plugins`)");
        return source;
      }
    }
    auto keys = source_keys(source.kind, plugin);
    keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
    check_keys(node, keys, what + " (source " + source.kind + ")");
    // Names and constants are scoped to one source.
    constants_.clear();
    declared_names_.clear();
    if (node["rng"] && scalar_string(node["rng"], what + ".rng") != "numpy") {
      error(node["rng"], what + ".rng must be 'numpy' (NumPy's legacy MT19937 stream), found '" +
                             node["rng"].Scalar() + "'");
    }
    if (node["n"]) {
      source.rows = integer(node["n"], what + ".n", 1, kMaxRows);
      if (source.kind == "csv") {
        error(node["n"], what + ".n is for drawn sources; a csv source has its file's rows");
      }
    }
    if (source.kind == "csv") {
      load_csv_source(node, what, parent, source);
      return source;
    }
    if (node["constants"] && expect_map(node["constants"], what + ".constants")) {
      for (const auto& entry : node["constants"]) {
        if (identifier(entry.first, "constant")) {
          const double value = number(entry.second, "constant '" + entry.first.Scalar() + "'");
          constants_[entry.first.Scalar()] = value;
          source.constants.emplace_back(entry.first.Scalar(), value);
        }
      }
    }
    if (require(node, "inputs", what) && expect_map(node["inputs"], what + ".inputs")) {
      for (const auto& entry : node["inputs"]) {
        if (identifier(entry.first, "input")) {
          source.inputs.push_back(load_input(entry.first, entry.second, "input '" + entry.first.Scalar() + "'"));
        }
      }
      if (source.inputs.empty()) {
        error(node["inputs"], what + ".inputs must declare at least one input");
      }
    }
    if (node["n"]) {
      check_grid_multiple(node["n"], what + ".n", source.rows, grid_product(source.inputs, {}));
    }
    if (plugin != nullptr) {
      load_plugin_source(node, what, *plugin, source);
      return source;
    }
    if (require(node, "targets", what) && expect_map(node["targets"], what + ".targets")) {
      for (const auto& entry : node["targets"]) {
        if (identifier(entry.first, "target")) {
          load_target(entry.first.Scalar(), entry.second, source);
        }
      }
      if (source.targets.empty()) {
        error(node["targets"], what + ".targets must declare at least one target");
      }
    }
    return source;
  }

  void load_plugin_source(const YAML::Node& node, const std::string& what, const LoadedPlugin& plugin,
                          SourceSpec& source) {
    const auto& definition = plugin.source;
    if (node["inputs"] && source.input_names() != definition.inputs) {
      error(node["inputs"], what + ".inputs must be " + join(definition.inputs) + ", in this order (source " +
                                plugin.name + " simulates those), found " + join(source.input_names()));
    }
    std::set<std::string> written;
    if (node["targets"] && expect_map(node["targets"], what + ".targets")) {
      for (const auto& entry : node["targets"]) {
        const auto& name = entry.first.Scalar();
        if (std::find(definition.targets.begin(), definition.targets.end(), name) == definition.targets.end()) {
          error(entry.first, what + ".targets: source " + plugin.name + " computes no target '" + name + "'" +
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
    if (auto parameters = plugin_parameters(ModelView{node, kNoSweep}, plugin, what)) {
      source.parameters = std::move(*parameters);
      try {
        (void)definition.create(source.parameters);
      } catch (const ParameterError& problem) {
        error(node[problem.parameter()] ? node[problem.parameter()] : node,
              what + " parameter '" + problem.parameter() + "': " + problem.what());
      } catch (const std::exception& problem) {
        error(node, what + ": source plugin " + plugin.name + " rejected the parameters: " + problem.what());
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
      error(node, what + " needs the key '" + key + "' (a list of column names, e.g. " +
                      (key == "inputs" ? "[v, theta]" : "[s]") + ")");
      return names;
    }
    if (!expect_sequence(node[key], what + "." + key)) {
      return names;
    }
    for (const auto& element : node[key]) {
      if (element.IsScalar() && identifier(element, key == "inputs" ? "input" : "target")) {
        names.push_back(element.Scalar());
      } else if (!element.IsScalar()) {
        error(element, what + "." + key + " entries are column names, found " + describe_node(element));
      }
    }
    if (names.empty() && node[key].size() == 0) {
      error(node[key], what + "." + key + " must name at least one column");
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
      source.drop_invalid = boolean(node["drop_invalid"], what + ".drop_invalid");
    }
    if (!require(node, "file", what)) {
      return;
    }
    const auto text = scalar_string(node["file"], what + ".file");
    if (text.empty() || source.inputs.empty() || source.targets.empty()) {
      return;
    }
    // Relative to the file that names it (a base pipeline's, for an inherited key).
    source.file = std::filesystem::path(text);
    if (source.file.is_relative()) {
      source.file = where(node["file"]).file.parent_path() / source.file;
    }
    CsvTable table;
    try {
      table = read_csv(source.file);
    } catch (const std::exception& problem) {
      error(node["file"], what + ".file: " + problem.what());
      return;
    }
    std::vector<std::string> names = source.input_names();
    const auto targets = source.target_names();
    names.insert(names.end(), targets.begin(), targets.end());
    bool columns_found = true;
    for (const auto& name : names) {
      if (std::find(table.header.begin(), table.header.end(), name) == table.header.end()) {
        error(node["file"], what + ": " + source.file.string() + " has no column '" + name + "'" +
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
        diagnostics_.push_back({{source.file, problem.line, problem.column}, problem.message +
                                    (i == 0 ? " (`drop_invalid: true` in " + what + " drops such rows)" : "")});
      }
      if (columns.problems.size() > kShown) {
        error(node["file"], what + ": " + std::to_string(columns.problems.size() - kShown) +
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
      error(node["file"], what + ": " + source.file.string() + " has no " +
                              (columns.dropped_rows > 0 ? "valid " : "") + "rows" +
                              (columns.dropped_rows > 0 ? " (all " + std::to_string(columns.dropped_rows) +
                                                              " were dropped by drop_invalid)"
                                                        : ""));
    }
  }

  bool boolean(const YAML::Node& node, const std::string& what) {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      error(node, what + " must be true or false, found " + describe_node(node));
    }
    return value;
  }

  // A formula target: `s: v^2*sin(2*theta)/g`, or a mapping with expression, noise, clip.
  // A source plugin's target: a mapping with noise and clip only.
  void load_target(const std::string& name, const YAML::Node& node, SourceSpec& source) {
    const std::string what = "target '" + name + "'";
    const bool formula = source.kind == "formula";
    TargetSpec target{name, std::nullopt, 0.0, false, std::nullopt, std::nullopt};
    // yaml-cpp's Node assignment writes through to the document, so pick with reset().
    YAML::Node expression_node;
    expression_node.reset(node);
    if (node.IsMap()) {
      std::vector<std::string> keys{"noise", "clip"};
      if (formula) {
        keys.insert(keys.begin(), "expression");
      }
      check_keys(node, keys, what);
      if (formula) {
        if (!require(node, "expression", what)) {
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
      error(node, what + " of source " + source.kind + " takes a mapping with noise and clip, found " +
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
      check_keys(node, {"absolute", "relative"}, what + " noise");
      if (node.size() != 1) {
        error(node, what + " noise must be a number, {absolute: σ} or {relative: σ}");
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
    target.noise = number(value, what + " noise");
    if (target.noise < 0) {
      error(value, what + " noise must be >= 0 (the σ of the normal noise)");
    }
  }

  std::optional<Expression> target_expression(const YAML::Node& node, const std::string& what,
                                              const SourceSpec& source) {
    const std::string text = scalar_string(node, what + " expression");
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
          error(node, what + " expression '" + text + "' uses unknown name '" + used + "'" + suggest(used, known));
        }
      }
      return expression;
    } catch (const ExpressionError& problem) {
      error(node, what + " expression '" + text + "': " + problem.what());
    }
    return std::nullopt;
  }

  DataSpec load_data(const YAML::Node& node) {
    DataSpec data;
    if (!expect_map(node, "data")) {
      return data;
    }
    data.source = load_source(node, "data", nullptr, {"sets", "split", "shuffle", "units"});
    const bool has_table = data.source.rows > 0 || (data.source.kind == "csv" && !data.source.file.empty());
    if (has_table) {
      SetSpec all;
      all.name = "all";
      all.origin = SetSpec::Origin::all;
      all.rows = data.source.rows;
      all.location = where(node["n"] ? node["n"] : node);
      data.sets.push_back(std::move(all));
    }
    if (node["shuffle"]) {
      data.shuffle = boolean(node["shuffle"], "data.shuffle");
    }
    if (node["split"]) {
      load_split(node["split"], data, has_table);
    }
    if (node["sets"] && expect_map(node["sets"], "data.sets")) {
      for (const auto& entry : node["sets"]) {
        load_set(entry.first, entry.second, node, data);
      }
    }
    if (data.sets.empty() && !node["split"]) {
      error(node, "data declares no set: give `n` (rows of the source's own set `all`), a `split`, or `sets`");
    }
    if (node["units"]) {
      load_units(node["units"], data);
    }
    return data;
  }

  // `units: {v: m/s, theta: rad, s: m}`: labels for plots and reports, nothing else.
  void load_units(const YAML::Node& node, DataSpec& data) {
    if (!expect_map(node, "data.units")) {
      return;
    }
    auto known = data.input_names();
    const auto targets = data.target_names();
    known.insert(known.end(), targets.begin(), targets.end());
    for (const auto& entry : node) {
      const std::string name = entry.first.Scalar();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        error(entry.first, "data.units: '" + name + "' is neither an input nor a target" + suggest(name, known) +
                               " (inputs and targets: " + join(known) + ")");
        continue;
      }
      const std::string unit = scalar_string(entry.second, "the unit of '" + name + "'");
      if (unit.empty() || unit.find_first_of("\n\r") != std::string::npos) {
        error(entry.second, "the unit of '" + name + "' must be one line of text, e.g. m/s");
        continue;
      }
      data.units[name] = unit;
    }
  }

  // `split: {train: 0.8, test: 0.2}`: fractions of the source's table, in order, after
  // one shuffle. Each part gets floor(fraction·n) rows; when the fractions add up to 1,
  // the rows left over by rounding go to the first part.
  void load_split(const YAML::Node& node, DataSpec& data, bool has_table) {
    if (!expect_map(node, "data.split")) {
      return;
    }
    if (!has_table) {
      error(node, "data.split divides the source's own rows: give data.n (drawn sources) or use a csv source");
      return;
    }
    const auto total = data.source.rows;
    double sum = 0.0;
    std::vector<SetSpec> parts;
    for (const auto& entry : node) {
      SetSpec part;
      part.name = entry.first.Scalar();
      part.origin = SetSpec::Origin::split;
      part.location = where(entry.first);
      if (!set_name(entry.first, data, parts)) {
        continue;
      }
      part.fraction = number(entry.second, "split '" + part.name + "'");
      if (!(part.fraction > 0 && part.fraction <= 1)) {
        error(entry.second, "split '" + part.name + "' must be a fraction in (0, 1], found " + entry.second.Scalar());
        continue;
      }
      sum += part.fraction;
      part.rows = static_cast<std::int64_t>(std::floor(part.fraction * static_cast<double>(total)));
      parts.push_back(std::move(part));
    }
    if (sum > 1.0 + 1e-9) {
      error(node, "data.split fractions add up to " + to_string(ParameterValue{sum}) + ", more than 1");
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
      error(node, "data.split: at most 4294967295 rows can be shuffled, the source has " + std::to_string(total));
    }
    std::int64_t begin = 0;
    for (auto& part : parts) {
      if (part.rows == 0) {
        error(node[part.name], "split '" + part.name + "' gets no rows (" + to_string(ParameterValue{part.fraction}) + " of " +
                                   std::to_string(total) + ")");
      }
      part.begin = begin;
      begin += part.rows;
      data.sets.push_back(std::move(part));
    }
  }

  bool set_name(const YAML::Node& key, const DataSpec& data, const std::vector<SetSpec>& pending) {
    const auto& name = key.Scalar();
    if (!is_plain_name(name)) {
      error(key, "set '" + printable(name) + "': names use only letters, digits, '_', '.', '-'");
      return false;
    }
    if (const auto problem = file_name_problem(name); !problem.empty()) {
      error(key, "set '" + printable(name) + "': " + problem);
      return false;
    }
    const bool taken = data.find_set(name) != nullptr ||
                       std::any_of(pending.begin(), pending.end(), [&](const SetSpec& s) { return s.name == name; });
    if (taken) {
      error(key, "set '" + name + "' is declared twice" +
                     (name == "all" ? " ('all' is the source's own rows, declared by data.n or a csv source)" : ""));
      return false;
    }
    return true;
  }

  void load_set(const YAML::Node& key, const YAML::Node& node, const YAML::Node& data_node, DataSpec& data) {
    SetSpec set;
    set.name = key.Scalar();
    set.location = where(key);
    const std::string what = "set '" + set.name + "'";
    if (!set_name(key, data, {}) || !expect_map(node, what)) {
      return;
    }
    check_keys(node, kSetKeys, what);
    if (node["seed"]) {
      set.seed = static_cast<std::uint32_t>(
          integer(node["seed"], what + " seed", 0, std::numeric_limits<std::uint32_t>::max()));
      explicit_seeds_.insert(set.name);
    }
    if (node["source"]) {
      for (const auto* key_name : {"rows", "inputs"}) {
        if (node[key_name]) {
          error(node[key_name], what + " takes its rows from its own source; give '" + key_name +
                                    "' inside `source:` (as n, or inputs)");
        }
      }
      load_other_source(node["source"], data_node, what, data, set);
      data.sets.push_back(std::move(set));
      return;
    }
    set.origin = SetSpec::Origin::drawn;
    if (!data.source.is_drawn()) {
      error(key, what + " would draw new rows, but a csv source has only its file's rows: use data.split, or "
                        "`source:` for another file");
      return;
    }
    const auto saved_constants = constants_;
    for (const auto& [name, value] : data.source.constants) {
      constants_[name] = value;
    }
    if (node["inputs"] && expect_map(node["inputs"], what + " inputs")) {
      const auto names = data.input_names();
      for (const auto& entry : node["inputs"]) {
        const auto& name = entry.first.Scalar();
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          error(entry.first, what + " overrides unknown input '" + name + "'" + suggest(name, names));
          continue;
        }
        set.overrides.push_back(load_input(entry.first, entry.second, what + " input '" + name + "'"));
      }
    }
    constants_ = saved_constants;
    // Grids tile: the rows are a multiple of the grid columns' product (once by default).
    const auto grid_rows = grid_product(data.source.inputs, set.overrides);
    if (node["rows"]) {
      set.rows = integer(node["rows"], what + " rows", 1, kMaxRows);
      check_grid_multiple(node["rows"], what + " rows", set.rows, grid_rows);
    } else if (grid_rows > 1) {
      set.rows = grid_rows;
      if (data.source.rows > 0 && data.source.rows % grid_rows == 0) {
        set.rows = data.source.rows;
      }
    } else if (data.source.rows > 0) {
      set.rows = data.source.rows;
    } else {
      error(node, what + " needs 'rows' (or data.n, the default for every set)");
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
    error(at, "the data sets need about " + bytes_text(total) + " (" + std::to_string(largest->rows) + " rows in set '" +
                  largest->name + "', " + std::to_string(static_cast<int>(columns)) + " columns, ~" +
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
      if (chosen->is_grid() && chosen->arguments.size() == 3) {
        product = std::min<std::int64_t>(product * static_cast<std::int64_t>(chosen->arguments[2]), kMaxRows + 1);
      }
    }
    return product;
  }

  void check_grid_multiple(const YAML::Node& node, const std::string& what, std::int64_t rows, std::int64_t grid) {
    if (grid > kMaxRows) {
      error(node, what + ": the grids make more than " + std::to_string(kMaxRows) + " rows");
    } else if (rows % grid != 0) {
      error(node, what + " must be a multiple of " + std::to_string(grid) +
                      ", the number of grid points (the grid is repeated rows/" + std::to_string(grid) + " times)");
    }
  }

  // A set from another source. Keys not written are taken from the pipeline's `data`
  // when the source is of the same kind; its inputs and targets must be the pipeline's.
  void load_other_source(const YAML::Node& node, const YAML::Node& data_node, const std::string& what,
                         const DataSpec& data, SetSpec& set) {
    set.origin = SetSpec::Origin::other;
    if (!expect_map(node, what + " source")) {
      return;
    }
    const std::string kind = node["source"] && node["source"].IsScalar() ? node["source"].Scalar() : data.source.kind;
    YAML::Node merged(YAML::NodeType::Map);
    if (kind == data.source.kind) {
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
    const auto errors_before = diagnostics_.size();
    auto source = load_source(merged, what + " source", &data.source, {});
    if (diagnostics_.size() != errors_before) {
      return;
    }
    if (source.input_names() != data.input_names() || source.target_names() != data.target_names()) {
      error(node, what + " source must have the pipeline's inputs (" + join(data.input_names()) + ") and targets (" +
                      join(data.target_names()) + "), in this order; found inputs (" + join(source.input_names()) +
                      ") and targets (" + join(source.target_names()) + ")");
      return;
    }
    if (source.rows == 0) {
      error(node, what + " source needs n, its number of rows");
      return;
    }
    set.rows = source.rows;
    set.source = std::make_shared<const SourceSpec>(std::move(source));
  }

  void resolve_train_set(const YAML::Node& root, Pipeline& pipeline) {
    std::vector<std::string> names;
    for (const auto& set : pipeline.data.sets) {
      names.push_back(set.name);
    }
    if (root["train"]) {
      pipeline.train_set = scalar_string(root["train"], "train");
      if (!names.empty() && pipeline.data.find_set(pipeline.train_set) == nullptr) {
        error(root["train"], "train names unknown set '" + pipeline.train_set + "'" +
                                 suggest(pipeline.train_set, names) +
                                 (pipeline.train_set == "all" ? "; 'all' exists when data.n is given or the source "
                                                                "is a csv file"
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
    if (!expect_map(node, "models")) {
      return;
    }
    if (node.size() == 0) {
      error(node, "models must declare at least one model");
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
        error(entry.first, "model '" + printable(name) + "': names use only letters, digits, '_', '.', '-'");
        continue;
      }
      if (const auto problem = file_name_problem(name); !problem.empty()) {
        error(entry.first, "model '" + printable(name) + "': " + problem);
        continue;
      }
      if (!expect_map(entry.second, what) || !require(entry.second, "plugin", what)) {
        continue;
      }
      const auto plugin_name = scalar_string(entry.second["plugin"], what + " plugin");
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
        error(entry.second["plugin"], what + " uses " +
                                          (plugin != nullptr ? "'" + plugin_name + "', a data source plugin, not a model"
                                           : refusal != nullptr
                                               ? "plugin '" + plugin_name + "', which was found in " +
                                                     refusal->file.string() + " but refused: " + refusal->reason
                                               : "unknown plugin '" + plugin_name + "'" +
                                                     did_you_mean(plugin_name, known)) +
                                          "; model plugins found: " + (known.empty() ? "none" : join(known)) +
                                          " (see `ballista plugins --verbose`)");
        continue;
      }
      std::vector<std::string> keys{"plugin", "seed"};
      for (const auto& spec : plugin->parameters()) {
        keys.push_back(spec.name());
      }
      check_keys(entry.second, keys, what + " (plugin " + plugin_name + ")");
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
        model.location = where(entry.first);
        // Variants of a sweep share the seed, so they differ by the swept values alone.
        model.seed = derive_seed(pipeline.seed, "model/" + name);
        if (const auto seed = view["seed"];
            seed && !decode_decimal(seed, model.seed)) {
          error(seed, what + " seed must be an integer from 0 to 18446744073709551615, found " + describe_node(seed));
        }
        model.plugin = plugin_name;
        if (model.name.size() > kMaxNameLength) {
          error(entry.first, "the sweep of " + what + " makes a model name of " + std::to_string(model.name.size()) +
                                 " characters, '" + model.name.substr(0, 60) + "...'; names are at most " +
                                 std::to_string(kMaxNameLength) + " characters (they become file names)");
          break;
        }
        if (!variant.empty() && !names.insert(model.name).second) {
          error(entry.first, "the sweep of " + what + " makes a model '" + model.name + "' that already exists");
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
        error(value, what + " parameter '" + parameter + "': a sweep is {sweep: [value, value, ...]}" +
                         (parameter == "plugin" ? " over parameters, not over the plugin" : " with at least one value"));
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
        error(value, what + ": the sweep makes " + (sweeps.size() > 1 ? sizes + " = " : "") +
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

  static std::optional<ParameterValue> parameter_value(const YAML::Node& node, const ParameterSpec& spec) {
    return parameter_from_yaml(node, spec);
  }

  // Every declared parameter of `plugin` from `node` (defaults for those not written);
  // nothing if any is wrong (each error reported where it was written).
  std::optional<Parameters> plugin_parameters(const ModelView& node, const LoadedPlugin& plugin,
                                              const std::string& what) {
    const std::size_t errors_before = diagnostics_.size();
    std::map<std::string, ParameterValue> values;
    for (const auto& spec : plugin.parameters()) {
      const auto value_node = node[spec.name()];
      if (!value_node) {
        if (spec.is_required()) {
          error(node.node, what + " needs parameter '" + spec.name() + "' (" + spec.allowed() + ": " + spec.doc() +
                          "), e.g. " + to_string(spec.default_value()));
        }
        values[spec.name()] = spec.default_value();
        continue;
      }
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
      return std::nullopt;
    }
    return Parameters(std::move(values));
  }

  bool load_parameters(const ModelView& view, const LoadedPlugin& plugin, const std::string& what,
                       const DataSpec& data, ModelSpec& model) {
    const std::size_t errors_before = diagnostics_.size();
    auto parameters = plugin_parameters(view, plugin, what);
    if (!parameters || diagnostics_.size() != errors_before) {
      return false;
    }
    model.parameters = std::move(*parameters);
    // The plugin's own checks (an expression that does not parse, say), located where
    // the user wrote the parameter.
    try {
      (void)plugin.definition.create(model.parameters);
    } catch (const ParameterError& problem) {
      error(view[problem.parameter()] ? view[problem.parameter()] : view.node,
            what + " parameter '" + problem.parameter() + "': " + problem.what());
      return false;
    } catch (const std::exception& problem) {
      error(view.node, what + ": plugin " + plugin.name + " rejected the parameters: " + problem.what());
      return false;
    } catch (...) {
      error(view.node, what + ": plugin " + plugin.name + " failed to build the model: " + non_standard_exception());
      return false;
    }
    return expressions_read_the_data(view, plugin, what, data, model.parameters);
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
              error(located, what + " parameter '" + spec.name() + "': " + label + " '" + printable(texts[i]) +
                               "' reads '" + name + "', which is not an input or a constant of the data (" +
                               known_text + ")" + suggest(name, known));
              fine = false;
            }
          }
        } catch (const ExpressionError& problem) {
          error(located, what + " parameter '" + spec.name() + "': " + label + " '" + printable(texts[i]) +
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
        if (std::find(evaluation.sets.begin(), evaluation.sets.end(), name) != evaluation.sets.end()) {
          error(element, "evaluate.sets names set '" + name + "' twice");
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
        if (std::find(evaluation.metrics.begin(), evaluation.metrics.end(), name) != evaluation.metrics.end()) {
          error(element, "evaluate.metrics names metric '" + name + "' twice");
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
  std::vector<std::pair<YAML::Node, std::filesystem::path>> base_nodes_;  // nodes read from an `extends` file
  std::size_t visits_ = 0;     // nodes visited by whole-document walks
  int documents_read_ = 0;     // the pipeline and its bases, each time one is read
  bool walk_refused_ = false;  // a walk went beyond its limits (reported once)
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

void emit_parameters(YAML::Emitter& out, const Parameters& parameters, const LoadedPlugin* plugin) {
  for (const auto& [name, value] : parameters.values()) {
    out << YAML::Key << name << YAML::Value;
    emit_value(out, value);
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
  out << YAML::Key << "source" << YAML::Value << source.kind;
  if (source.kind == "csv") {
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
  emit_parameters(out, source.parameters, catalog.find(source.kind));
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

std::vector<std::string> SourceSpec::input_names() const {
  std::vector<std::string> names;
  for (const auto& input : inputs) {
    names.push_back(input.name);
  }
  return names;
}

std::vector<std::string> SourceSpec::target_names() const {
  std::vector<std::string> names;
  for (const auto& target : targets) {
    names.push_back(target.name);
  }
  return names;
}

std::string DataSpec::label(const std::string& name) const {
  const auto found = units.find(name);
  return found == units.end() ? name : name + " [" + found->second + "]";
}

const SetSpec* DataSpec::find_set(const std::string& name) const {
  const auto found = std::find_if(sets.begin(), sets.end(), [&](const SetSpec& set) { return set.name == name; });
  return found == sets.end() ? nullptr : &*found;
}

std::optional<ParameterValue> parse_parameter(const std::string& text, const ParameterSpec& spec) {
  try {
    const auto node = YAML::Load(text);
    return parameter_from_yaml(node, spec);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

Pipeline load_pipeline(const std::filesystem::path& file, const PluginCatalog& catalog,
                       const std::vector<std::string>& overrides) {
  return Loader(file, catalog, overrides).load();
}

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
