"""Benchmark: the tutorial's Keras way against the pipeline's code and stages, on the same data.

    python -m benchmarks.bench [--epochs N] [--seeds N] [--models gru,lstm,simple_rnn] [--points N]
                               [-S KEY=VALUE ...] [--output BENCHMARKS.md]

Per model, two fresh worker processes (this module with a hidden sub-command, one JSON line out):
  _baseline  the tutorial: TensorFlow backend, model.fit(...), then 179 x model.predict in a loop
  _pipeline  stages.model.build_model + stages.train.fit + stages.forecast.closed_loop (JAX backend)
Then the DVC stages in a scratch copy of the project (git init + dvc init), timed as a user runs them.
The parent imports only the standard library and PyYAML; each worker imports its own framework.

A tiny run, to see that it works (tests/test_bench.py): a short curve, 2 epochs, 2 seeds, one model,
a tuning of 2 candidates over rungs of 1 and 2 epochs:
    python -m benchmarks.bench --epochs 2 --seeds 2 --models gru --points 40 \
        -S tune.candidates=2 -S 'tune.rungs=[1, 2]' -S 'tune.seeds=[100]' --output /tmp/bench.md
"""
import argparse
import datetime
import functools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # DVC runs stage commands with the first `python` on PATH
LENGTH, UNITS, BATCH, VAL_FRACTION, LEARNING_RATE = 20, 40, 10, 0.1, 0.01  # the tutorial's settings
LAYERS = {"gru": "GRU", "lstm": "LSTM", "simple_rnn": "SimpleRNN"}
PROJECT_FILES = ["dvc.yaml", "params.yaml", ".gitignore", "stages", "data/raw"]  # + .dvcignore, .dvc/config
HEADING = "## On a Ray cluster"  # benchmarks/cluster.py's section of the output file
SEED_COUNTS = (1, 2, 4, 6)  # and --seeds: the seeds curve of train@damped-<first model>
# The whole pipeline in parts, each stage in one: the tutorial's settings on its curve, forced up to
# evaluate@damped (what the tutorial's way is compared with), the same on the sunspots, the tuned comparison
# of both series (the tutorial has no counterpart), and the plots and report.
PARTS = {
    "tutorial": ["validate", "generate", "data@damped", "baselines@damped", "train@damped-*", "forecast@damped-*",
                 "evaluate@damped"],
    "sunspots": ["data@sunspots", "baselines@sunspots", "train@sunspots-*", "forecast@sunspots-*", "evaluate@sunspots"],
    "tuning": ["tune@*", "tuned@*", "forecast_tuned@*", "evaluate_tuned@*"],
    "plots and report": ["plots@*", "report"],
}
BASELINE_STAGES = ["baselines@*"]  # inside the two series' parts, timed on their own too


# ---------------------------------------------------------------- workers (run in fresh processes)


def tutorial_signal(points):
    """y = exp(-x/5) cos(x) on linspace(0, 5 pi, points), and the tutorial's windows built as it does."""
    import numpy as np

    x = np.linspace(0, 5 * np.pi, points)
    y = np.exp(-x / 5) * np.cos(x)
    n = len(y) - LENGTH
    inputs, targets = np.zeros((n, LENGTH)), np.zeros((n, LENGTH))
    for i in range(n):
        inputs[i], targets[i] = y[i : i + LENGTH], y[i + 1 : i + LENGTH + 1]
    return y, inputs.reshape(n, LENGTH, 1), targets.reshape(n, LENGTH, 1)


def rmse(predictions, y):
    """Closed-loop error: prediction k (k = 0, 1, ...) is of sample y[LENGTH + 1 + k]."""
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(predictions) - y[LENGTH + 1 :]) ** 2)))


