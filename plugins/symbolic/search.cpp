// Islands of regularised evolution, their epochs, migration and the merged front.
#include "search.hpp"

#include "constant_fitting.hpp"
#include "simplifier.hpp"

#include <ballista/parallel.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace symbolic {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// SplitMix64 (Steele, Lea, Flood 2014): small state, passes BigCrush, and its output is
// defined bit for bit, unlike the distributions of <random>.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(double p) { return uniform() < p; }
  double normal() {
    // Box–Muller; one of the pair is enough here.
    const double u = 1.0 - uniform();
    const double v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * 3.14159265358979323846 * v);
  }

 private:
  std::uint64_t state_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Random random(a ^ (b * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL));
  random.next();
  return random.next();
}

// The values at the fingerprint rows, each rounded to about 9 significant digits,
// hashed (FNV-1a over the rounded mantissas and exponents).
std::uint64_t fingerprint_of(const std::vector<double>& values) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto feed = [&hash](std::uint64_t word) {
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (word >> (8 * byte)) & 0xffU;
      hash *= 0x100000001b3ULL;
    }
  };
  for (const double value : values) {
    int exponent = 0;
    const double mantissa = std::frexp(value, &exponent);
    feed(static_cast<std::uint64_t>(static_cast<std::int64_t>(std::llround(mantissa * 0x1.0p30))));
    feed(static_cast<std::uint64_t>(static_cast<std::int64_t>(exponent)));
  }
  return hash;
}

// What the islands share, read-only.
struct Shared {
  const SearchProblem& problem;
  const SearchSettings& settings;
  SimplifyContext simplify;
  Columns fingerprint_columns;  // a few fixed rows of the data
  double scale = 1.0;           // the targets' variance (or mean square), to normalise errors
  double snap_floor = 0.0;
};

struct Cached {
  bool valid = false;
  Candidate candidate;
};

class Island {
 public:
  Island(const Shared& shared, std::uint64_t seed)
      : shared_(shared),
        settings_(shared.settings),
        random_(seed),
        evaluator_(shared.problem.columns),
        fingerprinter_(shared.fingerprint_columns),
        hall_(static_cast<std::size_t>(settings_.max_complexity) + 1) {}

  void initialise() {
    const auto size = static_cast<std::size_t>(settings_.population);
    while (population_.size() < size) {
      const int max_depth = 1 + static_cast<int>(random_.below(3));
      auto child = score(grow(max_depth));
      if (child) {
        remember(*child);
        population_.push_back(std::move(*child));
      } else {
        // A first member that scores nothing (log of a negative input, say) still takes
        // its place, with an infinite loss, so that the population has its size.
        Candidate filler;
        filler.tree = {random_terminal()};
        filler.mse = filler.loss = filler.fitness = kInfinity;
        filler.complexity = 1;
        filler.birth = births_++;
        population_.push_back(std::move(filler));
      }
    }
  }

  // One epoch: `children` candidates, each from a tournament winner (or two, crossed),
  // replacing the oldest member of the population.
  void evolve(std::int64_t children) {
    for (std::int64_t c = 0; c < children; ++c) {
      std::optional<Tree> tree;
      for (int attempt = 0; attempt < 10 && !tree; ++attempt) {
        if (random_.chance(0.1) && population_.size() > 1) {
          tree = crossover(tournament().tree, tournament().tree);
        } else {
          tree = mutate(tournament().tree);
        }
        if (tree && !acceptable(*tree)) {
          tree.reset();
        }
      }
      if (!tree) {
        continue;
      }
      auto child = score(std::move(*tree));
      if (child) {
        admit(std::move(*child));
      }
    }
  }

  // Replaces a random member by a copy of `migrant`, as a newborn.
  void receive(const Candidate& migrant) {
    if (population_.empty()) {
      return;
    }
    auto& slot = population_[random_.below(population_.size())];
    slot = migrant;
    slot.birth = births_++;
  }

  std::size_t pick(std::size_t n) { return random_.below(n); }

  const Candidate& best() const {
    return *std::min_element(population_.begin(), population_.end(),
                             [](const Candidate& a, const Candidate& b) { return a.fitness < b.fitness; });
  }
  const std::vector<std::optional<Candidate>>& hall() const { return hall_; }

