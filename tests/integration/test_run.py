"""Population runs end to end: the store's contract, determinism whatever the block size and
thread count, and consistency between daily aggregates and traces."""

import numpy as np
import pytest

from engine.batch import sweep
from engine.batch.config import parse_config
from engine.model.glycaemia import DAILY_NAMES
from engine.store.results import open_results
from engine.store.storeguard import UnsafeOutput


def _run(cfg, path, **kw):
    sweep.run(cfg, path, quiet=True, **kw)
    return open_results(path)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from engine.batch.config import loads_toml
    from tests.conftest import SMALL_CONFIG

    cfg = parse_config(loads_toml(SMALL_CONFIG))
    path = tmp_path_factory.mktemp("run") / "small.zarr"
    return cfg, _run(cfg, path, workers=2)


def test_store_follows_the_results_contract(small_run):
    cfg, ds = small_run
    assert dict(ds.sizes) == {
        "scenario": 1,
        "patient": 24,
        "day": 3,
        "traced": 3,
        "time": 3 * 288,
        "parameter": 40,
        "mechanism": 8,
    }
    for name in DAILY_NAMES + ("status",):
        assert ds[name].dims == ("scenario", "patient", "day")
    assert ds["log_phi"].dims == ("scenario", "patient", "day", "mechanism")
    assert ds["ir_share"].dims == ("scenario", "patient", "day", "mechanism")
    # the log factors add up to log s_p, and the shares of a material patient-day to one
    np.testing.assert_allclose(
        ds["log_phi"].sum("mechanism"), np.log(ds["si_peripheral"]), rtol=1e-4, atol=1e-5
    )
    share_sum = ds["ir_share"].sum("mechanism", skipna=False).values
    material = np.abs(np.log(ds["si_peripheral"].values)) >= 0.05
    np.testing.assert_allclose(share_sum[material], 1.0, rtol=1e-4)
    assert np.isnan(share_sum[~material]).all()
    for name in ("bg", "cgm", "insulin", "carbs", "si_effective"):
        assert ds[name].dims == ("scenario", "traced", "time") and ds[name].dtype == np.float32
    for name, var in ds.variables.items():
        assert "long_name" in var.attrs, name
        if name in ds.data_vars and ds[name].dtype.kind == "f":
            assert "units" in var.attrs, name
    assert ds.attrs["Conventions"] == "CF-1.10"
    assert ds.attrs["seed"] == "7"
    assert parse_config(__import__("tomllib").loads(ds.attrs["config_toml"])) == cfg
    assert ds.attrs["engine_version"]
    assert list(ds["traced"].values) == [0, 5, 17]
    assert int(ds["completed"].sum()) == 24
    assert (ds["status"] == 0).all()


def test_daily_metrics_are_consistent(small_run):
    _, ds = small_run
    d = ds.isel(scenario=0).load()
    total = d.tbr70 + d.tir + d.tar180
    np.testing.assert_allclose(total, 100.0, rtol=1e-5)
    assert (d.tbr54 <= d.tbr70 + 1e-6).all() and (d.tar250 <= d.tar180 + 1e-6).all()
    np.testing.assert_allclose(d.tdd, d.basal_u + d.bolus_u, rtol=1e-5)
    np.testing.assert_allclose(d.tdd_per_kg, d.tdd / d.weight_kg, rtol=1e-5)
    assert float(d.glucose_mean.min()) > 40 and float(d.glucose_mean.max()) < 400
    # basal is the patient's prescription all day (before any titration, when well and no
    # dose was missed): the steady-state rate u2ss * BW / 6000 U/min x 1440, mis-set by the
    # real_world preset's exp(0.2 z - 0.45) (engine/life/therapy.py misset_factors)
    from engine.batch.translate import behaviour_settings
    from engine.life.behaviour import basal_omission_minute

    cfg = small_run[0]
    assert cfg.therapy.kind == "real_world"
    b = behaviour_settings(cfg)
    seed = np.uint64(cfg.run.seed)
    taken = np.array([basal_omission_minute(seed, int(p), 0, b) < 0 for p in d.patient.values])
    u2ss = d.physiology.sel(parameter="u2ss")
    bw = d.physiology.sel(parameter="BW")
    misset = np.exp(cfg.therapy.dose_error_sd * d.basal_error_z - cfg.therapy.dose_error_bias)
    well = (d.illness.isel(day=0) == 0) & taken
    assert well.sum() > 10
    np.testing.assert_allclose(
        d.basal_u.isel(day=0).where(well, 0),
        (u2ss * bw / 6000 * 1440 * misset).where(well, 0),
        rtol=1e-5,
    )


