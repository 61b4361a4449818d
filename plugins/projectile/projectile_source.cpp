// A data source: the range of a shell fired from the ground, with optional air drag.
//
// Inputs v (muzzle speed, m/s) and theta (elevation, rad); target s (m), the horizontal
// distance at which the shell comes back down to its launch height y = 0.
//
// Equations of motion of a point mass in uniform gravity, velocity u = (u_x, u_y):
//   dx/dt = u_x            du_x/dt = −D(u)·u_x
//   dy/dt = u_y            du_y/dt = −g − D(u)·u_y
// with D(u) = drag·|u| (quadratic law, the usual one for a shell: force ∝ speed²) or
// D(u) = drag (linear law, Stokes drag: has a closed form, which the tests use). `drag`
// is the drag coefficient divided by the mass: 1/m for the quadratic law, 1/s for the
// linear one. Without drag the range is the article's s = v² sin(2θ)/g.
//
// Integrated with classic fourth-order Runge–Kutta (RK4) in double precision, one row at
// a time: a tight scalar loop is both clearer and much faster than launching a dozen
// small tensor operations per stage per step. The landing lies inside the first step
// that ends at y ≤ 0; instead of interpolating linearly (an O(dt²) error that would
// swamp RK4's O(dt⁴)), we take one last RK4 step from the state before it, of the length
// τ ∈ (0, dt] that makes it end exactly at y = 0 (found by regula falsi). The range is
// then as accurate as the integration itself: globally O(dt⁴). Without drag the motion
// is a quadratic in t, which RK4 integrates exactly, so s matches the closed form to
// rounding. A dt too coarse for the drag (damping rate · dt > 1, where RK4 approaches
// instability and would land anywhere) is refused rather than silently wrong.
#include <ballista/plugin.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

struct State {
  double x, y, ux, uy;  // m, m, m/s, m/s
};

// The shortest text that reads back as exactly `value` ("1.6", "1.5707963267948966"): a
// value just outside a bound never prints as the bound. Suggestions use 3 digits.
std::string format(double value, std::optional<int> digits = std::nullopt) {
  std::array<char, 32> text{};
  const auto end = digits ? std::to_chars(text.begin(), text.end(), value, std::chars_format::general, *digits).ptr
                          : std::to_chars(text.begin(), text.end(), value).ptr;
  return {text.begin(), end};
}

class ProjectileSource final : public ballista::Source {
 public:
  explicit ProjectileSource(const ballista::Parameters& parameters)
      : g_(parameters.get<double>("g")),
        drag_(parameters.get<double>("drag")),
        quadratic_(parameters.get<std::string>("drag_law") == "quadratic"),
        dt_(parameters.get<double>("dt")),
        max_time_(parameters.get<double>("max_time")) {
    if (dt_ > max_time_) {
      throw ballista::ParameterError("dt", "dt (" + format(dt_) + " s) must not exceed max_time (" +
                                               format(max_time_) + " s)");
    }
    // Even a slow shell falls towards its terminal speed: the damping rate there is a
    // property of the parameters alone (rows add their own check in simulate()).
    if (damping_rate(0.0) * dt_ > kMaxRateTimesStep) {
      throw ballista::ParameterError("dt", "dt = " + format(dt_) + " s is too coarse for this drag (damping rate " +
                                               format(damping_rate(0.0), 3) + "/s); use dt <= " +
                                               format(kMaxRateTimesStep / damping_rate(0.0), 3));
    }
  }