 private:
  bool acceptable(const Tree& tree) const {
    return static_cast<std::int64_t>(tree.size()) <= settings_.max_complexity &&
           (settings_.nesting || !has_nested_transcendental(tree)) && constant_exponents(tree);
  }

  // ^ is a power law, x^c: its exponent a number or a fitted constant. (exp and log
  // give the rest; c^x and x^y would mostly cost pow calls and fit nothing new.)
  static bool constant_exponents(const Tree& tree) {
    for (std::size_t i = 0; i < tree.size(); ++i) {
      if (tree[i].op == Op::power) {
        const Op exponent = tree[subtree_end(tree, i + 1)].op;
        if (exponent != Op::constant && exponent != Op::number) {
          return false;
        }
      }
    }
    return true;
  }

  // A starting exponent: a common one, which the fit then moves.
  Node random_exponent() {
    static constexpr double kExponents[] = {2.0, 3.0, 0.5, -1.0, -2.0};
    return Node{Op::constant, 0, kExponents[random_.below(5)]};
  }

  const Candidate& tournament() {
    const std::size_t size = std::min<std::size_t>(6, population_.size());
    const Candidate* winner = &population_[random_.below(population_.size())];
    for (std::size_t i = 1; i < size; ++i) {
      const Candidate* other = &population_[random_.below(population_.size())];
      if (other->fitness < winner->fitness) {
        winner = other;
      }
    }
    return *winner;
  }

  double random_constant() {
    const double magnitude = std::exp(random_.normal());
    return random_.chance(0.5) ? -magnitude : magnitude;
  }

  Node random_terminal() {
    const auto& columns = shared_.problem.columns;
    const double u = random_.uniform();
    if (u < 0.2) {
      return Node{Op::constant, 0, random_constant()};
    }
    if ((u < 0.3 || columns.inputs.empty()) && !columns.named.empty()) {
      return Node{Op::named, static_cast<std::int32_t>(random_.below(columns.named.size())), 0.0};
    }
    if (columns.inputs.empty()) {
      return Node{Op::constant, 0, random_constant()};
    }
    return Node{Op::input, static_cast<std::int32_t>(random_.below(columns.inputs.size())), 0.0};
  }

  Op random_operator(bool unary) {
    const auto& ops = unary ? settings_.unary : settings_.binary;
    return ops[random_.below(ops.size())];
  }

  // A random tree of at most `max_depth` levels.
  Tree grow(int max_depth) {
    Tree tree;
    grow_into(tree, max_depth);
    return tree;
  }
  void grow_into(Tree& tree, int max_depth) {
    if (max_depth <= 1 || random_.chance(0.3)) {
      tree.push_back(random_terminal());
      return;
    }
    const bool unary = !settings_.unary.empty() && (settings_.binary.empty() || random_.chance(0.3));
    if (!unary && settings_.binary.empty()) {
      tree.push_back(random_terminal());
      return;
    }
    const Op op = random_operator(unary);
    tree.push_back(Node{op, 0, 0.0});
    grow_into(tree, max_depth - 1);
    if (op == Op::power) {
      tree.push_back(random_exponent());
    } else if (arity(op) == 2) {
      grow_into(tree, max_depth - 1);
    }
  }

  static Tree splice(const Tree& tree, std::size_t begin, std::size_t end, const Tree& piece) {
    Tree out;
    out.reserve(tree.size() - (end - begin) + piece.size());
    out.insert(out.end(), tree.begin(), tree.begin() + static_cast<std::ptrdiff_t>(begin));
    out.insert(out.end(), piece.begin(), piece.end());
    out.insert(out.end(), tree.begin() + static_cast<std::ptrdiff_t>(end), tree.end());
    return out;
  }

  std::optional<Tree> crossover(const Tree& a, const Tree& b) {
    const std::size_t at = random_.below(a.size());
    const std::size_t from = random_.below(b.size());
    const Tree piece(b.begin() + static_cast<std::ptrdiff_t>(from),
                     b.begin() + static_cast<std::ptrdiff_t>(subtree_end(b, from)));
    return splice(a, at, subtree_end(a, at), piece);
  }

