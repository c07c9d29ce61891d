"""Docs that cannot drift: README.md and docs/*.md against the files they name (fast tier, no DVC run).

- every relative link and #anchor resolves (anchors by GitHub's heading slugs);
- every `make <target>` in code names a target of the Makefile;
- every params key named in code (`train.seeds`, `series.sunspots.holdout`, `-S models.lstm.units=64`)
  exists in params.yaml. `<placeholder>` segments stand for any entry (`models.<model>.units`), a
  series may name the schema's optional keys (`series.<series>.horizon`), and a key with an example
  name, a segment starting with `my_` (`series.my_series.csv`), is an example and not checked;
- every number in the README's result tables is the one metrics/series/<series>/*metrics.json hold, as the report
  formats it (4 significant digits), and every verdict the one the report's rule gives.

Each check returns its problems for a project directory, so each is also shown to catch a broken copy.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stages.params import SERIES_SCHEMA
from stages.report import number, verdicts, yardstick_verdicts

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("signal", "series", "windows", "train", "models", "tune", "evaluate", "plots")
EXAMPLE = re.compile(r"^my_")
PLACEHOLDER = re.compile(r"^<[^>]+>$")
RESULTS_MARK = re.compile(r"^<!-- results: (\S+) .*-->$")
SERIES_KEYS = tuple(SERIES_SCHEMA)  # csv, column and the optional x, holdout, scale, horizon
FILE_TYPES = ("csv", "json", "npz", "png", "md", "py", "yaml", "lock", "ok")  # `windows.npz` is a file, not a key
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def doc_files(root):
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose_and_code(text):
    """(prose lines, inline code spans, fenced code block lines) of a Markdown text."""
    prose, spans, blocks, fenced = [], [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            blocks.append(line)
        else:
            prose.append(line)
            spans += re.findall(r"`([^`]+)`", line)
    return prose, spans, blocks


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"[`*]|<[^>]+>", "", text.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    seen, result = {}, set()
    prose, _, _ = prose_and_code(path.read_text())
    for line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_problems(root):
    problems = []
    for doc in doc_files(root):
        prose, _, _ = prose_and_code(doc.read_text())
        text = re.sub(r"`[^`]*`", "", "\n".join(prose))  # a link inside inline code is no link
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            where = (doc.parent / path).resolve() if path else doc
            name = f"{doc.relative_to(root)}: ({target})"
            if not where.exists():
                problems.append(f"{name}: no file {path}")
            elif anchor and (where.suffix != ".md" or anchor not in anchors(where)):
                problems.append(f"{name}: no heading #{anchor} in {where.relative_to(root)}")
    return problems


def makefile_targets(root):
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", (root / "Makefile").read_text(), re.MULTILINE))


def make_problems(root):
    targets, problems = makefile_targets(root), []
    for doc in doc_files(root):
        _, spans, blocks = prose_and_code(doc.read_text())
        for code in spans + blocks:
            for target in re.findall(r"(?:^|[\s;&|(])make\s+(?:-\S+\s+)*([A-Za-z][\w-]*)\b(?!=)", code):
                if target not in targets:
                    problems.append(f"{doc.relative_to(root)}: `make {target}`: no such target in the Makefile")
    return problems


def params_keys(code):
    """Dotted params keys in a piece of code: a section name, then segments; `-S key=value` too."""
    section = "|".join(SECTIONS)
    pattern = rf"(?<![\w./-])((?:{section})(?:\.(?:<[\w-]+>|[\w*]+))+)(?![\w/(-]|\.\w)"
    return [key for key in re.findall(pattern, code) if not (key.count(".") == 1 and key.split(".")[1] in FILE_TYPES)]


def key_exists(params, key):
    parts = key.split(".")
    return any(EXAMPLE.match(part) for part in parts) or exists(params, parts, [])


def exists(node, parts, above):
    """parts below `above` in node; `<placeholder>` is any entry, `*` at the end any key of a section."""
    if not parts:
        return True
    part, rest = parts[0], parts[1:]
    if not isinstance(node, dict):
        return False
    if len(above) == 2 and above[0] == "series" and part in SERIES_KEYS:  # optional keys have defaults
        return not rest
    if part == "*":
        return not rest
    children = node if PLACEHOLDER.match(part) else [part] if part in node else []
    return any(exists(node[child], rest, above + [child]) for child in children)


def params_problems(root):
    params, problems = yaml.safe_load((root / "params.yaml").read_text()), []
    for doc in doc_files(root):
        _, spans, blocks = prose_and_code(doc.read_text())
        keys = [k for span in spans for k in params_keys(span)]
        keys += [k for line in blocks for k in re.findall(r"-S\s+'?([\w.<>]+)=", line)]
        for key in keys:
            if not key_exists(params, key):
                problems.append(f"{doc.relative_to(root)}: `{key}`: no such key in params.yaml")
    return problems


def results_tables(text):
    """{series: [tables, each a list of rows, each a list of cells]} under each `<!-- results: <series> -->`,
    up to the next heading; a table's first row is its header."""
    tables, series, table = {}, None, None
    for line in text.splitlines():
        match = RESULTS_MARK.match(line.strip())
        if match:
            series, table = match.group(1), None
            tables.setdefault(series, [])
        elif line.startswith("#"):
            series = None
        elif series and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if table is None:
                table = []
                tables[series].append(table)
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                table.append(cells)
        else:
            table = None
    return tables


