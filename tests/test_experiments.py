"""Experiments as docs/experiments.md runs them, on the tiny project with the sunspots alone: a queued
sweep, `make exps`, and the `dvc plots diff` page opened in headless Chromium with the network blocked."""

import csv
import io
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.debian import installed
from tests.dvc_repo import copy_repo, dvc, environment

pytestmark = pytest.mark.slow

RATES = ["0.01", "0.05", "0.1"]
# Root needs --no-sandbox; the rest keeps Chromium from reaching out on its own. Every host
# resolves to nothing and every request goes to a proxy that is not there: no network at all.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
]
# Put first in the page under test: console errors, uncaught errors and rejected promises
# (a failed vegaEmbed) end up in an attribute that --dump-dom shows.
RECORD_ERRORS = """<script>
  const record = (message) => document.documentElement.dataset.errors += message + "\\n";
  document.documentElement.dataset.errors = "";
  const consoleError = console.error;
  console.error = (...args) => { record(args.join(" ")); consoleError(...args); };
  window.addEventListener("error", (event) => record(event.message));
  window.addEventListener("unhandledrejection", (event) => record(String(event.reason)));
</script>"""


@pytest.fixture(scope="module")
def swept(sunspots_project, tmp_path_factory):
    """The tiny project (the sunspots alone) after the three-point sweep of docs/experiments.md, queued and
    run by two workers."""
    repo = copy_repo(sunspots_project, tmp_path_factory.mktemp("sweep") / "project")
    dvc(repo, "exp", "run", "--queue", "-S", f"train.learning_rate={','.join(RATES)}")
    # Not through a pipe: `dvc queue start` leaves a process behind that keeps the pipe open until
    # the workers exit, and a worker that missed the end of the queue may never exit (dvc 3.67.1).
    subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "-j", "2"], cwd=repo, env=environment(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    deadline = time.monotonic() + 900
    while queue_busy(repo):
        assert time.monotonic() < deadline, dvc(repo, "queue", "status", check=False).stdout
        time.sleep(2)
    yield repo
    dvc(repo, "queue", "stop", "--kill")
    kill_processes_in(repo)  # no worker outlives the tests, even one that missed the stop


def queue_busy(repo):
    """Whether tasks are still queued or running. `dvc queue status` now and then fails while a worker writes
    its state ("unexpected error - Expecting value", dvc 3.67.1, seen in CI): that counts as busy."""
    result = dvc(repo, "queue", "status", check=False)
    return result.returncode != 0 or any(state in result.stdout for state in ("Queued", "Running"))


def kill_processes_in(directory):
    """Every process whose working directory is in directory (a queue worker that never exited)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            if cwd == directory or directory in cwd.parents:
                os.kill(int(pid), signal.SIGKILL)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            pass


def experiments(repo):
    """Rows of `dvc exp show --csv` for the experiments (not the workspace or the baseline commit)."""
    rows = csv.DictReader(io.StringIO(dvc(repo, "exp", "show", "--csv").stdout))
    return [row for row in rows if row["typ"] != "baseline" and row["Experiment"] != "workspace"]


def test_a_queued_sweep_runs_every_point_from_git_tracked_files(swept):
    assert "Failed" not in dvc(swept, "queue", "status").stdout
    rows = experiments(swept)
    assert sorted(row["train.learning_rate"] for row in rows) == RATES
    for row in rows:
        assert row["State"] == "Success" and float(row["sunspots.simple_rnn.rmse"]) > 0, row


def test_make_exps_fits_in_120_columns(swept):
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["make", "-s", "exps"], cwd=swept, env={**environment, "COLUMNS": "120"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120 and "…" not in result.stdout, result.stdout
    assert lines[1].split() == ["Experiment", "sunspots.gru.rmse", "sunspots.lstm.rmse", "sunspots.simple_rnn.rmse",
                                "train.learning_rate"]
    assert len(lines) == 3 + 2 + len(RATES) + 1  # rules and header, workspace and baseline, one per point


class PlotDivs(HTMLParser):
    """What was drawn in each plot `<div id=…>` that DVC writes into the page's body."""

    def __init__(self):
        super().__init__()
        self.depth, self.plot, self.drawn, self.errors = 0, None, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.errors = attrs.get("data-errors")
        if tag == "div" and self.plot is None and "id" in attrs:
            self.plot, self.depth = attrs["id"], 0
            self.drawn[self.plot] = []
        if self.plot is not None:
            self.depth += tag == "div"
            if tag in ("svg", "canvas") and "marks" in (attrs.get("class") or ""):
                self.drawn[self.plot].append(tag)

    def handle_endtag(self, tag):
        if self.plot is not None and tag == "div":
            self.depth -= 1
            if self.depth == 0:
                self.plot = None


@pytest.fixture(scope="session")
def chromium():
    """$CHROMIUM, or Debian's Chromium (installed when missing: the tests run as root in CI)."""
    return os.environ.get("CHROMIUM") or installed("chromium", "chromium")


def test_plots_diff_page_draws_every_chart_offline(swept, chromium, tmp_path):
    first, second = (row["Experiment"] for row in experiments(swept)[:2])
    dvc(swept, "plots", "diff", first, second, "-o", str(tmp_path / "plots"))
    page = (tmp_path / "plots/index.html").read_text()
    assert "<script src=" not in page  # every script is inlined
    under_test = tmp_path / "plots/under_test.html"  # beside index.html: the same relative image paths
    under_test.write_text(page.replace("<head>", "<head>\n" + RECORD_ERRORS, 1))
    result = subprocess.run(
        [
            str(chromium),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=30000",  # run the page's scripts and timers to the end first
            "--dump-dom",
            under_test.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    divs = PlotDivs()
    divs.feed(result.stdout)
    assert divs.errors == "", divs.errors
    charts = {plot: drawn for plot, drawn in divs.drawn.items() if not plot.endswith("png")}
    assert len(charts) == 6, divs.drawn  # loss and forecast of each of the 3 models
    assert all(len(drawn) == 1 for drawn in charts.values()), charts
