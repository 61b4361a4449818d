#!/usr/bin/env python3
"""Strong scaling of data-parallel fits over local ranks (issue 19).

  distributed.py BALLISTA [--ranks 1,2,4] [--basis-rows N] [--mlp-rows N] [--mlp-epochs E]
                 [--knn-rows N] [--sweep-models M] [--shards S] [--only basis|mlp|knn|sweep ...]
                 [--keep DIR]

For each rank count P, `ballista run --nproc P` (P = 1: a plain run) trains
- basis: the article's six functions, closed-form least squares, on --basis-rows rows
  (default 10^7): each rank folds its share into a QR factor, the factors are gathered;
- mlp: 2 -> 256 -> 256 -> 1, sigmoid, full-batch Adam, --mlp-rows rows (default 10^5),
  --mlp-epochs steps (default 20): each step sums every rank's gradients in one all-reduce;
- knn: k = 5 over --knn-rows samples (default 10^6), each rank keeping its share and
  searching it, every query's candidates gathered and merged; timed is the evaluation
  (predict_seconds: every evaluation set's queries), not the fit;
and reads from metrics.json the fit's wall time (rank 0's fit_seconds) and what its
collectives cost (fit_values collective_calls, collective_seconds: waiting included,
collective_megabytes: sent by rank 0). Printed: seconds, speed-up over P = 1,
communication seconds per step, megabytes per step.

sweep: a --sweep-models-model sweep of cheap linear and basis variants run by one
process, against --shards shards (`--shard I/S`, run one after another here, as a job
array would run them at once) plus `ballista merge`: the overhead is the shards' summed
wall time plus the merge over the single run's.

Every P runs on this one machine: with more ranks than cores the ranks share cores,
so the figures show the cost of the exchange, not a cluster's speed-up.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ONE_THREAD_PER_RANK = False  # --one-thread-per-rank: P ranks get P threads in all
FUNCTIONS = ["v", "v^2", "v*sin(theta)", "v*sin(2*theta)", "v^2*sin(theta)", "v^2*sin(2*theta)"]


def pipeline(rows, models):
    return f"""name: scaling
seed: 0
data:
  constants: {{g: 9.81}}
  inputs: {{v: "uniform(0, 10)", theta: "uniform(0, pi/2)"}}
  targets: {{s: {{expression: v^2*sin(2*theta)/g, noise: 0.01}}}}
  n: {rows}
