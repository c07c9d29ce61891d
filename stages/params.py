"""params.yaml: loading and the one schema every stage checks before it does any work.

All problems are reported at once, each naming the key, the value and what is allowed.
"""

import difflib
import math
import re
from pathlib import Path

import yaml

from stages.cli import UserError

CELLS = ("gru", "lstm", "simple_rnn")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("constant", "cosine")
BACKENDS = ("jax", "tensorflow")
SCALES = ("none", "standard")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # of a model or a series: it names files and stages (train@<series>-<model>)
MAX_SEED = (2**31 - 3) // 3  # seed s draws its initial weights from streams 3s, 3s + 1 and 3s + 2
MAX_WINDOW_VALUES = 100_000_000  # inputs and targets of all windows: 1.6 GB as float64


class ParamsError(UserError):
    def __init__(self, path, problems):
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{path} is not valid ({len(problems)} problem(s)):\n{lines}")


class Rule:
    """A check on one value, and the words that say what is allowed."""

    def __init__(self, test, allowed):
        self.test, self.allowed = test, allowed

    def __call__(self, value):
        try:
            return bool(self.test(value))
        except TypeError:
            return False


def integer(low, high=None):
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    in_range = lambda v: v >= low and (high is None or v <= high)  # noqa: E731
    return Rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and in_range(v), allowed)


def number(above, below=None):
    allowed = f"a number > {above}" + ("" if below is None else f" and < {below}")
    in_range = lambda v: v > above and (below is None or v < below)  # noqa: E731
    is_number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
    return Rule(lambda v: is_number(v) and math.isfinite(v) and in_range(v), allowed)


def choice(options):
    return Rule(lambda v: isinstance(v, str) and v in options, "one of " + ", ".join(options))


def optional(rule):
    return Rule(lambda v: v is None or rule(v), f"null or {rule.allowed}")


def seeds(most):
    is_seed = lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= most  # noqa: E731
    return Rule(
        lambda v: isinstance(v, list) and v and all(map(is_seed, v)) and len(set(v)) == len(v),
        f"a list of distinct integers from 0 to {most}, at least one",
    )


def distinct_choices(options):
    return Rule(
        lambda v: isinstance(v, list) and v and all(isinstance(x, str) and x in options for x in v) and len(set(v)) == len(v),
        "a list of distinct values from " + ", ".join(options) + ", at least one",
    )


def log_range():
    is_positive = number(above=0)
    return Rule(
        lambda v: isinstance(v, list) and len(v) == 2 and all(map(is_positive, v)) and v[0] <= v[1],
        "a list [low, high] of two numbers, 0 < low <= high",
    )


def increasing(low):
    is_int = integer(low)
    return Rule(
        lambda v: isinstance(v, list) and v and all(map(is_int, v)) and all(a < b for a, b in zip(v, v[1:])),
        f"a list of increasing integers >= {low}, at least one",
    )


BOOLEAN = Rule(lambda v: isinstance(v, bool), "true or false")
TEXT = Rule(lambda v: isinstance(v, str) and v.strip() == v and v != "", "a non-empty string")
CRITERIA = ("aic", "bic")


def relative_path():
    """A file inside the project, as DVC tracks it: relative, no '..', forward slashes."""
    inside = lambda v: not v.startswith("/") and ".." not in v.split("/") and "\\" not in v  # noqa: E731
    return Rule(lambda v: TEXT(v) and inside(v), "a path relative to the project, inside it (e.g. data/raw/mine.csv)")