  std::optional<Tree> mutate(const Tree& parent) {
    std::vector<std::size_t> operators;
    std::vector<std::size_t> leaves;
    for (std::size_t i = 0; i < parent.size(); ++i) {
      if (is_leaf(parent[i].op)) {
        leaves.push_back(i);
      } else {
        operators.push_back(i);
      }
    }
    const bool has_constants = constant_count(parent) > 0;
    // Weights: operator, leaf, insert, delete, new subtree, new constants.
    const double weights[] = {operators.empty() ? 0.0 : 3.0, 3.0, 2.5, operators.empty() ? 0.0 : 1.5, 1.0,
                              has_constants ? 0.5 : 0.0};
    double total = 0.0;
    for (const double w : weights) {
      total += w;
    }
    double u = random_.uniform() * total;
    int kind = 0;
    while (kind < 5 && u >= weights[kind]) {
      u -= weights[kind];
      ++kind;
    }
    Tree tree = parent;
    switch (kind) {
      case 0: {  // another operator of the same arity
        Node& node = tree[operators[random_.below(operators.size())]];
        const bool unary = arity(node.op) == 1;
        if ((unary ? settings_.unary : settings_.binary).size() < 2) {
          return std::nullopt;
        }
        Op op = node.op;
        while (op == node.op) {
          op = random_operator(unary);
        }
        node.op = op;
        return tree;
      }
      case 1: {  // another leaf
        tree[leaves[random_.below(leaves.size())]] = random_terminal();
        return tree;
      }
      case 2: {  // an operation around a subtree: u(s), s ∘ t or t ∘ s
        const std::size_t at = random_.below(tree.size());
        const std::size_t end = subtree_end(tree, at);
        const Tree inner(tree.begin() + static_cast<std::ptrdiff_t>(at), tree.begin() + static_cast<std::ptrdiff_t>(end));
        Tree piece;
        const bool unary = !settings_.unary.empty() && (settings_.binary.empty() || random_.chance(0.35));
        if (unary) {
          piece.push_back(Node{random_operator(true), 0, 0.0});
          piece.insert(piece.end(), inner.begin(), inner.end());
        } else if (!settings_.binary.empty()) {
          const Op op = random_operator(false);
          piece.push_back(Node{op, 0, 0.0});
          if (op == Op::power) {
            piece.insert(piece.end(), inner.begin(), inner.end());
            piece.push_back(random_exponent());
          } else if (random_.chance(0.5)) {
            piece.insert(piece.end(), inner.begin(), inner.end());
            piece.push_back(random_terminal());
          } else {
            piece.push_back(random_terminal());
            piece.insert(piece.end(), inner.begin(), inner.end());
          }
        } else {
          return std::nullopt;
        }
        return splice(tree, at, end, piece);
      }
      case 3: {  // an operation replaced by one of its operands
        const std::size_t at = operators[random_.below(operators.size())];
        std::size_t child = at + 1;
        if (arity(tree[at].op) == 2 && random_.chance(0.5)) {
          child = subtree_end(tree, at + 1);
        }
        const Tree piece(tree.begin() + static_cast<std::ptrdiff_t>(child),
                         tree.begin() + static_cast<std::ptrdiff_t>(subtree_end(tree, child)));
        return splice(tree, at, subtree_end(tree, at), piece);
      }
      case 4: {  // a new random subtree
        const std::size_t at = random_.below(tree.size());
        return splice(tree, at, subtree_end(tree, at), grow(1 + static_cast<int>(random_.below(3))));
      }
      default: {  // fresh starting values for the constant fitting
        for (auto& node : tree) {
          if (node.op == Op::constant) {
            node.value = random_constant();
          }
        }
        return tree;
      }
    }
  }

