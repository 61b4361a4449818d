#!/usr/bin/env python3
"""Ballista against its peers on the same work (issue 7's suite; scripts/bench runs it).

  bench.py BALLISTA_BENCH BALLISTA [--reps R] [--quick] [--json FILE] [--only CASE...] [--threads T]

Every case runs Ballista (bench/bench_models.cpp, one process per repetition) and each
peer (bench/peers.py) R times, interleaved, on the cannon data drawn from seed 0 by
both. It prints the medians and the ratio Ballista/peer per case, with the target from
issue 7 where there is one, plus a machine line and the OpenBLAS kernels each side ran
("Haswell", "SkylakeX", ...: a ratio on AVX2 kernels does not compare with one on
AVX-512), and writes everything as JSON.
Times are of the fit (and the prediction, for knn), not of process start-up, except
for `startup`, which is `ballista plugins` as a whole.

Every process (Ballista's and the peers') runs with OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set to T (default: all cores, Ballista's
default), so both sides use the same number of threads. The `sweep` case times configs/cannon.yaml
with and without 200 more linear models and divides what they add per model by their
own fit + predict time (what a sweep costs beyond its models' work). The `threads` case runs
`ballista run configs/cannon.yaml --threads N` for N = 1 and all cores and checks that
the process keeps at most N cores busy (CPU time / wall time), i.e. that LibTorch,
OpenMP and OpenBLAS together do not oversubscribe.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from distributed import FUNCTIONS  # the article's six basis functions

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

# (label, ballista case, rows, queries, [(peer case, peer)], target ratio, what is timed)
CASES = [
    ("mlp N=1e3", "mlp", 1000, 0, [("mlp", "torch")], 0.75, "fit"),
    ("mlp N=1e4", "mlp", 10000, 0, [("mlp", "torch")], 0.75, "fit"),
    ("basis N=1e3", "basis", 1000, 0, [("basis", "numpy"), ("basis", "sklearn")], None, "fit"),
    ("basis N=1e6", "basis", 10**6, 0, [("basis", "numpy"), ("basis", "sklearn")], None, "fit"),
    ("basis N=1e7", "basis", 10**7, 0, [("basis", "numpy"), ("basis", "sklearn")], 0.4, "fit"),
    ("linear N=1e6", "linear", 10**6, 0, [("linear", "numpy"), ("linear", "sklearn")], None, "fit"),
    ("basis_adam N=1e3", "basis_adam", 1000, 0, [("basis_adam", "torch")], None, "fit"),
    ("knn N=1e6 M=1e5", "knn", 10**6, 10**5, [("knn", "sklearn")], 0.1, "fit+predict"),  # issue 20 (was 0.5)
    # Brute force on both sides, with fewer queries (10^9 distances each).
    ("knn brute N=1e6 M=1e3", "knn_brute", 10**6, 10**3, [("knn", "brute")], None, "fit+predict"),
    # One training epoch through the integrator (forward, backward, Adam step): 1000
    # shots, RK4 at dt 0.01, float64; the peer is the same loop in Python PyTorch.
    ("ode epoch N=1e3", "ode", 1000, 0, [("ode", "torch")], 0.5, "fit"),
    ("ode universal epoch N=1e3", "ode_universal", 1000, 0, [("ode_universal", "torch")], 0.5, "fit"),
]
QUICK = {"mlp N=1e4", "basis N=1e7", "knn N=1e6 M=1e5", "knn brute N=1e6 M=1e3"}


def run_json(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure_process(command):
    """Wall seconds and peak resident KiB of one process, by GNU time."""
    wall, kib, _ = measure_process_cpu(command)
    return wall, kib


def measure_process_cpu(command):
    """Wall seconds, peak resident KiB and CPU seconds (user + system) of one process."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S"] + command, check=True, capture_output=True,
                          text=True)
    wall, kib, user, system = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kib), float(user) + float(system)