def score_cell(metrics, name):
    """A model's mean verdict score (the rolling-origin RMSE with a hold-out) and its CI."""
    m, metric = metrics[name], metrics["protocol"]["verdict_metric"]
    return f"{number(m[metric])} [{number(m[metric + '_ci_low'])}, {number(m[metric + '_ci_high'])}]"


def across_origins(origins):
    """The test across origins' p-value (Holm-corrected for a pair), where the series holds values out."""
    if origins is None:
        return ""
    return "; across origins: " + (number(origins.get("p_holm", origins["p_value"])) if origins["usable"] else "unusable")


def verdict_cell(metrics, pair, verdict):
    c = metrics["comparisons"]["_vs_".join(pair)]
    return f"**{verdict[2]}** (p = {number(c['p_holm'])}{across_origins(c.get('origins'))})"


def yardstick_cell(metrics, alpha):
    y = metrics["yardstick"]
    return (f"**{yardstick_verdicts(y, alpha)[2]}**: {y['network']} {number(y['network_score'])} "
            f"[{number(y['network_ci_low'])}, {number(y['network_ci_high'])}], {y['baseline']} "
            f"{number(y['baseline_score'])}{across_origins(y.get('origins'))}")


# The yardstick table's columns: the best network against the best classical baseline.
YARDSTICK = {"at the tutorial's settings": lambda m, t, a: yardstick_cell(m, a),
             "tuned": lambda m, t, a: yardstick_cell(t, a)}
# A results table's columns, by heading: what the cell must be, from (metrics, tuned metrics, verdict texts).
COLUMNS = {
    "at the tutorial's settings, mean [95 % CI]": lambda name, m, t, v: score_cell(m, name),
    "tuned, mean [95 % CI]": lambda name, m, t, v: score_cell(t, name),
    "at the tutorial's settings": lambda pair, m, t, v: verdict_cell(m, pair, v[0][pair]),
    "tuned": lambda pair, m, t, v: verdict_cell(t, pair, v[1][pair]),
}


def result_problems(root):
    params = yaml.safe_load((root / "params.yaml").read_text())
    names, seeds, alpha = list(params["models"]), len(params["train"]["seeds"]), params["evaluate"]["alpha"]
    found, problems = results_tables((root / "README.md").read_text()), []
    for series in params["series"]:
        if series not in found:
            problems.append(f"README.md: no results table of series {series} (<!-- results: {series} -->)")
    for series, tables in found.items():
        where = root / "metrics" / "series" / series
        if series not in params["series"] or not (where / "metrics.json").exists():
            problems.append(f"README.md: results of {series}: no such series in params.yaml or metrics/series")
            continue
        metrics = yaml.safe_load((where / "metrics.json").read_text())[series]  # keyed by the series' name
        tuned = yaml.safe_load((where / "tuned" / "metrics.json").read_text())[series]
        texts = [verdicts(m["comparisons"], names, seeds, alpha) for m in (metrics, tuned)]
        for header, *body in tables:
            if header[0] == "yardstick":
                for row in body:
                    for heading, cell in zip(header[1:], row[1:]):
                        expected = (YARDSTICK[heading](metrics, tuned, alpha) if heading in YARDSTICK
                                    else "(unknown column)")
                        if cell != expected:
                            problems.append(f"README.md: results of {series}, yardstick, {heading!r}: {cell!r}; "
                                            f"metrics/series/{series} gives {expected!r}")
                continue
            if header[0] not in ("model", "pair"):
                problems.append(f"README.md: results of {series}: a table of neither models nor pairs: {header}")
                continue
            for row in body:
                key = row[0] if header[0] == "model" else tuple(row[0].split(" vs "))
                for heading, cell in zip(header[1:], row[1:]):
                    if heading not in COLUMNS:
                        problems.append(f"README.md: results of {series}: unknown column {heading!r}")
                        continue
                    try:
                        expected = COLUMNS[heading](key, metrics, tuned, texts)
                    except KeyError:
                        expected = f"(no {row[0]} in metrics/series/{series})"
                    if cell != expected:
                        problems.append(f"README.md: results of {series}, {row[0]}, {heading!r}: "
                                        f"{cell!r}; metrics/series/{series} gives {expected!r}")
                for cell in row[len(header):]:
                    problems.append(f"README.md: results of {series}, {row[0]}: a cell without a column: {cell!r}")
    return problems


