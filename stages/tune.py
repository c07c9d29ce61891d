"""Stage `tune@<series>-<model>`: the same search, with the same budget, for every architecture.

Candidates (optimizer, learning rate, schedule) are drawn once, before anything trains, by a seeded
non-adaptive design: candidate 0 is tune.reference (the tutorial's setting, the comparison's
default), the others the first points of a scrambled Sobol sequence
(scipy.stats.qmc, seed tune.design_seed) mapped onto tune.optimizers, the log-uniform range
tune.learning_rate and tune.schedules. Every model gets the same candidates.

Successive halving with synchronous rungs: rung r trains each surviving candidate on every
selection seed (tune.seeds) for tune.rungs[r] epochs — a complete training, with its own cosine
schedule when it has one — and keeps the best 1/tune.eta (at least one) for the next rung; the
last rung's best is the winner. The selection score, fixed before any training: the mean over
the selection seeds of the rolling-origin RMSE (stages/scores.py, the score every choice uses) from
the validation origins of protocol.json (before the cut where the series has a hold-out, which this
stage is never handed; the tutorial's one closed loop where it has none); a training whose loss or
forecast is not finite scores +inf (written as null), the worst;
ties go to the lower candidate index. Trainings run through stages/executor.py; the closed
loops run here, in the stage process, with stages/forecast.py's compiled loop.
"""

import math

import numpy as np
import pandas as pd

from stages.cli import run
from stages.executor import executor
from stages.files import load_json, load_npz, read_input, write_json
from stages.params import check_batch_size, load_params
from stages.scores import rolling_score, rolling_table
from stages.train import train_one

SIGNIFICANT_DIGITS = 6  # as metrics/metrics.json
SHARED_TRAIN_KEYS = ("backend", "batch_size", "shuffle")  # from train: the same for every candidate
SEARCHED = ("optimizer", "learning_rate", "schedule")


def candidates(tune):
    """The candidates, [{optimizer, learning_rate, schedule}]: tune.reference first, then
    tune.candidates - 1 points of a scrambled Sobol sequence. Learning rates are rounded to 3
    significant digits (the same on every machine, and readable)."""
    from scipy.stats import qmc

    first = {key: tune["reference"][key] for key in SEARCHED}
    n = tune["candidates"] - 1
    if n == 0:
        return [first]
    sobol = qmc.Sobol(d=3, scramble=True, rng=np.random.default_rng(tune["design_seed"]))
    points = sobol.random_base2(math.ceil(math.log2(n)))[:n]  # a power of 2 keeps Sobol's balance
    low, high = tune["learning_rate"]
    optimizers, schedules = tune["optimizers"], tune["schedules"]
    return [first] + [
        {
            "optimizer": optimizers[min(int(u_optimizer * len(optimizers)), len(optimizers) - 1)],
            "learning_rate": float(f"{low * (high / low) ** float(u_rate):.3g}"),
            "schedule": schedules[min(int(u_schedule * len(schedules)), len(schedules) - 1)],
        }
        for u_optimizer, u_rate, u_schedule in points
    ]


