"""Named indices into the per-patient parameter rows and the 13-state vector.

Kernels take a 2-D float64 array `params[patient, P_*]` (one contiguous row per patient, which is
what a per-patient time loop reads) and a state vector `x[X_*]`. Names follow simglucose's
`vpatient_params.csv` so every value can be traced to the reference table.
"""

# --- the 13 states of UVA/Padova S2008, simglucose's order and units --------------------------
X_QSTO1 = 0   # solid stomach, mg
X_QSTO2 = 1   # liquid stomach, mg
X_QGUT = 2    # gut, mg
X_GP = 3      # plasma glucose, mg/kg
X_GT = 4      # tissue glucose, mg/kg
X_IP = 5      # plasma insulin, pmol/kg
X_X = 6       # remote insulin action, pmol/L
X_I1 = 7      # delayed insulin, pmol/L
X_ID = 8      # delayed insulin (liver), pmol/L
X_IL = 9      # liver insulin, pmol/kg
X_ISC1 = 10   # subcutaneous insulin 1, pmol/kg
X_ISC2 = 11   # subcutaneous insulin 2, pmol/kg
X_GS = 12     # subcutaneous glucose, mg/kg
N_STATES = 13

STATE_NAMES = ("Qsto1", "Qsto2", "Qgut", "Gp", "Gt", "Ip", "X", "I1", "Id", "Il",
               "Isc1", "Isc2", "Gs")
STATE_UNITS = ("mg", "mg", "mg", "mg/kg", "mg/kg", "pmol/kg", "pmol/L", "pmol/L", "pmol/L",
               "pmol/kg", "pmol/kg", "pmol/kg", "mg/kg")
STATE_LONG_NAMES = ("solid glucose in stomach", "liquid glucose in stomach", "glucose in gut",
                    "plasma glucose mass", "tissue glucose mass", "plasma insulin mass",
                    "remote insulin action", "delayed insulin signal 1",
                    "delayed insulin signal (liver)", "liver insulin mass",
                    "subcutaneous insulin compartment 1", "subcutaneous insulin compartment 2",
                    "subcutaneous glucose mass")

# --- per-patient parameters ---------------------------------------------------------------------
PARAM_NAMES = (
    "BW", "kabs", "kmax", "kmin", "b", "d", "Vg", "Vi", "Vmx", "Vm0", "Km0", "k1", "k2",
    "p2u", "m1", "m2", "m4", "m30", "ki", "kp1", "kp2", "kp3", "f", "ke1", "ke2", "Fsnc",
    "kd", "ksc", "ka1", "ka2", "Ib", "Gb", "EGPb", "u2ss", "CR", "CF",
)
PARAM_UNITS = {
    "BW": "kg", "kabs": "1/min", "kmax": "1/min", "kmin": "1/min", "b": "1", "d": "1",
    "Vg": "dL/kg", "Vi": "L/kg", "Vmx": "mg/kg/min per pmol/L", "Vm0": "mg/kg/min",
    "Km0": "mg/kg", "k1": "1/min", "k2": "1/min", "p2u": "1/min", "m1": "1/min", "m2": "1/min",
    "m4": "1/min", "m30": "1/min", "ki": "1/min", "kp1": "mg/kg/min", "kp2": "1/min",
    "kp3": "mg/kg/min per pmol/L", "f": "1", "ke1": "1/min", "ke2": "mg/kg", "Fsnc": "mg/kg/min",
    "kd": "1/min", "ksc": "1/min", "ka1": "1/min", "ka2": "1/min", "Ib": "pmol/L",
    "Gb": "mg/dL", "EGPb": "mg/kg/min", "u2ss": "pmol/kg/min", "CR": "g/U", "CF": "mg/dL/U",
}
N_PARAMS = len(PARAM_NAMES)

# Index constants for the kernels (numba reads module globals as compile-time constants);
# tests/test_params.py checks that P_<NAME> == PARAM_NAMES.index(name) for every name.
P_BW, P_KABS, P_KMAX, P_KMIN, P_B, P_D, P_VG, P_VI, P_VMX, P_VM0, P_KM0, P_K1, P_K2 = range(13)
P_P2U, P_M1, P_M2, P_M4, P_M30, P_KI, P_KP1, P_KP2, P_KP3, P_F, P_KE1, P_KE2 = range(13, 25)
P_FSNC, P_KD, P_KSC, P_KA1, P_KA2, P_IB, P_GB, P_EGPB, P_U2SS, P_CR, P_CF = range(25, 36)

# Insulin units are converted here and nowhere else: 1 U = 6000 pmol (simglucose's factor).
PMOL_PER_U = 6000.0
MG_PER_G = 1000.0

