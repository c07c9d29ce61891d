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
    "rmse": "closed-loop RMSE",
    "correlation": "correlation with truth",
    "frequency_error": "dominant-frequency error",
    "valid_steps": "valid steps",
    "one_step_val_rmse": "one-step RMSE",
    "selection_rmse": "selection score (validation span)",
}
FIGURES = {  # every figure stages/plots.py draws; horizon.png where the series has a hold-out
    "horizon.png": "Error by horizon: rolling-origin RMSE per step after the origin, median and band over seeds",
    "series.png": "The series and its held-out part",
    "forecast.png": "Median closed-loop forecast per model, the band of all seeds, the baselines",
    "forecast_tuned.png": "The same for the tuned models",
    "rmse.png": "The verdicts' score of every seed",
    "error.png": "Absolute error of the median closed-loop forecast, step by step",
    "loss.png": "Mean loss across seeds",
    "tuning.png": "Tuning curve: expected best selection score against candidates tried",
}


def number(value):
    return f"{value:.4g}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def verdicts(comparisons, names, n_seeds, alpha):
    """{(a, b): (across seeds, across origins or None, the verdict)} for every pair, in evaluate's order: the test
    across seeds (statistics.verdict) and, with a hold-out, across origins; "better" only where both agree."""
    result = {}
    for a, b in itertools.combinations(names, 2):
        pair = comparisons[f"{a}_vs_{b}"]
        seeds = statistics.verdict(
            a, b, pair["p_holm"], pair["p_better_ci_low"], pair["p_better_ci_high"], n_seeds, n_seeds, alpha
        )
        origins = pair.get("origins")
        across = statistics.origins_verdict(a, b, origins, origins.get("p_holm"), alpha) if origins else None
        result[a, b] = seeds, across, seeds if across is None else statistics.both_agree(seeds, across)
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
    for (a, b), (_, _, text) in verdict_by_pair.items():
        if {cells[a], cells[b]} == {"gru", "lstm"}:
            return f"| {TUTORIAL_CLAIM} | {a} vs {b}: {text} |"
    return f"| {TUTORIAL_CLAIM} | (no GRU and LSTM in params.yaml to compare) |"


def origins_cells(test):
    if test is None:
        return []
    if not test["usable"]:
        return ["–", "–"]
    return [number(test["statistic"]), number(test.get("p_holm", test["p_value"]))]


def verdict_table(comparisons, verdict_by_pair, ci):
    rolling = any(across is not None for _, across, _ in verdict_by_pair.values())
    header = ["pair", "mean score difference (A − B)", ci, "p (Mann-Whitney)", "p (Holm)", "P(A better)", ci]
    header += ["across seeds", "DM statistic (HLN)", "p (Holm)", "across origins", "verdict"] if rolling else ["verdict"]
    rows = []
    for (a, b), (seeds, across, final) in verdict_by_pair.items():
        c = comparisons[f"{a}_vs_{b}"]
        row = [f"{a} vs {b}", number(c["difference"]), f"[{number(c['difference_ci_low'])}, "
               f"{number(c['difference_ci_high'])}]", number(c["p_value"]), number(c["p_holm"]),
               number(c["p_better"]), f"[{number(c['p_better_ci_low'])}, {number(c['p_better_ci_high'])}]"]
        rows.append(row + ([seeds, *origins_cells(c["origins"]), across] if rolling else []) + [f"**{final}**"])
    return table(header, rows)


def score_table(metrics, names, ci):
    """Per model, the verdicts' score across seeds."""
    metric = metrics["protocol"]["verdict_metric"]
    return table(
        ["model", "mean", ci, "median", "trimmed mean (10 %)", "sd", "min", "max"],
        [
            [name] + [number(m[metric]), f"[{number(m[metric + '_ci_low'])}, {number(m[metric + '_ci_high'])}]"]
            + [number(m[f"{metric}_{k}"]) for k in ("median", "trim_mean", "std", "min", "max")]
            for name, m in ((name, metrics[name]) for name in names)
        ],
    )


def score_name(metrics):
    """What the verdicts compare, in words."""
    if metrics["protocol"]["verdict_metric"] == "rolling_rmse":
        return "rolling-origin RMSE over the held-out origins"
    return "closed-loop RMSE"


