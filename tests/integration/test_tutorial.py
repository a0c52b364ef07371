"""The tutorial end to end, as a new user would run it (docs/tutorial.md: every bash and
Python block of sections 1-3 and 5, on a small population), and the example notebook
(docs/tutorial.ipynb) executed in a Jupyter kernel. CI installs the project into a fresh
virtual environment first (.ci/run), so this is the tutorial from a fresh environment."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
# a small population: the commands are the tutorial's, the sizes are not
SMALL = ["--set", "run.n_patients=24", "--set", "run.days=95", "-q"]


def blocks(text: str):
    """(section number, language, code) of each fenced block."""
    section = 0
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        section = int(part.split(".", 1)[0])
        for lang, code in re.findall(r"```(\w+)\n(.*?)```", part, flags=re.S):
            yield section, lang, code


def command_lines(code: str):
    for line in code.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line:
            yield line


def t1dmc(line: str) -> list[str]:
    args = shlex.split(line)
    assert args[0] == "t1dmc", line
    argv = [sys.executable, "-m", "engine.cli", *args[1:]]
    if args[1] == "run":
        argv += SMALL
    return argv


def test_every_command_of_the_tutorial_runs(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    ran = []
    for section, lang, code in blocks(TUTORIAL.read_text()):
        if section in (4, 6, 7):  # a cluster (tests/integration/test_cluster*), validate (its
            continue  # own tests, minutes), the notebook (below)
        if lang == "bash":
            for line in command_lines(code):
                if line.startswith("python3 -m venv"):
                    # the install: CI has just done it in a fresh environment; a t1dmc command
                    # after it on the line is the tutorial's
                    if "&& t1dmc " not in line:
                        continue
                    line = line[line.index("t1dmc ") :]
                if line.startswith("cp "):
                    _, src, dst = shlex.split(line)
                    shutil.copy(tmp_path / src, tmp_path / dst)
                    continue
                proc = subprocess.run(
                    t1dmc(line), cwd=tmp_path, env=env, capture_output=True, text=True
                )
                assert proc.returncode == 0, (line, proc.stdout[-2000:], proc.stderr[-2000:])
                ran.append(line)
        elif lang == "python":
            monkeypatch.chdir(tmp_path)
            exec(compile(code, f"tutorial section {section}", "exec"), {})
            ran.append(f"python block of section {section}")
    assert any(r.startswith("t1dmc run configs/quickstart.toml") for r in ran)
    assert any(r.startswith("t1dmc compare") for r in ran)
    assert any(r.startswith("t1dmc report") for r in ran)
    assert "python block of section 2" in ran
    page = tmp_path / "mystudy-report" / "report.html"
    assert page.stat().st_size > 10_000


def test_the_example_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, if any cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "glucotoxicity" in text and "paired" in text
