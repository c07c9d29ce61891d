"""Stage `tuned@<model>`: train the configuration tune@<model> chose, on the evaluation seeds.

The winner's optimizer, learning rate, schedule and epochs come from metrics/tune/<model>.json; the
seeds are train.seeds, which tune.seeds never share (stages/params.py). The files are laid out as
train@<model>'s, so forecast and evaluate run on them unchanged (stages forecast_tuned@, evaluate_tuned).
"""

import numpy as np
import pandas as pd

from stages.cli import UserError, run
from stages.executor import executor
from stages.files import load_json, load_npz, read_input, save_npz, seed_path, write_csv
from stages.params import load_params
from stages.train import train_one
from stages.tune import SHARED_TRAIN_KEYS


def winner_settings(train, chosen):
    """The train dict for train_one: the search's shared settings and the winner's."""
    return {**{key: train[key] for key in SHARED_TRAIN_KEYS}, **chosen["train"]}


def main(argv):
    name, tune_path, windows_path, model_dir, history_dir = argv
    params = load_params()
    spec, seeds = params["models"][name], params["train"]["seeds"]
    chosen = read_input(tune_path, load_json, f"tune@{name}")["chosen"]
    train = winner_settings(params["train"], chosen)
    data = read_input(windows_path, load_npz, "windows")
    print(f"tuned@{name}: candidate {chosen['index']} ({train['optimizer']} at {train['learning_rate']}, "
          f"{train['schedule']}, {train['epochs']} epochs) on {len(seeds)} seed(s)", flush=True)
    with executor() as place:
        results = place.run(train_one, [(spec, train, data, seed) for seed in seeds], f"tuned@{name}",
                            lambda result: f"loss {result[1][-1]:.2e}")
    diverged = sorted((seed, result[3]) for seed, result in zip(seeds, results) if result[3] is not None)
    if diverged:
        where = ", ".join(f"seed {seed} at epoch {epoch}" for seed, epoch in diverged)
        raise UserError(
            f"tuned@{name} diverged on evaluation seeds ({where}) with candidate {chosen['index']} "
            f"({train['optimizer']} at {train['learning_rate']}), which did not on tune.seeds; narrow "
            "tune.learning_rate or add tune.seeds. No output was written."
        )
    for seed, (weights, losses, val_losses, _) in zip(seeds, results):
        save_npz(seed_path(model_dir, seed, ".npz"), weights)
        history = pd.DataFrame({"epoch": np.arange(1, len(losses) + 1), "loss": losses, "val_loss": val_losses})
        write_csv(seed_path(history_dir, seed, ".csv"), history)


if __name__ == "__main__":
    run(main)