def baseline(cell, epochs, points):
    """The tutorial's way on the TensorFlow backend (KERAS_BACKEND is set by the parent)."""
    start = time.perf_counter()
    import numpy as np
    import keras

    import_s = time.perf_counter() - start
    keras.utils.set_random_seed(0)
    y, inputs, targets = tutorial_signal(points)
    layer = getattr(keras.layers, LAYERS[cell])
    model = keras.Sequential([keras.Input((LENGTH, 1)), layer(UNITS, return_sequences=True), keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="sgd")

    start = time.perf_counter()
    history = model.fit(inputs, targets, epochs=epochs, batch_size=BATCH, validation_split=VAL_FRACTION, verbose=0)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    values = targets[0].reshape(-1)  # y[1..20]
    for _ in range(len(y) - LENGTH - 1):
        prediction = model.predict(values[-LENGTH:].reshape(1, LENGTH, 1), verbose=0)
        values = np.append(values, prediction[0, LENGTH - 1, 0])
    loop_s = time.perf_counter() - start
    return {
        "import_s": import_s,
        "fit_s": fit_s,
        "loop_s": loop_s,
        "loss": float(history.history["loss"][-1]),
        "val_loss": float(history.history["val_loss"][-1]),
        "rmse": rmse(values[LENGTH:], y),
    }


def pipeline(cell, epochs, points):
    """The pipeline's own functions, as the data@, train@ and forecast@ stages call them (JAX backend)."""
    start = time.perf_counter()
    from stages import forecast, generate, train
    from stages.data import make_windows, split
    from stages.model import build_model, import_keras

    keras = import_keras()
    import_s = time.perf_counter() - start
    y = generate.damped_oscillation(5.0, 5, points)["y"].to_numpy()
    data = split(*make_windows(y, LENGTH), VAL_FRACTION)
    model = build_model(keras, cell, UNITS, LENGTH, seed=0)
    optimizer = keras.optimizers.get({"class_name": "sgd", "config": {"learning_rate": LEARNING_RATE}})
    orders = train.epoch_orders(len(data["x_train"]), BATCH, 0, True)
    mask = train.batch_mask(len(data["x_train"]), BATCH)

    initial = build_model(keras, cell, UNITS, LENGTH, seed=0).get_weights()
    start = time.perf_counter()
    trainer = train.make_trainer(model, optimizer, data, mask)
    losses, val_losses, diverged = train.fit(trainer, epochs, orders)
    fit_s = time.perf_counter() - start
    weights = [v.value for v in model.trainable_variables]
    model.set_weights(initial)  # the same training again on the compiled program: the difference is the compile
    start = time.perf_counter()
    train.fit(trainer, epochs, train.epoch_orders(len(data["x_train"]), BATCH, 0, True))
    compile_s = fit_s - (time.perf_counter() - start)

    horizon = len(y) - LENGTH - 1
    start = time.perf_counter()
    closed_loop, _ = forecast.forecaster(model, horizon)
    predictions = closed_loop(weights, y[1 : LENGTH + 1])
    loop_first_s = time.perf_counter() - start
    start = time.perf_counter()
    closed_loop(weights, y[1 : LENGTH + 1])
    loop_s = time.perf_counter() - start
    return {
        "import_s": import_s,
        "fit_s": fit_s,
        "fit_compile_s": compile_s,
        "loop_first_s": loop_first_s,
        "loop_s": loop_s,
        "loss": float(losses[-1]),
        "val_loss": float(val_losses[-1]),
        "diverged_at": diverged,
        "rmse": rmse(predictions, y),
    }


WORKERS = {"_baseline": baseline, "_pipeline": pipeline}


def run_worker(kind, cell, args, jax_cache=None):
    """One fresh process; returns its JSON result plus the process wall time seen from here."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if kind == "_baseline":
        env["KERAS_BACKEND"] = "tensorflow"
    else:  # stages.model.import_keras pins its own backend; its JAX compilation cache goes to jax_cache
        env.pop("KERAS_BACKEND", None)
        env["JAX_COMPILATION_CACHE_DIR"] = str(jax_cache)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", kind, cell, str(args.epochs), str(args.points)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    wall_s = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{kind} {cell} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    return dict(result, wall_s=wall_s)


def pipeline_cold_warm(cell, args):
    """The pipeline worker twice: on an empty JAX compilation cache, then on the cache the first run filled."""
    with tempfile.TemporaryDirectory(prefix="bench-jax-cache-") as cache:
        cold = run_worker("_pipeline", cell, args, cache)
        return {"cold": cold, "warm": run_worker("_pipeline", cell, args, cache)}


# ---------------------------------------------------------------- DVC stages in a scratch copy


def run_timed(command, cwd, env):
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"`{shlex.join(command)}` failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return wall_s


def set_params(project, changes):
    """Set dotted keys of the copy's params.yaml, e.g. {"train.epochs": 2, "series.sunspots.holdout": 20}."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        functools.reduce(dict.__getitem__, parents, params)[leaf] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(dest, args, env):
    """The working tree's pipeline files (uncommitted changes included) in a new git + DVC repository,
    its params.yaml set as the options say."""
    for name in PROJECT_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, dest / name)
    run_timed(["git", "init", "-q"], dest, env)
    run_timed(["dvc", "init", "-q"], dest, env)
    shutil.copy2(ROOT / ".dvcignore", dest / ".dvcignore")
    shutil.copy2(ROOT / ".dvc" / "config", dest / ".dvc" / "config")
    models = yaml.safe_load((dest / "params.yaml").read_text())["models"]
    set_params(dest, {"models": {m: models[m] for m in args.models}, "train.epochs": args.epochs,
                      "train.seeds": list(range(args.seeds)), "signal.n_points": args.points, **dict(args.set)})


