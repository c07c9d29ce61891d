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
MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
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


def seasons():
    is_season = integer(2, 10_000)
    return Rule(
        lambda v: isinstance(v, dict)
        and all(isinstance(k, str) and MODEL_NAME.match(k) and is_season(p) for k, p in v.items()),
        f"a mapping (may be empty) of series names matching {MODEL_NAME.pattern} to {is_season.allowed}",
    )


BOOLEAN = Rule(lambda v: isinstance(v, bool), "true or false")
CRITERIA = ("aic", "bic")

SCHEMA = {
    "signal": {"tau": number(above=0), "x_max_pi": number(above=0), "n_points": integer(3, 1_000_000)},
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
    },
    "forecast": {"horizon": optional(integer(1))},
    "evaluate": {"error_threshold": number(above=0), "confidence": number(above=0, below=1), "alpha": number(above=0, below=1)},
    "plots": {"dpi": integer(10, 1200)},
    # season: samples per cycle of each named series; a series not named has none.
    "baselines": {"season": seasons(), "ar_max_lag": integer(0, 10_000), "criterion": choice(CRITERIA)},
}
MODEL_SCHEMA = {"cell": choice(CELLS), "units": integer(1, 4096)}


def split_point(n_windows, val_fraction):
    """Index of the first validation window: Keras' `validation_split` rule (the last fraction validates)."""
    return int(math.floor(n_windows * (1.0 - val_fraction)))


def _unknown(prefix, key, known):
    """An unknown key, with the closest known one: prefix is "train." for a key in train, "" at the top."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"{prefix}{key}: unknown key{hint}; allowed: {', '.join(known)}"


def _check_section(prefix, section, schema, problems):
    if not isinstance(section, dict):
        problems.append(f"{prefix} = {section!r}: must be a mapping with keys {', '.join(schema)}")
        return
    for key in section:
        if key not in schema:
            problems.append(_unknown(f"{prefix}.", key, list(schema)))
    for key, rule in schema.items():
        if key not in section:
            problems.append(f"{prefix}.{key}: missing; must be {rule.allowed}")
        elif not rule(section[key]):
            problems.append(f"{prefix}.{key} = {section[key]!r}: must be {rule.allowed}")


def _check_models(models, problems):
    if not isinstance(models, dict) or not models:
        problems.append(f"models = {models!r}: must be a mapping of at least one name to {{cell, units}}")
        return
    for name, entry in models.items():
        if not isinstance(name, str) or not MODEL_NAME.match(name):
            problems.append(f"models.{name}: a model name must match {MODEL_NAME.pattern} (it names files and stages)")
        _check_section(f"models.{name}", entry, MODEL_SCHEMA, problems)


def _check_across(params, problems):
    """Rules between sections; only called once every single value is valid."""
    train_seeds, tune_seeds = params["train"]["seeds"], params["tune"]["seeds"]
    shared = sorted(set(train_seeds) & set(tune_seeds))
    if shared:
        problems.append(
            f"tune.seeds = {tune_seeds}: must share no seed with train.seeds ({', '.join(map(str, shared))} in both): "
            "the seeds that select a configuration are never the seeds that judge it"
        )
    n_points, length = params["signal"]["n_points"], params["windows"]["length"]
    max_lag = params["baselines"]["ar_max_lag"]
    if max_lag > length:
        problems.append(
            f"baselines.ar_max_lag = {max_lag}: must be <= windows.length = {length} "
            "(an AR baseline sees no more of the past than a network's window)"
        )
    n_windows = n_points - length
    if n_windows < 2:
        problems.append(
            f"windows.length = {length}: must be < signal.n_points - 1 = {n_points - 1} "
            "(at least one training and one validation window)"
        )
        return
    if n_windows * length > MAX_WINDOW_VALUES:
        problems.append(
            f"windows.length = {length} with signal.n_points = {n_points}: {n_windows} windows of {length} "
            f"values; (n_points - length) * length must be <= {MAX_WINDOW_VALUES:_} to fit in memory"
        )
    val_fraction, batch_size = params["windows"]["val_fraction"], params["train"]["batch_size"]
    n_train = split_point(n_windows, val_fraction)
    if n_train == n_windows:
        problems.append(
            f"windows.val_fraction = {val_fraction}: leaves no validation window out of {n_windows}; "
            f"must be >= {1 / n_windows:.4g}"
        )
    if n_train == 0:
        problems.append(
            f"windows.val_fraction = {val_fraction}: leaves no training window out of {n_windows}; "
            f"must be < {1 - 1 / n_windows:.4g}"
        )
    elif batch_size > n_train:
        problems.append(
            f"train.batch_size = {batch_size}: must be <= the {n_train} training windows "
            "(signal.n_points - windows.length, less validation)"
        )
    horizon, most = params["forecast"]["horizon"], n_points - length - 1
    if horizon is not None and horizon > most:
        problems.append(
            f"forecast.horizon = {horizon}: must be null or <= {most} "
            "(signal.n_points - windows.length - 1 samples follow the first window)"
        )


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
        elif schema is None:
            _check_models(params[section], problems)
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