  // Simplifies, fits and scores a tree; std::nullopt when it cannot be a member (too
  // large, not finite on the data).
  std::optional<Candidate> score(Tree tree) {
    tree = simplify(tree, shared_.simplify);
    if (!acceptable(tree)) {
      return std::nullopt;
    }
    auto key = structure_key(tree);
    if (const auto found = cache_.find(key); found != cache_.end()) {
      if (!found->second.valid) {
        return std::nullopt;
      }
      Candidate copy = found->second.candidate;
      copy.birth = births_++;
      return copy;
    }
    if (cache_.size() >= kCacheLimit) {
      cache_.clear();
    }
    auto& entry = cache_[std::move(key)];
    const auto& problem = shared_.problem;
    double mse = fit_constants(tree, evaluator_, problem.targets, settings_.lm_iterations, scratch_);
    mse = snap_constants(tree, mse, evaluator_, problem.targets, settings_.lm_iterations, shared_.simplify,
                         shared_.snap_floor, scratch_);
    if (!std::isfinite(mse) || !acceptable(tree)) {
      return std::nullopt;
    }
    // Wrong units cost the penalty in both modes: a hard-units search still needs the
    // population to evolve through inconsistent forms; it only keeps them off the front.
    double loss = mse;
    bool units_ok = true;
    if (settings_.units != UnitsMode::off && !units_match(tree, problem)) {
      units_ok = false;
      loss *= settings_.units_penalty;
    }
    Candidate candidate;
    candidate.units_ok = units_ok;
    candidate.complexity = static_cast<std::int64_t>(tree.size());
    candidate.mse = mse;
    candidate.loss = loss;
    candidate.fitness = std::log(loss / shared_.scale + 1e-14) + settings_.parsimony * static_cast<double>(candidate.complexity);
    fingerprinter_.values(tree, fingerprint_values_);
    candidate.fingerprint = fingerprint_of(fingerprint_values_);
    candidate.tree = std::move(tree);
    entry.valid = true;
    entry.candidate = candidate;
    candidate.birth = births_++;
    return candidate;
  }

  // Keeps `candidate` in the hall of fame if it is the best of its complexity so far.
  void remember(const Candidate& candidate) {
    if (!candidate.units_ok && settings_.units == UnitsMode::hard) {
      return;
    }
    auto& holder = hall_[static_cast<std::size_t>(candidate.complexity)];
    if (!holder || candidate.loss < holder->loss) {
      holder = candidate;
    }
  }

  void admit(Candidate child) {
    remember(child);
    // A member with the same values and no more nodes makes the child a duplicate.
    for (const auto& member : population_) {
      if (member.fingerprint == child.fingerprint && member.complexity <= child.complexity &&
          std::isfinite(member.loss)) {
        return;
      }
    }
    auto oldest = std::min_element(population_.begin(), population_.end(),
                                   [](const Candidate& a, const Candidate& b) { return a.birth < b.birth; });
    *oldest = std::move(child);
  }

  // Fitted candidates by shape, cleared when full: ~16 MB at most per island.
  static constexpr std::size_t kCacheLimit = 1 << 15;

  const Shared& shared_;
  const SearchSettings& settings_;
  Random random_;
  Evaluator evaluator_;
  Evaluator fingerprinter_;
  FitScratch scratch_;
  std::vector<double> fingerprint_values_;
  std::vector<Candidate> population_;
  std::vector<std::optional<Candidate>> hall_;  // the lowest loss seen at each complexity
  std::unordered_map<std::string, Cached> cache_;
  std::int64_t births_ = 0;
};

}  // namespace

bool units_match(const Tree& tree, const SearchProblem& problem) {
  if (!problem.units) {
    return true;
  }
  const auto unit = tree_unit(tree, *problem.units);
  return unit && *unit == problem.target_unit;
}

std::vector<Candidate> pareto_front(std::vector<Candidate> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.complexity < b.complexity || (a.complexity == b.complexity && a.loss < b.loss);
  });
  std::vector<Candidate> front;
  std::unordered_set<std::uint64_t> seen;
  for (auto& candidate : candidates) {
    if (!std::isfinite(candidate.loss)) {
      continue;
    }
    if (!front.empty() && !(candidate.loss < (1.0 - 1e-6) * front.back().loss)) {
      continue;
    }
    if (!seen.insert(candidate.fingerprint).second) {
      continue;
    }
    front.push_back(std::move(candidate));
  }
  return front;
}

