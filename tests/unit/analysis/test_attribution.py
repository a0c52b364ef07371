"""Attribution that adds up (engine/analysis/attribution.py, engine/store/results.py
with_ir_share): shares as ratios of sums, losses in percentage points."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.analysis import attribution
from engine.model.slow import MECHANISM_NAMES
from engine.store.results import MATERIAL_LOG_SP, with_ir_share

M = len(MECHANISM_NAMES)


def dataset(log_phi: np.ndarray, groups=None) -> xr.Dataset:
    """A results-like dataset from (scenario, patient, day, mechanism) log factors."""
    S, N, D, _ = log_phi.shape
    ds = xr.Dataset(
        {"log_phi": (("scenario", "patient", "day", "mechanism"), log_phi.astype(np.float32))},
        coords={
            "scenario": np.arange(S),
            "patient": np.arange(N),
            "day": np.arange(D),
            "mechanism": list(MECHANISM_NAMES),
            "scenario_name": ("scenario", [f"s{s}" for s in range(S)]),
        },
    )
    if groups is not None:
        ds["group"] = ("patient", np.asarray(groups))
    return ds


log_factors = st.integers(1, 3).flatmap(
    lambda s: st.integers(2, 12).flatmap(
        lambda n: st.integers(1, 4).flatmap(
            lambda d: arrays(
                np.float64,
                (s, n, d, M),
                elements=st.floats(-0.5, 0.25, allow_nan=False, width=32),
            )
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(log_factors)
def test_population_shares_add_up_and_match_the_ratio_of_sums(a):
    ds = dataset(a)
    res = attribution.population_shares(ds, window=a.shape[2])
    a32 = a.astype(np.float32).astype(np.float64)
    per_patient = a32.mean(axis=2)  # (scenario, patient, mechanism)
    for s in range(a.shape[0]):
        mean_k = per_patient[s].mean(axis=0)
        mean_b = mean_k.sum()
        share = res.share.isel(scenario=s).values
        if abs(mean_b) >= MATERIAL_LOG_SP:
            assert bool(res.material.isel(scenario=s))
            np.testing.assert_allclose(share.sum(), 1.0, rtol=1e-9)
            np.testing.assert_allclose(share, mean_k / mean_b, rtol=1e-9, atol=1e-12)
            low, high = res.share_low.isel(scenario=s).values, res.share_high.isel(scenario=s)
            assert np.all(low <= share + 1e-12) and np.all(share <= high.values + 1e-12)
        else:
            assert np.isnan(share).all()
        # the points lost add up to the total, material or not
        np.testing.assert_allclose(
            res.lost_pp.isel(scenario=s).sum(), res.lost_pp_total.isel(scenario=s), rtol=1e-9
        )
        np.testing.assert_allclose(
            res.lost_pp_total.isel(scenario=s), -100.0 * np.expm1(mean_b), rtol=1e-9, atol=1e-12
        )


def test_a_patient_near_the_reference_no_longer_blows_up_the_shares():
    """Issue 18: means of per-patient ratios gave +-13,000% when one patient's log s_p was
    ~1e-5. Patient-day shares are NaN there; the population's stay those of the others."""
    rng = np.random.default_rng(3)
    a = np.zeros((1, 50, 3, M))
    a[..., 0] = rng.uniform(-0.4, -0.2, (1, 50, 3))  # body composition: the main loss
    a[..., 5] = rng.uniform(-0.1, -0.05, (1, 50, 3))
    a[0, 7] = 0.0
    a[0, 7, :, 0], a[0, 7, :, 5] = -0.3, 0.29999  # log s_p of patient 7: -1e-5
    ds = with_ir_share(dataset(a))
    shares = ds.ir_share.values
    assert np.isnan(shares[0, 7]).all()  # not +-30,000
    assert np.isfinite(np.delete(shares[0], 7, axis=0)).all()
    old_way = (a[0, :, -1] / a[0, :, -1].sum(axis=1, keepdims=True)).mean(axis=0)
    assert abs(old_way[0]) > 100  # what the mean of ratios gave
    res = attribution.population_shares(ds, window=3)
    assert np.nansum(res.share) == pytest.approx(1.0)
    assert 0.6 < float(res.share.sel(scenario=0, mechanism=MECHANISM_NAMES[0])) < 1.0
    assert np.all(np.abs(res.share.values) <= 1.0)


def test_shares_by_group_and_within_a_window():
    a = np.zeros((2, 4, 10, M))
    a[:, :2, :, 0] = -0.5  # children: body composition only
    a[:, 2:, :, 1] = -0.2  # adults: the second mechanism only
    a[1, :, 5:, 1] -= 0.3  # scenario 1: from day 5 every patient loses to mechanism 1 too
    ds = dataset(a, groups=["child", "child", "adult", "adult"])
    res = attribution.population_shares(ds, day=4, window=5, by="group")
    assert (res.attrs["first_day"], res.attrs["last_day"]) == (0, 4)
    assert list(res.group.values) == ["adult", "child"]
    np.testing.assert_allclose(res.share.sel(scenario=1, group="child")[:2], [1.0, 0.0])
    late = attribution.population_shares(ds, window=5, by="group")
    np.testing.assert_allclose(late.share.sel(scenario=1, group="child")[:2], [0.625, 0.375])
    np.testing.assert_allclose(
        late.lost_pp_total.sel(scenario=1, group="adult"), 100 * (1 - np.exp(-0.5))
    )
    assert int(late.n.sel(scenario=0, group="adult")) == 2
    with pytest.raises(ValueError, match="day 10"):
        attribution.population_shares(ds, day=10)


def test_shares_over_time_are_ratios_of_sums_per_day():
    a = np.zeros((1, 3, 2, M))
    a[0, :, 0, 0] = [-0.2, -0.4, -0.6]
    a[0, :, 0, 1] = [-0.2, 0.0, 0.0]
    a[0, :, 1, 0] = [0.01, -0.01, 0.0]  # day 1: nothing material
    daily = attribution.shares_over_time(dataset(a)).values
    np.testing.assert_allclose(daily[0, 0, :2], [1.2 / 1.4, 0.2 / 1.4], rtol=1e-6)
    assert np.isnan(daily[0, 1]).all()


def test_old_stores_with_ir_share_only_get_log_phi_back():
    rng = np.random.default_rng(5)
    a = rng.uniform(-0.3, 0.0, (1, 6, 2, M))
    log_sp = a.sum(axis=-1)
    old = xr.Dataset(
        {
            "ir_share": (("scenario", "patient", "day", "mechanism"), a / log_sp[..., None]),
            "si_peripheral": (("scenario", "patient", "day"), np.exp(log_sp)),
        }
    )
    ds = with_ir_share(old)
    np.testing.assert_allclose(ds.log_phi.values, a, rtol=1e-5, atol=1e-7)