  // inputs [n, 2] = (v, theta) → [n, 1] = s. A shell still in the air at max_time gives
  // NaN (the contract has no per-row error; the host refuses a set with NaN and names the
  // first such row), and one warning through the context says why. Bad inputs, or a dt
  // too coarse for a row's speed, throw.
  torch::Tensor simulate(const torch::Tensor& inputs, ballista::Context& context) override {
    if (inputs.dim() != 2 || inputs.size(1) != 2) {
      std::ostringstream sizes;
      sizes << inputs.sizes();
      throw std::invalid_argument("projectile: expected inputs [n, 2] (v, theta), got " + sizes.str());
    }
    const auto table = inputs.to(torch::kCPU, torch::kFloat64).contiguous();
    const auto in = table.accessor<double, 2>();
    const auto rows = table.size(0);
    // Check every row before spending time on any.
    for (std::int64_t i = 0; i < rows; ++i) {
      const double v = in[i][0];
      const double theta = in[i][1];
      if (!(v >= 0.0 && std::isfinite(v))) {
        throw std::invalid_argument("projectile: input row " + std::to_string(i) + " (counting from 0) has v = " +
                                    format(v) + " m/s; the muzzle speed must be finite and >= 0");
      }
      if (!(theta >= 0.0 && theta <= std::numbers::pi / 2)) {
        throw std::invalid_argument("projectile: input row " + std::to_string(i) + " (counting from 0) has theta = " +
                                    format(theta) + " rad; the elevation must lie in [0, pi/2 = " +
                                    format(std::numbers::pi / 2) + "]");
      }
      if (damping_rate(v) * dt_ > kMaxRateTimesStep) {
        throw std::invalid_argument("projectile: input row " + std::to_string(i) + " (counting from 0) has v = " +
                                    format(v) + " m/s, too fast for dt = " + format(dt_) +
                                    " s with this drag; use dt <= " + format(kMaxRateTimesStep / damping_rate(v), 3));
      }
    }
    auto result = torch::empty({rows, 1}, torch::kFloat64);
    auto out = result.accessor<double, 2>();
    std::int64_t in_the_air = 0;
    std::int64_t first = -1;
    for (std::int64_t i = 0; i < rows; ++i) {
      if (context.cancelled()) {
        throw std::runtime_error("projectile: cancelled");
      }
      out[i][0] = range(in[i][0], in[i][1]);
      if (std::isnan(out[i][0])) {
        if (in_the_air++ == 0) {
          first = i;
        }
      }
    }
    // The NaN itself cannot say why; the log can.
    if (in_the_air > 0) {
      context.log(ballista::LogLevel::warning,
                  "projectile: " + std::to_string(in_the_air) + " of " + std::to_string(rows) +
                      " shots were still in the air at max_time = " + format(max_time_) + " s (first: row " +
                      std::to_string(first) + ", v = " + format(in[first][0]) + " m/s, theta = " +
                      format(in[first][1]) + " rad); their range is NaN");
    }
    return result;
  }

 private:
  // RK4 damps a mode of rate λ correctly only while λ·dt is well inside its stability
  // limit (2.79); beyond it the integration blows up or, worse, lands somewhere absurd.
  static constexpr double kMaxRateTimesStep = 1.0;

  // The largest damping rate (1/s) of a shot fired at speed v: the drag term's Jacobian
  // has eigenvalues −drag·|u| and −2·drag·|u| (quadratic) or −drag (linear), and |u|
  // never exceeds max(v, √(g/drag)): above the terminal speed drag outweighs gravity.
  double damping_rate(double v) const {
    if (drag_ == 0.0 || !quadratic_) {
      return drag_;
    }
    return 2 * drag_ * std::max(v, std::sqrt(g_ / drag_));
  }

  // d(state)/dt.
  State derivative(const State& s) const {
    const double d = quadratic_ ? drag_ * std::sqrt(s.ux * s.ux + s.uy * s.uy) : drag_;
    return {s.ux, s.uy, -d * s.ux, -g_ - d * s.uy};
  }

  // One classic RK4 step of length h.
  State step(const State& s, double h) const {
    const auto along = [&s](const State& k, double a) {
      return State{s.x + a * k.x, s.y + a * k.y, s.ux + a * k.ux, s.uy + a * k.uy};
    };
    const State k1 = derivative(s);
    const State k2 = derivative(along(k1, h / 2));
    const State k3 = derivative(along(k2, h / 2));
    const State k4 = derivative(along(k3, h));
    return {s.x + h / 6 * (k1.x + 2 * k2.x + 2 * k3.x + k4.x), s.y + h / 6 * (k1.y + 2 * k2.y + 2 * k3.y + k4.y),
            s.ux + h / 6 * (k1.ux + 2 * k2.ux + 2 * k3.ux + k4.ux),
            s.uy + h / 6 * (k1.uy + 2 * k2.uy + 2 * k3.uy + k4.uy)};
  }

