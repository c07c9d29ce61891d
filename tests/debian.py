"""Debian packages that the slow tier runs (Chromium, qemu-user), installed with apt-get when missing
(CI runs as root). `.ci/run` starts the same install at its beginning, under the same lock, so that
the download overlaps the venv's install and the first tests; a test that needs a package waits here."""

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "rnn-pipeline-apt.lock"  # .ci/run: ${TMPDIR:-/tmp}/rnn-pipeline-apt.lock


def installed(package, program):
    """The path of program, installing Debian's package first if no program is on PATH."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not shutil.which(program):
            environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=environment,
                           capture_output=True)
    return shutil.which(program)
