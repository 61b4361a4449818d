#!/usr/bin/env python3
"""Ranges of a shell with quadratic air drag, computed without time stepping.

Usage:
  projectile_reference.py quadratic G DRAG SHOTS
      SHOTS: CSV rows of v (m/s), theta (rad). Prints the range s (m) per row for
      du/dt = -g e_y - DRAG |u| u, landing at launch height.
Numbers are printed with repr() so every bit survives the round trip.

An independent method from the plugin's RK4 in time: the classical hodograph solution.
With phi the angle of the velocity to the horizontal, phi falls from theta to the
descent angle and the horizontal speed p = u cos(phi) is known in closed form:
  dp/dphi = (k/g) p^3 / cos^3(phi)  =>  1/p^2 = 1/p0^2 + (k/g) (F(theta) - F(phi)),
  F(phi) = sin(phi)/cos^2(phi) + ln(sec(phi) + tan(phi))      (= 2 * integral of sec^3),
and since dphi/dt = -g cos(phi)/u, position follows by quadrature over phi. In the
slope q = tan(phi) (dq = sec^2 dphi; F = q sqrt(1 + q^2) + asinh(q)) the integrands are
smooth even for the near-vertical descent of a strongly braked shell:
  x(q) = (1/g) int_q^q0 p^2 dq',   y(q) = (1/g) int_q^q0 p^2 q' dq',   q0 = tan(theta).
The landing slope solves y(q) = 0 on (-inf, 0) by bisection; the integrals use
composite Gauss-Legendre quadrature in asinh(q) (analytic integrands: exponential
convergence).
"""
import sys

import numpy as np

NODES, WEIGHTS = np.polynomial.legendre.leggauss(40)
PANELS = 256


def F(q):
    return q * np.sqrt(1 + q * q) + np.arcsinh(q)


def position(g, k, p0, q0, q):
    """(x, y) where the velocity's slope is q, for a shot with horizontal speed p0, slope q0."""
    # Quadrature in a = asinh(q) (dq = cosh(a) da): long descents in q stay short in a.
    edges = np.linspace(np.arcsinh(q), np.arcsinh(q0), PANELS + 1)
    half = np.diff(edges)[:, None] / 2
    a = (edges[:-1, None] + half) + half * NODES[None, :]  # [panels, nodes]
    slope = np.sinh(a)
    p2 = 1 / (1 / p0**2 + (k / g) * (F(q0) - F(slope)))
    w = half * WEIGHTS[None, :] * np.cosh(a) / g
    return np.sum(w * p2), np.sum(w * p2 * slope)


def quadratic_range(g, k, v, theta):
    if v == 0 or theta == 0:
        return 0.0
    p0, q0 = v * np.cos(theta), np.tan(theta)
    # y > 0 from the apex (q = 0) to the landing, y < 0 beyond: widen until bracketed.
    low, high = -1.0, 0.0
    while position(g, k, p0, q0, low)[1] > 0:
        low *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if position(g, k, p0, q0, middle)[1] > 0:
            high = middle
        else:
            low = middle
    return position(g, k, p0, q0, (low + high) / 2)[0]


def main(argv):
    if len(argv) != 5 or argv[1] != "quadratic":
        raise SystemExit(__doc__)
    g, k = float(argv[2]), float(argv[3])
    shots = np.loadtxt(argv[4], delimiter=",", ndmin=2)
    for v, theta in shots:
        print(repr(float(quadratic_range(g, k, v, theta))))


if __name__ == "__main__":
    main(sys.argv)