SearchOutcome run_search(const SearchProblem& problem, const SearchSettings& settings, const SearchMonitor& monitor) {
  const auto start = std::chrono::steady_clock::now();
  Shared shared{problem, settings, {}, {}, 1.0, 0.0};
  for (const Op op : settings.binary) {
    shared.simplify.allowed[static_cast<std::size_t>(op)] = true;
  }
  for (const Op op : settings.unary) {
    shared.simplify.allowed[static_cast<std::size_t>(op)] = true;
  }
  shared.simplify.named_values = problem.columns.named;
  shared.simplify.absorb_named = settings.units == UnitsMode::off;
  // Fingerprint rows: eight spread over the data (fewer when there are fewer).
  const std::size_t rows = problem.columns.rows;
  const std::size_t marks = std::min<std::size_t>(8, rows);
  shared.fingerprint_columns.rows = marks;
  shared.fingerprint_columns.named = problem.columns.named;
  for (const auto& column : problem.columns.inputs) {
    std::vector<double> picked;
    for (std::size_t i = 0; i < marks; ++i) {
      picked.push_back(column[(i * rows) / marks]);
    }
    shared.fingerprint_columns.inputs.push_back(std::move(picked));
  }
  double mean = 0.0;
  double square = 0.0;
  for (const double y : problem.targets) {
    mean += y;
    square += y * y;
  }
  mean /= static_cast<double>(rows);
  square /= static_cast<double>(rows);
  const double variance = square - mean * mean;
  shared.scale = variance > 1e-12 * square ? variance : (square > 0.0 ? square : 1.0);
  shared.snap_floor = 1e-24 * (square > 0.0 ? square : 1.0);

  const auto island_count = static_cast<std::size_t>(settings.islands);
  std::vector<std::unique_ptr<Island>> islands;
  for (std::size_t i = 0; i < island_count; ++i) {
    islands.push_back(std::make_unique<Island>(shared, mix(settings.seed, i + 1)));
  }
  ballista::parallel_tasks(settings.islands, [&](std::int64_t i) { islands[static_cast<std::size_t>(i)]->initialise(); });

  SearchOutcome outcome;
  const std::int64_t per_epoch = settings.islands * settings.population;
  outcome.evaluations = per_epoch;
  const std::int64_t total_epochs = std::max<std::int64_t>(1, (settings.max_evaluations - per_epoch + per_epoch - 1) / per_epoch);
  std::vector<std::optional<Candidate>> hall(static_cast<std::size_t>(settings.max_complexity) + 1);
  const auto merge = [&] {
    for (const auto& island : islands) {
      for (std::size_t c = 0; c < hall.size(); ++c) {
        const auto& entry = island->hall()[c];
        if (entry && (!hall[c] || entry->loss < hall[c]->loss)) {
          hall[c] = entry;
        }
      }
    }
  };
  const auto current_front = [&] {
    std::vector<Candidate> all;
    for (const auto& entry : hall) {
      if (entry) {
        all.push_back(*entry);
      }
    }
    return pareto_front(std::move(all));
  };
  merge();
  while (outcome.evaluations < settings.max_evaluations) {
    if (monitor.cancelled && monitor.cancelled()) {
      outcome.cancelled = true;
      break;
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (settings.time_limit > 0.0 && elapsed.count() >= settings.time_limit) {
      outcome.out_of_time = true;
      break;
    }
    ballista::parallel_tasks(settings.islands,
                             [&](std::int64_t i) { islands[static_cast<std::size_t>(i)]->evolve(settings.population); });
    outcome.evaluations += per_epoch;
    ++outcome.epochs;
    merge();
    // Migration, in island order on this thread: copies of the front's members, and each
    // island's best to the next island (the bests taken before any island receives one).
    const auto front = current_front();
    std::vector<Candidate> bests;
    for (const auto& island : islands) {
      bests.push_back(island->best());
    }
    const std::int64_t from_front = std::max<std::int64_t>(1, settings.population / 20);
    for (std::size_t i = 0; i < island_count; ++i) {
      auto& island = *islands[i];
      for (std::int64_t m = 0; m < from_front && !front.empty(); ++m) {
        island.receive(front[island.pick(front.size())]);
      }
      if (island_count > 1) {
        island.receive(bests[(i + 1) % island_count]);
      }
    }
    if (monitor.progress) {
      // clang-tidy 14 reads the infinity constant as a narrowing from double to double.
      // NOLINTNEXTLINE(bugprone-narrowing-conversions)
      monitor.progress(outcome.epochs, total_epochs, front.empty() ? kInfinity : front.back().loss);
    }
  }
  outcome.front = current_front();
  outcome.simplify = shared.simplify;
  outcome.snap_floor = shared.snap_floor;
  return outcome;
}

}  // namespace symbolic