def stage_timings(args):
    """Wall seconds of dvc repro commands as a user types them, in a fresh copy of the project.

    "cold" runs start without the project's JAX compilation cache (.cache/ in the copy), "warm" ones
    after a run that filled it, as a user's second and later runs do.
    """
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("PYTHONPATH", "KERAS_BACKEND", "JAX_COMPILATION_CACHE_DIR"):
        env.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="bench-dvc-") as tmp:
        copy = Path(tmp)
        copy_project(copy, args, env)
        first = args.models[0]
        train_cmd = yaml.safe_load((copy / "dvc.yaml").read_text())["stages"]["train"]["cmd"]

        def timed(command, cold):
            if cold:
                shutil.rmtree(copy / ".cache", ignore_errors=True)
            return run_timed(command, copy, env)

        repro = ["dvc", "repro"]
        # The copy's first run computes every stage on an empty cache: the whole pipeline's cold time.
        times = {"full": {"cold": timed(repro, cold=True)}, "noop": {"warm": timed(repro, cold=False)}}
        commands = {
            "full": [*repro, "--force"],
            **{part: [*repro, "-f", "-s", "--glob", *stages] for part, stages in PARTS.items()},
            "baselines": [*repro, "-f", "-s", "--glob", *BASELINE_STAGES],
            "train": [*repro, "-f", "-s", f"train@damped-{first}"],
            # the same, without DVC
            "train_cmd": shlex.split(train_cmd.replace("${item.series}", "damped").replace("${item.model}", first)),
            **{f"forecast@{m}": [*repro, "-f", "-s", f"forecast@damped-{m}"] for m in args.models},
        }
        for key, command in commands.items():
            times.setdefault(key, {})["warm"] = timed(command, cold=False)
        times["seeds"] = {}
        for n in [n for n in SEED_COUNTS if n < args.seeds] + [args.seeds]:  # train@<first model>, warm cache
            set_params(copy, {"train.seeds": list(range(n))})
            times["seeds"][n] = timed(commands["train"], cold=False)
        # Cold runs last: each empties the cache, so a warm run after them would compile again.
        for key, command in commands.items():
            if "cold" not in times[key]:  # the whole pipeline's is the copy's first run
                times[key]["cold"] = timed(command, cold=True)
    return times


# ---------------------------------------------------------------- report


def seconds(value):
    return "—" if value is None else f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def row(what, tutorial, cold, warm, target="", check=None):
    """One table line; check(seconds, ratio) says whether a pipeline time meets the target."""
    measured = [(s, tutorial / s if tutorial else None) for s in (cold, warm) if s is not None]
    ratios = " / ".join(f"{r:.1f}×" for _, r in measured if r) or "—"
    met = " / ".join("yes" if check(s, r) else "**NO**" for s, r in measured) if check else ""
    return f"| {what} | {seconds(tutorial)} | {seconds(cold)} | {seconds(warm)} | {ratios} | {target} | {met} |"


