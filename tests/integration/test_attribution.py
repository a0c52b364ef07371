"""Attribution on real runs: under every therapy preset the population shares add up to one
and stay bounded, the points lost add up, and `t1dmc compare`'s rows per mechanism add up to
the change in log sensitivity."""

import numpy as np
import pytest

import engine
from engine.analysis import compare as cmp
from engine.batch.config import THERAPY_PRESETS
from engine.store.results import MATERIAL_LOG_SP

PRESETS = sorted(THERAPY_PRESETS)


@pytest.fixture(scope="module")
def every_preset():
    return engine.run(
        {
            "run": {"name": "attribution", "n_patients": 24, "days": 20, "seed": 11},
            "sweep": {"grid": {"therapy.kind": PRESETS}},
        },
        quiet=True,
        workers=2,
    )


def test_population_shares_add_up_and_stay_bounded_under_every_preset(every_preset):
    for by in (None, "group"):
        att = engine.attribution(every_preset, window=7, by=by)
        share = att.share.values
        material = att.material.values
        assert material.any()
        np.testing.assert_allclose(share.sum(axis=-1)[material], 1.0, rtol=1e-9)
        assert np.isnan(share[~material]).all()
        # bounded: no share beyond +-300% where the population has lost sensitivity at all
        assert np.nanmax(np.abs(share)) < 3.0, np.nanmax(np.abs(share))
        np.testing.assert_allclose(att.lost_pp.sum("mechanism"), att.lost_pp_total, rtol=1e-9)
        assert (np.abs(att.log_sp.values) >= MATERIAL_LOG_SP).tolist() == material.tolist()
    att = engine.attribution(every_preset, window=7)
    assert list(att.scenario_name.values) == [f"kind={k}" for k in PRESETS]
    # the population has lost sensitivity, and the totals agree with s_p itself
    assert (att.lost_pp_total > 0).all()
    log_sp = np.log(every_preset.si_peripheral.isel(day=slice(-7, None)).astype(float))
    np.testing.assert_allclose(att.log_sp, log_sp.mean("day").mean("patient"), rtol=1e-4, atol=1e-5)


def test_compare_rows_per_mechanism_add_up_to_the_change_in_log_sensitivity(every_preset):
    out = cmp.compare(every_preset, baseline=0, window=7)
    lost = [str(o) for o in out.outcome.values if str(o).startswith(cmp.LOST_PREFIX)]
    assert len(lost) == every_preset.sizes["mechanism"]
    sum_lost = out.difference.sel(outcome=lost).sum("outcome")
    log_sp = np.log(every_preset.si_peripheral.isel(day=slice(-7, None)).astype(float))
    per_patient = log_sp.mean("day")
    expected = -100 * (per_patient - per_patient.isel(scenario=0)).mean("patient")
    np.testing.assert_allclose(sum_lost, expected, rtol=1e-3, atol=1e-3)
    assert "s_p lost to body_composition" in cmp.format_table(out)
