"""An example plug-in controller for t1dmc (docs/controllers.md): a proportional-derivative
correction on top of the programmed basal, with its own sensitivity estimate.

Use it with

    [therapy]
    kind = "sap"                                 # a pump with a CGM ...
    controller = "bang_bang:pd_controller"       # ... driven by this function
    controller_settings = { gain = 1.0 }

with this folder on PYTHONPATH (or the module in an installed package). It is an example of the
interface, not a controller anyone should dose by.
"""

import math

import numba as nb

# index of the settings row and the state vector (engine/life/controllers.py CS): the
# programmed basal, correction factor, target, then the tuning below from CS.p0 on
BASAL_U_PER_H, ISF, TARGET, MAX_BASAL_U_PER_H, P0 = 1, 2, 4, 6, 11
SENSITIVITY = 0  # state[0]: the controller's estimate of insulin need (1 = as programmed)

# (name, default, low, high, description): validated before the run, given in settings[P0 ...]
pd_controller_TUNING = (
    ("gain", 1.0, 0.0, 5.0, "extra basal per correction-factor's worth of glucose above target"),
    ("horizon_min", 30.0, 0.0, 120.0, "minutes the glucose trend is projected ahead"),
)


@nb.njit(cache=True)
def pd_controller(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
    """Basal = programme x (1 + gain x (projected glucose - target) / ISF / (basal x 1 h)),
    no insulin while the projection is below 80 mg/dL, no automatic bolus."""
    n = cgm.shape[0]
    now, before = cgm[n - 1], cgm[n - 4]
    trend = (now - before) / 15.0 if not math.isnan(before) else 0.0
    projected = now + settings[P0 + 1] * trend
    if projected < 80.0:
        return 0.0, 0.0
    basal = settings[BASAL_U_PER_H]
    excess_u = (projected - settings[TARGET]) / settings[ISF]
    rate = min(max(basal + settings[P0] * excess_u, 0.0), settings[MAX_BASAL_U_PER_H])
    # a crude estimate of insulin need: the share of the programme the controller delivers
    # (within the pump's maximum, which the pump would apply anyway)
    state[SENSITIVITY] = rate / basal if basal > 0.0 else math.nan
    return rate, 0.0
