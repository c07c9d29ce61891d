"""Stage `report`: metrics/report.md, the answer to "is one architecture really better?".

Settings, the verdict rule (fixed before any number is seen), per-model spread across seeds, the
naive baselines, every pair of models with its verdict, the tutorial's single-run claim beside
ours, and the figures. Everything comes from metrics/*.json and params.yaml: no training here.
"""

import itertools
import math

from stages import statistics
from stages.cli import run
from stages.files import load_json, read_input, write_text
from stages.params import load_params

TUTORIAL_CLAIM = "GRU reproduces the damped vibration worse than LSTM (one training run of each)"
SHAPE_COLUMNS = {  # metric: its heading in the table of means
    "correlation": "correlation with truth",
    "frequency_error": "dominant-frequency error",
    "valid_steps": "valid steps",
    "skill_zero": "skill vs zero",
    "skill_persistence": "skill vs persistence",
    "skill_window_mean": "skill vs window mean",
    "one_step_val_rmse": "one-step val RMSE",
}
FIGURES = {
    "forecast.png": "Median closed-loop forecast per model, the band of all seeds, the baselines",
    "rmse.png": "Closed-loop RMSE of every seed",
    "loss.png": "Mean loss across seeds",
    "tuning.png": "Tuning curve: expected best selection score against candidates tried",
}


def number(value):
    return f"{value:.4g}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def verdicts(comparisons, names, n_seeds, alpha):
    """{(a, b): verdict text} for every pair, in evaluate's order, by statistics.verdict."""
    result = {}
    for a, b in itertools.combinations(names, 2):
        pair = comparisons[f"{a}_vs_{b}"]
        result[a, b] = statistics.verdict(
            a, b, pair["p_holm"], pair["p_better_ci_low"], pair["p_better_ci_high"], n_seeds, n_seeds, alpha
        )
    return result


