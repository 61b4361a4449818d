#include "integrator.hpp"

#include <ballista/expression_program.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace ballista_ode {

namespace {

// Dormand–Prince 5(4): the nodes, the stages' coefficients, the fifth-order weights (the
// seventh stage is evaluated at the new point) and the weights' difference from the
// embedded fourth-order solution, which estimates the step's error.
constexpr std::array<double, 7> kDopriNodes{0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
constexpr std::array<std::array<double, 6>, 7> kDopriStages{{
    {},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
}};
constexpr std::array<double, 7> kDopriError{35.0 / 384 - 5179.0 / 57600,     0.0,
                                            500.0 / 1113 - 7571.0 / 16695,   125.0 / 192 - 393.0 / 640,
                                            -2187.0 / 6784 + 92097.0 / 339200, 11.0 / 84 - 187.0 / 2100,
                                            -1.0 / 40};

// Iterations of regula falsi per event: Illinois converges superlinearly, so this only
// bounds a pathological event function.
constexpr int kRootIterations = 100;

// RK4 looks for NaN or inf in the state every this many steps (and at the end): a row
// that blew up never meets its event, so it is caught a few steps later at most, without
// a check and a synchronisation every step.
constexpr std::int64_t kFiniteCheckEvery = 8;

std::string count_text(std::int64_t count, std::int64_t rows, std::int64_t first) {
  return std::to_string(count) + " of " + std::to_string(rows) + " samples (first: row " + std::to_string(first) + ")";
}

// `scope` for the rows `index` of its `rows`: the per-row bindings ([rows]) selected,
// the others (constants, fitted constants) as they are.
Bindings rows_of(const Bindings& scope, std::int64_t rows, const torch::Tensor& index) {
  Bindings subset;
  for (const auto& [name, value] : scope) {
    subset[name] = value.dim() == 1 && value.size(0) == rows ? value.index_select(0, index) : value;
  }
  return subset;
}

// The time as a row vector for rows with per-row step lengths.
torch::Tensor stage_time(const torch::Tensor& t, const torch::Tensor& h, double node) {
  const auto h_row = h.dim() == 2 ? h.squeeze(1) : h;
  return node == 0.0 ? t : t + node * h_row;
}

}  // namespace

Integrator::Integrator(const OdeSystem& system, IntegratorSettings settings)
    : system_(system), settings_(std::move(settings)) {
  // "y = 0": the event's value is a column of the state, read without evaluating.
  using Step = ballista::ExpressionStep;
  const auto& names = system_.state_names();
  for (const auto& event : system_.events()) {
    std::int64_t column = -1;
    if (event.kind == Event::Kind::crossing) {
      const auto steps = ballista::postfix_program(event.function);
      if (steps.size() == 3 && steps[0].kind == Step::Kind::name && steps[1].kind == Step::Kind::number &&
          steps[1].value == 0.0 && steps[2].kind == Step::Kind::subtract) {
        const auto found = std::find(names.begin(), names.end(), steps[0].name);
        column = found == names.end() ? -1 : found - names.begin();
      }
    }
    event_columns_.push_back(column);
  }
  state_columns_only_ = std::find(event_columns_.begin(), event_columns_.end(), -1) == event_columns_.end();
}

torch::Tensor Integrator::step(const torch::Tensor& t, const torch::Tensor& state, const torch::Tensor& h,
                               Bindings& scope, const LearnedTerm& learned, torch::Tensor* error) const {
  const auto f = [&](const torch::Tensor& time, const torch::Tensor& at) {
    return system_.derivative(time, at, scope, learned);
  };
  const bool timed = system_.reads_time();
  const auto row_time = [&](const torch::Tensor& start, const torch::Tensor& length, double node) {
    return timed ? stage_time(start, length, node) : start;
  };
  if (settings_.method == "rk4" && h.dim() == 0 && !h.requires_grad()) {
    // The main loop's fixed step: the stages as fused multiply-adds (state + c·k, one
    // operation and one autograd node each).
    const double length = h.item<double>();
    const auto mid = timed ? t + length / 2 : t;
    const auto k1 = f(t, state);
    const auto k2 = f(mid, torch::add(state, k1, length / 2));
    const auto k3 = f(mid, torch::add(state, k2, length / 2));
    const auto k4 = f(timed ? t + length : t, torch::add(state, k3, length));
    return torch::add(state, torch::add(torch::add(k1, k2, 2), k3, 2).add(k4), length / 6);
  }
  if (settings_.method == "rk4") {
    const auto half = h / 2;
    const auto k1 = f(t, state);
    const auto k2 = f(row_time(t, h, 0.5), state + half * k1);
    const auto k3 = f(row_time(t, h, 0.5), state + half * k2);
    const auto k4 = f(row_time(t, h, 1.0), state + h * k3);
    return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  std::array<torch::Tensor, 7> k;
  k[0] = f(t, state);
  torch::Tensor next;
  for (std::size_t i = 1; i < k.size(); ++i) {
    auto sum = kDopriStages[i][0] * k[0];
    for (std::size_t j = 1; j < i; ++j) {
      if (kDopriStages[i][j] != 0.0) {
        sum = sum + kDopriStages[i][j] * k[j];
      }
    }
    const auto at = state + h * sum;
    if (i == 6) {
      next = at;  // the last stage's point is the fifth-order solution
    }
    k[i] = f(row_time(t, h, kDopriNodes[i]), at);
  }
  if (error != nullptr) {
    auto sum = kDopriError[0] * k[0];
    for (std::size_t i = 2; i < k.size(); ++i) {
      sum = sum + kDopriError[i] * k[i];
    }
    *error = h * sum;
  }
  return next;
}

torch::Tensor Integrator::event_values(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope,
                                       const torch::Tensor& end_times) const {
  if (state_columns_only_ && event_columns_.size() == 1) {
    return state.select(1, event_columns_[0]).unsqueeze(1);
  }
  if (!state_columns_only_) {
    system_.bind_state(t, state, scope, system_.events_read_definitions());
  }
  const auto rows = state.size(0);
  std::vector<torch::Tensor> values;
  const auto& events = system_.events();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (event_columns_[i] >= 0) {
      values.push_back(state.select(1, event_columns_[i]));
    } else if (events[i].kind == Event::Kind::time) {
      values.push_back((end_times.select(1, static_cast<std::int64_t>(i)) - t).expand({rows}));
    } else {
      values.push_back(events[i].function.evaluate(scope).to(state.options()).expand({rows}));
    }
  }
  return torch::stack(values, 1);
}

std::pair<double, std::int64_t> Integrator::fastest_rate(const torch::Tensor& state, Bindings& scope,
                                                         const LearnedTerm& learned) const {
  const torch::AutoGradMode enabled(true);
  const auto at = state.detach().requires_grad_(true);
  const auto rates = system_.derivative(torch::zeros({}, state.options()), at, scope, learned);
  std::vector<torch::Tensor> rows;
  for (std::int64_t j = 0; j < rates.size(1); ++j) {
    auto gradient = torch::autograd::grad({rates.select(1, j).sum()}, {at}, {}, /*retain_graph=*/true,
                                          /*create_graph=*/false, /*allow_unused=*/true)[0];
    rows.push_back(gradient.defined() ? gradient : torch::zeros_like(at));
  }
  const auto jacobian = torch::stack(rows, 1).to(torch::kCPU, torch::kFloat64);  // [n, m, m]
  // Where the Jacobian is not finite (sqrt at 0: a shell at rest) it says nothing about
  // the rate; such rows are left out.
  const auto finite = torch::isfinite(jacobian).flatten(1).all(1);
  if (!finite.any().item<bool>()) {
    return {0.0, 0};
  }
  const auto usable = torch::where(finite.view({-1, 1, 1}), jacobian, torch::zeros_like(jacobian));
  const auto magnitudes = torch::linalg_eigvals(usable).abs().amax(1);
  const auto row = magnitudes.argmax().item<std::int64_t>();
  return {magnitudes[row].item<double>(), row};
}

Outcome Integrator::integrate(const torch::Tensor& initial, Bindings& scope, const LearnedTerm& learned,
                              const std::function<bool()>& cancelled, const Observer& observe) const {
  const auto rows = initial.size(0);
  const auto options = initial.options();
  const auto& events = system_.events();
  const auto event_count = static_cast<std::int64_t>(events.size());
  const bool adaptive = settings_.method == "dopri5";
  const double dt = settings_.dt;

  // Each time event's end time per row, and each event's direction (time: T − t falls).
  std::vector<torch::Tensor> ends;
  std::vector<std::int64_t> directions;
  for (const auto& event : events) {
    if (event.kind == Event::Kind::time) {
      auto end = event.function.evaluate(scope).to(options).expand({rows});
      const auto bad = ~(torch::isfinite(end) & (end >= 0));
      if (bad.any().item<bool>()) {
        const auto first = bad.nonzero()[0][0].item<std::int64_t>();
        throw IntegrationError("until '" + event.text + "': the end time must be a finite number >= 0, got " +
                               format_number(end[first].item<double>()) + " for " +
                               count_text(bad.sum().item<std::int64_t>(), rows, first));
      }
      ends.push_back(end);
      directions.push_back(-1);
    } else {
      ends.push_back(torch::zeros({rows}, options));
      directions.push_back(event.direction);
    }
  }
  const auto end_times = torch::stack(ends, 1);
  const auto direction = torch::tensor(directions, torch::TensorOptions().dtype(torch::kInt64).device(options.device()));
  const auto bool_options = torch::TensorOptions().dtype(torch::kBool).device(options.device());

  // RK4 with only falling crossings (y = 0 falling: a shell landing) keeps lighter
  // books after its first step (below).
  bool falling_only = !adaptive;
  for (const auto& event : events) {
    falling_only = falling_only && event.kind == Event::Kind::crossing && event.direction == -1;
  }

  auto state = initial;
  auto values = event_values(torch::zeros({}, options), state, scope, end_times);  // [n, events]
  auto active = torch::ones({rows}, bool_options);
  auto at_launch = torch::ones({rows}, bool_options);
  auto fired = torch::zeros({rows, event_count}, bool_options);
  auto launch_fired = torch::zeros({rows, event_count}, bool_options);
  auto sign = torch::ones({rows, event_count}, options);      // +1: the event's value falls through 0
  auto start_time = torch::zeros({rows}, options);            // of each row's crossing step
  auto step_length = torch::full({rows}, dt, options);        // of each row's crossing step
  auto h = torch::full({rows}, dt, options);                  // dopri5's next step per row
  auto t = torch::zeros({rows}, options);                     // dopri5's time per row
  auto timed_out = torch::zeros({rows}, bool_options);
  // Compaction (RK4 shells, when nothing observes the trajectories): once a quarter of
  // the rows being stepped have met their event, those rows are set aside (their state,
  // event values, flags and step start) and the rest stepped on alone, so a batch of
  // short and long flights costs what its flights cost, not the longest one's times n.
  // `batch_rows` holds the original row of each row stepped (undefined: all, in order),
  // `batch_scope` their per-row bindings.
  const bool compaction = falling_only && !observe;
  torch::Tensor batch_rows;
  Bindings batch_scope;
  Bindings* in_use = &scope;
  struct SetAside {
    torch::Tensor rows, state, values, fired, start_time, active;
  };
  std::vector<SetAside> set_aside;
  const auto original_rows = [&] {
    return batch_rows.defined()
               ? batch_rows
               : torch::arange(state.size(0), torch::TensorOptions().dtype(torch::kInt64).device(options.device()));
  };
  const auto compact = [&] {
    const auto done = (~active).nonzero().squeeze(1);
    const auto keep = active.nonzero().squeeze(1);
    const auto original = original_rows();
    set_aside.push_back({original.index_select(0, done), state.index_select(0, done), values.index_select(0, done),
                         fired.index_select(0, done), start_time.index_select(0, done), active.index_select(0, done)});
    batch_rows = original.index_select(0, keep);
    state = state.index_select(0, keep);
    values = values.index_select(0, keep);
    fired = fired.index_select(0, keep);
    start_time = start_time.index_select(0, keep);
    active = active.index_select(0, keep);
    batch_scope = rows_of(scope, rows, batch_rows);
    in_use = &batch_scope;
  };
  std::int64_t count = 0;
  for (;; ++count) {
    if (cancelled && cancelled()) {
      throw IntegrationError("cancelled");
    }
    if (!active.any().item<bool>() || count >= settings_.max_steps) {
      break;
    }
    torch::Tensor now;
    torch::Tensor length;  // [n, 1] or 0-dim
    if (adaptive) {
      const auto late = active & (t >= settings_.max_time);
      timed_out = timed_out | late;
      active = active & ~late;
      now = t;
      length = h.unsqueeze(1);
    } else {
      if (static_cast<double>(count) * dt >= settings_.max_time) {
        break;
      }
      now = torch::full({}, static_cast<double>(count) * dt, options);
      length = torch::full({}, dt, options);
    }
    if (observe) {
      observe(now, state.detach(), active);
    }
    torch::Tensor error;
    const auto next = step(now, state, length, *in_use, learned, adaptive ? &error : nullptr);
    auto accept = active;
    torch::Tensor next_h;
    if (adaptive) {
      const auto finite = torch::isfinite(next.detach()).all(1);
      const torch::NoGradGuard no_gradient;
      const auto scale = settings_.atol + settings_.rtol * torch::maximum(state.detach().abs(), next.detach().abs());
      auto norm = (error.detach() / scale).square().mean(1).sqrt();
      norm = torch::where(finite, norm, torch::full_like(norm, std::numeric_limits<double>::infinity()));
      accept = active & (norm <= 1);
      // The usual controller: safety 0.9, fifth order, growth within [0.2, 10] (a
      // rejected step only shrinks).
      const auto factor = (0.9 * norm.pow(-0.2)).clamp(0.2, 10.0);
      next_h = torch::where(accept, h * factor, h * factor.clamp_max(1.0));
      const auto tiny = active & (next_h <= 1e-12 * torch::maximum(t.abs(), torch::ones_like(t)));
      if (tiny.any().item<bool>()) {
        const auto first = tiny.nonzero()[0][0].item<std::int64_t>();
        throw IntegrationError("the integration blew up or became too stiff for dopri5 (its step fell below 1e-12 s) for " +
                               count_text(tiny.sum().item<std::int64_t>(), rows, first) + " at t = " +
                               format_number(t[first].item<double>(), 4) + " s");
      }
    } else if (count % kFiniteCheckEvery == kFiniteCheckEvery - 1) {
      const auto bad = active & ~torch::isfinite(next.detach()).all(1);
      if (bad.any().item<bool>()) {
        const auto first = original_rows()[bad.nonzero()[0][0].item<std::int64_t>()].item<std::int64_t>();
        throw IntegrationError("the integration blew up (NaN or inf in the state) for " +
                               count_text(bad.sum().item<std::int64_t>(), rows, first) + " at t = " +
                               format_number(static_cast<double>(count) * dt, 4) + " s; dt = " + format_number(dt) +
                               " may be too large for the system there (try a smaller dt, or method: dopri5)");
      }
    }
    const auto later = adaptive ? t + h : torch::full({}, static_cast<double>(count + 1) * dt, options);
    const auto next_values = event_values(later, next.detach(), *in_use, end_times).detach();
    if (falling_only && count > 0) {
      // RK4 after the first step, every event a falling crossing: no launch, no
      // rejected step, no sign to keep. A row fires when an event's value falls from
      // > 0 to <= 0; it keeps the state at the start of that step.
      const auto fires = (next_values <= 0) & (values > 0) & active.unsqueeze(1);
      const auto newly = event_count == 1 ? fires.squeeze(1) : fires.any(1);
      const auto advance = active & ~newly;
      state = torch::where(advance.unsqueeze(1), next, state);
      if (event_count > 1) {
        fired = torch::where(newly.unsqueeze(1), fires, fired);
      } else {
        fired = fired | fires;
      }
      values = torch::where(advance.unsqueeze(1), next_values, values);
      start_time = torch::where(newly, static_cast<double>(count) * dt, start_time);
      active = advance;
      if (compaction) {
        const auto remaining = active.sum().item<std::int64_t>();
        if (remaining > 0 && 4 * remaining <= 3 * active.size(0)) {
          compact();
        }
      }
      continue;
    }
    const auto launch = at_launch.unsqueeze(1) & (values == 0);
    const auto falling = (next_values <= 0) & ((values > 0) | (launch & (next_values < 0)));
    const auto rising = (next_values >= 0) & ((values < 0) | (launch & (next_values > 0)));
    const auto fires = accept.unsqueeze(1) &
                       torch::where(direction == -1, falling, torch::where(direction == 1, rising, falling | rising));
    const auto newly = fires.any(1);
    const auto advance = accept & ~newly;
    state = torch::where(advance.unsqueeze(1), next, state);
    fired = torch::where(newly.unsqueeze(1), fires, fired);
    launch_fired = torch::where(newly.unsqueeze(1), fires & launch, launch_fired);
    sign = torch::where(newly.unsqueeze(1) & rising & ~falling, -torch::ones_like(sign), sign);
    values = torch::where(advance.unsqueeze(1), next_values, values);
    if (adaptive) {
      start_time = torch::where(newly, t, start_time);
      step_length = torch::where(newly, h, step_length);
      t = torch::where(advance, t + h, t);
      h = torch::where(active & ~newly, next_h, h);
    } else {
      start_time = torch::where(newly, torch::full_like(start_time, static_cast<double>(count) * dt), start_time);
    }
    at_launch = at_launch & ~accept;
    active = active & ~newly;
  }
  if (batch_rows.defined()) {  // every row back in its place
    set_aside.push_back({batch_rows, state, values, fired, start_time, active});
    std::vector<torch::Tensor> order;
    std::vector<torch::Tensor> states;
    std::vector<torch::Tensor> value_parts;
    std::vector<torch::Tensor> fired_parts;
    std::vector<torch::Tensor> time_parts;
    std::vector<torch::Tensor> active_parts;
    for (const auto& part : set_aside) {
      order.push_back(part.rows);
      states.push_back(part.state);
      value_parts.push_back(part.values);
      fired_parts.push_back(part.fired);
      time_parts.push_back(part.start_time);
      active_parts.push_back(part.active);
    }
    const auto places = torch::cat(order);
    auto inverse = torch::empty_like(places);
    inverse.index_put_({places}, torch::arange(rows, places.options()));
    state = torch::cat(states).index_select(0, inverse);
    values = torch::cat(value_parts).index_select(0, inverse);
    fired = torch::cat(fired_parts).index_select(0, inverse);
    start_time = torch::cat(time_parts).index_select(0, inverse);
    active = torch::cat(active_parts).index_select(0, inverse);
  }
  const auto missing = active | timed_out;
  if (missing.any().item<bool>()) {
    const auto first = missing.nonzero()[0][0].item<std::int64_t>();
    std::string events_text;
    for (const auto& event : events) {
      events_text += (events_text.empty() ? "'" : " or '") + event.text + "'";
    }
    const bool by_steps = count >= settings_.max_steps;
    throw IntegrationError("the event " + events_text + " did not occur within " +
                           (by_steps ? "max_steps = " + std::to_string(settings_.max_steps)
                                     : "max_time = " + format_number(settings_.max_time) + " s") +
                           " for " + count_text(missing.sum().item<std::int64_t>(), rows, first));
  }

  // Each fired event's time within its row's crossing step, by regula falsi (no
  // gradient): the root of σ·e(step(s, τ)), divided by τ at launch where e(s) = 0.
  const auto start = state.detach();
  auto tau = torch::full({rows, event_count}, std::numeric_limits<double>::infinity(), options);
  {
    const torch::NoGradGuard no_gradient;
    for (std::int64_t e = 0; e < event_count; ++e) {
      const auto mask = fired.select(1, e);
      if (!mask.any().item<bool>()) {
        continue;
      }
      const auto launch = launch_fired.select(1, e);
      const auto sigma = sign.select(1, e);
      const auto height = [&](const torch::Tensor& length) {
        const auto safe = torch::where(mask, length, torch::zeros_like(length));
        const auto value =
            sigma * event_values(start_time + safe, step(start_time, start, safe.unsqueeze(1), scope, learned), scope,
                                 end_times)
                        .select(1, e);
        return torch::where(launch, value / length, value);
      };
      // The same for the rows `pending` only, whose lengths are `length`: the iterations
      // below step only the rows whose root is not found yet.
      const auto pending_height = [&](const torch::Tensor& pending, const torch::Tensor& length) {
        auto subset = rows_of(scope, rows, pending);
        const auto from_time = start_time.index_select(0, pending);
        const auto next = step(from_time, start.index_select(0, pending), length.unsqueeze(1), subset, learned);
        const auto value = sigma.index_select(0, pending) *
                           event_values(from_time + length, next, subset, end_times.index_select(0, pending)).select(1, e);
        return torch::where(launch.index_select(0, pending), value / length, value);
      };
      auto a = torch::zeros({rows}, options);
      auto b = step_length.clone();
      auto ya = torch::where(launch, height(step_length * std::ldexp(1.0, -20)), sigma * values.select(1, e));
      auto yb = height(b);
      auto fa = ya.clone();
      auto fb = yb.clone();
      auto kept = torch::zeros({rows}, torch::TensorOptions().dtype(torch::kInt64).device(options.device()));
      // At launch an event that starts at zero and at once goes the wrong way has its
      // root at τ = 0 (a shot fired flat lands where it stands).
      const auto at_zero = launch & (ya <= 0);
      auto done = ~mask | at_zero | (yb == 0);
      for (int iteration = 0; iteration < kRootIterations && !done.all().item<bool>(); ++iteration) {
        const auto c = b - fb * (b - a) / (fb - fa);
        done = done | ~((c > a) & (c < b));
        const auto pending = (~done).nonzero().squeeze(1);
        auto yc = yb.clone();  // rows that are done keep any value: only pending ones are read
        if (pending.numel() > 0) {
          yc.index_put_({pending}, pending_height(pending, c.index_select(0, pending)));
        }
        const auto above = ~done & (yc > 0);
        const auto below = ~done & ~(yc > 0);
        const auto was_above = kept == 1;
        const auto was_below = kept == -1;
        a = torch::where(above, c, a);
        ya = torch::where(above, yc, ya);
        fb = torch::where(above & was_above, fb / 2, fb);
        fa = torch::where(above, yc, fa);
        b = torch::where(below, c, b);
        yb = torch::where(below, yc, yb);
        fa = torch::where(below & was_below, fa / 2, fa);
        fb = torch::where(below, yc, fb);
        kept = torch::where(above, torch::ones_like(kept), torch::where(below, -torch::ones_like(kept), kept));
        done = done | (yb == 0);
      }
      auto root = torch::where(ya.abs() < yb.abs(), a, b);
      root = torch::where(at_zero, torch::zeros_like(root), root);
      tau.select(1, e).copy_(torch::where(mask, root, tau.select(1, e)));
    }
  }
  const auto [first_tau, winner] = tau.min(1);

  // The event time with its derivative: τ + (r̄ − r)/(∂r/∂τ), where r = σ·e(step(s, τ))
  // is zero at the root (r̄: its value without the graph). Its value is τ; its gradient
  // is the implicit-function derivative −(∂r/∂p)/(∂r/∂τ).
  auto crossing = first_tau;
  if (torch::GradMode::is_enabled()) {
    const auto sigma = sign.gather(1, winner.unsqueeze(1)).squeeze(1);
    const auto residual = [&](const torch::Tensor& from, const torch::Tensor& length) {
      return sigma * event_values(start_time + length, step(start_time, from, length.unsqueeze(1), scope, learned),
                                  scope, end_times)
                         .gather(1, winner.unsqueeze(1))
                         .squeeze(1);
    };
    const auto leaf = first_tau.detach().requires_grad_(true);
    const auto slope =
        torch::autograd::grad({residual(start, leaf).sum()}, {leaf}, {}, false, false, true)[0].detach();
    const auto r = residual(state, first_tau);
    const auto usable = slope.abs() > 0;
    crossing = first_tau + torch::where(usable, (r.detach() - r) / torch::where(usable, slope, torch::ones_like(slope)),
                                        torch::zeros_like(r));
  }
  auto end = step(start_time, state, crossing.unsqueeze(1), scope, learned);
  const auto bad = ~torch::isfinite(end.detach()).all(1);
  if (bad.any().item<bool>()) {
    const auto first = bad.nonzero()[0][0].item<std::int64_t>();
    throw IntegrationError("the integration blew up (NaN or inf in the state) for " +
                           count_text(bad.sum().item<std::int64_t>(), rows, first) +
                           "; the system may be unstable there, or the step too large for it (try a smaller dt, "
                           "or method: dopri5)");
  }
  return {end, start_time + crossing};
}

}  // namespace ballista_ode
