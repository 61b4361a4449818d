#!/usr/bin/env python3
"""Reference figures computed by scikit-learn, for the C++ tests to compare against.

Usage:
  sklearn_reference.py knn TRAIN QUERIES K WEIGHTS METRIC STANDARDIZE
      TRAIN: CSV rows of d_in inputs then d_out targets (D_IN given by QUERIES' width);
      prints KNeighborsRegressor(algorithm="brute") predictions, one row per query.
      STANDARDIZE is 0 or 1 (StandardScaler before the regressor).
  sklearn_reference.py ridge X Y ALPHA
      prints Ridge(alpha).fit(X, Y): one row per input of coefficients, then the intercepts.
Numbers are printed with repr() so every bit survives the round trip.
"""
import sys

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def print_rows(rows):
    for row in np.atleast_2d(rows):
        print(" ".join(repr(float(x)) for x in row))


def knn(train_file, query_file, k, weights, metric, standardize):
    queries = np.loadtxt(query_file, delimiter=",", ndmin=2)
    train = np.loadtxt(train_file, delimiter=",", ndmin=2)
    d_in = queries.shape[1]
    x, y = train[:, :d_in], train[:, d_in:]
    model = KNeighborsRegressor(n_neighbors=k, weights=weights, metric=metric, algorithm="brute")
    if standardize:
        model = make_pipeline(StandardScaler(), model)
    print_rows(model.fit(x, y).predict(queries))


def ridge(x_file, y_file, alpha):
    x = np.loadtxt(x_file, delimiter=",", ndmin=2)
    y = np.loadtxt(y_file, delimiter=",", ndmin=2)
    model = Ridge(alpha=alpha).fit(x, y)
    print_rows(np.asarray(model.coef_).reshape(y.shape[1], -1).T)
    print_rows(np.asarray(model.intercept_).reshape(1, -1))


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "knn" and len(argv) == 8:
        knn(argv[2], argv[3], int(argv[4]), argv[5], argv[6], argv[7] == "1")
    elif command == "ridge" and len(argv) == 5:
        ridge(argv[2], argv[3], float(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
