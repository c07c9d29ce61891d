"""How far the reproduced results are from the committed ones, and the machine facts that matter.

Called by .ci/reproduce when the bytes of dvc.lock, metrics/ or plots/ differ from HEAD. For each
differing CSV or JSON file under metrics/: the largest relative difference and the largest
distance in float32 ULPs (the models compute in float32); "last bits" when every number is within
TOLERANCE of the committed one (another CPU family or library build rounds differently), "changed"
otherwise. dvc.lock may differ only in the hashes of outputs, never in commands, params or code;
figures follow from the numbers.
Exit status: 0 when differences are only in the last bits on a machine outside the guarantee
(not x86-64 with AVX2), 1 otherwise: on x86-64 with AVX2 the guarantee is the same bytes.
"""

import io
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

TOLERANCE = 1e-4  # relative; well above last-bit noise amplified by training, far below any real change
LIBRARIES = ("jax", "jaxlib", "keras", "numpy", "mpmath", "tensorflow-cpu", "dvc")


def committed(path):
    result = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True)
    return result.stdout if result.returncode == 0 else None


def numbers(data, suffix):
    """The numbers in a CSV file (rows x columns) or a JSON file (one row)."""
    if suffix == ".csv":
        return pd.read_csv(io.BytesIO(data)).to_numpy(dtype=np.float64)

    def walk(node):
        if isinstance(node, dict):
            for key in sorted(node):
                yield from walk(node[key])
        elif isinstance(node, (int, float)):
            yield float(node)

    return np.fromiter(walk(json.loads(data)), dtype=np.float64)[None, :]


def ulp_distance(a, b):
    """Distance in float32 units in the last place (representations ordered as integers)."""
    ints = [np.asarray(x, np.float32).view(np.int32).astype(np.int64) for x in (a, b)]
    ordered = [np.where(i < 0, -(2**31) - i, i) for i in ints]
    return np.abs(ordered[0] - ordered[1])


def compare(old, new):
    """(largest relative difference, largest float32 ULP distance), or None if shapes differ.

    Relative to the largest magnitude in the value's column: a forecast crossing zero would make
    any difference look large against the value itself."""
    if old.shape != new.shape:
        return None
    scale = np.broadcast_to(np.abs(old).max(axis=0), old.shape)
    relative = np.divide(np.abs(old - new), scale, out=np.zeros(old.shape), where=scale > 0)
    return float(relative.max(initial=0)), int(ulp_distance(old, new).max(initial=0))


def lock_inputs(text):
    """Per stage: its command, params and the hashes of deps that no stage writes (code, params.yaml)."""
    stages = yaml.safe_load(text)["stages"]
    written = {out["path"] for stage in stages.values() for out in stage.get("outs", [])}
    return {
        name: (
            stage["cmd"],
            stage.get("params"),
            {dep["path"]: dep.get("md5") for dep in stage.get("deps", []) if dep["path"] not in written},
        )
        for name, stage in stages.items()
    }


def machine():
    flags = set()
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {
        "cpu": model,
        "architecture": platform.machine(),
        "isa": " ".join(f for f in ("avx", "avx2", "fma", "avx512f") if f in flags) or "none of avx, avx2, fma, avx512f",
        "libc": " ".join(platform.libc_ver()),
        "python": platform.python_version(),
        **{name: _version(name) for name in LIBRARIES},
    }


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def verdict(path):
    """"last bits", "changed" or "follows" (a figure), with a line that says why."""
    old, new = committed(path), Path(path).read_bytes() if Path(path).exists() else None
    if old is None or new is None:
        return "changed", "added" if old is None else "removed"
    if path == "dvc.lock":
        same = lock_inputs(old) == lock_inputs(new)
        return ("last bits", "output hashes only") if same else ("changed", "commands, params or code differ")
    if path.endswith((".png", ".md")):
        return "follows", "figure or report (follows from the numbers)"
    found = compare(numbers(old, Path(path).suffix), numbers(new, Path(path).suffix))
    if found is None:
        return "changed", "another number of values"
    relative, ulps = found
    kind = "last bits" if relative <= TOLERANCE else "changed"
    return kind, f"largest relative difference {relative:.2e}, {ulps} float32 ULPs"


def main():
    facts = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    guaranteed = facts["architecture"] == "x86_64" and "avx2" in facts["isa"].split()
    differing = subprocess.run(
        ["git", "diff", "--name-only", "HEAD", "--", "dvc.lock", "metrics", "plots"], capture_output=True, text=True, check=True
    ).stdout.split()
    kinds = set()
    for path in differing:
        kind, why = verdict(path)
        kinds.add(kind)
        print(f"{path}: {why}: {kind}")
    if "changed" in kinds or "last bits" not in kinds:
        print(f"verdict: the results really changed (beyond a relative {TOLERANCE:g}, or not numbers)")
        return 1
    if guaranteed:
        print(
            f"verdict: every number within a relative {TOLERANCE:g}, but this is x86-64 with AVX2, where the "
            "bytes are guaranteed: a library, setting or kernel outside the lock file changed the results"
        )
        return 1
    print(
        f"verdict: last-bit differences only (within a relative {TOLERANCE:g}) on a machine outside the "
        "bit-for-bit guarantee (x86-64 with AVX2): accepted"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