def use_threads(threads):
    """Every process started from now on uses `threads` threads (OpenMP, OpenBLAS, MKL)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    # As `ballista` sets it: OpenMP threads that spin while OpenBLAS computes would
    # slow every side down many times over with more than one thread.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def thread_check(arguments, rows):
    """`ballista run` with --threads 1 and all cores: wall time, and CPU / wall, which
    is the average number of busy cores (at most N without oversubscription)."""
    source = os.path.dirname(HERE)
    counts = sorted({1, os.cpu_count()})
    with tempfile.TemporaryDirectory() as scratch:
        for threads in counts:
            walls, loads = [], []
            for rep in range(arguments.reps):
                wall, _, cpu = measure_process_cpu([arguments.ballista, "run", os.path.join(source, "configs/cannon.yaml"),
                                                    "--quiet", "--threads", str(threads), "--out",
                                                    os.path.join(scratch, "t%d-%d" % (threads, rep))])
                walls.append(wall)
                loads.append(cpu / wall)
            # CPU / wall above N (plus 5% for the kernel's own accounting) means more
            # busy threads than asked for.
            rows.append({"case": "threads=%d" % threads, "timed": "busy cores", "ballista_s": max(loads),
                         "peer": "(--threads)", "peer_s": float(threads), "ratio": max(loads) / threads,
                         "target": 1.05, "ballista_runs": loads, "walls": walls,
                         "note": "cannon run %.2f s wall" % statistics.median(walls)})


def blas_cores(arguments, sgemm):
    """The OpenBLAS kernels each side runs ("Haswell", "SkylakeX", ...): Ballista's from
    a small fit, the peers' from the SGEMM run; and the variables that choose them."""
    ballista = run_json([arguments.bench_binary, "linear", "1000"]).get("blas_core")
    variables = {name: value for name, value in sorted(os.environ.items())
                 if name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ATEN_CPU_CAPABILITY")}
    return {"ballista": ballista, "peers": sgemm.get("blas_core"), "variables": variables}


def print_blas_cores(info):
    cores = info["blas_core"]
    chosen = ", ".join("%s=%s" % item for item in cores["variables"].items()) or "chosen by OpenBLAS for this CPU"
    print("BLAS kernels: Ballista %s, peers %s (%s); ratios compare only with runs on the same kernels"
          % (cores["ballista"], cores["peers"], chosen))
    if cores["ballista"] != cores["peers"]:
        print("warning: Ballista and its peers run different BLAS kernels: their ratios mix kernel speeds")


def timed(result, what):
    return result["fit_seconds"] + (result.get("predict_seconds", 0.0) if what == "fit+predict" else 0.0)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    blas = "?"
    try:
        blas = os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "blas": blas}


# Sizes per case: as far as each fits in memory and a few minutes (the MLP trains 1000
# full-batch epochs, so it stops at 1e4).
GROWTH = [("mlp", [10**3, 10**4]), ("basis", [10**3, 10**4, 10**5, 10**6, 10**7]),
          ("linear", [10**3, 10**4, 10**5, 10**6, 10**7]), ("knn", [10**3, 10**4, 10**5, 10**6])]
# Sweep sizes for --growth: the cannon's data with this many cheap models (half a ridge
# sweep of linear, half a threshold sweep of basis STLSQ) and none of its own.
SWEEP_GROWTH = [10, 100, 1000]


def sweep_pipeline(models, path):
    """Writes to `path` configs/cannon.yaml's data and evaluation with `models` swept models
    in place of its own six."""
    source = os.path.dirname(HERE)
    ridge = models // 2
    text = "extends: %s\nmodels:\n" % os.path.join(source, "configs/cannon.yaml")
    for name in ("knn", "linear", "basis", "basis_sparse", "basis_adam", "mlp"):
        text += "  %s: null\n" % name
    text += "  ridge: {plugin: linear, l2: {sweep: [%s]}}\n" % ", ".join(str(i / 1000) for i in range(ridge))
    text += ("  sparse: {plugin: basis, solver: stlsq, functions: [%s], threshold: {sweep: [%s]}}\n"
             % (", ".join(FUNCTIONS), ", ".join(str(i / 10000) for i in range(models - ridge))))
    with open(path, "w") as out:
        out.write(text)


