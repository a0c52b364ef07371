import numpy as np
import pytest

from engine.batch.config import parse_config
from engine.batch.translate import therapy_settings
from engine.life import therapy
from engine.life.therapy import TH


def th(**kw):
    return therapy_settings(parse_config({"therapy": kw}))


def test_bolus_calculator_counts_carbs_corrects_above_target_less_insulin_on_board():
    t = th(kind="intensive", delivery="pump")
    assert therapy.meal_bolus_u(60.0, 110.0, 0.0, 10.0, 50.0, 1.0, t) == pytest.approx(6.0)
    # correction (250 - 110)/50 = 2.8 U less 1 U on board
    assert therapy.meal_bolus_u(60.0, 250.0, 1.0, 10.0, 50.0, 1.0, t) == pytest.approx(7.8)
    # insulin on board never cancels the carbohydrate part
    assert therapy.meal_bolus_u(60.0, 250.0, 9.0, 10.0, 50.0, 1.0, t) == pytest.approx(6.0)
    # pens deliver half units
    mdi = th(kind="intensive", delivery="mdi")
    assert therapy.meal_bolus_u(57.0, 110.0, 0.0, 10.0, 50.0, 1.0, mdi) == pytest.approx(5.5)


def test_simglucose_rule_is_kept_for_side_by_side_runs():
    t = th(kind="simglucose_basal_bolus")
    assert therapy.meal_bolus_u(45.0, 200.0, 3.0, 10.0, 40.0, 2.0, t) == pytest.approx(
        4.5 + 60 / 40
    )
    assert therapy.meal_bolus_u(45.0, 149.0, 0.0, 10.0, 40.0, 1.0, t) == pytest.approx(4.5)


def _acc(fasting, mean, below_pct):
    acc = np.zeros(therapy.N_TITRATION_ACC)
    acc[therapy.TA.fasting_sum], acc[therapy.TA.fasting_n] = fasting * 840, 840
    acc[therapy.TA.sum], acc[therapy.TA.n] = mean * 10080, 10080
    acc[therapy.TA.below70] = below_pct / 100 * 10080
    return acc


def test_titration_moves_toward_targets_within_caps():
    t = th(kind="intensive", step=0.1, cap_high=1.5)
    basal, bolus = therapy.titrate(1.0, 1.0, _acc(200.0, 220.0, 0.0), t)
    assert basal == pytest.approx(1.1) and bolus == pytest.approx(1.1)
    basal, bolus = therapy.titrate(1.0, 1.0, _acc(200.0, 220.0, 8.0), t)  # hypos first
    assert basal == pytest.approx(0.9) and bolus == pytest.approx(0.9)
    b = 1.0
    for _ in range(20):
        b, _ = therapy.titrate(b, 1.0, _acc(250.0, 150.0, 0.0), t)
    assert b == pytest.approx(1.5)
    assert therapy.titrate(1.0, 1.0, _acc(120.0, 150.0, 1.0), t) == (1.0, 1.0)


def test_ratios_from_total_daily_dose_rules():
    # basal 20 U/day -> TDD 40 U -> CR 500/40 = 12.5 g/U, CF 1800/40 = 45 mg/dL/U
    assert therapy.ratios_from_tdd(20.0) == pytest.approx((12.5, 45.0))
    t = th(kind="intensive", ratios="tdd_rules")
    assert t[TH.ratios_from_tdd] == 1.0 and th(kind="intensive")[TH.ratios_from_tdd] == 0.0


def test_tdd_rule_ratios_change_the_boluses_of_a_run():
    from engine.analysis.validate import _config, _run
    from engine.batch.sweep import cohort_of, kernel_inputs
    from engine.model.glycaemia import DAILY_NAMES

    out = {}
    for ratios in ("reference", "tdd_rules"):
        cfg = _config(6, 2, 9, therapy={"kind": "intensive", "ratios": ratios})
        ki = kernel_inputs(cfg)
        out[ratios] = _run(ki, cohort_of(ki, np.arange(6)))[0]
    bolus = DAILY_NAMES.index("bolus_u")
    basal = DAILY_NAMES.index("basal_u")
    np.testing.assert_array_equal(out["reference"][basal, :, 0], out["tdd_rules"][basal, :, 0])
    assert not np.array_equal(out["reference"][bolus], out["tdd_rules"][bolus])
