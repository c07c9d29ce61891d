"""A DVC remote, a local directory or S3 (moto's real S3 server on 127.0.0.1): `dvc push` from one
clone and `dvc pull` into a fresh one; and the cheap CI check against it (.ci/status-remote)."""

import re
import subprocess

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.dvc_repo import ci, copy_repo, dvc, git, snapshot, stages_run

# Only our local server sees these; set in the environment, as a user's CI would from its secrets.
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "dvc-remote"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def origin(tiny_project, tmp_path_factory):
    return copy_repo(tiny_project, tmp_path_factory.mktemp("remote") / "origin")


@pytest.fixture(scope="module")
def s3_endpoint():
    """The URL of moto's S3 server on a free port of 127.0.0.1, holding an empty bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["local", "s3"])
def remote(request, origin, tmp_path_factory):
    """origin's default remote `store` committed in .dvc/config and pushed to; the environment it needs."""
    if request.param == "local":
        dvc(origin, "remote", "add", "--default", "--force", "store", str(tmp_path_factory.mktemp("store")))
        env = {}
    else:
        dvc(origin, "remote", "add", "--default", "--force", "store", f"s3://{BUCKET}/store")
        dvc(origin, "remote", "modify", "store", "endpointurl", request.getfixturevalue("s3_endpoint"))
        env = S3_ENV
    git(origin, "commit", "-qam", f"remote: {request.param}")
    dvc(origin, "push", **env)
    return env


@pytest.fixture
def clone(origin, remote, tmp_path):
    """A fresh clone of origin: the remote's configuration, no data."""
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "clone")], check=True)
    return tmp_path / "clone"


def test_a_fresh_clone_pulls_every_output_and_nothing_is_stale(origin, remote, clone):
    dvc(clone, "pull", **remote)
    assert "Data and pipelines are up to date." in dvc(clone, "status").stdout
    assert stages_run(dvc(clone, "repro")) == []
    assert snapshot(clone) == snapshot(origin)


def test_the_check_passes_on_a_fresh_clone_and_downloads_only_the_weights(remote, clone):
    result = ci(clone, "status-remote", **remote)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "remote status passed" in result.stdout
    assert (clone / "models/damped/train/gru/seed_0.npz").exists() and not (clone / "data/damped/windows.npz").exists()


@pytest.mark.parametrize(
    ("path", "old", "new", "stage"),
    [
        # dvc stops at plots, whose inputs are not pulled: "failed to reproduce", exit 255
        ("params.yaml", "dpi: 120", "dpi: 50", "plots@damped"),
        # stages/evaluate.py: evaluate@ and evaluate_tuned@ of each series; dvc stops at the first it meets, at
        # data/<series>/fit.csv (not pulled)
        ("stages/evaluate.py", "Needs no model framework", "Needs no framework", "evaluate"),
    ],
)
def test_the_check_fails_when_a_change_is_committed_without_its_results(remote, clone, path, old, new, stage):
    text = (clone / path).read_text()
    assert old in text
    (clone / path).write_text(text.replace(old, new))
    git(clone, "commit", "-qam", f"change {path}, forget dvc repro")
    result = ci(clone, "status-remote", **remote)
    assert result.returncode == 1
    assert "STALE" in result.stdout and re.search(rf"'{stage}(_tuned)?@\w+'|'{stage}'", result.stdout), result.stdout


def test_the_check_lists_the_outputs_missing_from_the_remote(remote, clone):
    url = dvc(clone, "config", "remote.store.url").stdout.strip()
    dvc(clone, "remote", "modify", "--local", "store", "url", f"{url}-empty")  # a remote nobody pushed to
    result = ci(clone, "status-remote", **remote)
    assert result.returncode == 1
    assert "NOT IN THE REMOTE" in result.stdout
    assert "data/damped/windows.npz" in result.stdout and "models/sunspots/train/gru/" in result.stdout
