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
    "series.png": "The series and its held-out part",
    "forecast.png": "Median closed-loop forecast per model, the band of all seeds, the baselines",
    "forecast_tuned.png": "The same for the tuned models",
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
        f"trained: candidate 0 is tune.reference ({setting(first['candidates'][0])}, the tutorial's setting by "
        "default), the others a "
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
        "A winner's selection score is optimistically biased (it was picked for being low, Cawley & Talbot "
        "2010): its RMSE on the fresh evaluation seeds (and, where a series has one, on its held-out part) is "
        "the number to read. Where a series holds values out, the selection score is the closed loop across its "
        "validation span, before the cut: the held-out part decides nothing.",
        "",
    ]


def tuned_verdicts(params, name, tuned, ci, alpha):
    names, seeds = list(params["models"]), params["train"]["seeds"]
    verdict_by_pair = verdicts(tuned["metrics"]["comparisons"], names, len(seeds), alpha)
    return [
        "### Verdicts of the tuned models",
        "",
        "Each architecture with the configuration its own tuning chose, trained on the evaluation seeds:",
        "",
        verdict_table(tuned["metrics"]["comparisons"], verdict_by_pair, ci),
        "",
        f"| the tutorial's claim (on its damped curve) | ours, on {name}, tuned |",
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
        "### The tuned models: chosen configuration and closed-loop RMSE on the evaluation seeds",
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
        "### Every candidate's selection score",
        "",
        f"Mean closed-loop RMSE over the selection seeds, per rung ({' / '.join(f'{e} epochs' for e in epochs)}); "
        "– : not trained in that rung (halved out).",
        "",
        table(["candidate", "setting", *names],
              [[c["index"], setting(c), *(scores(name, c["index"]) for name in names)] for c in candidates]),
        "",
        "### Tuning curve",
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


def protocol_text(name, protocol):
    """What a series' scores are about: which values were held out, where the closed loop runs."""
    loop, one = protocol["closed_loop"], protocol["one_step"]
    where = (f"closed loop over x = {loop['first_x']:g} … {loop['last_x']:g} ({loop['steps']} steps), one-step over "
             f"x = {one['first_x']:g} … {one['last_x']:g} ({one['steps']} steps)")
    if protocol["held_out"] == 0:
        return (f"**{name}**: {protocol['values']} values, nothing held out (the tutorial's protocol): {where}. The "
                "closed loop runs over the values the models trained and validated on: only the seeds are held out, "
                "so its scores say how well a network fits this curve, not how it forecasts.")
    return (f"**{name}**: {protocol['values']} values, the last {protocol['held_out']} held out before anything was "
            f"fitted (no training or validation window, tuning score or scaling statistic saw them): {where}, all on "
            "held-out values. Scores are in the series' own units.")


def answer(name, metrics, tuned, names, n_seeds, alpha):
    """The first lines of a series' section: the best mean, and whether any pair differs."""
    lines = []
    for label, m in (("at the tutorial's settings", metrics), ("tuned", tuned["metrics"] if tuned else None)):
        if m is None:
            continue
        best = min(names, key=lambda n: m[n]["rmse"])
        decided = [text for text in verdicts(m["comparisons"], names, n_seeds, alpha).values()
                   if not text.startswith("no detectable")]
        lines.append(f"- {label}: lowest mean closed-loop RMSE {best} ({number(m[best]['rmse'])}); "
                     + (f"verdicts: {'; '.join(decided)}." if decided else "no pair differs detectably."))
    return lines


def yardstick_lines(metrics, tuned):
    """The first lines of a series' section: the best network against the best classical baseline."""
    lines = []
    for label, m in (("at the tutorial's settings", metrics), ("tuned", tuned["metrics"] if tuned else None)):
        if m is None:
            continue
        y = m["yardstick"]
        text = statistics.yardstick_verdict(y["network"], y["baseline"], y["network_rmse_ci_low"],
                                            y["network_rmse_ci_high"], y["baseline_rmse"])
        lines.append(
            f"- **{text}** ({label}): {y['network']} mean closed-loop RMSE {number(y['network_rmse'])} "
            f"[{number(y['network_rmse_ci_low'])}, {number(y['network_rmse_ci_high'])}], MASE "
            f"{number(y['network_mase'])}; {y['baseline']} RMSE {number(y['baseline_rmse'])}, MASE "
            f"{number(y['baseline_mase'])}; seeds better than {y['baseline']}: {number(y['p_seed_better'])} "
            f"[{number(y['p_seed_better_ci_low'])}, {number(y['p_seed_better_ci_high'])}]."
        )
    if metrics["yardstick"]["baseline_rmse"] < 1e-5:
        lines.append(
            f"- {metrics['yardstick']['baseline']} forecasts this series to rounding error: the curve obeys an exact "
            "linear recurrence, which a least-squares fit recovers from a few samples. The networks are compared "
            "here as approximations of that recurrence; none of them comes near it."
        )
    return lines


def classical_table(classical):
    return table(
        ["baseline", "RMSE", "MAE", "MASE", "one-step RMSE", "one-step MASE", "validation RMSE (chooses the best)"],
        [[name, *(number(b[k]) for k in ("rmse", "mae", "mase", "one_step_rmse", "one_step_mase", "validation_rmse"))]
         for name, b in sorted(classical.items(), key=lambda item: item[1]["validation_rmse"])],
    )


def render_series(params, name, result, ci):
    """A series' section: its answer, verdicts and tables."""
    train, evaluate, names = params["train"], params["evaluate"], list(params["models"])
    seeds, alpha, tuned = train["seeds"], evaluate["alpha"], result.get("tuned")
    metrics, per_seed = result["metrics"], result["per_seed"]
    verdict_by_pair = verdicts(metrics["comparisons"], names, len(seeds), alpha)
    return [
        f"## Series {name}",
        "",
        protocol_text(name, metrics["protocol"]),
        "",
        *yardstick_lines(metrics, tuned),
        *answer(name, metrics, tuned, names, len(seeds), alpha),
        "",
        "### Classical baselines (the forecasters' yardstick), fitted on the values before the cut",
        "",
        classical_table(metrics["classical"]),
        "",
        "### Verdicts" + (" at the tutorial's settings" if tuned else ""),
        "",
        verdict_table(metrics["comparisons"], verdict_by_pair, ci),
        "",
        f"| the tutorial's claim (on its damped curve) | ours, on {name} |",
        "|---|---|",
        tutorial_row(verdict_by_pair, params),
        "",
        *(tuned_verdicts(params, name, tuned, ci, alpha) if tuned else []),
        "### Closed-loop RMSE per model, across seeds" + (" (the tutorial's settings)" if tuned else ""),
        "",
        rmse_table(metrics, names, ci),
        "",
        *(tuned_results(tuned, names, ci) if tuned else []),
        "",
        f"### Shape and skill: mean [{ci}] across seeds",
        "",
        table(
            ["model", *SHAPE_COLUMNS.values()],
            [
                [model] + [
                    f"{number(m[metric])} [{number(m[metric + '_ci_low'])}, {number(m[metric + '_ci_high'])}]"
                    for m, metric in ((metrics[model], metric) for metric in SHAPE_COLUMNS)
                ]
                for model in names
            ],
        ),
        "",
        "### Naive baselines (the same closed-loop steps)",
        "",
        table(
            ["baseline", "RMSE", "MAE", "max error", "correlation", "dominant-frequency error"],
            [
                [baseline, number(b["rmse"]), number(b["mae"]), number(b["max_abs_error"]), number(b["correlation"]),
                 number(b["frequency_error"])]
                for baseline, b in metrics["baselines"].items()
            ],
        ),
        "",
        "zero: the damped signal's asymptote; persistence: the last value before the closed loop repeated; "
        "window_mean: the mean of the window the closed loop starts from.",
        "",
        "### Every seed: closed-loop RMSE",
        "",
        table(["seed"] + names, [[seed] + [number(per_seed[n][f"seed_{seed}"]["rmse"]) for n in names] for seed in seeds]),
        "",
        "### Figures",
        "",
        *[f"![{name}: {caption}](../plots/figures/{name}/{file})\n" for file, caption in FIGURES.items()
          if tuned or file not in ("tuning.png", "forecast_tuned.png")],
    ]


def render(params, results):
    """The report; results = {series: {"metrics", "per_seed": evaluate@'s, and optionally "tuned":
    {"tunings": {model: tune@'s json}, "metrics", "per_seed": evaluate_tuned@'s}}}."""
    train, evaluate, names = params["train"], params["evaluate"], list(params["models"])
    seeds, alpha, confidence = train["seeds"], evaluate["alpha"], evaluate["confidence"]
    models = ", ".join(f"{name} ({spec['cell']}, {spec['units']} units)" for name, spec in params["models"].items())
    ci = f"{confidence:.0%} CI"
    first = next(iter(results.values()))
    return "\n".join([
        "# Is one architecture really better? Report across seeds, per series",
        "",
        f"Series: {', '.join(results)}. Models: {models}; {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
        f"{train['epochs']} epochs of {train['optimizer']} at learning rate {train['learning_rate']} "
        f"({train['schedule']} schedule). Closed loop: each prediction is fed back as the next input.",
        "",
        "## The verdict rule (fixed before the numbers)",
        "",
        f"Models are compared on closed-loop RMSE across seeds. \"A better than B\" only if the Mann-Whitney U "
        f"test (seeds of different architectures are not paired), Holm-corrected across all "
        f"{len(first['metrics']['comparisons'])} pair(s) of a series, gives p < {alpha} **and** the {ci} of P(A better "
        f"than B), the probability that a seed of A has a lower RMSE than a seed of B, excludes 0.5. Otherwise: no "
        "detectable difference with this many seeds. CIs are bootstrap (BCa, 9999 resamples, a fixed random "
        "generator).",
        seeds_note(len(names), len(seeds), alpha),
        *(selection_rule(first["tuned"]["tunings"], names, seeds) if "tuned" in first else []),
        "## The yardstick rule (fixed before the numbers)",
        "",
        "Per series, the best network and the best classical baseline, each chosen without the scored values: the "
        "network with the lowest mean final validation loss across seeds (the validation windows), the baseline "
        "with the lowest closed-loop RMSE over the validation span, fitted on the values before it. A baseline is "
        f"deterministic, a network varies by seed: the network is better only if the whole {ci} of its mean "
        "closed-loop RMSE lies below the baseline's RMSE, worse only if it lies above; otherwise no detectable "
        "difference. Beside it, the share of seeds whose RMSE is below the baseline's, with its exact "
        "(Clopper-Pearson) CI. MASE divides the mean absolute error by the in-sample mean absolute error of the "
        "naive forecast (seasonal naive where the series has a season) on the training part, as in M4.",
        "",
        "## Shape and skill, defined",
        "",
        "Correlation of forecast and truth over the closed loop (1: the same shape); relative error of the "
        "dominant frequency (0: right, 1: no oscillation); valid steps before |error| first exceeds "
        f"{evaluate['error_threshold']} (times the training part's standard deviation for a standardized series); "
        "skill = 1 − RMSE / RMSE of the baseline (> 0: better than it). Every statistic of every metric is in "
        "metrics/series/<series>/metrics.json, every seed in seeds.json beside it.",
        "",
        *[line for name, result in results.items() for line in render_series(params, name, result, ci)],
    ])


def main(argv):
    """argv: the directory of every series' metrics (metrics/series) and the report's path."""
    series_dir, report_path = argv
    params = load_params()
    results = {}
    for series in params["series"]:
        where, evaluated, tuned = f"{series_dir}/{series}", f"evaluate@{series}", f"evaluate_tuned@{series}"
        results[series] = {
            "metrics": read_input(f"{where}/metrics.json", load_json, evaluated)[series],
            "per_seed": read_input(f"{where}/seeds.json", load_json, evaluated),
            "tuned": {
                "tunings": {name: read_input(f"{where}/tune/{name}.json", load_json, f"tune@{series}-{name}")
                            for name in params["models"]},
                "metrics": read_input(f"{where}/tuned/metrics.json", load_json, tuned)[series],
                "per_seed": read_input(f"{where}/tuned/seeds.json", load_json, tuned),
            },
        }
    write_text(report_path, render(params, results))


if __name__ == "__main__":
    run(main)