def rung_sizes(n_candidates, n_rungs, eta):
    """How many candidates each rung trains: n, then the best 1/eta of the previous rung, at least 1."""
    sizes = [n_candidates]
    for _ in range(n_rungs - 1):
        sizes.append(max(1, sizes[-1] // eta))
    return sizes


def best(scores, keep):
    """The indices of the `keep` lowest scores (+inf for diverged), ties to the lower index; in index order."""
    return sorted(sorted(scores, key=lambda index: (scores[index], index))[:keep])


def budget(tune):
    """Per architecture: trainings, and their epochs in units of a full (last-rung) training."""
    sizes = rung_sizes(tune["candidates"], len(tune["rungs"]), tune["eta"])
    n_seeds = len(tune["seeds"])
    return {
        "trainings": sum(sizes) * n_seeds,
        "full_trainings": rounded(sum(n * e for n, e in zip(sizes, tune["rungs"])) * n_seeds / tune["rungs"][-1]),
        "rung_sizes": sizes,
    }


def rounded(value):
    return value if math.isinf(value) else float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def mean_score(seed_scores):
    """The selection score: the mean over selection seeds; +inf if any seed diverged."""
    values = list(seed_scores.values())
    return math.inf if any(math.isinf(v) for v in values) else rounded(math.fsum(values) / len(values))


def scorer(spec, series, stats, length, protocol):
    """score(train_one's result) -> the rolling-origin RMSE (stages/scores.py), in the series' units, over the
    validation origins of protocol.json (+inf if the training or the forecast is not finite). Imports Keras:
    call it only once the executor's workers exist."""
    from stages.data import to_model_units, to_series_units
    from stages.forecast import rolling_forecaster, rolling_origins, windows_before
    from stages.model import build_model, import_keras, load_weights

    keras = import_keras()
    model = build_model(keras, spec["cell"], spec["units"], length)
    rolling = rolling_forecaster(model, protocol["horizon"])
    origins = rolling_origins(protocol, ["validation"])
    starts = windows_before(to_model_units(series["y"].to_numpy(), stats), origins, length)

    def score(result):
        weights, _, _, diverged_at = result
        if diverged_at is not None:
            return math.inf
        load_weights(model, weights, "a candidate's weights", "tune")
        [predictions] = rolling([[v.value for v in model.trainable_variables]], starts)
        with np.errstate(over="ignore", invalid="ignore"):
            table = rolling_table(series, origins, to_series_units(predictions, stats))
        return rounded(rolling_score(table, "validation"))

    return score


def search(name, spec, base, tune, data, score_factory, place):
    """Successive halving over candidates(); returns the record of tune@<name> (a stage name)."""
    designs = candidates(tune)
    sizes = rung_sizes(len(designs), len(tune["rungs"]), tune["eta"])
    alive, rungs, score = list(range(len(designs))), [], None
    for r, (epochs, size) in enumerate(zip(tune["rungs"], sizes)):
        if r:
            alive = best({index: rungs[-1]["scores"][index] for index in alive}, size)
        settings = {index: {**{k: base[k] for k in SHARED_TRAIN_KEYS}, **designs[index], "epochs": epochs}
                    for index in alive}
        jobs = [(spec, settings[index], data, seed) for index in alive for seed in tune["seeds"]]
        results = place.run(train_one, jobs, f"tune@{name} rung {r + 1}/{len(sizes)} ({epochs} epochs)",
                            lambda result: f"loss {result[1][-1]:.2e}")
        score = score or score_factory()  # after the first rung: the workers are forked before Keras is imported
        per_seed = iter(score(result) for result in results)
        seed_scores = {index: {seed: next(per_seed) for seed in tune["seeds"]} for index in alive}
        rungs.append({"epochs": epochs, "seed_scores": seed_scores,
                      "scores": {index: mean_score(s) for index, s in seed_scores.items()}})
    [winner] = best(rungs[-1]["scores"], 1)
    return record(name, spec, designs, rungs, winner, tune)


def record(name, spec, designs, rungs, winner, tune):
    """The tuning's result as JSON: +inf (diverged) as null; keys in a fixed order."""
    finite = lambda value: None if math.isinf(value) else value  # noqa: E731
    return {
        "stage": f"tune@{name}",
        "spec": spec,
        "selection_seeds": tune["seeds"],
        "space": {key: tune[key] for key in ("optimizers", "learning_rate", "schedules", "design_seed", "rungs", "eta")},
        "budget": budget(tune),
        "candidates": [
            {"index": index, **design,
             "scores": [finite(rung["scores"][index]) for rung in rungs if index in rung["scores"]]}
            for index, design in enumerate(designs)
        ],
        "rungs": [
            {"epochs": rung["epochs"], "trained": sorted(rung["scores"]),
             "seed_scores": {f"candidate_{index}": {f"seed_{seed}": finite(value) for seed, value in scores.items()}
                             for index, scores in rung["seed_scores"].items()}}
            for rung in rungs
        ],
        "chosen": {"index": winner, "score": finite(rungs[-1]["scores"][winner]),
                   "train": {**designs[winner], "epochs": rungs[-1]["epochs"]}},
    }


def main(argv):
    series_name, name, fit_path, protocol_path, scaling_path, windows_path, out_path = argv
    params = load_params()
    spec, tune, train = params["models"][name], params["tune"], params["train"]
    length, stage = params["windows"]["length"], f"data@{series_name}"
    # Only the values before the hold-out: this stage is never handed the held-out file.
    series = read_input(fit_path, pd.read_csv, stage)
    protocol = read_input(protocol_path, load_json, stage)
    stats = read_input(scaling_path, load_json, stage)
    data = read_input(windows_path, load_npz, stage)
    check_batch_size(train["batch_size"], len(data["x_train"]), series_name)
    sizes = budget(tune)
    print(f"tune@{series_name}-{name}: {tune['candidates']} candidate(s), rungs of {tune['rungs']} epochs, "
          f"{sizes['trainings']} trainings ({sizes['full_trainings']} full)", flush=True)
    with executor() as place:
        result = search(f"{series_name}-{name}", spec, train, tune, data,
                        lambda: scorer(spec, series, stats, length, protocol), place)
    write_json(out_path, result)


if __name__ == "__main__":
    run(main)
