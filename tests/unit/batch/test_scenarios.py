import numpy as np
import pytest
import xarray as xr

from engine.batch import sweep
from engine.batch.config import ConfigError, parse_config
from engine.batch.scenarios import cohort_varies, expand


def cfg(sweep_section, **extra):
    return parse_config({"run": {"n_patients": 6, "days": 2}, "sweep": sweep_section, **extra})


def test_grid_times_zip_times_samples():
    sc = expand(
        cfg(
            {
                "grid": {
                    "therapy.target_mg_dl": [120, 140, 160],
                    "sensor.kind": ["none", "johnson_su"],
                },
                "zip": {"meals.0.carbs_g": [30, 60], "meals.0.time_h": [6.5, 8.0]},
                "ranges": {"cohort.jitter_cv": {"low": 0.05, "high": 0.2}},
                "n": 4,
            }
        )
    )
    assert len(sc) == 3 * 2 * 2 * 4
    assert {s.values["therapy.target_mg_dl"] for s in sc} == {120, 140, 160}
    for s in sc:  # zipped fields move together
        assert (s.values["meals.0.carbs_g"], s.values["meals.0.time_h"]) in {(30, 6.5), (60, 8.0)}
        assert s.config.meals[0].carbs_g == s.values["meals.0.carbs_g"]
        assert s.config.therapy.target_mg_dl == s.values["therapy.target_mg_dl"]
    assert len({s.name for s in sc}) == len(sc)


@pytest.mark.parametrize("n", [5, 17])
def test_latin_hypercube_puts_one_point_in_each_stratum(n):
    sc = expand(
        cfg(
            {
                "ranges": {
                    "cohort.jitter_cv": {"low": 0.0, "high": 0.5},
                    "therapy.target_mg_dl": {"low": 100, "high": 180, "integer": True},
                    "meals.1.carbs_g": {"low": 10, "high": 250, "log": True},
                },
                "n": n,
                "method": "lhs",
            }
        )
    )
    u = np.array([s.values["cohort.jitter_cv"] / 0.5 for s in sc])
    assert sorted(np.floor(u * n).astype(int)) == list(range(n))
    logs = np.array([(np.log(s.values["meals.1.carbs_g"]) - np.log(10)) / np.log(25) for s in sc])
    assert sorted(np.floor(logs * n).astype(int)) == list(range(n))
    assert all(isinstance(s.values["therapy.target_mg_dl"], int) for s in sc)
    # the design is a pure function of the seed
    again = expand(
        cfg(
            {
                "ranges": {
                    "cohort.jitter_cv": {"low": 0.0, "high": 0.5},
                    "therapy.target_mg_dl": {"low": 100, "high": 180, "integer": True},
                    "meals.1.carbs_g": {"low": 10, "high": 250, "log": True},
                },
                "n": n,
                "method": "lhs",
            }
        )
    )
    assert [s.values for s in again] == [s.values for s in sc]


def test_random_sampling_stays_in_range():
    sc = expand(
        cfg(
            {
                "ranges": {"therapy.target_mg_dl": {"low": 110, "high": 130}},
                "n": 50,
                "method": "random",
            }
        )
    )
    v = np.array([s.values["therapy.target_mg_dl"] for s in sc])
    assert v.min() >= 110 and v.max() <= 130 and v.std() > 3