models:
{models}
"""


def run(ballista, yaml_text, ranks, directory, extra=()):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "p.yaml")
    with open(path, "w") as f:
        f.write(yaml_text)
    out = os.path.join(directory, "run")
    command = [ballista, "run", path, "--quiet", "--out", out, *extra]
    if ranks > 1:
        command += ["--nproc", str(ranks)]
    if ONE_THREAD_PER_RANK:
        command += ["--threads", str(ranks)]  # --nproc divides it: one thread per rank
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"distributed.py: {' '.join(command)} failed ({done.returncode}):\n{done.stdout}")
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f), wall


def scaling(ballista, name, yaml_text, steps, ranks_list, keep, timed="fit_seconds"):
    rows = []
    base = None
    for ranks in ranks_list:
        metrics, _ = run(ballista, yaml_text, ranks, os.path.join(keep, f"{name}-{ranks}"))
        model = metrics["models"][0]
        fit = model[timed]
        values = model.get("fit_values", {})
        base = base or fit
        calls = values.get("collective_calls", 0)
        rows.append((ranks, fit, base / fit, values.get("collective_seconds", 0.0) / steps,
                     values.get("collective_megabytes", 0.0) / steps, calls, next(iter(model["metrics"].values()))["mse"]))
    print(f"\n{name}: ranks | {timed.replace('_seconds', '')} s | speed-up | comm s/step | MB/step (rank 0 sent) | collectives | MSE (first set)")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for ranks, fit, speedup, comm, megabytes, calls, mse in rows:
        print(f"| {ranks} | {fit:.3f} | {speedup:.2f} | {comm:.2e} | {megabytes:.4f} | {calls:.0f} | {mse:.6e} |")
    return rows


def sweep(ballista, models, shards, keep):
    blocks = []
    for i in range(models):
        if i % 2 == 0:
            blocks.append(f"  linear_{i}: {{plugin: linear, l2: {i * 1e-3}}}")
        else:
            blocks.append(f"  basis_{i}: {{plugin: basis, solver: stlsq, threshold: {i * 1e-4}, "
                          f"functions: [{', '.join(FUNCTIONS)}]}}")
    text = pipeline(1000, "\n".join(blocks))
    _, single = run(ballista, text, 1, os.path.join(keep, "sweep-single"))
    directory = os.path.join(keep, "sweep-shards")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "p.yaml"), "w") as f:
        f.write(text)
    total = 0.0
    outs = []
    for index in range(shards):
        out = os.path.join(directory, f"shard-{index}")
        start = time.perf_counter()
        subprocess.run([ballista, "run", os.path.join(directory, "p.yaml"), "--quiet", "--shard",
                        f"{index}/{shards}", "--out", out], check=True, stdout=subprocess.DEVNULL)
        total += time.perf_counter() - start
        outs.append(out)
    start = time.perf_counter()
    subprocess.run([ballista, "merge", *outs, "--out", os.path.join(directory, "merged")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    merge = time.perf_counter() - start
    print(f"\nsweep of {models} models: one process {single:.2f} s; {shards} shards {total:.2f} s "
          f"(sum, one after another) + merge {merge:.2f} s = {(total + merge) / single:.2f}x "
          f"the single run; per shard {total / shards:.2f} s")
    return single, total, merge


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ballista")
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--basis-rows", type=int, default=10_000_000)
    parser.add_argument("--mlp-rows", type=int, default=100_000)
    parser.add_argument("--mlp-epochs", type=int, default=20)
    parser.add_argument("--knn-rows", type=int, default=1_000_000)
    parser.add_argument("--sweep-models", type=int, default=40)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=["basis", "mlp", "knn", "sweep"])
    parser.add_argument("--keep", help="keep the runs in this directory")
    parser.add_argument("--one-thread-per-rank", action="store_true",
                        help="P ranks use P threads in all (one each), so P = 1 is one thread: the scaling of the "
                             "ranks alone; by default every P shares all the cores")
    args = parser.parse_args()
    global ONE_THREAD_PER_RANK
    ONE_THREAD_PER_RANK = args.one_thread_per_rank
    ranks_list = [int(r) for r in args.ranks.split(",")]
    keep = args.keep or tempfile.mkdtemp(prefix="ballista-distributed-")
    try:
        print(f"machine: {os.cpu_count()} cores; every rank on this machine")
        if "basis" in args.only:
            models = f"  basis: {{plugin: basis, solver: lstsq, functions: [{', '.join(FUNCTIONS)}]}}"
            scaling(args.ballista, f"basis lstsq, {args.basis_rows:.0e} rows", pipeline(args.basis_rows, models), 1,
                    ranks_list, keep)
        if "mlp" in args.only:
            models = (f"  mlp: {{plugin: mlp, hidden: [256, 256], activation: sigmoid, optimizer: adam, "
                      f"epochs: {args.mlp_epochs}}}")
            scaling(args.ballista, f"mlp 2-256-256-1, {args.mlp_rows:.0e} rows, {args.mlp_epochs} epochs",
                    pipeline(args.mlp_rows, models), args.mlp_epochs, ranks_list, keep)
        if "knn" in args.only:
            scaling(args.ballista, f"knn k=5, {args.knn_rows:.0e} samples", pipeline(args.knn_rows, "  knn: {plugin: knn, k: 5}"),
                    1, ranks_list, keep, timed="predict_seconds")
        if "sweep" in args.only:
            sweep(args.ballista, args.sweep_models, args.shards, keep)
    finally:
        if not args.keep:
            shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    main()
