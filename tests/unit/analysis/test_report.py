import re

import pytest

from engine.analysis import report
from engine.batch import sweep
from engine.batch.config import parse_config
from engine.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    cfg = parse_config(
        {
            "run": {"n_patients": 12, "days": 5, "seed": 3},
            "sweep": {"grid": {"therapy.kind": ["intensive", "conventional"]}},
            "output": {"traced": 3},
        }
    )
    path = tmp_path_factory.mktemp("rep") / "two.zarr"
    sweep.run(cfg, path, quiet=True)
    return path


def test_report_writes_the_page_and_every_figure(store, tmp_path):
    facts = report.render(store, tmp_path / "r")
    for name in report.FIGURES:
        data = (tmp_path / "r" / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
    page = (tmp_path / "r" / "report.html").read_text()
    # self-contained: every figure embedded, no external reference
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(report.FIGURES)
    assert "http" not in page.replace("http-equiv", "")
    for needle in (
        "kind=intensive",
        "kind=conventional",
        "receptor_downregulation",
        "Scenario comparison",
        "Ambulatory glucose profile",
        "[run]",
        "differences from scenario 0",
    ):
        assert needle in page, needle
    assert facts["render_s"] > 0


def test_report_refuses_a_non_empty_folder_and_an_incomplete_store(store, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["report", str(store), "-o", str(out)]) == 2
    assert (out / "keep.txt").read_text() == "mine" and not (out / "report.html").exists()
    import zarr

    g = zarr.open_group(str(store), mode="r+", use_consolidated=False)
    g["completed"][0, 0] = 0
    try:
        with pytest.raises(ValueError, match="incomplete"):
            report.render(store, tmp_path / "r2")
        assert not (tmp_path / "r2").exists()
    finally:
        g["completed"][0, 0] = 1


def test_report_of_something_that_is_not_a_store(tmp_path):
    (tmp_path / "junk").mkdir()
    assert main(["report", str(tmp_path / "junk"), "-o", str(tmp_path / "out")]) == 2
