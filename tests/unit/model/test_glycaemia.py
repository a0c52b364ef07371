"""The glycaemic indices written once in engine/model/glycaemia.py: ADAG both ways, GMI, eGDR,
and the blood glucose risk behind LBGI/HBGI, against their published formulas and an
independent computation from a run's CGM trace."""

import math

import numpy as np
import pytest

from engine.model import glycaemia as g
from engine.model.glycaemia import N_ACC, A, D


def kovatchev_risk(bg):
    """Kovatchev et al. 1997, written out independently of the engine."""
    f = 1.509 * (np.log(bg) ** 1.084 - 5.381)
    r = 10.0 * f * f
    return np.where(f < 0, r, 0.0), np.where(f > 0, r, 0.0)


def test_adag_round_trips_and_matches_nathan_2008():
    assert g.eag_from_hba1c(7.0) == pytest.approx(154.2)  # Nathan et al. 2008, table 1
    for a1c in (5.0, 7.0, 9.5, 12.0):
        assert g.hba1c_from_eag(g.eag_from_hba1c(a1c)) == pytest.approx(a1c, rel=1e-14)


def test_gmi_and_egdr_formulas():
    assert g.gmi_from_mean(154.0) == pytest.approx(3.31 + 0.02392 * 154.0)
    assert g.egdr(90.0, 1.0, 8.0) == pytest.approx(21.158 - 0.09 * 90 - 3.407 - 0.551 * 8)


@pytest.mark.parametrize("bg", [20.0, 39.0, 54.0, 70.0, 112.5, 180.0, 250.0, 400.0, 600.0])
def test_cgm_risk_accumulates_kovatchevs_low_and_high_risk(bg):
    acc = np.zeros((1, N_ACC))
    g.accumulate_cgm_risk(acc, 0, bg)
    low, high = kovatchev_risk(bg)
    assert acc[0, A.cgm_n] == 1.0
    assert acc[0, A.cgm_low_risk] == pytest.approx(float(low), abs=4e-4)
    assert acc[0, A.cgm_high_risk] == pytest.approx(float(high), abs=4e-4)
    assert (acc[0, A.cgm_low_risk] > 0) == (low > 0) and (acc[0, A.cgm_high_risk] > 0) == (high > 0)


def test_the_risk_tables_stay_within_their_documented_error():
    """The kernel's f(BG) comes from knot tables: its risk is within 4e-4 of the formula from
    20 to 600 mg/dL, 7e-4 above and 3e-4 relative below 20, and exact at every knot."""
    for lo, hi, bound in ((20.0, 600.0, 4e-4), (600.0, 4999.0, 7e-4)):
        bg = np.random.default_rng(1).uniform(lo, hi, 50_000)
        tabled = np.array([10.0 * g.risk_transform(b) ** 2 for b in bg])
        exact = np.array([10.0 * g.risk_transform_exact(b) ** 2 for b in bg])
        assert np.abs(tabled - exact).max() < bound
    low = np.random.default_rng(2).uniform(1.01, 20.0, 20_000)
    tabled = np.array([10.0 * g.risk_transform(b) ** 2 for b in low])
    exact = np.array([10.0 * g.risk_transform_exact(b) ** 2 for b in low])
    assert (np.abs(tabled - exact) / exact).max() < 3e-4
    for knot in (1.0, 39.96875, 40.0, 112.5, 599.75, 600.0, 4996.0):
        assert g.risk_transform(knot) == g.risk_transform_exact(knot)


def test_risk_is_zero_at_112_5_and_rises_both_ways():
    low, high = kovatchev_risk(np.array([112.5]))
    assert low[0] + high[0] < 1e-4  # the transformation's centre
    lows = kovatchev_risk(np.array([100.0, 70.0, 50.0, 30.0]))[0]
    highs = kovatchev_risk(np.array([130.0, 180.0, 250.0, 400.0]))[1]
    assert np.all(np.diff(lows) > 0) and np.all(np.diff(highs) > 0)
    # the scale's symmetry: 20 and 600 mg/dL carry about the same risk (~100)
    assert math.isclose(kovatchev_risk(20.0)[0], kovatchev_risk(600.0)[1], rel_tol=0.25)


def test_daily_lbgi_hbgi_equal_the_risk_of_the_days_cgm_readings():
    """A traced patient's 5-minute trace holds every CGM reading (sensor and trace at 5 min,
    both from minute 0): LBGI/HBGI of each day recomputed from it match the kernel's."""
    from engine.batch import sweep
    from engine.batch.config import parse_config

    cfg = parse_config(
        {
            "run": {"n_patients": 6, "days": 3, "seed": 4},
            "sensor": {"kind": "johnson_su"},
            "output": {"traced": list(range(6))},
        }
    )
    ki = sweep.kernel_inputs(cfg)
    assert ki.cgm_interval_min == ki.trace_interval_min == 5
    out = sweep.simulate(ki, sweep.cohort_of(ki, np.arange(6)), np.arange(6), 6)
    per_day = 1440 // 5
    cgm = out.traces[1].astype(np.float64).reshape(6, 3, per_day)  # TRACE.cgm, float32
    low, high = kovatchev_risk(cgm)
    ok = out.status == 0
    assert ok.sum() >= 12
    np.testing.assert_allclose(out.daily[D.lbgi][ok], low.mean(axis=2)[ok], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.daily[D.hbgi][ok], high.mean(axis=2)[ok], rtol=1e-5, atol=1e-6)
    # and they move with time below and above range across patient-days
    assert np.corrcoef(out.daily[D.lbgi][ok], out.daily[D.tbr70][ok])[0, 1] > 0.5
    assert np.corrcoef(out.daily[D.hbgi][ok], out.daily[D.tar180][ok])[0, 1] > 0.5