def report_rows(args, base, ours, stages):
    models, n_seeds, first = args.models, args.seeds, args.models[0]
    both = lambda m, key: (ours[m]["cold"][key], ours[m]["warm"][key])  # noqa: E731
    stage = lambda key: (stages[key]["cold"], stages[key]["warm"])  # noqa: E731
    share = lambda key: " / ".join(f"{stages[key][c] / stages['full'][c]:.0%}" for c in ("cold", "warm"))  # noqa: E731
    train_ok = lambda s, r: s <= 12 and r >= 10  # noqa: E731
    loop_ok = lambda s, r: s <= 0.1 and r >= 50  # noqa: E731
    rows = [
        "| what | tutorial | pipeline, cold compile cache | pipeline, warm compile cache "
        "| tutorial ÷ pipeline (cold / warm) | target | met (cold / warm) |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for m in models:
        compiles = " / ".join(seconds(s) for s in both(m, "fit_compile_s"))
        rows.append(row(f"{m}: fit (pipeline incl. ≈ {compiles} compile)", base[m]["fit_s"], *both(m, "fit_s")))
    rows.append(row(f"train@damped-{first} stage, 1 seed (`dvc repro -f -s`) vs tutorial fit", base[first]["fit_s"],
                    None, stages["seeds"][1], "≤ 12 s, ≥ 10×", train_ok))
    fits = base[first]["fit_s"] * n_seeds
    rows.append(row(f"train@damped-{first} stage, {n_seeds} seeds vs tutorial fit × {n_seeds}", fits, *stage("train")))
    rows.append(row(f"train@damped-{first} stage command alone, {n_seeds} seeds, without DVC", fits,
                    *stage("train_cmd")))
    for m in models:
        rows.append(row(f"{m}: closed loop vs predict loop, first call", base[m]["loop_s"], *both(m, "loop_first_s"),
                        "≤ 0.1 s, ≥ 50×", loop_ok))
        rows.append(row(f"{m}: closed loop vs predict loop, second call", base[m]["loop_s"], *both(m, "loop_s"),
                        "≤ 0.1 s, ≥ 50×", loop_ok))
    for m in models:
        rows.append(row(f"forecast@damped-{m} stage vs tutorial predict loop", base[m]["loop_s"],
                        *stage(f"forecast@{m}"), "≤ 4 s", lambda s, r: s <= 4))
    for m in models:
        rows.append(row(f"{m}: whole worker process (imports, fit, loops)", base[m]["wall_s"], *both(m, "wall_s")))
    everything = sum(base[m]["wall_s"] for m in models) * n_seeds  # the tutorial's way: one process per run
    rows.append(row(f"tutorial's settings on its curve, forced up to evaluate@damped ({', '.join(PARTS['tutorial'])}), "
                    f"{len(models)} models × {n_seeds} seeds vs the tutorial's processes × {n_seeds}: "
                    f"{share('tutorial')} of the whole", everything, *stage("tutorial"), "≤ 90 s",
                    lambda s, r: s <= 90))
    for key in ("sunspots", "tuning", "plots and report"):
        rows.append(row(f"{key} ({', '.join(PARTS[key])}): {share(key)} of the whole", None, *stage(key)))
    rows.append(row(f"of which baselines ({', '.join(BASELINE_STAGES)}, in the series' parts above): "
                    f"{share('baselines')} of the whole", None, *stage("baselines")))
    rows.append(row("`dvc repro --force`, the whole: two series, tutorial settings, baselines, tuning, plots, report "
                    "(cold: the fresh copy's first `dvc repro`)", None, *stage("full"), "≤ 12 min", lambda s, r: s <= 720))
    rows.append(row("`dvc repro`, nothing changed", None, None, stages["noop"]["warm"], "≤ 3 s", lambda s, r: s <= 3))
    return rows


def seeds_rows(model, curve):
    """Seconds of train@model against the number of seeds, and the least-squares cost per added seed."""
    counts, times = list(curve), list(curve.values())
    mean_n, mean_t = sum(counts) / len(counts), sum(times) / len(times)
    slope = sum((n - mean_n) * (t - mean_t) for n, t in zip(counts, times)) / sum((n - mean_n) ** 2 for n in counts)
    return [
        f"`dvc repro -f -s train@damped-{model}` (warm cache) against `train.seeds` = [0 … n−1]; least-squares cost "
        f"per added seed: **{seconds(slope)}**, fixed cost {seconds(mean_t - slope * mean_n)}.",
        "",
        "| seeds | " + " | ".join(str(n) for n in counts) + " |",
        "| --- |" + " ---: |" * len(counts),
        "| seconds | " + " | ".join(f"{t:.1f}" for t in times) + " |",
    ]


def results_rows(models, base, ours):
    rows = [
        "| model | loss tutorial / pipeline | val_loss tutorial / pipeline | closed-loop RMSE tutorial / pipeline |",
        "| --- | --- | --- | --- |",
    ]
    for m in models:
        b, o = base[m], ours[m]["cold"]
        rows.append(f"| {m} | {b['loss']:.2e} / {o['loss']:.2e} | {b['val_loss']:.2e} / {o['val_loss']:.2e} "
                    f"| {b['rmse']:.3f} / {o['rmse']:.3f} |")
    return rows


def machine(loads):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("keras", "jax", "tensorflow-cpu", "dvc"))
    return [
        f"- CPU: {cpu}, {len(os.sched_getaffinity(0))} cores available ({os.cpu_count()} online), no GPU",
        f"- Python {platform.python_version()}, {versions}",
        f"- date: {datetime.date.today().isoformat()}; 1-minute load average at start / end of the run: "
        f"{loads[0]:.2f} / {loads[1]:.2f} (above ~0.5 other processes shared the cores)",
    ]


