"""Deterministic, atomic file output: same data, same bytes; never a half-written file.

Every writer renders the whole file in memory, writes it beside the target and renames it into
place, so an interrupted stage leaves either the old file or the new one. Formats carry no
timestamps, absolute paths or dict-order drift.
"""

import errno
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from stages.cli import UserError

# A fixed date for zip members: np.savez would stamp the wall clock into every entry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Writes the machine refuses, not the user's input: what to do about each.
FREE_SPACE, FIX_PERMISSIONS = "free some space on its disk", "make its directory writable"
REFUSED_WRITES = {errno.ENOSPC: FREE_SPACE, errno.EDQUOT: FREE_SPACE, errno.EACCES: FIX_PERMISSIONS,
                  errno.EPERM: FIX_PERMISSIONS, errno.EROFS: FIX_PERMISSIONS}
REPLACED = []  # the outputs this process has renamed into place, for the message of a refused write after them


def write_bytes(path, data):
    """Write data beside path and rename it into place; a write the machine refuses (a full disk, no
    permission) ends the stage with one message: the path, what the outputs are now, what to do."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
            REPLACED.append(path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as error:
        if error.errno not in REFUSED_WRITES:
            raise
        outputs = (f"{len(REPLACED)} output(s) written before it are new, the others" if REPLACED else
                   "The outputs are")
        raise UserError(
            f"cannot write {path}: {error.strerror}. {outputs} the last good ones, unchanged (no file is half-written; "
            f"dvc.lock is as before). {REFUSED_WRITES[error.errno].capitalize()}, then run dvc repro again."
        ) from None


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path, frame):
    """A pandas DataFrame as CSV: no index, '\\n' line ends, floats in shortest round-trip form."""
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def save_npz(path, arrays):
    """Like np.savez, but byte-identical for identical arrays (fixed member dates, sorted names)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH), member.getvalue())
    write_bytes(path, buffer.getvalue())


def seed_path(directory, seed, suffix):
    """The file of one seed's output in a model's directory: models/gru/seed_3.npz, metrics/forecast/gru/seed_3.csv."""
    return f"{directory}/seed_{seed}{suffix}"


def keep_only(directory, names):
    """Remove every file in directory but names: what a stage whose outputs persist wrote in an earlier run."""
    for path in Path(directory).iterdir():
        if path.name not in names:
            path.unlink()


def read_seeds(directory, seeds, suffix, reader, stage):
    """One upstream file per seed (see seed_path), read with read_input: {seed: contents}."""
    return {seed: read_input(seed_path(directory, seed, suffix), reader, stage) for seed in seeds}


def read_input(path, reader, stage):
    """Read an upstream output with reader(path); a missing or damaged file names the stage to re-run."""
    try:
        return reader(path)
    except FileNotFoundError:
        raise UserError(f"{path} is missing; re-run the stage that makes it: dvc repro {stage}") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(
            f"{path} cannot be read ({type(error).__name__}: {error}); re-run: dvc repro --force {stage}"
        ) from None


def load_json(path):
    return json.loads(Path(path).read_text())


def load_npz(path):
    """An npz file as a plain dict of arrays (read fully, file closed)."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