def test_traces_add_up_to_the_daily_totals(small_run):
    _, ds = small_run
    d = ds.isel(scenario=0).load()
    for pid in d.traced.values:
        per_day_insulin = d.insulin.sel(traced=pid).values.reshape(3, 288).sum(axis=1)
        per_day_carbs = d.carbs.sel(traced=pid).values.reshape(3, 288).sum(axis=1)
        np.testing.assert_allclose(per_day_insulin, d.tdd.sel(patient=pid), rtol=1e-4)
        np.testing.assert_allclose(per_day_carbs, d.carbs_g.sel(patient=pid), rtol=1e-4)
        bg = d.bg.sel(traced=pid).values.reshape(3, 288)
        np.testing.assert_allclose(bg.mean(axis=1), d.glucose_mean.sel(patient=pid), rtol=0.03)
        # a noisy CGM differs from blood glucose, but by a few mg/dL, not tens
        err = d.cgm.sel(traced=pid) - d.bg.sel(traced=pid)
        assert 0.5 < float(np.abs(err).mean()) < 25


@pytest.mark.parametrize("block_size,workers", [(1, 1), (5, 2), (24, 1)])
def test_results_are_bit_identical_whatever_the_block_size_and_threads(
    small_run, tmp_path, block_size, workers
):
    cfg, ref = small_run
    cfg2 = cfg.model_copy(deep=True)
    cfg2.execution.block_size = block_size
    ds = _run(cfg2, tmp_path / "b.zarr", workers=workers)
    for name in DAILY_NAMES + ("status", "bg", "cgm", "insulin", "carbs"):
        assert np.array_equal(ds[name].values, ref[name].values, equal_nan=True), name


def test_same_seed_same_results_other_seed_other_results(small_run, tmp_path):
    cfg, ref = small_run
    again = _run(cfg, tmp_path / "again.zarr")
    assert np.array_equal(again.glucose_mean.values, ref.glucose_mean.values)
    other = cfg.model_copy(deep=True)
    other.run.seed = 8
    ds = _run(other, tmp_path / "other.zarr")
    assert not np.array_equal(ds.glucose_mean.values, ref.glucose_mean.values)


def test_noise_free_sensor_reads_blood_glucose(tmp_path):
    cfg = parse_config(
        {"run": {"n_patients": 3, "days": 1}, "sensor": {"kind": "none"}, "output": {"traced": 3}}
    )
    ds = _run(cfg, tmp_path / "nf.zarr")
    np.testing.assert_array_equal(ds.cgm.values, ds.bg.values)


def test_existing_output_is_refused(tmp_path):
    cfg = parse_config({"run": {"n_patients": 2, "days": 1}})
    path = tmp_path / "x.zarr"
    path.mkdir()
    (path / "precious.txt").write_text("keep me")
    with pytest.raises(UnsafeOutput, match="is not a t1dmc store: it holds precious.txt"):
        sweep.run(cfg, path, quiet=True)
    with pytest.raises(UnsafeOutput, match="is not a t1dmc store: it holds precious.txt"):
        sweep.run(cfg, path, quiet=True, overwrite=True)
    assert sorted(p.name for p in path.iterdir()) == ["precious.txt"]
    assert (path / "precious.txt").read_text() == "keep me"


def test_summary_table_reports_population_quantiles(small_run):
    _, ds = small_run
    table = sweep.summary_table(ds)
    assert "TIR 70-180" in table and "TDD per kg" in table and "24 patients x 3 days" in table
    med = float(np.nanmedian(ds.tir.mean("day").values))
    assert f"{med:.2f}" in table
    # the plausibility guards, per scenario: counts of impossible patient-days and stops
    sub = ds.isel(scenario=0)
    stopped = int((sub.status.max("day") != 0).sum())
    over_600 = int((sub.glucose_mean > 600).sum())
    assert f"plausibility: {over_600} patient-days mean glucose > 600 mg/dL" in table
    assert f"; {stopped} patients stopped" in table


def test_day_and_time_are_cf_time_coordinates_kept_as_numbers_by_engine_open(tmp_path):
    import xarray as xr

    cfg = parse_config({"run": {"n_patients": 4, "days": 3}, "output": {"traced": 1}})
    path = tmp_path / "t.zarr"
    ds = _run(cfg, path)  # engine.open_results: numbers, so ds.sel(day=2) works
    assert ds["day"].values.tolist() == [0, 1, 2]
    assert int(ds.sel(day=2)["day"]) == 2
    for name in ("day", "time"):
        attrs = ds[name].attrs
        assert attrs["standard_name"] == "time" and attrs["axis"] == "T"
        assert attrs["units"].endswith("since 2000-01-01 00:00:00")
        assert attrs["calendar"] == "proleptic_gregorian"
    # a CF reader decodes them to dates from the nominal start
    with xr.open_zarr(path) as cf:
        assert cf["day"].values[2] == np.datetime64("2000-01-03")
        assert cf["time"].values[1] == np.datetime64("2000-01-01T00:05")