def seeds_note(n_models, n_seeds, alpha):
    needed = statistics.seeds_needed(n_models, alpha)
    if n_models < 2 or n_seeds >= needed:
        return ""
    smallest = statistics.smallest_p(n_seeds, n_seeds) * (n_models * (n_models - 1) // 2)
    return (
        f"\n**With {n_seeds} seed(s) per model no verdict can be reached**: the smallest Holm-corrected "
        f"p-value the Mann-Whitney U test can give is {number(min(smallest, 1.0))} ≥ {alpha}. "
        f"Set at least {needed} seeds (`train.seeds`).\n"
    )


def tutorial_row(verdict_by_pair, params):
    """Our verdict on the tutorial's claim, when params compare a GRU and an LSTM."""
    cells = {name: spec["cell"] for name, spec in params["models"].items()}
    for (a, b), text in verdict_by_pair.items():
        if {cells[a], cells[b]} == {"gru", "lstm"}:
            return f"| {TUTORIAL_CLAIM} | {a} vs {b}: {text} |"
    return f"| {TUTORIAL_CLAIM} | (no GRU and LSTM in params.yaml to compare) |"


def verdict_table(comparisons, verdict_by_pair, ci):
    return table(
        ["pair", "mean RMSE difference (A − B)", ci, "p (Mann-Whitney)", "p (Holm)", "P(A better)", ci, "verdict"],
        [
            [f"{a} vs {b}", number(c["difference"]), f"[{number(c['difference_ci_low'])}, "
             f"{number(c['difference_ci_high'])}]", number(c["p_value"]), number(c["p_holm"]),
             number(c["p_better"]), f"[{number(c['p_better_ci_low'])}, {number(c['p_better_ci_high'])}]",
             f"**{verdict_by_pair[a, b]}**"]
            for (a, b), c in ((pair, comparisons["_vs_".join(pair)]) for pair in verdict_by_pair)
        ],
    )


def rmse_table(metrics, names, ci):
    return table(
        ["model", "mean", ci, "median", "trimmed mean (10 %)", "sd", "min", "max"],
        [
            [name] + [number(m["rmse"]), f"[{number(m['rmse_ci_low'])}, {number(m['rmse_ci_high'])}]"]
            + [number(m[f"rmse_{k}"]) for k in ("median", "trim_mean", "std", "min", "max")]
            for name, m in ((name, metrics[name]) for name in names)
        ],
    )


def setting(candidate):
    return f"{candidate['optimizer']} {candidate['learning_rate']:g} {candidate['schedule']}"


def score_text(value):
    return "diverged (+inf)" if value is None else number(value)


def selection_rule(tunings, names, train_seeds):
    """The tuning's rules, stated before any of its numbers."""
    first = tunings[names[0]]
    space, costs, seeds = first["space"], first["budget"], first["selection_seeds"]
    low, high = space["learning_rate"]
    sizes = " → ".join(f"{n} × {e} epochs" for n, e in zip(costs["rung_sizes"], space["rungs"]))
    return [
        "## The selection rule for the tuned comparison (fixed before the numbers)",
        "",
        f"Every architecture gets the same {len(first['candidates'])} candidates, drawn once before anything "
        f"trained: candidate 0 is the setting of the comparison above ({setting(first['candidates'][0])}: train.optimizer, learning_rate and schedule, the tutorial's by default), the others a "
        f"scrambled Sobol design (seed {space['design_seed']}) over optimizer ({', '.join(space['optimizers'])}), "
        f"learning rate ({low:g} to {high:g}, log-uniform) and schedule ({', '.join(space['schedules'])}); "
        "units as in params.yaml. No adaptive search.",
        "",
        f"**Budget, the same for each architecture**: successive halving with synchronous rungs, {sizes} "
        f"(each a complete training with its own schedule; each rung keeps the best 1/{space['eta']}), every "
        f"candidate on each of the {len(seeds)} selection seeds ({', '.join(map(str, seeds))}): "
        f"**{costs['trainings']} trainings** ({number(costs['full_trainings'])} full trainings of "
        f"{space['rungs'][-1]} epochs) per architecture, then the winner's {len(train_seeds)} evaluation trainings.",
        "",
        "**Selection score**: the mean over the selection seeds of the closed-loop RMSE (the verdicts' metric); "
        "a training whose loss or forecast is not finite scores +inf, the worst; ties go to the lower candidate "
        "index. The last rung's best is the winner, trained again on the evaluation seeds "
        f"(train.seeds: {', '.join(map(str, train_seeds))}, none of them a selection seed) and judged by the "
        "verdict rule above.",
        "",
        "**What is held out, and what is not**: only the seeds. The closed loop runs over the same curve the "
        "models trained on (its training windows) and validated on (its last windows), for selection as for the verdicts; "
        "no part of the signal is kept for the end. A winner's selection score is optimistically biased "
        "(it was picked for being low, Cawley & Talbot 2010): its RMSE on the fresh evaluation seeds is "
        "the number to read.",
        "",
    ]


def tuned_verdicts(params, tuned, ci, alpha):
    names, seeds = list(params["models"]), params["train"]["seeds"]
    verdict_by_pair = verdicts(tuned["metrics"]["comparisons"], names, len(seeds), alpha)
    return [
        "## Verdicts of the tuned models",
        "",
        "Each architecture with the configuration its own tuning chose, trained on the evaluation seeds:",
        "",
        verdict_table(tuned["metrics"]["comparisons"], verdict_by_pair, ci),
        "",
        "| the tutorial's claim | ours, tuned |",
        "|---|---|",
        tutorial_row(verdict_by_pair, params),
        "",
    ]


def tuned_results(tuned, names, ci):
    tunings, metrics = tuned["tunings"], tuned["metrics"]
    candidates = tunings[names[0]]["candidates"]
    n_rungs = len(tunings[names[0]]["rungs"])
    epochs = [rung["epochs"] for rung in tunings[names[0]]["rungs"]]

    def scores(name, index):
        reached = tunings[name]["candidates"][index]["scores"]
        return " / ".join([score_text(v) for v in reached] + ["–"] * (n_rungs - len(reached)))

    curves = {name: statistics.tuning_curve([c["scores"][0] for c in tunings[name]["candidates"]]) for name in names}
    return [
        "## The tuned models: chosen configuration and closed-loop RMSE on the evaluation seeds",
        "",
        table(
            ["model", "chosen", "setting", "epochs", "selection score (tune.seeds)", "mean RMSE (train.seeds)", ci,
             "min", "max"],
            [
                [name, f"candidate {t['chosen']['index']}", setting(t["chosen"]["train"]), t["chosen"]["train"]["epochs"],
                 score_text(t["chosen"]["score"]), number(m["rmse"]),
                 f"[{number(m['rmse_ci_low'])}, {number(m['rmse_ci_high'])}]", number(m["rmse_min"]),
                 number(m["rmse_max"])]
                for name, t, m in ((name, tunings[name], metrics[name]) for name in names)
            ],
        ),
        "",
        "Every seed of the tuned models: "
        + "; ".join(f"{name} " + ", ".join(number(v["rmse"]) for v in tuned["per_seed"][name].values())
                    for name in names) + ".",
        "",
        "## Every candidate's selection score",
        "",
        f"Mean closed-loop RMSE over the selection seeds, per rung ({' / '.join(f'{e} epochs' for e in epochs)}); "
        "– : not trained in that rung (halved out).",
        "",
        table(["candidate", "setting", *names],
              [[c["index"], setting(c), *(scores(name, c["index"]) for name in names)] for c in candidates]),
        "",
        "## Tuning curve",
        "",
        f"Expected best first-rung selection score ({epochs[0]} epochs, where every candidate has one) of n "
        "candidates drawn at random without replacement (Dodge et al. 2019): how much the search found beyond "
        "its first tries.",
        "",
        table(["candidates tried", *names],
              [[n, *(number(curves[name][n - 1]) if math.isfinite(curves[name][n - 1]) else "+inf" for name in names)]
               for n in range(1, len(candidates) + 1)]),
        "",
    ]


def render(params, metrics, per_seed, tuned=None):
    """The report; tuned = {"tunings": {model: tune@'s json}, "metrics", "per_seed": evaluate_tuned's}."""
    train, evaluate, names = params["train"], params["evaluate"], list(params["models"])
    seeds, alpha, confidence = train["seeds"], evaluate["alpha"], evaluate["confidence"]
    verdict_by_pair = verdicts(metrics["comparisons"], names, len(seeds), alpha)
    models = ", ".join(f"{name} ({spec['cell']}, {spec['units']} units)" for name, spec in params["models"].items())
    ci = f"{confidence:.0%} CI"
    parts = [
        "# Is one architecture really better? Report across seeds",
        "",
        f"Settings: {models}; {len(seeds)} seeds ({', '.join(map(str, seeds))}); {train['epochs']} epochs of "
        f"{train['optimizer']} at learning rate {train['learning_rate']} ({train['schedule']} schedule). "
        "Closed loop: from the first window on, each prediction is fed back as the next input.",
        "",
        "## The verdict rule (fixed before the numbers)",
        "",
        f"Models are compared on closed-loop RMSE across seeds. \"A better than B\" only if the Mann-Whitney U "
        f"test (seeds of different architectures are not paired), Holm-corrected across all "
        f"{len(metrics['comparisons'])} pair(s), gives p < {alpha} **and** the {ci} of P(A better than B), the "
        f"probability that a seed of A has a lower RMSE than a seed of B, excludes 0.5. Otherwise: no detectable "
        f"difference with this many seeds. CIs are bootstrap (BCa, 9999 resamples, a fixed random generator).",
        seeds_note(len(names), len(seeds), alpha),
        *(selection_rule(tuned["tunings"], names, seeds) if tuned else []),
        "## Verdicts" + (" at the tutorial's settings" if tuned else ""),
        "",
        verdict_table(metrics["comparisons"], verdict_by_pair, ci),
        "",
        "| the tutorial's claim | ours |",
        "|---|---|",
        tutorial_row(verdict_by_pair, params),
        "",
        *(tuned_verdicts(params, tuned, ci, alpha) if tuned else []),
        "## Closed-loop RMSE per model, across seeds" + (" (the tutorial's settings)" if tuned else ""),
        "",
        rmse_table(metrics, names, ci),
        "",
        *(tuned_results(tuned, names, ci) if tuned else []),
        "",
        f"## Shape and skill: mean [{ci}] across seeds",
        "",
        "Correlation of forecast and truth over the closed loop (1: the same shape); relative error of the "
        "dominant frequency (0: right, 1: no oscillation); valid steps before |error| first exceeds "
        f"{evaluate['error_threshold']}; skill = 1 − RMSE / RMSE of the baseline (> 0: better than it). "
        "Every statistic of every metric is in metrics/metrics.json, every seed in metrics/seeds.json.",
        "",
        table(
            ["model", *SHAPE_COLUMNS.values()],
            [
                [name] + [
                    f"{number(m[metric])} [{number(m[metric + '_ci_low'])}, {number(m[metric + '_ci_high'])}]"
                    for m, metric in ((metrics[name], metric) for metric in SHAPE_COLUMNS)
                ]
                for name in names
            ],
        ),
        "",
        "## Naive baselines (the same closed-loop steps)",
        "",
        table(
            ["baseline", "RMSE", "MAE", "max error", "correlation", "dominant-frequency error"],
            [
                [name, number(b["rmse"]), number(b["mae"]), number(b["max_abs_error"]), number(b["correlation"]),
                 number(b["frequency_error"])]
                for name, b in metrics["baselines"].items()
            ],
        ),
        "",
        "zero: the signal's asymptote; persistence: the last value of the seed window repeated; "
        "window_mean: the mean of the seed window.",
        "",
        "## Every seed: closed-loop RMSE",
        "",
        table(["seed"] + names, [[seed] + [number(per_seed[n][f"seed_{seed}"]["rmse"]) for n in names] for seed in seeds]),
        "",
        "## Figures",
        "",
        *[f"![{caption}](../plots/{file})\n" for file, caption in FIGURES.items() if tuned or file != "tuning.png"],
    ]
    return "\n".join(parts)


def main(argv):
    metrics_path, seeds_path, tune_dir, tuned_metrics_path, tuned_seeds_path, report_path = argv
    params = load_params()
    metrics = read_input(metrics_path, load_json, "evaluate")
    per_seed = read_input(seeds_path, load_json, "evaluate")
    tuned = {
        "tunings": {name: read_input(f"{tune_dir}/{name}.json", load_json, f"tune@{name}") for name in params["models"]},
        "metrics": read_input(tuned_metrics_path, load_json, "evaluate_tuned"),
        "per_seed": read_input(tuned_seeds_path, load_json, "evaluate_tuned"),
    }
    write_text(report_path, render(params, metrics, per_seed, tuned))


if __name__ == "__main__":
    run(main)
