"""The mechanisms inside whole-population runs: ablation, direction of each effect, and the
vicious cycle of titration, receptor loss and weight gain."""

from dataclasses import replace

import numpy as np
import pytest

from engine.analysis.validate import _config, _fixed_therapy, _run
from engine.batch.sweep import cohort_of, kernel_inputs
from engine.life.therapy import TH
from engine.model.glycaemia import DAILY_NAMES
from engine.model.slow import MECHANISM_NAMES, N_MECH

V = {name: k for k, name in enumerate(DAILY_NAMES)}


def run(cfg, dose_scale=None, all_ok=True):
    inputs = kernel_inputs(cfg)
    if dose_scale is not None:
        t = inputs.therapy.copy()
        t[TH.dose_scale] = dose_scale
        inputs = replace(inputs, therapy=t)
    daily, log_phi, status, _ = _run(inputs, cohort_of(inputs, np.arange(cfg.run.n_patients)))
    if all_ok:
        assert (status == 0).all()
    return daily, log_phi


@pytest.mark.parametrize("name", MECHANISM_NAMES)
def test_a_switched_off_mechanism_contributes_nothing_to_a_run(name):
    cfg = _config(
        12,
        20,
        3,
        mechanisms={name: False},
        cohort={"groups": {"adolescent": 1.0}},
        lifestyle={"sessions_per_week": 4.0},
    )
    daily, log_phi = run(cfg)
    k = MECHANISM_NAMES.index(name)
    assert (log_phi[k] == 0.0).all()
    np.testing.assert_allclose(
        np.log(daily[V["si_peripheral"]]), log_phi.sum(axis=0), rtol=1e-12, atol=1e-12
    )
    assert all(np.abs(log_phi[j]).max() > 0 for j in range(N_MECH) if j != k)


def test_more_insulin_means_fewer_receptors_and_higher_glucose_more_oxidative_stress():
    cfg = _fixed_therapy(12, 10, 4)
    # without rescue carbohydrate a patient may run out of glucose and stop (status 1)
    base, _ = run(cfg, all_ok=False)
    more, _ = run(cfg, dose_scale=1.3, all_ok=False)
    less, _ = run(cfg, dose_scale=0.7, all_ok=False)
    ok = np.isfinite(np.stack([d[V["receptor_density"]] for d in (base, more, less)])).all(
        axis=(0, 2)
    )
    assert ok.sum() >= 6
    last = slice(5, 10)
    rec = lambda d: d[V["receptor_density"]][ok, last].mean()  # noqa: E731
    ros = lambda d: d[V["oxidative_stress"]][ok, last].mean()  # noqa: E731
    glut = lambda d: d[V["glut4_efficiency"]][ok, last].mean()  # noqa: E731
    assert rec(more) < rec(base) < rec(less)
    assert ros(less) > ros(base) and glut(less) < glut(base)


def test_genetic_risk_adds_visceral_fat_and_lowers_sensitivity():
    low = _config(30, 30, 5, genetics={"family_history_prob": 0.0, "polygenic_shift": 0.0})
    high = _config(30, 30, 5, genetics={"family_history_prob": 1.0, "polygenic_shift": 1.5})
    a, _ = run(low)
    b, _ = run(high)
    assert b[V["visceral_fat_kg"]][:, -1].mean() > a[V["visceral_fat_kg"]][:, -1].mean()
    assert b[V["si_peripheral"]][:, -1].mean() < a[V["si_peripheral"]][:, -1].mean()
    assert b[V["tdd_per_kg"]][:, 10:].mean() > a[V["tdd_per_kg"]][:, 10:].mean()


def test_an_exercise_programme_raises_sensitivity():
    base = _config(20, 40, 6, lifestyle={"profile": "sedentary_high_fat"})
    prog = _config(
        20,
        40,
        6,
        lifestyle={"profile": "sedentary_high_fat"},
        behaviour={"programme": {"start_day": 10, "sessions_per_week": 5.0}},
    )
    a, _ = run(base)
    b, _ = run(prog)
    assert b[V["exercise_min"]][:, 10:].mean() > 5 * a[V["exercise_min"]][:, 10:].mean()
    assert b[V["si_peripheral"]][:, 20:].mean() > 1.05 * a[V["si_peripheral"]][:, 20:].mean()