@pytest.mark.parametrize(
    "section,needle",
    [
        ({"grid": {"run.days": [1, 2]}}, "run.days cannot be swept"),
        ({"grid": {"output.traced": [1]}}, "output.traced cannot be swept"),
        (
            {"grid": {"therapy.targt": [1]}},
            "therapy.targt: no field 'targt'; allowed here: kind, delivery, target_mg_dl",
        ),
        ({"grid": {"meals.7.carbs_g": [1]}}, "meals.7.carbs_g: '7' is not an index"),
        (
            {"grid": {"therapy.target_mg_dl": [140, 1000]}},
            "scenario 1 (therapy.target_mg_dl = 1000)",
        ),
        ({"zip": {"meals.0.carbs_g": [1, 2], "meals.0.time_h": [7]}}, "zip lists differ in length"),
        ({"ranges": {"cohort.jitter_cv": {"low": 0.3, "high": 0.1}}, "n": 2}, "must exceed low"),
        ({"ranges": {"cohort.jitter_cv": {"low": 0.1, "high": 0.3}}}, "set n"),
        ({"grid": {"therapy.kind": []}}, "sweep.grid.therapy.kind = []: give at least one value"),
        ({"zip": {"therapy.kind": []}}, "sweep.zip.therapy.kind = []: give at least one value"),
        (
            {"ranges": {"therapy.titrate_days": {"low": 3, "high": 10}}, "n": 2},
            "(sweep.ranges.therapy.titrate_days samples real numbers; a whole-number field "
            "needs integer = true)",
        ),
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(section, needle):
    with pytest.raises(ConfigError, match=None) as err:
        expand(cfg(section))
    assert needle in str(err.value)


def test_common_random_numbers_pair_the_scenarios(tmp_path):
    c = cfg({"grid": {"therapy.target_mg_dl": [110, 180]}}, output={"traced": [0, 1]})
    assert not cohort_varies(c)
    sweep.run(c, tmp_path / "crn.zarr", quiet=True)
    ds = xr.open_zarr(tmp_path / "crn.zarr")
    assert list(ds["therapy.target_mg_dl"].values) == [110, 180]
    assert ds.group.dims == ("patient",)
    # same meals in both scenarios (rescue carbohydrate follows glucose), different insulin
    meals = ds.carbs_g - ds.rescue_carbs_g
    np.testing.assert_allclose(meals.isel(scenario=0), meals.isel(scenario=1), rtol=1e-5)
    assert not np.array_equal(ds.tdd.isel(scenario=0), ds.tdd.isel(scenario=1))

    d = cfg({"grid": {"therapy.target_mg_dl": [110, 180]}, "common_random_numbers": False})
    assert cohort_varies(d)
    sweep.run(d, tmp_path / "indep.zarr", quiet=True)
    ds2 = xr.open_zarr(tmp_path / "indep.zarr")
    assert ds2.group.dims == ("scenario", "patient")
    assert not np.array_equal(ds2.carbs_g.isel(scenario=0), ds2.carbs_g.isel(scenario=1))
    assert len(set(ds2.attrs["scenario_seeds"])) == 2


def test_a_swept_cohort_field_gives_per_scenario_patients(tmp_path):
    c = cfg({"grid": {"cohort.groups": [{"adult": 1.0}, {"child": 1.0}]}})
    sweep.run(c, tmp_path / "groups.zarr", quiet=True)
    ds = xr.open_zarr(tmp_path / "groups.zarr")
    assert set(ds.group.isel(scenario=0).values) == {"adult"}
    assert set(ds.group.isel(scenario=1).values) == {"child"}


def test_a_swept_kidney_switch_stores_each_scenarios_kidney_rates(tmp_path):
    """mechanisms.kidney_glycosuria acts when the patients are drawn (their gfr and tmg), so
    a sweep over it stores each scenario's physiology."""
    c = cfg({"grid": {"mechanisms.kidney_glycosuria": [True, False]}})
    sweep.run(c, tmp_path / "kidney.zarr", quiet=True)
    ds = xr.open_zarr(tmp_path / "kidney.zarr")
    gfr = ds.physiology.sel(parameter="gfr")
    assert (gfr.isel(scenario=0) > 0).all() and (gfr.isel(scenario=1) == 0).all()


def test_scenario_names_tell_apart_fields_that_end_alike():
    """Each field by the shortest end of its path no other swept field shares."""
    sc = expand(
        cfg(
            {
                "grid": {
                    "therapy.kind": ["intensive", "conventional"],
                    "sensor.kind": ["none", "johnson_su"],
                    "therapy.target_mg_dl": [120],
                }
            }
        )
    )
    assert sc[0].name == "therapy.kind=intensive, sensor.kind=none, target_mg_dl=120"
    assert len({s.name for s in sc}) == 4
    one = expand(cfg({"grid": {"therapy.kind": ["intensive", "conventional"]}}))
    assert [s.name for s in one] == ["kind=intensive", "kind=conventional"]
