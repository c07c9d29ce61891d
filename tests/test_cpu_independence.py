"""The same bytes on any x86-64 CPU with AVX2, whatever the environment: the tiny pipeline run
natively, with OPENBLAS_CORETYPE unset and set, with hostile numerics settings in the shell, and
with every stage's code under qemu-x86_64 emulating other CPUs (Debian's qemu-user, installed here
if missing), compared byte for byte with the first run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dvc_repo import OUTPUT_DIRS, make_repo, snapshot

pytestmark = pytest.mark.slow

# Fewer units and epochs, one seed (one training process per stage): an emulated stage runs ~10x slower.
TINIER = {f"models.{m}.units": 8 for m in ("gru", "lstm", "simple_rnn")} | {"train.epochs": 2, "train.seeds": [3]}
EMULATED_CPUS = ("Haswell-v4", "EPYC-Rome")  # Intel and AMD, AVX2 without AVX-512
HOSTILE = {
    "XLA_FLAGS": "--xla_cpu_enable_fast_math=true",
    "JAX_ENABLE_X64": "1",
    "JAX_DEFAULT_MATMUL_PRECISION": "bfloat16",
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "7",
}


def qemu():
    if not shutil.which("qemu-x86_64"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "qemu-user"], check=True, capture_output=True)
    return shutil.which("qemu-x86_64")


def has_avx512():
    return " avx512f " in Path("/proc/cpuinfo").read_text().replace("\n", " ")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One JAX compilation cache for every run, as a CI cache restored on another machine would be."""
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="module")
def native(tmp_path_factory, cache):
    """The tiny project, run natively in this environment: every other run must give its bytes."""
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)  # the stages' processes inherit it
    try:
        repo = make_repo(tmp_path_factory.mktemp("native"), TINIER)
    finally:
        del os.environ["JAX_COMPILATION_CACHE_DIR"]
    return repo, snapshot(repo)


def rerun(source, target, env):
    """In a clone of source, `dvc repro --force` started with env (None: unset)."""
    subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True)
    environment = {**os.environ, **env}
    for name in [n for n, v in env.items() if v is None]:
        environment.pop(name, None)
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force"], cwd=target, env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def finish(process, target):
    output, _ = process.communicate()
    assert process.returncode == 0, output
    assert "Running stage 'train@sunspots-lstm'" in output, output
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
def environment_runs(native, cache, tmp_path_factory):
    """The run in each environment that makes sense here, all started at once: one run alone
    leaves a core idle most of the time (the stages run one after another)."""
    repo, _ = native
    runs = {}
    for name in [name for name in ENVIRONMENTS if skip_reason(name) is None]:
        directory = tmp_path_factory.mktemp("environment")
        env = {**ENVIRONMENTS[name], "JAX_COMPILATION_CACHE_DIR": str(cache)}
        if "hostile" in name:  # Keras' own settings file, too
            (directory / "keras.json").write_text(json.dumps({"floatx": "float64", "epsilon": 0.1}))
            env["KERAS_HOME"] = str(directory)
        runs[name] = rerun(repo, directory / "run", env), directory / "run"
    yield runs
    for process, _ in runs.values():  # the run of a deselected or failed test
        process.kill()
        process.wait()


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_environment_does_not_change_the_bytes(native, environment_runs, name):
    if skip_reason(name):
        pytest.skip(skip_reason(name))
    _, expected = native
    assert differing(expected, finish(*environment_runs[name])) == []


# Every stage's command, as `dvc repro` would run it, in one Python process: the emulated Python starts
# and imports JAX once, not once for each of the ~20 stages.
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


def test_emulated_cpus_give_the_same_bytes_and_their_own_compiled_programs(native, cache, tmp_path):
    repo, expected = native
    emulator = qemu()
    commands = stage_commands(repo)
    assert [c.split()[2] for c in commands].count("stages.train") == 6, commands  # 2 series x 3 models
    before = set(os.listdir(cache))
    runs = {}
    for cpu in EMULATED_CPUS:  # both at once: one per core
        run = tmp_path / cpu
        subprocess.run(["git", "clone", "-q", str(repo), str(run)], check=True)
        for directory in OUTPUT_DIRS:  # every output compared below is written by the emulated run
            shutil.rmtree(run / directory, ignore_errors=True)
        subprocess.run(["git", "checkout", "-q", "--", "data/raw"], cwd=run, check=True)  # the inputs stay
        runs[cpu] = subprocess.Popen(
            [emulator, "-cpu", cpu, sys.executable, "-c", EVERY_STAGE_IN_ONE_PROCESS, *commands], cwd=run,
            env={**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache)}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
    for cpu, process in runs.items():
        output, _ = process.communicate()
        assert process.returncode == 0, output
        assert differing(expected, snapshot(tmp_path / cpu)) == [], cpu
    # JAX's cache key covers the CPU: each emulated CPU compiled its own programs instead of
    # loading the native ones from the shared cache (a program may use instructions only its CPU has).
    programs = {name.rsplit("-", 2)[0] for name in before}
    assert programs <= {name.rsplit("-", 2)[0] for name in set(os.listdir(cache)) - before}