def _vicious_cycle(on):
    """Intensive titration for 3 years, receptor downregulation and weight feedback on or
    off: (change of dose per kg, first month to last quarter; weight change)."""
    cfg = _config(
        16,
        1095,
        7,
        therapy={"kind": "intensive"},
        mechanisms={"receptor_downregulation": on, "weight_feedback": on},
    )
    daily, _ = run(cfg)
    tdd = daily[V["tdd_per_kg"]]
    w = daily[V["weight_kg"]]
    return tdd[:, -90:].mean() - tdd[:, :30].mean(), (w[:, -1] - w[:, 0]).mean()


def test_the_vicious_cycle_emerges():
    """With receptor downregulation and weight feedback on, dose per kg rises more than with
    both off (MODEL.md §2.5)."""
    assert _vicious_cycle(True)[0] > _vicious_cycle(False)[0] + 0.01


@pytest.mark.xfail(
    strict=True,
    reason="issue 17: under intensive therapy (trial behaviour, the advised 15 g per low) the "
    "loop through weight is too weak to show in 16 patients: scripts/dose_weight_loop.py "
    "measures its gain at +0.04 under real_world (1,500 x 730 days), and the dose's whole "
    "effect on s_p (less glucotoxicity) outweighs it (net gain -0.15, 0.11.0)",
)
def test_the_vicious_cycle_gains_weight():
    assert _vicious_cycle(True)[1] > _vicious_cycle(False)[1]


def test_more_insulin_brings_weight_through_less_glycosuria_and_more_eating_for_lows():
    """The insulin-to-weight paths (Carlson & Campbell, Diabetes 42:1700, 1993: ~70% of the
    gain of intensive therapy from glycosuria no longer lost, the rest from lower expenditure;
    DCCT 2001: rescue eating): the same real_world patients with prescriptions mis-set less
    (dose_error_bias 0.45 -> 0.25) take more insulin, lose less glucose in urine, eat more
    for lows and gain weight."""
    out = []
    for bias in (0.45, 0.25):
        cfg = _config(60, 180, 5, therapy={"kind": "real_world", "dose_error_bias": bias})
        daily, _ = run(cfg)
        last = slice(-60, None)
        out.append(
            {
                "tdd": daily[V["tdd"]][:, last].mean(axis=1),
                "weight": daily[V["weight_kg"]][:, -1] - daily[V["weight_kg"]][:, 0],
                "hba1c": daily[V["hba1c"]][:, -1],
                "rescue": daily[V["rescue_carbs_g"]].mean(axis=1),
                "glucose": daily[V["glucose_mean"]][:, last].mean(axis=1),
            }
        )
    less, more = out
    d = {k: more[k] - less[k] for k in less}
    assert d["tdd"].mean() > 0.5  # U/day
    assert d["hba1c"].mean() < -0.15
    assert d["rescue"].mean() > 0.0
    assert d["weight"].mean() > 0.2  # kg in half a year
    # weight per extra unit, of the order the 2-year loop measured (0.54 kg per U/day)
    assert 0.1 < d["weight"].mean() / d["tdd"].mean() < 2.0


def test_finger_stick_users_correct_only_at_the_meals_they_check_and_a_cgm_sees_every_meal():
    """behaviour.meal_check_share (Olinder 2009: about two thirds of meal boluses with a
    glucose check): a CGM user sees every meal's glucose, so the share changes nothing for
    them, bit for bit; finger-stick users who never check give no corrections and run
    higher."""

    def daily(share, cgm_share):
        cfg = _config(
            24,
            60,
            7,
            therapy={"kind": "real_world"},
            cohort={"groups": {"adult": 1.0}, "cgm_share": cgm_share},
            behaviour={"meal_check_share": share},
        )
        return run(cfg)[0]

    np.testing.assert_array_equal(daily(1.0, 1.0), daily(0.0, 1.0))
    checked, unchecked = daily(1.0, 0.0), daily(0.0, 0.0)
    assert unchecked[V["bolus_u"]].mean() < checked[V["bolus_u"]].mean() - 0.3
    assert unchecked[V["glucose_mean"]].mean() > checked[V["glucose_mean"]].mean() + 3.0
