#!/usr/bin/env python3
"""The peers of bench/bench.py: the same cases as ballista_bench, in Python, on the same
data (np.random.seed(0): the cannon's 1000 shots are the article's), timing only the fit
and the prediction, printed as one JSON line.

  peers.py CASE PEER N [M]
    mlp        torch        the article's MLP: 2-256-256-1 sigmoid, Adam lr 0.01, full batch, 1000 epochs
    basis      numpy        the six features + np.linalg.lstsq
    basis      sklearn      the six features + LinearRegression(fit_intercept=False)
    linear     numpy        [v, theta, 1] + np.linalg.lstsq
    linear     sklearn      LinearRegression()
    knn        sklearn      KNeighborsRegressor(5, algorithm="kd_tree"): fit + predict M queries
    knn        brute        KNeighborsRegressor(5, algorithm="brute")
    basis_adam torch        the article's Adam fit of the six features: lr 0.1, 5000 epochs
    sgemm      torch        float32 2048x2048 matrix products: the machine's GEMM rate (GFLOP/s)
    ode        torch        the ode plugin's grey box (quadratic drag k, from 0.01), float64: one epoch =
                            RK4 with dt 0.01 over the N shots to their landing, backward through the
                            integrator and the event time, one Adam step (lr 0.001)
    ode_universal torch     the same with the drag term a 2-32-32-2 tanh network (seed 0)
The ode cases run tests/reference/ode_reference.py (the plugin's spec, written in PyTorch) and
report fit_seconds PER EPOCH (the mean of 5 epochs after one warm-up) and the loss of the first
epoch (the warm-up's, from the initial parameters).

Every result names the OpenBLAS kernels that ran ("blas_core"): a ratio measured on
AVX2 kernels is not comparable with one measured on AVX-512 kernels.
"""
import json
import math
import os
import sys
import time

import numpy as np


def cannon(rows):
    np.random.seed(0)
    v = np.random.uniform(0, 10, rows)
    theta = np.random.uniform(0, np.pi / 2, rows)
    s = np.clip(v**2 * np.sin(2 * theta) / 9.81 + 0.01 * np.random.randn(rows), 0, None)
    return v, theta, s


def features(v, theta):
    return np.stack([v, v**2, v * np.sin(theta), v * np.sin(2 * theta), v**2 * np.sin(theta),
                     v**2 * np.sin(2 * theta)], axis=1)


def queries(count):
    import torch
    generator = torch.Generator().manual_seed(1)
    points = torch.rand((count, 2), generator=generator, dtype=torch.float64)
    return (points * torch.tensor([10.0, math.pi / 2], dtype=torch.float64)).numpy()


def blas_core():
    """OpenBLAS's name for the kernels it runs in this process ("Haswell", "SkylakeX", ...),
    from the library NumPy or PyTorch loaded; None under another BLAS or before either."""
    import ctypes
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
    for path in sorted(paths):
        try:
            corename = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return None


ODE_EPOCHS = 5


def ode_epochs(case, v, theta, s, result):
    """Times ODE_EPOCHS training epochs through the integrator after one warm-up."""
    import torch
    # The reference implementation of the plugin's spec; imported as a module it leaves
    # the thread counts to the benchmark (its OPENBLAS_NUM_THREADS=1 is for its own runs).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
    import ode_reference as ode
    if case == "ode":
        params = [torch.tensor(0.01, dtype=torch.float64)]
    else:
        params = ode.init_network(0, [2, 32, 32, 2])
    for p in params:
        p.requires_grad_(True)
    rhs = ode.grey_rhs(params[0]) if case == "ode" else ode.universal_rhs(params, "tanh")
    v, theta, s = (torch.tensor(column, dtype=torch.float64) for column in (v, theta, s))
    optimizer = torch.optim.Adam(params, lr=0.001)

    def epoch():
        optimizer.zero_grad()
        loss = ode.mse(ode.predicted_ranges(rhs, v, theta, 0.01), s)
        loss.backward()
        optimizer.step()
        return float(loss)

    result["loss"] = epoch()
    start = time.perf_counter()
    for _ in range(ODE_EPOCHS):
        epoch()
    result["fit_seconds"] = (time.perf_counter() - start) / ODE_EPOCHS
    result["epochs"] = ODE_EPOCHS
    result["threads"] = torch.get_num_threads()


def main(argv):
    case, peer, rows = argv[1], argv[2], int(float(argv[3]))
    count = int(float(argv[4])) if len(argv) > 4 else 0
    result = {"case": case, "peer": peer, "rows": rows}
    if case == "sgemm":
        import torch
        a = torch.rand(2048, 2048)
        b = torch.rand(2048, 2048)
        a.mm(b)
        start = time.perf_counter()
        for _ in range(10):
            a.mm(b)
        elapsed = time.perf_counter() - start
        result.update(gflops=10 * 2 * 2048**3 / elapsed / 1e9, threads=torch.get_num_threads(), blas_core=blas_core())
        print(json.dumps(result))
        return 0
    v, theta, s = cannon(rows)
    if case in ("mlp", "basis_adam"):
        import torch
        torch.manual_seed(0)
        if case == "mlp":
            x = torch.tensor(np.stack([v, theta], axis=1), dtype=torch.float32)
            model = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.Sigmoid(), torch.nn.Linear(256, 256),
                                        torch.nn.Sigmoid(), torch.nn.Linear(256, 1))
            lr, epochs = 0.01, 1000
        else:
            x = torch.tensor(features(v, theta), dtype=torch.float32)
            model = torch.nn.Linear(6, 1, bias=False)
            torch.nn.init.zeros_(model.weight)
            lr, epochs = 0.1, 5000
        y = torch.tensor(s[:, None], dtype=torch.float32)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        loss_function = torch.nn.MSELoss()
        start = time.perf_counter()
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = loss_function(model(x), y)
            loss.backward()
            optimizer.step()
        result["fit_seconds"] = time.perf_counter() - start
        with torch.no_grad():
            result["train_mse"] = float(((model(x[:1000]).double() - torch.tensor(s[:1000, None])) ** 2).mean())
        result["threads"] = torch.get_num_threads()
    elif case in ("basis", "linear"):
        from sklearn.linear_model import LinearRegression  # imported before the clock starts
        start = time.perf_counter()
        if case == "basis":
            design = features(v, theta)
        else:
            design = np.stack([v, theta, np.ones_like(v)], axis=1) if peer == "numpy" else np.stack([v, theta], axis=1)
        if peer == "numpy":
            weights = np.linalg.lstsq(design, s, rcond=None)[0]
            predicted = design @ weights
        else:
            model = LinearRegression(fit_intercept=(case == "linear")).fit(design, s)
            predicted = model.predict(design)
        result["fit_seconds"] = time.perf_counter() - start
        result["train_mse"] = float(((predicted[:1000] - s[:1000]) ** 2).mean())  # as ballista_bench: first 1000 rows
    elif case in ("ode", "ode_universal"):
        ode_epochs(case, v, theta, s, result)
    elif case == "knn":
        from sklearn.neighbors import KNeighborsRegressor
        x = np.stack([v, theta], axis=1)
        points = queries(count)
        start = time.perf_counter()
        model = KNeighborsRegressor(n_neighbors=5, algorithm="kd_tree" if peer == "sklearn" else "brute").fit(x, s)
        result["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        predictions = model.predict(points)
        result["predict_seconds"] = time.perf_counter() - start
        result["queries"] = count
        result["prediction_sum"] = float(predictions.sum())
    else:
        print("peers.py: unknown case " + case, file=sys.stderr)
        return 2
    result["blas_core"] = blas_core()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