  // The range of one shot (m), NaN if it has not landed by max_time.
  double range(double v, double theta) const {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    if (v == 0.0 || theta == 0.0) {
      return 0.0;  // never leaves the ground
    }
    State state{0.0, 0.0, v * std::cos(theta), v * std::sin(theta)};
    // t = n·dt from an integer count, so that rounding does not accumulate in t.
    for (std::int64_t n = 0; static_cast<double>(n) * dt_ < max_time_; ++n) {
      const State next = step(state, dt_);
      if (!std::isfinite(next.x) || !std::isfinite(next.y) || !std::isfinite(next.ux) || !std::isfinite(next.uy)) {
        return nan;  // cannot happen within the dt checks; never loop on NaN regardless
      }
      if (next.y <= 0.0) {
        const double tau = landing_step(state, next, n == 0);
        return static_cast<double>(n) * dt_ + tau <= max_time_ ? step(state, tau).x : nan;
      }
      state = next;
    }
    return nan;
  }

  // The length τ ∈ (0, dt] of the RK4 step from `state` (y > 0, or the launch point)
  // that ends at y = 0, knowing that the full step `next` ends at y ≤ 0. Regula falsi
  // with the Illinois modification (superlinear, and the bracket always holds the root).
  // At launch y(0) = 0 is itself a root, so there we solve y(τ)/τ = 0 instead, whose
  // value at τ → 0 is the initial vertical speed u_y > 0.
  double landing_step(const State& state, const State& next, bool launch) const {
    const auto height = [&](double tau) { return launch ? step(state, tau).y / tau : step(state, tau).y; };
    double a = 0.0;
    double ya = launch ? state.uy : state.y;  // > 0
    double b = dt_;
    double yb = launch ? next.y / dt_ : next.y;  // <= 0
    double fa = ya;  // the values regula falsi uses: ya, yb, scaled down by Illinois
    double fb = yb;
    int kept = 0;  // which end was kept last time: −1 a, +1 b
    for (int iteration = 0; iteration < 100 && yb != 0.0; ++iteration) {
      const double c = b - fb * (b - a) / (fb - fa);
      if (!(c > a && c < b)) {
        break;  // no representable point left between a and b
      }
      const double yc = height(c);
      if (yc > 0.0) {
        a = c;
        ya = fa = yc;
        if (kept == +1) {
          fb /= 2;  // Illinois: b was kept twice in a row, pull the next estimate towards it
        }
        kept = +1;
      } else {
        b = c;
        yb = fb = yc;
        if (kept == -1) {
          fa /= 2;
        }
        kept = -1;
      }
    }
    return std::abs(ya) < std::abs(yb) ? a : b;  // the end nearer the ground
  }

  double g_;         // m/s²
  double drag_;      // 1/m (quadratic) or 1/s (linear)
  bool quadratic_;
  double dt_;        // s
  double max_time_;  // s
};

ballista::SourceDefinition define_projectile() {
  using ballista::ParameterSpec;
  return {
      {"v", "theta"},
      {"s"},
      {
          ParameterSpec::real("g", 9.81, "gravitational acceleration, m/s²").greater_than(0),
          ParameterSpec::real("drag", 0.0,
                              "drag coefficient per unit mass: 1/m for the quadratic law, 1/s for the linear one")
              .at_least(0),
          ParameterSpec::choice("drag_law", "quadratic", {"quadratic", "linear"},
                                "drag acceleration −drag·|u|·u (quadratic) or −drag·u (linear)"),
          ParameterSpec::real("dt", 1e-3, "RK4 integration step, s (range error ∝ dt⁴)").greater_than(0),
          ParameterSpec::real("max_time", 1000.0, "a shot still in the air after this many seconds gives NaN")
              .greater_than(0),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<ProjectileSource>(parameters); },
  };
}

}  // namespace

BALLISTA_SOURCE_PLUGIN("projectile", "0.1.0", "cannon range s(v, theta) with optional air drag, integrated by RK4",
                       define_projectile)
