#!/usr/bin/env python3
"""Reference figures computed by NumPy, for the C++ tests to compare against.

Usage:
  numpy_reference.py cannon SEED ROWS        the article's data set: v theta s per row
  numpy_reference.py stream SEED COUNT       COUNT np.random.random() then COUNT randn()
  numpy_reference.py lstsq FEATURES TARGETS  np.linalg.lstsq solution, one row per feature
  numpy_reference.py ridge FEATURES TARGETS L2
                                           the ridge solution from its normal equations,
                                           np.linalg.solve(FᵀF + L2·I, FᵀY), one row per feature
  numpy_reference.py article-basis DATA      the article's six basis functions of the v,theta,s
                                             rows in DATA, fitted by np.linalg.lstsq
  numpy_reference.py library DATA QUERIES  the cannon's library of primitives (poly degree 2, sin
                                           and cos of x and 2x, products of two factors), built
                                           here by brute force over (v, theta), fitted to the v,theta,s
                                           rows of DATA by np.linalg.lstsq: the term count, then the
                                           prediction at each v,theta row of QUERIES
  numpy_reference.py permutation SEED N    np.random.RandomState(SEED).permutation(N)
  numpy_reference.py sources SEED N SPLIT  the table of tests/host/run/test_data_generator.cpp's
                                           pipeline: v theta k t s r per row, then the
                                           rows of RandomState(SPLIT).permutation(N)
  numpy_reference.py grid                  the plot set of that pipeline: v theta (grids)
Numbers are printed with repr() so every bit survives the round trip.
"""
import sys

import numpy as np


def cannon(seed, rows):
    # The article's generation: inputs column by column, then the noise, then clipping.
    np.random.seed(seed)
    v = np.random.uniform(0, 10, rows)
    theta = np.random.uniform(0, np.pi / 2, rows)
    s = v**2 * np.sin(2 * theta) / 9.81 + 0.01 * np.random.randn(rows)
    s = np.clip(s, 0, None)
    for row in zip(v, theta, s):
        print(" ".join(repr(float(x)) for x in row))


def stream(seed, count):
    np.random.seed(seed)
    for x in np.random.random(count):
        print(repr(float(x)))
    for x in np.random.randn(count):
        print(repr(float(x)))


def lstsq(features_file, targets_file):
    features = np.loadtxt(features_file, delimiter=",", ndmin=2)
    targets = np.loadtxt(targets_file, delimiter=",", ndmin=2)
    solution = np.linalg.lstsq(features, targets, rcond=None)[0]
    for row in solution:
        print(" ".join(repr(float(x)) for x in row))


def ridge(features_file, targets_file, l2):
    features = np.loadtxt(features_file, delimiter=",", ndmin=2)
    targets = np.loadtxt(targets_file, delimiter=",", ndmin=2)
    gram = features.T @ features + l2 * np.eye(features.shape[1])
    for row in np.linalg.solve(gram, features.T @ targets):
        print(" ".join(repr(float(x)) for x in row))


def article_basis(data_file):
    data = np.loadtxt(data_file, delimiter=",", ndmin=2)
    v, theta, s = data[:, 0], data[:, 1], data[:, 2]
    features = np.stack([v, v**2, v * np.sin(theta), v * np.sin(2 * theta),
                         v**2 * np.sin(theta), v**2 * np.sin(2 * theta)], axis=1)
    for x in np.linalg.lstsq(features, s, rcond=None)[0]:
        print(repr(float(x)))


def library(data_file, queries_file):
    # Every product of up to two factors, a factor being a monomial of degree 1 or 2 or
    # sin/cos of x or 2x; products of two monomials are monomials of higher degree and
    # are left out, as the plugin documents. Built as functions, by brute force.
    import itertools
    data = np.loadtxt(data_file, delimiter=",", ndmin=2)
    queries = np.loadtxt(queries_file, delimiter=",", ndmin=2)
    monomials = []
    for a in range(3):
        for b in range(3):
            if 1 <= a + b <= 2:
                monomials.append(lambda x, a=a, b=b: x[:, 0]**a * x[:, 1]**b)
    functions = []
    for f in (np.sin, np.cos):
        for column in range(2):
            for k in (1, 2):
                functions.append(lambda x, f=f, column=column, k=k: f(k * x[:, column]))
    terms = list(monomials) + list(functions)
    terms += [lambda x, m=m, f=f: m(x) * f(x) for m in monomials for f in functions]
    terms += [lambda x, f=f, h=h: f(x) * h(x) for f, h in itertools.combinations_with_replacement(functions, 2)]
    features = np.stack([t(data[:, :2]) for t in terms], axis=1)
    weights = np.linalg.lstsq(features, data[:, 2], rcond=None)[0]
    print(len(terms))
    for value in np.stack([t(queries) for t in terms], axis=1) @ weights:
        print(repr(float(value)))


def permutation(seed, n):
    for i in np.random.RandomState(seed).permutation(n):
        print(int(i))


def sources(seed, n, split_seed):
    # Drawn column by column in the order declared, then each target's noise.
    np.random.seed(seed)
    v = np.clip(np.random.normal(5, 3, n), 0, None)
    theta = np.random.choice([0.2, 0.4, 0.8], n)
    k = np.exp(np.random.uniform(np.log(1e-3), np.log(1), n))
    t = np.tile(np.linspace(0, 1, 5), n // 5)
    s = v**2 * np.sin(2 * theta) / 9.81 + k * t
    s = np.clip(s * (1 + 0.05 * np.random.randn(n)), None, 12)
    r = v * k + 0.1 * np.random.randn(n)
    for row in zip(v, theta, k, t, s, r):
        print(" ".join(repr(float(x)) for x in row))
    for i in np.random.RandomState(split_seed).permutation(n):
        print(int(i))


def grid():
    v, theta = np.meshgrid(np.linspace(0, 10, 3), np.linspace(0, np.pi / 2, 4), indexing="ij")
    for row in zip(v.ravel(), theta.ravel()):
        print(" ".join(repr(float(x)) for x in row))


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "cannon" and len(argv) == 4:
        cannon(int(argv[2]), int(argv[3]))
    elif command == "library" and len(argv) == 4:
        library(argv[2], argv[3])
    elif command == "permutation" and len(argv) == 4:
        permutation(int(argv[2]), int(argv[3]))
    elif command == "sources" and len(argv) == 5:
        sources(int(argv[2]), int(argv[3]), int(argv[4]))
    elif command == "grid" and len(argv) == 2:
        grid()
    elif command == "stream" and len(argv) == 4:
        stream(int(argv[2]), int(argv[3]))
    elif command == "article-basis" and len(argv) == 3:
        article_basis(argv[2])
    elif command == "lstsq" and len(argv) == 4:
        lstsq(argv[2], argv[3])
    elif command == "ridge" and len(argv) == 5:
        ridge(argv[2], argv[3], float(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