# --- the docs as they are -----------------------------------------------------------------------


def test_links_and_anchors_resolve():
    assert link_problems(ROOT) == []


def test_make_targets_exist():
    assert make_problems(ROOT) == []


def test_params_keys_exist():
    assert params_problems(ROOT) == []


def test_readme_results_match_metrics():
    assert result_problems(ROOT) == []


def test_anchors_follow_github(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n## The gate: `make check`\n```\n# not a heading\n```\n## The tuning's cost\n"
                    "## Series, models & seeds_2\n## Title\n")
    assert anchors(page) == {"title", "the-gate-make-check", "the-tunings-cost", "series-models--seeds_2", "title-1"}


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


# --- each check catches a broken copy -----------------------------------------------------------


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory):
    """The project's tracked files (docs, Makefile, params.yaml, metrics/, plots/, ...) in a temporary directory."""
    copy = tmp_path_factory.mktemp("docs") / "project"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture
def project(clean_copy, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(clean_copy, copy)
    return copy


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_a_broken_link_fails(project):
    assert link_problems(project) == []
    docs = sorted((project / "docs").glob("*.md"))
    edit(project / "README.md", "](docs/", "](docs/missing-")
    edit(docs[0], "\n", "\nSee [the pipeline](pipeline.md#no-such-heading).\n")
    problems = link_problems(project)
    assert any("README.md" in p and "no file docs/missing-" in p for p in problems)
    assert any("no heading #no-such-heading in docs/pipeline.md" in p for p in problems)


def test_an_unknown_make_target_fails(project):
    assert make_problems(project) == []
    edit(project / "README.md", "make test", "make tests")
    assert any("`make tests`" in p for p in make_problems(project))


def test_an_unknown_params_key_fails(project):
    assert params_problems(project) == []
    pipeline = project / "docs" / "pipeline.md"
    keys = "Set `train.epoch` or `series.<series>.holdouts`; `series.my_series.anything` is an example."
    edit(pipeline, "\n", f"\n{keys}\n")
    problems = params_problems(project)
    assert any("`train.epoch`" in p for p in problems)
    assert any("`series.<series>.holdouts`" in p for p in problems)
    assert not any("my_series" in p for p in problems)


def test_an_edited_result_number_fails(project):
    assert result_problems(project) == []
    readme = project / "README.md"
    text = readme.read_text()
    tables = results_tables(text)
    series = next(iter(tables))
    value = NUMBER.search(tables[series][0][1][1]).group()  # the first number of the first model's row
    edited = str(float(value) * 1.01)[: len(value) + 1]
    start = text.index(f"<!-- results: {series}")
    readme.write_text(text[:start] + text[start:].replace(value, edited, 1))
    assert any(f"results of {series}" in p and edited in p for p in result_problems(project))


def test_an_edited_verdict_fails(project):
    readme = project / "README.md"
    text = readme.read_text()
    start = text.index("<!-- results: ")
    verdict = re.compile(r"\*\*(no detectable difference[^*]*|\w+ better than \w+)\*\*")
    match = verdict.search(text, start)
    readme.write_text(text[: match.start()] + "**all the same**" + text[match.end():])
    assert any("**all the same**" in p for p in result_problems(project))
