#!/usr/bin/env python3
"""The ode plugin's computation, written with Python PyTorch (Debian's python3-torch), for
the C++ tests to compare against: a shell's flight integrated by RK4 for the whole batch
at once, stopped per sample at the event y = 0 (falling), the landing located inside the
crossing step by batched Illinois regula falsi, and the loss differentiated through the
integrator and the event time.

Usage:
  ode_reference.py grey TRAIN K DT [G]
      TRAIN: CSV rows v, theta, s (no header). The grey-box model (quadratic drag with
      coefficient K): prints the loss (mean squared error of the predicted ranges vs s)
      on one line and dloss/dK on the next.
  ode_reference.py grey_ranges INPUTS K DT [G]
      INPUTS: CSV rows v, theta. Prints the grey-box model's range per row.
  ode_reference.py universal TRAIN SEED HIDDEN ACTIVATION DT [G]
      The drag term a network (ux, uy) -> 2 with hidden sizes HIDDEN (comma-separated)
      and activation tanh or sigmoid, initialised from torch.Generator().manual_seed(SEED).
      Prints the loss on one line, the global L2 norm of its gradient on the next, then
      every parameter's gradient on a single line (layer by layer, the weight row by row
      then the bias), space-separated.
  ode_reference.py linear_drag_range V THETA K G
      The range for LINEAR drag (du/dt = -K u - G e_y) from the closed form of the
      trajectory, the landing time found by bisection in 60-digit arithmetic (mpmath).
G defaults to 9.81 (m/s^2), DT is the RK4 step (s). Ranges print with 17 significant
digits, loss and gradients with repr(): both read back as the same double.

Everything is float64 and follows the plugin's spec step by step (the masking loop, the
regula falsi and the implicit-function gradient of the event time), so that the C++
side can be compared to rounding. Runs on one thread (LibTorch's and OpenBLAS's).
"""
import math
import os
import sys

if __name__ == "__main__":
    # PyTorch on one thread means OpenBLAS on one thread too: torch.set_num_threads does
    # not reach it, and a product split over its threads may round differently. Read when
    # the library loads, so before the import. Only when run as a script: bench/peers.py
    # imports this module and keeps the thread count the benchmark chose.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402 (after the thread count is set)
import torch  # noqa: E402

G = 9.81  # m/s^2
MAX_TIME = 1000.0  # s: a shot still in the air then is an error (the projectile source's default)
ILLINOIS_ITERATIONS = 100

ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


# A state is a tuple (x, y, ux, uy) of [n] tensors, one entry per sample.
def grey_rhs(k, g=G):
    """d(state)/dt with quadratic drag of coefficient k (a scalar tensor or float)."""
    def f(state):
        _, _, ux, uy = state
        drag = k * torch.sqrt(ux * ux + uy * uy)
        return ux, uy, -drag * ux, -g - drag * uy
    return f


def linear_drag_rhs(k, g=G):
    """d(state)/dt with linear (Stokes) drag of rate k: the closed form's equations."""
    def f(state):
        _, _, ux, uy = state
        return ux, uy, -k * ux, -g - k * uy
    return f


