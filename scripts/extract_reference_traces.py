"""Pack the simglucose S1 reference traces (shared/reference/simglucose_S1) into
tests/data/simglucose_S1.npz so the replay test runs from a fresh clone.

Usage: python scripts/extract_reference_traces.py [SHARED_REFERENCE_DIR]
The traces were produced by simglucose 0.2.11 (noise-free Dexcom, Insulet pump, its basal-bolus
controller with target 140, meals 45 g 07:00, 70 g 12:00, 80 g 18:00, one day from midnight).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/reference/simglucose_S1"
names, bg, carbs, insulin = [], [], [], []
for f in sorted(src.glob("S1_*.csv.gz")):
    df = pd.read_csv(f)
    stem = f.name.removeprefix("S1_").removesuffix(".csv.gz")
    group = stem.rstrip("0123456789")
    names.append(f"{group}#{stem[len(group) :]}")
    bg.append(df["BG"].to_numpy())
    carbs.append(df["CHO_g_per_min"].to_numpy()[:-1])
    insulin.append(df["insulin_U_per_min"].to_numpy()[:-1])
out = ROOT / "tests/data/simglucose_S1.npz"
np.savez_compressed(
    out,
    names=np.array(names),
    bg=np.array(bg),
    carbs_g_per_min=np.array(carbs),
    insulin_u_per_min=np.array(insulin),
)
print(f"{len(names)} patients -> {out} ({out.stat().st_size / 1e3:.0f} kB)")
