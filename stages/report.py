"""Stage `report`: metrics/report.md, the answer to "is one architecture really better?".

Settings, the verdict rule (fixed before any number is seen), per-model spread across seeds, the
naive baselines, every pair of models with its verdict, the tutorial's single-run claim beside
ours, and the figures. Everything comes from metrics/*.json and params.yaml: no training here.
"""

import itertools

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


def render(params, metrics, per_seed):
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
        "## Verdicts",
        "",
        table(
            ["pair", "mean RMSE difference (A − B)", ci, "p (Mann-Whitney)", "p (Holm)", "P(A better)", ci,
             "verdict"],
            [
                [f"{a} vs {b}", number(c["difference"]), f"[{number(c['difference_ci_low'])}, "
                 f"{number(c['difference_ci_high'])}]", number(c["p_value"]), number(c["p_holm"]),
                 number(c["p_better"]), f"[{number(c['p_better_ci_low'])}, {number(c['p_better_ci_high'])}]",
                 f"**{verdict_by_pair[a, b]}**"]
                for (a, b), c in ((pair, metrics["comparisons"]["_vs_".join(pair)]) for pair in verdict_by_pair)
            ],
        ),
        "",
        "| the tutorial's claim | ours |",
        "|---|---|",
        tutorial_row(verdict_by_pair, params),
        "",
        "## Closed-loop RMSE per model, across seeds",
        "",
        table(
            ["model", "mean", ci, "median", "trimmed mean (10 %)", "sd", "min", "max"],
            [
                [name] + [number(m["rmse"]), f"[{number(m['rmse_ci_low'])}, {number(m['rmse_ci_high'])}]"]
                + [number(m[f"rmse_{k}"]) for k in ("median", "trim_mean", "std", "min", "max")]
                for name, m in ((name, metrics[name]) for name in names)
            ],
        ),
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
        *[f"![{caption}](../plots/{file})\n" for file, caption in FIGURES.items()],
    ]
    return "\n".join(parts)


def main(argv):
    metrics_path, seeds_path, report_path = argv
    params = load_params()
    metrics = read_input(metrics_path, load_json, "evaluate")
    per_seed = read_input(seeds_path, load_json, "evaluate")
    write_text(report_path, render(params, metrics, per_seed))


if __name__ == "__main__":
    run(main)
