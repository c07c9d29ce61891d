"""Stage `validate`: check params.yaml before any other stage deletes its outputs.

DVC removes a stage's outputs just before running it, so a check inside each stage would come
too late to keep the last good run. This stage is upstream of all others; its output never changes
while params are valid, so it never makes another stage re-run.
"""

from stages.cli import run
from stages.files import write_text
from stages.params import load_params


def main(argv):
    params_path, marker_path = argv
    load_params(params_path)
    write_text(marker_path, "params.yaml passed the schema in stages/params.py\n")


if __name__ == "__main__":
    run(main)
