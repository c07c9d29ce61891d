"""Benchmark: what the rolling origin costs inside the stages that compute it.

    python -m benchmarks.rolling [--seeds N] [--units N] [--series sunspots]

On the series' protocol under params.yaml (its rolling origins, H and windows), in one fresh process
per model, as forecast@<series>-<model> does it: the one compiled call of every origin of every seed
(the first call compiles, on an empty JAX compilation cache; the second is the call alone), with
the weights of freshly built models (the cost does not depend on their values); then, as
baselines@<series> does it, every baseline fitted and forecast from every origin of both spans.
Prints a Markdown table; the stage times to compare it with are in BENCHMARKS.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def series_protocol(name):
    """The series (x, y) and protocol.json as data@<name> writes them, from params.yaml."""
    from stages.data import protocol, read_series
    from stages.params import load_params, series_entry

    params = load_params(ROOT / "params.yaml")
    entry, windows = series_entry(params, name), params["windows"]
    series = read_series(name, {**entry, "csv": str(ROOT / entry["csv"])})
    return params, series, protocol(len(series), entry, windows["length"], windows["val_fraction"])


def network(name, cell, units, n_seeds):
    """Seconds of the rolling forecasts of n_seeds seeds of one model: first call (compiles) and second."""
    from stages.forecast import rolling_forecaster, rolling_origins, windows_before
    from stages.model import build_model, import_keras

    keras = import_keras()
    params, series, protocol = series_protocol(name)
    length = params["windows"]["length"]
    models = [build_model(keras, cell, units, length, seed=seed) for seed in range(n_seeds)]
    weights = [[v.value for v in model.trainable_variables] for model in models]
    starts = windows_before(series["y"].to_numpy(), rolling_origins(protocol), length)
    rolling = rolling_forecaster(models[0], protocol["horizon"])
    times = []
    for _ in range(2):
        start = time.perf_counter()
        rolling(weights, starts)
        times.append(time.perf_counter() - start)
    return {"origins": len(starts), "horizon": protocol["horizon"], "first_s": times[0], "second_s": times[1]}


def baselines(name):
    """Seconds of every baseline's rolling forecasts of both spans, as baselines@<name> computes them."""
    from stages import baselines as stage
    from stages.forecast import rolling_origins

    from stages.params import series_entry

    params, series, protocol = series_protocol(name)
    settings, season = params["baselines"], series_entry(params, name)["season"]
    cut = protocol["values"] - protocol["held_out"]
    start = time.perf_counter()
    fitted = stage.fit_all(series["y"].tolist()[:cut], season, settings["ar_max_lag"], settings["criterion"])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    stage.rolling(fitted, series, rolling_origins(protocol), protocol["horizon"])
    return {"fit_s": fit_s, "rolling_s": time.perf_counter() - start}


def worker(kind, *args):
    """One fresh process on an empty JAX compilation cache; its JSON result."""
    with tempfile.TemporaryDirectory(prefix="bench-jax-cache-") as cache:
        env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_COMPILATION_CACHE_DIR=cache)
        done = subprocess.run([sys.executable, "-m", "benchmarks.rolling", kind, *map(str, args)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmarks.rolling {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def table(name, models, n_seeds):
    """models: {name: (cell, units)}."""
    rows = ["| what | first call (compiles) | second call |", "| --- | ---: | ---: |"]
    for model, (cell, units) in models.items():
        result = worker("_network", name, cell, units, n_seeds)
        rows.append(f"| forecast@{name}-{model}: {n_seeds} seeds × {result['origins']} origins × H = "
                    f"{result['horizon']}, one call | {result['first_s']:.2f} s | {result['second_s'] * 1000:.1f} ms |")
    result = worker("_baselines", name)
    rows.append(f"| baselines@{name}: every baseline from every origin of both spans (fitting alone: "
                f"{result['fit_s']:.2f} s, not counted) | {result['rolling_s']:.2f} s | |")
    return rows


def main(argv):
    if argv and argv[0] == "_network":
        name, cell, units, n_seeds = argv[1:]
        print(json.dumps(network(name, cell, int(units), int(n_seeds))))
        return
    if argv and argv[0] == "_baselines":
        print(json.dumps(baselines(argv[1])))
        return
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rolling", description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="sunspots")
    parser.add_argument("--seeds", type=int, default=len(params["train"]["seeds"]))
    parser.add_argument("--units", type=int, default=None, help="default: each model's own in params.yaml")
    parser.add_argument("--models", type=lambda text: text.split(","), default=list(params["models"]))
    args = parser.parse_args(argv)
    models = {m: (params["models"][m]["cell"], args.units or params["models"][m]["units"]) for m in args.models}
    print("\n".join(table(args.series, models, args.seeds)))


if __name__ == "__main__":
    main(sys.argv[1:])