def cannon_sweep_pipeline(path):
    """Writes to `path` configs/cannon.yaml with its linear and basis models swept to 200
    variants (linear SGD over 50 learning rates, basis STLSQ over 75 thresholds, basis
    Adam over 75 learning rates) and without knn, basis (no parameter to sweep) and mlp."""
    def values(count, first, step):
        return ", ".join(repr(round(first + step * i, 6)) for i in range(count))
    with open(path, "w") as out:
        out.write("extends: %s\nmodels:\n  knn: null\n  mlp: null\n  basis: null\n"
                  "  linear: {lr: {sweep: [%s]}}\n  basis_sparse: {threshold: {sweep: [%s]}}\n"
                  "  basis_adam: {lr: {sweep: [%s]}}\n"
                  % (os.path.join(os.path.dirname(HERE), "configs/cannon.yaml"), values(50, 0.002, 0.0002),
                     values(75, 0.0, 0.0002), values(75, 0.05, 0.001)))


def sweep_growth(arguments, table):
    """`ballista run` of a sweep of each size in SWEEP_GROWTH: wall time, and the models'
    own fit + predict time from metrics.json."""
    print("%-8s %10s %12s %14s %12s" % ("sweep", "models", "wall s", "wall s/model", "models' s"))
    with tempfile.TemporaryDirectory() as scratch:
        for models in SWEEP_GROWTH:
            pipeline = os.path.join(scratch, "sweep%d.yaml" % models)
            sweep_pipeline(models, pipeline)
            out = os.path.join(scratch, "run%d" % models)
            wall, memory = measure_process([arguments.ballista, "run", pipeline, "--quiet", "--threads",
                                            str(arguments.threads), "--out", out])
            with open(os.path.join(out, "metrics.json")) as metrics:
                work = sum(m["fit_seconds"] + m["predict_seconds"] for m in json.load(metrics)["models"])
            table.append({"case": "sweep", "models": models, "wall_seconds": wall, "model_seconds": work,
                          "peak_kib": memory})
            print("%-8s %10d %12.4g %14.3g %12.4g" % ("sweep", models, wall, wall / models, work))
            sys.stdout.flush()