def document(command, args, base, ours, stages, loads):
    return "\n".join([
        "# Benchmarks: the tutorial's Keras way vs the pipeline",
        "",
        f"Command: `{command}` ({args.epochs} epochs, {args.seeds} seeds, models: {', '.join(args.models)}, "
        f"the tutorial's curve in {args.points} points; run from the repository root with the venv active).",
        "",
        *machine(loads),
        "",
        "Tutorial: `keras.Sequential([Input((20, 1)), Cell(40, return_sequences=True), Dense(1)])`, "
        "`fit(batch_size=10, validation_split=0.1)` with SGD on the TensorFlow backend, then "
        f"{args.points - LENGTH - 1} × `model.predict` fed back one value at a time; one fresh process per model. "
        "Pipeline: `stages.train.fit` (epochs in compiled chunks) and `stages.forecast.closed_loop` (one compiled "
        "call) on the JAX backend, same data and hyperparameters, each in a fresh process. Stage rows: wall time "
        "of `dvc repro ...` in a fresh `git init` + `dvc init` copy of the working tree, including Python start-up, "
        "imports and compilation; a part of the pipeline is `dvc repro -f -s --glob <its stages>`, its share is of "
        "the whole `dvc repro --force`. Cold: an empty JAX compilation cache (a first run); warm: the cache a "
        "previous run filled (later runs).",
        "",
        *report_rows(args, base, ours, stages),
        "",
        "Seeds: each train@ stage trains its model once per seed in `train.seeds`, one seed after another "
        "on one compiled program in each of one worker process per core.",
        "",
        *seeds_rows(args.models[0], stages["seeds"]),
        "",
        "Final losses and closed-loop error (same data; different initial weights and shuffling, so "
        "the numbers are alike but not equal):",
        "",
        *results_rows(args.models, base, ours),
        "",
    ])


def key_value(text):
    """-S tune.rungs=[1,2]: the dotted key and its value, read as YAML."""
    key, _, value = text.partition("=")
    return key, yaml.safe_load(value)


def parse_options(argv, prog, description, output_help):
    """The options of both benchmarks: the size of the project they copy, from params.yaml's (the default)
    down to a tiny run."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--epochs", type=int, default=params["train"]["epochs"], help="train.epochs, also the tutorial")
    parser.add_argument("--seeds", type=int, default=len(params["train"]["seeds"]), help="train.seeds: [0 .. N-1]")
    parser.add_argument("--models", type=lambda text: text.split(","), default=list(params["models"]),
                        help=f"comma-separated, of {', '.join(LAYERS)}")
    parser.add_argument("--points", type=int, default=params["signal"]["n_points"],
                        help="signal.n_points: the tutorial's curve, in the pipeline and the tutorial's way")
    parser.add_argument("-S", "--set", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="any other params.yaml key, as `dvc exp run -S` sets it (repeatable)")
    parser.add_argument("--output", default="BENCHMARKS.md", help=output_help)
    args = parser.parse_args(argv)
    # Two seed counts at least: the seeds curve and the cluster's cost model are fitted to two points.
    if not set(args.models) <= set(LAYERS) or args.epochs < 1 or args.seeds < 2:
        parser.error(f"--models takes names from {', '.join(LAYERS)}; --epochs must be >= 1, --seeds >= 2")
    return args


def main(argv):
    if argv and argv[0] in WORKERS:
        kind, cell, epochs, points = argv
        print(json.dumps(WORKERS[kind](cell, int(epochs), int(points))), flush=True)
        return
    args = parse_options(argv, "python -m benchmarks.bench", __doc__.split("\n")[0],
                         "markdown file to write the report to")
    base, ours, load_start = {}, {}, os.getloadavg()[0]
    for m in args.models:
        base[m] = run_worker("_baseline", m, args)
        print(f"tutorial {m}: fit {base[m]['fit_s']:.1f} s, predict loop {base[m]['loop_s']:.2f} s", file=sys.stderr)
    for m in args.models:
        ours[m] = pipeline_cold_warm(m, args)
        print(f"pipeline {m}: " + ", ".join(f"{k}: fit {r['fit_s']:.2f} s, closed loop {r['loop_first_s']:.3f} s"
                                            for k, r in ours[m].items()), file=sys.stderr)
    stages = stage_timings(args)
    print(f"stages: {json.dumps(stages)}", file=sys.stderr)
    command = shlex.join(["python", "-m", "benchmarks.bench", *argv])
    text = document(command, args, base, ours, stages, (load_start, os.getloadavg()[0]))
    print(text)
    output = Path(args.output)  # the cluster benchmark's section, at the end, stays
    cluster = output.read_text().partition(f"\n{HEADING}")[1:] if output.exists() else ()
    output.write_text(text + "".join(cluster))


if __name__ == "__main__":
    main(sys.argv[1:])
