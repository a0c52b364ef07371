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


def test_row_labels_that_wrap_to_three_lines_do_not_run_into_each_other(tmp_path, monkeypatch):
    """A sweep of four fields names its scenarios in three lines of tick label; every chart
    with a row per scenario makes its rows tall enough for them."""
    cfg = parse_config(
        {
            "run": {"n_patients": 6, "days": 3, "seed": 3},
            "sweep": {
                "zip": {
                    "therapy.kind": ["intensive", "conventional", "real_world"],
                    "therapy.delivery": ["mdi", "pump", "mix"],
                    "lifestyle.adherence": [0.95, 0.7, 0.8],
                    "therapy.dose_error_sd": [0.1, 0.2, 0.3],
                }
            },
            "output": {"traced": 2},
        }
    )
    path = tmp_path / "long.zarr"
    sweep.run(cfg, path, quiet=True)
    overlaps, checked = [], []
    save = report._save

    def save_checked(fig, plt, out):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            labels = [t for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
            if any("\n" in t.get_text() for t in labels):
                checked.append(out.name)
            boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.y0)
            overlaps.extend(
                (out.name, round(a.y1 - b.y0, 1)) for a, b in zip(boxes, boxes[1:]) if b.y0 < a.y1
            )
        save(fig, plt, out)

    monkeypatch.setattr(report, "_save", save_checked)
    report.render(path, tmp_path / "r")
    assert overlaps == []
    assert {"forest.png", "severe_events.png", "time_in_ranges.png"} <= set(checked)