def growth(arguments):
    """Fit (and for knn, predict N/10 queries) time over N; a slope above 1 on the log-log
    plot is a super-linear cost."""
    table = []
    info = machine()
    info["blas_core"] = blas_cores(arguments, run_json([PYTHON, os.path.join(HERE, "peers.py"), "sgemm", "torch", "0"]))
    print("machine: %s, %d cores, BLAS %s" % (info["cpu"], info["cores"], info["blas"]))
    print_blas_cores(info)
    print("%-8s %10s %12s %14s %12s" % ("model", "N", "fit s", "fit s per row", "predict s"))
    for case, sizes in GROWTH:
        for n in sizes:
            command = [arguments.bench_binary, case, str(n)] + ([str(n // 10)] if case == "knn" else [])
            result = run_json(command)
            table.append(result)
            print("%-8s %10d %12.4g %14.3g %12s" % (case, n, result["fit_seconds"], result["fit_seconds"] / n,
                                                   "%.4g" % result["predict_seconds"] if "predict_seconds" in result
                                                   else ""))
            sys.stdout.flush()
    sweep_growth(arguments, table)
    with open(arguments.json, "w") as out:
        json.dump({"machine": info, "growth": table}, out, indent=2)
    script = ["set terminal pngcairo size 1500,600 noenhanced", "set output '%s'" % os.path.join(HERE, "growth.png"),
              "set multiplot layout 1,2",
              "set logscale xy", "set xlabel 'training rows N'", "set ylabel 'seconds'", "set key left top",
              "set title 'Ballista: fit time over N (knn: fit + predict N/10 queries)'", "set grid"]
    plots = []
    for case, _ in GROWTH:
        rows = [r for r in table if r["case"] == case]
        block = "$%s << EOD\n%s\nEOD" % (case, "\n".join("%d %.6g" % (r["rows"], r["fit_seconds"] +
                                                                        r.get("predict_seconds", 0.0)) for r in rows))
        script.append(block)
        plots.append("$%s using 1:2 with linespoints lw 2 title '%s'" % (case, case))
    script.append("plot " + ", ".join(plots) + ", x/1e6 with lines dt 2 lc 'gray' title 'linear (1 µs per row)'")
    sweeps = [r for r in table if r["case"] == "sweep"]
    script.append("$sweep << EOD\n%s\nEOD" % "\n".join("%d %.6g %.6g" % (r["models"], r["wall_seconds"],
                                                                        r["model_seconds"]) for r in sweeps))
    per_model = sweeps[-1]["wall_seconds"] / sweeps[-1]["models"]
    script += ["set xlabel 'models in the sweep (cannon data, linear and basis STLSQ)'",
               "set title 'Ballista: wall time of a sweep over its size'",
               "plot $sweep using 1:2 with linespoints lw 2 title 'ballista run, wall', "
               "$sweep using 1:3 with linespoints lw 2 title 'the models fit + predict', "
               "x*%g with lines dt 2 lc 'gray' title 'linear (%.3g s per model)'" % (per_model, per_model),
               "unset multiplot"]
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    print("written: %s and %s" % (arguments.json, os.path.join(HERE, "growth.png")))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_binary")
    parser.add_argument("ballista")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the largest cases")
    parser.add_argument("--json", default="bench/results.json")
    parser.add_argument("--only", nargs="*", default=None, help="case labels to run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for every process, Ballista's and the peers' (default: all cores)")
    parser.add_argument("--growth", action="store_true",
                        help="instead: each model's fit (and knn's predict) time over N = 1e3 ... 1e7, and a "
                             "sweep's wall time over its size (10, 100, 1000 models), printed and plotted to "
                             "bench/growth.png")
    arguments = parser.parse_args()
    use_threads(arguments.threads)
    if arguments.growth:
        return growth(arguments)

    info = machine()
    sgemm = run_json([PYTHON, os.path.join(HERE, "peers.py"), "sgemm", "torch", "0"])
    info["sgemm_gflops"] = sgemm["gflops"]
    info["threads"] = sgemm["threads"]
    info["blas_core"] = blas_cores(arguments, sgemm)
    print("machine: %s, %d cores, %d threads (every process), BLAS %s, SGEMM %.1f GFLOP/s (float32 2048², PyTorch)"
          % (info["cpu"], info["cores"], info["threads"], info["blas"], info["sgemm_gflops"]))
    print_blas_cores(info)

    rows = []
    for label, case, n, m, peers, target, what in CASES:
        if arguments.quick and label in QUICK:
            continue
        if arguments.only and label not in arguments.only:
            continue
        ours, theirs = [], {peer: [] for _, peer in peers}
        details = {}
        for _ in range(arguments.reps):
            command = [arguments.bench_binary, case, str(n)] + ([str(m)] if m else [])
            result = run_json(command)
            ours.append(timed(result, what))
            details["ballista"] = result
            for peer_case, peer in peers:
                command = [PYTHON, os.path.join(HERE, "peers.py"), peer_case, peer, str(n)] + ([str(m)] if m else [])
                result = run_json(command)
                theirs[peer].append(timed(result, what))
                details[peer] = result
        for peer in theirs:
            ratio = statistics.median(ours) / statistics.median(theirs[peer])
            row = {"case": label, "timed": what, "ballista_s": statistics.median(ours), "peer": peer,
                   "peer_s": statistics.median(theirs[peer]), "ratio": ratio, "target": target,
                   "ballista_runs": ours, "peer_runs": theirs[peer],
                   "ballista_mse": details["ballista"].get("train_mse"), "peer_mse": details[peer].get("train_mse"),
                   "ballista_blas_core": details["ballista"].get("blas_core"),
                   "peer_blas_core": details[peer].get("blas_core")}
            if case == "mlp":
                flops = 3 * 2 * n * (2 * 256 + 256 * 256 + 256) * 1000
                row["ballista_gflops"] = flops / row["ballista_s"] / 1e9
                row["peer_gflops"] = flops / row["peer_s"] / 1e9
            if case == "knn":
                row["prediction_sums"] = [details["ballista"].get("prediction_sum"), details[peer].get("prediction_sum")]
            rows.append(row)
    # The whole program: `ballista run configs/cannon.yaml` (six models, plots, report)
    # against the article's script (four approaches), as processes: wall time and peak RSS.
    if not arguments.only or "program" in arguments.only:
        source = os.path.dirname(HERE)
        ours, theirs, our_memory, their_memory = [], [], [], []
        with tempfile.TemporaryDirectory() as scratch:
            for rep in range(arguments.reps):
                wall, memory = measure_process([arguments.ballista, "run", os.path.join(source, "configs/cannon.yaml"),
                                                "--quiet", "--threads", str(arguments.threads),
                                                "--out", os.path.join(scratch, "run%d" % rep)])
                ours.append(wall)
                our_memory.append(memory)
                wall, memory = measure_process([PYTHON, os.path.join(HERE, "article.py")])
                theirs.append(wall)
                their_memory.append(memory)
        rows.append({"case": "program (cannon)", "timed": "wall", "ballista_s": statistics.median(ours),
                     "peer": "article.py", "peer_s": statistics.median(theirs),
                     "ratio": statistics.median(ours) / statistics.median(theirs), "target": 0.4,  # issue 20
                     "ballista_runs": ours, "peer_runs": theirs})
        rows.append({"case": "program (cannon)", "timed": "peak MiB", "ballista_s": max(our_memory) / 1024,
                     "peer": "article.py", "peer_s": max(their_memory) / 1024,
                     "ratio": max(our_memory) / max(their_memory), "target": 1.0})
    # A sweep (issue 14 item 15): configs/cannon.yaml with 200 more linear models (an l2
    # sweep) against configs/cannon.yaml alone, both in this invocation. What the 200 add
    # to the wall time, per model, against their own fit + predict time: the records,
    # model files, evaluation and plots a sweep costs beyond its models' work.
    if not arguments.only or "sweep" in arguments.only:
        source = os.path.dirname(HERE)
        models = 200
        plain_walls, sweep_walls, work = [], [], []
        with tempfile.TemporaryDirectory() as scratch:
            pipeline = os.path.join(scratch, "sweep.yaml")
            with open(pipeline, "w") as out:
                out.write("extends: %s\nmodels:\n  sweep: {plugin: linear, l2: {sweep: [%s]}}\n"
                          % (os.path.join(source, "configs/cannon.yaml"),
                             ", ".join(str(i / 1000) for i in range(models))))
            for rep in range(arguments.reps):
                common = ["--quiet", "--threads", str(arguments.threads)]
                wall, _ = measure_process([arguments.ballista, "run", os.path.join(source, "configs/cannon.yaml")] +
                                          common + ["--out", os.path.join(scratch, "plain%d" % rep)])
                plain_walls.append(wall)
                directory = os.path.join(scratch, "sweep%d" % rep)
                wall, _ = measure_process([arguments.ballista, "run", pipeline] + common + ["--out", directory])
                sweep_walls.append(wall)
                with open(os.path.join(directory, "metrics.json")) as metrics:
                    swept = [m for m in json.load(metrics)["models"] if m.get("swept_from") == "sweep"]
                work.append(sum(m["fit_seconds"] + m["predict_seconds"] for m in swept) / len(swept))
        extra = (statistics.median(sweep_walls) - statistics.median(plain_walls)) / models
        rows.append({"case": "sweep 200 linear", "timed": "s per model", "ballista_s": extra,
                     "peer": "fit+predict", "peer_s": statistics.median(work),
                     "ratio": extra / statistics.median(work), "target": None,
                     "ballista_runs": sweep_walls, "peer_runs": plain_walls,
                     "note": "wall %.2f s with the sweep, %.2f s without" % (statistics.median(sweep_walls),
                                                                            statistics.median(plain_walls))})
    # Issue 20 item 4: a 200-model sweep of the cannon's linear and basis models, the
    # whole run (records, model files, evaluation, plots, report) against the time its
    # models take to fit, from its own metrics.json.
    if not arguments.only or "sweep 200 cannon" in arguments.only:
        walls, fits = [], []
        with tempfile.TemporaryDirectory() as scratch:
            pipeline = os.path.join(scratch, "cannon_sweep.yaml")
            cannon_sweep_pipeline(pipeline)
            for rep in range(arguments.reps):
                directory = os.path.join(scratch, "run%d" % rep)
                wall, _ = measure_process([arguments.ballista, "run", pipeline, "--quiet", "--threads",
                                           str(arguments.threads), "--out", directory])
                walls.append(wall)
                with open(os.path.join(directory, "metrics.json")) as metrics:
                    fits.append(sum(m["fit_seconds"] for m in json.load(metrics)["models"]))
        ratios = [wall / fit for wall, fit in zip(walls, fits)]
        rows.append({"case": "sweep 200 cannon", "timed": "wall / fit", "ballista_s": statistics.median(walls),
                     "peer": "models' fit", "peer_s": statistics.median(fits), "ratio": statistics.median(ratios),
                     "target": 1.5, "ballista_runs": walls, "peer_runs": fits})
    # Start-up: the whole `ballista plugins`, no peer.
    if not arguments.only or "startup" in arguments.only:
        startups = []
        for _ in range(max(3, arguments.reps)):
            start = time.perf_counter()
            subprocess.run([arguments.ballista, "plugins"], check=True, capture_output=True)
            startups.append(time.perf_counter() - start)
        rows.append({"case": "startup", "timed": "ballista plugins", "ballista_s": statistics.median(startups),
                     "peer": "(0.3 s target)", "peer_s": 0.3, "ratio": statistics.median(startups) / 0.3,
                     "target": 1.0, "ballista_runs": startups})

    if not arguments.only or "threads" in arguments.only:
        thread_check(arguments, rows)

    print("%-18s %-12s %12s %-14s %12s %8s %8s  %s" % ("case", "timed", "ballista s", "peer", "peer s", "ratio",
                                                      "target", "note"))
    for row in rows:
        target = row["target"]
        met = "" if target is None else ("met" if row["ratio"] <= target else "MISSED")
        note = ""
        if "ballista_gflops" in row:
            note = "%.1f vs %.1f GFLOP/s (%.0f%% vs %.0f%% of SGEMM)" % (
                row["ballista_gflops"], row["peer_gflops"], 100 * row["ballista_gflops"] / info["sgemm_gflops"],
                100 * row["peer_gflops"] / info["sgemm_gflops"])
        elif row.get("ballista_mse") is not None and row.get("peer_mse") is not None:
            note = "train MSE %.4g vs %.4g" % (row["ballista_mse"], row["peer_mse"])
        elif "note" in row:
            note = row["note"]
        elif "prediction_sums" in row:
            note = "prediction sums %.6f vs %.6f" % tuple(row["prediction_sums"])
        print("%-18s %-12s %12.4g %-14s %12.4g %8.3f %8s  %s %s" % (
            row["case"], row["timed"], row["ballista_s"], row["peer"], row["peer_s"], row["ratio"],
            "" if target is None else "<= %g" % target, met, note))
    os.makedirs(os.path.dirname(os.path.abspath(arguments.json)), exist_ok=True)
    with open(arguments.json, "w") as out:
        json.dump({"machine": info, "reps": arguments.reps, "threads": arguments.threads, "rows": rows}, out, indent=2)
    print("written: " + arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