def init_network(seed, sizes):
    """The parameters [W1, b1, W2, b2, ...] of a network with layer sizes `sizes`: layer
    by layer, W [out, in] then b [out], each uniform in (-1, 1) / sqrt(in), drawn from one
    generator in that order."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        scale = math.sqrt(fan_in)
        params.append((torch.rand(fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1) / scale)
        params.append((torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) / scale)
    return params


def network(params, activation, h):
    """h [n, in] -> [n, out]: act(h W^T + b) on every layer but the last, which is linear."""
    act = ACTIVATIONS[activation]
    for i in range(0, len(params), 2):
        h = h @ params[i].t() + params[i + 1]
        if i + 2 < len(params):
            h = act(h)
    return h


def universal_rhs(params, activation, g=G):
    """d(state)/dt with the drag term a network of the velocity."""
    def f(state):
        _, _, ux, uy = state
        out = network(params, activation, torch.stack([ux, uy], dim=1))
        return ux, uy, out[:, 0], -g + out[:, 1]
    return f


def rk4_step(f, state, h):
    """One classic RK4 step of length h (a float, or an [n] tensor: one length per sample)."""
    k1 = f(state)
    k2 = f(tuple(s + h / 2 * k for s, k in zip(state, k1)))
    k3 = f(tuple(s + h / 2 * k for s, k in zip(state, k2)))
    k4 = f(tuple(s + h * k for s, k in zip(state, k3)))
    return tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def integrate(f, state0, dt, max_steps=sys.maxsize, max_time=MAX_TIME):
    """Steps the whole batch until every sample's step ends at y <= 0. Returns each
    sample's state at the start of its crossing step (with the autograd graph) and the
    index of that step."""
    samples = state0[0].shape[0]
    active = torch.ones(samples, dtype=torch.bool)
    fired_at = torch.full((samples,), -1, dtype=torch.int64)
    state = state0
    n = 0
    while bool(active.any()) and n < max_steps and n * dt < max_time:
        following = rk4_step(f, state, dt)
        fired = active & (following[1] <= 0)
        # A sample that fired keeps the state before its crossing step, and a frozen one
        # keeps its own: torch.where sends no gradient through the branch not taken.
        moving = active & ~fired
        state = tuple(torch.where(moving, new, old) for new, old in zip(following, state))
        fired_at = torch.where(fired, torch.tensor(n), fired_at)
        active = active & ~fired
        n += 1
    if bool(active.any()):
        first = int(torch.nonzero(active)[0])
        raise RuntimeError("the event did not occur within %d steps of %r s (max_time %r s): %d samples still "
                           "in the air, the first row %d" % (n, dt, max_time, int(active.sum()), first))
    return state, fired_at


@torch.no_grad()
def landing_step(f, state, fired_at, dt):
    """The length tau in (0, dt] of the step from each sample's frozen state that ends at
    y = 0: regula falsi with the Illinois modification, every sample its own bracket
    (projectile_source.cpp's landing_step, batched). No gradient."""
    # At launch y = 0 is itself a root: solve y(tau)/tau = 0 instead, whose value at
    # tau -> 0 is the rate of the event function, dy/dt = uy.
    launch = (fired_at == 0) & (state[1] == 0)
    end_y = rk4_step(f, state, dt)[1]

    def height(tau):
        y = rk4_step(f, state, tau)[1]
        return torch.where(launch, y / tau, y)

    a = torch.zeros_like(state[1])
    b = torch.full_like(state[1], dt)
    ya = torch.where(launch, state[3], state[1])  # > 0
    yb = torch.where(launch, end_y / dt, end_y)  # <= 0
    fa, fb = ya, yb  # the values regula falsi uses: ya, yb, halved by Illinois
    kept = torch.zeros_like(fired_at)  # which end was kept last time: -1 a, +1 b
    done = torch.zeros_like(launch)
    for _ in range(ILLINOIS_ITERATIONS):
        done = done | (yb == 0)
        c = b - fb * (b - a) / (fb - fa)
        done = done | ~((a < c) & (c < b))  # no representable point left (or NaN)
        if bool(done.all()):
            break
        # Finished samples evaluate harmlessly at b (tau > 0) and are masked out below.
        c = torch.where(done, b, c)
        yc = height(c)
        up = ~done & (yc > 0)  # still above the ground at c: c becomes a
        down = ~done & ~(yc > 0)
        a = torch.where(up, c, a)
        ya = torch.where(up, yc, ya)
        fa = torch.where(up, yc, fa)
        fb = torch.where(up & (kept == 1), fb / 2, fb)  # Illinois: b kept twice in a row
        b = torch.where(down, c, b)
        yb = torch.where(down, yc, yb)
        fb = torch.where(down, yc, fb)
        fa = torch.where(down & (kept == -1), fa / 2, fa)
        kept = torch.where(up, 1, torch.where(down, -1, kept))
    return torch.where(ya.abs() < yb.abs(), a, b)  # the end nearer the ground


def predicted_ranges(f, v, theta, dt, max_steps=sys.maxsize, max_time=MAX_TIME):
    """x at the landing per sample, differentiable in f's parameters: through the
    integration and, by the implicit function theorem, through the event time."""
    zero = torch.zeros_like(v)
    state, fired_at = integrate(f, (zero, zero, v * torch.cos(theta), v * torch.sin(theta)), dt, max_steps,
                                max_time)
    tau = landing_step(f, state, fired_at, dt)
    # y(step(s, tau(p), p)) = 0 defines tau(p): dtau/dp = -(dr/dp) / (dr/dtau).
    with torch.enable_grad():
        tau_leaf = tau.clone().requires_grad_(True)
        y = rk4_step(f, tuple(s.detach() for s in state), tau_leaf)[1]
        (de_dtau,) = torch.autograd.grad(y.sum(), tau_leaf)  # samples are independent: the sum separates
    r = rk4_step(f, state, tau)[1]
    # (r.detach() - r) is exactly 0, so tau_g == tau in value, with the implicit gradient.
    tau_g = tau + (r.detach() - r) / de_dtau
    return rk4_step(f, state, tau_g)[0]


def mse(predicted, target):
    return torch.mean((predicted - target) ** 2)


def read_csv(path):
    return torch.tensor(np.loadtxt(path, delimiter=",", ndmin=2), dtype=torch.float64)


def grey(train_file, k, dt, g=G):
    data = read_csv(train_file)
    k = torch.tensor(k, dtype=torch.float64, requires_grad=True)
    loss = mse(predicted_ranges(grey_rhs(k, g), data[:, 0], data[:, 1], dt), data[:, 2])
    loss.backward()
    print(repr(float(loss)))
    print(repr(float(k.grad)))


def grey_ranges(input_file, k, dt, g=G):
    data = read_csv(input_file)
    for s in predicted_ranges(grey_rhs(k, g), data[:, 0], data[:, 1], dt).detach():
        print("%.17g" % float(s))


def universal(train_file, seed, hidden, activation, dt, g=G):
    data = read_csv(train_file)
    params = init_network(seed, [2] + hidden + [2])
    for p in params:
        p.requires_grad_(True)
    loss = mse(predicted_ranges(universal_rhs(params, activation, g), data[:, 0], data[:, 1], dt), data[:, 2])
    loss.backward()
    gradient = torch.cat([p.grad.flatten() for p in params])
    print(repr(float(loss)))
    print(repr(float(torch.linalg.vector_norm(gradient))))
    print(" ".join(repr(float(x)) for x in gradient))


def linear_drag_range(v, theta, k, g):
    """x at y = 0 for du/dt = -k u - g e_y (k > 0) from (0, 0) with speed v at angle theta:
      x(t) = (ux0/k)(1 - e^(-kt)),   y(t) = ((uy0 + g/k)/k)(1 - e^(-kt)) - g t/k.
    y'' = -(k uy0 + g) e^(-kt) < 0 and y'(0) = uy0 > 0, so y > 0 before the landing and
    < 0 after it: bisection on [0, uy0/g + 1/k] (where y < 0) converges to it."""
    import mpmath  # Debian's python3-torch depends on it (through python3-sympy)
    if not k > 0:
        raise ValueError("linear_drag_range needs K > 0, got %r" % k)
    with mpmath.workdps(60):
        v, theta, k, g = mpmath.mpf(v), mpmath.mpf(theta), mpmath.mpf(k), mpmath.mpf(g)
        ux0, uy0 = v * mpmath.cos(theta), v * mpmath.sin(theta)
        if not uy0 > 0:
            return 0.0  # never leaves the ground

        def y(t):
            return (uy0 + g / k) / k * -mpmath.expm1(-k * t) - g * t / k

        low, high = mpmath.mpf(0), uy0 / g + 1 / k
        for _ in range(250):  # the bracket shrinks to 2^-250 of its width, far below 60 digits' worth
            middle = (low + high) / 2
            if y(middle) > 0:
                low = middle
            else:
                high = middle
        return float(ux0 / k * -mpmath.expm1(-k * (low + high) / 2))


def main(argv):
    torch.set_num_threads(1)
    command, arguments = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    if command in ("grey", "grey_ranges") and len(arguments) in (3, 4):
        (grey if command == "grey" else grey_ranges)(arguments[0], *map(float, arguments[1:]))
        return 0
    if command == "universal" and len(arguments) in (5, 6) and arguments[3] in ACTIVATIONS:
        universal(arguments[0], int(arguments[1]), [int(h) for h in arguments[2].split(",")], arguments[3],
                  *map(float, arguments[4:]))
        return 0
    if command == "linear_drag_range" and len(arguments) == 4:
        print("%.17g" % linear_drag_range(*map(float, arguments)))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