SCHEMA = {
    "signal": {"tau": number(above=0), "x_max_pi": number(above=0), "n_points": integer(3, 1_000_000)},
    "series": None,  # user-named entries, each checked against SERIES_SCHEMA
    "windows": {"length": integer(1, 10_000), "val_fraction": number(above=0, below=1)},
    "train": {
        "backend": choice(BACKENDS),
        "epochs": integer(1),
        "batch_size": integer(1),
        "optimizer": choice(OPTIMIZERS),
        "learning_rate": number(above=0),
        "schedule": choice(SCHEDULES),
        "seeds": seeds(MAX_SEED),
        "shuffle": BOOLEAN,
    },
    "models": None,  # user-named entries, each checked against MODEL_SCHEMA
    "tune": {
        "seeds": seeds(MAX_SEED),
        "candidates": integer(1, 1024),
        "design_seed": integer(0, 2**32 - 1),
        "optimizers": distinct_choices(OPTIMIZERS),
        "learning_rate": log_range(),
        "schedules": distinct_choices(SCHEDULES),
        "rungs": increasing(1),
        "eta": integer(2, 16),
        # Candidate 0, the setting the search starts from; its own keys, so a train.* sweep re-tunes nothing.
        "reference": {"optimizer": choice(OPTIMIZERS), "learning_rate": number(above=0), "schedule": choice(SCHEDULES)},
    },
    "evaluate": {"error_threshold": number(above=0), "confidence": number(above=0, below=1), "alpha": number(above=0, below=1)},
    "plots": {"dpi": integer(10, 1200)},
    "baselines": {"ar_max_lag": integer(0, 10_000), "criterion": choice(CRITERIA)},
}
MODEL_SCHEMA = {"cell": choice(CELLS), "units": integer(1, 4096)}
# A series: a numeric column of a CSV file. Optional keys and their defaults in SERIES_DEFAULTS.
SERIES_SCHEMA = {
    "csv": relative_path(),
    "column": TEXT,
    "x": optional(TEXT),  # a column for the axis of the figures; null: the row number
    "holdout": integer(0),  # the last values: never trained, validated, tuned or scaled on
    "scale": choice(SCALES),  # standard: (y - mean) / std of the values before the hold-out
    "horizon": optional(integer(1)),  # closed-loop steps; null: to the end of the series
    "season": optional(integer(2, 10_000)),  # samples per cycle, for the seasonal baselines; null: none
    "rolling_horizon": optional(integer(1)),  # H of the rolling-origin score; null: rolling_horizon()
    "rolling_step": integer(1),  # samples between rolling origins
}
SERIES_DEFAULTS = {"x": None, "holdout": 0, "scale": "standard", "horizon": None, "season": None,
                   "rolling_horizon": None, "rolling_step": 1}


def split_point(n_windows, val_fraction):
    """Index of the first validation window: Keras' `validation_split` rule (the last fraction validates)."""
    return int(math.floor(n_windows * (1.0 - val_fraction)))


def _unknown(prefix, key, known):
    """An unknown key, with the closest known one: prefix is "train." for a key in train, "" at the top."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"{prefix}{key}: unknown key{hint}; allowed: {', '.join(known)}"


def _check_section(prefix, section, schema, problems, defaults=()):
    """Check a mapping against schema (rules, or nested schemas); keys in defaults may be left out."""
    if not isinstance(section, dict):
        problems.append(f"{prefix} = {section!r}: must be a mapping with keys {', '.join(schema)}")
        return
    for key in section:
        if key not in schema:
            problems.append(_unknown(f"{prefix}.", key, list(schema)))
    for key, rule in schema.items():
        if key not in section:
            if key not in defaults:
                allowed = f"a mapping with keys {', '.join(rule)}" if isinstance(rule, dict) else rule.allowed
                problems.append(f"{prefix}.{key}: missing; must be {allowed}")
        elif isinstance(rule, dict):
            _check_section(f"{prefix}.{key}", section[key], rule, problems)
        elif not rule(section[key]):
            problems.append(f"{prefix}.{key} = {section[key]!r}: must be {rule.allowed}")


def _check_named(section, entries, schema, problems, defaults=()):
    """models or series: a mapping of user-chosen names, each entry checked against schema."""
    if not isinstance(entries, dict) or not entries:
        keys = ", ".join(key for key in schema if key not in defaults)
        problems.append(f"{section} = {entries!r}: must be a mapping of at least one name to {{{keys}, ...}}")
        return
    for name, entry in entries.items():
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{section}.{name}: a name must match {NAME.pattern} (it names files and stages, "
                            "e.g. train@<series>-<model>)")
        _check_section(f"{section}.{name}", entry, schema, problems, defaults)


def _check_across(params, problems):
    """Rules between sections; only called once every single value is valid."""
    train_seeds, tune_seeds = params["train"]["seeds"], params["tune"]["seeds"]
    shared = sorted(set(train_seeds) & set(tune_seeds))
    if shared:
        problems.append(
            f"tune.seeds = {tune_seeds}: must share no seed with train.seeds ({', '.join(map(str, shared))} in both): "
            "the seeds that select a configuration are never the seeds that judge it"
        )
    max_lag, length = params["baselines"]["ar_max_lag"], params["windows"]["length"]
    if max_lag > length:
        problems.append(
            f"baselines.ar_max_lag = {max_lag}: must be <= windows.length = {length} "
            "(an AR baseline sees no more of the past than a network's window)"
        )


def series_entry(params, name):
    """params["series"][name] with its optional keys filled in."""
    return {**SERIES_DEFAULTS, **params["series"][name]}


def validation_count(n_fit, length, val_fraction):
    """How many values the validation span holds: one per validation window (its last target). The one
    source of this number: data@<series> writes it into protocol.json for every stage after it."""
    n_windows = n_fit - length
    return n_windows - split_point(n_windows, val_fraction)


def rolling_horizon(entry, n_val):
    """H of the rolling-origin score: series.<s>.rolling_horizon, or by default one season (the sunspots: a
    solar cycle), else a quarter of the hold-out (rounded up), at most the validation span's n_val values
    (the same H must fit before the cut, where it chooses). 0 without a hold-out: the tutorial's protocol."""
    if not entry["holdout"]:
        return 0
    if entry["rolling_horizon"] is not None:
        return entry["rolling_horizon"]
    return min(entry["season"] or math.ceil(entry["holdout"] / 4), n_val, entry["holdout"])


