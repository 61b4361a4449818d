// Reading a pipeline file as one YAML document (see yaml_document.hpp).
#include "yaml_document.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string_view>
#include <system_error>

namespace ballista::host {

namespace {

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

}  // namespace

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

bool has_radix_prefix(const std::string& text) {
  const std::size_t digits = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  return text.size() > digits + 1 && text[digits] == '0' &&
         std::string_view("xXoObB").find(text[digits + 1]) != std::string_view::npos;
}

YamlDocument::YamlDocument(std::filesystem::path file, std::vector<std::string> overrides)
    : file_(std::move(file)), override_texts_(std::move(overrides)) {
  std::vector<std::filesystem::path> chain;
  root_.reset(load_document(file_, chain, {}));
  throw_if_errors();
  apply_overrides(root_);
}

// --- diagnostics ----------------------------------------------------------------------
SourceLocation YamlDocument::where(const YAML::Node& node) const {
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

void YamlDocument::error(const YAML::Node& node, std::string message) {
  diagnostics_.push_back({where(node), std::move(message)});
}

void YamlDocument::error(SourceLocation location, std::string message) {
  diagnostics_.push_back({std::move(location), std::move(message)});
}

void YamlDocument::throw_if_errors() const {
  if (!diagnostics_.empty()) {
    throw InputError(diagnostics_);
  }
}

// --- documents and `extends` --------------------------------------------------------------
// Reads `file` with its merge keys expanded and, if it `extends` others, every key it
// lacks filled in from them (mappings merged key by key, anything else replaced).
// Nodes that come from a base file are remembered, so errors name that file.
YAML::Node YamlDocument::load_document(const std::filesystem::path& file, std::vector<std::filesystem::path>& chain,
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

void YamlDocument::remember_base_nodes(const YAML::Node& node, const std::filesystem::path& file, int depth) {
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
bool YamlDocument::beyond_limits(const YAML::Node& node, int depth) {
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
void YamlDocument::fill_from(YAML::Node target, const YAML::Node& base, int depth) {
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

// --- YAML merge keys ------------------------------------------------------------
// yaml-cpp reads `<<: *base` as an ordinary key. Expand it as YAML 1.1 does: the
// mapping (or list of mappings) it names supplies every key the mapping lacks.
void YamlDocument::expand_merge_keys(YAML::Node node, int depth) {
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
void YamlDocument::apply_overrides(YAML::Node& root) {
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

// --- typed readers ----------------------------------------------------------------------
void YamlDocument::check_keys(const YAML::Node& map, const std::vector<std::string>& allowed,
                              const std::string& context) {
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

bool YamlDocument::require(const YAML::Node& map, const std::string& key, const std::string& context) {
  if (!map[key]) {
    error(map, context + " needs the key '" + key + "'");
    return false;
  }
  return true;
}

bool YamlDocument::expect_map(const YAML::Node& node, const std::string& what) {
  if (!node.IsMap()) {
    error(node, what + " must be a mapping, found " + describe_node(node));
    return false;
  }
  return true;
}

bool YamlDocument::expect_sequence(const YAML::Node& node, const std::string& what) {
  if (!node.IsSequence()) {
    error(node, what + " must be a list, found " + describe_node(node));
    return false;
  }
  return true;
}

std::string YamlDocument::scalar_string(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) {
    error(node, what + " must be a string, found " + describe_node(node));
    return {};
  }
  return node.Scalar();
}

std::int64_t YamlDocument::integer(const YAML::Node& node, const std::string& what, std::int64_t low,
                                   std::int64_t high) {
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

bool YamlDocument::boolean(const YAML::Node& node, const std::string& what) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    error(node, what + " must be true or false, found " + describe_node(node));
  }
  return value;
}

double YamlDocument::number(const YAML::Node& node, const std::string& what,
                            const Expression::ScalarBindings& constants) {
  if (!node.IsScalar()) {
    error(node, what + " must be a number, found " + describe_node(node));
    return 0.0;
  }
  return constant_expression(node, node.Scalar(), what, constants);
}

double YamlDocument::constant_expression(const YAML::Node& node, const std::string& text, const std::string& what,
                                         const Expression::ScalarBindings& constants) {
  try {
    const double value = Expression::parse(text).evaluate(constants);
    if (!std::isfinite(value)) {
      error(node, what + " must be finite, '" + text + "' is " + std::to_string(value));
    }
    return value;
  } catch (const ExpressionError& problem) {
    error(node, what + ": '" + text + "': " + problem.what());
    return 0.0;
  }
}

}  // namespace ballista::host
