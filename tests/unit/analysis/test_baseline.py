"""`--baseline` (engine/analysis/compare.py _baseline_index): an index, a whole scenario name,
or the swept values alone; a value that fits several scenarios is refused naming them."""

import numpy as np
import pytest
import xarray as xr

from engine.analysis.compare import _baseline_index


def _store(names, **swept):
    """A dataset shaped as a results store's scenario labels: names, and one coordinate per
    swept field (as engine/store/results.py writes them)."""
    coords = {"scenario_name": ("scenario", np.array(names, dtype=object))}
    for path, values in swept.items():
        coords[path.replace("__", ".")] = (
            "scenario",
            np.array(values, dtype=object if isinstance(values[0], str) else None),
            {"long_name": f"swept config field {path.replace('__', '.')}"},
        )
    return xr.Dataset(coords=coords)


KINDS = _store(["kind=intensive", "kind=conventional"], therapy__kind=["intensive", "conventional"])


@pytest.mark.parametrize(
    "baseline",
    ["conventional", "kind=conventional", "therapy.kind=conventional", " conventional ", 1, "1"],
)
def test_the_swept_value_alone_names_the_scenario(baseline):
    assert _baseline_index(KINDS, baseline) == 1


def test_none_a_whole_name_and_an_index_work_as_before():
    assert _baseline_index(KINDS, None) == 0
    assert _baseline_index(KINDS, "kind=intensive") == 0
    assert _baseline_index(KINDS, 0) == 0
    with pytest.raises(ValueError, match=r"--baseline 5: scenario index out of range 0\.\.1"):
        _baseline_index(KINDS, "5")
    with pytest.raises(ValueError, match="no such scenario; scenarios are 0: kind=intensive"):
        _baseline_index(KINDS, "real_world")
    with pytest.raises(ValueError, match="no such scenario"):
        _baseline_index(KINDS, "sensor.kind=conventional")  # the value, under another field


GRID = _store(
    [
        "kind=intensive, kind=none",
        "kind=intensive, kind=johnson_su",
        "kind=conventional, kind=none",
        "kind=conventional, kind=johnson_su",
    ],
    therapy__kind=["intensive", "intensive", "conventional", "conventional"],
    sensor__kind=["none", "johnson_su", "none", "johnson_su"],
)


def test_a_value_that_fits_several_scenarios_is_refused_naming_them():
    with pytest.raises(ValueError) as err:
        _baseline_index(GRID, "conventional")
    assert str(err.value) == (
        "--baseline 'conventional' is ambiguous: it fits scenarios 2: kind=conventional, "
        "kind=none, 3: kind=conventional, kind=johnson_su; give the index or the whole name"
    )
    with pytest.raises(ValueError, match="ambiguous: it fits scenarios 0: .*, 2: "):
        _baseline_index(GRID, "kind=none")  # the last part names both fields


@pytest.mark.parametrize(
    "baseline",
    [
        "conventional, none",
        "none,conventional",
        "therapy.kind=conventional, sensor.kind=none",
        "kind=conventional, kind=none",
    ],
)
def test_several_values_name_one_scenario(baseline):
    assert _baseline_index(GRID, baseline) == 2


def test_numbers_and_booleans_match_their_values():
    ds = _store(["target_mg_dl=110", "target_mg_dl=140.5"], therapy__target_mg_dl=[110.0, 140.5])
    assert _baseline_index(ds, "140.5") == 1
    assert _baseline_index(ds, "target_mg_dl=110") == 0
    assert _baseline_index(ds, "target_mg_dl=110.0") == 0
    with pytest.raises(ValueError, match="index out of range .* e.g. field=110"):
        _baseline_index(ds, "110")  # a whole number is an index, as documented
    flags = _store(["growth=True", "growth=False"], mechanisms__growth=[True, False])
    assert _baseline_index(flags, "false") == 1
    assert _baseline_index(flags, "growth=true") == 0


def test_a_store_without_swept_coordinates_is_matched_by_its_names():
    ds = _store(["kind=intensive", "kind=conventional"])
    assert _baseline_index(ds, "conventional") == 1
    assert _baseline_index(ds, "kind=intensive") == 0
