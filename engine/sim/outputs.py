"""What a kernel run writes besides the daily variables (engine/model/glycaemia.py DAILY) and
the mechanisms' log factors (engine/model/slow.py MECHANISMS), declared once: the traced
patients' samples and the per patient-day status. The results schema (engine/store/results.py)
and the drivers both read these declarations."""

from ..model.layout import Quantities

# traces[TRACE.<name>, slot, sample] of a traced patient, every output.trace_interval_min
TRACES = Quantities(
    "Trace",
    (
        ("bg", "mg/dL", "blood glucose (Gs/Vg) at the sample time"),
        ("cgm", "mg/dL", "latest CGM reading at the sample time"),
        ("insulin", "U", "insulin delivered over the sample interval"),
        ("carbs", "g", "carbohydrate eaten over the sample interval"),
        (
            "si_effective",
            "1",
            "multiplier on Vmx at the sample time relative to the start: slow "
            "sensitivity change x time of day x exercise x stress and illness",
        ),
    ),
)
TRACE = TRACES.index
N_TRACE = len(TRACES)

# status[i, day]: the flag values and their CF flag_meanings
STATUS_OK = 0
STATUS_NONFINITE = 1  # glucose non-finite, absurd or exhausted (<= 0); patient stopped
STATUS_MEANINGS = ("ok", "glucose_nonfinite_or_exhausted_patient_stopped")
