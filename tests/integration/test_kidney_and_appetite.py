"""The kidney's glycosuria and appetite's answer to weight lost, inside whole runs (0.7.0;
docs/model.md §1-§2)."""

import numpy as np

from engine.analysis.validate import _config, _fixed_therapy
from engine.model.glycaemia import DAILY_NAMES
from engine.model.slow import APPETITE_KCAL_PER_KG_LOST, GMI_DAYS, KCAL_PER_G_GLUCOSE, TEF

from .test_mechanisms import run as run_population

V = {name: k for k, name in enumerate(DAILY_NAMES)}


def run(cfg, dose_scale=None):
    return run_population(cfg, dose_scale)[0]


def test_appetite_answers_weight_lost_with_100_kcal_a_day_per_kg():
    """Adults eating 20% below their balance: with the feedback each day's intake is the
    habitual one plus 100 kcal per kg below the defended weight (Polidori et al. 2016), and
    they lose well under the weight they lose without it. The defended weight is the start's
    plus the deficit at which appetite replaces the glycosuria of the first two weeks (the
    control the patient lived with)."""
    days = 150
    sections = dict(lifestyle={"energy_surplus": -0.2}, episodes={"illness": False})
    on = run(_config(8, days, 11, **sections))
    off = run(_config(8, days, 11, mechanisms={"appetite_feedback": False}, **sections))
    weight_on = on[V["weight_kg"]]
    urine = on[V["glycosuria_g"]]
    first = np.minimum(np.arange(days), GMI_DAYS - 1)
    habit = (np.cumsum(urine, axis=1) / np.arange(1, days + 1))[:, first]
    per_kg = (1.0 - TEF) * APPETITE_KCAL_PER_KG_LOST  # the extra food's thermic effect spent
    defended = weight_on[:, :1] + KCAL_PER_G_GLUCOSE * habit / per_kg
    extra = APPETITE_KCAL_PER_KG_LOST * np.maximum(defended - weight_on, 0.0)
    assert extra[:, -1].min() > 200.0  # the feedback is acting by the end

    def not_carbohydrate(d, appetite):
        return d[V["intake_kcal"]] - KCAL_PER_G_GLUCOSE * d[V["carbs_g"]] - appetite

    np.testing.assert_allclose(not_carbohydrate(on, extra), not_carbohydrate(off, 0.0), atol=1e-6)
    lost_on = weight_on[:, 0] - weight_on[:, -1]
    lost_off = off[V["weight_kg"]][:, 0] - off[V["weight_kg"]][:, -1]
    assert (lost_off > 4.0).all()
    assert (lost_on < 0.7 * lost_off).all()


def test_the_kidney_caps_glucose_and_loses_the_glucose_filtered_above_tmg():
    """Under-dosed adults (a third of the insulin): the kidney's form spills more glucose than
    UVA/Padova's and holds the highest day means lower. Well dosed, the sharp kidney (0.13.0's)
    and UVA/Padova's agree (below ~300 mg/dL neither loses more than UVA/Padova's splay); the
    splayed kidney of T1D (0.14.0) loses several times more on the same days, and their mean
    glucose is lower."""
    cfg = _fixed_therapy(10, 20, 5)
    off_cfg = _fixed_therapy(10, 20, 5, mechanisms={"kidney_glycosuria": False})
    sharp_cfg = _fixed_therapy(10, 20, 5, mechanisms={"renal_splay": False})
    on, off = run(cfg, dose_scale=0.35), run(off_cfg, dose_scale=0.35)
    assert on[V["glycosuria_g"]].sum() > 1.5 * off[V["glycosuria_g"]].sum()
    assert on[V["glucose_mean"]].max() < off[V["glucose_mean"]].max() - 30.0
    assert on[V["glucose_mean"]].mean() < off[V["glucose_mean"]].mean()
    well_on, well_off, well_sharp = run(cfg), run(off_cfg), run(sharp_cfg)
    assert well_off[V["glucose_mean"]].max() < 250.0
    np.testing.assert_allclose(
        well_sharp[V["glucose_mean"]], well_off[V["glucose_mean"]], rtol=1e-3
    )
    assert well_on[V["glycosuria_g"]].sum() > 3.0 * well_sharp[V["glycosuria_g"]].sum()
    assert well_on[V["glucose_mean"]].mean() < well_sharp[V["glucose_mean"]].mean()
