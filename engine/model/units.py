"""Glucose display units. The engine computes and stores glucose in mg/dL; tables and figures
can show mmol/L. No numba here: the analysis commands import it without the kernels."""

MG_PER_MMOL = 18.016  # mg/dL per mmol/L of glucose (molar mass of glucose 180.16 g/mol)


def glucose_display(value, units: str, mmol: bool):
    """(value, units) for display: a quantity in mg/dL shown in mmol/L when `mmol` (values
    in other units, and differences of them, pass unchanged)."""
    if mmol and units == "mg/dL":
        return value / MG_PER_MMOL, "mmol/L"
    return value, units


# the glucose thresholds in metric labels, as --units mmol shows them (3.9-10.0 mmol/L)
MMOL_LABELS = {"TIR 70-180": "TIR 3.9-10.0", "TBR <70": "TBR <3.9", "TBR <54": "TBR <3.0"}