def horizon_table(metrics, tuned_metrics, names):
    """Per h: each model's median rolling-origin RMSE over seeds (at the tutorial's settings, tuned) and every
    baseline's."""
    classical = metrics["classical"]
    columns = [(name, metrics[name]["rolling_rmse_by_h"]["median"]) for name in names]
    columns += [(f"{name} tuned", tuned_metrics[name]["rolling_rmse_by_h"]["median"]) for name in names]
    columns += [(name, b["rolling_rmse_by_h"]) for name, b in classical.items()]
    return table(["h", *(name for name, _ in columns)],
                 [[h + 1, *(number(values[h]) for _, values in columns)]
                  for h in range(metrics["protocol"]["rolling"]["horizon"])])


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
        "**Selection score**: the mean over the selection seeds of the rolling-origin RMSE over the validation "
        "origins (where a series has no hold-out, the closed loop over the whole curve, the tutorial's protocol); "
        "a training whose loss or forecast is not finite scores +inf, the worst; ties go to the lower candidate "
        "index. The last rung's best is the winner, trained again on the evaluation seeds "
        f"(train.seeds: {', '.join(map(str, train_seeds))}, none of them a selection seed) and judged by the "
        "verdict rule above.",
        "",
        "A winner's selection score is optimistically biased (it was picked for being low, Cawley & Talbot "
        "2010): its RMSE on the fresh evaluation seeds (and, where a series has one, on its held-out part) is "
        "the number to read. Where a series holds values out, the selection score is the rolling-origin score over "
        "its validation span, before the cut: the held-out part decides nothing.",
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
    metric = metrics["protocol"]["verdict_metric"]
    candidates = tunings[names[0]]["candidates"]
    n_rungs = len(tunings[names[0]]["rungs"])
    epochs = [rung["epochs"] for rung in tunings[names[0]]["rungs"]]

    def scores(name, index):
        reached = tunings[name]["candidates"][index]["scores"]
        return " / ".join([score_text(v) for v in reached] + ["–"] * (n_rungs - len(reached)))

    curves = {name: statistics.tuning_curve([c["scores"][0] for c in tunings[name]["candidates"]]) for name in names}
    return [
        f"### The tuned models: chosen configuration and {score_name(metrics)} on the evaluation seeds",
        "",
        table(
            ["model", "chosen", "setting", "epochs", "selection score (tune.seeds)", "mean RMSE (train.seeds)", ci,
             "min", "max"],
            [
                [name, f"candidate {t['chosen']['index']}", setting(t["chosen"]["train"]), t["chosen"]["train"]["epochs"],
                 score_text(t["chosen"]["score"]), number(m[metric]),
                 f"[{number(m[metric + '_ci_low'])}, {number(m[metric + '_ci_high'])}]", number(m[metric + "_min"]),
                 number(m[metric + "_max"])]
                for name, t, m in ((name, tunings[name], metrics[name]) for name in names)
            ],
        ),
        "",
        "Every seed of the tuned models: "
        + "; ".join(f"{name} " + ", ".join(number(v[metric]) for v in tuned["per_seed"][name].values())
                    for name in names) + ".",
        "",
        "### Every candidate's selection score",
        "",
        f"Mean selection score over the selection seeds, per rung ({' / '.join(f'{e} epochs' for e in epochs)}); "
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


def protocol_text(name, protocol, n_seeds):
    """What a series' scores are about: which values were held out, where the closed loop and the origins run."""
    loop, one = protocol["closed_loop"], protocol["one_step"]
    where = (f"closed loop over x = {loop['first_x']:g} … {loop['last_x']:g} ({loop['steps']} steps), one-step over "
             f"x = {one['first_x']:g} … {one['last_x']:g} ({one['steps']} steps)")
    if protocol["held_out"] == 0:
        return (f"**{name}**: {protocol['values']} values, nothing held out (the tutorial's protocol): {where}. The "
                "closed loop runs over the values the models trained and validated on: only the seeds are held out, "
                "so its scores say how well a network fits this curve, not how it forecasts.")
    rolling = protocol["rolling"]
    return (f"**{name}**: {protocol['values']} values, the last {protocol['held_out']} held out before anything was "
            f"fitted (no training or validation window, tuning score or scaling statistic saw them). **The verdicts "
            f"cover {n_seeds} seeds; {rolling['origins']} origins in {rolling['first_x']:g}–{rolling['last_x']:g}**: "
            f"from each, H = {rolling['horizon']} steps (every {rolling['step']} sample(s)), with the weights and "
            f"parameters fitted before the cut; the choices were made on {rolling['validation_origins']} origins of the "
            f"validation span before it. Beside them: {where}, all on held-out values. Scores are in the series' own "
            "units.")


def answer(name, metrics, tuned, names, n_seeds, alpha):
    """The first lines of a series' section: the best mean, and whether any pair differs."""
    lines = []
    for label, m in (("at the tutorial's settings", metrics), ("tuned", tuned["metrics"] if tuned else None)):
        if m is None:
            continue
        metric = m["protocol"]["verdict_metric"]
        best = min(names, key=lambda n: m[n][metric])
        decided = [text for _, _, text in verdicts(m["comparisons"], names, n_seeds, alpha).values()
                   if " better than " in text]
        lines.append(f"- {label}: lowest mean {score_name(m)} {best} ({number(m[best][metric])}); "
                     + (f"verdicts: {'; '.join(decided)}." if decided else "no pair differs detectably."))
    return lines


def yardstick_verdicts(y, alpha):
    """(across seeds, across origins or None, the verdict) of the best network against the best baseline."""
    seeds = statistics.yardstick_verdict(y["network"], y["baseline"], y["network_ci_low"], y["network_ci_high"],
                                         y["baseline_score"])
    origins = y.get("origins")
    if origins is None:
        return seeds, None, seeds
    across = statistics.origins_verdict(y["network"], y["baseline"], origins, origins["p_value"], alpha)
    return seeds, across, statistics.both_agree(seeds, across)


def yardstick_lines(metrics, tuned, alpha):
    """The first lines of a series' section: the best network against the best classical baseline, across seeds
    and, with a hold-out, across origins."""
    lines = []
    for label, m in (("at the tutorial's settings", metrics), ("tuned", tuned["metrics"] if tuned else None)):
        if m is None:
            continue
        y, origins = m["yardstick"], m["yardstick"].get("origins")
        seeds, across, text = yardstick_verdicts(y, alpha)
        tests = "" if across is None else (
            f" Across seeds: {seeds}; across origins: {across} (DM "
            + (f"{number(origins['statistic'])}, p = {number(origins['p_value'])}" if origins["usable"] else "unusable")
            + ").")
        lines.append(
            f"- **{text}** ({label}): {y['network']} mean {score_name(m)} {number(y['network_score'])} "
            f"[{number(y['network_ci_low'])}, {number(y['network_ci_high'])}], MASE "
            f"{number(y['network_mase'])}; {y['baseline']} {number(y['baseline_score'])}, MASE "
            f"{number(y['baseline_mase'])}; seeds better than {y['baseline']}: {number(y['p_seed_better'])} "
            f"[{number(y['p_seed_better_ci_low'])}, {number(y['p_seed_better_ci_high'])}].{tests}"
        )
    if metrics["yardstick"]["baseline_score"] < 1e-5:
        lines.append(
            f"- {metrics['yardstick']['baseline']} forecasts this series to rounding error: the curve obeys an exact "
            "linear recurrence, which a least-squares fit recovers from a few samples. The networks are compared "
            "here as approximations of that recurrence; none of them comes near it."
        )
    return lines


def classical_table(classical, held_out):
    keys = {"rolling_rmse": "rolling-origin RMSE", "rolling_mase": "rolling-origin MASE"} if held_out else {}
    keys.update({"rmse": "closed-loop RMSE", "mase": "closed-loop MASE", "one_step_rmse": "one-step RMSE",
                 "validation_rmse": "selection score (chooses the best)"})
    return table(["baseline", *keys.values()],
                 [[name, *(number(b[k]) for k in keys)]
                  for name, b in sorted(classical.items(), key=lambda item: (item[1]["validation_rmse"], item[0]))])


def render_series(params, name, result, ci):
    """A series' section: its answer, verdicts (rolling origin first where it has a hold-out) and tables."""
    train, evaluate, names = params["train"], params["evaluate"], list(params["models"])
    seeds, alpha, tuned = train["seeds"], evaluate["alpha"], result.get("tuned")
    metrics, per_seed = result["metrics"], result["per_seed"]
    metric, held_out = metrics["protocol"]["verdict_metric"], metrics["protocol"]["held_out"]
    verdict_by_pair = verdicts(metrics["comparisons"], names, len(seeds), alpha)
    by_horizon = [
        "### Error by horizon: median rolling-origin RMSE over seeds, per step after the origin",
        "",
        f"![{name}: error by horizon](../plots/figures/{name}/horizon.png)",
        "",
        horizon_table(metrics, tuned["metrics"], names),
        "",
    ] if held_out and tuned else []
    return [
        f"## Series {name}",
        "",
        protocol_text(name, metrics["protocol"], len(seeds)),
        "",
        *yardstick_lines(metrics, tuned, alpha),
        *answer(name, metrics, tuned, names, len(seeds), alpha),
        "",
        *by_horizon,
        "### Verdicts" + (" at the tutorial's settings" if tuned else ""),
        "",
        verdict_table(metrics["comparisons"], verdict_by_pair, ci),
        "",
        f"| the tutorial's claim (on its damped curve) | ours, on {name} |",
        "|---|---|",
        tutorial_row(verdict_by_pair, params),
        "",
        *(tuned_verdicts(params, name, tuned, ci, alpha) if tuned else []),
        "### Classical baselines (the forecasters' yardstick), fitted on the values before the cut",
        "",
        classical_table(metrics["classical"], held_out),
        "",
        f"### {score_name(metrics).capitalize()} per model, across seeds" + (" (the tutorial's settings)" if tuned else ""),
        "",
        score_table(metrics, names, ci),
        "",
        *(tuned_results(tuned, names, ci) if tuned else []),
        "",
        f"### The closed loop{' across the whole hold-out (one origin)' if held_out else ''}, and its shape: "
        f"mean [{ci}] across seeds",
        "",
        table(
            ["model", *SHAPE_COLUMNS.values()],
            [
                [model] + [
                    f"{number(m[key])} [{number(m[key + '_ci_low'])}, {number(m[key + '_ci_high'])}]"
                    for m, key in ((metrics[model], key) for key in SHAPE_COLUMNS)
                ]
                for model in names
            ],
        ),
        "",
        f"### Every seed: {score_name(metrics)}",
        "",
        table(["seed"] + names, [[seed] + [number(per_seed[n][f"seed_{seed}"][metric]) for n in names] for seed in seeds]),
        "",
        "### Figures",
        "",
        *[f"![{name}: {caption}](../plots/figures/{name}/{file})\n" for file, caption in FIGURES.items()
          if (tuned or file not in ("tuning.png", "forecast_tuned.png")) and (held_out or file != "horizon.png")],
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
        "## The scores",
        "",
        "Where a series holds values out, every score that judges is on them, and every score that chooses is on "
        "the validation span before the cut. The score is the **rolling-origin RMSE** (Tashman 2000): from every "
        "origin t (every `rolling_step` samples), each network seed forecasts H = `rolling_horizon` steps in closed "
        "loop from the true window ending at t, and each baseline forecasts H steps from the true values up to t; "
        "the RMSE is over every origin and step, in the series' units, also read per horizon h = 1 .. H. Rolling "
        "origin without recalibration: the weights and the baselines' parameters are those fitted before the cut, "
        "only the inputs move. The single closed loop across the whole hold-out (one origin) is reported beside "
        "it. Where a series holds nothing out (the tutorial's protocol), the score is the closed loop over the "
        "whole curve, which the networks trained on: it says how well they fit it.",
        "",
        "## The verdict rule (fixed before the numbers)",
        "",
        f"Two sources of variation, two tests. **Across seeds**: the Mann-Whitney U test on each seed's score "
        f"(seeds of different architectures are not paired), Holm-corrected across all "
        f"{len(first['metrics']['comparisons'])} pair(s) of a series, p < {alpha}, **and** the {ci} of P(A better "
        f"than B), the probability that a seed of A scores lower than a seed of B, excluding 0.5. CIs are bootstrap "
        "(BCa, 9999 resamples, a fixed random generator). **Across origins** (where a series holds values out): "
        "the Diebold-Mariano test of the per-origin loss differential of the seed-mean losses (each origin's mean "
        "squared error over its H steps), its variance from the autocovariances up to lag H − 1 (overlapping "
        "horizons share errors), with the Harvey-Leybourne-Newbold correction and Student's t, Holm-corrected "
        f"across the pairs, p < {alpha}. \"A better than B\" only where both tests say so; where there are fewer "
        "than 2H origins or the variance estimate is not positive, the test is unusable and the report says so "
        "instead of a verdict. Without a hold-out, the test across seeds alone.",
        seeds_note(len(names), len(seeds), alpha),
        *(selection_rule(first["tuned"]["tunings"], names, seeds) if "tuned" in first else []),
        "## The yardstick rule (fixed before the numbers)",
        "",
        "Per series, the best network and the best classical baseline, both chosen by the same score on the "
        "validation span, never on the scored values: the network with the lowest mean selection score across "
        "seeds, the baseline with the lowest rolling-origin RMSE over the validation span, fitted on the values "
        "before it (without a hold-out: the closed loop over the whole curve for the networks, over the validation "
        "span for the baselines, as the tutorial's protocol has no other). A baseline is deterministic, a network "
        f"varies by seed: across seeds, the network is better only if the whole {ci} of its mean score lies below "
        "the baseline's score, worse only if it lies above; across origins, the test above without correction "
        "(one comparison); the verdict needs both. Beside it, the share of seeds whose score is below the "
        "baseline's, with its exact (Clopper-Pearson) CI. MASE divides the mean absolute error by the in-sample "
        "mean absolute error of the naive forecast (seasonal naive where the series has a season) on the training "
        "part, as in M4.",
        "",
        "## Shape, defined",
        "",
        "Correlation of forecast and truth over the closed loop (1: the same shape); relative error of the "
        "dominant frequency (0: right, 1: no oscillation); valid steps before |error| first exceeds "
        f"{evaluate['error_threshold']} (times the training part's standard deviation for a standardized series). "
        "Every statistic of every metric is in metrics/series/<series>/metrics.json, every seed in seeds.json "
        "beside it.",
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
