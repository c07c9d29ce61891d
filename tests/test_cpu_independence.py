"""The same bytes on any x86-64 CPU with AVX2, whatever the environment: the tiny pipeline run natively
by `dvc repro`; then every stage's command again, with OPENBLAS_CORETYPE unset and set, with hostile
numerics settings in the environment, and under qemu-x86_64 emulating a CPU of the other vendor (Debian's
qemu-user, installed here if missing), compared byte for byte with the first run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.debian import installed
from tests.dvc_repo import OUTPUT_DIRS, make_repo, one_series, snapshot

pytestmark = pytest.mark.slow

# Fewer units and epochs, one seed (one training process per stage), one rung of tuning (its three
# candidates still cover both optimizers and both schedules), one series (every model, the hold-out,
# scaling and the baselines' season): an emulated stage runs ~10x slower, each new program compiles in ~15 s.
TINIER = {f"models.{m}.units": 8 for m in ("gru", "lstm", "simple_rnn")} | {"train.epochs": 2, "train.seeds": [3],
                                                                            "tune.rungs": [2]}
# AVX2 without AVX-512, of the vendor this machine is not: with the native run, both vendors' CPUs in one
# emulated run (each takes minutes). The causes found so far were AVX-512 against AVX2 (docs/reproducibility.md).
EMULATED_CPU = {"GenuineIntel": "EPYC-Rome", "AuthenticAMD": "Haswell-v4"}
HOSTILE = {
    "XLA_FLAGS": "--xla_cpu_enable_fast_math=true",
    "JAX_ENABLE_X64": "1",
    "JAX_DEFAULT_MATMUL_PRECISION": "bfloat16",
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "7",
}


def has_avx512():
    return " avx512f " in Path("/proc/cpuinfo").read_text().replace("\n", " ")


def emulated_cpu():
    """The CPU to emulate: of the other vendor than this machine's (Intel's on any other)."""
    vendor = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("vendor_id")), "")
    return EMULATED_CPU.get(vendor, "Haswell-v4")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One JAX compilation cache for the native run and the emulated ones, as a CI cache restored on another
    machine would be."""
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def native(tmp_path_factory, cache):
    """The tiny project, run natively in this environment: every other run must give its bytes. Also the
    JAX programs it compiled, named in the cache."""
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)  # the stages' processes inherit it
    try:
        repo = make_repo(tmp_path_factory.mktemp("native"), TINIER | one_series())
    finally:
        del os.environ["JAX_COMPILATION_CACHE_DIR"]
    return repo, snapshot(repo), set(os.listdir(cache))


# Every stage's command, as `dvc repro --force` would run it, in one Python process: Python starts and
# imports JAX once, not once for each of the ~20 stages (under an emulator, minutes each time).
EVERY_STAGE_IN_ONE_PROCESS = """
import importlib, shlex, sys
for command in sys.argv[1:]:
    _, _, module, *args = shlex.split(command)  # python -m stages.<stage> <args>
    importlib.import_module(module).main(args)
"""


def stage_commands(repo):
    """The commands `dvc repro --force` runs, in its order, without running them."""
    dry_run = subprocess.run([sys.executable, "-m", "dvc", "repro", "--force", "--dry"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout
    return [line[2:] for line in dry_run.splitlines() if line.startswith("> ")]


def run_every_stage(repo, commands, target, env, emulator=()):
    """In a clone of repo with no outputs but its inputs, the stage commands started with env
    (None: unset), under emulator (a command prefix) if given."""
    subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True)
    for directory in OUTPUT_DIRS:  # every output compared is written by this run
        shutil.rmtree(target / directory, ignore_errors=True)
    subprocess.run(["git", "checkout", "-q", "--", "data/raw"], cwd=target, check=True)  # the inputs stay
    environment = {**os.environ, **env}
    for name in [n for n, v in env.items() if v is None]:
        environment.pop(name, None)
    return subprocess.Popen([*emulator, sys.executable, "-c", EVERY_STAGE_IN_ONE_PROCESS, *commands],
                            cwd=target, env=environment, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def bytes_of(process, target):
    output, _ = process.communicate()
    assert process.returncode == 0, output
    return snapshot(target)


def differing(expected, actual):
    assert sorted(actual) == sorted(expected)
    return [path for path in expected if expected[path] != actual[path]]


ENVIRONMENTS = {
    "OPENBLAS_CORETYPE unset": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
    "OPENBLAS_CORETYPE=Haswell, hostile settings": {"OPENBLAS_CORETYPE": "Haswell", **HOSTILE},
    "OPENBLAS_CORETYPE=SkylakeX": {"OPENBLAS_CORETYPE": "SkylakeX"},
}


def skip_reason(name):
    """Why the run in environment name cannot run here or would repeat the native run, or None."""
    if "SkylakeX" in name and not has_avx512():
        return "OpenBLAS' SkylakeX kernels need a CPU with AVX-512"
    if all(os.environ.get(variable) == value for variable, value in ENVIRONMENTS[name].items()):
        return "the native run had this environment already"
    return None


@pytest.fixture(scope="module")
def runs(native, cache, tmp_path_factory):
    """Every run, started at once after the native one: in each environment that makes sense here, and under
    the emulated CPU (minutes; the others finish meanwhile)."""
    repo, _, _ = native
    emulator = installed("qemu-user", "qemu-x86_64")
    commands = stage_commands(repo)
    runs = {}
    cpu = emulated_cpu()
    target = tmp_path_factory.mktemp("emulated") / cpu
    env = {"JAX_COMPILATION_CACHE_DIR": str(cache)}  # the native programs: not to be used here
    runs[cpu] = run_every_stage(repo, commands, target, env, (emulator, "-cpu", cpu)), target
    for name in [name for name in ENVIRONMENTS if skip_reason(name) is None]:
        directory = tmp_path_factory.mktemp("environment")
        env = ENVIRONMENTS[name].copy()  # and the clone's own JAX cache: every program compiled in env
        if "hostile" in name:  # Keras' own settings file, too
            (directory / "keras.json").write_text(json.dumps({"floatx": "float64", "epsilon": 0.1}))
            env["KERAS_HOME"] = str(directory)
        runs[name] = run_every_stage(repo, commands, directory / "run", env), directory / "run"
    yield runs
    for process, _ in runs.values():  # the run of a deselected or failed test
        process.kill()
        process.wait()


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_environment_does_not_change_the_bytes(native, runs, name):
    if skip_reason(name):
        pytest.skip(skip_reason(name))
    _, expected, _ = native
    assert differing(expected, bytes_of(*runs[name])) == []


def test_an_emulated_cpu_gives_the_same_bytes_and_its_own_compiled_programs(native, cache, runs):
    repo, expected, native_programs = native
    assert [c.split()[2] for c in stage_commands(repo)].count("stages.train") == 3  # one per model
    assert differing(expected, bytes_of(*runs[emulated_cpu()])) == [], emulated_cpu()
    # JAX's cache key covers the CPU: the emulated CPU compiled its own programs instead of
    # loading the native ones from the shared cache (a program may use instructions only its CPU has).
    programs = {name.rsplit("-", 2)[0] for name in native_programs}
    assert programs <= {name.rsplit("-", 2)[0] for name in set(os.listdir(cache)) - native_programs}
