"""Stage `tuned@<series>-<model>`: train the configuration tune@<series>-<model> chose, on the evaluation seeds.

The winner's optimizer, learning rate, schedule and epochs come from its tune json; the
seeds are train.seeds, which tune.seeds never share (stages/params.py). The files are laid out as
train@<model>'s, so forecast and evaluate run on them unchanged (stages forecast_tuned@, evaluate_tuned).
"""

from stages.cli import run
from stages.files import load_json, load_npz, read_input
from stages.params import check_batch_size, load_params
from stages.train import train_and_write
from stages.tune import SHARED_TRAIN_KEYS


def winner_settings(train, chosen):
    """The train dict for train_one: the search's shared settings and the winner's."""
    return {**{key: train[key] for key in SHARED_TRAIN_KEYS}, **chosen["train"]}


def main(argv):
    series, name, tune_path, windows_path, model_dir, history_dir = argv
    params = load_params()
    spec, seeds, stage = params["models"][name], params["train"]["seeds"], f"tuned@{series}-{name}"
    chosen = read_input(tune_path, load_json, f"tune@{series}-{name}")["chosen"]
    train = winner_settings(params["train"], chosen)
    data = read_input(windows_path, load_npz, f"data@{series}")
    check_batch_size(train["batch_size"], len(data["x_train"]), series)
    print(f"{stage}: candidate {chosen['index']} ({train['optimizer']} at {train['learning_rate']}, "
          f"{train['schedule']}, {train['epochs']} epochs) on {len(seeds)} seed(s)", flush=True)
    advice = (f"candidate {chosen['index']} ({train['optimizer']} at {train['learning_rate']}) did not on tune.seeds: "
              "narrow tune.learning_rate or add tune.seeds")
    train_and_write(stage, spec, train, data, seeds, model_dir, history_dir, advice)


if __name__ == "__main__":
    run(main)
