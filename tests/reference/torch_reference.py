#!/usr/bin/env python3
"""The mlp plugin's training, written with Python PyTorch (Debian's python3-torch), for
the C++ tests to compare against.

Usage:
  torch_reference.py mlp TRAIN QUERIES SEED HIDDEN ACTIVATION OPTIMIZER LR EPOCHS
                         BATCH_SIZE WEIGHT_DECAY STANDARDIZE
      TRAIN: CSV rows of d_in inputs then d_out targets (d_in = QUERIES' width);
      HIDDEN: comma-separated sizes; STANDARDIZE: 0 or 1.
      Prints the trained network's predictions at QUERIES, one row per query.
  torch_reference.py mlp_trajectory (the same arguments)
      Prints the full-batch loss before each step on one line, then each parameter
      (weight, bias, weight, ... flattened row by row) on a line of its own, then the
      predictions at QUERIES flattened on one line.

Initialisation follows nn.Linear (weight, then bias, ~U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
drawn from torch.Generator().manual_seed(SEED); minibatches are torch.randperm from the
same generator each epoch. Runs on one thread (LibTorch's and OpenBLAS's).
"""
import math
import os
import sys

# PyTorch on one thread means OpenBLAS on one thread too: torch.set_num_threads does not
# reach it, and a product split over its threads may round differently. Read when the
# library loads, so before the import.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402 (after the thread count is set)
import torch  # noqa: E402


def train_mlp(train_file, query_file, seed, hidden, activation, optimizer_name, lr, epochs, batch_size,
              weight_decay, standardize):
    """Returns the losses per epoch (the full-batch loss before the step, or the row-weighted
    mean of the minibatch losses), the trained parameters and the predictions at the queries."""
    queries = torch.tensor(np.loadtxt(query_file, delimiter=",", ndmin=2), dtype=torch.float32)
    train = np.loadtxt(train_file, delimiter=",", ndmin=2)
    d_in = queries.shape[1]
    x = torch.tensor(train[:, :d_in], dtype=torch.float32)
    y = torch.tensor(train[:, d_in:], dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    sizes = [d_in] + hidden + [y.shape[1]]
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        params.append(torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator))
        params.append(torch.empty(fan_out).uniform_(-bound, bound, generator=generator))
    if standardize:
        def scale_of(t):
            sd = t.std(0, unbiased=False, keepdim=True)
            return torch.where(sd > 0, sd, torch.ones_like(sd))
        x_mean, x_scale = x.mean(0, keepdim=True), scale_of(x)
        y_mean, y_scale = y.mean(0, keepdim=True), scale_of(y)
        x, y = (x - x_mean) / x_scale, (y - y_mean) / y_scale
        queries = (queries - x_mean) / x_scale
    for p in params:
        p.requires_grad_(True)
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu}[activation]

    def forward(h):
        for i in range(0, len(params), 2):
            h = torch.addmm(params[i + 1], h, params[i].t())
            if i + 2 < len(params):
                h = act(h)
        return h

    if optimizer_name == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer_name == "sgd":
        optimizer = torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    else:
        optimizer = torch.optim.LBFGS(params, lr=lr, line_search_fn="strong_wolfe")

    def objective(xb, yb):
        loss = torch.nn.functional.mse_loss(forward(xb), yb)
        if optimizer_name == "lbfgs" and weight_decay > 0:
            for p in params:
                loss = loss + 0.5 * weight_decay * p.square().sum()
        return loss

    n = x.shape[0]
    full_batch = batch_size == 0 or batch_size >= n or optimizer_name == "lbfgs"
    losses = []
    for _ in range(epochs):
        if full_batch:
            def closure():
                optimizer.zero_grad()
                loss = objective(x, y)
                loss.backward()
                return loss
            losses.append(float(optimizer.step(closure)))
        else:
            order = torch.randperm(n, generator=generator)
            epoch_loss = 0.0
            for start in range(0, n, batch_size):
                rows = order[start:start + batch_size]
                optimizer.zero_grad()
                loss = objective(x[rows], y[rows])
                loss.backward()
                optimizer.step()
                epoch_loss += float(loss) * len(rows) / n
            losses.append(epoch_loss)
    with torch.no_grad():
        out = forward(queries)
        if standardize:
            out = out * y_scale + y_mean
    return losses, [p.detach() for p in params], out


def mlp(*arguments):
    _, _, out = train_mlp(*arguments)
    for row in out.double().numpy():
        print(" ".join(repr(float(v)) for v in row))


def mlp_trajectory(*arguments):
    losses, params, out = train_mlp(*arguments)
    print(" ".join(repr(v) for v in losses))
    for p in params + [out]:
        print(" ".join(repr(float(v)) for v in p.double().flatten().numpy()))


def main(argv):
    if len(argv) == 13 and argv[1] in ("mlp", "mlp_trajectory"):
        torch.set_num_threads(1)
        (mlp if argv[1] == "mlp" else mlp_trajectory)(argv[2], argv[3], int(argv[4]), [int(h) for h in argv[5].split(",")], argv[6], argv[7],
            float(argv[8]), int(argv[9]), int(argv[10]), float(argv[11]), argv[12] == "1")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
