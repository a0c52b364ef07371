"""Named indices into the per-patient parameter rows and the 13-state vector.

Kernels take a 2-D float64 array `params[patient, P.<name>]` (one contiguous row per patient,
which is
what a per-patient time loop reads) and a state vector `x[X.<name>]`. Names follow simglucose's
`vpatient_params.csv` so every value can be traced to the reference table.
"""

from .layout import Quantities, index_family

# --- the 13 states of UVA/Padova S2008, simglucose's order and units --------------------------
STATES = Quantities(
    "State",
    (
        ("Qsto1", "mg", "solid glucose in stomach"),
        ("Qsto2", "mg", "liquid glucose in stomach"),
        ("Qgut", "mg", "glucose in gut"),
        ("Gp", "mg/kg", "plasma glucose mass"),
        ("Gt", "mg/kg", "tissue glucose mass"),
        ("Ip", "pmol/kg", "plasma insulin mass"),
        ("X", "pmol/L", "remote insulin action"),
        ("I1", "pmol/L", "delayed insulin signal 1"),
        ("Id", "pmol/L", "delayed insulin signal (liver)"),
        ("Il", "pmol/kg", "liver insulin mass"),
        ("Isc1", "pmol/kg", "subcutaneous insulin compartment 1"),
        ("Isc2", "pmol/kg", "subcutaneous insulin compartment 2"),
        ("Gs", "mg/kg", "subcutaneous glucose mass"),
    ),
)
X = STATES.index  # x[X.Gp]
STATE_NAMES = STATES.names
STATE_UNITS = STATES.units
STATE_LONG_NAMES = STATES.descriptions
N_STATES = len(STATES)

# --- per-patient parameters ---------------------------------------------------------------------
PARAM_NAMES = (
    "BW",
    "kabs",
    "kmax",
    "kmin",
    "b",
    "d",
    "Vg",
    "Vi",
    "Vmx",
    "Vm0",
    "Km0",
    "k1",
    "k2",
    "p2u",
    "m1",
    "m2",
    "m4",
    "m30",
    "ki",
    "kp1",
    "kp2",
    "kp3",
    "f",
    "ke1",
    "ke2",
    "Fsnc",
    "kd",
    "ksc",
    "ka1",
    "ka2",
    "Ib",
    "Gb",
    "EGPb",
    "u2ss",
    "CR",
    "CF",
    # the kidney's glucose excretion above the reabsorption maximum (fast.renal_excretion);
    # not UVA/Padova's: 0 in the reference patients, which keeps its linear form alone
    "gfr",
    "tmg",
    # the splay of the kidney's titration curve, mg/dL (fast.renal_excretion); 0: a sharp
    # threshold at TmG / GFR (before 0.14.0), and in the reference patients
    "renal_splay",
    # glucose below which insulin-independent uptake falls in proportion to it
    # (fast.insulin_independent_uptake); not UVA/Padova's: 0 in the reference patients
    "g_brain",
)
PARAM_UNITS = {
    "BW": "kg",
    "kabs": "1/min",
    "kmax": "1/min",
    "kmin": "1/min",
    "b": "1",
    "d": "1",
    "Vg": "dL/kg",
    "Vi": "L/kg",
    "Vmx": "mg/kg/min per pmol/L",
    "Vm0": "mg/kg/min",
    "Km0": "mg/kg",
    "k1": "1/min",
    "k2": "1/min",
    "p2u": "1/min",
    "m1": "1/min",
    "m2": "1/min",
    "m4": "1/min",
    "m30": "1/min",
    "ki": "1/min",
    "kp1": "mg/kg/min",
    "kp2": "1/min",
    "kp3": "mg/kg/min per pmol/L",
    "f": "1",
    "ke1": "1/min",
    "ke2": "mg/kg",
    "Fsnc": "mg/kg/min",
    "kd": "1/min",
    "ksc": "1/min",
    "ka1": "1/min",
    "ka2": "1/min",
    "Ib": "pmol/L",
    "Gb": "mg/dL",
    "EGPb": "mg/kg/min",
    "u2ss": "pmol/kg/min",
    "CR": "g/U",
    "CF": "mg/dL/U",
    "gfr": "dL/kg/min",
    "tmg": "mg/kg/min",
    "renal_splay": "mg/dL",
    "g_brain": "mg/dL",
}
N_PARAMS = len(PARAM_NAMES)

# p[P.Vmx]: the index family of the parameter columns (engine/model/layout.py)
P = index_family("Param", PARAM_NAMES)

MINUTES_PER_DAY = 1440
# Insulin units are converted here and nowhere else: 1 U = 6000 pmol (simglucose's factor).
PMOL_PER_U = 6000.0
MG_PER_G = 1000.0
