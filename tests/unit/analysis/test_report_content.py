"""What `t1dmc report` shows and how it reads the store (engine/analysis/report.py): the
attribution from engine.analysis.attribution, time in ranges that add up, hypoglycaemia and
severe-event rates with Poisson intervals, --day/--window/--units/--baseline, every scenario
named, the same bytes for the same store, and never a (patient x day) array in memory."""

import re

import dask
import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from engine.analysis import attribution, report
from engine.analysis import compare as cmp
from engine.batch import sweep
from engine.batch.config import parse_config
from engine.cli import main

N, DAYS, BLOCK = 24, 10, 6  # 4 blocks of patients: a whole (patient, day) array is visible


def make_store(path, n_scenarios=2, n=N, days=DAYS, block=BLOCK, traced=3):
    targets = [100 + 5 * k for k in range(n_scenarios)]
    cfg = parse_config(
        {
            "run": {"name": "report content", "n_patients": n, "days": days, "seed": 5},
            "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0, "child": 1.0}},
            "sweep": {"grid": {"therapy.target_mg_dl": targets}},
            "output": {"traced": traced},
            "execution": {"block_size": block},
        }
    )
    sweep.run(cfg, path, quiet=True)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("content") / "two.zarr")


@pytest.fixture(scope="module")
def page(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "rep"
    report.render(store, out)
    return (out / "report.html").read_text()


# ----------------------------------------------------------------------------- pure parts


def test_daily_quantiles_match_numpy_within_a_bin():
    rng = np.random.default_rng(0)
    x = rng.lognormal(0.0, 0.5, size=(2, 20_000, 7))
    x[0, :4000, 3] = np.nan  # missing patient-days are skipped
    x[1, :, 6] = np.nan  # a day without any value
    da = xr.DataArray(x, dims=("scenario", "patient", "day")).chunk({"patient": 3000})
    got = report.daily_quantiles(da)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanpercentile(x, [25, 50, 75], axis=1)
    for s in range(2):
        width = (np.nanmax(x[s]) - np.nanmin(x[s])) / report.HIST_BINS
        ok = np.isfinite(want[:, s])
        # a bin's width, plus the gap between neighbouring values (small at 20,000)
        np.testing.assert_allclose(got[:, s][ok], want[:, s][ok], atol=1.5 * width)
        assert np.isnan(got[:, s][~ok]).all()


def test_poisson_intervals_are_exact_and_continuous():
    assert report.poisson_interval(0) == (0.0, pytest.approx(3.6889, abs=1e-4))
    lo, hi = report.poisson_interval(1)
    assert lo == pytest.approx(0.0253, abs=1e-4) and hi == pytest.approx(5.5716, abs=1e-4)
    lo, hi = report.poisson_interval(10)
    assert lo == pytest.approx(4.7954, abs=1e-3) and hi == pytest.approx(18.3904, abs=1e-3)
    for k in (3, 57, 200):  # Garwood: each tail holds 2.5%
        lo, hi = report.poisson_interval(k)
        assert 1 - report._poisson_cdf(k - 1, lo) == pytest.approx(0.025, abs=1e-9)
        assert report._poisson_cdf(k, hi) == pytest.approx(0.025, abs=1e-9)
    exact, byar = report.poisson_interval(200), report.poisson_interval(201)
    assert byar[0] / exact[0] == pytest.approx(1.0, abs=0.01)
    assert byar[1] / exact[1] == pytest.approx(1.0, abs=0.01)


def test_glucose_levels_in_both_units():
    mg, mmol = report.Glucose(False), report.Glucose(True)
    assert mg.band_labels() == ["<54", "54-69", "70-180", "181-250", ">250"]
    assert mmol.band_labels() == ["<3.0", "3.0-3.8", "3.9-10.0", "10.1-13.9", ">13.9"]
    assert mmol.factor == pytest.approx(1 / 18.016)
    assert mmol.fmt("time in range {r70}-{r180} {u}") == "time in range 3.9-10.0 mmol/L"


def test_crowded_figures_keep_the_baseline_and_name_the_rest():
    assert report.shown_scenarios(12, 0) == (list(range(12)), [])
    shown, left = report.shown_scenarios(20, 15)
    assert len(shown) == report.FIGURE_SCENARIOS and 15 in shown
    assert sorted(shown + left) == list(range(20)) and not set(shown) & set(left)


# ----------------------------------------------------------------------------- the page


def test_the_page_has_every_section_with_human_labels(page):
    for needle in (
        "Key outcomes",
        "Time in ranges",
        "&lt;54 mg/dL (%)",
        "181-250 mg/dL (%)",
        "Hypoglycaemia and severe events",
        "per 100 patient-years",
        "What makes patients resistant",
        "sensitivity lost (pp)",
        "receptor downregulation",
        "Scenario comparison",
        "differences from scenario 0",
        "Ambulatory glucose profile",
        "child",
        "adolescent",
        "adult",
    ):
        assert needle in page, needle
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == len(report.FIGURES)
    assert "left out of the figures" not in page  # 2 scenarios: all drawn


def test_delivery_without_a_pump_device_has_no_device_columns(page):
    section = page.split("Insulin delivery and the pump", 1)[1].split("<h2>", 1)[0]
    assert "basal (U/day)" in section and "bolus (U/day)" in section
    for device in ("time in closed loop", "infusion-set failures", "on closed loop"):
        assert device not in section, device


def test_delivery_splits_the_aid_users_of_a_mix(tmp_path):
    cfg = parse_config(
        {
            "run": {"n_patients": 16, "days": 4, "seed": 2},
            "cohort": {"aid_share": 0.18},  # nearly all the pump and CGM users (0.189)
            "therapy": {"controller": "oref"},
            "sweep": {
                "zip": {
                    "therapy.kind": ["real_world", "aid_oref"],
                    "therapy.controller": ["oref", "oref"],  # a preset sets its own
                }
            },
        }
    )
    sweep.run(cfg, tmp_path / "aid.zarr", quiet=True)
    ds = cmp.open_store(tmp_path / "aid.zarr")
    rows = report.delivery_rows(ds, slice(0, 4))
    who = [(label.split(":")[0], w) for label, w, *_ in rows]
    # the mix: everyone, then its AID users and the others; aid_oref: everyone on closed loop
    assert who == [("0", "all"), ("0", "on closed loop"), ("0", "not on closed loop"), ("1", "all")]
    aid = ds.uses_aid
    users = ((aid.isel(scenario=0) if "scenario" in aid.dims else aid) == 1).values
    assert rows[1][2] == users.sum() and rows[2][2] == (~users).sum()
    assert rows[2][3]["closed_loop_pct"][0] == 0.0 and rows[1][3]["closed_loop_pct"][0] > 50.0
    # each group's mean is the mean of its patients' window means
    tdd = ds.tdd.isel(scenario=0).isel(day=slice(0, 4)).astype("f8").mean("day").values
    np.testing.assert_allclose(rows[1][3]["tdd"][0], tdd[users].mean(), rtol=1e-6)  # float32
    page = (
        report.render(tmp_path / "aid.zarr", tmp_path / "r")
        and (tmp_path / "r" / "report.html").read_text()
    )
    section = page.split("Insulin delivery and the pump", 1)[1].split("<h2>", 1)[0]
    for needle in ("on closed loop", "time in closed loop", "controller&#x27;s sensitivity"):
        assert needle in section, needle


def test_delivery_device_columns_are_blank_not_zero_for_a_scenario_without_pumps(tmp_path):
    cfg = parse_config(
        {
            "run": {"n_patients": 6, "days": 2, "seed": 2},
            "sweep": {"zip": {"therapy.kind": ["conventional", "sap"]}},  # pens; a pump
        }
    )
    sweep.run(cfg, tmp_path / "d.zarr", quiet=True)
    ds = cmp.open_store(tmp_path / "d.zarr")
    pens, pump = (st for *_, st in report.delivery_rows(ds, slice(0, 2)))
    assert np.isfinite(pens["tdd"][0]) and np.isfinite(pump["tdd"][0])
    for v in ("suspend_min", "sensor_gap_min", "set_failures"):
        assert np.isnan(pens[v][0]) and np.isfinite(pump[v][0]), v
    table = report.delivery_table(report.delivery_rows(ds, slice(0, 2)))
    pens_row = table.split("<tr>")[2]
    assert "infusion-set failures" in table
    assert pens_row.count('<td class="n">-</td>') == 2, pens_row


def test_attribution_on_the_page_is_the_ratio_of_sums(store, page):
    ds = cmp.open_store(store)
    pop = attribution.population_shares(ds, window=14)
    for s in range(ds.sizes["scenario"]):
        assert f"<b>{float(pop.lost_pp_total[s]):.2f}</b>" in page
        if bool(pop.material[s]):
            np.testing.assert_allclose(float(pop.share[s].sum()), 1.0, rtol=1e-9)
            share = 100 * float(pop.share[s, 0])
            assert f"{share:,.1f} (" in page


def test_time_in_ranges_add_up_and_severe_rates_count_every_patient_day(store):
    ds = cmp.open_store(store)
    groups, group_of = report._group_labels(ds)
    days = cmp.window_days(ds, None, 5)
    rows = report.collect_rows(ds, days, groups, group_of)
    assert {r.group for r in rows} == {"all", *groups}
    for r in rows:
        np.testing.assert_allclose(r.stats["bands"].sum(), 100.0, rtol=1e-9)
        k, py, rate, lo, hi = r.stats["severe:severe_hypo_events"]
        assert py == pytest.approx(r.stats["n"] * DAYS / 365.25)  # nobody stopped
        assert lo <= rate <= hi and (k > 0 or lo == 0.0)
    every = [r for r in rows if r.group == "all"]
    want = ds.tir.isel(day=slice(DAYS - 5, DAYS)).mean("day").median("patient").values
    np.testing.assert_allclose([r.stats["q:tir"][1] for r in every], want, rtol=1e-6)


def test_day_window_units_and_baseline_reach_every_part(store, tmp_path):
    out = tmp_path / "r"
    assert (
        main(
            [
                "report",
                str(store),
                "-o",
                str(out),
                "--day",
                "6",
                "--window",
                "3",
                "--units",
                "mmol",
                "--baseline",
                "1",
            ]
        )
        == 0
    )
    html = (out / "report.html").read_text()
    assert "days 4-6 (day 0 is the first; 3 days)" in html
    name = str(cmp.open_store(store).scenario_name.values[1])
    assert f"differences from scenario 1 ({name}), days 4-6" in html
    assert "3.9-10.0 mmol/L" in html and "mean glucose (mmol/L)" in html
    body = html.split("<h2>Config</h2>")[0]
    assert "mg/dL" not in body
    assert main(["report", str(store), "-o", str(tmp_path / "bad"), "--day", "99"]) == 2
    assert not (tmp_path / "bad").exists()
    assert main(["report", str(store), "-o", str(tmp_path / "bad"), "--window", "0"]) == 2
    assert not (tmp_path / "bad").exists()


def test_the_same_store_gives_the_same_bytes(store, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    report.render(store, a)
    report.render(store, b)
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in a.iterdir():
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


class LargestResult(Callback):
    """Every array a dask task returns, by shape."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def _posttask(self, key, result, dsk, state, id):
        if isinstance(result, np.ndarray):
            self.shapes.append(result.shape)


def test_no_patient_by_day_array_is_ever_loaded(store, tmp_path):
    """Reductions run chunk by chunk: no task returns all N patients with their days."""
    seen = LargestResult()
    with seen, dask.config.set(scheduler="sync"):
        report.render(store, tmp_path / "r")
    assert seen.shapes, "the report read nothing through dask"
    whole = [s for s in seen.shapes if N in s and DAYS in s]
    assert whole == [], whole[:5]


def test_many_scenarios_are_all_in_the_tables_and_the_page_names_those_left_out(tmp_path):
    store = make_store(tmp_path / "many.zarr", n_scenarios=14, n=6, days=3, block=6, traced=1)
    out = tmp_path / "r"
    report.render(store, out, baseline=13)
    html = (out / "report.html").read_text()
    note = re.search(r'<p class="note">(.*?)</p>', html).group(1)
    assert "2 of 14 scenarios are left out of the figures" in note
    names = [str(n) for n in cmp.open_store(store).scenario_name.values]
    # the baseline is drawn; the last two others are left out
    assert f"11: {names[11]}" in note and f"12: {names[12]}" in note and "13:" not in note
    tables = html.split('<p class="note">')[1]
    for k in range(14):
        assert f"{k}: {names[k]}" in tables
    assert html.count("12 of 14 scenarios drawn") == len(report.FIGURES)
