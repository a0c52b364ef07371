import json

import numpy as np
import pytest
import xarray as xr

from engine.analysis.compare import compare, format_table
from engine.analysis.stats import t975
from engine.batch import sweep
from engine.batch.config import parse_config
from engine.cli import main


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "sweep.zarr"
    cfg = parse_config(
        {
            "run": {"n_patients": 30, "days": 4, "seed": 3},
            "sweep": {"grid": {"therapy.target_mg_dl": [140, 100, 180]}},
        }
    )
    sweep.run(cfg, path, quiet=True)
    return path


def test_paired_differences_match_a_direct_computation(sweep_store):
    ds = xr.open_zarr(sweep_store)
    cmp = compare(ds, baseline=0, window=2)
    assert cmp.attrs["method"] == "paired" and cmp.attrs["first_day"] == 2
    per = ds.tdd_per_kg.isel(day=slice(2, 4)).mean("day").values
    d = per[1] - per[0]
    j = list(cmp.outcome.values).index("tdd_per_kg")
    assert cmp.difference.values[1, j] == pytest.approx(d.mean())
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert cmp.ci_high.values[1, j] - cmp.ci_low.values[1, j] == pytest.approx(
        2 * t975(d.size - 1) * se, rel=1e-6
    )
    assert cmp.attrs["interval"] == "95%, Student t" and d.size == 30
    # the baseline against itself: exactly zero
    assert np.all(cmp.difference.values[0] == 0)
    # a lower correction target gives more insulin, a higher one less (the sign is physiology)
    assert cmp.difference.values[1, j] > 0 > cmp.difference.values[2, j]


def test_compare_command_table_json_and_baseline_by_name(sweep_store, tmp_path, capsys):
    assert main(["compare", str(sweep_store)]) == 0
    out = capsys.readouterr().out
    assert "differences from scenario 0 (target_mg_dl=140)" in out and "TDD per kg" in out
    assert (
        main(
            [
                "compare",
                str(sweep_store),
                "--baseline",
                "target_mg_dl=100",
                "--json",
                "--day",
                "1",
                "-o",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == 1 and data["last_day"] == 1
    assert json.loads((tmp_path / "c.json").read_text()) == data
    assert main(["compare", str(sweep_store), "--baseline", "7"]) == 2
    assert "out of range 0..2" in capsys.readouterr().err
    assert main(["compare", str(sweep_store), "--day", "9"]) == 2
    assert main(["compare", str(tmp_path / "missing.zarr")]) == 2


def test_a_swept_seed_is_compared_unpaired(tmp_path):
    """Another run.seed draws other people (docs/results.md): those scenarios are compared
    unpaired (Welch), the ones with the baseline's seed still paired."""
    path = tmp_path / "seeds.zarr"
    cfg = parse_config(
        {
            "run": {"n_patients": 12, "days": 1, "seed": 1},
            "sweep": {"grid": {"run.seed": [1, 2], "therapy.target_mg_dl": [140, 110]}},
        }
    )
    sweep.run(cfg, path, quiet=True)
    ds = xr.open_zarr(path)
    seeds = list(ds.attrs["scenario_seeds"])
    cmp = compare(ds, baseline=0, window=1)
    assert list(cmp.paired.values) == [seeds[s] == seeds[0] for s in range(4)]
    assert cmp.attrs["method"] == "paired where the seed is the baseline's, else unpaired"
    j = list(cmp.outcome.values).index("tir")
    per = ds.tir.isel(day=0).values.astype(np.float64)
    other = next(s for s in range(4) if seeds[s] != seeds[0])
    x, y = per[other], per[0]
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = (cmp.ci_high.values[other, j] - cmp.ci_low.values[other, j]) / 2
    assert half == pytest.approx(t975(df) * np.sqrt(vx + vy), rel=1e-6)
    table = format_table(cmp)
    assert f"scenario {other}: " in table and "(unpaired: another seed)" in table
    two = ds.isel(scenario=[0, other])
    two.attrs["scenario_seeds"] = [seeds[0], seeds[other]]
    only_seeds = compare(two, baseline=0, window=1)
    assert only_seeds.attrs["method"] == "unpaired"
