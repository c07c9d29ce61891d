"""Stage `validate`: check params.yaml before any other stage deletes its outputs.

DVC removes a stage's outputs just before running it, so a check inside each stage would come
too late to keep the last good run. This stage is upstream of all others; its output never changes
while params are valid, so it never makes another stage re-run.
"""

from pathlib import Path

from stages.cli import run
from stages.files import write_text
from stages.params import ParamsError, load_params


def missing_files(params, generated):
    """The series whose CSV file is neither in the project nor one a stage writes (generated)."""
    return [
        f"series.{name}.csv = {entry['csv']!r}: no such file (a series reads a CSV file in the project; "
        f"{', '.join(generated) or 'no file'} a stage writes)"
        for name, entry in params["series"].items()
        if entry["csv"] not in generated and not Path(entry["csv"]).is_file()
    ]


def main(argv):
    """argv: params.yaml, the marker to write, and the files stages write that a series may read."""
    params_path, marker_path, *generated = argv
    problems = missing_files(load_params(params_path), generated)
    if problems:
        raise ParamsError(params_path, problems)
    write_text(marker_path, "params.yaml passed the schema in stages/params.py\n")


if __name__ == "__main__":
    run(main)