def check_length(name, n_values, entry, length, val_fraction):
    """The problems of a series of n_values values under its entry and the windows params (known only once
    its file is read, by stage data@<name>): room for a training and a validation window before the hold-out."""
    prefix, holdout, horizon = f"series.{name}", entry["holdout"], entry["horizon"]
    if holdout >= n_values:
        return [f"{prefix}.holdout = {holdout}: must be < the series' {n_values} values"]
    n_fit = n_values - holdout
    n_windows = n_fit - length
    if n_windows < 2:
        return [f"{prefix}: {n_values} values, {holdout} held out, leave {n_fit} to fit: too few for windows.length = "
                f"{length} (a training and a validation window need {length + 2})"]
    if n_windows * length > MAX_WINDOW_VALUES:
        return [f"windows.length = {length} with series {name} ({n_windows} windows): (values - length) * length "
                f"must be <= {MAX_WINDOW_VALUES:_} to fit in memory"]
    problems, n_train = [], split_point(n_windows, val_fraction)
    if n_train == n_windows:
        problems.append(f"windows.val_fraction = {val_fraction}: leaves no validation window out of the {n_windows} "
                        f"of series {name}; must be >= {1 / n_windows:.4g}")
    if n_train == 0:
        problems.append(f"windows.val_fraction = {val_fraction}: leaves no training window out of the {n_windows} "
                        f"of series {name}; must be < {1 - 1 / n_windows:.4g}")
    most = holdout if holdout else n_values - length - 1
    if horizon is not None and horizon > most:
        where = "the held-out values" if holdout else "the values after the first window"
        problems.append(f"{prefix}.horizon = {horizon}: must be null or <= {most} ({where})")
    if not holdout:
        if entry["rolling_horizon"] is not None:
            problems.append(f"{prefix}.rolling_horizon = {entry['rolling_horizon']}: must be null without a hold-out "
                            f"({prefix}.holdout = 0: the closed loop runs from the first window, the tutorial's protocol)")
        return problems
    n_val, wanted = validation_count(n_fit, length, val_fraction), entry["rolling_horizon"]
    if wanted is not None and wanted > min(n_val, holdout):
        problems.append(
            f"{prefix}.rolling_horizon = {wanted}: must be null or <= {min(n_val, holdout)}: the rolling-origin score "
            f"needs one origin in the validation span ({n_val} values: windows.val_fraction = {val_fraction} of the "
            f"windows before the cut), where it chooses, and one in the hold-out ({prefix}.holdout = {holdout}), where "
            "it judges; lower it, or raise windows.val_fraction or the hold-out")
    return problems


def check_batch_size(batch_size, n_train, series):
    if batch_size > n_train:
        raise UserError(f"train.batch_size = {batch_size}: must be <= the {n_train} training windows of series "
                        f"{series} (its values before the hold-out, less windows.length, less validation)")


def validate(params):
    """The list of problems in a params mapping; empty when it is valid."""
    if not isinstance(params, dict):
        return [f"the file must hold a mapping of sections {', '.join(SCHEMA)}, not {type(params).__name__}"]
    problems = []
    for section in params:
        if section not in SCHEMA:
            problems.append(_unknown("", section, list(SCHEMA)))
    for section, schema in SCHEMA.items():
        if section not in params:
            problems.append(f"{section}: missing section")
        elif section == "models":
            _check_named(section, params[section], MODEL_SCHEMA, problems)
        elif section == "series":
            _check_named(section, params[section], SERIES_SCHEMA, problems, SERIES_DEFAULTS)
        else:
            _check_section(section, params[section], schema, problems)
    if not problems:
        _check_across(params, problems)
    return problems


def load_params(path="params.yaml"):
    """Read and validate params.yaml; raise ParamsError listing every problem."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ParamsError(path, ["file not found"]) from None
    except yaml.YAMLError as error:
        raise ParamsError(path, [f"not valid YAML: {error}"]) from None
    problems = validate(params)
    if problems:
        raise ParamsError(path, problems)
    return params
